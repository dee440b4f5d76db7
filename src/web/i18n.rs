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

    /// The translation of `key` with named values filled in: ("limit", "1024")
    /// replaces the translation's `%` + `{limit}` marker, rust-i18n's own syntax.
    pub fn t_with(&self, key: &str, values: &[(&str, &str)]) -> String {
        values.iter().fold(self.t(key), |text, (name, value)| text.replace(&format!("%{{{name}}}"), value))
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
            // One date format per language: the day as in [`Self::date`].
            Locale::ZhCn => local.format("%Y年%m月%d日 %H:%M").to_string(),
            Locale::En => local.format("%Y-%m-%d %H:%M").to_string(),
        }
    }
}

/// Inserts thousands separators into a plain decimal string, padding the
/// fraction to `min_fraction` digits.
pub(crate) fn group_thousands(plain: &str, min_fraction: usize) -> String {
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
    fn named_values_fill_their_markers_in_every_locale() {
        for locale in Locale::ALL {
            let text = I18n(locale).t_with("upload.line_too_long", &[("limit", "1024")]);
            assert!(text.contains("1024") && !text.contains('%'), "{text}");
        }
    }

    #[test]
    fn dates_follow_the_locale() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(I18n(Locale::ZhCn).date(d), "2026年03月05日");
        assert_eq!(I18n(Locale::En).date(d), "2026-03-05");
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 5, 6, 30, 0).unwrap();
        assert_eq!(I18n(Locale::ZhCn).datetime(at, chrono_tz::Asia::Shanghai), "2026年03月05日 14:30");
        assert_eq!(I18n(Locale::En).datetime(at, chrono_tz::Asia::Shanghai), "2026-03-05 14:30");
    }
}
