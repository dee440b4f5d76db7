//! What a supply point (计量点) and a meter (电能表) are made of, as typed at
//! the counter, sent over the API or read from an import file, and the checks
//! on them. No database, no HTTP.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    customers::model::{current_code, parse_capacity},
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
    /// A code of the tenant's voltage levels: required on a new point; an
    /// edit leaves it out to keep it.
    #[serde(default)]
    #[schema(example = "v10k", min_length = 1)]
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
    /// Codes a tenant admin retired: named `retired_code`, not `unknown_code`.
    pub retired_voltages: Vec<String>,
    pub retired_routes: Vec<String>,
}

pub fn validate_point(draft: &PointDraft, codes: &PointCodes) -> Result<ValidPoint, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = filled(&draft.code).map(str::to_owned);
    if code.as_deref().is_some_and(|c| !is_point_code(c)) {
        errors.add("code", "code_format");
    }
    let address = draft.address.as_deref().map(|a| visible_text(a, 300, "address", false, &mut errors));
    let voltage_code =
        current_code(&draft.voltage_code, "voltage_code", &codes.voltages, &codes.retired_voltages, &mut errors);
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
            let retired = codes.retired_routes.iter().any(|r| r == code);
            errors.add("route_code", if retired { "retired_code" } else { "unknown_code" });
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

/// A register value as typed: not negative, at most two decimals, under 10¹²
/// (what `meter_readings.total` holds).
fn register(raw: &str, field: &str, errors: &mut FieldErrors) -> Option<Decimal> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.add(field, "required");
        return None;
    }
    let value = input::plain_decimal(raw, 12, 2).filter(|v| *v >= Decimal::ZERO);
    if value.is_none() {
        errors.add(field, "register_format");
    }
    value
}

/// A meter put on a supply point: its nameplate, the day, and the register
/// it starts from (the first bill counts from it).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct InstallDraft {
    /// The point it goes on (required over the API; a page has it in its address).
    #[serde(default)]
    #[schema(value_type = Uuid, required = true)]
    pub supply_point_id: Option<Uuid>,
    /// Letters, digits and `-`, 4 to 32 characters. A serial already in the
    /// archive and installed nowhere (back from the lab) is put in as it is.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[A-Za-z0-9-]{4,32}$", example = "3300000123451")]
    pub serial: String,
    /// mechanical, smart (default) or prepaid.
    #[serde(default)]
    #[schema(schema_with = crate::supply::api::meter_kind_schema)]
    pub kind: Option<String>,
    #[serde(default)]
    pub time_of_use: bool,
    /// The CT/PT ratio; default 1.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,8}(\.[0-9]{1,2})?)?$", example = "40")]
    pub multiplier: Option<String>,
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub register_digits: Option<i16>,
    /// YYYY-MM-DD, not in the future.
    #[serde(default)]
    #[schema(schema_with = crate::api::optional_date)]
    pub verified_on: Option<String>,
    /// YYYY-MM-DD, after `verified_on`.
    #[serde(default)]
    #[schema(schema_with = crate::api::optional_date)]
    pub next_verification: Option<String>,
    /// YYYY-MM-DD, not in the future.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub installed_on: String,
    /// The register when it was put in, kWh, e.g. "0".
    #[serde(default)]
    #[schema(required = true, pattern = r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
    pub initial_reading: String,
    /// A time-of-use meter's peak, flat and valley registers when put in
    /// (required for one; they add up to the total).
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub initial_peak: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub initial_flat: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub initial_valley: Option<String>,
}

