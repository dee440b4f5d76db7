//! The rule and settings forms of the rules page, checked (pure).

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CHANNELS, Kind, Source};
use crate::web::{error::FieldErrors, input};

/// Who a rule reaches besides (or, for broadcasts, instead of) "the
/// customers the event concerns".
pub const AUDIENCES: [&str; 5] = ["concerned", "segment", "route", "transformer", "area"];
pub const OFFSET_UNITS: [&str; 3] = ["minutes", "hours", "days"];
/// The furthest a rule's offset may reach (the migration's check): 60 days.
pub const MAX_OFFSET_MINUTES: i32 = 86_400;

/// The kinds a rule may be made for: the event, due and broadcast kinds.
/// Planned outages and the personalised bill have their own settings.
pub fn rule_kinds() -> impl Iterator<Item = Kind> {
    Kind::ALL.into_iter().filter(|k| k.source() != Source::Own)
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub segment_id: String,
    #[serde(default)]
    pub route_id: String,
    #[serde(default)]
    pub audience_text: String,
    #[serde(default)]
    pub offset_amount: String,
    #[serde(default)]
    pub offset_unit: String,
    /// before or after
    #[serde(default)]
    pub offset_side: String,
    #[serde(default)]
    pub channel_1: String,
    #[serde(default)]
    pub channel_2: String,
    #[serde(default)]
    pub channel_3: String,
    /// Local date and time (`YYYY-MM-DDTHH:MM`); empty: from now.
    #[serde(default)]
    pub since: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewRule {
    pub kind: &'static str,
    pub audience: &'static str,
    pub segment_id: Option<Uuid>,
    pub route_id: Option<Uuid>,
    pub audience_text: String,
    pub offset_minutes: i32,
    pub channels: Vec<String>,
    pub since: DateTime<Utc>,
}

fn pick(list: &[&'static str], raw: &str) -> Option<&'static str> {
    list.iter().copied().find(|c| *c == raw.trim())
}

/// Checks a rule form; `tz` reads the local start time, `now` fills an empty one.
pub fn check_rule(form: &RuleForm, tz: Tz, now: DateTime<Utc>) -> Result<NewRule, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = rule_kinds().find(|k| k.as_str() == form.kind.trim());
    if kind.is_none() {
        errors.add("kind", if form.kind.trim().is_empty() { "required" } else { "notice_kind_unknown" });
    }
    let audience = pick(&AUDIENCES, &form.audience).unwrap_or_else(|| {
        errors.add("audience", "malformed");
        "concerned"
    });
    let id = |raw: &str, field: &'static str, errors: &mut FieldErrors| {
        let parsed = Uuid::parse_str(raw.trim()).ok();
        if parsed.is_none() {
            errors.add(field, if raw.trim().is_empty() { "required" } else { "malformed" });
        }
        parsed
    };
    let segment_id = if audience == "segment" { id(&form.segment_id, "segment_id", &mut errors) } else { None };
    let route_id = if audience == "route" { id(&form.route_id, "route_id", &mut errors) } else { None };
    let audience_text = if matches!(audience, "transformer" | "area") {
        input::visible_text(&form.audience_text, 100, "audience_text", true, &mut errors)
    } else {
        String::new()
    };

    let unit = pick(&OFFSET_UNITS, &form.offset_unit).unwrap_or("minutes");
    let per_unit = match unit {
        "days" => 24 * 60,
        "hours" => 60,
        _ => 1,
    };
    let amount = if form.offset_amount.trim().is_empty() {
        0
    } else {
        input::whole_number(
            &form.offset_amount,
            0..=MAX_OFFSET_MINUTES,
            "offset_amount",
            "notice_offset_range",
            &mut errors,
        )
    };
    let before = form.offset_side.trim() == "before";
    if before && amount > 0 && kind.is_some_and(|k| k.source() != Source::Due) {
        // An event is known only once it happened.
        errors.add("offset_side", "notice_before_needs_date");
    }
    let minutes = amount.saturating_mul(per_unit);
    if minutes > MAX_OFFSET_MINUTES {
        errors.add("offset_amount", "notice_offset_range");
    }
    let offset_minutes = if before { -minutes } else { minutes };

    let mut channels: Vec<String> = Vec::new();
    for (field, raw) in [("channel_1", &form.channel_1), ("channel_2", &form.channel_2), ("channel_3", &form.channel_3)]
    {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match pick(&CHANNELS, raw) {
            Some(c) if !channels.iter().any(|x| x == c) => channels.push(c.to_owned()),
            Some(_) => errors.add(field, "notice_channel_twice"),
            None => errors.add(field, "malformed"),
        }
    }

    let since = match form.since.trim() {
        "" => now,
        raw => match NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|local| tz.from_local_datetime(&local).earliest())
        {
            Some(at) if at.with_timezone(&Utc) <= now + chrono::Duration::days(366) => at.with_timezone(&Utc),
            Some(_) => {
                errors.add("since", "notice_since_far");
                now
            }
            None => {
                errors.add("since", "malformed");
                now
            }
        },
    };
    errors.finish(NewRule {
        kind: kind.map(Kind::as_str).unwrap_or_default(),
        audience,
        segment_id,
        route_id,
        audience_text,
        offset_minutes,
        channels,
        since,
    })
}

