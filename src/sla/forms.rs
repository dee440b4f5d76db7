//! The tenant admin's SLA forms, checked: working periods, weekend days,
//! the near-due share, holidays and make-up days, and time limits. Pure;
//! every problem names its field.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::{
    sla::{
        parse_periods,
        settings::{CalendarDay, CalendarSettings, LimitRow},
    },
    web::{error::FieldErrors, input},
};

pub const DAY_KINDS: [&str; 2] = ["holiday", "working"];

pub fn parse_calendar(
    periods: &str,
    weekend: &[String],
    near_due_percent: &str,
) -> Result<CalendarSettings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let periods = periods.trim();
    if parse_periods(periods).is_none() {
        errors.add("periods", "periods_format");
    }
    let mut days = Vec::new();
    for raw in weekend {
        match raw.trim().parse::<i16>() {
            Ok(d @ 1..=7) if !days.contains(&d) => days.push(d),
            Ok(1..=7) => {}
            _ => errors.add("weekend", "weekday_range"),
        }
    }
    days.sort_unstable();
    let near = near_due_percent.trim().parse::<i16>().ok().filter(|p| (0..=100).contains(p));
    if near.is_none() {
        errors.add("near_due_percent", "percent_range");
    }
    errors.finish(CalendarSettings {
        periods: periods.split(',').map(str::trim).collect::<Vec<_>>().join(","),
        weekend: days,
        near_due_percent: near.unwrap_or(20),
    })
}

pub fn parse_day(day: &str, kind: &str, name: &str) -> Result<CalendarDay, FieldErrors> {
    let mut errors = FieldErrors::default();
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok();
    match date.map(|d| input::date_in_window(d, input::LATEST)) {
        None => errors.add("day", "date_format"),
        Some(Err(code)) => errors.add("day", code),
        Some(Ok(())) => {}
    }
    if !DAY_KINDS.contains(&kind) {
        errors.add("kind", "day_kind");
    }
    let name = input::visible_text(name, 60, "name", false, &mut errors);
    errors.finish(CalendarDay { day: date.unwrap_or_default(), kind: kind.to_owned(), name })
}

/// The units a time limit is entered in: clock hours (round the clock),
/// working hours, or working days (of the tenant's working-day length).
/// Limits are stored in minutes; the form converts.
pub const UNITS: [&str; 3] = ["hours", "working_hours", "working_days"];

/// The longest limit accepted: a year of clock time, in minutes.
const MAX_MINUTES: i64 = 366 * 24 * 60;

/// The form field of a limit's amount; its unit is `unit.` + the same key.
pub fn limit_field(row: &LimitRow) -> String {
    format!("amount.{}.{}.{}", row.item, row.clock, row.variant)
}

pub fn unit_field(row: &LimitRow) -> String {
    format!("unit.{}.{}.{}", row.item, row.clock, row.variant)
}

/// How a stored limit is entered: whole working days where it is a whole
/// number of them, else (working) hours, e.g. 45 minutes = 0.75 hours.
pub fn to_entry(minutes: i32, working_time: bool, day_minutes: i64) -> (String, &'static str) {
    let minutes = i64::from(minutes);
    if working_time && day_minutes > 0 && minutes % day_minutes == 0 {
        return ((minutes / day_minutes).to_string(), "working_days");
    }
    let hours = (rust_decimal::Decimal::from(minutes) / rust_decimal::Decimal::from(60)).round_dp(2).normalize();
    (hours.to_string(), if working_time { "working_hours" } else { "hours" })
}

/// Full-width digits and points (as a Chinese input method types them) as ASCII.
fn half_width(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '．' | '。' => '.',
            '，' => ',',
            other => other,
        })
        .collect()
}

/// Minutes and whether they count working time, from an amount and its
/// unit; None when the amount is not a positive number (to the minute) of
/// at most a year, or the unit is unknown.
pub fn from_entry(amount: &str, unit: &str, day_minutes: i64) -> Option<(i32, bool)> {
    let amount: rust_decimal::Decimal = half_width(amount.trim()).replace(',', ".").parse().ok()?;
    let (per_unit, working_time) = match unit {
        "hours" => (60, false),
        "working_hours" => (60, true),
        "working_days" if day_minutes > 0 => (day_minutes, true),
        _ => return None,
    };
    let minutes = (amount * rust_decimal::Decimal::from(per_unit)).round();
    let minutes: i64 = minutes.try_into().ok()?;
    (minutes > 0 && minutes <= MAX_MINUTES).then_some((minutes as i32, working_time))
}

