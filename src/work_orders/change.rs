//! Change-of-use transactions (变更用电) as work orders: which kinds there are,
//! what each asks for when it is opened, the documents its review needs, and
//! the arithmetic of settling an account that closes. No database, no HTTP.

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    customers::model::parse_phone,
    web::{
        error::FieldErrors,
        input::{self, visible_text},
    },
    work_orders::model::parse_id,
};

pub const NEW_CONNECTION: &str = "new_connection";

/// The kinds on the `change` workflow (accepted → reviewed → completed).
pub const CHANGE_KINDS: [&str; 8] = [
    "capacity_increase",
    "capacity_reduction",
    "suspension",
    "restoration",
    "transfer_of_ownership",
    "change_of_name",
    "change_of_tariff",
    "account_closing",
];

/// Documents a change of use may need, besides an expansion's.
pub const CHANGE_DOCUMENTS: [&str; 6] = [
    "application_form",
    "identity",
    "new_holder_identity",
    "transfer_agreement",
    "name_change_proof",
    "refund_account",
];

/// Whether a transfer waits for the old holder's debts (settle) or leaves them
/// on the old holder's account (carry).
pub const TRANSFER_ARREARS: [&str; 2] = ["settle", "carry"];

pub fn is_change_kind(kind: &str) -> bool {
    CHANGE_KINDS.contains(&kind)
}

/// Every kind that changes the archive when it completes.
pub fn changes_archive(kind: &str) -> bool {
    kind == NEW_CONNECTION || is_change_kind(kind)
}

/// The step that applies the archive change.
pub fn completing_action(kind: &str) -> Option<&'static str> {
    match kind {
        NEW_CONNECTION => Some("power_on"),
        k if is_change_kind(k) => Some("complete"),
        _ => None,
    }
}

/// The documents the review of a change needs.
pub fn required_documents(kind: &str) -> &'static [&'static str] {
    match kind {
        "capacity_increase" => &["application_form", "identity", "property_proof", "load_list"],
        "transfer_of_ownership" => &["application_form", "identity", "new_holder_identity", "transfer_agreement"],
        "change_of_name" => &["application_form", "identity", "name_change_proof"],
        "account_closing" => &["application_form", "identity", "refund_account"],
        _ => &["application_form", "identity"],
    }
}

/// What a change-of-use order asks for, as typed: the change fields of a
/// work order draft (`WorkOrderDraft::change`).
#[derive(Clone, Debug, Default)]
pub struct ChangeDraft {
    pub new_holder_id: Option<String>,
    pub new_holder_name: Option<String>,
    pub new_holder_phone: Option<String>,
    pub new_name: Option<String>,
    pub tariff_code: Option<String>,
    pub point_address: Option<String>,
    pub point_voltage_code: Option<String>,
    pub meter_serial: Option<String>,
    pub meter_multiplier: Option<String>,
    pub initial_reading: Option<String>,
}

/// A change request that passed the checks a form can make.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValidChange {
    pub new_holder_id: Option<Uuid>,
    pub new_holder_name: Option<String>,
    pub new_holder_phone: Option<String>,
    pub new_name: Option<String>,
    pub tariff_code: Option<String>,
    pub point_address: Option<String>,
    pub point_voltage_code: Option<String>,
    pub meter_serial: Option<String>,
    pub meter_multiplier: Option<Decimal>,
    pub initial_reading: Option<Decimal>,
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn required(value: &Option<String>, field: &'static str, errors: &mut FieldErrors) -> Option<String> {
    let found = filled(value).map(str::to_owned);
    if found.is_none() {
        errors.add(field, "required");
    }
    found
}

