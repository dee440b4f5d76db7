//! Demo interval data: a day of 15-minute demand (kW) for a large customer's
//! meter, shaped by its industry, the day of the week and the tenant's
//! holidays, with a temperature-like drift over the seasons, noise, and for
//! a few meters a sudden lasting change of level (a defect, a new line, a
//! bypass) that nothing records, for change detection to find.
//!
//! Pure and deterministic: a day's values follow from the meter's seed and
//! the date alone, not from the days generated before, so meters and days
//! can be generated in any order and again with the same result.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::sla::WorkingCalendar;

/// Readings a day at 15 minutes.
pub const SLOTS: usize = 96;

/// How a line of business draws power over the day and the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Chemical works, cement kilns: round the clock, every day, nearly flat.
    Continuous,
    /// Steel (electric furnaces): round the clock, heaviest in the night
    /// valley and lightest in the peak bands, spiky.
    Furnace,
    /// Electronics (clean rooms): three shifts, a little higher by day,
    /// somewhat lower at weekends.
    ThreeShift,
    /// Food, mining: two shifts (08–24) with a lunch dip, low at night and at weekends.
    TwoShift,
    /// Offices, software companies, property management, government:
    /// business hours, low nights, lower Saturday, low Sunday.
    Office,
    /// Shops and supermarkets: open 9–22, busier at weekends.
    Retail,
    /// Restaurants: a lunch and a dinner peak.
    Restaurant,
    /// Hotels: a high base, morning and evening peaks, every day.
    Hotel,
    /// Hospitals: a high base round the clock, a daytime peak on working days.
    Hospital,
    /// Water works: pumps round the clock, more in the night valley.
    WaterWorks,
    /// Schools: school hours on working days, little else.
    School,
    /// Building sites: 7–18 with a lunch break, Saturdays too, nothing at night.
    Construction,
}

impl Profile {
    /// The profile of an industry code of the demo's reference list.
    pub fn of_industry(code: &str) -> Self {
        match code {
            "C26" | "C30" => Self::Continuous,
            "C31" => Self::Furnace,
            "C39" => Self::ThreeShift,
            "C13" | "B06" => Self::TwoShift,
            "F52" => Self::Retail,
            "H62" => Self::Restaurant,
            "H61" => Self::Hotel,
            "Q84" => Self::Hospital,
            "D46" => Self::WaterWorks,
            "P83" => Self::School,
            "E47" => Self::Construction,
            // I65 software, K70 property, S92 government, anything else.
            _ => Self::Office,
        }
    }

    /// Hourly anchors (demand relative to the working day's peak, at the
    /// start of each local hour) for a kind of day; the slots in between
    /// are interpolated.
    fn anchors(self, kind: DayKind) -> [f64; 24] {
        use DayKind::*;
        match (self, kind) {
            (Self::Continuous, Holiday) => scaled(CONTINUOUS, 0.96),
            (Self::Continuous, _) => CONTINUOUS,
            (Self::Furnace, _) => FURNACE,
            (Self::ThreeShift, Working) => THREE_SHIFT,
            (Self::ThreeShift, Saturday | Sunday) => scaled(THREE_SHIFT, 0.85),
            (Self::ThreeShift, Holiday) => scaled(THREE_SHIFT, 0.7),
            (Self::TwoShift, Working) => TWO_SHIFT,
            (Self::TwoShift, Saturday) => TWO_SHIFT_SATURDAY,
            (Self::TwoShift, Sunday) => [0.2; 24],
            (Self::TwoShift, Holiday) => [0.16; 24],
            (Self::Office, Working) => OFFICE,
            (Self::Office, Saturday) => OFFICE_SATURDAY,
            (Self::Office, Sunday | Holiday) => OFFICE_SUNDAY,
            (Self::Retail, Working) => RETAIL,
            (Self::Retail, Saturday | Sunday) => scaled(RETAIL, 1.12),
            (Self::Retail, Holiday) => scaled(RETAIL, 1.18),
            (Self::Restaurant, Working) => RESTAURANT,
            (Self::Restaurant, _) => scaled(RESTAURANT, 1.1),
            (Self::Hotel, Working) => HOTEL,
            (Self::Hotel, Saturday | Sunday) => scaled(HOTEL, 1.05),
            (Self::Hotel, Holiday) => scaled(HOTEL, 1.12),
            (Self::Hospital, Working) => HOSPITAL,
            (Self::Hospital, _) => HOSPITAL_REST,
            (Self::WaterWorks, _) => WATER_WORKS,
            (Self::School, Working) => SCHOOL,
            (Self::School, _) => [0.15; 24],
            (Self::Construction, Working) => CONSTRUCTION,
            (Self::Construction, Saturday) => scaled(CONSTRUCTION, 0.9),
            (Self::Construction, Sunday) => CONSTRUCTION_SUNDAY,
            (Self::Construction, Holiday) => [0.08; 24],
        }
    }

