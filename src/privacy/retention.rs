//! Data retention: how long a company keeps interval data and audit entries,
//! and which of the monthly interval partitions (shared by every company) no
//! company keeps any more. Pure rules; `gridcrm retention run` applies them.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

/// Years of interval data kept when a company set none.
pub const DEFAULT_INTERVAL_YEARS: i32 = 3;
/// Years of audit log kept when a company set none.
pub const DEFAULT_AUDIT_YEARS: i32 = 10;
/// The most years a company may keep interval data.
pub const MAX_INTERVAL_YEARS: i32 = 30;
/// The most years a company may keep its audit log.
pub const MAX_AUDIT_YEARS: i32 = 50;

/// The first instant of interval data kept: the start of the UTC month
/// `years` before `now`'s month, so whole months go and partitions line up.
pub fn interval_cutoff(now: DateTime<Utc>, years: i32) -> DateTime<Utc> {
    let month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("the first of a month exists");
    let first = month.checked_sub_months(Months::new(u32::try_from(years.max(0)).unwrap_or(0) * 12)).unwrap_or(month);
    Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The first instant of audit log kept: `years` before `now`.
pub fn audit_cutoff(now: DateTime<Utc>, years: i32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(u32::try_from(years.max(0)).unwrap_or(0) * 12)).unwrap_or(now)
}

/// The month a partition holds, from the name the partition function gives
/// it (`interval_data_YYYYMM`); `None` for any other name.
pub fn partition_month(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("interval_data_")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(digits[..4].parse().ok()?, digits[4..].parse().ok()?, 1)
}

/// The partitions every company is done with: those whose whole month lies
/// before the earliest cutoff (the company keeping the longest). Nothing
/// when there is no company. Oldest first.
pub fn droppable<'a>(partitions: &'a [String], cutoffs: &[DateTime<Utc>]) -> Vec<&'a str> {
    let Some(earliest) = cutoffs.iter().min() else {
        return Vec::new();
    };
    let mut done: Vec<(NaiveDate, &str)> = partitions
        .iter()
        .filter_map(|name| partition_month(name).map(|month| (month, name.as_str())))
        .filter(|(month, _)| {
            let end = month.checked_add_months(Months::new(1)).expect("a month follows");
            Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0).expect("midnight exists")) <= *earliest
        })
        .collect();
    done.sort();
    done.into_iter().map(|(_, name)| name).collect()
}

/// Whole years as typed on the settings form, from 1 to `max`.
pub fn parse_years(typed: &str, max: i32) -> Option<i32> {
    typed.trim().parse::<i32>().ok().filter(|y| (1..=max).contains(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap()
    }

    #[test]
    fn interval_data_is_kept_in_whole_months() {
        assert_eq!(interval_cutoff(at(2026, 12, 3), 3), Utc.with_ymd_and_hms(2023, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(interval_cutoff(at(2024, 2, 29), 1), Utc.with_ymd_and_hms(2023, 2, 1, 0, 0, 0).unwrap());
        assert_eq!(audit_cutoff(at(2026, 12, 3), 10), at(2016, 12, 3));
    }

    #[test]
    fn a_partition_goes_only_when_every_company_is_done_with_it() {
        let names: Vec<String> =
            ["interval_data_202311", "interval_data_202312", "interval_data_202201", "interval_data_x", "other_202001"]
                .map(String::from)
                .to_vec();
        let now = at(2026, 12, 3);
        // One company keeps one year, another three: the three years decide.
        let cutoffs = [interval_cutoff(now, 1), interval_cutoff(now, 3)];
        assert_eq!(droppable(&names, &cutoffs), vec!["interval_data_202201", "interval_data_202311"]);
        assert!(droppable(&names, &[]).is_empty());
        assert_eq!(partition_month("interval_data_202313"), None);
    }

    #[test]
    fn years_are_whole_and_bounded() {
        assert_eq!(parse_years(" 5 ", MAX_INTERVAL_YEARS), Some(5));
        assert_eq!(parse_years("0", MAX_INTERVAL_YEARS), None);
        assert_eq!(parse_years("31", MAX_INTERVAL_YEARS), None);
        assert_eq!(parse_years("31", MAX_AUDIT_YEARS), Some(31));
        assert_eq!(parse_years("2.5", MAX_AUDIT_YEARS), None);
    }
}
