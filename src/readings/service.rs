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
        db::{self, Found},
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
/// only database failures are errors.
pub async fn record(
    conn: &mut PgConnection,
    draft: &ReadingDraft,
    today: NaiveDate,
    source: &str,
    user_id: Option<Uuid>,
    jump_factor: Decimal,
) -> sqlx::Result<Result<Recorded, FieldErrors>> {
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
    let history = db::history(conn, &meter, &reading, jump_factor).await?;
    let checked = model::check(reading.total, reading.rollover, &history);
    let (id, replaced) = db::insert(conn, &meter, &reading, &checked, source, user_id).await?;
    Ok(Ok(Recorded {
        id,
        customer_id: meter.customer_id,
        status: if checked.flags.is_empty() { "ok" } else { "flagged" },
        flags: checked.flags,
        usage_kwh: checked.usage_kwh,
        replaced,
    }))
}
