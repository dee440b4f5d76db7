//! Applying a change of use to the archive, in the transaction of the step
//! that completes its order: the supply point and meter of a new connection,
//! a capacity, a suspension or restoration, a transfer of the premise to a new
//! holder, a new name or tariff, or an account closed with its final bill and
//! settlement. Each change is audited; the order's timeline entry and log are
//! written by the step itself (service::act).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    audit::{self, Change},
    customers::{self, model::CustomerDraft},
    db::Tx,
    months, payments,
    service::Acting,
    supply::{
        db::{self as supply_db, WriteError},
        model::{MeterDraft, PointDraft, validate_meter, validate_point},
    },
    web::error::{AppError, FieldErrors},
    work_orders::{
        change::{self, ValidChange},
        change_db,
        db::WorkOrder,
        model::{FinalReadings, ValidWorkOrder},
    },
};

/// The checks on a new change-of-use order that need the archive.
pub async fn check_new(tx: &mut Tx, v: &ValidWorkOrder, errors: &mut FieldErrors) -> sqlx::Result<()> {
    let Some(c) = &v.change else { return Ok(()) };
    if let Some(holder) = c.new_holder_id {
        let active =
            sqlx::query_scalar!("SELECT status = 'active' AS \"active!\" FROM customers WHERE id = $1", holder)
                .fetch_optional(&mut **tx)
                .await?;
        if active != Some(true) || Some(holder) == v.customer_id {
            errors.add("new_holder_id", "unknown_customer");
        }
    }
    if let Some(code) = &c.tariff_code
        && !change_db::tariff_exists(tx, code).await?
    {
        errors.add("tariff_code", "unknown_code");
    }
    if let Some(voltage) = &c.point_voltage_code
        && !supply_db::codes(tx, None).await?.voltages.contains(voltage)
    {
        errors.add("point_voltage_code", "unknown_code");
    }
    if let Some(serial) = &c.meter_serial
        && supply_db::meter_by_serial(tx, serial).await?.is_some()
    {
        errors.add("meter_serial", "meter_serial_in_use");
    }
    Ok(())
}

pub async fn record(tx: &mut Tx, work_order_id: Uuid, v: &ValidWorkOrder) -> sqlx::Result<()> {
    match &v.change {
        Some(c) => change_db::insert(tx, work_order_id, c).await,
        None => Ok(()),
    }
}

/// What applying a change did: the supply point the order now names, and the
/// outcome the slip shows.
pub struct Applied {
    pub supply_point_id: Option<Uuid>,
    pub outcome: Value,
}

fn conflict(code: &'static str) -> AppError {
    AppError::Conflict(code)
}

fn invalid(field: &'static str, code: &'static str) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add(field, code);
    errors.into()
}

/// Applies the order's change. Called by the completing step before the order
/// is marked complete; any refusal rolls back the whole step.
pub async fn apply(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    readings: Option<&FinalReadings>,
    now: DateTime<Utc>,
) -> Result<Applied, AppError> {
    let customer_id = order.customer_id.ok_or(AppError::NotFound)?;
    let request = change_db::get(tx, order.id).await?.unwrap_or_default();
    let c = ValidChange {
        new_holder_id: request.new_holder_id,
        new_holder_name: request.new_holder_name.clone(),
        new_holder_phone: request.new_holder_phone.clone(),
        new_name: request.new_name.clone(),
        tariff_code: request.tariff_code.clone(),
        point_address: request.point_address.clone(),
        point_voltage_code: request.point_voltage_code.clone(),
        meter_serial: request.meter_serial.clone(),
        meter_multiplier: request.meter_multiplier,
        initial_reading: request.initial_reading,
    };
    let today = now.with_timezone(&who.tz).date_naive();
    let applied = match order.kind.as_str() {
        change::NEW_CONNECTION => new_connection(tx, who, order, customer_id, &c, today).await?,
        "capacity_increase" | "capacity_reduction" => capacity(tx, who, order, customer_id).await?,
        "suspension" | "restoration" => status(tx, who, order, customer_id, today).await?,
        "transfer_of_ownership" => transfer(tx, who, order, customer_id, &c, readings, today).await?,
        "change_of_name" => {
            let patch = CustomerDraft { name: c.new_name.clone(), ..Default::default() };
            let (before, after) = update_customer(tx, who, customer_id, patch, |c| c.name.clone()).await?;
            Applied { supply_point_id: None, outcome: json!({ "name_before": before, "name_after": after }) }
        }
        "change_of_tariff" => {
            let patch = CustomerDraft { tariff_code: c.tariff_code.clone(), ..Default::default() };
            let (before, after) = update_customer(tx, who, customer_id, patch, |c| c.tariff_code.clone()).await?;
            // Bills are priced at the customer's tariff when the period is billed:
            // the first period not billed yet is the first at the new tariff.
            let from = first_unbilled_period(tx, customer_id, today).await?;
            Applied {
                supply_point_id: None,
                outcome: json!({ "tariff_before": before, "tariff_after": after, "from_period": months::label(from) }),
            }
        }
        "account_closing" => close_account(tx, who, order, customer_id, readings, today).await?,
        _ => return Err(conflict("illegal_transition")),
    };
    change_db::record_outcome(tx, order.id, now, &applied.outcome).await?;
    Ok(applied)
}