impl InstallDraft {
    pub fn meter(&self) -> MeterDraft {
        MeterDraft {
            serial: self.serial.clone(),
            kind: self.kind.clone(),
            time_of_use: self.time_of_use,
            multiplier: self.multiplier.clone(),
            register_digits: self.register_digits,
            verified_on: self.verified_on.clone(),
            next_verification: self.next_verification.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidInstall {
    pub meter: ValidMeter,
    pub installed_on: NaiveDate,
    pub initial_reading: Decimal,
}

pub fn validate_install(draft: &InstallDraft, today: NaiveDate) -> Result<ValidInstall, FieldErrors> {
    let mut errors = FieldErrors::default();
    let meter = validate_meter(&draft.meter(), "", today, &mut errors);
    let installed_on = date_on(&draft.installed_on, "installed_on", today, &mut errors);
    let initial_reading = register(&draft.initial_reading, "initial_reading", &mut errors);
    match (meter, installed_on, initial_reading) {
        (Some(meter), Some(installed_on), Some(initial_reading)) if errors.is_empty() => {
            Ok(ValidInstall { meter, installed_on, initial_reading })
        }
        _ => Err(errors),
    }
}

fn date_on(raw: &str, field: &str, today: NaiveDate, errors: &mut FieldErrors) -> Option<NaiveDate> {
    match input::date_field(raw, today) {
        Ok(day) => Some(day),
        Err(code) => {
            errors.add(field, code);
            None
        }
    }
}

/// A meter exchange (拆换表) as typed: the day, the old meter's final
/// register, and the new meter's nameplate (fields `new_…`) and first register.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ExchangeDraft {
    /// YYYY-MM-DD: after the old meter was put in and its last reading, not in the future.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub exchanged_on: String,
    /// The old meter's register when taken out, kWh; not below its last reading.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
    pub final_reading: String,
    /// The new meter's serial: not the old one's, installed nowhere.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[A-Za-z0-9-]{4,32}$")]
    pub new_serial: String,
    /// mechanical, smart (default) or prepaid.
    #[serde(default)]
    #[schema(schema_with = crate::supply::api::meter_kind_schema)]
    pub new_kind: Option<String>,
    #[serde(default)]
    pub new_time_of_use: bool,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,8}(\.[0-9]{1,2})?)?$", example = "40")]
    pub new_multiplier: Option<String>,
    #[serde(default)]
    #[schema(minimum = 4, maximum = 10)]
    pub new_register_digits: Option<i16>,
    /// YYYY-MM-DD, not in the future.
    #[serde(default)]
    #[schema(schema_with = crate::api::optional_date)]
    pub new_verified_on: Option<String>,
    /// YYYY-MM-DD, after `new_verified_on`.
    #[serde(default)]
    #[schema(schema_with = crate::api::optional_date)]
    pub new_next_verification: Option<String>,
    /// The new meter's register when put in, kWh.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
    pub new_initial_reading: String,
    /// The old meter's peak, flat and valley registers when taken out
    /// (required for a time-of-use meter; they add up to the final reading).
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub final_peak: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub final_flat: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub final_valley: Option<String>,
    /// The new meter's peak, flat and valley registers when put in
    /// (required for a time-of-use meter).
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub new_initial_peak: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub new_initial_flat: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub new_initial_valley: Option<String>,
}

