//! Payments as typed or notified, checked field by field, and the ageing
//! buckets of the arrears list. Pure.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

pub const CHANNELS: [&str; 6] = ["counter_cash", "counter_card", "bank", "wechat", "alipay", "agent"];
/// The channels a clerk takes at the counter.
pub const COUNTER_CHANNELS: [&str; 2] = ["counter_cash", "counter_card"];

/// A payment notification from a channel, or a counter payment.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PaymentDraft {
    /// The customer's account number.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[0-9]{6,16}$", example = "0100000001")]
    pub account_no: String,
    /// Yuan, as a plain decimal string (no exponent or grouping) with at most
    /// two decimals: "120.50"; more than 0, under a billion.
    #[serde(default)]
    #[schema(
        required = true,
        pattern = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,8}(\.[0-9]{1,2})?)$",
        example = "120.50"
    )]
    pub amount: String,
    /// counter_cash, counter_card, bank, wechat, alipay or agent.
    #[serde(default)]
    #[schema(required = true, schema_with = crate::payments::api::channel_schema)]
    pub channel: String,
    /// The channel's own reference; the same reference books once.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 64, example = "wx4200001234")]
    pub channel_ref: String,
    /// When the channel received the money (RFC 3339); default: now. Not
    /// before 2000-01-01, at most five minutes ahead of the server's clock.
    #[serde(default)]
    #[schema(schema_with = crate::payments::api::received_at_schema)]
    pub received_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidPayment {
    pub account_no: String,
    pub amount: Decimal,
    pub channel: String,
    pub channel_ref: String,
    pub received_at: DateTime<Utc>,
}

/// Money: a plain decimal (no exponent, grouping or currency sign), more
/// than zero, at most two decimals, under a billion yuan.
pub fn parse_amount(raw: &str) -> Option<Decimal> {
    input::positive_money(raw).filter(|value| *value < Decimal::from(1_000_000_000))
}

pub fn validate(d: &PaymentDraft, now: DateTime<Utc>) -> Result<ValidPayment, FieldErrors> {
    let mut errors = FieldErrors::default();
    if d.account_no.trim().is_empty() {
        errors.add("account_no", "required");
    }
    let amount = parse_amount(&d.amount);
    if amount.is_none() {
        errors.add("amount", "amount_format");
    }
    if !CHANNELS.contains(&d.channel.as_str()) {
        errors.add("channel", "unknown_code");
    }
    let reference = d.channel_ref.trim();
    if reference.is_empty() {
        errors.add("channel_ref", "required");
    } else if reference.chars().count() > 64 {
        errors.add("channel_ref", "too_long");
    }
    let received_at = match d.received_at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(now),
        Some(raw) => match DateTime::parse_from_rfc3339(raw).map(|at| at.to_utc()) {
            Ok(at) => match input::received_in_window(at, now) {
                Ok(()) => Some(at),
                Err(code) => {
                    errors.add("received_at", code);
                    None
                }
            },
            Err(_) => {
                errors.add("received_at", "datetime_format");
                None
            }
        },
    };
    errors.finish(ValidPayment {
        account_no: d.account_no.trim().to_owned(),
        amount: amount.unwrap_or_default(),
        channel: d.channel.clone(),
        channel_ref: reference.to_owned(),
        received_at: received_at.unwrap_or(now),
    })
}

/// A debt the allocation may settle: a bill's own amount or its late fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebtId {
    pub bill_id: Uuid,
    pub late_fee: bool,
}

/// Ageing buckets of an overdue amount by days past due: 1–30, 31–90, 91–180, over 180.
pub const AGE_BUCKETS: [&str; 4] = ["d1_30", "d31_90", "d91_180", "over_180"];

pub fn age_bucket(due: NaiveDate, today: NaiveDate) -> Option<usize> {
    match (today - due).num_days() {
        ..=0 => None,
        1..=30 => Some(0),
        31..=90 => Some(1),
        91..=180 => Some(2),
        _ => Some(3),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T10:00:00+08:00").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn amounts_are_positive_money() {
        assert_eq!(parse_amount("1234.50"), Some(dec!(1234.50)));
        assert_eq!(parse_amount("¥1,234.50"), None);
        assert_eq!(parse_amount("1e3"), None);
        assert_eq!(parse_amount("1,0,0"), None);
        assert_eq!(parse_amount("1000000000"), None);
        assert_eq!(parse_amount("0"), None);
        assert_eq!(parse_amount("-5"), None);
        assert_eq!(parse_amount("1.005"), None);
        assert_eq!(parse_amount("abc"), None);
    }

    #[test]
    fn a_notification_names_each_bad_field() {
        let bad = PaymentDraft {
            account_no: "".into(),
            amount: "1.234".into(),
            channel: "paypal".into(),
            channel_ref: "".into(),
            received_at: Some("yesterday".into()),
        };
        let errors = validate(&bad, now()).unwrap_err();
        for f in ["account_no", "amount", "channel", "channel_ref", "received_at"] {
            assert!(errors.has(f), "{f}");
        }
        let ancient = PaymentDraft { received_at: Some("1900-01-01T00:00:00+08:00".into()), ..good() };
        assert_eq!(validate(&ancient, now()).unwrap_err().iter().next().unwrap().code, "time_too_early");
        let later = PaymentDraft { received_at: Some("2026-11-28T10:00:00+08:00".into()), ..good() };
        assert!(validate(&later, now()).unwrap_err().has("received_at"));
        assert_eq!(validate(&good(), now()).unwrap().received_at, now());
    }

    fn good() -> PaymentDraft {
        PaymentDraft {
            account_no: "0100000001".into(),
            amount: "80.70".into(),
            channel: "wechat".into(),
            channel_ref: "WX4200001".into(),
            received_at: None,
        }
    }

    #[test]
    fn ageing_buckets_count_days_past_due() {
        let due = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap();
        let on = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(age_bucket(due, on(6, 15)), None);
        assert_eq!(age_bucket(due, on(6, 16)), Some(0));
        assert_eq!(age_bucket(due, on(7, 15)), Some(0));
        assert_eq!(age_bucket(due, on(7, 16)), Some(1));
        assert_eq!(age_bucket(due, on(9, 13)), Some(1));
        assert_eq!(age_bucket(due, on(9, 14)), Some(2));
        assert_eq!(age_bucket(due, on(12, 13)), Some(3));
    }
}
