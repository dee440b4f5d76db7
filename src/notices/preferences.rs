//! A customer's notice preferences (language, addresses the archive lacks,
//! the kinds they opted out of, the personalised bill), checked in plain
//! code: one check for the page's form and the API's JSON.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::web::error::FieldErrors;

pub const LANGS: [&str; 2] = ["zh-CN", "en"];
pub const BILL_CONTENTS: [&str; 3] = ["off", "summary", "itemised"];
/// The channels a personalised bill can go by (a bill is not read out on the phone).
pub const BILL_CHANNELS: [&str; 4] = ["sms", "email", "letter", "wechat"];

/// The whole preference, as the API takes and gives it; absent fields are
/// empty (`null`), opt-outs are kind codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = NoticePreferences)]
pub struct Preferences {
    /// `zh-CN` or `en`; null: the company's default language.
    #[serde(default)]
    #[schema(schema_with = lang_schema)]
    pub lang: Option<String>,
    /// Overrides the primary contact's email.
    #[serde(default)]
    #[schema(
        pattern = r"^([^@\s\u0000-\u001F\u007F-\u009F]+@[^@\s.\u0000-\u001F\u007F-\u009F]+(\.[^@\s.\u0000-\u001F\u007F-\u009F]+)+)?$",
        max_length = 254
    )]
    pub email: Option<String>,
    /// Overrides the customer's phone for SMS: digits, an optional leading +.
    #[serde(default)]
    #[schema(pattern = r"^(\+?[0-9]{5,20})?$")]
    pub sms_phone: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^[^\s\u0000-\u001F\u007F-\u009F]{0,128}$")]
    pub wechat_openid: Option<String>,
    /// Kind codes the customer does not want; service-critical kinds
    /// (`planned_outage`, `disconnection_ordered`, `low_balance`) are refused.
    #[serde(default)]
    #[schema(schema_with = opt_out_schema)]
    pub opt_outs: Vec<String>,
    /// The personalised bill: `off`, `summary` or `itemised` (default off).
    #[serde(default = "off")]
    #[schema(schema_with = bill_content_schema)]
    pub bill_content: String,
    /// The day of the month it goes out, 1–28 (required unless off).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 28)]
    pub bill_day: Option<i64>,
    /// `sms`, `email`, `letter` or `wechat` (required unless off); the
    /// customer needs an address on it.
    #[serde(default)]
    #[schema(schema_with = bill_channel_schema)]
    pub bill_channel: Option<String>,
}

fn lang_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&LANGS)
}

/// The kinds a customer may opt out of: every one but the service-critical.
fn opt_out_schema() -> utoipa::openapi::schema::Schema {
    let kinds: Vec<&str> = Kind::ALL.into_iter().filter(|k| !k.critical()).map(Kind::as_str).collect();
    crate::api::code_list(&kinds, false)
}

fn bill_content_schema() -> utoipa::openapi::schema::Schema {
    crate::api::codes(&BILL_CONTENTS)
}

fn bill_channel_schema() -> utoipa::openapi::schema::Schema {
    crate::api::optional_codes(&BILL_CHANNELS)
}

fn off() -> String {
    "off".to_owned()
}

/// What the archive already holds for reaching the customer, without the
/// preference's own addresses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Archive {
    pub has_phone: bool,
    pub has_contact_email: bool,
    pub has_address: bool,
}

/// The page's form: every field as typed; `opt_outs` repeats.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    pub lang: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub sms_phone: String,
    #[serde(default)]
    pub wechat_openid: String,
    #[serde(default)]
    pub opt_outs: Vec<String>,
    #[serde(default)]
    pub bill_content: String,
    #[serde(default)]
    pub bill_day: String,
    #[serde(default)]
    pub bill_channel: String,
}

impl PreferencesForm {
    /// The form's values as a preference (a day that is no number is named).
    pub fn draft(&self, errors: &mut FieldErrors) -> Preferences {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let bill_day = match self.bill_day.trim() {
            "" => None,
            d => match d.parse::<i64>() {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.add("bill_day", "notice_bill_day_range");
                    None
                }
            },
        };
        Preferences {
            lang: text(&self.lang),
            email: text(&self.email),
            sms_phone: text(&self.sms_phone),
            wechat_openid: text(&self.wechat_openid),
            opt_outs: self.opt_outs.clone(),
            bill_content: text(&self.bill_content).unwrap_or_else(off),
            bill_day,
            bill_channel: text(&self.bill_channel),
        }
    }

    pub fn from_preferences(p: &Preferences) -> Self {
        Self {
            lang: p.lang.clone().unwrap_or_default(),
            email: p.email.clone().unwrap_or_default(),
            sms_phone: p.sms_phone.clone().unwrap_or_default(),
            wechat_openid: p.wechat_openid.clone().unwrap_or_default(),
            opt_outs: p.opt_outs.clone(),
            bill_content: p.bill_content.clone(),
            bill_day: p.bill_day.map(|d| d.to_string()).unwrap_or_default(),
            bill_channel: p.bill_channel.clone().unwrap_or_default(),
        }
    }
}

