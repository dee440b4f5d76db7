//! Opening and working orders: one path for pages and API. Every step is
//! checked against the order's workflow and what the step needs, written with
//! its clock, logged, and put on the customer's timeline, where the events the
//! notices issue will deliver wait (fault_reported, repair_progress,
//! power_restored, expansion_stage_changed).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{
    db::Tx,
    service::{self, Acting, ClockColumns, Event, ItemType, Owner, month_of},
    sla::settings,
    timeline,
    web::error::{AppError, FieldErrors},
    work_orders::{
        change, change_service,
        db::{self, NewWorkOrder, StateChange, StepColumns, WorkOrder},
        model::{self, OrderFacts, StepInput, WorkOrderDraft, limit_variant, workflow_of},
    },
    workflow::{ClockChange, ClockStart, clock_change},
};

pub async fn create(
    tx: &mut Tx,
    who: &Acting,
    draft: &WorkOrderDraft,
    owner: Owner,
    now: DateTime<Utc>,
) -> Result<WorkOrder, AppError> {
    let (valid, mut errors) = match model::validate(draft) {
        Ok(valid) => (Some(valid), FieldErrors::default()),
        Err(errors) => (None, errors),
    };
    // The customer, supply point and route the order names must exist (for this tenant).
    let mut green_channel = false;
    let mut route_id = None;
    if let Some(v) = &valid {
        if let Some(customer_id) = v.customer_id {
            match db::customer_standing(tx, customer_id).await? {
                Some((importance, tags)) => green_channel = model::is_green_channel(importance.as_deref(), &tags),
                None => errors.add("customer_id", "unknown_customer"),
            }
        }
        if let Some(point) = v.supply_point_id {
            let belongs = match v.customer_id {
                Some(customer_id) => db::supply_point_of(tx, point, customer_id).await?.is_some(),
                None => false,
            };
            if !belongs {
                errors.add("supply_point_id", "unknown_supply_point");
            }
        }
        if let Some(code) = &v.affected_route {
            route_id = db::route_by_code(tx, code).await?;
            if route_id.is_none() {
                errors.add("affected_route", "unknown_route");
            }
        }
        change_service::check_new(tx, v, &mut errors).await?;
    }
    let owner_id = owner.resolve(tx, who, &mut errors).await?;
    let Some(valid) = valid.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let team = service::team_of(tx, owner_id).await?;
    let workflow = workflow_of(&valid.kind);
    let variant = limit_variant(&valid.kind, valid.area_type.as_deref(), valid.customer_type.as_deref());
    let rules = settings::load_rules(tx, who.tz).await?;
    let clock = match workflow.clock_of(workflow.initial) {
        Some(sc) => service::start_clock(tx, &rules, &valid.kind, variant, sc, now, now).await?,
        None => ClockColumns::stopped(),
    };
    let id = Uuid::now_v7();
    let ref_no = service::next_ref(tx, "W").await?;
    db::insert(
        tx,
        NewWorkOrder {
            id,
            ref_no: &ref_no,
            order: &valid,
            state: workflow.initial,
            affected_route_id: route_id,
            green_channel,
            owner_id,
            team: &team,
            created_at: now,
            created_month: month_of(now, who.tz),
            clock,
            created_by: who.user_id,
        },
    )
    .await?;
    change_service::record(tx, id, &valid).await?;
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::WorkOrder,
            item_id: id,
            action: "create",
            from_state: None,
            to_state: Some(workflow.initial),
            comment: "",
            detail: Some(json!({ "kind": valid.kind, "green_channel": green_channel })),
        },
    )
    .await?;
    let order = db::get(tx, id).await?;
    record_on_timeline(tx, &order, "create", workflow.initial, now).await?;
    Ok(order)
}