/// What an exchange is checked against: the meter coming out.
#[derive(Clone, Debug)]
pub struct OutgoingMeter {
    pub serial: String,
    pub installed_on: NaiveDate,
    /// Its last billable reading: the day and the register.
    pub last_reading: Option<(NaiveDate, Decimal)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidExchange {
    pub exchanged_on: NaiveDate,
    pub final_reading: Decimal,
    pub new_meter: ValidMeter,
    pub new_initial_reading: Decimal,
}

pub fn validate_exchange(
    draft: &ExchangeDraft,
    old: &OutgoingMeter,
    today: NaiveDate,
) -> Result<ValidExchange, FieldErrors> {
    let mut errors = FieldErrors::default();
    let exchanged_on = date_on(&draft.exchanged_on, "exchanged_on", today, &mut errors);
    if let Some(day) = exchanged_on {
        // A meter comes out at the earliest the day after it went in, and not
        // before the day it was last read.
        if day <= old.installed_on {
            errors.add("exchanged_on", "exchange_not_after_install");
        } else if old.last_reading.is_some_and(|(read_on, _)| day < read_on) {
            errors.add("exchanged_on", "exchange_before_last_reading");
        }
    }
    let final_reading = register(&draft.final_reading, "final_reading", &mut errors);
    if let (Some(last), Some((_, before))) = (final_reading, old.last_reading)
        && last < before
    {
        errors.add("final_reading", "below_last_reading");
    }
    let new_meter = MeterDraft {
        serial: draft.new_serial.clone(),
        kind: draft.new_kind.clone(),
        time_of_use: draft.new_time_of_use,
        multiplier: draft.new_multiplier.clone(),
        register_digits: draft.new_register_digits,
        verified_on: draft.new_verified_on.clone(),
        next_verification: draft.new_next_verification.clone(),
    };
    let new_meter = validate_meter(&new_meter, "new_", today, &mut errors);
    if new_meter.as_ref().is_some_and(|m| m.serial.eq_ignore_ascii_case(&old.serial)) {
        errors.add("new_serial", "same_meter");
    }
    let new_initial_reading = register(&draft.new_initial_reading, "new_initial_reading", &mut errors);
    match (exchanged_on, final_reading, new_meter, new_initial_reading) {
        (Some(exchanged_on), Some(final_reading), Some(new_meter), Some(new_initial_reading)) if errors.is_empty() => {
            Ok(ValidExchange { exchanged_on, final_reading, new_meter, new_initial_reading })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> PointCodes {
        PointCodes {
            voltages: vec!["220V".into(), "10kV".into()],
            routes: vec![("R01".into(), Uuid::nil())],
            retired_voltages: vec!["35kV".into()],
            retired_routes: vec!["R09".into()],
        }
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
        // A retired code is named as retired, not unknown.
        let retired =
            PointDraft { voltage_code: Some("35kV".into()), route_code: Some("R09".into()), ..Default::default() };
        let errors = validate_point(&retired, &codes()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields, vec![("voltage_code", "retired_code"), ("route_code", "retired_code")]);
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

    fn outgoing() -> OutgoingMeter {
        OutgoingMeter {
            serial: "OLD-0001".into(),
            installed_on: NaiveDate::from_ymd_opt(2024, 1, 10).unwrap(),
            last_reading: Some((NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), Decimal::from(5000))),
        }
    }

    fn exchange() -> ExchangeDraft {
        ExchangeDraft {
            exchanged_on: "2026-11-15".into(),
            final_reading: "5120".into(),
            new_serial: "NEW-0001".into(),
            new_multiplier: Some("40".into()),
            new_initial_reading: "0".into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_exchange_takes_the_final_and_initial_registers_and_the_new_multiplier() {
        let valid = validate_exchange(&exchange(), &outgoing(), today()).unwrap();
        assert_eq!(
            (
                valid.final_reading,
                valid.new_meter.multiplier,
                valid.new_initial_reading,
                valid.exchanged_on.to_string()
            ),
            (Decimal::from(5120), Decimal::from(40), Decimal::ZERO, "2026-11-15".to_owned())
        );
    }

    #[test]
    fn an_exchange_refuses_a_lower_final_reading_the_same_meter_and_impossible_days() {
        let codes = |draft: ExchangeDraft| -> Vec<(String, &'static str)> {
            validate_exchange(&draft, &outgoing(), today())
                .unwrap_err()
                .iter()
                .map(|e| (e.field.clone(), e.code))
                .collect()
        };
        let below = ExchangeDraft { final_reading: "4999.99".into(), ..exchange() };
        assert_eq!(codes(below), vec![("final_reading".into(), "below_last_reading")]);
        let same = ExchangeDraft { new_serial: "old-0001".into(), ..exchange() };
        assert_eq!(codes(same), vec![("new_serial".into(), "same_meter")]);
        let install_day = ExchangeDraft { exchanged_on: "2024-01-10".into(), ..exchange() };
        assert_eq!(codes(install_day), vec![("exchanged_on".into(), "exchange_not_after_install")]);
        let before_reading = ExchangeDraft { exchanged_on: "2026-10-31".into(), ..exchange() };
        assert_eq!(codes(before_reading), vec![("exchanged_on".into(), "exchange_before_last_reading")]);
        let future = ExchangeDraft { exchanged_on: "2026-12-04".into(), ..exchange() };
        assert_eq!(codes(future), vec![("exchanged_on".into(), "date_too_late")]);
        let blank = ExchangeDraft::default();
        assert_eq!(
            codes(blank),
            vec![
                ("exchanged_on".into(), "required"),
                ("final_reading".into(), "required"),
                ("new_serial".into(), "required"),
                ("new_initial_reading".into(), "required")
            ]
        );
    }

    #[test]
    fn an_installation_needs_a_day_and_a_first_register() {
        let draft = InstallDraft {
            serial: "M-0009".into(),
            installed_on: "2026-11-01".into(),
            initial_reading: "12.5".into(),
            ..Default::default()
        };
        let valid = validate_install(&draft, today()).unwrap();
        assert_eq!(valid.initial_reading, "12.5".parse::<Decimal>().unwrap());
        let bad = InstallDraft { initial_reading: "-1".into(), installed_on: "11/01".into(), ..draft };
        let errors = validate_install(&bad, today()).unwrap_err();
        assert!(errors.has("initial_reading") && errors.has("installed_on"));
    }
}