    /// Share of demand added per 10 °C of cooling (above 22 °C) or heating
    /// (below 14 °C, at half the rate): air conditioning, mostly while the
    /// place is busy.
    fn weather_sensitivity(self) -> f64 {
        match self {
            Self::Continuous | Self::Furnace | Self::Construction => 0.03,
            Self::WaterWorks => 0.05,
            Self::TwoShift => 0.08,
            Self::ThreeShift => 0.1,
            Self::Restaurant => 0.25,
            Self::Hospital | Self::School => 0.3,
            Self::Retail | Self::Hotel => 0.35,
            Self::Office => 0.45,
        }
    }

    /// Noise: (day-to-day, slot-to-slot) standard deviations, relative.
    fn noise(self) -> (f64, f64) {
        match self {
            Self::Continuous | Self::WaterWorks => (0.015, 0.02),
            Self::ThreeShift | Self::Hospital | Self::Hotel => (0.03, 0.03),
            Self::Furnace => (0.04, 0.08),
            Self::Construction => (0.08, 0.06),
            _ => (0.04, 0.04),
        }
    }
}

const fn scaled(a: [f64; 24], k: f64) -> [f64; 24] {
    let mut out = a;
    let mut i = 0;
    while i < 24 {
        out[i] = a[i] * k;
        i += 1;
    }
    out
}