async fn update_customer(
    tx: &mut Tx,
    who: &Acting,
    id: Uuid,
    patch: CustomerDraft,
    field: impl Fn(&customers::db::Customer) -> String,
) -> Result<(String, String), AppError> {
    let before = customers::db::get(tx, id).await?;
    let after = customers::service::update(tx, &who.actor, id, patch).await?;
    Ok((field(&before), field(&after)))
}

async fn first_unbilled_period(tx: &mut Tx, customer_id: Uuid, today: NaiveDate) -> sqlx::Result<NaiveDate> {
    let mut period = months::start_of(today);
    // This month is billed already (rare: billing runs after the month ends).
    if change_db::live_bill(tx, customer_id, period).await?.is_some() {
        period = months::next(period);
    }
    Ok(period)
}

fn supply_error(err: WriteError, field: &'static str) -> AppError {
    match err {
        WriteError::CodeTaken => invalid("code", "point_code_in_use"),
        WriteError::SerialTaken => invalid(field, "meter_serial_in_use"),
        WriteError::MeterInstalled => invalid(field, "meter_in_use"),
        WriteError::StaleVersion => conflict("stale_version"),
        WriteError::Db(e) => e.into(),
    }
}

/// Power-on of a new connection: the supply point and its meter, with the
/// meter's initial reading.
async fn new_connection(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    customer_id: Uuid,
    c: &ValidChange,
    today: NaiveDate,
) -> Result<Applied, AppError> {
    let codes = supply_db::codes(tx, None).await?;
    let point_draft = PointDraft {
        address: c.point_address.clone(),
        voltage_code: c.point_voltage_code.clone(),
        capacity_kva: order.requested_capacity_kva.map(|k| k.to_string()),
        ..Default::default()
    };
    let point = validate_point(&point_draft, &codes).map_err(AppError::Invalid)?;
    let point = supply_db::insert_point(tx, customer_id, &point).await.map_err(|e| supply_error(e, "meter_serial"))?;
    let mut errors = FieldErrors::default();
    let meter_draft = MeterDraft {
        serial: c.meter_serial.clone().unwrap_or_default(),
        multiplier: c.meter_multiplier.map(|m| m.to_string()),
        ..Default::default()
    };
    let meter = validate_meter(&meter_draft, "meter_", today, &mut errors).ok_or(AppError::Invalid(errors))?;
    let meter_id = supply_db::insert_meter(tx, &meter).await.map_err(|e| supply_error(e, "meter_serial"))?;
    supply_db::install(tx, meter_id, point.id, today).await.map_err(|e| supply_error(e, "meter_serial"))?;
    let initial = c.initial_reading.unwrap_or_default();
    change_db::insert_reading(
        tx,
        change_db::ChangeReading {
            meter_id,
            point_id: point.id,
            customer_id,
            period: months::start_of(today),
            kind: "installation",
            read_on: today,
            total: initial,
            user_id: who.user_id,
        },
    )
    .await?;
    let outcome = json!({
        "point_code": point.code, "address": point.address, "voltage_code": point.voltage_code,
        "capacity_kva": point.capacity_kva, "meter_serial": meter.serial, "multiplier": meter.multiplier,
        "initial_reading": initial, "installed_on": today,
    });
    audit::record(
        tx,
        &who.actor,
        Change {
            action: "power_on",
            entity: "supply_point",
            entity_id: Some(point.id),
            summary: format!("{} {} · {}", order.ref_no, point.code, meter.serial),
            before: None,
            after: Some(outcome.clone()),
        },
    )
    .await?;
    Ok(Applied { supply_point_id: Some(point.id), outcome })
}

/// The order's supply point, locked, checked to be the customer's.
async fn order_point(tx: &mut Tx, order: &WorkOrder, customer_id: Uuid) -> Result<supply_db::Point, AppError> {
    let id = order.supply_point_id.ok_or_else(|| invalid("supply_point_id", "required"))?;
    supply_db::lock_point(tx, id).await?;
    match supply_db::get_point(tx, id).await? {
        Some(p) if p.customer_id == customer_id => Ok(p),
        _ => Err(invalid("supply_point_id", "unknown_supply_point")),
    }
}

