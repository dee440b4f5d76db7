//! What every page's layout needs: translation, the signed-in user, the CSRF
//! token for its forms, and formatting in the tenant's time zone.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::web::{access::Role, auth::CurrentUser, i18n::I18n};

pub struct Page {
    pub i: I18n,
    pub title: String,
    pub user: Option<PageUser>,
    pub csrf: String,
    pub tz: Tz,
}

pub struct PageUser {
    pub display_name: String,
    pub role: Role,
    pub tenant_name: String,
    pub is_platform: bool,
}

impl Page {
    pub fn new(i: I18n, user: Option<&CurrentUser>, title: &str) -> Self {
        Self {
            i,
            title: title.to_owned(),
            user: user.map(|u| PageUser {
                display_name: u.label.clone(),
                role: u.role,
                tenant_name: u.tenant_name.clone(),
                is_platform: u.is_platform,
            }),
            csrf: user.map(|u| u.csrf_token.clone()).unwrap_or_default(),
            tz: user.map(|u| u.tz).unwrap_or(chrono_tz::Asia::Shanghai),
        }
    }

    /// A page for a signed-in user, titled by a translation key.
    pub fn for_user(user: &CurrentUser, title_key: &str) -> Self {
        let i = I18n(user.locale);
        let title = i.t(title_key);
        Self::new(i, Some(user), &title)
    }

    pub fn t(&self, key: &str) -> String {
        self.i.t(key)
    }
    /// Translates a code from a family of keys, e.g. `tc("channel.", "sms")`.
    pub fn tc(&self, prefix: &str, code: impl AsRef<str>) -> String {
        self.i.t(&format!("{prefix}{}", code.as_ref()))
    }
    /// The label of a recorded field, or its name where it has none.
    pub fn field_label(&self, field: &str) -> String {
        let key = format!("field.{field}");
        if self.i.has(&key) { self.i.t(&key) } else { field.to_owned() }
    }
    /// Who did something, as recorded (a person's name, or a system actor
    /// such as the escalation job or a command), in the page's language.
    pub fn actor(&self, label: &str) -> String {
        actor_label(&self.i, label)
    }
    /// A recorded value of `field` (an audit entry's before or after) as a
    /// person reads it: codes of a known family (roles, states, kinds,
    /// channels, reading flags…) translated, yes/no for booleans; lists item
    /// by item; anything else as recorded.
    pub fn audit_value(&self, field: &str, value: &str) -> String {
        audit_value(&self.i, field, value)
    }
    pub fn phone(&self, stored: &str) -> String {
        display_phone(stored)
    }
    pub fn lang(&self) -> &'static str {
        self.i.0.code()
    }
    pub fn money(&self, amount: &Decimal) -> String {
        self.i.money(*amount)
    }
    pub fn number(&self, value: &Decimal) -> String {
        self.i.number(*value)
    }
    /// The colon after a label: full-width in Chinese (户名：), a colon and a
    /// space in English.
    pub fn colon(&self) -> &'static str {
        match self.i.0 {
            crate::web::i18n::Locale::ZhCn => "：",
            crate::web::i18n::Locale::En => ": ",
        }
    }
    /// A count of things, grouped by thousands: 12,345.
    pub fn count(&self, n: impl std::fmt::Display) -> String {
        crate::web::i18n::group_thousands(&n.to_string(), 0)
    }
    pub fn date(&self, date: &NaiveDate) -> String {
        self.i.date(*date)
    }
    /// A billing period or other month: 2026年11月 / 2026-11.
    pub fn month(&self, month: &NaiveDate) -> String {
        match self.i.0 {
            crate::web::i18n::Locale::ZhCn => month.format("%Y年%m月").to_string(),
            crate::web::i18n::Locale::En => month.format("%Y-%m").to_string(),
        }
    }
    pub fn datetime(&self, at: &DateTime<Utc>) -> String {
        self.i.datetime(*at, self.tz)
    }
    fn can(&self, permission: crate::web::access::Permission) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.can(permission))
    }
    pub fn can_manage_personal_data(&self) -> bool {
        self.can(crate::web::access::Permission::ManagePersonalData)
    }
    pub fn can_manage_users(&self) -> bool {
        self.can(crate::web::access::Permission::ManageUsers)
    }
    pub fn can_read_customers(&self) -> bool {
        self.can(crate::web::access::Permission::ReadCustomers)
    }
    pub fn can_edit_customers(&self) -> bool {
        self.can(crate::web::access::Permission::EditCustomers)
    }
    pub fn can_handle_service(&self) -> bool {
        self.can(crate::web::access::Permission::HandleService)
    }
    pub fn can_supervise(&self) -> bool {
        self.can(crate::web::access::Permission::SuperviseService)
    }
    pub fn can_manage_service_settings(&self) -> bool {
        self.can(crate::web::access::Permission::ManageServiceSettings)
    }
    pub fn can_enter_readings(&self) -> bool {
        self.can(crate::web::access::Permission::EnterReadings)
    }
    pub fn can_take_payments(&self) -> bool {
        self.can(crate::web::access::Permission::TakePayments)
    }
    pub fn can_manage_tariffs(&self) -> bool {
        self.can(crate::web::access::Permission::ManageTariffs)
    }
    pub fn can_bill(&self) -> bool {
        self.can(crate::web::access::Permission::Bill)
    }
    pub fn is_platform_admin(&self) -> bool {
        self.can(crate::web::access::Permission::ManageTenants)
    }
}

