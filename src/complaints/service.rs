//! Registering and working contacts: one path for pages and API. Every change
//! is checked against the state machine, written with its clock, logged with
//! who, when and a comment, and put on the customer's timeline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    audit::{self, Change},
    complaints::{
        db::{self, Contact, NewContact, StateChange},
        model::{self, ContactDraft, DISSATISFIED_AT_MOST},
    },
    db::Tx,
    service::{self, Acting, ClockColumns, Event, ItemType, Owner, month_of},
    sla::settings,
    timeline,
    web::error::{AppError, FieldErrors},
    workflow::{CONTACT, ClockChange, clock_change},
};

pub async fn create(
    tx: &mut Tx,
    who: &Acting,
    draft: &ContactDraft,
    owner: Owner,
    now: DateTime<Utc>,
) -> Result<Contact, AppError> {
    // Every problem at once: the fields, then the customer and owner they name.
    let (valid, mut errors) = match model::validate(draft, now) {
        Ok(valid) => (Some(valid), FieldErrors::default()),
        Err(errors) => (None, errors),
    };
    if let Some(customer_id) = valid.as_ref().and_then(|v| v.customer_id)
        && !customer_exists(tx, customer_id).await?
    {
        errors.add("customer_id", "unknown_customer");
    }
    let owner_id = owner.resolve(tx, who, &mut errors).await?;
    let Some(valid) = valid.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let team = service::team_of(tx, owner_id).await?;
    let rules = settings::load_rules(tx, who.tz).await?;
    let state_clock = CONTACT.clock_of(CONTACT.initial).expect("a received contact has a clock");
    let clock =
        service::start_clock(tx, &rules, &valid.kind, &valid.subject, state_clock, valid.received_at, now).await?;
    let id = Uuid::now_v7();
    let ref_no = service::next_ref(tx, "C").await?;
    db::insert(
        tx,
        NewContact {
            id,
            ref_no: &ref_no,
            contact: &valid,
            owner_id,
            team: &team,
            received_month: month_of(valid.received_at, who.tz),
            clock,
            created_by: who.user_id,
        },
    )
    .await?;
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::Contact,
            item_id: id,
            action: "create",
            from_state: None,
            to_state: Some(CONTACT.initial),
            comment: "",
            detail: Some(serde_json::json!({ "channel": valid.channel })),
        },
    )
    .await?;
    // The audit log records every contact's registration and each step.
    let after = serde_json::json!({
        "kind": valid.kind, "channel": valid.channel, "subject": valid.subject, "state": CONTACT.initial,
        "customer_id": valid.customer_id, "caller_name": valid.caller_name, "owner_id": owner_id,
    });
    let change = Change {
        action: "create",
        entity: "contact",
        entity_id: Some(id),
        summary: ref_no.clone(),
        before: None,
        after: Some(after),
    };
    audit::record(tx, &who.actor, change).await?;
    if let Some(customer_id) = valid.customer_id {
        let link = format!("/contacts/{id}");
        let entry = timeline::Entry { kind: "contact", notice: None, title: &ref_no, status: &valid.kind, link: &link };
        timeline::record(tx, customer_id, valid.received_at, entry).await?;
    }
    Ok(db::get(tx, id).await?)
}

async fn customer_exists(tx: &mut Tx, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!("SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1) AS \"e!\"", id)
        .fetch_one(&mut **tx)
        .await
}

/// Applies `action` to the contact. With `version`, a contact changed since is
/// refused (409) rather than changed twice.
pub async fn act(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    action: &str,
    comment: &str,
    version: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Contact, AppError> {
    db::lock(tx, who.tenant_id, id).await?;
    let contact = db::get(tx, id).await?;
    if version.is_some_and(|v| v != contact.version) {
        return Err(AppError::Conflict("stale_item"));
    }
    who.check_may_act(contact.owner_id)?;
    let to = CONTACT.transition(&contact.state, action).map_err(|_| AppError::Conflict("illegal_transition"))?;
    let comment = comment.trim();
    let mut errors = FieldErrors::default();
    if action == "resolve" && !crate::web::input::has_visible_char(comment) {
        // The resolution is what the return visit will ask the customer about.
        errors.add("comment", "resolution_required");
    } else if comment.chars().count() > 2000 {
        errors.add("comment", "too_long");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let rules = settings::load_rules(tx, who.tz).await?;
    let opened_at = if action == "reopen" { now } else { contact.received_at };
    let clock = match clock_change(&CONTACT, &contact.state, action, to) {
        ClockChange::Keep => None,
        ClockChange::Stop => Some(ClockColumns::stopped()),
        ClockChange::Start(sc) => {
            Some(service::start_clock(tx, &rules, &contact.kind, &contact.subject, sc, opened_at, now).await?)
        }
    };
    let missed = contact.due_at.is_some_and(|due| now > due);
    // An unowned contact belongs to whoever acknowledges it.
    let claim = service::claimant(tx, contact.owner_id, who).await?;
    let changed = db::change_state(
        tx,
        StateChange {
            id,
            version: contact.version,
            state: to,
            clock,
            breached: missed,
            resolution: (action == "resolve").then_some(comment),
            resolved_at: match action {
                "resolve" => Some(Some(now)),
                "reopen" => Some(None),
                _ => None,
            },
            closed_at: match action {
                "close" => Some(Some(now)),
                "reopen" => Some(None),
                _ => None,
            },
            owner: claim.as_ref().map(|(id, team)| (*id, team.as_str())),
        },
    )
    .await?;
    if !changed {
        return Err(AppError::Conflict("stale_item"));
    }
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::Contact,
            item_id: id,
            action,
            from_state: Some(&contact.state),
            to_state: Some(to),
            comment,
            detail: missed.then(|| serde_json::json!({ "missed_deadline": contact.due_at })),
        },
    )
    .await?;
    let change = Change {
        action,
        entity: "contact",
        entity_id: Some(id),
        summary: contact.ref_no.clone(),
        before: Some(serde_json::json!({ "state": contact.state })),
        after: Some(serde_json::json!({ "state": to, "comment": comment })),
    };
    audit::record(tx, &who.actor, change).await?;
    // A resolved complaint gets a return visit (回访), by its owner unless reassigned.
    if action == "resolve" && contact.kind == "complaint" {
        let visitor = claim.map(|c| c.0).or(contact.owner_id).or(who.user_id);
        if let Some(visitor) = visitor {
            db::add_visit(tx, id, visitor).await?;
        }
    }
    if let Some(customer_id) = contact.customer_id
        && matches!(action, "resolve" | "close" | "reopen")
    {
        let link = format!("/contacts/{id}");
        let entry = timeline::Entry { kind: "contact", notice: None, title: &contact.ref_no, status: to, link: &link };
        timeline::record(tx, customer_id, now, entry).await?;
    }
    Ok(db::get(tx, id).await?)
}

