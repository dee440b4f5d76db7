//! Proactive notices (主动服务): the system tells customers about bills,
//! balances, outages and repairs before they have to call.
//!
//! - Events: a timeline row with a `notice` code reaches `notice_outbox` by a
//!   trigger in the same transaction (migration 0027); planned outages and
//!   dates coming due (bills, meter verification) create notices directly.
//! - Planning (`plan`): the tenant's rules turn events into notices, one per
//!   customer and channel, keyed by [`idempotency_key`], so that planning
//!   again creates nothing twice.
//! - Delivery (`dispatch`, `channels`): claimed with `FOR UPDATE SKIP
//!   LOCKED`, held quiet until [`quiet_hours`] end (urgent kinds excepted),
//!   sent, retried with backoff, and on failure handed to the customer's next
//!   channel ([`next_channel`]).
//!
//! This file holds the vocabulary and the rules (pure, unit tested);
//! `template` the wording, `db` the SQL.

pub mod bill_mail;
pub mod channels;
pub mod db;
pub mod delivery;
pub mod dispatch;
pub mod hub;
pub mod monitor;
pub mod outages;
pub mod outages_api;
pub mod outages_db;
pub mod outages_pages;
pub mod personal_bill;
pub mod plan;
pub mod preferences;
pub mod preferences_api;
pub mod preferences_db;
pub mod preferences_pages;
pub mod receipts;
pub mod rules;
pub mod rules_db;
pub mod rules_pages;
pub mod staff_channels;
pub mod template;
pub mod templates_db;
pub mod templates_pages;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

/// What a notice is about. The codes are stored and translated (`notice.<code>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    BillIssued,
    PaymentDue,
    Overdue,
    LowBalance,
    DisconnectionOrdered,
    ReconnectionOrdered,
    PlannedOutage,
    FaultReported,
    RepairProgress,
    PowerRestored,
    ExpansionStageChanged,
    MeterVerificationDue,
    ContractExpiry,
    SafeUseAdvice,
    EnergySavingAdvice,
    DemandResponseRequest,
    DemandResponseResult,
    PersonalBill,
    /// A sudden lasting change in a large customer's load (src/anomalies).
    LoadAnomaly,
    /// A one-time code for the customer portal (src/portal), asked for by
    /// whoever registers or links the account.
    PortalCode,
    /// The day before an appointment at a business hall (src/appointments).
    AppointmentReminder,
}

/// How a notice comes about, which decides what a rule for it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A timeline event (through the outbox): the customers it concerns.
    Event,
    /// A date coming due, found by the daily scan; a rule's offset is
    /// measured from that date (negative: before it).
    Due,
    /// Sent to an audience when staff say so (advice). Demand response
    /// requests and results are events: `demand_response` puts them on the
    /// invited customers' timelines.
    Broadcast,
    /// Made by its own feature (planned outages, the personalised bill).
    Own,
}

impl Kind {
    pub const ALL: [Kind; 21] = [
        Kind::BillIssued,
        Kind::PaymentDue,
        Kind::Overdue,
        Kind::LowBalance,
        Kind::DisconnectionOrdered,
        Kind::ReconnectionOrdered,
        Kind::PlannedOutage,
        Kind::FaultReported,
        Kind::RepairProgress,
        Kind::PowerRestored,
        Kind::ExpansionStageChanged,
        Kind::MeterVerificationDue,
        Kind::ContractExpiry,
        Kind::SafeUseAdvice,
        Kind::EnergySavingAdvice,
        Kind::DemandResponseRequest,
        Kind::DemandResponseResult,
        Kind::PersonalBill,
        Kind::LoadAnomaly,
        Kind::PortalCode,
        Kind::AppointmentReminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BillIssued => "bill_issued",
            Kind::PaymentDue => "payment_due",
            Kind::Overdue => "overdue",
            Kind::LowBalance => "low_balance",
            Kind::DisconnectionOrdered => "disconnection_ordered",
            Kind::ReconnectionOrdered => "reconnection_ordered",
            Kind::PlannedOutage => "planned_outage",
            Kind::FaultReported => "fault_reported",
            Kind::RepairProgress => "repair_progress",
            Kind::PowerRestored => "power_restored",
            Kind::ExpansionStageChanged => "expansion_stage_changed",
            Kind::MeterVerificationDue => "meter_verification_due",
            Kind::ContractExpiry => "contract_expiry",
            Kind::SafeUseAdvice => "safe_use_advice",
            Kind::EnergySavingAdvice => "energy_saving_advice",
            Kind::DemandResponseRequest => "demand_response_request",
            Kind::DemandResponseResult => "demand_response_result",
            Kind::PersonalBill => "personal_bill",
            Kind::LoadAnomaly => "load_anomaly",
            Kind::PortalCode => "portal_code",
            Kind::AppointmentReminder => "appointment_reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn source(self) -> Source {
        match self {
            Kind::BillIssued
            | Kind::LowBalance
            | Kind::DisconnectionOrdered
            | Kind::ReconnectionOrdered
            | Kind::FaultReported
            | Kind::RepairProgress
            | Kind::PowerRestored
            | Kind::ExpansionStageChanged
            | Kind::LoadAnomaly
            | Kind::DemandResponseRequest
            | Kind::DemandResponseResult => Source::Event,
            Kind::PaymentDue | Kind::Overdue | Kind::MeterVerificationDue | Kind::ContractExpiry => Source::Due,
            Kind::SafeUseAdvice | Kind::EnergySavingAdvice => Source::Broadcast,
            Kind::PlannedOutage | Kind::PersonalBill | Kind::PortalCode | Kind::AppointmentReminder => Source::Own,
        }
    }

