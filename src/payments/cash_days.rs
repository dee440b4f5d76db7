//! End-of-day reconciliation (日结/解款): per cashier and channel, what was
//! taken and what was reversed on a day of the company's calendar. The
//! cashier closes the day (its figures frozen), a supervisor signs it off;
//! nothing dated in a closed day is booked or reversed any more, so a
//! mistake found later is corrected by a reversal on a later day.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    payments::model::CHANNELS,
    web::error::AppError,
};

/// A cashier's day: open, closed by the cashier, signed off by a supervisor.
pub const STATUSES: [&str; 3] = ["open", "closed", "signed"];

/// One channel of a cashier's day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DayLine {
    /// The payment channel: counter_cash, counter_card, counter_wechat, …
    pub channel: String,
    /// Payments taken on the day (whatever became of them later).
    pub receipts: i64,
    pub received: Decimal,
    /// Payments reversed on the day (whenever they were taken).
    pub reversals: i64,
    pub reversed: Decimal,
    /// received − reversed: what the drawer or the channel holds for the day.
    pub net: Decimal,
}

/// A cashier's day: its lines and totals, and whether it is closed and signed off.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CashierDay {
    pub cashier_id: Uuid,
    pub cashier: String,
    pub day: NaiveDate,
    /// open, closed (by the cashier) or signed (off by a supervisor).
    pub status: String,
    pub lines: Vec<DayLine>,
    pub total: DayLine,
    /// Cash handed over by customers and change given back, at the counter.
    pub cash_received: Decimal,
    pub change_given: Decimal,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_by: Option<String>,
    pub sign_note: String,
}

impl CashierDay {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

/// A movement of a cashier's day as the database lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    pub cashier_id: Uuid,
    pub channel: String,
    /// true: a reversal; false: a receipt.
    pub reversal: bool,
    pub count: i64,
    pub amount: Decimal,
}

/// Sums the movements into one line per channel (in the channels' order) and a total.
pub fn summarise(movements: &[Movement]) -> (Vec<DayLine>, DayLine) {
    let mut by_channel: BTreeMap<usize, DayLine> = BTreeMap::new();
    for m in movements {
        let rank = CHANNELS.iter().position(|c| *c == m.channel).unwrap_or(CHANNELS.len());
        let line =
            by_channel.entry(rank).or_insert_with(|| DayLine { channel: m.channel.clone(), ..Default::default() });
        if m.reversal {
            line.reversals += m.count;
            line.reversed += m.amount;
        } else {
            line.receipts += m.count;
            line.received += m.amount;
        }
        line.net = line.received - line.reversed;
    }
    let lines: Vec<DayLine> = by_channel.into_values().collect();
    let mut total = DayLine { channel: "total".into(), ..Default::default() };
    for l in &lines {
        total.receipts += l.receipts;
        total.received += l.received;
        total.reversals += l.reversals;
        total.reversed += l.reversed;
    }
    total.net = total.received - total.reversed;
    (lines, total)
}

/// The company's time zone.
async fn zone(conn: &mut PgConnection) -> sqlx::Result<chrono_tz::Tz> {
    let zone = sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = app_tenant_id()").fetch_one(conn).await?;
    Ok(zone.parse().unwrap_or(chrono_tz::Asia::Shanghai))
}

/// The company's calendar day of a moment.
pub async fn day_of(conn: &mut PgConnection, at: DateTime<Utc>) -> sqlx::Result<NaiveDate> {
    Ok(at.with_timezone(&zone(conn).await?).date_naive())
}

/// The moments a day of the company's calendar spans: [start, end).
async fn bounds(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let tz = zone(conn).await?;
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_local_timezone(tz)
            .earliest()
            .map_or_else(|| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc(), |t| t.to_utc())
    };
    Ok((at(day), at(day + Days::new(1))))
}

/// The lock that orders a cashier's bookings against the closing of their
/// day: bookings share it, closing takes it alone. Key: the cashier and day.
fn lock_key(cashier: Uuid, day: NaiveDate) -> String {
    format!("cash_day:{cashier}:{day}")
}

/// For a booking or reversal by `cashier` dated `day`: true when the day is
/// closed (refuse it). Holds the day open until the caller's transaction ends.
pub async fn hold_open(conn: &mut PgConnection, cashier: Uuid, day: NaiveDate) -> sqlx::Result<bool> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))::text")
        .bind(lock_key(cashier, day))
        .execute(&mut *conn)
        .await?;
    let closed = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM cash_days WHERE cashier_id = $1 AND day = $2) AS "closed!""#,
        cashier,
        day
    )
    .fetch_one(conn)
    .await?;
    Ok(closed)
}