/// The notice a step of an order raises for its customers, if any.
pub fn notice_of(kind: &str, action: &str) -> Option<&'static str> {
    match (kind, action) {
        ("repair", "create") => Some("fault_reported"),
        ("repair", "dispatch" | "arrive") => Some("repair_progress"),
        ("repair", "restore") => Some("power_restored"),
        ("expansion" | change::NEW_CONNECTION, "cancel") => None,
        ("expansion" | change::NEW_CONNECTION, _) => Some("expansion_stage_changed"),
        _ => None,
    }
}

/// Puts the step on the customer's timeline; a repair's notices also go to
/// every customer on the affected route.
async fn record_on_timeline(
    tx: &mut Tx,
    order: &WorkOrder,
    action: &str,
    state: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let notice = notice_of(&order.kind, action);
    let workflow = workflow_of(&order.kind);
    // Tasks only show when opened and finished; every notice shows.
    if notice.is_none() && action != "create" && !workflow.is_finished(state) {
        return Ok(());
    }
    let link = format!("/work-orders/{}", order.id);
    let title = format!("{} {}", order.ref_no, order.title);
    let entry = || timeline::Entry { kind: "work_order", notice, title: &title, status: state, link: &link };
    if let Some(customer_id) = order.customer_id {
        timeline::record(tx, customer_id, now, entry()).await?;
    }
    if let (Some(route), Some(_)) = (order.affected_route_id, notice) {
        timeline::record_for_route(tx, route, order.customer_id, now, entry()).await?;
    }
    Ok(())
}

/// Applies a step to the order. With `version`, an order changed since is
/// refused (409) rather than changed twice.
pub async fn act(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    input: &StepInput,
    now: DateTime<Utc>,
) -> Result<WorkOrder, AppError> {
    db::lock(tx, who.tenant_id, id).await?;
    let order = db::get(tx, id).await?;
    if input.version.is_some_and(|v| v != order.version) {
        return Err(AppError::Conflict("stale_item"));
    }
    who.check_may_act(order.owner_id)?;
    let workflow = workflow_of(&order.kind);
    let action = input.action.trim();
    let to = workflow.transition(&order.state, action).map_err(|_| AppError::Conflict("illegal_transition"))?;
    let facts = OrderFacts {
        kind: &order.kind,
        customer_type: order.customer_type.as_deref(),
        supply_point_id: order.supply_point_id,
    };
    let data = model::check_step(&facts, input)?;
    // Power-on writes the new capacity to a supply point of the order's customer.
    let mut capacity_change = None;
    if let Some(point) = data.supply_point_id.filter(|_| action == "power_on") {
        let found = match order.customer_id {
            Some(customer_id) => db::supply_point_of(tx, point, customer_id).await?,
            None => None,
        };
        let Some((point, before)) = found else {
            let mut errors = FieldErrors::default();
            errors.add("supply_point_id", "unknown_supply_point");
            return Err(errors.into());
        };
        capacity_change = order.requested_capacity_kva.map(|after| (point, before, after));
    }
    // A change of use changes the archive in this step's transaction.
    let applied = match change::completing_action(&order.kind) {
        Some(completing) if completing == action => {
            Some(change_service::apply(tx, who, &order, data.final_readings.as_ref(), now).await?)
        }
        _ => None,
    };
    let rules = settings::load_rules(tx, who.tz).await?;
    let variant = limit_variant(&order.kind, order.area_type.as_deref(), order.customer_type.as_deref());
    let clock = match clock_change(workflow, &order.state, action, to) {
        ClockChange::Keep => None,
        ClockChange::Stop => Some(ClockColumns::stopped()),
        ClockChange::Start(sc) => {
            Some(service::start_clock(tx, &rules, &order.kind, variant, sc, order.created_at, now).await?)
        }
    };
    let missed = order.due_at.is_some_and(|due| now > due);
    // Time spent in an expansion stage goes to the statistics when the stage ends.
    if let (Some(sc), Some(started), Some(customer_type)) =
        (workflow.clock_of(&order.state), order.clock_started_at, order.customer_type.as_deref())
        && sc.start == ClockStart::Entered
        && action != "cancel"
    {
        let minutes = rules.calendar.between(started, now).num_minutes();
        db::add_stage_time(tx, month_of(now, who.tz), customer_type, &order.state, minutes).await?;
    }
    let claim = service::claimant(tx, order.owner_id, who).await?;
    let finished = workflow.is_finished(to);
    let changed = db::change_state(
        tx,
        StateChange {
            id,
            version: order.version,
            state: to,
            clock,
            breached: missed,
            owner: claim.as_ref().map(|(id, team)| (*id, team.as_str())),
            step: StepColumns {
                crew: data.crew.as_deref(),
                documents: data.documents.as_deref(),
                supply_plan: data.supply_plan.as_deref(),
                plan_confirmed_by: data.confirmed_by.as_deref(),
                plan_confirmed_at: data.confirmed_by.as_ref().map(|_| now),
                supply_point_id: data.supply_point_id.or(applied.as_ref().and_then(|a| a.supply_point_id)),
                arrived_at: (action == "arrive").then_some(now),
                restored_at: (action == "restore").then_some(now),
                completed_at: finished.then_some(now),
            },
        },
    )
    .await?;
    if !changed {
        return Err(AppError::Conflict("stale_item"));
    }
    if let Some((point, _, after)) = capacity_change {
        db::set_capacity(tx, point, after).await?;
    }
    let mut detail = serde_json::Map::new();
    if missed {
        detail.insert("missed_deadline".into(), json!(order.due_at));
    }
    if let Some(crew) = &data.crew {
        detail.insert("crew".into(), json!(crew));
    }
    if let Some(documents) = &data.documents {
        detail.insert("documents".into(), json!(documents));
    }
    if let Some(by) = &data.confirmed_by {
        detail.insert("confirmed_by".into(), json!(by));
    }
    if let Some(applied) = applied {
        detail.insert("change".into(), applied.outcome);
    }
    if let Some((point, before, after)) = capacity_change {
        detail.insert("supply_point".into(), json!(point));
        detail.insert("capacity_before_kva".into(), json!(before));
        detail.insert("capacity_after_kva".into(), json!(after));
    }
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::WorkOrder,
            item_id: id,
            action,
            from_state: Some(&order.state),
            to_state: Some(to),
            comment: input.comment.trim(),
            detail: (!detail.is_empty()).then_some(serde_json::Value::Object(detail)),
        },
    )
    .await?;
    let order = db::get(tx, id).await?;
    record_on_timeline(tx, &order, action, to, now).await?;
    Ok(order)
}

