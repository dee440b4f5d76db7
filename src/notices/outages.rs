//! Planned outages (计划停电): the rules, pure and unit tested.
//!
//! An outage names what goes off (reading routes, transformers, address
//! prefixes) and when. Every active customer it reaches is told at the
//! tenant's lead time before the start; important (special or first grade)
//! and outage-sensitive customers earlier, and their account manager gets a
//! phone-call task. A change announces itself again (a new version); a
//! cancellation tells those who were already told.
//!
//! This file: the form and API checks ([`check_form`], [`check_draft`]), the
//! lead-time arithmetic ([`notify_at`]) and what counts as a change
//! ([`changed`]). `outages_db` holds the SQL and the service functions,
//! `outages_pages` and `outages_api` the handlers.

use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::web::{error::FieldErrors, input};

/// The most routes, transformers or areas one outage lists (each).
pub const MAX_ITEMS: usize = 500;
/// A transformer's name or an area prefix: at most this many characters.
pub const MAX_ITEM_CHARS: usize = 100;
/// An area prefix shorter than this would reach half a city by accident.
pub const MIN_AREA_CHARS: usize = 2;
pub const MAX_REASON_CHARS: usize = 500;
/// A planned outage lasts at most this long.
pub const MAX_HOURS: i64 = 7 * 24;
/// The tenant's lead times when it has set none (migration 0027's defaults).
pub const DEFAULT_LEAD_DAYS: i32 = 7;
pub const DEFAULT_PRIORITY_DAYS: i32 = 10;

/// The page's form, as typed. Times are `datetime-local` values in the
/// tenant's zone; routes are the ticked route codes; transformers and areas
/// one per line.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OutageForm {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub transformer_lines: String,
    #[serde(default)]
    pub area_lines: String,
}

/// A planned outage over the API. Routes are named by their codes.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct OutageDraft {
    /// Why the power goes off (shown to customers), 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// When the power goes off (RFC 3339); in the future.
    #[schema(format = DateTime)]
    pub starts_at: DateTime<Utc>,
    /// When it comes back (RFC 3339): after the start, at most 7 days later.
    #[schema(format = DateTime)]
    pub ends_at: DateTime<Utc>,
    /// Reading route codes: every active customer on them is affected.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Transformer names, as on the supply points: customers with a supply
    /// point in service on one of them are affected.
    #[serde(default)]
    pub transformers: Vec<String>,
    /// Address prefixes: customers whose address starts with one are affected.
    #[serde(default)]
    pub areas: Vec<String>,
}

/// A checked outage; routes still as codes (the database resolves them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidOutage {
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub routes: Vec<String>,
    pub transformers: Vec<String>,
    pub areas: Vec<String>,
}

/// A `datetime-local` value (`2026-11-27T10:00`, seconds optional) in `tz`;
/// a wall time that does not exist (a daylight-saving gap) is refused.
pub fn parse_local(raw: &str, tz: Tz) -> Result<DateTime<Utc>, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("required");
    }
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "outage_time_format")?;
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc)).ok_or("outage_time_format")
}

/// A time for the form's `datetime-local` field, in `tz`.
pub fn to_local_input(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A time as notices show it: `YYYY-MM-DD HH:MM` in the tenant's zone.
pub fn notice_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// One entry per line (or array item): trimmed, blanks and repeats dropped.
fn items(raw: impl IntoIterator<Item = String>, field: &str, min: usize, errors: &mut FieldErrors) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in raw {
        let item = item.trim();
        if item.is_empty() || out.iter().any(|o| o == item) {
            continue;
        }
        let chars = item.chars().count();
        if item.chars().any(char::is_control) {
            errors.add(field.to_owned(), "control_character");
        } else if chars > MAX_ITEM_CHARS {
            errors.add(field.to_owned(), "outage_item_too_long");
        } else if chars < min {
            errors.add(field.to_owned(), "outage_area_too_short");
        }
        out.push(item.to_owned());
    }
    if out.len() > MAX_ITEMS {
        errors.add(field.to_owned(), "outage_too_many");
    }
    out
}