/// Every cashier's day who took or reversed a payment on `day` or closed
/// it; `only`: that cashier's alone. Sorted by cashier name.
pub async fn for_day(conn: &mut PgConnection, day: NaiveDate, only: Option<Uuid>) -> sqlx::Result<Vec<CashierDay>> {
    let (start, end) = bounds(conn, day).await?;
    let rows = sqlx::query!(
        r#"SELECT cashier_id AS "cashier_id!", channel AS "channel!", reversal AS "reversal!", count(*) AS "count!",
                  coalesce(sum(amount), 0) AS "amount!", coalesce(sum(cash_received), 0) AS "cash_received!",
                  coalesce(sum(change_given), 0) AS "change_given!"
           FROM (SELECT cashier_id, channel, false AS reversal, amount, cash_received, change_given FROM payments
                 WHERE cashier_id IS NOT NULL AND received_at >= $1 AND received_at < $2
                 UNION ALL
                 SELECT reversed_by_id, channel, true, amount, NULL, NULL FROM payments
                 WHERE reversed_by_id IS NOT NULL AND reversed_at >= $1 AND reversed_at < $2) m
           WHERE $3::uuid IS NULL OR cashier_id = $3
           GROUP BY 1, 2, 3"#,
        start,
        end,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let closed = sqlx::query!(
        r#"SELECT d.cashier_id, d.status, d.closed_at, d.closed_by, d.signed_at, d.signed_by, d.sign_note
           FROM cash_days d WHERE d.day = $1 AND ($2::uuid IS NULL OR d.cashier_id = $2)"#,
        day,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut cashiers: Vec<Uuid> =
        rows.iter().map(|r| r.cashier_id).chain(closed.iter().map(|c| c.cashier_id)).collect();
    cashiers.sort();
    cashiers.dedup();
    let names =
        sqlx::query!("SELECT id, display_name FROM users WHERE id = ANY($1)", &cashiers).fetch_all(&mut *conn).await?;
    let mut days: Vec<CashierDay> = cashiers
        .into_iter()
        .map(|cashier_id| {
            let mine: Vec<_> = rows.iter().filter(|r| r.cashier_id == cashier_id).collect();
            let movements: Vec<Movement> = mine
                .iter()
                .map(|r| Movement {
                    cashier_id,
                    channel: r.channel.clone(),
                    reversal: r.reversal,
                    count: r.count,
                    amount: r.amount,
                })
                .collect();
            let (lines, total) = summarise(&movements);
            let close = closed.iter().find(|c| c.cashier_id == cashier_id);
            CashierDay {
                cashier_id,
                cashier: names.iter().find(|n| n.id == cashier_id).map(|n| n.display_name.clone()).unwrap_or_default(),
                day,
                status: close.map_or_else(|| "open".to_owned(), |c| c.status.clone()),
                lines,
                total,
                cash_received: mine.iter().map(|r| r.cash_received).sum(),
                change_given: mine.iter().map(|r| r.change_given).sum(),
                closed_at: close.map(|c| c.closed_at),
                closed_by: close.map(|c| c.closed_by.clone()),
                signed_at: close.and_then(|c| c.signed_at),
                signed_by: close.and_then(|c| c.signed_by.clone()),
                sign_note: close.map(|c| c.sign_note.clone()).unwrap_or_default(),
            }
        })
        .collect();
    days.sort_by(|a, b| a.cashier.cmp(&b.cashier).then(a.cashier_id.cmp(&b.cashier_id)));
    Ok(days)
}

/// One cashier's day (open and empty when nothing happened).
pub async fn one(conn: &mut PgConnection, day: NaiveDate, cashier: Uuid) -> Result<CashierDay, AppError> {
    if let Some(found) = for_day(conn, day, Some(cashier)).await?.pop() {
        return Ok(found);
    }
    let name = sqlx::query_scalar!("SELECT display_name FROM users WHERE id = $1", cashier)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(CashierDay {
        cashier_id: cashier,
        cashier: name,
        day,
        status: "open".into(),
        lines: Vec::new(),
        total: DayLine { channel: "total".into(), ..Default::default() },
        cash_received: Decimal::ZERO,
        change_given: Decimal::ZERO,
        closed_at: None,
        closed_by: None,
        signed_at: None,
        signed_by: None,
        sign_note: String::new(),
    })
}

/// The cashier closes their own day (today or an earlier one): its figures
/// are frozen and audited; from now on nothing dated in it is booked.
pub async fn close(conn: &mut PgConnection, actor: &Actor, day: NaiveDate) -> Result<CashierDay, AppError> {
    let cashier = actor.user_id.ok_or(AppError::Conflict("cashier_required"))?;
    let today = day_of(conn, Utc::now()).await?;
    if day > today {
        return Err(crate::payments::service::invalid("day", "in_future"));
    }
    // Waits for this cashier's bookings of the day that are under way.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text")
        .bind(lock_key(cashier, day))
        .execute(&mut *conn)
        .await?;
    let report = one(conn, day, cashier).await?;
    if !report.is_open() {
        return Err(AppError::Conflict("cash_day_closed"));
    }
    let totals = json!({ "lines": report.lines, "total": report.total,
        "cash_received": report.cash_received, "change_given": report.change_given });
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO cash_days (tenant_id, id, cashier_id, day, totals, closed_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5)"#,
        id,
        cashier,
        day,
        totals,
        actor.label
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "close",
            entity: "cash_day",
            entity_id: Some(id),
            summary: format!("{} {day} {}", report.cashier, report.total.net),
            before: Some(json!({ "status": "open" })),
            after: Some(json!({ "status": "closed", "day": day, "receipts": report.total.receipts,
                "received": report.total.received, "reversals": report.total.reversals,
                "reversed": report.total.reversed, "net": report.total.net })),
        },
    )
    .await?;
    one(conn, day, cashier).await
}