/// A supervisor's instruction (督办) on an order: shown on the order and kept in its history.
pub async fn supervise(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    note: &str,
    now: DateTime<Utc>,
) -> Result<WorkOrder, AppError> {
    if !who.supervises {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let note = crate::web::input::visible_text(note, 2000, "note", true, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    db::lock(tx, who.tenant_id, id).await?;
    let order = db::get(tx, id).await?;
    if order.completed_at.is_some() {
        return Err(AppError::Conflict("finished_item"));
    }
    db::supervise(tx, id, who.user_id, &note).await?;
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::WorkOrder,
            item_id: id,
            action: "supervise",
            from_state: None,
            to_state: None,
            comment: &note,
            detail: None,
        },
    )
    .await?;
    Ok(db::get(tx, id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_and_expansion_steps_raise_their_notices() {
        assert_eq!(notice_of("repair", "create"), Some("fault_reported"));
        assert_eq!(notice_of("repair", "dispatch"), Some("repair_progress"));
        assert_eq!(notice_of("repair", "arrive"), Some("repair_progress"));
        assert_eq!(notice_of("repair", "restore"), Some("power_restored"));
        assert_eq!(notice_of("repair", "close"), None);
        assert_eq!(notice_of("expansion", "review"), Some("expansion_stage_changed"));
        assert_eq!(notice_of("expansion", "power_on"), Some("expansion_stage_changed"));
        assert_eq!(notice_of("meter_check", "complete"), None);
    }
}
