//! Appointments at the business halls (营业厅预约): each hall's opening
//! hours cut into slots, each slot taking as many customers as the hall has
//! counters for it. Customers book in the portal up to [`DAYS_AHEAD`] days
//! ahead, on the company's working days (its service calendar: weekends,
//! holidays and make-up days), until [`LEAD_MINUTES`] before the slot; the
//! hall's staff see the day's list and mark who came; a reminder goes out
//! the day before.
//!
//! This file holds the rules and form checks (pure, unit tested); `db` the
//! SQL and the booking, `pages` the staff's pages. The portal's pages are in
//! `portal::appointments`.

pub mod db;
pub mod pages;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use serde::Deserialize;
use uuid::Uuid;

use crate::{sla::WorkingCalendar, web::error::FieldErrors};

/// What a customer comes for.
pub const PURPOSES: [&str; 6] = ["payment", "new_connection", "capacity_change", "transfer", "complaint", "other"];
/// How far ahead a slot may be booked, in days (today included).
pub const DAYS_AHEAD: i64 = 14;
/// Booking closes this long before the slot starts.
pub const LEAD_MINUTES: i64 = 30;
/// Appointments one account may hold at once (today and later).
pub const OPEN_PER_ACCOUNT: i64 = 3;

/// The slots of a day: starts from `opens`, every `minutes`, each ending by `closes`.
pub fn slots(opens: NaiveTime, closes: NaiveTime, minutes: i32) -> Vec<NaiveTime> {
    let step = Duration::minutes(i64::from(minutes.max(1)));
    let mut out = Vec::new();
    let mut start = opens;
    while start < closes && closes - start >= step {
        out.push(start);
        let (next, wrapped) = start.overflowing_add_signed(step);
        if wrapped != 0 {
            break;
        }
        start = next;
    }
    out
}

/// The days a customer may book from `today`: the company's working days
/// among the next [`DAYS_AHEAD`].
pub fn bookable_days(today: NaiveDate, calendar: &WorkingCalendar) -> Vec<NaiveDate> {
    (0..DAYS_AHEAD).map(|n| today + Duration::days(n)).filter(|d| calendar.is_working_day(*d)).collect()
}

/// Whether a slot may still be booked at `now` (the company's local time).
pub fn still_open(day: NaiveDate, starts: NaiveTime, now: NaiveDateTime) -> bool {
    day.and_time(starts) - Duration::minutes(LEAD_MINUTES) >= now
}

/// A hall as the admin types it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HallForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub opens: String,
    #[serde(default)]
    pub closes: String,
    #[serde(default)]
    pub slot_minutes: String,
    #[serde(default)]
    pub capacity: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub active: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewHall {
    pub code: String,
    pub name: String,
    pub address: String,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    pub slot_minutes: i32,
    pub capacity: i32,
    pub active: bool,
}

fn time(raw: &str, field: &'static str, errors: &mut FieldErrors) -> NaiveTime {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").unwrap_or_else(|_| {
        errors.add(field, "time_format");
        NaiveTime::MIN
    })
}

fn number(
    raw: &str,
    field: &'static str,
    range: std::ops::RangeInclusive<i32>,
    code: &'static str,
    errors: &mut FieldErrors,
) -> i32 {
    match raw.trim().parse::<i32>() {
        Ok(n) if range.contains(&n) => n,
        _ => {
            errors.add(field, code);
            *range.start()
        }
    }
}

/// Checks a hall: a code, a name, opening before closing, 10–240 minute
/// slots that fit the day at least once, 1–50 customers a slot.
pub fn check_hall(form: &HallForm) -> Result<NewHall, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = form.code.trim().to_owned();
    if !crate::points::is_item_code(&code) {
        errors.add("code", if code.is_empty() { "required" } else { "points_item_code" });
    }
    let name = crate::web::input::visible_text(&form.name, 100, "name", true, &mut errors);
    let address = crate::web::input::visible_text(&form.address, 300, "address", false, &mut errors);
    let opens = time(&form.opens, "opens", &mut errors);
    let closes = time(&form.closes, "closes", &mut errors);
    let slot_minutes = number(&form.slot_minutes, "slot_minutes", 10..=240, "slot_minutes_range", &mut errors);
    let capacity = number(&form.capacity, "capacity", 1..=50, "hall_capacity_range", &mut errors);
    if !errors.has("opens") && !errors.has("closes") {
        if opens >= closes {
            errors.add("closes", "closes_before_opening");
        } else if !errors.has("slot_minutes") && slots(opens, closes, slot_minutes).is_empty() {
            errors.add("slot_minutes", "slot_longer_than_day");
        }
    }
    errors.finish(NewHall { code, name, address, opens, closes, slot_minutes, capacity, active: form.active.is_some() })
}