/// A plausible email address: something@domain.tld, no spaces, 3–254 characters.
pub fn email_ok(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else { return false };
    (3..=254).contains(&e.chars().count())
        && !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An SMS number as stored: spaces and dashes dropped, then an optional +
/// and 5–20 digits.
pub fn sms_phone(raw: &str) -> Option<String> {
    let s: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = s.strip_prefix('+').unwrap_or(&s);
    ((5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// Checks a preference and returns it as stored: trimmed, opt-outs sorted
/// and without repeats, day and channel dropped when the bill is off and
/// they were not given.
pub fn check(draft: &Preferences, archive: Archive, mut errors: FieldErrors) -> Result<Preferences, FieldErrors> {
    let mut out = Preferences { bill_content: draft.bill_content.trim().to_owned(), ..Default::default() };
    if let Some(lang) = draft.lang.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        if LANGS.contains(&lang) {
            out.lang = Some(lang.to_owned());
        } else {
            errors.add("lang", "unknown_code");
        }
    }
    if let Some(email) = draft.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        if email_ok(email) {
            out.email = Some(email.to_owned());
        } else {
            errors.add("email", "email_format");
        }
    }
    if let Some(phone) = draft.sms_phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        match sms_phone(phone) {
            Some(p) => out.sms_phone = Some(p),
            None => errors.add("sms_phone", "notice_sms_phone_format"),
        }
    }
    if let Some(id) = draft.wechat_openid.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        if id.chars().count() > 128 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.add("wechat_openid", "notice_openid_format");
        } else {
            out.wechat_openid = Some(id.to_owned());
        }
    }
    for code in &draft.opt_outs {
        match Kind::parse(code.trim()) {
            None => errors.add("opt_outs", "unknown_code"),
            Some(kind) if kind.critical() => errors.add("opt_outs", "notice_opt_out_critical"),
            Some(kind) => {
                if !out.opt_outs.iter().any(|k| k == kind.as_str()) {
                    out.opt_outs.push(kind.as_str().to_owned());
                }
            }
        }
    }
    out.opt_outs.sort();
    if !BILL_CONTENTS.contains(&out.bill_content.as_str()) {
        errors.add("bill_content", "unknown_code");
    }
    let on = out.bill_content != "off";
    match draft.bill_day {
        Some(d) if (1..=28).contains(&d) => out.bill_day = Some(d),
        Some(_) => errors.add("bill_day", "notice_bill_day_range"),
        None if on => errors.add("bill_day", "required"),
        None => {}
    }
    match draft.bill_channel.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if BILL_CHANNELS.contains(&c) => {
            let reachable = match c {
                "email" => out.email.is_some() || archive.has_contact_email,
                "sms" => out.sms_phone.is_some() || archive.has_phone,
                "wechat" => out.wechat_openid.is_some(),
                _ => archive.has_address,
            };
            if on && !reachable {
                errors.add("bill_channel", "notice_channel_no_address");
            }
            out.bill_channel = Some(c.to_owned());
        }
        Some(_) => errors.add("bill_channel", "unknown_code"),
        None if on => errors.add("bill_channel", "required"),
        None => {}
    }
    errors.finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: Archive = Archive { has_phone: true, has_contact_email: false, has_address: true };

    fn fields(r: Result<Preferences, FieldErrors>) -> Vec<(String, &'static str)> {
        r.err().map(|e| e.iter().map(|e| (e.field.clone(), e.code)).collect()).unwrap_or_default()
    }

    #[test]
    fn a_complete_preference_is_trimmed_and_sorted() {
        let form = PreferencesForm {
            lang: "en".into(),
            email: " li@example.com ".into(),
            sms_phone: "138-0013 8000".into(),
            wechat_openid: "".into(),
            opt_outs: vec!["safe_use_advice".into(), "energy_saving_advice".into(), "safe_use_advice".into()],
            bill_content: "itemised".into(),
            bill_day: "5".into(),
            bill_channel: "email".into(),
        };
        let mut errors = FieldErrors::default();
        let draft = form.draft(&mut errors);
        let p = check(&draft, FULL, errors).unwrap();
        assert_eq!(p.email.as_deref(), Some("li@example.com"));
        assert_eq!(p.sms_phone.as_deref(), Some("13800138000"));
        assert_eq!(p.opt_outs, ["energy_saving_advice", "safe_use_advice"]);
        assert_eq!((p.bill_day, p.bill_channel.as_deref()), (Some(5), Some("email")));
        assert_eq!(PreferencesForm::from_preferences(&p).bill_day, "5");
    }

    #[test]
    fn off_needs_nothing_and_on_needs_a_day_and_a_channel() {
        assert!(
            check(
                &Preferences { bill_content: "off".into(), ..Default::default() },
                Archive::default(),
                FieldErrors::default()
            )
            .is_ok()
        );
        let on = Preferences { bill_content: "summary".into(), ..Default::default() };
        assert_eq!(
            fields(check(&on, FULL, FieldErrors::default())),
            [("bill_day".into(), "required"), ("bill_channel".into(), "required")]
        );
        for day in [0, 29, -3] {
            let p = Preferences { bill_day: Some(day), bill_channel: Some("sms".into()), ..on.clone() };
            assert_eq!(fields(check(&p, FULL, FieldErrors::default())), [("bill_day".into(), "notice_bill_day_range")]);
        }
        let mut errors = FieldErrors::default();
        PreferencesForm { bill_day: "5th".into(), ..Default::default() }.draft(&mut errors);
        assert!(errors.has("bill_day"));
    }

    #[test]
    fn a_channel_needs_an_address_the_customer_has() {
        let base = Preferences { bill_content: "summary".into(), bill_day: Some(1), ..Default::default() };
        let by = |c: &str| Preferences { bill_channel: Some(c.into()), ..base.clone() };
        assert_eq!(
            fields(check(&by("email"), FULL, FieldErrors::default())),
            [("bill_channel".into(), "notice_channel_no_address")]
        );
        let with_contact = Archive { has_contact_email: true, ..FULL };
        assert!(check(&by("email"), with_contact, FieldErrors::default()).is_ok());
        assert!(
            check(&Preferences { email: Some("a@b.cn".into()), ..by("email") }, FULL, FieldErrors::default()).is_ok()
        );
        assert!(check(&by("wechat"), FULL, FieldErrors::default()).is_err());
        assert!(check(&by("sms"), Archive::default(), FieldErrors::default()).is_err());
        assert!(check(&by("letter"), FULL, FieldErrors::default()).is_ok());
        assert_eq!(
            fields(check(&by("phone"), FULL, FieldErrors::default())),
            [("bill_channel".into(), "unknown_code")]
        );
    }

    #[test]
    fn critical_and_unknown_kinds_cannot_be_opted_out_of() {
        for kind in Kind::ALL.into_iter().filter(|k| k.critical()) {
            let p =
                Preferences { opt_outs: vec![kind.as_str().into()], bill_content: "off".into(), ..Default::default() };
            assert_eq!(
                fields(check(&p, FULL, FieldErrors::default())),
                [("opt_outs".into(), "notice_opt_out_critical")]
            );
        }
        let p = Preferences { opt_outs: vec!["spam".into()], bill_content: "off".into(), ..Default::default() };
        assert_eq!(fields(check(&p, FULL, FieldErrors::default())), [("opt_outs".into(), "unknown_code")]);
    }

    #[test]
    fn addresses_have_their_shape() {
        for good in ["a@b.cn", "wang.jianguo+bill@mail.example.com"] {
            assert!(email_ok(good), "{good}");
        }
        for bad in ["", "a@b", "@b.cn", "a b@c.cn", "a@.cn", "a@b.cn.", "ab.cn"] {
            assert!(!email_ok(bad), "{bad}");
        }
        assert_eq!(sms_phone("+86 138 0013 8000").as_deref(), Some("+8613800138000"));
        for bad in ["1234", "138a0013800", "++86138", "123456789012345678901"] {
            assert_eq!(sms_phone(bad), None, "{bad}");
        }
        let p = Preferences {
            lang: Some("fr".into()),
            email: Some("nope".into()),
            sms_phone: Some("x".into()),
            wechat_openid: Some("has space".into()),
            bill_content: "weekly".into(),
            ..Default::default()
        };
        let named: Vec<String> = fields(check(&p, FULL, FieldErrors::default())).into_iter().map(|f| f.0).collect();
        assert_eq!(named, ["lang", "email", "sms_phone", "wechat_openid", "bill_content", "bill_day", "bill_channel"]);
    }
}
