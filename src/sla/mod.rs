//! SLA clocks in working time, for complaints, inquiries and work orders.
//!
//! A tenant's working calendar says when the clock runs: working periods of a
//! working day (e.g. 08:30–12:00 and 13:30–17:30), weekends, public holidays,
//! and make-up working days (调休) that fall on a weekend. Limits such as
//! "acknowledge within 1 working day" are working time; repair arrival limits
//! ("urban 45 minutes") run round the clock, which is a calendar too.
//! Pure: no database, no clock; everything takes `now` and returns values.

pub mod forms;
pub mod pages;
pub mod settings;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Clone, Debug)]
pub struct WorkingCalendar {
    pub tz: Tz,
    /// Working periods of a working day, in local time, sorted, not overlapping.
    pub periods: Vec<(NaiveTime, NaiveTime)>,
    pub weekend: Vec<Weekday>,
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休).
    pub make_up_days: BTreeSet<NaiveDate>,
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl WorkingCalendar {
    /// The common office calendar: 08:30–12:00 and 13:30–17:30, Monday to Friday.
    pub fn office(tz: Tz) -> Self {
        Self {
            tz,
            periods: vec![(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))],
            weekend: vec![Weekday::Sat, Weekday::Sun],
            holidays: BTreeSet::new(),
            make_up_days: BTreeSet::new(),
        }
    }

    /// Every minute counts (repair arrival and restoration limits).
    pub fn round_the_clock(tz: Tz) -> Self {
        Self {
            tz,
            periods: vec![(NaiveTime::MIN, NaiveTime::MIN)],
            weekend: Vec::new(),
            holidays: BTreeSet::new(),
            make_up_days: BTreeSet::new(),
        }
    }

    fn is_round_the_clock(&self) -> bool {
        self.periods == [(NaiveTime::MIN, NaiveTime::MIN)]
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.make_up_days.contains(&day) {
            return true;
        }
        !self.holidays.contains(&day) && !self.weekend.contains(&day.weekday())
    }

    /// The length of one working day (what "1 working day" means).
    pub fn working_day_length(&self) -> Duration {
        if self.is_round_the_clock() {
            return Duration::days(1);
        }
        self.periods.iter().map(|(from, to)| *to - *from).fold(Duration::zero(), |a, b| a + b)
    }

    /// The working periods of `day` as UTC instants.
    fn periods_of(&self, day: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(day) {
            return Vec::new();
        }
        let at = |t: NaiveTime| {
            // A local time that does not exist (a DST gap) moves to the next instant that does.
            self.tz.from_local_datetime(&day.and_time(t)).earliest().map(|d| d.with_timezone(&Utc))
        };
        if self.is_round_the_clock() {
            let next = day.succ_opt().unwrap_or(day);
            let start = at(NaiveTime::MIN);
            let end =
                self.tz.from_local_datetime(&next.and_time(NaiveTime::MIN)).earliest().map(|d| d.with_timezone(&Utc));
            return start.zip(end).into_iter().collect();
        }
        self.periods.iter().filter_map(|(from, to)| at(*from).zip(at(*to))).collect()
    }

    /// The instant `amount` of working time after `start`.
    pub fn add(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        let mut left = amount;
        let mut day = start.with_timezone(&self.tz).date_naive();
        // Ten years of days bounds the walk even for a calendar with no working time.
        for _ in 0..3660 {
            for (from, to) in self.periods_of(day) {
                let begin = from.max(start);
                if begin >= to {
                    continue;
                }
                if to - begin >= left {
                    return begin + left;
                }
                left -= to - begin;
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        start + amount
    }

    /// Working time between two instants (zero if `to` is not after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        let mut day = from.with_timezone(&self.tz).date_naive();
        let last = to.with_timezone(&self.tz).date_naive();
        while day <= last {
            for (start, end) in self.periods_of(day) {
                let (a, b) = (start.max(from), end.min(to));
                if b > a {
                    total += b - a;
                }
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        total
    }
}

/// Where a clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaStatus {
    /// Working time left, comfortably.
    OnTime { left: Duration },
    /// Working time left, but within the warning share of the limit (amber).
    NearDue { left: Duration },
    /// Past the deadline by this much working time (red).
    Overdue { by: Duration },
}

/// The one function that says whether an item is on time, near due or
/// overdue, and by how much, in working time. `near_share` is the last part of
/// the limit that counts as near due (e.g. 0.2: the last fifth).
pub fn status(
    calendar: &WorkingCalendar,
    started: DateTime<Utc>,
    limit: Duration,
    now: DateTime<Utc>,
    near_share: f64,
) -> SlaStatus {
    let deadline = calendar.add(started, limit);
    if now > deadline {
        // Overdue time counts in working time too, so a weekend does not inflate it.
        let by = calendar.between(deadline, now);
        return SlaStatus::Overdue { by: by.max(Duration::seconds(1)) };
    }
    let left = calendar.between(now, deadline);
    let near = Duration::milliseconds((limit.num_milliseconds() as f64 * near_share.clamp(0.0, 1.0)) as i64);
    if left <= near { SlaStatus::NearDue { left } } else { SlaStatus::OnTime { left } }
}

/// The working-calendar settings of a tenant plus how near is "near due".
#[derive(Clone, Debug)]
pub struct ServiceRules {
    pub calendar: WorkingCalendar,
    /// The last share of a limit that shows amber (0.2 = the last fifth).
    pub near_share: f64,
}

/// A time limit as the tenant set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub minutes: i32,
    /// Working time on the tenant's calendar, or round the clock.
    pub working_time: bool,
}

