//! Language: Simplified Chinese and English. The user's own setting wins, then
//! the `lang` cookie set by the language switch, then Accept-Language.
//! Numbers, money and dates are formatted here for the locale.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Locale {
    #[default]
    ZhCn,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    pub fn code(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Locale> {
        let s = s.trim().to_ascii_lowercase();
        if s == "zh" || s.starts_with("zh-") || s.starts_with("zh_") {
            Some(Locale::ZhCn)
        } else if s == "en" || s.starts_with("en-") || s.starts_with("en_") {
            Some(Locale::En)
        } else {
            None
        }
    }

    /// Picks the first supported language by quality from an Accept-Language header.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut candidates: Vec<(f32, usize, Locale)> = header
            .split(',')
            .enumerate()
            .filter_map(|(pos, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q =
                    pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                Locale::parse(tag).filter(|_| q > 0.0).map(|l| (q, pos, l))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.first().map(|c| c.2)
    }

    /// The user's setting, else the cookie, else the header, else Chinese.
    pub fn negotiate(user: Option<Locale>, cookie: Option<&str>, accept_language: Option<&str>) -> Locale {
        user.or_else(|| cookie.and_then(Locale::parse))
            .or_else(|| accept_language.and_then(Locale::from_accept_language))
            .unwrap_or_default()
    }
}

/// Translation and formatting for one locale; templates call `p.t("key")`.
#[derive(Clone, Copy, Debug, Default)]
pub struct I18n(pub Locale);

impl I18n {
    pub fn t(&self, key: &str) -> String {
        rust_i18n::t!(key, locale = self.0.code()).into_owned()
    }

    /// Whether `key` has a translation in this locale (missing keys echo back).
    pub fn has(&self, key: &str) -> bool {
        let out = rust_i18n::t!(key, locale = self.0.code());
        out != key && !out.ends_with(key)
    }

    /// Money in yuan, grouped by thousands: ¥1,234.50 (same in both locales).
    pub fn money(&self, amount: Decimal) -> String {
        // 四舍五入: half away from zero, not banker's rounding.
        let rounded = amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let sign = if rounded.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
        format!("{sign}¥{}", group_thousands(&rounded.abs().to_string(), 2))
    }

    /// A plain decimal quantity, grouped by thousands.
    pub fn number(&self, value: Decimal) -> String {
        group_thousands(&value.normalize().to_string(), 0)
    }

    pub fn date(&self, date: NaiveDate) -> String {
        match self.0 {
            Locale::ZhCn => date.format("%Y年%m月%d日").to_string(),
            Locale::En => date.format("%Y-%m-%d").to_string(),
        }
    }

    /// A timestamp in the tenant's time zone.
    pub fn datetime(&self, at: DateTime<Utc>, tz: Tz) -> String {
        let local = at.with_timezone(&tz);
        match self.0 {
            Locale::ZhCn => local.format("%Y-%m-%d %H:%M").to_string(),
            Locale::En => local.format("%Y-%m-%d %H:%M").to_string(),
        }
    }
}

/// Inserts thousands separators into a plain decimal string, padding the
/// fraction to `min_fraction` digits.
fn group_thousands(plain: &str, min_fraction: usize) -> String {
    let (sign, digits) = plain.strip_prefix('-').map_or(("", plain), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let mut frac = frac.to_owned();
    while frac.len() < min_fraction {
        frac.push('0');
    }
    if frac.is_empty() { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{frac}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn accept_language_respects_quality_and_order() {
        assert_eq!(Locale::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"), Some(Locale::En));
        assert_eq!(Locale::from_accept_language("fr;q=1, zh-TW;q=0.5, en;q=0.4"), Some(Locale::ZhCn));
        assert_eq!(Locale::from_accept_language("de, fr"), None);
        assert_eq!(Locale::from_accept_language("en;q=0, zh"), Some(Locale::ZhCn));
    }

    #[test]
    fn the_users_setting_wins() {
        assert_eq!(Locale::negotiate(Some(Locale::En), Some("zh-CN"), Some("zh-CN")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("en"), Some("zh-CN")), Locale::En);
        assert_eq!(Locale::negotiate(None, None, Some("en-GB")), Locale::En);
        assert_eq!(Locale::negotiate(None, None, None), Locale::ZhCn);
    }

    #[test]
    fn money_is_grouped_with_two_decimals() {
        let i = I18n(Locale::En);
        assert_eq!(i.money(dec("1234567.5")), "¥1,234,567.50");
        assert_eq!(i.money(dec("-12.345")), "-¥12.35");
        assert_eq!(i.money(dec("0")), "¥0.00");
        assert_eq!(i.number(dec("12500.000")), "12,500");
    }

    #[test]
    fn dates_follow_the_locale() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(I18n(Locale::ZhCn).date(d), "2026年03月05日");
        assert_eq!(I18n(Locale::En).date(d), "2026-03-05");
    }
}

#[cfg(test)]
mod completeness {
    use super::*;

    /// Every action a contact's or order's history can show.
    const SERVICE_EVENTS: [&str; 13] = [
        "create",
        "handover",
        "escalate",
        "return_visit",
        "supervise",
        "update",
        "progress",
        "acknowledge",
        "start",
        "resolve",
        "close",
        "reopen",
        "cancel",
    ];
    const SLA_CLOCKS: [&str; 3] = ["acknowledge", "resolve", "arrival"];

    #[test]
    fn every_workflow_action_and_clock_has_a_name() {
        for locale in Locale::ALL {
            let i = I18n(locale);
            for workflow in crate::workflow::ALL {
                for action in workflow.all_actions() {
                    assert!(i.has(&format!("service_event.{action}")), "service_event.{action} in {}", locale.code());
                }
                for clock in workflow.clocks {
                    assert!(
                        i.has(&format!("sla_clock.{}", clock.clock)),
                        "sla_clock.{} in {}",
                        clock.clock,
                        locale.code()
                    );
                }
            }
        }
    }

    /// Literal keys the templates ask for: `p.t("…")` and `p.tc("prefix.", …)` families.
    fn template_keys() -> (Vec<String>, Vec<String>) {
        let mut keys = Vec::new();
        let mut prefixes = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (marker, out) in [("p.t(\"", &mut keys), ("p.tc(\"", &mut prefixes)] {
                for part in text.split(marker).skip(1) {
                    out.push(part[..part.find('"').unwrap()].to_owned());
                }
            }
        }
        (keys, prefixes)
    }

    #[test]
    fn every_template_key_is_translated_in_both_languages() {
        let (keys, prefixes) = template_keys();
        assert!(keys.len() > 100, "found {} keys", keys.len());
        for locale in Locale::ALL {
            let i = I18n(locale);
            for key in &keys {
                assert!(i.has(key), "{key} missing in {}", locale.code());
            }
            // Each family a template translates by code: every code of it exists.
            let timeline_status: Vec<&str> = crate::complaints::model::KINDS
                .iter()
                .copied()
                .chain(crate::workflow::ALL.iter().flat_map(|w| w.states.iter().copied()))
                // Bills, payments (their channel) and cost control on the timeline.
                .chain(["issued", "cancelled", "booked", "reversed"])
                .chain(crate::payments::model::CHANNELS)
                .chain(["low_balance", "disconnection_ordered", "reconnection_ordered"])
                .collect();
            let work_order_states: Vec<&str> =
                [&crate::workflow::REPAIR, &crate::workflow::EXPANSION, &crate::workflow::TASK]
                    .iter()
                    .flat_map(|w| w.states.iter().copied())
                    .collect();
            let families: Vec<(&str, &[&str])> = vec![
                ("timeline_status.", &timeline_status),
                ("timeline_kind.", &["contact", "work_order", "bill", "payment", "cost_control"]),
                ("payment_channel.", &crate::payments::model::CHANNELS),
                ("allocation_part.", &["bill", "late_fee"]),
                ("arrears.", &crate::payments::model::AGE_BUCKETS),
                ("reading_flag.", &crate::readings::model::FLAGS),
                ("reading_kind.", &crate::readings::model::KINDS),
                ("bill_status.", &["issued", "cancelled"]),
                ("bill_line.", &crate::billing::calc::LINE_KINDS),
                ("skip_reason.", &crate::billing::run::SKIP_REASONS),
                ("run_status.", &["running", "done", "failed"]),
                ("energy_kind.", &crate::billing::tariff_form::ENERGY_KINDS),
                ("basic_kind.", &crate::billing::tariff_form::BASIC_KINDS),
                ("cost_control.standing_", &["fine", "low", "exhausted"]),
                ("cost_control.command_", &["disconnect", "reconnect"]),
                ("cost_control.command_status_", &["pending", "sent", "done", "failed"]),
                ("calendar_day.", &crate::sla::forms::DAY_KINDS),
                ("weekday.", &["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                ("work_order_kind.", &crate::work_orders::model::KINDS),
                ("work_order_state.", &work_order_states),
                ("priority.", &["1", "2", "3", "4"]),
                ("area_type.", &crate::work_orders::model::AREA_TYPES),
                ("customer_type.", &crate::work_orders::model::CUSTOMER_TYPES),
                ("document.", &crate::work_orders::model::DOCUMENTS),
                ("notice.", &["fault_reported", "repair_progress", "power_restored", "expansion_stage_changed"]),
                // Error codes: every_error_code_is_translated_in_both_languages checks them.
                ("err.", &[]),
                ("contact_kind.", &crate::complaints::model::KINDS),
                ("contact_channel.", &crate::complaints::model::CHANNELS),
                ("contact_subject.", &crate::complaints::model::SUBJECTS),
                ("contact_state.", crate::workflow::CONTACT.states),
                ("contact_action.", &["acknowledge", "start", "resolve", "close", "reopen"]),
                ("satisfaction.", &["1", "2", "3", "4", "5"]),
                ("service_event.", &SERVICE_EVENTS),
                ("sla_clock.", &SLA_CLOCKS),
                ("channel.", &crate::customers::model::CHANNELS),
                ("customers.importance_", &crate::customers::model::IMPORTANCE_GRADES),
                ("customers.status_", &crate::customers::model::STATUSES),
                ("customers.point_status_", &["in_service", "suspended", "removed"]),
                ("meters.kind_", &["mechanical", "smart", "prepaid"]),
                (
                    "audit.action.",
                    &[
                        "create",
                        "update",
                        "login",
                        "login_failed",
                        "logout",
                        "add_contact",
                        "remove_contact",
                        "accept",
                        "reject",
                        "cancel",
                        "reissue",
                        "reverse",
                        "start",
                        "end",
                        "delete",
                    ],
                ),
                (
                    "audit.entity.",
                    &[
                        "customer",
                        "user",
                        "session",
                        "tenant",
                        "api_key",
                        "meter_reading",
                        "bill",
                        "bill_run",
                        "payment",
                        "tariff_version",
                        "billing_settings",
                        "service_calendar",
                        "calendar_day",
                        "sla_limits",
                        "cost_control",
                    ],
                ),
                ("lang.", &["zh-CN", "en"]),
            ];
            for prefix in &prefixes {
                let (_, codes) =
                    families.iter().find(|(p, _)| p == prefix).unwrap_or_else(|| panic!("unknown family {prefix}"));
                for code in *codes {
                    assert!(i.has(&format!("{prefix}{code}")), "{prefix}{code} missing in {}", locale.code());
                }
            }
            for role in crate::staff::Role::API_KEY_ROLES.into_iter().chain([crate::staff::Role::PlatformAdmin]) {
                assert!(i.has(&role.label_key()));
            }
        }
    }

    #[test]
    fn every_error_code_is_translated_in_both_languages() {
        let mut codes = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Codes appear as the second argument of FieldErrors::add and in AppError::Conflict.
            for part in text.split(".add(").skip(1) {
                let call = &part[..part.find(')').unwrap_or(0)];
                if let Some(code) = call.rsplit(", \"").next().filter(|_| call.contains(", \"")) {
                    codes.push(code.trim_end_matches('"').to_owned());
                }
            }
            for marker in ["Conflict(\"", "Refused(\""] {
                for part in text.split(marker).skip(1) {
                    codes.push(part[..part.find('"').unwrap()].to_owned());
                }
            }
        }
        assert!(codes.len() > 20, "found {codes:?}");
        for locale in Locale::ALL {
            for code in &codes {
                assert!(I18n(locale).has(&format!("err.{code}")), "err.{code} missing in {}", locale.code());
            }
            for title in [
                "not_found",
                "unauthenticated",
                "forbidden",
                "invalid",
                "conflict",
                "too_many_requests",
                "bad_request",
                "internal",
            ] {
                assert!(I18n(locale).has(&format!("err.title.{title}")));
            }
        }
    }
}