/// Hands the contact over to another member of staff. Only the owner or a
/// supervisor may; the history keeps who had it before.
pub async fn hand_over(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    to_user: Uuid,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Contact, AppError> {
    db::lock(tx, who.tenant_id, id).await?;
    let contact = db::get(tx, id).await?;
    who.check_may_act(contact.owner_id)?;
    let mut errors = FieldErrors::default();
    let comment = comment.trim();
    if !crate::web::input::has_visible_char(comment) {
        // A formal handover says why, so the next owner knows where things stand.
        errors.add("comment", "handover_reason_required");
    }
    let target = service::staff_member(tx, to_user).await?;
    match &target {
        None => errors.add("to_user", "unknown_user"),
        Some((id, _, _)) if Some(*id) == contact.owner_id => errors.add("to_user", "already_owner"),
        _ => {}
    }
    if CONTACT.is_finished(&contact.state) {
        errors.add("to_user", "finished_item");
    }
    let Some((new_owner, new_name, team)) = target.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    if !db::set_owner(tx, id, contact.version, new_owner, &team).await? {
        return Err(AppError::Conflict("stale_item"));
    }
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::Contact,
            item_id: id,
            action: "handover",
            from_state: None,
            to_state: None,
            comment,
            detail: Some(serde_json::json!({
                "from": contact.owner_id, "from_name": contact.owner_name, "to": new_owner, "to_name": new_name,
            })),
        },
    )
    .await?;
    Ok(db::get(tx, id).await?)
}

/// Records a return visit's result. A satisfied customer closes the complaint;
/// a dissatisfied one reopens it when `reopen` is asked for.
pub async fn record_visit(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    satisfaction: Option<i16>,
    remarks: &str,
    reopen: bool,
    now: DateTime<Utc>,
) -> Result<Contact, AppError> {
    let mut errors = FieldErrors::default();
    let satisfaction = match satisfaction {
        Some(s) if model::SATISFACTION.contains(&s) => s,
        Some(_) => {
            errors.add("satisfaction", "unknown_code");
            0
        }
        None => {
            errors.add("satisfaction", "required");
            0
        }
    };
    let remarks = crate::web::input::visible_text(remarks, 2000, "remarks", false, &mut errors);
    if reopen && satisfaction > DISSATISFIED_AT_MOST {
        errors.add("reopen", "reopen_only_if_dissatisfied");
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    db::lock(tx, who.tenant_id, id).await?;
    let contact = db::get(tx, id).await?;
    if db::complete_visit(tx, id, who.user_id, satisfaction, &remarks, reopen).await?.is_none() {
        return Err(AppError::Conflict("no_pending_visit"));
    }
    service::log(
        tx,
        &who.actor,
        now,
        Event {
            item: ItemType::Contact,
            item_id: id,
            action: "return_visit",
            from_state: None,
            to_state: None,
            comment: &remarks,
            detail: Some(serde_json::json!({ "satisfaction": satisfaction })),
        },
    )
    .await?;
    // The visitor need not own the complaint; the follow-up acts as a supervisor would.
    let follow_up = Acting { supervises: true, ..who.clone() };
    let next = if reopen {
        Some("reopen")
    } else if contact.state == "resolved" {
        Some("close")
    } else {
        None
    };
    match next {
        Some(action) => {
            let comment = if reopen { "dissatisfied at return visit" } else { "closed after return visit" };
            act(tx, &follow_up, id, action, comment, None, now).await
        }
        None => Ok(db::get(tx, id).await?),
    }
}
