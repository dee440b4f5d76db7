//! Demand response (需求响应): the company asks customers to cut load in a
//! window of one day, records who accepts, and afterwards pays each
//! participant for the reduction their interval data verifies.
//!
//! The path of an event:
//! - **draft**: recorded (day, window, requested kW, reward per kWh);
//!   customers are invited by a list of account numbers, a reading route or
//!   a segment (its stored membership). Only active customers are invited,
//!   each once.
//! - **invited**: the invitations go out: every invited customer gets a
//!   `demand_response_request` event on their timeline (the notices' outbox
//!   carries it to the customer by the company's rule). Customers invited
//!   later are told at once. Acceptances and refusals are recorded (page or
//!   API; account managers for their own customers); a later answer
//!   replaces the earlier one.
//! - **closed**: no more answers.
//! - **settled**: once the event day is over, each participant (an accepted
//!   answer) is settled by [`baseline`] from `load_days`; a verified reward
//!   becomes a credit on the customer's next bill (`billing::credits`) and a
//!   `demand_response_result` event. Settling again settles only those the
//!   data did not cover before, and never credits twice (the credit is keyed
//!   by event and customer).
//!
//! This file: the vocabulary, the form and API checks and the state rules
//! (pure); `db` the SQL and the steps, `pages` and `api` the handlers.

pub mod api;
pub mod baseline;
pub mod db;
pub mod pages;

use chrono::{Duration, NaiveDate, NaiveTime, Timelike};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::web::{error::FieldErrors, input};

pub const STATUSES: [&str; 4] = ["draft", "invited", "closed", "settled"];
pub const VIA: [&str; 3] = ["list", "route", "segment"];
pub const DECISIONS: [&str; 2] = ["accepted", "declined"];
pub const CHANNELS: [&str; 2] = ["page", "api"];
pub const RESULT_STATUSES: [&str; 3] = ["verified", "no_baseline", "missing_data"];

pub const MAX_TITLE_CHARS: usize = 200;
/// An event may be recorded this many days after its day (an event called
/// by telephone and written down later) ...
pub const PAST_DAYS: i64 = 60;
/// ... and at most this far ahead.
pub const AHEAD_DAYS: i64 = 366;
/// The most account numbers one list invites.
pub const MAX_ACCOUNTS: usize = 2_000;

/// The page's form, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EventForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub day: String,
    #[serde(default)]
    pub window_start: String,
    #[serde(default)]
    pub window_end: String,
    #[serde(default)]
    pub requested_kw: String,
    #[serde(default)]
    pub price_per_kwh: String,
}

/// A checked event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidEvent {
    pub title: String,
    pub day: NaiveDate,
    pub window_start: NaiveTime,
    pub window_end: NaiveTime,
    pub requested_kw: Decimal,
    pub price_per_kwh: Decimal,
}

/// A time of day on a whole half hour, `HH:MM`.
fn half_hour(raw: &str) -> Result<NaiveTime, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("required");
    }
    let t = NaiveTime::parse_from_str(raw, "%H:%M").map_err(|_| "dr_time_format")?;
    if t.minute() % 30 != 0 {
        return Err("dr_half_hour");
    }
    Ok(t)
}

/// Checks an event's fields as typed (the page and the API share this).
pub fn check(form: &EventForm, today: NaiveDate) -> Result<ValidEvent, FieldErrors> {
    let mut errors = FieldErrors::default();
    let title = input::visible_text(&form.title, MAX_TITLE_CHARS, "title", true, &mut errors);
    let day = match input::date_field(&form.day, today + Duration::days(AHEAD_DAYS)) {
        Ok(d) if d < today - Duration::days(PAST_DAYS) => {
            errors.add("day", "dr_day_too_early");
            None
        }
        Ok(d) => Some(d),
        Err(code) => {
            errors.add("day", code);
            None
        }
    };
    let mut time = |raw: &str, field: &'static str| match half_hour(raw) {
        Ok(t) => Some(t),
        Err(code) => {
            errors.add(field, code);
            None
        }
    };
    let start = time(&form.window_start, "window_start");
    let end = time(&form.window_end, "window_end");
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errors.add("window_end", "dr_window_order");
    }
    let requested = match input::plain_decimal(&form.requested_kw, 9, 2) {
        _ if form.requested_kw.trim().is_empty() => {
            errors.add("requested_kw", "required");
            None
        }
        Some(v) if v > Decimal::ZERO => Some(v),
        _ => {
            errors.add("requested_kw", "dr_kw");
            None
        }
    };
    let price = match input::plain_decimal(&form.price_per_kwh, 5, 4) {
        _ if form.price_per_kwh.trim().is_empty() => {
            errors.add("price_per_kwh", "required");
            None
        }
        Some(v) if v >= Decimal::ZERO => Some(v),
        _ => {
            errors.add("price_per_kwh", "dr_price");
            None
        }
    };
    match (day, start, end, requested, price) {
        (Some(day), Some(window_start), Some(window_end), Some(requested_kw), Some(price_per_kwh))
            if errors.is_empty() =>
        {
            Ok(ValidEvent { title, day, window_start, window_end, requested_kw, price_per_kwh })
        }
        _ => Err(errors),
    }
}

/// A committed reduction as typed: kW, more than 0, two decimals.
pub fn committed_kw(raw: &str, errors: &mut FieldErrors, field: &'static str) -> Option<Decimal> {
    if raw.trim().is_empty() {
        errors.add(field, "dr_committed_required");
        return None;
    }
    match input::plain_decimal(raw, 9, 2) {
        Some(v) if v > Decimal::ZERO => Some(v),
        _ => {
            errors.add(field, "dr_kw");
            None
        }
    }
}