    /// Service-critical: the customer cannot opt out (their supply is at
    /// stake, or they asked for it: a portal code). Migrations 0027 and 0053
    /// refuse these in `notice_opt_outs` too.
    pub fn critical(self) -> bool {
        matches!(self, Kind::PlannedOutage | Kind::DisconnectionOrdered | Kind::LowBalance | Kind::PortalCode)
    }

    /// Delivered at once, quiet hours or not: the supply is off or about to
    /// be, or has just come back.
    pub fn urgent(self) -> bool {
        matches!(
            self,
            Kind::DisconnectionOrdered
                | Kind::ReconnectionOrdered
                | Kind::FaultReported
                | Kind::PowerRestored
                | Kind::PortalCode
        )
    }
}

/// Where a notice is: waiting (or held for quiet hours or a retry), being
/// sent, handed over, confirmed by the gateway, given up, or withdrawn (a
/// changed outage withdraws what it had queued).
pub const STATUSES: [&str; 6] = ["queued", "sending", "sent", "delivered", "failed", "cancelled"];

/// The channels, in the archive's vocabulary (`customers.preferred_channels`).
pub const CHANNELS: [&str; 5] = ["sms", "email", "letter", "phone", "wechat"];

/// Channels that reach a customer without a stored address (a letter goes to
/// the supply address; a phone task is staff calling the archive's number).
pub const STAFF_CHANNELS: [&str; 2] = ["letter", "phone"];

/// The channels tried when a customer has stated no preference.
pub const DEFAULT_CHANNELS: [&str; 2] = ["sms", "letter"];

/// One notice per kind, customer, event and channel, ever: the key the
/// outbox insert conflicts on, passed to gateways that accept one and used as
/// the mail's Message-ID.
pub fn idempotency_key(kind: Kind, customer: Uuid, event_ref: &str, channel: &str) -> String {
    format!("{}:{}:{}:{}", kind.as_str(), customer.simple(), event_ref, channel)
}

/// The channel to try after `failed`, from what is left of the order: the
/// first one not yet tried.
pub fn next_channel<'a>(fallback: &'a [String], tried: &[String]) -> Option<&'a str> {
    fallback.iter().find(|c| !tried.contains(c)).map(String::as_str)
}

/// A daily window in which nothing but urgent notices goes out, in local
/// time; `from == to` means none. A window may cross midnight (21:00–08:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub from: NaiveTime,
    pub to: NaiveTime,
}