/// An offset as the rules list shows it: the amount in its largest whole
/// unit and which side of the event.
pub fn offset_parts(minutes: i32) -> (i32, &'static str, &'static str) {
    let side = if minutes < 0 { "before" } else { "after" };
    let m = minutes.abs();
    if m != 0 && m % (24 * 60) == 0 {
        (m / (24 * 60), "days", side)
    } else if m != 0 && m % 60 == 0 {
        (m / 60, "hours", side)
    } else {
        (m, "minutes", side)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub quiet_from: String,
    #[serde(default)]
    pub quiet_to: String,
    #[serde(default)]
    pub outage_lead_days: String,
    #[serde(default)]
    pub outage_priority_days: String,
    #[serde(default)]
    pub default_lang: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub quiet_from: NaiveTime,
    pub quiet_to: NaiveTime,
    pub outage_lead_days: i32,
    pub outage_priority_days: i32,
    pub default_lang: String,
}

impl Default for Settings {
    /// The migration's defaults.
    fn default() -> Self {
        Settings {
            quiet_from: NaiveTime::from_hms_opt(21, 0, 0).expect("valid"),
            quiet_to: NaiveTime::from_hms_opt(8, 0, 0).expect("valid"),
            outage_lead_days: 7,
            outage_priority_days: 10,
            default_lang: "zh-CN".into(),
        }
    }
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        SettingsForm {
            quiet_from: s.quiet_from.format("%H:%M").to_string(),
            quiet_to: s.quiet_to.format("%H:%M").to_string(),
            outage_lead_days: s.outage_lead_days.to_string(),
            outage_priority_days: s.outage_priority_days.to_string(),
            default_lang: s.default_lang.clone(),
        }
    }
}

