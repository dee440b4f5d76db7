//! Recording a reading, whatever its source (form, API, import): check the
//! fields, find the meter installed on the day, refuse a period already
//! billed, run the plausibility checks, save.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    readings::{
        db::{self, Found, MeterAt},
        model::{self, ReadingDraft},
    },
    web::error::FieldErrors,
};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// ok (billable) or flagged (waits in the review queue).
    pub status: &'static str,
    /// lower_than_last, jump, zero.
    pub flags: Vec<&'static str>,
    pub usage_kwh: Option<Decimal>,
    /// A live reading of the same meter, period and kind was superseded.
    pub replaced: bool,
}

/// Records one reading. Refusals come back as field errors (nothing written);
/// only database failures are errors. An implausible reading is recorded
/// flagged, for the review queue.
pub async fn record(
    conn: &mut PgConnection,
    draft: &ReadingDraft,
    today: NaiveDate,
    source: &str,
    user_id: Option<Uuid>,
    jump_factor: Decimal,
) -> sqlx::Result<Result<Recorded, FieldErrors>> {
    Ok(record_or_warn(conn, draft, today, source, user_id, jump_factor, true).await?.map(Outcome::recorded))
}

/// As [`record`], but an implausible value is recorded (flagged, for the
/// review queue) only when `confirmed`; else it comes back warned, unsaved,
/// for the clerk to confirm or correct.
#[allow(clippy::too_many_arguments)]
pub async fn record_or_warn(
    conn: &mut PgConnection,
    draft: &ReadingDraft,
    today: NaiveDate,
    source: &str,
    user_id: Option<Uuid>,
    jump_factor: Decimal,
    confirmed: bool,
) -> sqlx::Result<Result<Outcome, FieldErrors>> {
    let reading = match model::validate(draft, today) {
        Ok(reading) => reading,
        Err(errors) => return Ok(Err(errors)),
    };
    let mut errors = FieldErrors::default();
    let meter = match db::meter_at(conn, &reading.meter, reading.read_on).await? {
        Found::Installed(meter) => meter,
        Found::NotInstalled => {
            errors.add("meter", "meter_not_installed");
            return Ok(Err(errors));
        }
        Found::Unknown => {
            errors.add("meter", "unknown_meter");
            return Ok(Err(errors));
        }
    };
    if meter.time_of_use && reading.peak.is_none() {
        errors.add("peak", "bands_required");
    }
    if db::period_billed(conn, meter.customer_id, reading.period).await? {
        errors.add("period", "period_billed");
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let history = db::history(conn, &meter, reading.period, &reading.kind, jump_factor).await?;
    let checked = model::check(reading.total, reading.rollover, &history);
    if !confirmed && !checked.flags.is_empty() {
        // The clerk sees the warnings first: nothing is saved until they confirm or correct.
        return Ok(Ok(Outcome::Warned(Preview { meter, history, checked })));
    }
    let (id, replaced) = db::insert(conn, &meter, &reading, &checked, source, user_id).await?;
    Ok(Ok(Outcome::Recorded(Recorded {
        id,
        customer_id: meter.customer_id,
        status: if checked.flags.is_empty() { "ok" } else { "flagged" },
        flags: checked.flags,
        usage_kwh: checked.usage_kwh,
        replaced,
    })))
}

/// What the form shows beside a value being typed: the meter's previous
/// reading, its date and multiplier, the usage the value gives, and the
/// warnings it would raise.
#[derive(Clone, Debug)]
pub struct Preview {
    pub meter: MeterAt,
    pub history: model::History,
    pub checked: model::Checked,
}

pub enum Outcome {
    Recorded(Recorded),
    /// Implausible and not confirmed: nothing was saved.
    Warned(Preview),
}

impl Outcome {
    /// For sources that do not ask first (the API, imports): always recorded.
    pub fn recorded(self) -> Recorded {
        match self {
            Outcome::Recorded(r) => r,
            Outcome::Warned(_) => unreachable!("confirmed sources are never warned"),
        }
    }
}

/// The live preview of the form: None when the meter is not (yet) one that is
/// installed on the day; the checks only when the total is a register value.
#[allow(clippy::too_many_arguments)]
pub async fn preview(
    conn: &mut PgConnection,
    serial: &str,
    read_on: NaiveDate,
    period: Option<NaiveDate>,
    kind: &str,
    total: Option<Decimal>,
    rollover: bool,
    jump_factor: Decimal,
) -> sqlx::Result<Option<Preview>> {
    let Found::Installed(meter) = db::meter_at(conn, serial.trim(), read_on).await? else {
        return Ok(None);
    };
    let period = period.unwrap_or_else(|| crate::months::start_of(read_on));
    let history = db::history(conn, &meter, period, kind, jump_factor).await?;
    let checked = match total {
        Some(total) => model::check(total, rollover, &history),
        None => model::Checked { flags: Vec::new(), usage_kwh: None },
    };
    Ok(Some(Preview { meter, history, checked }))
}