#[rustfmt::skip]
const CONTINUOUS: [f64; 24] = [
    0.93, 0.93, 0.92, 0.92, 0.92, 0.93, 0.94, 0.95, 0.97, 0.98, 0.98, 0.98,
    0.97, 0.98, 0.98, 0.98, 0.97, 0.96, 0.96, 0.95, 0.95, 0.94, 0.94, 0.93,
];
// Heaviest 23–07 (the valley), lightest in the peak bands 08–11 and 18–21.
#[rustfmt::skip]
const FURNACE: [f64; 24] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.8, 0.6, 0.58, 0.6, 0.75,
    0.8, 0.8, 0.8, 0.8, 0.78, 0.7, 0.6, 0.58, 0.6, 0.75, 0.9, 1.0,
];
#[rustfmt::skip]
const THREE_SHIFT: [f64; 24] = [
    0.82, 0.81, 0.8, 0.8, 0.8, 0.81, 0.83, 0.88, 0.96, 1.0, 1.0, 0.98,
    0.94, 0.98, 1.0, 1.0, 0.98, 0.92, 0.88, 0.86, 0.85, 0.84, 0.83, 0.82,
];
#[rustfmt::skip]
const TWO_SHIFT: [f64; 24] = [
    0.22, 0.2, 0.2, 0.2, 0.2, 0.22, 0.3, 0.55, 0.95, 1.0, 1.0, 0.95,
    0.62, 0.92, 1.0, 1.0, 0.9, 0.88, 0.75, 0.88, 0.9, 0.88, 0.7, 0.35,
];
#[rustfmt::skip]
const TWO_SHIFT_SATURDAY: [f64; 24] = [
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.22, 0.3, 0.48, 0.5, 0.5, 0.48,
    0.35, 0.45, 0.48, 0.48, 0.4, 0.3, 0.25, 0.22, 0.22, 0.21, 0.2, 0.2,
];
#[rustfmt::skip]
const OFFICE: [f64; 24] = [
    0.26, 0.25, 0.25, 0.25, 0.25, 0.26, 0.28, 0.38, 0.72, 0.96, 1.0, 0.98,
    0.84, 0.9, 0.98, 1.0, 0.97, 0.88, 0.66, 0.5, 0.42, 0.36, 0.31, 0.28,
];
#[rustfmt::skip]
const OFFICE_SATURDAY: [f64; 24] = [
    0.26, 0.25, 0.25, 0.25, 0.25, 0.26, 0.27, 0.3, 0.38, 0.45, 0.47, 0.46,
    0.42, 0.42, 0.44, 0.44, 0.4, 0.35, 0.31, 0.29, 0.28, 0.27, 0.26, 0.26,
];
#[rustfmt::skip]
const OFFICE_SUNDAY: [f64; 24] = [
    0.25, 0.25, 0.24, 0.24, 0.24, 0.24, 0.25, 0.26, 0.28, 0.3, 0.31, 0.31,
    0.3, 0.3, 0.3, 0.3, 0.29, 0.28, 0.27, 0.26, 0.26, 0.25, 0.25, 0.25,
];
#[rustfmt::skip]
const RETAIL: [f64; 24] = [
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.22, 0.3, 0.45, 0.75, 0.88, 0.9,
    0.9, 0.88, 0.88, 0.88, 0.9, 0.94, 1.0, 1.0, 0.98, 0.85, 0.45, 0.25,
];
#[rustfmt::skip]
const RESTAURANT: [f64; 24] = [
    0.16, 0.15, 0.15, 0.15, 0.15, 0.15, 0.18, 0.25, 0.28, 0.35, 0.55, 0.95,
    0.95, 0.7, 0.42, 0.4, 0.55, 0.92, 1.0, 1.0, 0.82, 0.55, 0.3, 0.2,
];
#[rustfmt::skip]
const HOTEL: [f64; 24] = [
    0.55, 0.52, 0.5, 0.5, 0.5, 0.52, 0.62, 0.8, 0.82, 0.72, 0.68, 0.68,
    0.7, 0.68, 0.66, 0.66, 0.7, 0.8, 0.92, 1.0, 1.0, 0.95, 0.82, 0.65,
];
#[rustfmt::skip]
const HOSPITAL: [f64; 24] = [
    0.56, 0.55, 0.55, 0.55, 0.55, 0.56, 0.6, 0.72, 0.92, 1.0, 1.0, 0.98,
    0.9, 0.92, 0.96, 0.96, 0.92, 0.82, 0.78, 0.76, 0.72, 0.66, 0.6, 0.57,
];
#[rustfmt::skip]
const HOSPITAL_REST: [f64; 24] = [
    0.55, 0.54, 0.54, 0.54, 0.54, 0.55, 0.58, 0.64, 0.72, 0.76, 0.76, 0.75,
    0.72, 0.72, 0.73, 0.73, 0.72, 0.7, 0.7, 0.7, 0.67, 0.63, 0.59, 0.56,
];
#[rustfmt::skip]
const WATER_WORKS: [f64; 24] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.92, 0.88, 0.8, 0.76, 0.75, 0.75,
    0.76, 0.75, 0.75, 0.76, 0.8, 0.84, 0.86, 0.86, 0.88, 0.92, 0.96, 1.0,
];
#[rustfmt::skip]
const SCHOOL: [f64; 24] = [
    0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.2, 0.5, 0.95, 1.0, 1.0, 0.92,
    0.78, 0.9, 1.0, 1.0, 0.9, 0.6, 0.45, 0.45, 0.42, 0.3, 0.18, 0.15,
];
#[rustfmt::skip]
const CONSTRUCTION: [f64; 24] = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.62, 1.0, 1.0, 1.0, 0.95,
    0.45, 0.9, 1.0, 1.0, 1.0, 0.85, 0.35, 0.12, 0.1, 0.1, 0.1, 0.1,
];
#[rustfmt::skip]
const CONSTRUCTION_SUNDAY: [f64; 24] = [
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.12, 0.3, 0.48, 0.5, 0.5, 0.46,
    0.25, 0.45, 0.5, 0.5, 0.46, 0.38, 0.18, 0.1, 0.1, 0.1, 0.1, 0.1,
];

/// What kind of day a date is for the load: a working day (including a
/// make-up working day on a weekend), the first weekend day, the other
/// weekend days, or a public holiday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayKind {
    Working,
    Saturday,
    Sunday,
    Holiday,
}

