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

/// The form field of a limit's minutes; its working-time box is `working.` + the same key.
pub fn limit_field(row: &LimitRow) -> String {
    format!("minutes.{}.{}.{}", row.item, row.clock, row.variant)
}

pub fn working_field(row: &LimitRow) -> String {
    format!("working.{}.{}.{}", row.item, row.clock, row.variant)
}

/// The limits the form changed (only rows that exist: a form cannot invent
/// a clock). A missing minutes field leaves its row as it was.
pub fn parse_limits(current: &[LimitRow], form: &HashMap<String, String>) -> Result<Vec<LimitRow>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut changed = Vec::new();
    for row in current {
        let field = limit_field(row);
        let Some(raw) = form.get(&field) else { continue };
        let Some(minutes) = raw.trim().parse::<i32>().ok().filter(|m| *m > 0) else {
            errors.add(field, "minutes_range");
            continue;
        };
        let working_time = form.contains_key(&working_field(row));
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
    fn only_changed_existing_limits_are_saved_and_bad_minutes_are_named() {
        let current = [limit("complaint", "resolve", 2250, true), limit("repair", "arrival", 45, false)];
        let mut form: HashMap<String, String> = HashMap::new();
        form.insert("minutes.complaint.resolve.".into(), "1800".into());
        form.insert("working.complaint.resolve.".into(), "on".into());
        form.insert("minutes.repair.arrival.".into(), "45".into());
        form.insert("minutes.invented.clock.".into(), "5".into());
        let changed = parse_limits(&current, &form).unwrap();
        assert_eq!(changed, vec![limit("complaint", "resolve", 1800, true)]);

        form.insert("minutes.repair.arrival.".into(), "0".into());
        let errors = parse_limits(&current, &form).unwrap_err();
        assert!(errors.has("minutes.repair.arrival."));
    }
}