async fn audit_point(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    point: &supply_db::Point,
    before: Value,
    after: Value,
) -> sqlx::Result<()> {
    audit::record(
        tx,
        &who.actor,
        Change {
            action: &order.kind,
            entity: "supply_point",
            entity_id: Some(point.id),
            summary: format!("{} {}", order.ref_no, point.code),
            before: Some(before),
            after: Some(after),
        },
    )
    .await
}

async fn capacity(tx: &mut Tx, who: &Acting, order: &WorkOrder, customer_id: Uuid) -> Result<Applied, AppError> {
    let point = order_point(tx, order, customer_id).await?;
    if point.status == "removed" {
        return Err(conflict("point_retired"));
    }
    let after = order.requested_capacity_kva.ok_or_else(|| invalid("requested_capacity_kva", "required"))?;
    change::check_capacity(&order.kind, point.capacity_kva, after).map_err(conflict)?;
    supply_db::set_capacity(tx, point.id, Some(after)).await?;
    let outcome =
        json!({ "point_code": point.code, "capacity_before_kva": point.capacity_kva, "capacity_after_kva": after });
    audit_point(
        tx,
        who,
        order,
        &point,
        json!({ "capacity_kva": point.capacity_kva }),
        json!({ "capacity_kva": after }),
    )
    .await?;
    Ok(Applied { supply_point_id: None, outcome })
}

async fn status(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    customer_id: Uuid,
    today: NaiveDate,
) -> Result<Applied, AppError> {
    let point = order_point(tx, order, customer_id).await?;
    let next = change::next_status(&order.kind, &point.status).map_err(conflict)?;
    supply_db::set_status(tx, point.id, next, today).await?;
    let outcome = json!({ "point_code": point.code, "status_before": point.status, "status_after": next, "on": today });
    audit_point(tx, who, order, &point, json!({ "status": point.status }), json!({ "status": next })).await?;
    Ok(Applied { supply_point_id: None, outcome })
}

/// Transfer of ownership (过户): the premise (supply points, meters, readings)
/// goes to the new holder, who starts with no bills; the old holder's bills
/// stay on the old account, paid first (settle) or left owing there (carry).
async fn transfer(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    customer_id: Uuid,
    c: &ValidChange,
    readings: Option<&FinalReadings>,
    today: NaiveDate,
) -> Result<Applied, AppError> {
    let old = customers::db::get(tx, customer_id).await?;
    let rule = change_db::transfer_arrears(tx).await?;
    let standing = payments::db::standing(tx, customer_id, today).await?;
    if rule == "settle" && standing.owed > Decimal::ZERO {
        return Err(conflict("transfer_arrears_unpaid"));
    }
    let points = customers::db::supply_points(tx, customer_id).await?;
    let live: Vec<_> = points.iter().filter(|p| p.status != "removed").collect();
    if live.is_empty() {
        return Err(conflict("no_premise"));
    }
    if live.iter().any(|p| p.status == "suspended") {
        return Err(conflict("transfer_premise_suspended"));
    }
    // The old holder's use ends at the transfer reading: their final bill is
    // made from it now, and the new holder's first bill starts from it.
    let read = final_read(tx, who, customer_id, &live, readings, today).await?;
    for m in &read.meters {
        if change_db::has_change_reading(tx, m.meter.id, read.period).await? {
            return Err(conflict("transfer_meter_changed_this_month"));
        }
    }
    let holder = match c.new_holder_id {
        Some(id) => customers::db::get(tx, id).await?,
        None => {
            // A new customer with the premise's classification, tariff and route.
            let draft = CustomerDraft {
                account_no: None,
                name: c.new_holder_name.clone(),
                phone: c.new_holder_phone.clone(),
                importance: None,
                account_manager_id: None,
                tags: Some(Vec::new()),
                preferred_channels: Some(Vec::new()),
                status: Some("active".into()),
                version: None,
                ..old.to_draft()
            };
            customers::service::create(tx, &who.actor, &draft).await?
        }
    };
    let moved = supply_db::move_points(tx, customer_id, holder.id).await?;
    // The new holder's use starts at each meter's transfer reading.
    for m in &read.meters {
        change_db::insert_reading(
            tx,
            change_db::ChangeReading {
                meter_id: m.meter.id,
                point_id: m.point_id,
                customer_id: holder.id,
                period: read.period,
                kind: "installation",
                read_on: today,
                total: m.reading,
                user_id: who.user_id,
            },
        )
        .await?;
    }
    let final_bill = read.bill.as_ref().map(|(id, no, amount)| json!({ "id": id, "bill_no": no, "amount": amount }));
    let owed_now = payments::db::standing(tx, customer_id, today).await?.owed;
    // With nothing owed and no premise left, the old account is closed; a
    // final bill keeps it open until it is paid.
    if owed_now.is_zero() {
        let patch = CustomerDraft { status: Some("closed".into()), ..Default::default() };
        customers::service::update(tx, &who.actor, customer_id, patch).await?;
    }
    let outcome = json!({
        "old_holder": { "id": old.id, "account_no": old.account_no, "name": old.name },
        "new_holder": { "id": holder.id, "account_no": holder.account_no, "name": holder.name },
        "points_moved": moved, "arrears_rule": rule, "arrears_carried": standing.owed,
        "final_reading": read.readings_json(), "meter_serial": read.serials_json(), "read_on": today,
        "final_bill": final_bill,
        "credit_kept_by_old_holder": standing.credit,
    });
    audit::record(
        tx,
        &who.actor,
        Change {
            action: "transfer_of_ownership",
            entity: "customer",
            entity_id: Some(customer_id),
            summary: format!("{} {} → {} {}", order.ref_no, old.account_no, holder.account_no, holder.name),
            before: Some(json!({ "holder": old.account_no, "points": points.len() })),
            after: Some(outcome.clone()),
        },
    )
    .await?;
    Ok(Applied { supply_point_id: None, outcome })
}

