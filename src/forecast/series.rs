//! Reading a load series from a `timestamp,value` CSV onto a regular grid.
//!
//! The first line's time anchors the grid; every later time must fall on it,
//! strictly after the one before. Short gaps (at most `MAX_FILLED_GAP`) are
//! filled by linear interpolation and counted; a longer gap is refused rather
//! than invented, since a filled day would be scored as if it were measured.

use std::io::Read;

use chrono::{DateTime, Duration, NaiveDateTime};
use csv::{ReaderBuilder, Trim};

/// The longest run of missing readings that is filled in.
pub const MAX_FILLED_GAP: Duration = Duration::hours(2);

#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("interval {0:?}: give minutes or hours that divide a day, like 15m, 30m or 1h")]
    BadInterval(String),
    #[error("the file is empty: a header line timestamp,value is required")]
    Empty,
    #[error("the file has a header but no data lines")]
    NoData,
    #[error("line {line}: {problem}")]
    Line { line: u64, problem: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

fn at_line(line: u64, problem: impl Into<String>) -> SeriesError {
    SeriesError::Line { line, problem: problem.into() }
}

/// The spacing of readings; a whole number of minutes that divides a day, so
/// that daily and weekly cycles are whole numbers of steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    minutes: u32,
}

impl Interval {
    pub fn minutes(self) -> u32 {
        self.minutes
    }

    pub fn duration(self) -> Duration {
        Duration::minutes(i64::from(self.minutes))
    }

    pub fn steps_per_day(self) -> usize {
        (24 * 60 / self.minutes) as usize
    }
}

impl std::str::FromStr for Interval {
    type Err = SeriesError;

    /// `15m`, `30min`, `1h`.
    fn from_str(text: &str) -> Result<Interval, SeriesError> {
        let bad = || SeriesError::BadInterval(text.to_string());
        let text_lower = text.trim().to_ascii_lowercase();
        let (number, per_unit) = if let Some(n) = text_lower.strip_suffix("min") {
            (n, 1)
        } else if let Some(n) = text_lower.strip_suffix('m') {
            (n, 1)
        } else if let Some(n) = text_lower.strip_suffix('h') {
            (n, 60)
        } else {
            return Err(bad());
        };
        let minutes = number.trim().parse::<u32>().map_err(|_| bad())?.checked_mul(per_unit).ok_or_else(bad)?;
        if minutes == 0 || !(24 * 60u32).is_multiple_of(minutes) {
            return Err(bad());
        }
        Ok(Interval { minutes })
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.minutes.is_multiple_of(60) {
            write!(f, "{}h", self.minutes / 60)
        } else {
            write!(f, "{}m", self.minutes)
        }
    }
}

/// Readings every `interval` from `start`, gaps filled.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The first reading's time as written (on its own clock when it had an offset).
    pub start: NaiveDateTime,
    pub interval: Interval,
    pub values: Vec<f64>,
    /// How many readings were filled in by interpolation.
    pub filled: usize,
}

impl Series {
    /// The time of reading `index`, on the first reading's clock.
    pub fn time_of(&self, index: usize) -> NaiveDateTime {
        self.start + self.interval.duration() * index as i32
    }
}

/// A timestamp as written, and the absolute instant it stands for. A time
/// without an offset is taken as it is, on one uniform clock: a local clock
/// with daylight saving repeats or skips an hour, which the grid check reports.
struct Stamp {
    written: NaiveDateTime,
    instant: NaiveDateTime,
    has_offset: bool,
}

fn parse_timestamp(text: &str) -> Option<Stamp> {
    // `Z` is UTC; chrono's `%:z` wants a numeric offset.
    let with_offset = match text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        Some(utc) => format!("{utc}+00:00"),
        None => text.to_string(),
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(time) = DateTime::parse_from_str(&with_offset, format) {
            return Some(Stamp { written: time.naive_local(), instant: time.naive_utc(), has_offset: true });
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Stamp { written: time, instant: time, has_offset: false });
        }
    }
    None
}