/// The checks both the page and the API make. `previous_start` is the
/// outage's current start when this is a change: an outage under way may
/// keep its start (to move its end) though that is past.
#[allow(clippy::too_many_arguments)]
fn check(
    reason: &str,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    routes: Vec<String>,
    transformers: Vec<String>,
    areas: Vec<String>,
    names: [&'static str; 3],
    now: DateTime<Utc>,
    previous_start: Option<DateTime<Utc>>,
    errors: &mut FieldErrors,
) -> Option<ValidOutage> {
    let reason = input::visible_text(reason, MAX_REASON_CHARS, "reason", true, errors);
    // As the database keeps them (microseconds), so that the same time sent again is no change.
    let starts_at = starts_at.map(|t| t.trunc_subsecs(6));
    let ends_at = ends_at.map(|t| t.trunc_subsecs(6));
    if let Some(start) = starts_at
        && start <= now
        && previous_start != Some(start)
    {
        errors.add("starts_at", "outage_start_past");
    }
    if let Some(start) = starts_at
        && start.date_naive() > input::LATEST
    {
        errors.add("starts_at", "date_too_late");
    }
    if let (Some(start), Some(end)) = (starts_at, ends_at) {
        if end <= start {
            errors.add("ends_at", "outage_end_before_start");
        } else if end - start > Duration::hours(MAX_HOURS) {
            errors.add("ends_at", "outage_too_long");
        }
    }
    let [route_field, transformer_field, area_field] = names;
    let routes = items(routes, route_field, 1, errors);
    let transformers = items(transformers, transformer_field, 1, errors);
    let areas = items(areas, area_field, MIN_AREA_CHARS, errors);
    if routes.is_empty() && transformers.is_empty() && areas.is_empty() {
        errors.add(route_field, "outage_nothing_selected");
    }
    Some(ValidOutage { reason, starts_at: starts_at?, ends_at: ends_at?, routes, transformers, areas })
}

/// Checks the page's form (times in `tz`).
pub fn check_form(
    form: &OutageForm,
    tz: Tz,
    now: DateTime<Utc>,
    previous_start: Option<DateTime<Utc>>,
) -> Result<ValidOutage, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut time = |raw: &str, field: &'static str| match parse_local(raw, tz) {
        Ok(t) => Some(t),
        Err(code) => {
            errors.add(field, code);
            None
        }
    };
    let starts_at = time(&form.starts_at, "starts_at");
    let ends_at = time(&form.ends_at, "ends_at");
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    let valid = check(
        &form.reason,
        starts_at,
        ends_at,
        form.routes.clone(),
        lines(&form.transformer_lines),
        lines(&form.area_lines),
        ["routes", "transformer_lines", "area_lines"],
        now,
        previous_start,
        &mut errors,
    );
    match valid {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors),
    }
}

/// Checks an API body.
pub fn check_draft(
    draft: &OutageDraft,
    now: DateTime<Utc>,
    previous_start: Option<DateTime<Utc>>,
) -> Result<ValidOutage, FieldErrors> {
    let mut errors = FieldErrors::default();
    let valid = check(
        &draft.reason,
        Some(draft.starts_at),
        Some(draft.ends_at),
        draft.routes.clone(),
        draft.transformers.clone(),
        draft.areas.clone(),
        ["routes", "transformers", "areas"],
        now,
        previous_start,
        &mut errors,
    );
    match valid {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(errors),
    }
}

/// When a customer is told: `days` before the start, or now when that
/// moment has passed.
pub fn notify_at(starts_at: DateTime<Utc>, days: i32, now: DateTime<Utc>) -> DateTime<Utc> {
    (starts_at - Duration::days(i64::from(days))).max(now)
}

/// The lead days for a customer: the priority days for important and
/// outage-sensitive customers. A tenant that set the priority lead shorter
/// than the ordinary one still tells priority customers no later than the
/// others.
pub fn lead_days(priority: bool, lead_days: i32, priority_days: i32) -> i32 {
    if priority { priority_days.max(lead_days) } else { lead_days }
}

