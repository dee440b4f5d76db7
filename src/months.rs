//! Calendar months as the first day of the month: billing periods, the
//! statistics' months, `<input type="month">` values ("2026-11").

use chrono::{Datelike, Months, NaiveDate};

/// "2026-11" → 2026-11-01.
pub fn parse(raw: &str) -> Option<NaiveDate> {
    let (y, m) = raw.trim().split_once('-')?;
    if y.len() != 4 || m.is_empty() || m.len() > 2 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
    (1990..=2100).contains(&date.year()).then_some(date)
}

/// 2026-11-01 → "2026-11".
pub fn label(month: NaiveDate) -> String {
    format!("{:04}-{:02}", month.year(), month.month())
}

/// The first day of the month `date` falls in.
pub fn start_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The first day of the month after `month`.
pub fn next(month: NaiveDate) -> NaiveDate {
    month.checked_add_months(Months::new(1)).unwrap_or(month)
}

/// `n` months back from `month` (its first day).
pub fn back(month: NaiveDate, n: u32) -> NaiveDate {
    start_of(month).checked_sub_months(Months::new(n)).unwrap_or(month)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn months_parse_as_year_and_month() {
        assert_eq!(parse("2026-11"), Some(d(2026, 11, 1)));
        assert_eq!(parse(" 2026-1 "), Some(d(2026, 1, 1)));
        assert_eq!(parse("2026-13"), None);
        assert_eq!(parse("26-11"), None);
        assert_eq!(parse("2026/11"), None);
        assert_eq!(label(d(2026, 3, 1)), "2026-03");
    }

    #[test]
    fn months_step_across_years() {
        assert_eq!(next(d(2026, 12, 1)), d(2027, 1, 1));
        assert_eq!(back(d(2026, 2, 17), 11), d(2025, 3, 1));
        assert_eq!(start_of(d(2026, 2, 28)), d(2026, 2, 1));
    }
}