pub fn check_settings(form: &SettingsForm) -> Result<Settings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let time = |raw: &str, field: &'static str, errors: &mut FieldErrors| {
        NaiveTime::parse_from_str(raw.trim(), "%H:%M").unwrap_or_else(|_| {
            errors.add(field, if raw.trim().is_empty() { "required" } else { "malformed" });
            NaiveTime::MIN
        })
    };
    let quiet_from = time(&form.quiet_from, "quiet_from", &mut errors);
    let quiet_to = time(&form.quiet_to, "quiet_to", &mut errors);
    let days = |raw: &str, field, errors: &mut FieldErrors| {
        input::whole_number(raw, 1..=60, field, "notice_lead_days_range", errors)
    };
    let outage_lead_days = days(&form.outage_lead_days, "outage_lead_days", &mut errors);
    let outage_priority_days = days(&form.outage_priority_days, "outage_priority_days", &mut errors);
    if !errors.has("outage_priority_days") && outage_priority_days < outage_lead_days {
        // Important customers hear earlier, never later.
        errors.add("outage_priority_days", "notice_priority_before_lead");
    }
    let default_lang = match form.default_lang.trim() {
        l @ ("zh-CN" | "en") => l.to_owned(),
        _ => {
            errors.add("default_lang", "malformed");
            String::new()
        }
    };
    errors.finish(Settings { quiet_from, quiet_to, outage_lead_days, outage_priority_days, default_lang })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-02T06:00:00Z".parse().unwrap()
    }
    fn shanghai() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }
    fn form(kind: &str) -> RuleForm {
        RuleForm { kind: kind.into(), audience: "concerned".into(), ..Default::default() }
    }

    #[test]
    fn a_reminder_three_days_before_the_due_date_by_sms_then_letter() {
        let f = RuleForm {
            offset_amount: "3".into(),
            offset_unit: "days".into(),
            offset_side: "before".into(),
            channel_1: "sms".into(),
            channel_3: "letter".into(),
            since: "2026-11-01T00:00".into(),
            ..form("payment_due")
        };
        let r = check_rule(&f, shanghai(), now()).unwrap();
        assert_eq!((r.kind, r.offset_minutes), ("payment_due", -4320));
        assert_eq!(r.channels, ["sms", "letter"]);
        assert_eq!(r.since, "2026-10-31T16:00:00Z".parse::<DateTime<Utc>>().unwrap(), "local midnight in Shanghai");
        assert_eq!(offset_parts(r.offset_minutes), (3, "days", "before"));
    }

    #[test]
    fn an_event_cannot_be_told_before_it_happens_and_fields_are_named() {
        let f = RuleForm {
            offset_amount: "2".into(),
            offset_unit: "hours".into(),
            offset_side: "before".into(),
            ..form("fault_reported")
        };
        let errors = check_rule(&f, shanghai(), now()).unwrap_err();
        assert!(errors.has("offset_side"));
        let bad = RuleForm {
            kind: "planned_outage".into(),
            audience: "route".into(),
            channel_1: "sms".into(),
            channel_2: "sms".into(),
            offset_amount: "61".into(),
            offset_unit: "days".into(),
            since: "tomorrow".into(),
            ..Default::default()
        };
        let errors = check_rule(&bad, shanghai(), now()).unwrap_err();
        for field in ["kind", "route_id", "channel_2", "offset_amount", "since"] {
            assert!(errors.has(field), "{field}: {errors:?}");
        }
        let area = RuleForm { audience: "area".into(), audience_text: "  ".into(), ..form("safe_use_advice") };
        assert!(check_rule(&area, shanghai(), now()).unwrap_err().has("audience_text"));
    }

    #[test]
    fn an_empty_start_is_now_and_an_empty_offset_is_at_once() {
        let r = check_rule(&form("power_restored"), shanghai(), now()).unwrap();
        assert_eq!((r.since, r.offset_minutes, r.channels.len()), (now(), 0, 0));
        assert_eq!(offset_parts(90), (90, "minutes", "after"));
        assert_eq!(offset_parts(120), (2, "hours", "after"));
    }

    #[test]
    fn settings_keep_important_customers_earlier() {
        let mut f = SettingsForm::from(&Settings::default());
        assert_eq!(check_settings(&f).unwrap(), Settings::default());
        f.outage_priority_days = "5".into();
        assert!(check_settings(&f).unwrap_err().has("outage_priority_days"));
        f.quiet_to = "25:00".into();
        f.default_lang = "fr".into();
        let errors = check_settings(&f).unwrap_err();
        assert!(errors.has("quiet_to") && errors.has("default_lang"));
    }
}