impl DayKind {
    /// The kind of `day` in the tenant's calendar (weekends from its
    /// service calendar, holidays and make-up days from its calendar days).
    pub fn of(calendar: &WorkingCalendar, day: NaiveDate) -> Self {
        if calendar.is_working_day(day) {
            Self::Working
        } else if calendar.holidays.contains(&day) {
            Self::Holiday
        } else if calendar.weekend.first() == Some(&day.weekday()) {
            Self::Saturday
        } else {
            Self::Sunday
        }
    }
}

/// A sudden lasting change of a meter's level: from `slot` of `from` on,
/// demand is `factor` times what it would have been.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelShift {
    pub from: NaiveDate,
    pub slot: usize,
    pub factor: f64,
}

impl LevelShift {
    /// The change as a signed share, e.g. -0.35.
    pub fn change(&self) -> f64 {
        self.factor - 1.0
    }
}

/// One meter's demand, as the generator needs it.
#[derive(Clone, Debug)]
pub struct MeterLoad {
    pub profile: Profile,
    /// Mean demand over a typical week, in kW.
    pub level_kw: f64,
    /// The meter's own noise.
    pub seed: u64,
    pub shift: Option<LevelShift>,
}

/// The typical level of a supply point of `capacity_kva`: the demo readings
/// bill it `capacity × (110 + h mod 220)` kWh a month (seed/billing.rs, `h`
/// a hash of the meter id, 0–1023), so the mean demand is that over the
/// hours of a month: 15 % to 45 % of the capacity.
pub fn level_kw(capacity_kva: f64, h: i64) -> f64 {
    capacity_kva * (110 + h.rem_euclid(220)) as f64 / 730.0
}

/// A stable 64-bit mix (splitmix64), for per-day and per-meter seeds.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn day_number(day: NaiveDate) -> u64 {
    day.num_days_from_ce() as u64
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.r#gen();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The day's mean temperature (°C) of a subtropical city like Hangzhou:
/// a yearly cycle (about 5 °C in January, 29 °C in July) and weather that
/// wanders a few degrees from day to day, the same for every meter of a
/// tenant (`seed`).
pub fn temperature(seed: u64, day: NaiveDate) -> f64 {
    let doy = day.ordinal0() as f64;
    let season = 17.0 - 12.0 * (std::f64::consts::TAU * (doy - 15.0) / 365.25).cos();
    let wobble = |n: u64| normal(&mut StdRng::seed_from_u64(mix(seed, n)));
    let n = day_number(day);
    // Neighbouring days share their weather (a three-day moving average).
    season + 2.5 * (0.25 * wobble(n - 1) + 0.5 * wobble(n) + 0.25 * wobble(n + 1)) / 0.61
}

/// Degrees of cooling (weighted 1) and heating (weighted ½) a day needs.
fn degree_need(t: f64) -> f64 {
    (t - 22.0).max(0.0) + 0.5 * (14.0 - t).max(0.0)
}

fn interpolate(anchors: &[f64; 24], slot: usize) -> f64 {
    let hour = slot / 4;
    let frac = (slot % 4) as f64 / 4.0;
    let (a, b) = (anchors[hour], anchors[(hour + 1) % 24]);
    a + (b - a) * frac
}

/// The mean of a profile's week (five working days, a Saturday, a Sunday)
/// before weather and noise: the level divides by it.
fn week_mean(profile: Profile) -> f64 {
    let day = |kind| (0..SLOTS).map(|s| interpolate(&profile.anchors(kind), s)).sum::<f64>() / SLOTS as f64;
    (5.0 * day(DayKind::Working) + day(DayKind::Saturday) + day(DayKind::Sunday)) / 7.0
}

