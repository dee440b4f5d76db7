//! Payments as typed or notified, checked field by field, and the ageing
//! buckets of the arrears list. Pure.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

pub const CHANNELS: [&str; 9] = [
    "counter_cash",
    "counter_card",
    "counter_wechat",
    "counter_alipay",
    "bank",
    "wechat",
    "alipay",
    "agent",
    // Paid online in the customer portal, through its payment gateway.
    "portal",
];
/// The channels a clerk takes at the counter: cash, card, and the customer's
/// WeChat or Alipay payment code scanned by the clerk.
pub const COUNTER_CHANNELS: [&str; 4] = ["counter_cash", "counter_card", "counter_wechat", "counter_alipay"];
/// Counter channels whose money arrives through a scanned QR code: the clerk
/// types the channel's transaction reference, which books once.
pub const QR_CHANNELS: [&str; 2] = ["counter_wechat", "counter_alipay"];

/// The most one payment may be: under a billion yuan.
pub const AMOUNT_LIMIT: Decimal = rust_decimal_macros::dec!(1000000000);

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
    /// counter_cash, counter_card, counter_wechat, counter_alipay (a QR code
    /// scanned at the counter), bank, wechat, alipay, agent or portal (the
    /// customer portal's payment gateway).
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
    /// true: the part of the amount beyond what the customer owes (on the
    /// oldest debts, or on `bills` where given) goes to prepaid credit.
    /// Without it an amount larger than what is owed is refused (422,
    /// `amount`: `overpayment_unconfirmed`), so a mistyped amount never turns
    /// into credit silently.
    #[serde(default)]
    pub allow_credit: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidPayment {
    pub account_no: String,
    pub amount: Decimal,
    pub channel: String,
    pub channel_ref: String,
    pub received_at: DateTime<Utc>,
    pub allow_credit: bool,
}

/// Money: a plain decimal (no exponent, grouping or currency sign), more
/// than zero, at most two decimals, under a billion yuan. The error is the
/// message code: `amount_format`, or `amount_over_limit` for a well-formed
/// amount of a billion or more.
pub fn parse_amount(raw: &str) -> Result<Decimal, &'static str> {
    let value = input::positive_money(raw).ok_or_else(|| {
        // A long but well-formed amount is named as over the limit, not as malformed.
        let digits = raw.trim().split('.').next().unwrap_or("");
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.trim_start_matches('0').len() > 9
        {
            "amount_over_limit"
        } else {
            "amount_format"
        }
    })?;
    if value >= AMOUNT_LIMIT { Err("amount_over_limit") } else { Ok(value) }
}

/// An amount as a clerk types it, made plain for [`parse_amount`]: full-width
/// digits and punctuation (１２３．４５, ，), a leading `¥` or `￥`, a trailing
/// `元`, spaces, and thousands commas where they group by three
/// (`1,234.50`; `1,0,0` stays as typed and is refused).
pub fn normalize_amount(raw: &str) -> String {
    let half: String = raw
        .chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            '．' | '。' => Some('.'),
            '，' => Some(','),
            c if c.is_whitespace() => None,
            c => Some(c),
        })
        .collect();
    let bare = half.strip_prefix(['¥', '￥']).unwrap_or(&half);
    let bare = bare.strip_suffix('元').unwrap_or(bare);
    let (whole, fraction) = match bare.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (bare, None),
    };
    if whole.contains(',') {
        let groups: Vec<&str> = whole.split(',').collect();
        let grouped = (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|g| g.len() == 3)
            && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
        if !grouped {
            return bare.to_owned();
        }
        let joined = groups.concat();
        return match fraction {
            Some(f) => format!("{joined}.{f}"),
            None => joined,
        };
    }
    bare.to_owned()
}

/// Cash handed over at the counter: at least the amount; the change is the rest.
pub fn change_for(amount: Decimal, received: Decimal) -> Result<Decimal, &'static str> {
    if received < amount { Err("cash_short") } else { Ok(received - amount) }
}

pub fn validate(d: &PaymentDraft, now: DateTime<Utc>) -> Result<ValidPayment, FieldErrors> {
    let mut errors = FieldErrors::default();
    if d.account_no.trim().is_empty() {
        errors.add("account_no", "required");
    }
    let amount = match parse_amount(&d.amount) {
        Ok(amount) => Some(amount),
        Err(code) => {
            errors.add("amount", code);
            None
        }
    };
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
        allow_credit: d.allow_credit.unwrap_or(false),
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
        assert_eq!(parse_amount("1234.50"), Ok(dec!(1234.50)));
        assert_eq!(parse_amount("999999999.99"), Ok(dec!(999999999.99)));
        assert_eq!(parse_amount("¥1,234.50"), Err("amount_format"));
        assert_eq!(parse_amount("1e3"), Err("amount_format"));
        assert_eq!(parse_amount("1,0,0"), Err("amount_format"));
        assert_eq!(parse_amount("1000000000"), Err("amount_over_limit"));
        assert_eq!(parse_amount("12345678901234.00"), Err("amount_over_limit"));
        assert_eq!(parse_amount("0"), Err("amount_format"));
        assert_eq!(parse_amount("-5"), Err("amount_format"));
        assert_eq!(parse_amount("1.005"), Err("amount_format"));
        assert_eq!(parse_amount("abc"), Err("amount_format"));
    }

    #[test]
    fn the_counter_reads_amounts_as_clerks_type_them() {
        let read = |raw: &str| parse_amount(&normalize_amount(raw));
        assert_eq!(read("１２３．４５"), Ok(dec!(123.45)));
        assert_eq!(read("￥１，２３４．５０"), Ok(dec!(1234.50)));
        assert_eq!(read("¥1,234.50"), Ok(dec!(1234.50)));
        assert_eq!(read(" 1 234 "), Ok(dec!(1234)));
        assert_eq!(read("12,345,678.9"), Ok(dec!(12345678.9)));
        assert_eq!(read("80元"), Ok(dec!(80)));
        assert_eq!(read("1,0,0"), Err("amount_format"));
        assert_eq!(read("12,34"), Err("amount_format"));
        assert_eq!(read("¥-5"), Err("amount_format"));
        assert_eq!(read("1,000,000,000"), Err("amount_over_limit"));
    }

    #[test]
    fn change_is_what_was_handed_over_beyond_the_amount() {
        assert_eq!(change_for(dec!(135.50), dec!(200)), Ok(dec!(64.50)));
        assert_eq!(change_for(dec!(135.50), dec!(135.50)), Ok(dec!(0)));
        assert_eq!(change_for(dec!(135.50), dec!(100)), Err("cash_short"));
    }

    #[test]
    fn a_notification_names_each_bad_field() {
        let bad = PaymentDraft {
            account_no: "".into(),
            amount: "1.234".into(),
            channel: "paypal".into(),
            channel_ref: "".into(),
            received_at: Some("yesterday".into()),
            allow_credit: None,
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
            allow_credit: None,
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
