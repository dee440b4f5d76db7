//! The printable bill with its "why is it this much": the lines, the
//! readings and tier allowances behind them, a year of usage and the change
//! against the same month last year. The staff bill page and the customer
//! portal show the same sheet (`templates/billing/sheet.html`).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    billing::{
        bills::{self, BillRow, LineRow},
        calc::change_percent,
    },
    months,
    prints::Letterhead,
    web::{chart, page::Page},
};

pub struct BillSheet {
    pub bill: BillRow,
    pub lines: Vec<LineRow>,
    pub segments: Vec<serde_json::Value>,
    pub tiers: Vec<serde_json::Value>,
    pub history_chart: String,
    /// Usage against the same month a year before, in percent.
    pub change: Option<i64>,
    pub letterhead: Letterhead,
    /// Show the bill run's payment-method decision (staff only: a customer's
    /// credit grade is the company's assessment, not part of the bill).
    pub show_credit: bool,
}

impl BillSheet {
    /// The bill `id` in the caller's tenant, or None.
    pub async fn load(conn: &mut PgConnection, id: Uuid, p: &Page, show_credit: bool) -> sqlx::Result<Option<Self>> {
        let Some(bill) = bills::get(conn, id).await? else { return Ok(None) };
        let lines = bills::lines(conn, id).await?;
        let history = bills::for_customer(conn, bill.customer_id, 40).await?;
        let letterhead = crate::prints::letterhead(conn).await?;
        // A year of the customer's live bills, oldest first, this one included.
        let mut year: Vec<&BillRow> = history
            .iter()
            .filter(|b| b.status == "issued" || b.id == bill.id)
            .filter(|b| b.period <= bill.period && b.period > months::back(bill.period, 13))
            .collect();
        year.reverse();
        let bars: Vec<chart::Bar> = year
            .iter()
            .map(|b| chart::Bar {
                label: months::label(b.period),
                value: rust_decimal::prelude::ToPrimitive::to_f64(&b.energy_kwh).unwrap_or(0.0),
                caption: format!("{} kWh", p.number(&b.energy_kwh)),
            })
            .collect();
        let history_chart = chart::bar_chart(&p.t("billing.usage_history"), &bars);
        let last_year = months::back(bill.period, 12);
        let change = history
            .iter()
            .find(|b| b.period == last_year && b.status == "issued")
            .and_then(|b| change_percent(bill.energy_kwh, b.energy_kwh));
        let array = |key: &str| bill.detail.get(key).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        let (segments, tiers) = (array("segments"), array("tiers"));
        Ok(Some(Self { bill, lines, segments, tiers, history_chart, change, letterhead, show_credit }))
    }

    /// The bill's amount in Chinese capitals (大写).
    pub fn capitals(&self) -> String {
        crate::prints::capitals(self.bill.amount).unwrap_or_default()
    }

    pub fn period(&self) -> String {
        months::label(self.bill.period)
    }

    pub fn tariff(&self, lang: &str) -> String {
        let name = if lang == "en" { &self.bill.tariff_name_en } else { &self.bill.tariff_name_zh };
        name.clone().unwrap_or_else(|| self.bill.tariff_code.clone())
    }

    /// The payment-method decision the bill run read: "B · post-pay with a deposit …".
    pub fn credit(&self, p: &Page) -> Option<String> {
        if !self.show_credit {
            return None;
        }
        let credit = self.bill.detail.get("credit")?;
        let grade = credit.get("grade")?.as_str()?;
        let method = credit.get("method")?.as_str()?;
        Some(format!("{grade} · {}", p.tc("credit.method_", method)))
    }

    /// A value of the bill's recorded detail as text ("—" for none).
    pub fn text(&self, v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "—".into(),
            other => other.to_string(),
        }
    }
}