/// A change field the kind does not use is still checked against its
/// documented form: a malformed value is refused, not silently dropped.
fn check_unused_formats(kind: &str, d: &ChangeDraft, errors: &mut FieldErrors) {
    if kind != NEW_CONNECTION {
        if filled(&d.meter_serial).is_some_and(|s| !crate::supply::model::is_serial(s)) {
            errors.add("meter_serial", "serial_format");
        }
        if filled(&d.meter_multiplier).is_some_and(|m| input::plain_decimal(m, 8, 2).is_none()) {
            errors.add("meter_multiplier", "multiplier_format");
        }
        if filled(&d.initial_reading).is_some_and(|r| parse_reading(r).is_none()) {
            errors.add("initial_reading", "reading_format");
        }
    }
    if kind != "transfer_of_ownership" && filled(&d.new_holder_id).is_some_and(|id| Uuid::parse_str(id).is_err()) {
        errors.add("new_holder_id", "unknown_customer");
    }
}

/// Checks the fields the kind asks for; `None` for kinds that are no change of use.
/// `has_point` and `has_capacity`: whether the order names a supply point and a
/// requested capacity.
pub fn validate(
    kind: &str,
    d: &ChangeDraft,
    has_point: bool,
    has_capacity: bool,
    errors: &mut FieldErrors,
) -> Option<ValidChange> {
    check_unused_formats(kind, d, errors);
    if !changes_archive(kind) {
        return None;
    }
    let mut v = ValidChange::default();
    match kind {
        NEW_CONNECTION => {
            v.point_address = filled(&d.point_address).map(|a| visible_text(a, 300, "point_address", false, errors));
            v.point_voltage_code = required(&d.point_voltage_code, "point_voltage_code", errors);
            v.meter_serial = required(&d.meter_serial, "meter_serial", errors);
            if v.meter_serial.as_deref().is_some_and(|s| !crate::supply::model::is_serial(s)) {
                errors.add("meter_serial", "serial_format");
            }
            v.meter_multiplier = Some(match filled(&d.meter_multiplier) {
                None => Decimal::ONE,
                Some(raw) => input::plain_decimal(raw, 8, 2).filter(|m| *m > Decimal::ZERO).unwrap_or_else(|| {
                    errors.add("meter_multiplier", "multiplier_format");
                    Decimal::ONE
                }),
            });
            v.initial_reading = Some(match filled(&d.initial_reading) {
                None => Decimal::ZERO,
                Some(raw) => parse_reading(raw).unwrap_or_else(|| {
                    errors.add("initial_reading", "reading_format");
                    Decimal::ZERO
                }),
            });
        }
        "capacity_increase" | "capacity_reduction" | "suspension" | "restoration" => {
            if !has_point && !errors.has("supply_point_id") {
                errors.add("supply_point_id", "required");
            }
            if kind.starts_with("capacity") && !has_capacity && !errors.has("requested_capacity_kva") {
                errors.add("requested_capacity_kva", "required");
            }
        }
        "transfer_of_ownership" => {
            v.new_holder_id = parse_id(&d.new_holder_id, "new_holder_id", "unknown_customer", errors);
            v.new_holder_name =
                filled(&d.new_holder_name).map(|n| visible_text(n, 200, "new_holder_name", true, errors));
            v.new_holder_phone = filled(&d.new_holder_phone).and_then(|raw| {
                let phone = parse_phone(raw);
                if phone.is_none() {
                    errors.add("new_holder_phone", "phone_format");
                }
                phone
            });
            if v.new_holder_id.is_none() && v.new_holder_name.is_none() && !errors.has("new_holder_id") {
                // One or the other: who takes the premise over.
                errors.add("new_holder_name", "new_holder_required");
            }
        }
        "change_of_name" => {
            v.new_name = Some(visible_text(d.new_name.as_deref().unwrap_or(""), 200, "new_name", true, errors));
        }
        "change_of_tariff" => v.tariff_code = required(&d.tariff_code, "tariff_code", errors),
        _ => {}
    }
    Some(v)
}

/// A meter register reading: up to 12 digits and 2 decimals, not negative.
pub fn parse_reading(raw: &str) -> Option<Decimal> {
    input::plain_decimal(raw.trim(), 12, 2).filter(|r| *r >= Decimal::ZERO)
}

