//! Roles and what each may do: the one permission table of gridcrm, checked
//! once per handler through `CurrentUser::require`.

use serde::{Deserialize, Serialize};

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
    /// See the account managers' workspace: the VIP list, tiers, segments,
    /// portfolios and visits.
    ReadAccounts,
    /// Define segments and recompute them.
    ManageSegments,
    /// Plan and record visits to customers.
    PlanVisits,
    /// Assign or reassign account managers, one by one or in bulk.
    AssignManagers,
    /// Weigh the value-tier factors, and designate VIPs by hand.
    ManageValueTiers,
    /// Record breaches, thefts, deposits and guarantees on a customer.
    RecordCredit,
    /// Rate on demand, put on or take off the poor-credit list by hand,
    /// calibrate and adopt a scorecard.
    ManageCredit,
    /// Make a calibrated scorecard the company's.
    AdoptScorecard,
    /// Redeem a customer's loyalty points for a catalogue item.
    RedeemPoints,
    /// Keep the points catalogue (items, stock) and set the rates and term.
    ManagePoints,
    /// Write the notice rules and the delivery settings (quiet hours, lead times).
    ManageNoticeRules,
    /// Send advice and demand-response notices to an audience by a rule.
    SendNotices,
    /// Watch notice delivery (queues, failures) and send failed notices again.
    MonitorNotices,
    /// Word the company's notices (its own templates per kind, channel and language).
    ManageNoticeTemplates,
    /// Print queued letters and make the queued phone calls of notices.
    HandleStaffNotices,
    /// Plan, change and cancel planned outages (which notify customers).
    ManageOutages,
    /// Record demand response events, invite customers, close and settle them.
    RunDemandResponse,
    /// Edit the reference lists (classes, industries, voltages, tariff
    /// categories, tags) and the reading routes.
    ManageReference,
    /// See the meters due for verification (检定).
    ReadVerificationDue,
    /// Export one person's data and anonymise closed accounts (PIPL).
    ManagePersonalData,
}

impl Permission {
    pub const ALL: [Permission; 34] = {
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
            ReadAccounts,
            ManageSegments,
            PlanVisits,
            AssignManagers,
            ManageValueTiers,
            RecordCredit,
            ManageCredit,
            AdoptScorecard,
            RedeemPoints,
            ManagePoints,
            ManageNoticeRules,
            SendNotices,
            MonitorNotices,
            ManageNoticeTemplates,
            HandleStaffNotices,
            ManageOutages,
            RunDemandResponse,
            ManageReference,
            ReadVerificationDue,
            ManagePersonalData,
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
            ReadAccounts => matches!(self, AccountManager | Supervisor | TenantAdmin),
            ManageSegments | PlanVisits | AssignManagers => matches!(self, AccountManager | TenantAdmin),
            ManageValueTiers => self == TenantAdmin,
            RecordCredit => matches!(self, CounterStaff | AccountManager | Supervisor | TenantAdmin),
            ManageCredit => matches!(self, Supervisor | TenantAdmin),
            AdoptScorecard => self == TenantAdmin,
            RedeemPoints => matches!(self, CounterStaff | Supervisor | TenantAdmin),
            ManagePoints => self == TenantAdmin,
            ManageNoticeRules => self == TenantAdmin,
            SendNotices => matches!(self, AccountManager | TenantAdmin),
            MonitorNotices => matches!(self, Supervisor | TenantAdmin),
            ManageNoticeTemplates => self == TenantAdmin,
            HandleStaffNotices => matches!(self, CounterStaff | AccountManager | Supervisor | TenantAdmin),
            // Supervisors run the service side day to day; admins own the settings.
            ManageOutages => matches!(self, Supervisor | TenantAdmin),
            // Account managers see their customers' invitations and record answers (ReadAccounts).
            RunDemandResponse => matches!(self, Supervisor | TenantAdmin),
            ManageReference => self == TenantAdmin,
            // The counter books the verification visits; supervisors watch the backlog.
            ReadVerificationDue => matches!(self, CounterStaff | Supervisor | TenantAdmin),
            ManagePersonalData => self == TenantAdmin,
        }
    }

    pub fn label_key(self) -> String {
        format!("role.{}", self.as_str())
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
}