/// A supervisor signs off a closed day of another cashier (checked: the cash
/// and the channels' statements agree), with an optional note. Audited.
pub async fn sign_off(
    conn: &mut PgConnection,
    actor: &Actor,
    day: NaiveDate,
    cashier: Uuid,
    note: &str,
) -> Result<CashierDay, AppError> {
    let note = note.trim();
    if note.chars().count() > 500 {
        return Err(crate::payments::service::invalid("note", "too_long"));
    }
    // Another company's cashier, or no one: 404 before anything else is said.
    one(conn, day, cashier).await?;
    if actor.user_id == Some(cashier) {
        return Err(AppError::Conflict("sign_own_day"));
    }
    let signed_by = actor.user_id.ok_or(AppError::Conflict("cashier_required"))?;
    let row = sqlx::query!(
        r#"UPDATE cash_days SET status = 'signed', signed_at = now(), signed_by_id = $3, signed_by = $4, sign_note = $5
           WHERE cashier_id = $1 AND day = $2 AND status = 'closed' RETURNING id"#,
        cashier,
        day,
        signed_by,
        actor.label,
        note
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let report = one(conn, day, cashier).await?;
        return Err(AppError::Conflict(if report.is_open() { "cash_day_open" } else { "cash_day_signed" }));
    };
    let report = one(conn, day, cashier).await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "sign_off",
            entity: "cash_day",
            entity_id: Some(row.id),
            summary: format!("{} {day} {}", report.cashier, report.total.net),
            before: Some(json!({ "status": "closed" })),
            after: Some(json!({ "status": "signed", "note": note })),
        },
    )
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_day_sums_receipts_and_reversals_per_channel() {
        let c = Uuid::nil();
        let m = |channel: &str, reversal, count, amount| Movement {
            cashier_id: c,
            channel: channel.into(),
            reversal,
            count,
            amount,
        };
        let (lines, total) = summarise(&[
            m("counter_card", false, 2, dec!(300.00)),
            m("counter_cash", false, 3, dec!(135.50)),
            m("counter_cash", true, 1, dec!(20.00)),
            m("counter_wechat", true, 1, dec!(10.00)),
        ]);
        assert_eq!(
            lines.iter().map(|l| l.channel.as_str()).collect::<Vec<_>>(),
            ["counter_cash", "counter_card", "counter_wechat"]
        );
        assert_eq!(lines[0].net, dec!(115.50));
        assert_eq!((lines[2].receipts, lines[2].reversals, lines[2].net), (0, 1, dec!(-10.00)));
        assert_eq!(
            (total.receipts, total.received, total.reversals, total.reversed),
            (5, dec!(435.50), 2, dec!(30.00))
        );
        assert_eq!(total.net, dec!(405.50));
        assert_eq!(summarise(&[]).1.net, Decimal::ZERO);
    }
}
