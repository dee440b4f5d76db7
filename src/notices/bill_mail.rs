//! The personalised bill as a readable HTML mail: the amount and the due
//! date first, then the bill's lines as a table, in the customer's language.
//! Inline styles only (mail clients drop style sheets).

use askama::Template;
use serde_json::Value;

use crate::web::i18n::{I18n, Locale};

/// One line of the bill's table.
struct Item {
    label: String,
    quantity: String,
    unit_price: String,
    amount: String,
}

#[derive(Template)]
#[template(path = "notices/bill_mail.html")]
struct Mail {
    lang: &'static str,
    i: I18n,
    customer_name: String,
    account_no: String,
    tenant_name: String,
    bill_no: String,
    period: String,
    amount: String,
    due_date: String,
    energy_kwh: String,
    items: Vec<Item>,
}

impl Mail {
    fn t(&self, key: &str) -> String {
        self.i.t(&format!("notice_prefs.mail_{key}"))
    }
    fn money(&self, amount: &str) -> String {
        self.i.t_with("notice_prefs.mail_money", &[("amount", amount)])
    }
}

fn text(data: &Value, field: &str) -> String {
    match data.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The HTML part of a personalised bill's mail (`None` for other kinds,
/// which go as plain text).
pub fn html(kind: super::Kind, data: &Value, lang: &str) -> Option<String> {
    if kind != super::Kind::PersonalBill {
        return None;
    }
    let locale = Locale::parse(lang).unwrap_or_default();
    let items = data
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|it| Item {
                    label: text(it, "label"),
                    quantity: text(it, "quantity"),
                    unit_price: text(it, "unit_price"),
                    amount: text(it, "amount"),
                })
                .collect()
        })
        .unwrap_or_default();
    let mail = Mail {
        lang: locale.code(),
        i: I18n(locale),
        customer_name: text(data, "customer_name"),
        account_no: text(data, "account_no"),
        tenant_name: text(data, "tenant_name"),
        bill_no: text(data, "bill_no"),
        period: text(data, "period"),
        amount: text(data, "amount"),
        due_date: text(data, "due_date"),
        energy_kwh: text(data, "energy_kwh"),
        items,
    };
    match mail.render() {
        Ok(html) => Some(html),
        Err(err) => {
            tracing::error!(error = %err, "the personalised bill's mail failed to render");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::notices::Kind;

    #[test]
    fn the_mail_shows_amount_due_date_and_every_line_escaped() {
        let data = json!({
            "customer_name": "王<建国>", "account_no": "1100000001", "tenant_name": "甲市供电公司",
            "bill_no": "B1", "period": "2026-11", "amount": "128.50", "due_date": "2026-12-20", "energy_kwh": "230",
            "items": [{"label": "Energy", "quantity": "230", "unit_price": "0.538", "amount": "123.74"},
                      {"label": "Tier 2 surcharge", "quantity": "30", "unit_price": "0.05", "amount": "1.50"}],
        });
        let en = html(Kind::PersonalBill, &data, "en").unwrap();
        for part in ["128.50", "2026-12-20", "Tier 2 surcharge", "123.74", "0.538", "&#60;建国&#62;", "lang=\"en\""] {
            assert!(en.contains(part), "{part} in {en}");
        }
        assert!(!en.contains("<link") && !en.contains("<script"));
        let zh = html(Kind::PersonalBill, &data, "zh-CN").unwrap();
        assert!(zh.contains("缴费截止") && zh.contains("lang=\"zh-CN\""), "{zh}");
        assert_eq!(html(Kind::BillIssued, &data, "en"), None);
        // A summary has no table.
        let summary = html(Kind::PersonalBill, &json!({"amount": "1.00", "items": []}), "en").unwrap();
        assert!(!summary.contains("<table role=\"presentation\" class=\"lines\""));
    }
}
