//! The import file's columns (docs/import.md) and the checks on one line:
//! a customer with a contact, a supply point and a meter, checked by the
//! customer, point and meter rules the counter uses, plus what only a file
//! can get wrong (a customer or point given twice with different values, a
//! meter listed twice). No database, no HTTP.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
};

use chrono::NaiveDate;
use serde::Serialize;

use crate::{
    customers::model::{self as customer_model, Allowed, CustomerDraft, ValidCustomer},
    supply::model::{self as supply_model, MeterDraft, PointCodes, PointDraft, ValidMeter, ValidPoint},
    web::{error::FieldErrors, input},
};

/// Every column, in the order an export writes them. A file may give them in
/// any order and leave out all but [`REQUIRED_COLUMNS`].
pub const COLUMNS: [&str; 31] = [
    "account_no",
    "name",
    "class_code",
    "industry_code",
    "voltage_code",
    "tariff_code",
    "route_code",
    "address",
    "phone",
    "id_number",
    "capacity_kva",
    "importance",
    "status",
    "contact_name",
    "contact_role",
    "contact_phone",
    "contact_email",
    "point_code",
    "point_address",
    "point_voltage_code",
    "point_capacity_kva",
    "point_transformer",
    "point_route_code",
    "meter_serial",
    "meter_kind",
    "meter_multiplier",
    "meter_time_of_use",
    "meter_register_digits",
    "meter_verified_on",
    "meter_next_verification",
    "meter_installed_on",
];

pub const REQUIRED_COLUMNS: [&str; 6] =
    ["account_no", "name", "class_code", "industry_code", "voltage_code", "tariff_code"];

fn columns() -> &'static [&'static str] {
    &COLUMNS
}

const CUSTOMER_COLUMNS: std::ops::Range<usize> = 0..13;
const CONTACT_COLUMNS: std::ops::Range<usize> = 13..17;
const POINT_COLUMNS: std::ops::Range<usize> = 17..23;

/// A rejected line: which, which column, and the message key (with the other
/// line it conflicts with, where there is one).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineProblem {
    pub line: u64,
    pub field: String,
    pub key: String,
    pub other_line: Option<u64>,
}

impl LineProblem {
    fn new(line: u64, field: &str, key: impl Into<String>) -> Self {
        Self { line, field: field.to_owned(), key: key.into(), other_line: None }
    }
}

/// Where each known column is in the file.
#[derive(Clone, Debug)]
pub struct Header {
    index: [Option<usize>; 31],
}

impl Header {
    /// Reads the header line (line 1): names are matched exactly, trimmed;
    /// an unknown, repeated or missing required column is named.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Header, Vec<LineProblem>> {
        let mut index = [None; 31];
        let mut problems = Vec::new();
        for (at, raw) in names.into_iter().enumerate() {
            let name = raw.trim();
            match columns().iter().position(|c| *c == name) {
                Some(col) if index[col].is_some() => {
                    problems.push(LineProblem::new(1, name, "onboarding.err.column_twice"))
                }
                Some(col) => index[col] = Some(at),
                None => problems.push(LineProblem::new(1, name, "onboarding.err.unknown_column")),
            }
        }
        for required in REQUIRED_COLUMNS {
            if index[column(required)].is_none() {
                problems.push(LineProblem::new(1, required, "onboarding.err.missing_column"));
            }
        }
        if problems.is_empty() { Ok(Header { index }) } else { Err(problems) }
    }
}

fn column(name: &str) -> usize {
    columns().iter().position(|c| *c == name).expect("a known column")
}

/// The codes and the day a line is checked against.
pub struct Rules {
    pub allowed: Allowed,
    pub points: PointCodes,
    pub today: NaiveDate,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidContact {
    pub name: String,
    pub role: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A line that passed every check of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportLine {
    pub line: u64,
    pub account_no: String,
    pub customer: ValidCustomer,
    pub id_number: Option<String>,
    pub contact: Option<ValidContact>,
    pub point: Option<ValidPoint>,
    pub meter: Option<ValidMeter>,
    pub installed_on: Option<NaiveDate>,
    /// Fingerprints of the customer's, the contact's and the point's cells:
    /// another line of the same account, contact (by name) or point must
    /// carry the same.
    customer_print: u64,
    contact_print: u64,
    point_print: u64,
}

impl ImportLine {
    pub fn point_code(&self) -> Option<&str> {
        self.point.as_ref().and_then(|p| p.code.as_deref())
    }
}

/// A cell as a spreadsheet gives it: trimmed, an export's formula guard (a
/// leading apostrophe before = + - @) taken off, empty as none.
fn cell<'r>(record: &'r csv::StringRecord, header: &Header, name: &str) -> Option<&'r str> {
    let value = header.index[column(name)].and_then(|at| record.get(at))?.trim();
    let value = match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => value,
    };
    (!value.is_empty()).then_some(value)
}

