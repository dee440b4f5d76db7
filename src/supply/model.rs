//! What a supply point (计量点) and a meter (电能表) are made of, as typed at
//! the counter, sent over the API or read from an import file, and the checks
//! on them. No database, no HTTP.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    customers::model::{parse_capacity, required_code},
    web::{
        error::FieldErrors,
        input::{self, visible_text},
    },
};

pub const POINT_STATUSES: [&str; 3] = ["in_service", "suspended", "removed"];
pub const METER_KINDS: [&str; 3] = ["mechanical", "smart", "prepaid"];
pub const DEFAULT_REGISTER_DIGITS: i16 = 6;

/// The latest verification date a form may name: meters are verified on a
/// cycle of at most a few years ahead.
fn latest_verification(today: NaiveDate) -> NaiveDate {
    today + chrono::Days::new(20 * 366)
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A supply point code: letters, digits, `-` and `_`, as on the customer's
/// paperwork (the default is the account number and a running number).
pub fn is_point_code(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The default code of a customer's `n`th supply point.
pub fn point_code(account_no: &str, n: i64) -> String {
    format!("{account_no}-{n}")
}

pub fn is_serial(serial: &str) -> bool {
    (4..=32).contains(&serial.len()) && serial.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A supply point as typed. Capacity is a string so that "630.5" stays exact.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PointDraft {
    /// Blank: the account number and a running number, e.g. 3301000123-2.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{0,32}$", example = "3301000123-2")]
    pub code: Option<String>,
    /// Blank: the customer's address.
    #[serde(default)]
    #[schema(max_length = 300)]
    pub address: Option<String>,
    /// A code of the tenant's voltage levels (required).
    #[serde(default)]
    #[schema(required = true, example = "10kV")]
    pub voltage_code: Option<String>,
    /// kVA, at most two decimals, e.g. "630".
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,7}(\.[0-9]{1,2})?)?$")]
    pub capacity_kva: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub transformer: Option<String>,
    /// The reading route, by code; blank: the customer's route.
    #[serde(default)]
    pub route_code: Option<String>,
    /// The point's version this edit is based on; a changed point answers 409.
    #[serde(default)]
    pub version: Option<i32>,
}

/// A supply point that passed every check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidPoint {
    pub code: Option<String>,
    pub address: Option<String>,
    pub voltage_code: String,
    pub capacity_kva: Option<Decimal>,
    pub transformer: String,
    pub route_code: Option<String>,
    pub route_id: Option<Uuid>,
}

/// The codes a point may use: voltage levels and routes (code, id).
#[derive(Clone, Debug, Default)]
pub struct PointCodes {
    pub voltages: Vec<String>,
    pub routes: Vec<(String, Uuid)>,
}

pub fn validate_point(draft: &PointDraft, codes: &PointCodes) -> Result<ValidPoint, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = filled(&draft.code).map(str::to_owned);
    if code.as_deref().is_some_and(|c| !is_point_code(c)) {
        errors.add("code", "code_format");
    }
    let address = draft.address.as_deref().map(|a| visible_text(a, 300, "address", false, &mut errors));
    let voltage_code = required_code(&draft.voltage_code, "voltage_code", &codes.voltages, &mut errors);
    let capacity_kva = filled(&draft.capacity_kva).and_then(|raw| {
        let parsed = parse_capacity(raw);
        if parsed.is_none() {
            errors.add("capacity_kva", "capacity_format");
        }
        parsed
    });
    let transformer = visible_text(draft.transformer.as_deref().unwrap_or(""), 100, "transformer", false, &mut errors);
    let route_code = filled(&draft.route_code).map(str::to_owned);
    let route_id = route_code.as_deref().and_then(|code| {
        let found = codes.routes.iter().find(|(c, _)| c == code).map(|(_, id)| *id);
        if found.is_none() {
            errors.add("route_code", "unknown_code");
        }
        found
    });
    errors.finish(ValidPoint {
        code,
        address: address.filter(|a| !a.is_empty()),
        voltage_code,
        capacity_kva,
        transformer,
        route_code,
        route_id,
    })
}

/// A meter as typed: what is printed on its nameplate and its verification
/// dates.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct MeterDraft {
    /// Letters, digits and `-`, 4 to 32 characters.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[A-Za-z0-9-]{4,32}$", example = "3300000123451")]
    pub serial: String,
    /// mechanical, smart (default) or prepaid.
    #[serde(default)]
    pub kind: Option<String>,
    /// Has peak / flat / valley registers.
    #[serde(default)]
    pub time_of_use: bool,
    /// The CT/PT ratio the register is multiplied by; default 1.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,8}(\.[0-9]{1,2})?)?$", example = "40")]
    pub multiplier: Option<String>,
    /// Digits on the register (4 to 10; default 6): where it rolls over.
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub register_digits: Option<i16>,
    /// YYYY-MM-DD.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub verified_on: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub next_verification: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidMeter {
    pub serial: String,
    pub kind: String,
    pub time_of_use: bool,
    pub multiplier: Decimal,
    pub register_digits: i16,
    pub verified_on: Option<NaiveDate>,
    pub next_verification: Option<NaiveDate>,
}

