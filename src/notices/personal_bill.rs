//! The personalised bill (个性化账单): on the day of the month a customer
//! chose, their latest issued bill goes to them on the channel they chose,
//! as a summary or with every line. The daily scan ([`scan`]) finds them;
//! each bill goes once (`bill:<id>:personal`).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Kind,
    db::{self, Target},
};
use crate::web::i18n::{I18n, Locale};

/// The bill a personalised bill is made from.
#[derive(Clone, Debug)]
pub struct BillFacts {
    pub bill_no: String,
    pub period: NaiveDate,
    pub amount: Decimal,
    pub due_on: NaiveDate,
    pub energy_kwh: Decimal,
}

/// One line of a bill.
#[derive(Clone, Debug)]
pub struct Line {
    pub kind: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

fn locale(lang: &str) -> Locale {
    Locale::parse(lang).unwrap_or_default()
}

/// A decimal without trailing zeros (`100.0000` → `100`).
fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A bill line as a person reads it: `Energy: 100 × 0.538 = ¥53.80`.
pub fn line_text(line: &Line, lang: &str) -> String {
    let i = I18n(locale(lang));
    let label = i.t(&format!("bill_line.{}", line.kind));
    i.t_with(
        "notice_prefs.bill_line",
        &[
            ("label", &label),
            ("quantity", &plain(line.quantity)),
            ("unit_price", &plain(line.unit_price)),
            ("amount", &line.amount.round_dp(2).to_string()),
        ],
    )
}

/// The fields of a personalised bill notice: the bill's, `lines` as text
/// (empty for a summary) and `items` as a JSON array for the HTML mail.
pub fn bill_data(bill: &BillFacts, lines: &[Line], itemised: bool, lang: &str, today: NaiveDate) -> Value {
    let i = I18n(locale(lang));
    let period = bill.period.format("%Y-%m").to_string();
    let (text, items): (Vec<String>, Vec<Value>) = if itemised {
        lines
            .iter()
            .map(|l| {
                let item = json!({
                    "kind": l.kind,
                    "label": i.t(&format!("bill_line.{}", l.kind)),
                    "quantity": plain(l.quantity),
                    "unit_price": plain(l.unit_price),
                    "amount": l.amount.round_dp(2).to_string(),
                });
                (line_text(l, lang), item)
            })
            .unzip()
    } else {
        (Vec::new(), Vec::new())
    };
    json!({
        "bill_no": bill.bill_no,
        "period": period,
        "amount": bill.amount.round_dp(2).to_string(),
        "due_date": bill.due_on.to_string(),
        "energy_kwh": plain(bill.energy_kwh),
        "date": today.to_string(),
        "title": i.t_with("notice_prefs.bill_title", &[("period", &period), ("bill_no", &bill.bill_no)]),
        "lines": if text.is_empty() { String::new() } else { text.join("\n") + "\n" },
        "items": items,
    })
}

/// The lines of some bills, in order, by bill.
pub async fn lines_of(conn: &mut PgConnection, bills: &[Uuid]) -> sqlx::Result<HashMap<Uuid, Vec<Line>>> {
    let rows = sqlx::query!(
        "SELECT bill_id, kind, quantity, unit_price, amount FROM bill_lines
         WHERE bill_id = ANY($1) ORDER BY bill_id, line_no",
        bills
    )
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<Uuid, Vec<Line>> = HashMap::new();
    for r in rows {
        out.entry(r.bill_id).or_default().push(Line {
            kind: r.kind,
            quantity: r.quantity,
            unit_price: r.unit_price,
            amount: r.amount,
        });
    }
    Ok(out)
}

/// A customer's latest issued bill (by period), for a preview.
pub async fn latest_bill(conn: &mut PgConnection, customer: Uuid) -> sqlx::Result<Option<(Uuid, BillFacts)>> {
    let row = sqlx::query!(
        "SELECT id, bill_no, period, amount, due_on, energy_kwh FROM bills
         WHERE customer_id = $1 AND status = 'issued' ORDER BY period DESC, issued_on DESC LIMIT 1",
        customer
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        (
            r.id,
            BillFacts {
                bill_no: r.bill_no,
                period: r.period,
                amount: r.amount,
                due_on: r.due_on,
                energy_kwh: r.energy_kwh,
            },
        )
    }))
}