/// Whether `proposed` differs from the outage as it stands in anything a
/// customer is told or that decides who is told. Lists compare as sets.
pub fn changed(current: &ValidOutage, proposed: &ValidOutage) -> bool {
    let same_set = |a: &[String], b: &[String]| {
        let mut a: Vec<&String> = a.iter().collect();
        let mut b: Vec<&String> = b.iter().collect();
        a.sort();
        b.sort();
        a == b
    };
    current.reason != proposed.reason
        || current.starts_at != proposed.starts_at
        || current.ends_at != proposed.ends_at
        || !same_set(&current.routes, &proposed.routes)
        || !same_set(&current.transformers, &proposed.transformers)
        || !same_set(&current.areas, &proposed.areas)
}

/// The notices' `event_ref` for a version of an outage.
pub fn event_ref(id: uuid::Uuid, version: i32) -> String {
    format!("outage:{id}:{version}")
}

/// The event of an outage's cancellation.
pub fn cancel_ref(id: uuid::Uuid) -> String {
    format!("outage:{id}:cancelled")
}

/// Every event an outage has had up to `version`, cancellation included.
pub fn all_refs(id: uuid::Uuid, version: i32) -> Vec<String> {
    (1..=version).map(|v| event_ref(id, v)).chain([cancel_ref(id)]).collect()
}

/// What a notice says changed, in the `outage_change` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    First,
    Changed,
    Cancelled,
}

