//! One line of an interval-data file: `meter,ts,kw`. Pure.

use chrono::{DateTime, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

#[derive(Clone, Debug, PartialEq)]
pub struct IntervalRow {
    pub meter: String,
    pub ts: DateTime<Utc>,
    pub kw: Decimal,
}

/// Why a line was refused (a translation key under `interval_error.`).
pub type Reason = &'static str;

/// Parses a data line. Timestamps are RFC 3339 or local time in the tenant's
/// zone ("2026-11-01 00:15"); they fall on a 15-minute boundary.
pub fn parse_line(line: &str, tz: Tz) -> Result<IntervalRow, (&'static str, Reason)> {
    if line.contains('"') {
        return Err(("", "quoted"));
    }
    let mut fields = line.split(',').map(str::trim);
    let (Some(meter), Some(ts), Some(kw), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return Err(("", "columns"));
    };
    if meter.is_empty() || meter.len() > 32 {
        return Err(("meter", "meter"));
    }
    let ts = parse_ts(ts, tz).ok_or(("ts", "timestamp"))?;
    if ts.minute() % 15 != 0 || ts.second() != 0 || ts.timestamp_subsec_nanos() != 0 {
        return Err(("ts", "not_on_interval"));
    }
    let kw: Decimal = kw.parse().map_err(|_| ("kw", "kw"))?;
    if kw < Decimal::ZERO || kw.scale() > 3 || kw >= Decimal::from(1_000_000_000) {
        return Err(("kw", "kw"));
    }
    Ok(IntervalRow { meter: meter.to_owned(), ts, kw })
}

fn parse_ts(raw: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

/// Whether a line is the header (`meter,ts,kw`).
pub fn is_header(line: &str) -> bool {
    line.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case("meter,ts,kw")
}

#[cfg(test)]
mod tests {
    use chrono_tz::Asia::Shanghai;
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn lines_parse_with_local_or_zoned_times() {
        let a = parse_line("M0001,2026-11-01 00:15,12.5", Shanghai).unwrap();
        let b = parse_line("M0001,2026-10-31T16:15:00Z,12.5", Shanghai).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.kw, dec!(12.5));
        assert!(is_header("\u{feff}meter,ts,kw"));
    }

    #[test]
    fn bad_lines_say_which_field_and_why() {
        assert_eq!(parse_line("M1,2026-11-01 00:15", Shanghai), Err(("", "columns")));
        assert_eq!(parse_line("M1,2026-11-01 00:15,1,2", Shanghai), Err(("", "columns")));
        assert_eq!(parse_line("M1,yesterday,1", Shanghai), Err(("ts", "timestamp")));
        assert_eq!(parse_line("M1,2026-11-01 00:10,1", Shanghai), Err(("ts", "not_on_interval")));
        assert_eq!(parse_line("M1,2026-11-01 00:15,-1", Shanghai), Err(("kw", "kw")));
        assert_eq!(parse_line("M1,2026-11-01 00:15,1.2345", Shanghai), Err(("kw", "kw")));
        assert_eq!(parse_line("\"M1\",2026-11-01 00:15,1", Shanghai), Err(("", "quoted")));
    }
}