/// One meter's final reading.
struct MeterRead {
    point_id: Uuid,
    meter: supply_db::Meter,
    reading: Decimal,
}

/// What the final readings did: the meters read, the period they close, and
/// the final bill made from them (none when a meter was never read before,
/// so there is nothing to bill it against).
struct FinalRead {
    meters: Vec<MeterRead>,
    period: NaiveDate,
    bill: Option<(Uuid, String, Decimal)>,
}

impl FinalRead {
    /// The reading, or with several meters the readings in the meters' order
    /// (by supply point, then serial), as `serials_json` lists them.
    fn readings_json(&self) -> Value {
        match self.meters.as_slice() {
            [one] => json!(one.reading),
            many => json!(many.iter().map(|m| m.reading).collect::<Vec<_>>()),
        }
    }
    fn serials_json(&self) -> Value {
        match self.meters.as_slice() {
            [one] => json!(one.meter.serial),
            many => json!(many.iter().map(|m| &m.meter.serial).collect::<Vec<_>>()),
        }
    }
}

/// Pairs the installed meters with the readings given: one reading for a
/// single meter, or one named reading for each of several.
fn pair_readings(
    installed: Vec<(Uuid, supply_db::Meter)>,
    readings: &FinalReadings,
) -> Result<Vec<MeterRead>, AppError> {
    if installed.is_empty() {
        return Err(conflict("final_reading_needs_a_meter"));
    }
    match readings {
        FinalReadings::One(reading) => match <[_; 1]>::try_from(installed) {
            Ok([(point_id, meter)]) => Ok(vec![MeterRead { point_id, meter, reading: *reading }]),
            Err(_) => Err(invalid("final_readings", "reading_for_every_meter")),
        },
        FinalReadings::PerMeter(given) => {
            if given.iter().any(|(serial, _)| !installed.iter().any(|(_, m)| &m.serial == serial)) {
                return Err(invalid("meter_serials", "not_installed_here"));
            }
            installed
                .into_iter()
                .map(|(point_id, meter)| {
                    let reading = given.iter().find(|(serial, _)| *serial == meter.serial).map(|(_, r)| *r);
                    reading
                        .map(|reading| MeterRead { point_id, meter, reading })
                        .ok_or_else(|| invalid("final_readings", "reading_for_every_meter"))
                })
                .collect()
        }
    }
}