/// The documents ticked at a change's review, checked against its kind.
pub fn check_documents(kind: &str, ticked: &[String], errors: &mut FieldErrors) -> Vec<String> {
    let mut documents: Vec<String> = Vec::new();
    for d in ticked {
        let known =
            CHANGE_DOCUMENTS.contains(&d.as_str()) || crate::work_orders::model::DOCUMENTS.contains(&d.as_str());
        if !known {
            errors.add("documents", "unknown_code");
        } else if !documents.contains(d) {
            documents.push(d.clone());
        }
    }
    if required_documents(kind).iter().any(|r| !documents.iter().any(|d| d == r)) && !errors.has("documents") {
        errors.add("documents", "documents_incomplete");
    }
    documents
}

/// Every document code a review may tick (the API's list).
pub fn all_documents() -> Vec<&'static str> {
    let mut all: Vec<&str> = crate::work_orders::model::DOCUMENTS.to_vec();
    all.extend(CHANGE_DOCUMENTS.iter().filter(|d| !all.contains(d)).collect::<Vec<_>>());
    all
}

/// Why a capacity change does not fit the point as it is.
pub fn check_capacity(kind: &str, before: Option<Decimal>, after: Decimal) -> Result<(), &'static str> {
    match (kind, before) {
        ("capacity_increase", Some(b)) if after <= b => Err("capacity_not_increased"),
        ("capacity_reduction", None) => Err("capacity_unknown"),
        ("capacity_reduction", Some(b)) if after >= b => Err("capacity_not_reduced"),
        _ => Ok(()),
    }
}

/// The status a suspension or restoration moves a point to, from its status now.
pub fn next_status(kind: &str, current: &str) -> Result<&'static str, &'static str> {
    match (kind, current) {
        ("suspension", "in_service") => Ok("suspended"),
        ("suspension", _) => Err("point_not_in_service"),
        ("restoration", "suspended") => Ok("in_service"),
        ("restoration", _) => Err("point_not_suspended"),
        _ => Err("illegal_transition"),
    }
}

/// How a closing account's debts are met and what is paid back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// Owed on live bills (with late fees) after the final bill.
    pub owed: Decimal,
    /// Taken from the account's credit, then from the deposit.
    pub from_credit: Decimal,
    pub from_deposit: Decimal,
    /// What is left of each, owed back to the customer.
    pub refund_credit: Decimal,
    pub refund_deposit: Decimal,
}

impl Settlement {
    pub fn refund(&self) -> Decimal {
        self.refund_credit + self.refund_deposit
    }
}