/// A booking as the portal's form sends it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct BookingForm {
    #[serde(default)]
    pub hall: String,
    #[serde(default)]
    pub day: String,
    #[serde(default)]
    pub starts: String,
    #[serde(default)]
    pub account_no: String,
    #[serde(default)]
    pub purpose: String,
}

/// A booking whose fields parse: (hall, day, start, purpose).
pub fn check_booking(form: &BookingForm) -> Result<(Uuid, NaiveDate, NaiveTime, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let hall = Uuid::parse_str(form.hall.trim()).unwrap_or_else(|_| {
        errors.add("hall", "required");
        Uuid::nil()
    });
    let day = NaiveDate::parse_from_str(form.day.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
        errors.add("day", "required");
        NaiveDate::MIN
    });
    let starts = NaiveTime::parse_from_str(form.starts.trim(), "%H:%M").unwrap_or_else(|_| {
        errors.add("starts", "required");
        NaiveTime::MIN
    });
    let purpose = form.purpose.trim();
    if !PURPOSES.contains(&purpose) {
        errors.add("purpose", if purpose.is_empty() { "required" } else { "unknown_code" });
    }
    errors.finish((hall, day, starts, purpose.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn a_day_is_cut_into_whole_slots() {
        assert_eq!(slots(t("08:30"), t("10:00"), 30), [t("08:30"), t("09:00"), t("09:30")]);
        assert_eq!(slots(t("08:30"), t("09:50"), 30), [t("08:30"), t("09:00")], "the last part-slot is not offered");
        assert!(slots(t("08:00"), t("08:20"), 30).is_empty());
        assert_eq!(slots(t("23:00"), t("23:59"), 30), [t("23:00")], "no wrap past midnight");
    }

    #[test]
    fn bookable_days_are_working_days_within_two_weeks_and_slots_close_before_they_start() {
        let calendar = WorkingCalendar::office(chrono_tz::Asia::Shanghai);
        let friday = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let days = bookable_days(friday, &calendar);
        assert_eq!(days.first(), Some(&friday));
        assert!(!days.contains(&NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()), "Saturday");
        assert_eq!(days.len(), 10, "two working weeks");
        let now = friday.and_time(t("09:00"));
        assert!(still_open(friday, t("09:30"), now));
        assert!(!still_open(friday, t("09:29"), now), "30 minutes before");
        assert!(!still_open(friday, t("08:30"), now));
    }

    #[test]
    fn a_hall_and_a_booking_name_what_is_wrong() {
        let ok = HallForm {
            code: "WL".into(),
            name: "西湖营业厅".into(),
            opens: "08:30".into(),
            closes: "17:00".into(),
            slot_minutes: "30".into(),
            capacity: "3".into(),
            active: Some("on".into()),
            ..HallForm::default()
        };
        let hall = check_hall(&ok).unwrap();
        assert_eq!((hall.capacity, hall.active), (3, true));
        let bad = HallForm { closes: "08:00".into(), capacity: "0".into(), code: "".into(), ..ok.clone() };
        let e = check_hall(&bad).unwrap_err();
        assert!(e.has("closes") && e.has("capacity") && e.has("code"));
        let e = check_hall(&HallForm { slot_minutes: "240".into(), closes: "09:00".into(), ..ok }).unwrap_err();
        assert!(e.has("slot_minutes"));
        let e = check_booking(&BookingForm { purpose: "party".into(), ..BookingForm::default() }).unwrap_err();
        assert!(e.has("hall") && e.has("day") && e.has("starts") && e.has("purpose"));
    }
}
