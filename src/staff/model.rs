//! Roles and what each may do. The one permission table of gridcrm.

use serde::{Deserialize, Serialize};

use crate::web::error::FieldErrors;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CounterStaff,
    AccountManager,
    Supervisor,
    TenantAdmin,
    PlatformAdmin,
    /// The meter system's API key: it polls and acknowledges connection
    /// orders, and nothing else. Never a person's role.
    MeterSystem,
}

/// Something a handler needs the caller to be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    ReadCustomers,
    EditCustomers,
    ManageUsers,
    ReadAudit,
    ManageApiKeys,
    ManageTenants,
    /// Register and work contacts and work orders.
    HandleService,
    /// Watch the board and statistics, act on others' items, supervise orders.
    SuperviseService,
    /// Edit the working calendar, holidays and time limits.
    ManageServiceSettings,
    /// Enter and import meter readings.
    EnterReadings,
    /// Take payments at the counter, and book channel notifications.
    TakePayments,
    /// Run bills, cancel and re-issue them; review flagged readings.
    Bill,
    /// Edit tariff versions and billing settings.
    ManageTariffs,
    /// Take disconnection and reconnection orders and report their results.
    RelayMeterCommands,
}

impl Permission {
    pub const ALL: [Permission; 14] = {
        use Permission::*;
        [
            ReadCustomers,
            EditCustomers,
            ManageUsers,
            ReadAudit,
            ManageApiKeys,
            ManageTenants,
            HandleService,
            SuperviseService,
            ManageServiceSettings,
            EnterReadings,
            TakePayments,
            Bill,
            ManageTariffs,
            RelayMeterCommands,
        ]
    };
}

impl Role {
    pub const TENANT_ROLES: [Role; 4] = [Role::CounterStaff, Role::AccountManager, Role::Supervisor, Role::TenantAdmin];
    /// The roles an API key may have: a tenant's staff roles and the meter system's.
    pub const API_KEY_ROLES: [Role; 5] =
        [Role::CounterStaff, Role::AccountManager, Role::Supervisor, Role::TenantAdmin, Role::MeterSystem];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CounterStaff => "counter_staff",
            Role::AccountManager => "account_manager",
            Role::Supervisor => "supervisor",
            Role::TenantAdmin => "tenant_admin",
            Role::PlatformAdmin => "platform_admin",
            Role::MeterSystem => "meter_system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::API_KEY_ROLES.into_iter().chain([Role::PlatformAdmin]).find(|r| r.as_str() == s)
    }

    /// Supervisors watch and report; they read the archive but do not edit it.
    /// Platform admins run tenants and see no tenant's customers.
    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            ReadCustomers => matches!(self, CounterStaff | AccountManager | Supervisor | TenantAdmin),
            EditCustomers => matches!(self, CounterStaff | AccountManager | TenantAdmin),
            ManageUsers | ReadAudit | ManageApiKeys => self == TenantAdmin,
            ManageTenants => self == PlatformAdmin,
            HandleService => matches!(self, CounterStaff | AccountManager | Supervisor | TenantAdmin),
            SuperviseService => matches!(self, Supervisor | TenantAdmin),
            ManageServiceSettings => self == TenantAdmin,
            EnterReadings => matches!(self, CounterStaff | AccountManager | Supervisor | TenantAdmin),
            TakePayments => matches!(self, CounterStaff | Supervisor | TenantAdmin),
            Bill => matches!(self, Supervisor | TenantAdmin),
            ManageTariffs => self == TenantAdmin,
            RelayMeterCommands => self == MeterSystem,
        }
    }

    pub fn label_key(self) -> String {
        format!("role.{}", self.as_str())
    }
}

/// A username: 2–40 characters of lower-case letters, digits, dot, dash, underscore.
pub fn parse_username(raw: &str, errors: &mut FieldErrors) -> String {
    let name = raw.trim().to_lowercase();
    let valid = (2..=40).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid {
        errors.add("username", "username_format");
    }
    name
}

/// A password needs at least 10 characters (OWASP ASVS 2.1.1 asks for 8+, we ask
/// a little more) and no more than 128.
pub fn check_password(raw: &str, field: &'static str, errors: &mut FieldErrors) {
    let n = raw.chars().count();
    if n < 10 {
        errors.add(field, "password_too_short");
    } else if n > 128 {
        errors.add(field, "too_long");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tenant_admins_manage_users_and_read_audit() {
        for role in Role::TENANT_ROLES {
            assert_eq!(role.can(Permission::ManageUsers), role == Role::TenantAdmin);
            assert_eq!(role.can(Permission::ReadAudit), role == Role::TenantAdmin);
        }
        assert!(!Role::PlatformAdmin.can(Permission::ManageUsers));
    }

    #[test]
    fn the_meter_system_relays_commands_and_does_nothing_else() {
        use Permission::*;
        for permission in Permission::ALL {
            assert_eq!(Role::MeterSystem.can(permission), permission == RelayMeterCommands, "{permission:?}");
        }
        assert!(Role::TENANT_ROLES.iter().all(|r| !r.can(RelayMeterCommands)));
        assert_eq!(Role::parse("meter_system"), Some(Role::MeterSystem));
    }

    #[test]
    fn supervisors_read_but_do_not_edit_customers() {
        assert!(Role::Supervisor.can(Permission::ReadCustomers));
        assert!(!Role::Supervisor.can(Permission::EditCustomers));
        assert!(Role::CounterStaff.can(Permission::EditCustomers));
    }

    #[test]
    fn platform_admins_see_no_customers() {
        assert!(!Role::PlatformAdmin.can(Permission::ReadCustomers));
        assert!(Role::PlatformAdmin.can(Permission::ManageTenants));
        assert!(!Role::TenantAdmin.can(Permission::ManageTenants));
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::TENANT_ROLES.into_iter().chain([Role::PlatformAdmin]) {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        let mut errors = FieldErrors::default();
        assert_eq!(parse_username(" Wang.Li ", &mut errors), "wang.li");
        assert!(errors.is_empty());
        parse_username("王丽", &mut errors);
        assert!(errors.has("username"));
    }

    #[test]
    fn short_passwords_are_refused() {
        let mut errors = FieldErrors::default();
        check_password("short", "password", &mut errors);
        assert!(errors.has("password"));
        let mut ok = FieldErrors::default();
        check_password("a long enough one", "password", &mut ok);
        assert!(ok.is_empty());
    }
}