/// Renders a template into an HTML response.
pub fn render(template: &impl askama::Template) -> Result<axum::response::Html<String>, crate::web::error::AppError> {
    Ok(axum::response::Html(template.render()?))
}

/// A stored phone for reading aloud at the counter: landlines get a dash
/// after the area code (three digits for 010 and 02x, else four).
pub fn display_phone(stored: &str) -> String {
    if !stored.starts_with('0') || stored.len() < 10 {
        return stored.to_owned();
    }
    let area = if stored.starts_with("01") || stored.starts_with("02") { 3 } else { 4 };
    format!("{}-{}", &stored[..area], &stored[area..])
}

/// System actors' labels as recorded, and their translation keys.
const SYSTEM_ACTORS: [(&str, &str); 3] =
    [("escalation job", "actor.escalation_job"), ("seed --demo", "actor.demo_data"), ("bill-run", "actor.bill_run")];

pub fn actor_label(i: &I18n, label: &str) -> String {
    let system = |what: &str| SYSTEM_ACTORS.iter().find(|(l, _)| *l == what).map(|(_, key)| i.t(key));
    if let Some(name) = system(label) {
        return name;
    }
    if let Some(what) = label.strip_prefix("command line: ") {
        return system(what).unwrap_or_else(|| format!("{}{}", i.t("actor.command_line"), what));
    }
    if let Some(name) = label.strip_prefix("API key ") {
        return format!("{}{}", i.t("actor.api_key"), name);
    }
    if let Some(login) = label.strip_prefix("portal:") {
        return format!("{}{}", i.t("actor.portal"), login);
    }
    label.to_owned()
}

/// The translation families a recorded field's codes come from, tried in order.
const VALUE_FAMILIES: [(&str, &[&str]); 15] = [
    ("role", &["role."]),
    ("locale", &["lang."]),
    ("flags", &["reading_flag."]),
    ("warnings", &["reading_flag."]),
    ("kind", &["contact_kind.", "work_order_kind.", "reading_kind.", "calendar_day."]),
    ("channel", &["contact_channel.", "payment_channel.", "channel."]),
    ("preferred_channels", &["channel."]),
    ("subject", &["contact_subject."]),
    ("state", &["contact_state.", "work_order_state."]),
    ("status", &["bill_status.", "notice_status.", "timeline_status."]),
    ("priority", &["priority."]),
    ("area_type", &["area_type."]),
    ("customer_type", &["customer_type."]),
    ("importance", &["customers.importance_"]),
    ("action", &["contact_action.", "service_event."]),
];

pub fn audit_value(i: &I18n, field: &str, value: &str) -> String {
    match value {
        "true" => return i.t("common.answer_yes"),
        "false" => return i.t("common.answer_no"),
        _ => {}
    }
    let Some((_, families)) = VALUE_FAMILIES.iter().find(|(f, _)| *f == field) else {
        return value.to_owned();
    };
    let one = |code: &str| {
        let is_code = !code.is_empty()
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        families
            .iter()
            .map(|prefix| format!("{prefix}{code}"))
            .find(|key| is_code && i.has(key))
            .map_or_else(|| code.to_owned(), |key| i.t(&key))
    };
    let separator = if i.0 == crate::web::i18n::Locale::ZhCn { "、" } else { ", " };
    value.split(", ").map(one).collect::<Vec<_>>().join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landlines_show_their_area_code() {
        assert_eq!(display_phone("057182345678"), "0571-82345678");
        assert_eq!(display_phone("01065001234"), "010-65001234");
        assert_eq!(display_phone("13800138000"), "13800138000");
    }
}