/// The limits the form changed (only rows that exist: a form cannot invent
/// a clock). A missing amount leaves its row as it was; a missing unit keeps
/// the row's own. `day_minutes` is the length of a working day.
pub fn parse_limits(
    current: &[LimitRow],
    form: &HashMap<String, String>,
    day_minutes: i64,
) -> Result<Vec<LimitRow>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut changed = Vec::new();
    for row in current {
        let field = limit_field(row);
        let Some(raw) = form.get(&field) else { continue };
        let stored_unit = to_entry(row.minutes, row.working_time, day_minutes).1;
        let unit = form.get(&unit_field(row)).map_or(stored_unit, String::as_str);
        let Some((minutes, working_time)) = from_entry(raw, unit, day_minutes) else {
            errors.add(field, "limit_amount");
            continue;
        };
        if minutes != row.minutes || working_time != row.working_time {
            changed.push(LimitRow { minutes, working_time, ..row.clone() });
        }
    }
    errors.finish(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(item: &str, clock: &str, minutes: i32, working_time: bool) -> LimitRow {
        LimitRow { item: item.into(), clock: clock.into(), variant: String::new(), minutes, working_time }
    }

    #[test]
    fn the_calendar_needs_ordered_periods_weekdays_and_a_percentage() {
        let ok = parse_calendar(" 08:30-12:00, 13:30-17:30 ", &["7".into(), "6".into(), "6".into()], "25").unwrap();
        assert_eq!(ok.periods, "08:30-12:00,13:30-17:30");
        assert_eq!(ok.weekend, vec![6, 7]);
        assert_eq!(ok.near_due_percent, 25);
        // A hall open seven days a week has no weekend.
        assert!(parse_calendar("09:00-17:00", &[], "0").unwrap().weekend.is_empty());
        let bad = parse_calendar("13:30-17:30,08:30-12:00", &["8".into()], "101").unwrap_err();
        assert!(bad.has("periods") && bad.has("weekend") && bad.has("near_due_percent"));
    }

    #[test]
    fn a_calendar_day_needs_a_date_and_a_kind() {
        let day = parse_day("2026-10-01", "holiday", " 国庆节 ").unwrap();
        assert_eq!((day.kind.as_str(), day.name.as_str()), ("holiday", "国庆节"));
        let bad = parse_day("2026-02-30", "party", &"x".repeat(61)).unwrap_err();
        assert!(bad.has("day") && bad.has("kind") && bad.has("name"));
        assert!(parse_day("0001-01-01", "holiday", "").unwrap_err().has("day"));
        assert!(parse_day("2026-10-01", "holiday", "\u{200B}").unwrap_err().has("name"));
    }

    #[test]
    fn only_changed_existing_limits_are_saved_and_bad_amounts_are_named() {
        let current = [limit("complaint", "resolve", 2250, true), limit("repair", "arrival", 45, false)];
        let mut form: HashMap<String, String> = HashMap::new();
        form.insert("amount.complaint.resolve.".into(), "4".into());
        form.insert("unit.complaint.resolve.".into(), "working_days".into());
        form.insert("amount.repair.arrival.".into(), "0.75".into());
        form.insert("unit.repair.arrival.".into(), "hours".into());
        form.insert("amount.invented.clock.".into(), "5".into());
        let changed = parse_limits(&current, &form, 450).unwrap();
        assert_eq!(changed, vec![limit("complaint", "resolve", 1800, true)]);

        form.insert("amount.repair.arrival.".into(), "0".into());
        let errors = parse_limits(&current, &form, 450).unwrap_err();
        assert!(errors.has("amount.repair.arrival."));
        form.insert("amount.repair.arrival.".into(), "2".into());
        form.insert("unit.repair.arrival.".into(), "fortnights".into());
        assert!(parse_limits(&current, &form, 450).unwrap_err().has("amount.repair.arrival."));
    }

    #[test]
    fn limits_are_entered_in_hours_or_working_days() {
        // Stored minutes as the form shows them (a working day of 7.5 hours).
        assert_eq!(to_entry(2250, true, 450), ("5".to_owned(), "working_days"));
        assert_eq!(to_entry(45, false, 450), ("0.75".to_owned(), "hours"));
        assert_eq!(to_entry(120, false, 450), ("2".to_owned(), "hours"));
        assert_eq!(to_entry(90, true, 450), ("1.5".to_owned(), "working_hours"));
        // And back.
        assert_eq!(from_entry("5", "working_days", 450), Some((2250, true)));
        assert_eq!(from_entry("0.5", "working_days", 450), Some((225, true)));
        assert_eq!(from_entry("0.75", "hours", 450), Some((45, false)));
        assert_eq!(from_entry("１.５", "working_hours", 450), Some((90, true)));
        assert_eq!(from_entry("2,5", "hours", 450), Some((150, false)));
        for (amount, unit) in [
            ("0", "hours"),
            ("-1", "hours"),
            ("abc", "hours"),
            ("", "hours"),
            ("2000", "working_days"),
            ("0.001", "hours"),
            ("1", "minutes"),
        ] {
            assert_eq!(from_entry(amount, unit, 450), None, "{amount} {unit}");
        }
        // Every stored limit shows as an entry that gives it back.
        for (minutes, working) in [(45, false), (90, false), (450, true), (2250, true), (100, true), (7, false)] {
            let (amount, unit) = to_entry(minutes, working, 450);
            assert_eq!(from_entry(&amount, unit, 450), Some((minutes, working)), "{minutes} {working}");
        }
    }
}