fn owned(record: &csv::StringRecord, header: &Header, name: &str) -> Option<String> {
    cell(record, header, name).map(str::to_owned)
}

fn fingerprint(record: &csv::StringRecord, header: &Header, range: std::ops::Range<usize>) -> u64 {
    let mut hasher = DefaultHasher::new();
    for name in &columns()[range] {
        cell(record, header, name).hash(&mut hasher);
    }
    hasher.finish()
}

/// A yes/no cell: 1/0, true/false, yes/no, y/n, 是/否; empty is no.
pub fn flag(raw: Option<&str>) -> Option<bool> {
    match raw.unwrap_or("").to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" | "否" => Some(false),
        "1" | "true" | "yes" | "y" | "是" => Some(true),
        _ => None,
    }
}

/// A mainland identity card (15 or 18 characters, the last may be X) or a
/// unified social credit code (18 digits and capitals).
pub fn is_id_number(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18) && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn problems_from(line: u64, errors: &FieldErrors, rename: impl Fn(&str) -> String) -> Vec<LineProblem> {
    errors.iter().map(|e| LineProblem::new(line, &rename(&e.field), format!("err.{}", e.code))).collect()
}

/// Checks one data line (`line` counts the header as 1).
pub fn validate_line(
    header: &Header,
    record: &csv::StringRecord,
    line: u64,
    rules: &Rules,
) -> Result<ImportLine, Vec<LineProblem>> {
    let mut problems = Vec::new();
    for (at, value) in record.iter().enumerate() {
        if input::has_control_char(value, false) {
            let name = header.index.iter().position(|i| *i == Some(at)).map_or("", |c| columns()[c]);
            problems.push(LineProblem::new(line, name, "err.control_character"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let get = |name: &str| owned(record, header, name);

    let account_no = get("account_no");
    if account_no.is_none() {
        // An import names every account: that is how a re-run finds it again.
        problems.push(LineProblem::new(line, "account_no", "err.required"));
    }
    let draft = CustomerDraft {
        account_no: account_no.clone(),
        name: get("name"),
        class_code: get("class_code"),
        industry_code: get("industry_code"),
        voltage_code: get("voltage_code"),
        tariff_code: get("tariff_code"),
        route_code: get("route_code"),
        address: get("address"),
        phone: get("phone"),
        capacity_kva: get("capacity_kva"),
        importance: get("importance"),
        status: get("status"),
        ..Default::default()
    };
    let customer = customer_model::validate(&draft, &rules.allowed)
        .map_err(|errors| problems.extend(problems_from(line, &errors, str::to_owned)))
        .ok();
    let id_number = get("id_number").map(|s| s.to_ascii_uppercase());
    if id_number.as_deref().is_some_and(|s| !is_id_number(s)) {
        problems.push(LineProblem::new(line, "id_number", "onboarding.err.id_number_format"));
    }

    let contact = validate_contact(record, header, line, &mut problems);

    let point_given = POINT_COLUMNS.clone().any(|c| cell(record, header, columns()[c]).is_some());
    let meter_serial = cell(record, header, "meter_serial");
    let meter_given =
        columns()[23..].iter().filter(|c| **c != "meter_serial").any(|c| cell(record, header, c).is_some());
    if (point_given || meter_serial.is_some()) && get("point_code").is_none() {
        problems.push(LineProblem::new(line, "point_code", "err.required"));
    }
    if meter_given && meter_serial.is_none() {
        problems.push(LineProblem::new(line, "meter_serial", "err.required"));
    }
    let point = point_given
        .then(|| {
            let draft = PointDraft {
                code: get("point_code"),
                address: get("point_address"),
                // A point's voltage is the customer's unless the file says otherwise.
                voltage_code: get("point_voltage_code").or_else(|| get("voltage_code")),
                capacity_kva: get("point_capacity_kva"),
                transformer: get("point_transformer"),
                route_code: get("point_route_code"),
                version: None,
            };
            let inherited_voltage = get("point_voltage_code").is_none();
            supply_model::validate_point(&draft, &rules.points)
                .map_err(|errors| {
                    let named = problems_from(line, &errors, |f| format!("point_{f}"));
                    // A voltage taken from the customer's column is named there once.
                    problems
                        .extend(named.into_iter().filter(|p| !(inherited_voltage && p.field == "point_voltage_code")));
                })
                .ok()
        })
        .flatten();

    let mut meter = None;
    let mut installed_on = None;
    if let Some(serial) = meter_serial {
        let mut errors = FieldErrors::default();
        let time_of_use = flag(cell(record, header, "meter_time_of_use")).unwrap_or_else(|| {
            errors.add("meter_time_of_use", "flag_format");
            false
        });
        let register_digits = cell(record, header, "meter_register_digits").map(|raw| {
            raw.parse::<i16>().unwrap_or_else(|_| {
                errors.add("meter_register_digits", "register_digits_range");
                supply_model::DEFAULT_REGISTER_DIGITS
            })
        });
        let draft = MeterDraft {
            serial: serial.to_owned(),
            kind: get("meter_kind"),
            time_of_use,
            multiplier: get("meter_multiplier"),
            register_digits,
            verified_on: get("meter_verified_on"),
            next_verification: get("meter_next_verification"),
        };
        meter = supply_model::validate_meter(&draft, "meter_", rules.today, &mut errors);
        installed_on = cell(record, header, "meter_installed_on").and_then(|raw| {
            input::date_field(raw, rules.today).map_err(|code| errors.add("meter_installed_on", code)).ok()
        });
        for e in errors.iter() {
            problems.push(LineProblem::new(line, &e.field, format!("err.{}", e.code)));
        }
    }

    match (customer, account_no) {
        (Some(customer), Some(account_no)) if problems.is_empty() => Ok(ImportLine {
            line,
            account_no,
            customer,
            id_number,
            contact,
            point,
            meter,
            installed_on,
            customer_print: fingerprint(record, header, CUSTOMER_COLUMNS),
            contact_print: fingerprint(record, header, CONTACT_COLUMNS),
            point_print: fingerprint(record, header, POINT_COLUMNS),
        }),
        _ => Err(problems),
    }
}

fn validate_contact(
    record: &csv::StringRecord,
    header: &Header,
    line: u64,
    problems: &mut Vec<LineProblem>,
) -> Option<ValidContact> {
    let [name, role, phone, email] =
        ["contact_name", "contact_role", "contact_phone", "contact_email"].map(|c| cell(record, header, c));
    if name.is_none() && role.is_none() && phone.is_none() && email.is_none() {
        return None;
    }
    let mut errors = FieldErrors::default();
    let name = input::visible_text(name.unwrap_or(""), 100, "contact_name", true, &mut errors);
    let role = input::visible_text(role.unwrap_or(""), 50, "contact_role", false, &mut errors);
    let phone = phone.and_then(|p| {
        let parsed = customer_model::parse_phone(p);
        if parsed.is_none() {
            errors.add("contact_phone", "phone_format");
        }
        parsed
    });
    if email.is_some_and(|e| !crate::notices::preferences::email_ok(e)) {
        errors.add("contact_email", "email_format");
    }
    problems.extend(problems_from(line, &errors, str::to_owned));
    errors.is_empty().then(|| ValidContact { name, role, phone, email: email.map(str::to_owned) })
}

/// What the lines seen so far said about each account, point and meter: a
/// file lists a customer once per meter, and every such line must agree.
#[derive(Default)]
pub struct Consistency {
    accounts: HashMap<String, (u64, u64)>,
    contacts: HashMap<(String, String), (u64, u64)>,
    points: HashMap<String, (u64, String, u64)>,
    meters: HashMap<String, u64>,
}

impl Consistency {
    /// Checks a valid line against the earlier ones, and remembers it when it agrees.
    pub fn check(&mut self, l: &ImportLine) -> Result<(), LineProblem> {
        let conflict = |field: &str, key: &str, other: u64| LineProblem {
            line: l.line,
            field: field.to_owned(),
            key: key.to_owned(),
            other_line: Some(other),
        };
        if let Some((first, print)) = self.accounts.get(&l.account_no)
            && *print != l.customer_print
        {
            return Err(conflict("account_no", "onboarding.err.customer_differs", *first));
        }
        let contact_key = l.contact.as_ref().map(|c| (l.account_no.clone(), c.name.clone()));
        if let Some(key) = &contact_key
            && let Some((first, print)) = self.contacts.get(key)
            && *print != l.contact_print
        {
            return Err(conflict("contact_name", "onboarding.err.contact_differs", *first));
        }
        if let Some(code) = l.point_code()
            && let Some((first, account, print)) = self.points.get(code)
        {
            if *account != l.account_no {
                return Err(conflict("point_code", "onboarding.err.point_other_customer", *first));
            }
            if *print != l.point_print {
                return Err(conflict("point_code", "onboarding.err.point_differs", *first));
            }
        }
        if let Some(meter) = &l.meter
            && let Some(first) = self.meters.get(&meter.serial)
        {
            return Err(conflict("meter_serial", "onboarding.err.meter_twice", *first));
        }
        self.accounts.entry(l.account_no.clone()).or_insert((l.line, l.customer_print));
        if let Some(key) = contact_key {
            self.contacts.entry(key).or_insert((l.line, l.contact_print));
        }
        if let Some(code) = l.point_code() {
            self.points.entry(code.to_owned()).or_insert((l.line, l.account_no.clone(), l.point_print));
        }
        if let Some(meter) = &l.meter {
            self.meters.insert(meter.serial.clone(), l.line);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn rules() -> Rules {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Rules {
            allowed: Allowed {
                classes: v(&["residential", "large_industry"]),
                industries: v(&["RES", "C26"]),
                voltages: v(&["v220", "kv10"]),
                tariffs: v(&["res_tiered", "large_two_part"]),
                routes: vec![("R01".into(), Uuid::nil())],
                ..Default::default()
            },
            points: PointCodes {
                voltages: v(&["v220", "kv10"]),
                routes: vec![("R01".into(), Uuid::nil())],
                ..Default::default()
            },
            today: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        }
    }

    const HEAD: &str = "account_no,name,class_code,industry_code,voltage_code,tariff_code,contact_name,contact_phone,point_code,meter_serial,meter_multiplier,meter_time_of_use";

    fn lines(text: &str) -> Vec<Result<ImportLine, Vec<LineProblem>>> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut records = reader.records().map(Result::unwrap);
        let head = records.next().unwrap();
        let header = Header::parse(head.iter()).unwrap();
        records.enumerate().map(|(n, r)| validate_line(&header, &r, n as u64 + 2, &rules())).collect()
    }

    fn fields(result: &Result<ImportLine, Vec<LineProblem>>) -> Vec<(u64, String, String)> {
        result.as_ref().unwrap_err().iter().map(|p| (p.line, p.field.clone(), p.key.clone())).collect()
    }

    #[test]
    fn a_complete_line_is_a_customer_a_contact_a_point_and_a_meter() {
        let text = format!(
            "{HEAD}\n3301000001,王建国,residential,RES,v220,res_tiered,王建国,13800138000,3301000001-1,M-00001,40,是\n"
        );
        let line = lines(&text).remove(0).unwrap();
        assert_eq!(line.account_no, "3301000001");
        assert_eq!(line.contact.unwrap().phone.as_deref(), Some("13800138000"));
        let point = line.point.unwrap();
        assert_eq!((point.code.as_deref(), point.voltage_code.as_str()), (Some("3301000001-1"), "v220"));
        let meter = line.meter.unwrap();
        assert_eq!((meter.multiplier, meter.time_of_use), (40.into(), true));
    }

    #[test]
    fn every_wrong_cell_is_named_with_its_line() {
        let text = format!("{HEAD}\n,王建国,martian,RES,v220,res_tiered,,12345,,M-00001,0,maybe\n");
        let got = fields(&lines(&text)[0]);
        let want = [
            ("account_no", "err.required"),
            ("class_code", "err.unknown_code"),
            ("contact_name", "err.required"),
            ("contact_phone", "err.phone_format"),
            ("point_code", "err.required"),
            ("meter_time_of_use", "err.flag_format"),
            ("meter_multiplier", "err.multiplier_format"),
        ];
        for (field, key) in want {
            assert!(got.contains(&(2, field.to_owned(), key.to_owned())), "{field} {key} missing from {got:?}");
        }
    }

    #[test]
    fn point_errors_carry_the_point_prefix() {
        let text = "account_no,name,class_code,industry_code,voltage_code,tariff_code,point_code,point_voltage_code,point_route_code\n\
                    3301000001,甲,residential,RES,v220,res_tiered,a/b,kv99,R99\n";
        let got = fields(&lines(text)[0]);
        assert_eq!(
            got.iter().map(|(_, f, _)| f.as_str()).collect::<Vec<_>>(),
            vec!["point_code", "point_voltage_code", "point_route_code"]
        );
    }

    #[test]
    fn the_header_names_unknown_repeated_and_missing_columns() {
        let problems = Header::parse(["account_no", "name", "name", "colour"]).unwrap_err();
        let got: Vec<_> = problems.iter().map(|p| (p.field.as_str(), p.key.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("name", "onboarding.err.column_twice"),
                ("colour", "onboarding.err.unknown_column"),
                ("class_code", "onboarding.err.missing_column"),
                ("industry_code", "onboarding.err.missing_column"),
                ("voltage_code", "onboarding.err.missing_column"),
                ("tariff_code", "onboarding.err.missing_column"),
            ]
        );
        assert!(Header::parse(columns().iter().copied()).is_ok());
    }

    #[test]
    fn a_customer_names_several_contacts_and_each_must_agree_with_itself() {
        let text = format!(
            "{HEAD}\n\
             3301000001,甲,residential,RES,v220,res_tiered,王会计,13800138000,P1,M-00001,,\n\
             3301000001,甲,residential,RES,v220,res_tiered,李电工,13800138001,,,,\n\
             3301000001,甲,residential,RES,v220,res_tiered,王会计,13900139000,,,,\n"
        );
        let mut seen = Consistency::default();
        let outcomes: Vec<_> = lines(&text)
            .into_iter()
            .map(|l| seen.check(&l.unwrap()).map_err(|p| (p.field, p.key, p.other_line)))
            .collect();
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(outcomes[1], Ok(()), "a second contact of the same customer");
        assert_eq!(outcomes[2], Err(("contact_name".into(), "onboarding.err.contact_differs".into(), Some(2))));
    }

    #[test]
    fn lines_of_one_customer_must_agree() {
        let text = format!(
            "{HEAD}\n\
             3301000001,甲,residential,RES,v220,res_tiered,,,P1,M-00001,,\n\
             3301000001,甲,residential,RES,v220,res_tiered,,,P1,M-00002,,\n\
             3301000001,乙,residential,RES,v220,res_tiered,,,P1,M-00003,,\n\
             3301000002,丙,residential,RES,v220,res_tiered,,,P1,M-00004,,\n\
             3301000002,丙,residential,RES,v220,res_tiered,,,P2,M-00001,,\n"
        );
        let mut seen = Consistency::default();
        let outcomes: Vec<_> = lines(&text)
            .into_iter()
            .map(|l| seen.check(&l.unwrap()).map_err(|p| (p.field, p.key, p.other_line)))
            .collect();
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(outcomes[1], Ok(()), "a second meter of the same customer and point");
        assert_eq!(outcomes[2], Err(("account_no".into(), "onboarding.err.customer_differs".into(), Some(2))));
        assert_eq!(outcomes[3], Err(("point_code".into(), "onboarding.err.point_other_customer".into(), Some(2))));
        assert_eq!(outcomes[4], Err(("meter_serial".into(), "onboarding.err.meter_twice".into(), Some(2))));
    }

    #[test]
    fn an_exports_formula_guard_is_taken_off() {
        let text = "account_no,name,class_code,industry_code,voltage_code,tariff_code\n\
                    3301000001,'=甲,residential,RES,v220,res_tiered\n";
        assert_eq!(lines(text).remove(0).unwrap().customer.name, "=甲");
    }

    #[test]
    fn identity_numbers() {
        assert!(is_id_number("11010519491231002X") && is_id_number("91330100MA27XXXX0X"));
        assert!(!is_id_number("1234") && !is_id_number("11010519491231002x"));
    }
}