/// The meter's demand on `day` (a `kind` of day), 96 values in kW, rounded
/// to watts. `weather` seeds the tenant's temperature.
pub fn day_kw(meter: &MeterLoad, day: NaiveDate, kind: DayKind, weather: u64) -> [f64; SLOTS] {
    let profile = meter.profile;
    let anchors = profile.anchors(kind);
    let peak = anchors.iter().copied().fold(f64::MIN, f64::max);
    let scale = meter.level_kw / week_mean(profile);
    let cooling = profile.weather_sensitivity() * degree_need(temperature(weather, day)) / 10.0;
    let (day_sd, slot_sd) = profile.noise();
    let mut rng = StdRng::seed_from_u64(mix(meter.seed, day_number(day)));
    let day_factor = (1.0 + day_sd * normal(&mut rng)).max(0.5);
    // Slot noise is AR(1), as real demand wanders rather than jumps.
    const PHI: f64 = 0.7;
    let innovation = slot_sd * (1.0 - PHI * PHI).sqrt();
    let mut wander = slot_sd * normal(&mut rng);
    let mut out = [0.0; SLOTS];
    for (slot, value) in out.iter_mut().enumerate() {
        let base = interpolate(&anchors, slot);
        // Air conditioning follows how busy the place is.
        let weather = 1.0 + cooling * base / peak;
        let mut kw = scale * base * weather * day_factor * (1.0 + wander);
        if let Some(shift) = &meter.shift
            && (day > shift.from || (day == shift.from && slot >= shift.slot))
        {
            kw *= shift.factor;
        }
        *value = (kw.max(0.0) * 1000.0).round() / 1000.0;
        wander = PHI * wander + innovation * normal(&mut rng);
    }
    out
}