/// Records the final reading of each of the customer's installed meters as
/// its removal reading and bills the customer up to them, in this
/// transaction. Closing an account and transferring a premise both end the
/// holder's use here.
async fn final_read(
    tx: &mut Tx,
    who: &Acting,
    customer_id: Uuid,
    live: &[&customers::db::SupplyPoint],
    readings: Option<&FinalReadings>,
    today: NaiveDate,
) -> Result<FinalRead, AppError> {
    let readings = readings.ok_or_else(|| invalid("final_reading", "required"))?;
    let mut installed = Vec::new();
    for p in live {
        supply_db::lock_point(tx, p.id).await?;
        for m in supply_db::installed_on_point(tx, p.id).await? {
            installed.push((p.id, m));
        }
    }
    let meters = pair_readings(installed, readings)?;
    let period = months::start_of(today);
    if change_db::live_bill(tx, customer_id, period).await?.is_some() {
        return Err(conflict("final_period_billed"));
    }
    for m in &meters {
        change_db::insert_reading(
            tx,
            change_db::ChangeReading {
                meter_id: m.meter.id,
                point_id: m.point_id,
                customer_id,
                period,
                kind: "removal",
                read_on: today,
                total: m.reading,
                user_id: who.user_id,
            },
        )
        .await?;
    }
    let skipped = crate::billing::run::bill_customer(tx, customer_id, period, today, &who.actor.label)
        .await
        .map_err(AppError::Internal)?;
    let bill = match skipped.as_deref() {
        None => Some(change_db::live_bill(tx, customer_id, period).await?.ok_or(conflict("final_bill_failed"))?),
        Some("no_previous_reading") => None,
        Some(reason) => {
            tracing::info!(%customer_id, reason, "final bill not written");
            let field = if meters.len() == 1 { "final_reading" } else { "final_readings" };
            return Err(match reason {
                "negative" => invalid(field, "reading_below_previous"),
                "no_reading" => conflict("final_no_previous_reading"),
                _ => conflict("final_bill_failed"),
            });
        }
    };
    Ok(FinalRead { meters, period, bill })
}

/// Account closing (销户): the final reading and bill, the debts settled from
/// the credit and deposit, the rest recorded as a refund owed, the meters
/// removed and the supply points retired; the account ends at zero.
async fn close_account(
    tx: &mut Tx,
    who: &Acting,
    order: &WorkOrder,
    customer_id: Uuid,
    readings: Option<&FinalReadings>,
    today: NaiveDate,
) -> Result<Applied, AppError> {
    let customer = customers::db::get(tx, customer_id).await?;
    let points = customers::db::supply_points(tx, customer_id).await?;
    let live: Vec<_> = points.iter().filter(|p| p.status != "removed").collect();
    // A suspended point is billed for its final reading too.
    for p in &live {
        if p.status == "suspended" {
            supply_db::set_status(tx, p.id, "in_service", today).await?;
        }
    }
    let read = final_read(tx, who, customer_id, &live, readings, today).await?;
    let (bill_id, bill_no, bill_amount) = read.bill.clone().ok_or(AppError::Conflict("final_no_previous_reading"))?;
    let open = payments::db::open_bills(tx, who.tenant_id, customer_id, true).await?;
    let owed: Decimal = open.iter().map(|b| b.outstanding()).sum();
    let (credit, deposit) = change_db::credit_and_deposit(tx, customer_id).await?;
    let settlement = change::settle(owed, credit, deposit).map_err(|_| conflict("closing_arrears_unpaid"))?;
    let settled: Vec<Uuid> = open.iter().map(|b| b.id).collect();
    change_db::settle_bills(tx, &settled).await?;
    change_db::release_money_held(tx, customer_id, today).await?;
    let refund_id = if settlement.refund() > Decimal::ZERO {
        Some(
            change_db::insert_refund(
                tx,
                change_db::NewRefund {
                    customer_id,
                    work_order_id: order.id,
                    from_credit: settlement.refund_credit,
                    from_deposit: settlement.refund_deposit,
                    recorded_by: &who.actor.label,
                },
            )
            .await?,
        )
    } else {
        None
    };
    for m in &read.meters {
        supply_db::remove(tx, m.meter.id, today).await?;
    }
    for p in &live {
        supply_db::set_status(tx, p.id, "removed", today).await?;
    }
    let patch = CustomerDraft { status: Some("closed".into()), ..Default::default() };
    customers::service::update(tx, &who.actor, customer_id, patch).await?;
    let outcome = json!({
        "final_reading": read.readings_json(), "meter_serial": read.serials_json(), "read_on": today,
        "final_bill": { "id": bill_id, "bill_no": bill_no, "amount": bill_amount },
        "owed": settlement.owed, "from_credit": settlement.from_credit, "from_deposit": settlement.from_deposit,
        "refund": settlement.refund(), "refund_id": refund_id,
        "retired_points": live.iter().map(|p| p.code.clone()).collect::<Vec<_>>(),
    });
    audit::record(
        tx,
        &who.actor,
        Change {
            action: "account_closing",
            entity: "customer",
            entity_id: Some(customer_id),
            summary: format!("{} {} {}", order.ref_no, customer.account_no, customer.name),
            before: Some(json!({ "owed": owed, "credit": credit, "deposit": deposit })),
            after: Some(outcome.clone()),
        },
    )
    .await?;
    Ok(Applied { supply_point_id: None, outcome })
}