/// A running clock as stored on a contact or work order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunningClock {
    pub started: DateTime<Utc>,
    pub limit: Limit,
}

impl ServiceRules {
    fn calendar_for(&self, limit: Limit) -> WorkingCalendar {
        if limit.working_time { self.calendar.clone() } else { WorkingCalendar::round_the_clock(self.calendar.tz) }
    }

    pub fn deadline(&self, clock: RunningClock) -> DateTime<Utc> {
        self.calendar_for(clock.limit).add(clock.started, Duration::minutes(clock.limit.minutes.into()))
    }

    pub fn status(&self, clock: RunningClock, now: DateTime<Utc>) -> SlaStatus {
        let calendar = self.calendar_for(clock.limit);
        status(&calendar, clock.started, Duration::minutes(clock.limit.minutes.into()), now, self.near_share)
    }
}

/// Parses working periods written as `08:30-12:00,13:30-17:30`: each period
/// ends after it starts, and periods are in order without overlap.
pub fn parse_periods(raw: &str) -> Option<Vec<(NaiveTime, NaiveTime)>> {
    let mut periods = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-')?;
        let from = NaiveTime::parse_from_str(from.trim(), "%H:%M").ok()?;
        let to = NaiveTime::parse_from_str(to.trim(), "%H:%M").ok()?;
        if to <= from || periods.last().is_some_and(|(_, end)| from < *end) {
            return None;
        }
        periods.push((from, to));
    }
    (!periods.is_empty()).then_some(periods)
}