/// Settles `owed` from the credit first (money already the company's to
/// apply), then from the deposit; the rest of both is refunded. When the two
/// do not cover the debt, the shortfall is what the customer must still pay.
pub fn settle(owed: Decimal, credit: Decimal, deposit: Decimal) -> Result<Settlement, Decimal> {
    let owed = owed.max(Decimal::ZERO);
    if owed > credit + deposit {
        return Err(owed - credit - deposit);
    }
    let from_credit = owed.min(credit);
    let from_deposit = owed - from_credit;
    Ok(Settlement {
        owed,
        from_credit,
        from_deposit,
        refund_credit: credit - from_credit,
        refund_deposit: deposit - from_deposit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_field_the_kind_does_not_use_is_still_checked() {
        let draft =
            ChangeDraft { meter_multiplier: Some("k?".into()), new_holder_id: Some("x".into()), ..Default::default() };
        let mut errors = FieldErrors::default();
        assert_eq!(validate("periodic_visit", &draft, false, false, &mut errors), None);
        assert!(errors.has("meter_multiplier") && errors.has("new_holder_id"));
        let fine = ChangeDraft { meter_multiplier: Some("2.5".into()), ..Default::default() };
        let mut errors = FieldErrors::default();
        validate("periodic_visit", &fine, false, false, &mut errors);
        assert!(!errors.has("meter_multiplier"));
    }

    #[test]
    fn closing_settles_from_credit_then_deposit_and_refunds_the_rest() {
        let s = settle(dec!(120.50), dec!(20.00), dec!(500.00)).unwrap();
        assert_eq!((s.from_credit, s.from_deposit), (dec!(20.00), dec!(100.50)));
        assert_eq!((s.refund_credit, s.refund_deposit), (dec!(0.00), dec!(399.50)));
        assert_eq!(s.refund(), dec!(399.50));
        // Nothing owed: everything goes back.
        let s = settle(Decimal::ZERO, dec!(35.10), dec!(0)).unwrap();
        assert_eq!(s.refund(), dec!(35.10));
        // Not covered: the shortfall is named.
        assert_eq!(settle(dec!(800), dec!(100), dec!(500)), Err(dec!(200)));
        // The sums always balance: what was owed and refunded is what was held.
        let s = settle(dec!(0.01), dec!(0.01), dec!(0.01)).unwrap();
        assert_eq!(s.from_credit + s.from_deposit + s.refund(), dec!(0.02));
    }

    #[test]
    fn capacity_changes_go_the_way_their_kind_says() {
        assert!(check_capacity("capacity_increase", Some(dec!(100)), dec!(160)).is_ok());
        assert_eq!(check_capacity("capacity_increase", Some(dec!(100)), dec!(100)), Err("capacity_not_increased"));
        assert_eq!(check_capacity("capacity_reduction", Some(dec!(100)), dec!(160)), Err("capacity_not_reduced"));
        assert_eq!(check_capacity("capacity_reduction", None, dec!(50)), Err("capacity_unknown"));
        assert!(check_capacity("capacity_increase", None, dec!(50)).is_ok());
    }

    #[test]
    fn suspension_and_restoration_need_the_opposite_status() {
        assert_eq!(next_status("suspension", "in_service"), Ok("suspended"));
        assert_eq!(next_status("suspension", "suspended"), Err("point_not_in_service"));
        assert_eq!(next_status("restoration", "suspended"), Ok("in_service"));
        assert_eq!(next_status("restoration", "removed"), Err("point_not_suspended"));
    }

    #[test]
    fn each_kind_asks_for_its_fields() {
        let mut errors = FieldErrors::default();
        let v = validate(NEW_CONNECTION, &ChangeDraft::default(), false, true, &mut errors).unwrap();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields, vec![("point_voltage_code", "required"), ("meter_serial", "required")]);
        assert_eq!((v.meter_multiplier, v.initial_reading), (Some(Decimal::ONE), Some(Decimal::ZERO)));

        let mut errors = FieldErrors::default();
        validate("transfer_of_ownership", &ChangeDraft::default(), false, false, &mut errors);
        assert!(errors.iter().any(|e| e.field == "new_holder_name" && e.code == "new_holder_required"));

        let mut errors = FieldErrors::default();
        validate("capacity_increase", &ChangeDraft::default(), false, false, &mut errors);
        assert!(errors.has("supply_point_id") && errors.has("requested_capacity_kva"));

        let mut errors = FieldErrors::default();
        let bad = ChangeDraft {
            meter_serial: Some("x".into()),
            point_voltage_code: Some("10kV".into()),
            initial_reading: Some("-3".into()),
            ..Default::default()
        };
        validate(NEW_CONNECTION, &bad, false, true, &mut errors);
        assert!(errors.has("meter_serial") && errors.has("initial_reading"));

        let mut errors = FieldErrors::default();
        assert!(validate("repair", &ChangeDraft::default(), false, false, &mut errors).is_none());
        assert!(errors.is_empty());
    }

    #[test]
    fn reviews_need_the_kinds_documents() {
        let docs = |ds: &[&str]| ds.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        let mut errors = FieldErrors::default();
        check_documents("transfer_of_ownership", &docs(&["application_form", "identity"]), &mut errors);
        assert!(errors.iter().any(|e| e.code == "documents_incomplete"));
        let mut errors = FieldErrors::default();
        check_documents("suspension", &docs(&["application_form", "identity", "identity"]), &mut errors);
        assert!(errors.is_empty());
        assert!(all_documents().contains(&"refund_account") && all_documents().contains(&"site_plan"));
    }
}