impl Announcement {
    /// The translation key of the marker (`outages.marker_<code>`); the first
    /// announcement has none.
    pub fn marker_key(self) -> Option<&'static str> {
        match self {
            Announcement::First => None,
            Announcement::Changed => Some("outages.marker_changed"),
            Announcement::Cancelled => Some("outages.marker_cancelled"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    const NOW: &str = "2026-11-01T02:00:00Z";
    fn shanghai() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }
    fn form() -> OutageForm {
        OutageForm {
            reason: "线路检修".into(),
            starts_at: "2026-11-20T08:00".into(),
            ends_at: "2026-11-20T18:00".into(),
            routes: vec!["R0001".into()],
            transformer_lines: "\n 1号变 \n1号变\n".into(),
            area_lines: String::new(),
        }
    }
    fn codes(e: &FieldErrors) -> Vec<(String, &'static str)> {
        e.iter().map(|e| (e.field.clone(), e.code)).collect()
    }

    #[test]
    fn a_good_form_reads_local_times_and_drops_blank_and_repeated_lines() {
        let v = check_form(&form(), shanghai(), utc(NOW), None).unwrap();
        assert_eq!(v.starts_at, utc("2026-11-20T00:00:00Z"));
        assert_eq!(v.ends_at, utc("2026-11-20T10:00:00Z"));
        assert_eq!(v.transformers, ["1号变"]);
        assert!(v.areas.is_empty());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = OutageForm {
            reason: "  ".into(),
            starts_at: "2026-10-01T08:00".into(),
            ends_at: "tomorrow".into(),
            routes: vec![],
            transformer_lines: String::new(),
            area_lines: " \n".into(),
        };
        let e = check_form(&bad, shanghai(), utc(NOW), None).unwrap_err();
        assert_eq!(
            codes(&e),
            [
                ("ends_at".to_owned(), "outage_time_format"),
                ("reason".to_owned(), "required"),
                ("starts_at".to_owned(), "outage_start_past"),
                ("routes".to_owned(), "outage_nothing_selected"),
            ]
        );
    }

    #[test]
    fn the_end_must_follow_the_start_within_a_week() {
        let mut f = form();
        f.ends_at = "2026-11-20T07:00".into();
        assert_eq!(
            codes(&check_form(&f, shanghai(), utc(NOW), None).unwrap_err()),
            [("ends_at".to_owned(), "outage_end_before_start")]
        );
        f.ends_at = "2026-11-28T08:01".into();
        assert_eq!(
            codes(&check_form(&f, shanghai(), utc(NOW), None).unwrap_err()),
            [("ends_at".to_owned(), "outage_too_long")]
        );
    }

    #[test]
    fn an_outage_under_way_may_keep_its_past_start() {
        let mut d = OutageDraft {
            reason: "抢修".into(),
            starts_at: utc("2026-10-31T00:00:00Z"),
            ends_at: utc("2026-11-01T10:00:00Z"),
            areas: vec!["上城区".into()],
            ..Default::default()
        };
        assert!(check_draft(&d, utc(NOW), Some(d.starts_at)).is_ok());
        assert_eq!(
            codes(&check_draft(&d, utc(NOW), None).unwrap_err()),
            [("starts_at".to_owned(), "outage_start_past")]
        );
        d.areas = vec!["上".into()];
        assert_eq!(
            codes(&check_draft(&d, utc(NOW), Some(d.starts_at)).unwrap_err()),
            [("areas".to_owned(), "outage_area_too_short")]
        );
    }

    #[test]
    fn api_errors_name_the_api_fields() {
        let d = OutageDraft {
            reason: "x".into(),
            starts_at: utc("2026-11-20T00:00:00Z"),
            ends_at: utc("2026-11-20T01:00:00Z"),
            transformers: vec!["a\u{7}".into()],
            ..Default::default()
        };
        assert_eq!(
            codes(&check_draft(&d, utc(NOW), None).unwrap_err()),
            [("transformers".to_owned(), "control_character")]
        );
    }

    #[test]
    fn a_wall_time_in_a_daylight_saving_gap_is_refused() {
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(parse_local("2026-03-08T02:30", ny), Err("outage_time_format"));
        assert_eq!(parse_local("2026-03-08T03:30", ny), Ok(utc("2026-03-08T07:30:00Z")));
        assert_eq!(parse_local("", ny), Err("required"));
        assert_eq!(to_local_input(utc("2026-11-20T00:00:00Z"), shanghai()), "2026-11-20T08:00");
        assert_eq!(notice_time(utc("2026-11-20T00:00:00Z"), shanghai()), "2026-11-20 08:00");
    }

    #[test]
    fn lead_times_count_back_from_the_start_but_never_before_now() {
        let start = utc("2026-11-20T00:00:00Z");
        assert_eq!(notify_at(start, 7, utc(NOW)), utc("2026-11-13T00:00:00Z"));
        assert_eq!(notify_at(start, 10, utc(NOW)), utc("2026-11-10T00:00:00Z"));
        assert_eq!(notify_at(start, 30, utc(NOW)), utc(NOW));
        assert_eq!(lead_days(true, 7, 10), 10);
        assert_eq!(lead_days(false, 7, 10), 7);
        assert_eq!(lead_days(true, 7, 3), 7);
    }

    #[test]
    fn a_change_is_anything_customers_are_told_or_that_decides_who_is_told() {
        let v = check_form(&form(), shanghai(), utc(NOW), None).unwrap();
        let mut w = v.clone();
        assert!(!changed(&v, &w));
        w.transformers = vec!["1号变".into()];
        assert!(!changed(&v, &w));
        w.routes = vec![];
        assert!(changed(&v, &w));
        let mut w = v.clone();
        w.ends_at += Duration::minutes(30);
        assert!(changed(&v, &w));
        let mut w = v.clone();
        w.routes = vec!["R0001".into(), "R0002".into()];
        let mut x = v.clone();
        x.routes = vec!["R0002".into(), "R0001".into()];
        assert!(!changed(&w, &x));
    }

    #[test]
    fn events_name_the_outage_and_its_version() {
        let id = uuid::Uuid::nil();
        assert_eq!(event_ref(id, 2), "outage:00000000-0000-0000-0000-000000000000:2");
        assert_eq!(all_refs(id, 2).len(), 3);
        assert_eq!(all_refs(id, 2)[2], cancel_ref(id));
        assert_eq!(Announcement::First.marker_key(), None);
    }
}