/// Formats a duration for a clock badge: "2 d 3 h", "3 h 20 min", "45 min".
/// Days here are calendar days of 24 hours of the counted time.
pub fn format_left(d: Duration, day_length: Duration) -> (i64, i64, i64) {
    let minutes = d.num_minutes().max(0);
    let day = day_length.num_minutes().max(1);
    (minutes / day, (minutes % day) / 60, (minutes % day) % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// 2026-11-27 is a Friday.
    fn office() -> WorkingCalendar {
        WorkingCalendar::office(Shanghai)
    }

    #[test]
    fn a_working_day_is_seven_and_a_half_hours() {
        assert_eq!(office().working_day_length(), Duration::minutes(450));
        assert_eq!(WorkingCalendar::round_the_clock(Shanghai).working_day_length(), Duration::days(1));
    }

    #[test]
    fn time_within_a_period_is_plain_addition() {
        assert_eq!(office().add(at(2026, 11, 24, 9, 0), Duration::minutes(90)), at(2026, 11, 24, 10, 30));
    }

    #[test]
    fn lunch_and_nights_do_not_count() {
        // 11:00 + 2 h: one hour before lunch, one after.
        assert_eq!(office().add(at(2026, 11, 24, 11, 0), Duration::hours(2)), at(2026, 11, 24, 14, 30));
        // 17:00 + 1 h: half an hour today, half an hour tomorrow morning.
        assert_eq!(office().add(at(2026, 11, 24, 17, 0), Duration::hours(1)), at(2026, 11, 25, 9, 0));
        // Received at night: the clock starts at 08:30.
        assert_eq!(office().add(at(2026, 11, 24, 22, 0), Duration::minutes(30)), at(2026, 11, 25, 9, 0));
    }

    #[test]
    fn one_working_day_from_friday_afternoon_ends_on_monday() {
        let cal = office();
        assert_eq!(cal.add(at(2026, 11, 27, 15, 0), cal.working_day_length()), at(2026, 11, 30, 15, 0));
    }

    #[test]
    fn holidays_and_make_up_days_move_the_deadline() {
        let mut cal = office();
        // National Day week: 1–7 October 2026 off; Saturday 10 October a make-up working day.
        cal.holidays.extend((1..=7).map(|d| day(2026, 10, d)));
        cal.make_up_days.insert(day(2026, 10, 10));
        // A complaint received on 30 September at 16:00, to be resolved in 5 working days:
        // 1.5 h on the 30th, then 8, 9 (Thu, Fri), 10 (make-up Saturday), 12 and most of the 13th.
        let deadline = cal.add(at(2026, 9, 30, 16, 0), cal.working_day_length() * 5);
        assert_eq!(deadline, at(2026, 10, 13, 16, 0));
        assert!(cal.is_working_day(day(2026, 10, 10)) && !cal.is_working_day(day(2026, 10, 11)));
    }

    #[test]
    fn working_time_between_skips_what_add_skips() {
        let cal = office();
        let from = at(2026, 11, 27, 15, 0);
        for minutes in [1, 59, 60, 450, 451, 2000] {
            let to = cal.add(from, Duration::minutes(minutes));
            assert_eq!(cal.between(from, to), Duration::minutes(minutes), "{minutes} minutes");
        }
        assert_eq!(cal.between(at(2026, 11, 28, 9, 0), at(2026, 11, 29, 18, 0)), Duration::zero(), "a weekend");
        assert_eq!(cal.between(at(2026, 11, 25, 9, 0), at(2026, 11, 24, 9, 0)), Duration::zero(), "backwards");
    }

    #[test]
    fn round_the_clock_limits_count_every_minute() {
        let cal = WorkingCalendar::round_the_clock(Shanghai);
        // A fault reported on Saturday night: urban arrival limit 45 minutes.
        assert_eq!(cal.add(at(2026, 11, 28, 23, 40), Duration::minutes(45)), at(2026, 11, 29, 0, 25));
        assert_eq!(cal.between(at(2026, 11, 28, 23, 40), at(2026, 11, 29, 0, 25)), Duration::minutes(45));
    }

    #[test]
    fn status_is_on_time_then_near_due_then_overdue() {
        let cal = office();
        let received = at(2026, 11, 24, 9, 0);
        let limit = cal.working_day_length(); // acknowledge within 1 working day
        assert_eq!(
            status(&cal, received, limit, at(2026, 11, 24, 10, 0), 0.2),
            SlaStatus::OnTime { left: Duration::minutes(390) }
        );
        // 08:30 next day: 30 minutes left, within the last fifth (90 minutes).
        assert_eq!(
            status(&cal, received, limit, at(2026, 11, 25, 8, 30), 0.2),
            SlaStatus::NearDue { left: Duration::minutes(30) }
        );
        // Deadline 09:00 on the 25th; at 10:00 it is an hour overdue.
        assert_eq!(
            status(&cal, received, limit, at(2026, 11, 25, 10, 0), 0.2),
            SlaStatus::Overdue { by: Duration::hours(1) }
        );
        // At 22:00 it is 7 working hours overdue (09:00–12:00, 13:30–17:30), not 13 wall-clock hours,
        // and the night adds nothing.
        assert_eq!(
            status(&cal, received, limit, at(2026, 11, 25, 22, 0), 0.2),
            SlaStatus::Overdue { by: Duration::hours(7) }
        );
        assert_eq!(
            status(&cal, received, limit, at(2026, 11, 26, 8, 0), 0.2),
            SlaStatus::Overdue { by: Duration::hours(7) }
        );
    }
    #[test]
    fn periods_parse_and_refuse_nonsense() {
        assert_eq!(parse_periods("08:30-12:00, 13:30-17:30"), Some(office().periods));
        assert_eq!(parse_periods("09:00-12:00,11:00-17:00"), None, "overlap");
        assert_eq!(parse_periods("12:00-09:00"), None, "backwards");
        assert_eq!(parse_periods("9-5"), None);
        assert_eq!(parse_periods(""), None);
    }

    #[test]
    fn round_the_clock_limits_ignore_the_office_calendar() {
        let rules = ServiceRules { calendar: office(), near_share: 0.2 };
        // A repair reported Saturday 23:00 with a 45-minute arrival limit.
        let clock =
            RunningClock { started: at(2026, 11, 28, 23, 0), limit: Limit { minutes: 45, working_time: false } };
        assert_eq!(rules.deadline(clock), at(2026, 11, 28, 23, 45));
        assert_eq!(rules.status(clock, at(2026, 11, 28, 23, 40)), SlaStatus::NearDue { left: Duration::minutes(5) });
        assert_eq!(rules.status(clock, at(2026, 11, 29, 0, 15)), SlaStatus::Overdue { by: Duration::minutes(30) });
        // The same limit in working time waits for Monday morning.
        let working = RunningClock { limit: Limit { minutes: 45, working_time: true }, ..clock };
        assert_eq!(rules.deadline(working), at(2026, 11, 30, 9, 15));
    }

    #[test]
    fn time_left_splits_into_working_days_hours_minutes() {
        let day = Duration::minutes(450);
        assert_eq!(format_left(Duration::minutes(450 + 125), day), (1, 2, 5));
        assert_eq!(format_left(Duration::minutes(-5), day), (0, 0, 0));
    }
}
