//! Time-of-use bands (峰平谷): the tenant's peak and valley periods of the
//! day; the rest is flat. Periods may cross midnight ("23:00-07:00").

use chrono::NaiveTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    Peak,
    Flat,
    Valley,
}

impl Band {
    pub const ALL: [Band; 3] = [Band::Peak, Band::Flat, Band::Valley];

    pub fn code(self) -> &'static str {
        match self {
            Band::Peak => "peak",
            Band::Flat => "flat",
            Band::Valley => "valley",
        }
    }
}

/// The defaults of the tenant's settings (a common provincial pattern).
pub const DEFAULT_PEAK: &str = "08:00-11:00,18:00-23:00";
pub const DEFAULT_VALLEY: &str = "23:00-07:00";

#[derive(Clone, Debug, PartialEq)]
pub struct Bands {
    peak: Vec<(NaiveTime, NaiveTime)>,
    valley: Vec<(NaiveTime, NaiveTime)>,
}

impl Default for Bands {
    fn default() -> Self {
        Bands::parse(DEFAULT_PEAK, DEFAULT_VALLEY).expect("the default bands parse")
    }
}

impl Bands {
    /// Parses `HH:MM-HH:MM` periods, comma-separated; `None` when a period
    /// does not parse, is empty, or a peak period overlaps a valley one.
    pub fn parse(peak: &str, valley: &str) -> Option<Bands> {
        let bands = Bands { peak: periods(peak)?, valley: periods(valley)? };
        let overlap = (0..96).any(|q| {
            let t = super::quarter_start(q);
            within(&bands.peak, t) && within(&bands.valley, t)
        });
        (!overlap).then_some(bands)
    }

    pub fn band_at(&self, t: NaiveTime) -> Band {
        if within(&self.peak, t) {
            Band::Peak
        } else if within(&self.valley, t) {
            Band::Valley
        } else {
            Band::Flat
        }
    }

    /// The peak periods as written ("08:00-11:00, 18:00-23:00"), for a page.
    pub fn describe(&self, band: Band) -> String {
        let list = match band {
            Band::Peak => &self.peak,
            Band::Valley => &self.valley,
            Band::Flat => return String::new(),
        };
        list.iter().map(|(a, b)| format!("{}-{}", a.format("%H:%M"), b.format("%H:%M"))).collect::<Vec<_>>().join(", ")
    }
}

fn periods(raw: &str) -> Option<Vec<(NaiveTime, NaiveTime)>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (from, to) = p.split_once('-')?;
            let from = NaiveTime::parse_from_str(from.trim(), "%H:%M").ok()?;
            let to = NaiveTime::parse_from_str(to.trim(), "%H:%M").ok()?;
            (from != to).then_some((from, to))
        })
        .collect()
}

/// Whether `t` falls in a period (start included, end excluded; a period
/// ending before it starts crosses midnight).
fn within(periods: &[(NaiveTime, NaiveTime)], t: NaiveTime) -> bool {
    periods.iter().any(|(from, to)| if from < to { *from <= t && t < *to } else { t >= *from || t < *to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn bands_cross_midnight_and_the_rest_is_flat() {
        let b = Bands::default();
        assert_eq!(b.band_at(t("08:00")), Band::Peak);
        assert_eq!(b.band_at(t("10:45")), Band::Peak);
        assert_eq!(b.band_at(t("11:00")), Band::Flat);
        assert_eq!(b.band_at(t("23:30")), Band::Valley);
        assert_eq!(b.band_at(t("00:00")), Band::Valley);
        assert_eq!(b.band_at(t("07:00")), Band::Flat);
        assert_eq!(b.describe(Band::Peak), "08:00-11:00, 18:00-23:00");
    }

    #[test]
    fn bad_or_overlapping_periods_are_refused() {
        assert_eq!(Bands::parse("08:00-25:00", "23:00-07:00"), None);
        assert_eq!(Bands::parse("08:00-08:00", "23:00-07:00"), None);
        assert_eq!(Bands::parse("06:00-09:00", "23:00-07:00"), None, "06:00-07:00 would be both");
        assert!(Bands::parse("", "23:00-07:00").is_some(), "no peak at all is allowed");
    }
}
