//! Changing supply points and meters: check, write, audit — one transaction
//! per business action, one path for the pages and the API. Every change is
//! audited on the point (entity `supply_point`), which is the history its
//! page shows.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    readings::{self, model::ReadingDraft},
    supply::{
        db::{self, Meter, Point, WriteError},
        model::{
            ExchangeDraft, InstallDraft, OutgoingMeter, PointDraft, ValidMeter, validate_exchange, validate_install,
            validate_point,
        },
    },
    timeline,
    web::error::{AppError, FieldErrors},
};

/// A refusal on one field.
fn field(name: &str, code: &'static str) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add(name, code);
    AppError::Invalid(errors)
}

impl From<WriteError> for AppError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::CodeTaken => field("code", "point_code_taken"),
            WriteError::SerialTaken => field("serial", "serial_taken"),
            WriteError::MeterInstalled => field("serial", "meter_installed"),
            WriteError::StaleVersion => AppError::Conflict("stale_point"),
            WriteError::Db(e) => e.into(),
        }
    }
}

/// The point as its history shows it; a field never filled in is left out.
fn snapshot(point: &Point) -> serde_json::Value {
    let mut fields = json!({
        "code": point.code,
        "address": point.address,
        "voltage_code": point.voltage_code,
        "capacity_kva": point.capacity_kva,
        "transformer": point.transformer,
        "route_code": point.route_code,
        "status": point.status,
    });
    if let Some(map) = fields.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    fields
}

/// Adds a supply point to a customer.
pub async fn create_point(
    conn: &mut PgConnection,
    actor: &Actor,
    customer_id: Uuid,
    draft: &PointDraft,
) -> Result<Point, AppError> {
    // The customer first: another tenant's (or no) customer is a 404, not a form error.
    db::customer_label(conn, customer_id).await?;
    let codes = db::codes(conn, None).await?;
    let valid = validate_point(draft, &codes)?;
    let point = db::insert_point(conn, customer_id, &valid).await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "create",
            entity: "supply_point",
            entity_id: Some(point.id),
            summary: point.code.clone(),
            before: None,
            after: Some(snapshot(&point)),
        },
    )
    .await?;
    Ok(point)
}

/// Edits the fields present in `patch` (an empty string clears an optional
/// one). With a version, the point must still be at it: someone else's edit
/// is never overwritten.
pub async fn update_point(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    patch: &PointDraft,
) -> Result<Point, AppError> {
    let current = db::get_point(conn, id).await?.ok_or(AppError::NotFound)?;
    if patch.version.is_some_and(|v| v != current.version) {
        return Err(AppError::Conflict("stale_point"));
    }
    if current.status == "removed" {
        return Err(AppError::Conflict("point_retired"));
    }
    let keep = |new: &Option<String>, old: &str| Some(new.clone().unwrap_or_else(|| old.to_owned()));
    let merged = PointDraft {
        code: keep(&patch.code, &current.code),
        address: keep(&patch.address, &current.address),
        voltage_code: keep(&patch.voltage_code, &current.voltage_code),
        capacity_kva: match &patch.capacity_kva {
            Some(c) => Some(c.clone()),
            None => current.capacity_kva.map(|c| c.to_string()),
        },
        transformer: keep(&patch.transformer, &current.transformer),
        route_code: match &patch.route_code {
            Some(r) => Some(r.clone()),
            None => current.route_code.clone(),
        },
        version: None,
    };
    let codes = db::codes(conn, Some(id)).await?;
    let valid = validate_point(&merged, &codes)?;
    db::update_point(conn, id, current.version, &valid).await?;
    let updated = db::get_point(conn, id).await?.ok_or(AppError::NotFound)?;
    let (before, after) = (snapshot(&current), snapshot(&updated));
    if before != after {
        audit::record(
            conn,
            actor,
            Change {
                action: "update",
                entity: "supply_point",
                entity_id: Some(id),
                summary: updated.code.clone(),
                before: Some(before),
                after: Some(after),
            },
        )
        .await?;
    }
    Ok(updated)
}

/// The point a meter change is made on, locked, and still in service.
async fn point_for_meters(conn: &mut PgConnection, id: Uuid) -> Result<Point, AppError> {
    if !db::lock_point(conn, id).await? {
        return Err(AppError::NotFound);
    }
    let point = db::get_point(conn, id).await?.ok_or(AppError::NotFound)?;
    if point.status != "in_service" {
        return Err(AppError::Conflict("meters_need_point_in_service"));
    }
    Ok(point)
}