impl QuietHours {
    fn contains(self, t: NaiveTime) -> bool {
        if self.from == self.to {
            false
        } else if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

/// When a notice due at `at` may go out: `at` itself, or the end of the
/// quiet window it falls in, in the zone `tz` (the tenant's). The customer's
/// own window, where they set one, applies as well.
pub fn quiet_hours(at: DateTime<Utc>, tz: Tz, windows: &[QuietHours]) -> DateTime<Utc> {
    let mut at = at;
    // Two windows can chain (a tenant's ends inside the customer's); a few
    // rounds settle any pair.
    for _ in 0..4 {
        let local = at.with_timezone(&tz);
        let Some(w) = windows.iter().find(|w| w.contains(local.time())) else {
            return at;
        };
        let mut day = local.date_naive();
        if local.time() >= w.to {
            day = day.succ_opt().unwrap_or(day);
        }
        // A window end that falls in a daylight-saving gap moves an hour on.
        let end = day.and_time(w.to);
        at = tz
            .from_local_datetime(&end)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(end + chrono::Duration::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(at + chrono::Duration::hours(1));
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    const NIGHT: QuietHours =
        QuietHours { from: NaiveTime::from_hms_opt(21, 0, 0).unwrap(), to: NaiveTime::from_hms_opt(8, 0, 0).unwrap() };

    #[test]
    fn kinds_round_trip_and_only_supply_kinds_are_critical() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        let critical: Vec<_> = Kind::ALL.into_iter().filter(|k| k.critical()).map(Kind::as_str).collect();
        assert_eq!(critical, ["low_balance", "disconnection_ordered", "planned_outage", "portal_code"]);
        assert!(Kind::PowerRestored.urgent() && !Kind::BillIssued.urgent() && !Kind::PlannedOutage.urgent());
        assert_eq!(Kind::parse("bill"), None);
    }

    #[test]
    fn the_idempotency_key_names_kind_customer_event_and_channel() {
        let c = Uuid::parse_str("0191c0de-0000-7000-8000-000000000001").unwrap();
        let key = idempotency_key(Kind::PlannedOutage, c, "outage:x:2", "sms");
        assert_eq!(key, "planned_outage:0191c0de000070008000000000000001:outage:x:2:sms");
        assert_ne!(key, idempotency_key(Kind::PlannedOutage, c, "outage:x:2", "email"));
        assert_ne!(key, idempotency_key(Kind::PlannedOutage, c, "outage:x:3", "sms"));
    }

    #[test]
    fn a_failed_channel_falls_back_to_the_next_untried_one() {
        let order: Vec<String> = ["email", "sms", "letter"].map(String::from).into();
        assert_eq!(next_channel(&order, &["email".into()]), Some("sms"));
        assert_eq!(next_channel(&order, &["email".into(), "sms".into()]), Some("letter"));
        assert_eq!(next_channel(&order, &order), None);
        assert_eq!(next_channel(&[], &[]), None);
    }

    #[test]
    fn quiet_hours_cross_midnight_in_the_tenants_zone() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        // 14:00 UTC is 22:00 in Shanghai: held to 08:00 the next morning (00:00 UTC).
        assert_eq!(quiet_hours(utc("2026-03-01T14:00:00Z"), shanghai, &[NIGHT]), utc("2026-03-02T00:00:00Z"));
        // 19:30 UTC is 03:30: held to 08:00 the same local day.
        assert_eq!(quiet_hours(utc("2026-03-01T19:30:00Z"), shanghai, &[NIGHT]), utc("2026-03-02T00:00:00Z"));
        // 02:00 UTC is 10:00: out at once.
        assert_eq!(quiet_hours(utc("2026-03-02T02:00:00Z"), shanghai, &[NIGHT]), utc("2026-03-02T02:00:00Z"));
        // A tenant on UTC: the same instant is 14:00 there, outside the window.
        let utc_zone: Tz = "UTC".parse().unwrap();
        assert_eq!(quiet_hours(utc("2026-03-01T14:00:00Z"), utc_zone, &[NIGHT]), utc("2026-03-01T14:00:00Z"));
    }

    #[test]
    fn a_window_inside_one_day_and_an_empty_window() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let lunch = QuietHours { from: t(12, 0), to: t(13, 30) };
        assert_eq!(quiet_hours(utc("2026-03-02T04:15:00Z"), shanghai, &[lunch]), utc("2026-03-02T05:30:00Z"));
        let none = QuietHours { from: t(9, 0), to: t(9, 0) };
        assert_eq!(quiet_hours(utc("2026-03-02T01:00:00Z"), shanghai, &[none]), utc("2026-03-02T01:00:00Z"));
    }

    #[test]
    fn the_customers_window_chains_onto_the_tenants() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let late_riser = QuietHours { from: t(7, 0), to: t(10, 0) };
        // 23:00 local: the tenant's night ends 08:00, inside the customer's 07–10, so 10:00 (02:00 UTC).
        assert_eq!(
            quiet_hours(utc("2026-03-01T15:00:00Z"), shanghai, &[NIGHT, late_riser]),
            utc("2026-03-02T02:00:00Z")
        );
    }

    #[test]
    fn a_window_ending_in_a_daylight_saving_gap_ends_an_hour_later() {
        // New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist.
        let ny: Tz = "America/New_York".parse().unwrap();
        let w = QuietHours { from: t(1, 0), to: t(2, 30) };
        // 01:15 EST = 06:15 UTC; the window would end at 02:30, which is 03:30 EDT = 07:30 UTC.
        assert_eq!(quiet_hours(utc("2026-03-08T06:15:00Z"), ny, &[w]), utc("2026-03-08T07:30:00Z"));
    }
}
