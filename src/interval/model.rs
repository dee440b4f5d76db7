//! One line of an interval-data file: `meter,ts,kw`, and what a line may
//! hold: a time inside the accepted window, a demand in the accepted range.
//! Pure.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
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

/// The largest demand accepted, in kW. Interval data is what a customer draws
/// (no export is recorded); the largest single supply points (a steel works
/// on 220 kV) draw some hundreds of MW, so a million kW is a generous ceiling
/// that still refuses garbage such as 999,999,999.999.
pub const MAX_KW: Decimal = rust_decimal_macros::dec!(1_000_000);

/// The times a load accepts, inclusive. Each month a row falls in gets a
/// partition shared by every tenant, so a time far off (a year 3000 typo, or
/// a hostile file) is refused before anything is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

impl Window {
    /// From `days_back` days before `now` to `days_ahead` days after it.
    pub fn around(now: DateTime<Utc>, days_back: u32, days_ahead: u32) -> Self {
        Self {
            earliest: now - Duration::days(i64::from(days_back)),
            latest: now + Duration::days(i64::from(days_ahead)),
        }
    }

    pub fn contains(&self, ts: DateTime<Utc>) -> bool {
        self.earliest <= ts && ts <= self.latest
    }

    /// The window in the tenant's zone, for a message: "2023-12-03 00:00 – 2026-12-03 00:45".
    pub fn describe(&self, tz: Tz) -> String {
        let at = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        format!("{} – {}", at(self.earliest), at(self.latest))
    }
}

/// Parses a data line. Timestamps are RFC 3339 or local time in the tenant's
/// zone ("2026-11-01 00:15"); they fall on a 15-minute boundary and inside
/// the window. kW is from 0 to [`MAX_KW`] with at most 3 decimals.
pub fn parse_line(line: &str, tz: Tz, window: &Window) -> Result<IntervalRow, (&'static str, Reason)> {
    if line.contains('"') {
        return Err(("", "quoted"));
    }
    let mut fields = line.split(',').map(str::trim);
    let (Some(meter), Some(ts), Some(kw), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return Err(("", "columns"));
    };
    if meter.is_empty() || meter.len() > 32 || crate::web::input::has_control_char(meter, false) {
        return Err(("meter", "meter"));
    }
    let ts = parse_ts(ts, tz).ok_or(("ts", "timestamp"))?;
    if ts.minute() % 15 != 0 || ts.second() != 0 || ts.timestamp_subsec_nanos() != 0 {
        return Err(("ts", "not_on_interval"));
    }
    if !window.contains(ts) {
        return Err(("ts", "outside_window"));
    }
    let kw: Decimal = kw.parse().map_err(|_| ("kw", "kw"))?;
    if kw < Decimal::ZERO || kw.scale() > 3 || kw > MAX_KW {
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

    /// Three years back and a day ahead of 2026-12-02 00:00 UTC, as configured by default.
    fn window() -> Window {
        Window::around(Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap(), 3 * 365, 1)
    }

    fn parse(line: &str) -> Result<IntervalRow, (&'static str, Reason)> {
        parse_line(line, Shanghai, &window())
    }

    #[test]
    fn lines_parse_with_local_or_zoned_times() {
        let a = parse("M0001,2026-11-01 00:15,12.5").unwrap();
        let b = parse("M0001,2026-10-31T16:15:00Z,12.5").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.kw, dec!(12.5));
        assert!(is_header("\u{feff}meter,ts,kw"));
    }

    #[test]
    fn bad_lines_say_which_field_and_why() {
        assert_eq!(parse("M1,2026-11-01 00:15"), Err(("", "columns")));
        assert_eq!(parse("M1,2026-11-01 00:15,1,2"), Err(("", "columns")));
        assert_eq!(parse("M1,yesterday,1"), Err(("ts", "timestamp")));
        assert_eq!(parse("M1,2026-11-01 00:10,1"), Err(("ts", "not_on_interval")));
        assert_eq!(parse("M1,2026-11-01 00:15,-1"), Err(("kw", "kw")));
        assert_eq!(parse("M1,2026-11-01 00:15,1.2345"), Err(("kw", "kw")));
        assert_eq!(parse("\"M1\",2026-11-01 00:15,1"), Err(("", "quoted")));
    }

    #[test]
    fn times_outside_the_window_are_refused() {
        assert_eq!(parse("M1,3005-01-01 00:00,1"), Err(("ts", "outside_window")));
        assert_eq!(parse("M1,2023-12-03 07:45,1"), Err(("ts", "outside_window")), "a quarter before the earliest");
        assert!(parse("M1,2023-12-03 08:00,1").is_ok(), "the earliest exactly (08:00 in Shanghai is 00:00 UTC)");
        assert!(parse("M1,2026-12-03 08:00,1").is_ok(), "a day ahead exactly");
        assert_eq!(parse("M1,2026-12-03 08:15,1"), Err(("ts", "outside_window")));
        assert_eq!(window().describe(Shanghai), "2023-12-03 08:00 – 2026-12-03 08:00");
    }

    #[test]
    fn demand_is_from_zero_to_a_million_kw() {
        assert_eq!(parse("M1,2026-11-01 00:15,0").unwrap().kw, dec!(0));
        assert_eq!(parse("M1,2026-11-01 00:15,1000000").unwrap().kw, dec!(1000000));
        assert_eq!(parse("M1,2026-11-01 00:15,1000000.001"), Err(("kw", "kw")));
        assert_eq!(parse("M1,2026-11-01 00:15,999999999.999"), Err(("kw", "kw")));
        assert_eq!(parse("M1,2026-11-01 00:15,-0.001"), Err(("kw", "kw")));
    }
}