/// Queues today's personalised bills in the current tenant: every customer
/// whose bill is not off and whose day is today's day of the month gets
/// their latest issued bill on their channel, unless that bill went to them
/// as a personal bill already (or they opted out, or the channel has no
/// address: `db::enqueue` leaves those out). Returns the notices created.
pub async fn scan(conn: &mut PgConnection, today: NaiveDate) -> sqlx::Result<u64> {
    let day = today.day() as i16;
    // The tenant named on every table, for Citus (docs/operations.md).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let due = sqlx::query!(
        r#"SELECT p.customer_id, p.bill_content, p.bill_channel AS "bill_channel!",
                  coalesce(p.lang, (SELECT default_lang FROM notice_settings WHERE tenant_id = $3), 'zh-CN') AS "lang!",
                  b.id AS bill_id, b.bill_no, b.period, b.amount, b.due_on, b.energy_kwh
           FROM notice_preferences p
           CROSS JOIN LATERAL (
               SELECT id, bill_no, period, amount, due_on, energy_kwh FROM bills
               WHERE tenant_id = $3 AND customer_id = p.customer_id AND status = 'issued' AND issued_on <= $2
               ORDER BY period DESC, issued_on DESC LIMIT 1) b
           WHERE p.tenant_id = $3 AND p.bill_content <> 'off' AND p.bill_day = $1 AND p.bill_channel IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM notices n
                             WHERE n.tenant_id = $3 AND n.event_ref = 'bill:' || b.id::text || ':personal'
                               AND n.kind = 'personal_bill')
           ORDER BY p.customer_id"#,
        day,
        today,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let itemised: Vec<Uuid> = due.iter().filter(|r| r.bill_content == "itemised").map(|r| r.bill_id).collect();
    let lines = lines_of(conn, &itemised).await?;
    let mut by_channel: HashMap<String, Vec<Target>> = HashMap::new();
    let now = Utc::now();
    for r in due {
        let facts = BillFacts {
            bill_no: r.bill_no,
            period: r.period,
            amount: r.amount,
            due_on: r.due_on,
            energy_kwh: r.energy_kwh,
        };
        let bill_lines = lines.get(&r.bill_id).map(Vec::as_slice).unwrap_or_default();
        let data = bill_data(&facts, bill_lines, r.bill_content == "itemised", &r.lang, today);
        by_channel.entry(r.bill_channel).or_default().push(Target {
            customer_id: r.customer_id,
            event_ref: format!("bill:{}:personal", r.bill_id),
            data,
            not_before: now,
        });
    }
    let mut created = 0;
    let mut channels: Vec<_> = by_channel.into_iter().collect();
    channels.sort_by(|a, b| a.0.cmp(&b.0));
    for (channel, targets) in channels {
        db::add_targets(conn, &targets).await?;
        created += db::enqueue(conn, Kind::PersonalBill, &[channel], &json!({})).await?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> BillFacts {
        BillFacts {
            bill_no: "B202611-0001".into(),
            period: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            amount: Decimal::new(12850, 2),
            due_on: NaiveDate::from_ymd_opt(2026, 12, 20).unwrap(),
            energy_kwh: Decimal::new(23000, 2),
        }
    }

    fn line() -> Line {
        Line {
            kind: "energy".into(),
            quantity: Decimal::new(2_300_000, 4),
            unit_price: Decimal::new(538_000, 6),
            amount: Decimal::new(12374, 2),
        }
    }

    #[test]
    fn an_itemised_bill_has_readable_lines_and_items() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let d = bill_data(&facts(), &[line()], true, "en", today);
        assert_eq!(d["period"], "2026-11");
        assert_eq!(d["amount"], "128.50");
        assert_eq!(d["energy_kwh"], "230");
        assert_eq!(d["due_date"], "2026-12-20");
        assert_eq!(d["lines"], "Energy: 230 × 0.538 = ¥123.74\n");
        assert_eq!(d["items"][0]["amount"], "123.74");
        let zh = bill_data(&facts(), &[line()], true, "zh-CN", today);
        assert!(zh["lines"].as_str().unwrap().contains("123.74 元"), "{}", zh["lines"]);
        // Every field the kind promises is there, so the built-in renders.
        let (s, b) = super::super::template::builtin(Kind::PersonalBill, "en");
        let mut data = d.clone();
        for f in ["customer_name", "account_no", "tenant_name"] {
            data[f] = json!("x");
        }
        assert!(super::super::template::render(s, b, &data).unwrap().body.contains("230 × 0.538"));
    }

    #[test]
    fn a_summary_has_no_lines() {
        let d = bill_data(&facts(), &[line()], false, "zh-CN", NaiveDate::from_ymd_opt(2026, 12, 5).unwrap());
        assert_eq!(d["lines"], "");
        assert_eq!(d["items"], json!([]));
    }
}