/// The meter a serial names: one in the archive and installed nowhere (a
/// meter back from the lab), or a new one. A serial installed anywhere is
/// refused on `field`.
async fn meter_to_install(
    conn: &mut PgConnection,
    meter: &ValidMeter,
    field_name: &str,
    day: NaiveDate,
) -> Result<Uuid, AppError> {
    match db::meter_by_serial(conn, &meter.serial).await? {
        Some(id) => {
            let existing = db::get_meter(conn, id).await?.ok_or(AppError::NotFound)?;
            if existing.supply_point_id.is_some() {
                return Err(field(field_name, "meter_installed"));
            }
            if db::last_removed_on(conn, id).await?.is_some_and(|removed| day < removed) {
                return Err(field(field_name, "meter_removed_later"));
            }
            Ok(id)
        }
        None => db::insert_meter(conn, meter).await.map_err(|e| match e {
            WriteError::SerialTaken => field(field_name, "serial_taken"),
            other => other.into(),
        }),
    }
}

/// A register read when a meter goes in or comes out, and the form's names
/// for its value and its day.
struct Taken<'a> {
    serial: &'a str,
    kind: &'a str,
    day: NaiveDate,
    total: rust_decimal::Decimal,
    total_field: &'a str,
    day_field: &'a str,
    /// A time-of-use meter's band registers (peak, flat, valley), and the
    /// prefix of their form fields ("initial_" names "initial_peak").
    bands: [&'a Option<String>; 3],
    band_prefix: &'a str,
}

/// Records the reading through the readings' own checks (the meter installed
/// on the day, the period not billed yet, the plausibility flags); their
/// field names become the form's.
async fn record_reading(
    conn: &mut PgConnection,
    actor: &Actor,
    taken: Taken<'_>,
    today: NaiveDate,
) -> Result<readings::service::Recorded, AppError> {
    let draft = ReadingDraft {
        meter: taken.serial.to_owned(),
        kind: Some(taken.kind.to_owned()),
        read_on: taken.day.to_string(),
        total: taken.total.to_string(),
        peak: taken.bands[0].clone(),
        flat: taken.bands[1].clone(),
        valley: taken.bands[2].clone(),
        ..Default::default()
    };
    let jump_factor = readings::db::jump_factor(conn).await?;
    readings::service::record(conn, &draft, today, "form", actor.user_id, jump_factor).await?.map_err(|errors| {
        let mut renamed = FieldErrors::default();
        for e in errors.iter() {
            let name = match e.field.as_str() {
                "total" => taken.total_field.to_owned(),
                band @ ("peak" | "flat" | "valley") => format!("{}{band}", taken.band_prefix),
                _ => taken.day_field.to_owned(),
            };
            renamed.add(name, e.code);
        }
        AppError::Invalid(renamed)
    })
}

/// Puts a meter on a point from a day, with the register it starts from.
pub async fn install_meter(
    conn: &mut PgConnection,
    actor: &Actor,
    point_id: Uuid,
    draft: &InstallDraft,
    today: NaiveDate,
) -> Result<Meter, AppError> {
    let point = point_for_meters(conn, point_id).await?;
    let valid = validate_install(draft, today)?;
    let meter_id = meter_to_install(conn, &valid.meter, "serial", valid.installed_on).await?;
    db::install(conn, meter_id, point.id, valid.installed_on).await?;
    let taken = Taken {
        serial: &valid.meter.serial,
        kind: "installation",
        day: valid.installed_on,
        total: valid.initial_reading,
        total_field: "initial_reading",
        day_field: "installed_on",
        bands: [&draft.initial_peak, &draft.initial_flat, &draft.initial_valley],
        band_prefix: "initial_",
    };
    record_reading(conn, actor, taken, today).await?;
    let meter = db::get_meter(conn, meter_id).await?.ok_or(AppError::NotFound)?;
    audit::record(
        conn,
        actor,
        Change {
            action: "install",
            entity: "supply_point",
            entity_id: Some(point.id),
            summary: format!("{} → {}", meter.serial, point.code),
            before: None,
            after: Some(json!({
                "meter": meter.serial,
                "multiplier": meter.multiplier,
                "installed_on": valid.installed_on,
                "initial_reading": valid.initial_reading,
            })),
        },
    )
    .await?;
    on_timeline(conn, &point, &meter.serial, "meter_installed").await?;
    Ok(meter)
}