/// Checks a meter; `prefix` names the fields in a form that holds two meters
/// (an exchange: `new_serial`), empty otherwise.
pub fn validate_meter(
    draft: &MeterDraft,
    prefix: &str,
    today: NaiveDate,
    errors: &mut FieldErrors,
) -> Option<ValidMeter> {
    let before = errors.iter().count();
    let field = |name: &str| format!("{prefix}{name}");
    let serial = draft.serial.trim().to_owned();
    if serial.is_empty() {
        errors.add(field("serial"), "required");
    } else if !is_serial(&serial) {
        errors.add(field("serial"), "serial_format");
    }
    let kind = filled(&draft.kind).unwrap_or("smart").to_owned();
    if !METER_KINDS.contains(&kind.as_str()) {
        errors.add(field("kind"), "unknown_code");
    }
    let multiplier = match filled(&draft.multiplier) {
        None => Decimal::ONE,
        Some(raw) => match input::plain_decimal(raw, 8, 2).filter(|m| *m > Decimal::ZERO) {
            Some(m) => m,
            None => {
                errors.add(field("multiplier"), "multiplier_format");
                Decimal::ONE
            }
        },
    };
    let register_digits = draft.register_digits.unwrap_or(DEFAULT_REGISTER_DIGITS);
    if !(4..=10).contains(&register_digits) {
        errors.add(field("register_digits"), "register_digits_range");
    }
    let mut date = |value: &Option<String>, name: &str, latest: NaiveDate| {
        filled(value).and_then(|raw| match input::date_field(raw, latest) {
            Ok(d) => Some(d),
            Err(code) => {
                errors.add(field(name), code);
                None
            }
        })
    };
    let verified_on = date(&draft.verified_on, "verified_on", today);
    let next_verification = date(&draft.next_verification, "next_verification", latest_verification(today));
    if let (Some(done), Some(next)) = (verified_on, next_verification)
        && next <= done
    {
        errors.add(field("next_verification"), "verification_order");
    }
    (errors.iter().count() == before).then_some(ValidMeter {
        serial,
        kind,
        time_of_use: draft.time_of_use,
        multiplier,
        register_digits,
        verified_on,
        next_verification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> PointCodes {
        PointCodes { voltages: vec!["220V".into(), "10kV".into()], routes: vec![("R01".into(), Uuid::nil())] }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    #[test]
    fn a_point_needs_a_known_voltage_and_names_what_is_wrong() {
        let draft = PointDraft {
            voltage_code: Some("10kV".into()),
            capacity_kva: Some("630".into()),
            route_code: Some("R01".into()),
            ..Default::default()
        };
        let valid = validate_point(&draft, &codes()).unwrap();
        assert_eq!(
            (valid.capacity_kva, valid.route_id, valid.code),
            (Some(Decimal::from(630)), Some(Uuid::nil()), None)
        );
        let bad = PointDraft {
            code: Some("A 1".into()),
            voltage_code: Some("500kV".into()),
            capacity_kva: Some("-1".into()),
            route_code: Some("R99".into()),
            ..Default::default()
        };
        let errors = validate_point(&bad, &codes()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("code", "code_format"),
                ("voltage_code", "unknown_code"),
                ("capacity_kva", "capacity_format"),
                ("route_code", "unknown_code")
            ]
        );
        assert!(validate_point(&PointDraft::default(), &codes()).unwrap_err().has("voltage_code"));
    }

    #[test]
    fn a_meter_defaults_to_a_smart_meter_times_one() {
        let mut errors = FieldErrors::default();
        let meter =
            validate_meter(&MeterDraft { serial: "3300-0001".into(), ..Default::default() }, "", today(), &mut errors)
                .unwrap();
        assert_eq!((meter.kind.as_str(), meter.multiplier, meter.register_digits), ("smart", Decimal::ONE, 6));
    }

    #[test]
    fn meter_fields_are_named_with_their_prefix() {
        let mut errors = FieldErrors::default();
        let draft = MeterDraft {
            serial: "ab".into(),
            kind: Some("nuclear".into()),
            multiplier: Some("0".into()),
            register_digits: Some(3),
            verified_on: Some("2026-01-01".into()),
            next_verification: Some("2025-01-01".into()),
            ..Default::default()
        };
        assert!(validate_meter(&draft, "new_", today(), &mut errors).is_none());
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("new_serial", "serial_format"),
                ("new_kind", "unknown_code"),
                ("new_multiplier", "multiplier_format"),
                ("new_register_digits", "register_digits_range"),
                ("new_next_verification", "verification_order")
            ]
        );
        let mut errors = FieldErrors::default();
        let future =
            MeterDraft { serial: "M-0001".into(), verified_on: Some("2027-06-01".into()), ..Default::default() };
        assert!(validate_meter(&future, "", today(), &mut errors).is_none());
        assert!(errors.has("verified_on"));
    }

    #[test]
    fn default_point_codes_follow_the_account_number() {
        assert_eq!(point_code("3301000123", 2), "3301000123-2");
        assert!(is_point_code("3301000123-2") && !is_point_code("") && !is_point_code("a/b"));
    }
}