/// An answer as the page and API give it: the decision and, for an
/// acceptance, the committed kW (none for a refusal).
pub fn check_response(decision: &str, committed: &str) -> Result<(&'static str, Option<Decimal>), FieldErrors> {
    let mut errors = FieldErrors::default();
    let out = match decision.trim() {
        "accepted" => committed_kw(committed, &mut errors, "committed_kw").map(|kw| ("accepted", Some(kw))),
        "declined" => Some(("declined", None)),
        "" => {
            errors.add("decision", "required");
            None
        }
        _ => {
            errors.add("decision", "dr_decision");
            None
        }
    };
    match out {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors),
    }
}

/// Account numbers typed one per line (or by commas or spaces): trimmed,
/// blanks and repeats dropped.
pub fn account_list(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in raw.split(|c: char| c == ',' || c == '，' || c.is_whitespace()) {
        if !a.is_empty() && !out.iter().any(|o| o == a) {
            out.push(a.to_owned());
        }
    }
    out
}

/// What may be done to an event in a status.
pub fn can_invite(status: &str) -> bool {
    matches!(status, "draft" | "invited")
}
pub fn can_send(status: &str) -> bool {
    status == "draft"
}
pub fn can_respond(status: &str) -> bool {
    status == "invited"
}
pub fn can_close(status: &str) -> bool {
    status == "invited"
}
/// Settling needs the event closed (or settled, to settle what was left)
/// and its day over in the tenant's zone.
pub fn can_settle(status: &str, day: NaiveDate, today: NaiveDate) -> Result<(), &'static str> {
    if !matches!(status, "closed" | "settled") {
        Err("dr_not_closed")
    } else if day >= today {
        Err("dr_day_not_over")
    } else {
        Ok(())
    }
}

/// The bill credit's key: one per event and customer, ever.
pub fn credit_ref(event: uuid::Uuid, customer: uuid::Uuid) -> String {
    format!("dr:{event}:{customer}")
}

/// The window as people read it: `14:00–16:00`.
pub fn window_text(start: NaiveTime, end: NaiveTime) -> String {
    format!("{}–{}", start.format("%H:%M"), end.format("%H:%M"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn today() -> NaiveDate {
        "2026-12-01".parse().unwrap()
    }
    fn form() -> EventForm {
        EventForm {
            title: "迎峰度冬削峰".into(),
            day: "2026-12-10".into(),
            window_start: "14:00".into(),
            window_end: "16:30".into(),
            requested_kw: "500".into(),
            price_per_kwh: "3.5".into(),
        }
    }
    fn codes(e: &FieldErrors) -> Vec<(String, &'static str)> {
        e.iter().map(|e| (e.field.clone(), e.code)).collect()
    }

    #[test]
    fn a_good_event_is_read() {
        let v = check(&form(), today()).unwrap();
        assert_eq!(v.window_start, NaiveTime::from_hms_opt(14, 0, 0).unwrap());
        assert_eq!(v.window_end, NaiveTime::from_hms_opt(16, 30, 0).unwrap());
        assert_eq!((v.requested_kw, v.price_per_kwh), (dec!(500), dec!(3.5)));
        assert_eq!(window_text(v.window_start, v.window_end), "14:00–16:30");
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = EventForm {
            title: " ".into(),
            day: "2026-13-01".into(),
            window_start: "14:15".into(),
            window_end: "2pm".into(),
            requested_kw: "0".into(),
            price_per_kwh: "-1".into(),
        };
        assert_eq!(
            codes(&check(&bad, today()).unwrap_err()),
            [
                ("title".to_owned(), "required"),
                ("day".to_owned(), "date_format"),
                ("window_start".to_owned(), "dr_half_hour"),
                ("window_end".to_owned(), "dr_time_format"),
                ("requested_kw".to_owned(), "dr_kw"),
                ("price_per_kwh".to_owned(), "dr_price"),
            ]
        );
        let mut f = form();
        f.window_end = "14:00".into();
        f.day = "2026-09-01".into();
        assert_eq!(
            codes(&check(&f, today()).unwrap_err()),
            [("day".to_owned(), "dr_day_too_early"), ("window_end".to_owned(), "dr_window_order")]
        );
    }

    #[test]
    fn answers_need_a_commitment_to_accept() {
        assert_eq!(check_response("accepted", "120.5").unwrap(), ("accepted", Some(dec!(120.5))));
        assert_eq!(check_response("declined", "").unwrap(), ("declined", None));
        assert_eq!(
            codes(&check_response("accepted", "").unwrap_err()),
            [("committed_kw".to_owned(), "dr_committed_required")]
        );
        assert_eq!(codes(&check_response("maybe", "").unwrap_err()), [("decision".to_owned(), "dr_decision")]);
    }

    #[test]
    fn lists_drop_blanks_and_repeats() {
        assert_eq!(account_list("1100000001\n 1100000002, 1100000001，\n\n"), ["1100000001", "1100000002"]);
    }

    #[test]
    fn the_status_decides_what_may_be_done() {
        assert!(can_invite("draft") && can_invite("invited") && !can_invite("closed"));
        assert!(can_send("draft") && !can_send("invited"));
        assert!(can_respond("invited") && !can_respond("draft") && !can_respond("closed"));
        let day: NaiveDate = "2026-11-30".parse().unwrap();
        assert_eq!(can_settle("invited", day, today()), Err("dr_not_closed"));
        assert_eq!(can_settle("closed", today(), today()), Err("dr_day_not_over"));
        assert_eq!(can_settle("closed", day, today()), Ok(()));
        assert_eq!(can_settle("settled", day, today()), Ok(()));
    }
}