/// The injected changes of a tenant: 2 to 4 of the `candidates` meters
/// (indexes into the caller's list), each with a lasting shift starting 20 to
/// 40 days before `today`, alternately down (a defect, a bypass: −25 % to
/// −45 %) and up (a new line: +30 % to +50 %). No more than half of the
/// candidates are changed.
pub fn pick_shifts(candidates: usize, seed: u64, today: NaiveDate) -> Vec<(usize, LevelShift)> {
    let mut rng = StdRng::seed_from_u64(mix(seed, 0x0053_4849_4654));
    let wanted = rng.gen_range(2..=4usize).min(candidates / 2);
    let mut picked: Vec<usize> = Vec::with_capacity(wanted);
    while picked.len() < wanted {
        let i = rng.gen_range(0..candidates);
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked
        .into_iter()
        .enumerate()
        .map(|(n, i)| {
            let factor = if n % 2 == 0 { 1.0 - rng.gen_range(0.25..0.45) } else { 1.0 + rng.gen_range(0.3..0.5) };
            let shift = LevelShift {
                from: today - chrono::Duration::days(rng.gen_range(20..=40)),
                slot: rng.gen_range(32..72),
                factor: (factor * 100.0f64).round() / 100.0,
            };
            (i, shift)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn meter(profile: Profile, seed: u64) -> MeterLoad {
        MeterLoad { profile, level_kw: 500.0, seed, shift: None }
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    /// Mean kW over the slots from `from` to `to` (hours, local).
    fn hours(v: &[f64; SLOTS], from: usize, to: usize) -> f64 {
        mean(&v[from * 4..to * 4])
    }

    // 2026-10-14 is a Wednesday, 10-17 a Saturday, 10-18 a Sunday.
    const WED: (i32, u32, u32) = (2026, 10, 14);

    fn calendar() -> WorkingCalendar {
        let mut c = WorkingCalendar::office(chrono_tz::Asia::Shanghai);
        c.holidays.extend((1..=7).map(|d| date(2026, 10, d)));
        c.make_up_days.insert(date(2026, 10, 10));
        c
    }

    #[test]
    fn day_kinds_follow_the_tenant_calendar() {
        let c = calendar();
        assert_eq!(DayKind::of(&c, date(2026, 10, 14)), DayKind::Working);
        assert_eq!(DayKind::of(&c, date(2026, 10, 17)), DayKind::Saturday);
        assert_eq!(DayKind::of(&c, date(2026, 10, 18)), DayKind::Sunday);
        assert_eq!(DayKind::of(&c, date(2026, 10, 1)), DayKind::Holiday);
        assert_eq!(DayKind::of(&c, date(2026, 10, 10)), DayKind::Working, "a make-up Saturday is worked");
        // A tenant whose weekend is Friday and Saturday.
        let mut other = WorkingCalendar::office(chrono_tz::Asia::Shanghai);
        other.weekend = vec![Weekday::Fri, Weekday::Sat];
        assert_eq!(DayKind::of(&other, date(2026, 10, 16)), DayKind::Saturday);
        assert_eq!(DayKind::of(&other, date(2026, 10, 17)), DayKind::Sunday);
        assert_eq!(DayKind::of(&other, date(2026, 10, 18)), DayKind::Working);
    }

    #[test]
    fn manufacturing_works_by_day_and_on_weekdays() {
        let m = meter(Profile::TwoShift, 7);
        let (y, mo, d) = WED;
        let wed = day_kw(&m, date(y, mo, d), DayKind::Working, 1);
        let sun = day_kw(&m, date(2026, 10, 18), DayKind::Sunday, 1);
        assert!(hours(&wed, 1, 5) < 0.4 * hours(&wed, 9, 11), "night below day");
        assert!(mean(&sun) < 0.5 * mean(&wed), "Sunday below Wednesday");
        assert!(hours(&wed, 12, 13) < 0.8 * hours(&wed, 10, 11), "a lunch dip");
    }

    #[test]
    fn offices_keep_business_hours() {
        let m = meter(Profile::Office, 3);
        let (y, mo, d) = WED;
        let wed = day_kw(&m, date(y, mo, d), DayKind::Working, 1);
        let sat = day_kw(&m, date(2026, 10, 17), DayKind::Saturday, 1);
        let sun = day_kw(&m, date(2026, 10, 18), DayKind::Sunday, 1);
        assert!(hours(&wed, 0, 6) < 0.4 * hours(&wed, 9, 12), "low nights");
        assert!(mean(&sun) < mean(&sat) && mean(&sat) < mean(&wed), "Sunday < Saturday < Wednesday");
    }

    #[test]
    fn a_continuous_process_is_flat_every_day() {
        let m = meter(Profile::Continuous, 11);
        let mut means = Vec::new();
        for offset in 0..14 {
            let day = date(2026, 10, 8) + chrono::Duration::days(offset);
            let kind = DayKind::of(&calendar(), day);
            let v = day_kw(&m, day, kind, 1);
            let avg = mean(&v);
            assert!(v.iter().all(|x| (x / avg - 1.0).abs() < 0.15), "within ±15 % of the day's mean on {day}");
            means.push(avg);
        }
        let (lo, hi) = means.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        assert!(hi / lo < 1.15, "days alike, weekends too: {lo}..{hi}");
    }

    #[test]
    fn holidays_are_lower_where_work_stops() {
        let (y, mo, d) = WED;
        for profile in [Profile::TwoShift, Profile::Office, Profile::ThreeShift, Profile::School, Profile::Construction]
        {
            let m = meter(profile, 5);
            let working = day_kw(&m, date(y, mo, d), DayKind::Working, 1);
            // The same date as a holiday: only the kind of day differs.
            let holiday = day_kw(&m, date(y, mo, d), DayKind::Holiday, 1);
            assert!(mean(&holiday) < 0.85 * mean(&working), "{profile:?}");
        }
        let hotel = meter(Profile::Hotel, 5);
        let d0 = date(y, mo, d);
        assert!(
            mean(&day_kw(&hotel, d0, DayKind::Holiday, 1)) > mean(&day_kw(&hotel, d0, DayKind::Working, 1)),
            "a hotel is busier on a holiday"
        );
    }

    #[test]
    fn industries_differ_in_shape() {
        let (y, mo, d) = WED;
        let day = date(y, mo, d);
        let night_over_day = |p: Profile| {
            let v = day_kw(&meter(p, 2), day, DayKind::Working, 1);
            hours(&v, 1, 5) / hours(&v, 9, 11)
        };
        assert!(night_over_day(Profile::Furnace) > 1.3, "furnaces run in the valley");
        assert!(night_over_day(Profile::Continuous) > 0.85);
        assert!(night_over_day(Profile::TwoShift) < 0.4 && night_over_day(Profile::Office) < 0.4);
        let r = day_kw(&meter(Profile::Restaurant, 2), day, DayKind::Working, 1);
        assert!(hours(&r, 11, 13) > 1.5 * hours(&r, 14, 16) && hours(&r, 18, 20) > 1.5 * hours(&r, 14, 16));
    }

    #[test]
    fn the_level_is_the_meters_mean_and_the_weather_moves_it() {
        // Over four weeks in a mild month, the mean is near the level.
        let m = meter(Profile::Office, 9);
        let c = calendar();
        let days: Vec<f64> = (0..28)
            .map(|n| {
                let day = date(2026, 11, 2) + chrono::Duration::days(n);
                mean(&day_kw(&m, day, DayKind::of(&c, day), 1))
            })
            .collect();
        let avg = mean(&days);
        assert!((avg / 500.0 - 1.0).abs() < 0.12, "mean {avg} near the level 500");
        // A hot July working day draws more than a mild October one.
        let july = day_kw(&m, date(2026, 7, 22), DayKind::Working, 1);
        let october = day_kw(&m, date(2026, 10, 21), DayKind::Working, 1);
        assert!(mean(&july) > 1.1 * mean(&october));
        assert!(temperature(1, date(2026, 7, 20)) > temperature(1, date(2026, 1, 20)) + 10.0);
        assert_eq!(level_kw(1000.0, 0), 1000.0 * 110.0 / 730.0);
        assert_eq!(level_kw(1000.0, 219), 1000.0 * 329.0 / 730.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_values() {
        let day = date(2026, 10, 20);
        let a = day_kw(&meter(Profile::Hotel, 42), day, DayKind::Working, 7);
        let b = day_kw(&meter(Profile::Hotel, 42), day, DayKind::Working, 7);
        assert_eq!(a, b);
        assert_ne!(a, day_kw(&meter(Profile::Hotel, 43), day, DayKind::Working, 7), "another meter, other noise");
        assert!(a.iter().all(|x| *x > 0.0 && (x * 1000.0).fract().abs() < 1e-6), "positive, whole watts");
        assert_eq!(pick_shifts(50, 3, day), pick_shifts(50, 3, day));
    }

    #[test]
    fn an_injected_shift_lasts_from_its_slot() {
        let from = date(2026, 11, 1);
        let shift = LevelShift { from, slot: 40, factor: 0.65 };
        let plain = meter(Profile::Continuous, 4);
        let shifted = MeterLoad { shift: Some(shift), ..plain.clone() };
        let c = calendar();
        for n in -3..10 {
            let day = from + chrono::Duration::days(n);
            let kind = DayKind::of(&c, day);
            let (a, b) = (day_kw(&plain, day, kind, 1), day_kw(&shifted, day, kind, 1));
            for slot in 0..SLOTS {
                let after = n > 0 || (n == 0 && slot >= 40);
                let expected = if after { (a[slot] * 0.65 * 1000.0).round() / 1000.0 } else { a[slot] };
                assert!((b[slot] - expected).abs() < 0.0015, "day {n} slot {slot}");
            }
        }
        // Before the change the days are as usual; after it they are 35 % lower.
        let before = mean(&day_kw(&shifted, from - chrono::Duration::days(2), DayKind::Working, 1));
        let after = mean(&day_kw(&shifted, from + chrono::Duration::days(2), DayKind::Working, 1));
        assert!(after < 0.72 * before, "{before} → {after}");
    }

    #[test]
    fn a_tenant_gets_two_to_four_shifts_in_the_window() {
        let today = date(2026, 12, 2);
        for seed in 0..40 {
            let shifts = pick_shifts(100, seed, today);
            assert!((2..=4).contains(&shifts.len()), "seed {seed}: {}", shifts.len());
            let mut meters: Vec<usize> = shifts.iter().map(|s| s.0).collect();
            meters.sort_unstable();
            meters.dedup();
            assert_eq!(meters.len(), shifts.len(), "distinct meters");
            for (i, s) in &shifts {
                assert!(*i < 100);
                let ago = (today - s.from).num_days();
                assert!((20..=40).contains(&ago));
                assert!((0.55..=0.75).contains(&s.factor) || (1.3..=1.5).contains(&s.factor), "{}", s.factor);
            }
            assert!(shifts[0].1.factor < 1.0 && shifts[1].1.factor > 1.0, "down and up");
        }
        assert_eq!(pick_shifts(3, 1, today).len(), 1, "at most half of a few meters");
        assert!(pick_shifts(1, 1, today).is_empty());
    }
}