/// A meter put in or exchanged shows on the holder's timeline, linked to the
/// supply point, so the counter sees why the readings start again.
async fn on_timeline(conn: &mut PgConnection, point: &Point, title: &str, status: &str) -> sqlx::Result<()> {
    let link = format!("/supply-points/{}", point.id);
    let entry = timeline::Entry { kind: "meter", notice: None, title, status, link: &link };
    timeline::record(conn, point.customer_id, chrono::Utc::now(), entry).await
}

/// What an exchange did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Exchanged {
    pub supply_point_id: Uuid,
    /// The meter taken out (no longer installed).
    pub removed: Meter,
    /// The meter put in.
    pub installed: Meter,
    /// The status of the old meter's final reading: ok, or flagged when it
    /// waits in the review queue (an implausible jump) before it is billed.
    pub final_reading_status: &'static str,
}

/// A meter exchange (拆换表): the old meter comes out with its final reading,
/// the new one goes in with its initial reading, on the same day. The bill of
/// the period counts both meters, each with its own multiplier.
pub async fn exchange_meter(
    conn: &mut PgConnection,
    actor: &Actor,
    old_meter_id: Uuid,
    draft: &ExchangeDraft,
    today: NaiveDate,
) -> Result<Exchanged, AppError> {
    let old = db::get_meter(conn, old_meter_id).await?.ok_or(AppError::NotFound)?;
    let (Some(point_id), Some(installed_on)) = (old.supply_point_id, old.installed_on) else {
        return Err(AppError::Conflict("meter_not_in_service"));
    };
    let point = point_for_meters(conn, point_id).await?;
    let outgoing =
        OutgoingMeter { serial: old.serial.clone(), installed_on, last_reading: db::last_reading(conn, old.id).await? };
    let valid = validate_exchange(draft, &outgoing, today)?;
    let taken = Taken {
        serial: &old.serial,
        kind: "removal",
        day: valid.exchanged_on,
        total: valid.final_reading,
        total_field: "final_reading",
        day_field: "exchanged_on",
        bands: [&draft.final_peak, &draft.final_flat, &draft.final_valley],
        band_prefix: "final_",
    };
    let recorded = record_reading(conn, actor, taken, today).await?;
    db::remove(conn, old.id, valid.exchanged_on).await?;
    let new_id = meter_to_install(conn, &valid.new_meter, "new_serial", valid.exchanged_on).await?;
    db::install(conn, new_id, point.id, valid.exchanged_on).await.map_err(|e| match e {
        WriteError::MeterInstalled => field("new_serial", "meter_installed"),
        other => other.into(),
    })?;
    let taken = Taken {
        serial: &valid.new_meter.serial,
        kind: "installation",
        day: valid.exchanged_on,
        total: valid.new_initial_reading,
        total_field: "new_initial_reading",
        day_field: "exchanged_on",
        bands: [&draft.new_initial_peak, &draft.new_initial_flat, &draft.new_initial_valley],
        band_prefix: "new_initial_",
    };
    record_reading(conn, actor, taken, today).await?;
    let removed = db::get_meter(conn, old.id).await?.ok_or(AppError::NotFound)?;
    let installed = db::get_meter(conn, new_id).await?.ok_or(AppError::NotFound)?;
    audit::record(
        conn,
        actor,
        Change {
            action: "exchange",
            entity: "supply_point",
            entity_id: Some(point.id),
            summary: format!("{} → {} ({})", old.serial, installed.serial, point.code),
            // The same keys before and after, so the history reads "old → new".
            before: Some(json!({
                "meter": old.serial,
                "multiplier": old.multiplier,
                "reading": valid.final_reading,
            })),
            after: Some(json!({
                "meter": installed.serial,
                "multiplier": installed.multiplier,
                "reading": valid.new_initial_reading,
                "exchanged_on": valid.exchanged_on,
            })),
        },
    )
    .await?;
    let title = format!("{} → {} · {}", old.serial, installed.serial, point.code);
    on_timeline(conn, &point, &title, "meter_exchanged").await?;
    Ok(Exchanged { supply_point_id: point.id, removed, installed, final_reading_status: recorded.status })
}
