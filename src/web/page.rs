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