/// Reads `timestamp,value` lines (after a header line) at `interval`.
pub fn read_csv(reader: impl Read, interval: Interval) -> Result<Series, SeriesError> {
    let mut csv = ReaderBuilder::new().has_headers(false).trim(Trim::All).flexible(true).from_reader(reader);
    let mut records = csv.records();
    let header = records.next().ok_or(SeriesError::Empty)??;
    if header.get(0).and_then(parse_timestamp).is_some() {
        return Err(at_line(1, "this is data, but the first line must be a header: timestamp,value"));
    }
    let step = interval.duration();
    let mut series: Option<Series> = None;
    // The previous reading's line, instant and value.
    let mut previous: Option<(u64, NaiveDateTime, f64)> = None;
    let mut first_has_offset = false;
    for record in records {
        let record = record?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        if record.len() != 2 {
            return Err(at_line(line, format!("{} cells; expected 2 (timestamp,value)", record.len())));
        }
        let stamp = parse_timestamp(&record[0]).ok_or_else(|| {
            at_line(
                line,
                format!("timestamp {:?} is not like 2024-01-01T00:00:00 (with or without an offset)", &record[0]),
            )
        })?;
        let value: f64 = record[1]
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| at_line(line, format!("value {:?} is not a number", &record[1])))?;
        let Some(series) = series.as_mut() else {
            first_has_offset = stamp.has_offset;
            series = Some(Series { start: stamp.written, interval, values: vec![value], filled: 0 });
            previous = Some((line, stamp.instant, value));
            continue;
        };
        if stamp.has_offset != first_has_offset {
            let (has, lacks) = if first_has_offset { ("lacks", "has") } else { ("has", "lacks") };
            return Err(at_line(
                line,
                format!("timestamp {:?} {has} an offset while the first one {lacks} one", &record[0]),
            ));
        }
        let (previous_line, previous_instant, previous_value) = previous.expect("set with the first reading");
        let since = stamp.instant - previous_instant;
        if since <= Duration::zero() {
            let what = if since == Duration::zero() { "repeats" } else { "is earlier than" };
            return Err(at_line(line, format!("timestamp {:?} {what} the one on line {previous_line}", &record[0])));
        }
        if since.num_seconds() % step.num_seconds() != 0 {
            return Err(at_line(
                line,
                format!("timestamp {:?} is not on the {interval} grid that starts at line 2", &record[0]),
            ));
        }
        let missing = (since.num_seconds() / step.num_seconds() - 1) as usize;
        if missing > 0 {
            let gap = step * missing as i32;
            if gap > MAX_FILLED_GAP {
                return Err(at_line(
                    line,
                    format!(
                        "{missing} readings ({} h {} min) are missing before {:?}, after line {previous_line}; \
                         gaps of up to {} h are filled, longer ones must be filled or cut out first",
                        gap.num_hours(),
                        gap.num_minutes() % 60,
                        &record[0],
                        MAX_FILLED_GAP.num_hours()
                    ),
                ));
            }
            for k in 1..=missing {
                let share = k as f64 / (missing + 1) as f64;
                series.values.push(previous_value + (value - previous_value) * share);
            }
            series.filled += missing;
        }
        series.values.push(value);
        previous = Some((line, stamp.instant, value));
    }
    series.ok_or(SeriesError::NoData)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Series, SeriesError> {
        read_csv(text.as_bytes(), "30m".parse().unwrap())
    }

    fn error_of(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    #[test]
    fn intervals_parse_and_must_divide_a_day() {
        assert_eq!("15m".parse::<Interval>().unwrap().steps_per_day(), 96);
        assert_eq!("30min".parse::<Interval>().unwrap().steps_per_day(), 48);
        assert_eq!("1h".parse::<Interval>().unwrap().steps_per_day(), 24);
        assert_eq!("1h".parse::<Interval>().unwrap().to_string(), "1h");
        for bad in ["7m", "0m", "30", "m", "half an hour", "25h"] {
            assert!(bad.parse::<Interval>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn the_three_timestamp_spellings_are_read_alike() {
        let plain = read("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:30:00,2\n").unwrap();
        let spaced = read("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:30:00,2\n").unwrap();
        let zulu = read("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:30:00Z,2\n").unwrap();
        let offset = read("timestamp,value\n2024-01-01T08:00:00+08:00,1\n2024-01-01T08:30:00+08:00,2\n").unwrap();
        assert_eq!(plain, spaced);
        assert_eq!(plain, zulu);
        assert_eq!(offset.values, vec![1.0, 2.0]);
        // Shown on the file's own clock.
        assert_eq!(offset.time_of(1).to_string(), "2024-01-01 08:30:00");
    }

    #[test]
    fn offsets_are_compared_as_instants() {
        // 08:30+08:00 is 00:30Z: one step after 00:00Z.
        let series = read("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T08:30:00+08:00,2\n").unwrap();
        assert_eq!(series.values, vec![1.0, 2.0]);
    }

    #[test]
    fn short_gaps_are_interpolated_and_counted() {
        let series =
            read("timestamp,value\n2024-01-01 00:00:00,10\n2024-01-01 01:30:00,40\n2024-01-01 02:00:00,7\n").unwrap();
        assert_eq!(series.values, vec![10.0, 20.0, 30.0, 40.0, 7.0]);
        assert_eq!(series.filled, 2);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            (
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-13-01 00:30:00,2\n",
                "line 3: timestamp \"2024-13-01 00:30:00\"",
            ),
            (
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:30:00,lots\n",
                "line 3: value \"lots\" is not a number",
            ),
            ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:30:00,NaN\n", "line 3: value \"NaN\""),
            (
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:40:00,2\n",
                "line 3: timestamp \"2024-01-01 00:40:00\" is not on the 30m grid",
            ),
            (
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:30:00,2\n2024-01-01 00:30:00,3\n",
                "line 4: timestamp \"2024-01-01 00:30:00\" repeats the one on line 3",
            ),
            (
                "timestamp,value\n2024-01-01 01:00:00,1\n2024-01-01 00:30:00,2\n",
                "line 3: timestamp \"2024-01-01 00:30:00\" is earlier than the one on line 2",
            ),
            (
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 03:00:00,2\n",
                "line 3: 5 readings (2 h 30 min) are missing",
            ),
            ("timestamp,value\n2024-01-01 00:00:00,1,9\n", "line 2: 3 cells"),
            (
                "timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:30:00,2\n",
                "line 3: timestamp \"2024-01-01T00:30:00\" lacks an offset",
            ),
            ("2024-01-01 00:00:00,1\n2024-01-01 00:30:00,2\n", "line 1: this is data"),
        ];
        for (text, expected) in cases {
            let message = error_of(text);
            assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
        }
        assert!(matches!(read(""), Err(SeriesError::Empty)));
        assert!(matches!(read("timestamp,value\n"), Err(SeriesError::NoData)));
    }
}
