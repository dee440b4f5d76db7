//! Customer types and validation rules, with no database or HTTP in them.

use chrono::NaiveTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

pub const CHANNELS: [&str; 5] = ["sms", "email", "letter", "phone", "wechat"];
pub const IMPORTANCE_GRADES: [&str; 4] = ["special", "first", "second", "temporary"];
pub const STATUSES: [&str; 2] = ["active", "closed"];
/// Voltage levels at which a household can be supplied.
const RESIDENTIAL_VOLTAGES: [&str; 2] = ["v220", "v380"];

/// A customer as typed into a form or sent to the API: text, unchecked. For
/// a PATCH, a missing field keeps its value and an empty string clears it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CustomerDraft {
    /// Leave out to have the next number of the tenant assigned: 6–16 digits.
    #[schema(pattern = r"^([0-9]{6,16})?$")]
    pub account_no: Option<String>,
    #[schema(min_length = 1, max_length = 200, example = "王建国")]
    pub name: Option<String>,
    /// A code of the tenant's customer classes.
    #[schema(min_length = 1, example = "residential")]
    pub class_code: Option<String>,
    /// A code of the tenant's industries.
    #[schema(min_length = 1, example = "RES")]
    pub industry_code: Option<String>,
    /// A code of the tenant's voltage levels; a residential customer: v220 or v380.
    #[schema(min_length = 1, example = "v220")]
    pub voltage_code: Option<String>,
    /// A code of the tenant's tariffs.
    #[schema(min_length = 1, example = "res_tiered")]
    pub tariff_code: Option<String>,
    /// A code of the tenant's reading routes.
    pub route_code: Option<String>,
    #[schema(max_length = 300, example = "城东片区140号")]
    pub address: Option<String>,
    /// A mobile (11 digits from 13) or a landline with its area code (0 and 9–11 digits).
    #[schema(pattern = r"^(1[3-9][0-9]{9}|0[0-9]{9,11})?$")]
    pub phone: Option<String>,
    /// Contracted capacity in kVA, as a decimal string, e.g. "1250.00"
    /// (below ten million, at most two decimals); required for large industry.
    #[schema(pattern = r"^((0|[1-9][0-9]{0,6})(\.[0-9]{1,2})?)?$")]
    pub capacity_kva: Option<String>,
    /// special, first, second or temporary.
    #[schema(schema_with = crate::customers::api::importance_schema)]
    pub importance: Option<String>,
    /// An account manager of the tenant.
    #[schema(value_type = Option<Uuid>)]
    pub account_manager_id: Option<String>,
    /// Any of sms, email, letter, phone, wechat.
    #[schema(schema_with = crate::customers::api::channels_schema)]
    pub preferred_channels: Option<Vec<String>>,
    /// Start of quiet hours, HH:MM; with `quiet_to`.
    #[schema(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$")]
    pub quiet_from: Option<String>,
    #[schema(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$")]
    pub quiet_to: Option<String>,
    /// Codes of the tenant's tags.
    pub tags: Option<Vec<String>>,
    /// active or closed.
    #[schema(schema_with = crate::customers::api::status_schema)]
    pub status: Option<String>,
    /// The version this edit is based on; a stale one is refused.
    pub version: Option<i32>,
}

impl CustomerDraft {
    /// Fields present in `patch` replace those here.
    pub fn apply(mut self, patch: CustomerDraft) -> CustomerDraft {
        macro_rules! take {
            ($($f:ident),*) => { $( if patch.$f.is_some() { self.$f = patch.$f; } )* };
        }
        take!(
            name,
            class_code,
            industry_code,
            voltage_code,
            tariff_code,
            route_code,
            address,
            phone,
            capacity_kva,
            importance,
            account_manager_id,
            preferred_channels,
            quiet_from,
            quiet_to,
            tags,
            status,
            version
        );
        self
    }
}

/// The codes a draft may use, loaded from the tenant's reference lists.
#[derive(Default)]
pub struct Allowed {
    pub classes: Vec<String>,
    pub industries: Vec<String>,
    pub voltages: Vec<String>,
    pub tariffs: Vec<String>,
    pub tags: Vec<String>,
    pub routes: Vec<(String, Uuid)>,
    pub managers: Vec<Uuid>,
    /// The retired codes: refused as `retired_code` rather than `unknown_code`.
    pub retired: Retired,
}

/// Codes a tenant admin retired, list by list.
#[derive(Default)]
pub struct Retired {
    pub classes: Vec<String>,
    pub industries: Vec<String>,
    pub voltages: Vec<String>,
    pub tariffs: Vec<String>,
    pub tags: Vec<String>,
    pub routes: Vec<(String, Uuid)>,
}

impl Allowed {
    /// A customer keeps the codes it already has when edited, retired or not.
    pub fn keep_current(&mut self, current: &CustomerDraft) {
        fn keep(code: &Option<String>, allowed: &mut Vec<String>, retired: &[String]) {
            if let Some(code) = code.as_ref().filter(|c| retired.contains(c) && !allowed.contains(c)) {
                allowed.push(code.clone());
            }
        }
        let r = &self.retired;
        keep(&current.class_code, &mut self.classes, &r.classes);
        keep(&current.industry_code, &mut self.industries, &r.industries);
        keep(&current.voltage_code, &mut self.voltages, &r.voltages);
        keep(&current.tariff_code, &mut self.tariffs, &r.tariffs);
        for tag in current.tags.iter().flatten() {
            keep(&Some(tag.clone()), &mut self.tags, &r.tags);
        }
        if let Some(route) = r.routes.iter().find(|(c, _)| Some(c) == current.route_code.as_ref()) {
            self.routes.push(route.clone());
        }
    }
}

/// A customer that passed every check; what gets written, and what the audit
/// log records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidCustomer {
    pub account_no: Option<String>,
    pub name: String,
    pub class_code: String,
    pub industry_code: String,
    pub voltage_code: String,
    pub tariff_code: String,
    pub route_code: Option<String>,
    #[serde(skip)]
    pub route_id: Option<Uuid>,
    pub address: String,
    pub phone: Option<String>,
    pub capacity_kva: Option<Decimal>,
    pub importance: Option<String>,
    pub account_manager_id: Option<Uuid>,
    pub preferred_channels: Vec<String>,
    pub quiet_from: Option<NaiveTime>,
    pub quiet_to: Option<NaiveTime>,
    pub tags: Vec<String>,
    pub status: String,
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn required<'a>(value: &'a Option<String>, field: &'static str, errors: &mut FieldErrors) -> &'a str {
    text(value).unwrap_or_else(|| {
        errors.add(field, "required");
        ""
    })
}

/// A code that must be given and be one of `allowed`; one of `retired` is
/// named as such.
pub fn current_code(
    value: &Option<String>,
    field: &'static str,
    allowed: &[String],
    retired: &[String],
    errors: &mut FieldErrors,
) -> String {
    let code = required(value, field, errors);
    if !code.is_empty() && !allowed.iter().any(|a| a == code) {
        errors.add(field, if retired.iter().any(|r| r == code) { "retired_code" } else { "unknown_code" });
    }
    code.to_owned()
}

pub fn validate(draft: &CustomerDraft, allowed: &Allowed) -> Result<ValidCustomer, FieldErrors> {
    let mut errors = FieldErrors::default();

    let account_no = text(&draft.account_no).map(|a| {
        if !is_account_no(a) {
            errors.add("account_no", "account_no_format");
        }
        a.to_owned()
    });
    let name = input::visible_text(draft.name.as_deref().unwrap_or(""), 200, "name", true, &mut errors);
    let retired = &allowed.retired;
    let class_code = current_code(&draft.class_code, "class_code", &allowed.classes, &retired.classes, &mut errors);
    let industry_code =
        current_code(&draft.industry_code, "industry_code", &allowed.industries, &retired.industries, &mut errors);
    let voltage_code =
        current_code(&draft.voltage_code, "voltage_code", &allowed.voltages, &retired.voltages, &mut errors);
    let tariff_code = current_code(&draft.tariff_code, "tariff_code", &allowed.tariffs, &retired.tariffs, &mut errors);
    if class_code == "residential" && !voltage_code.is_empty() && !RESIDENTIAL_VOLTAGES.contains(&voltage_code.as_str())
    {
        errors.add("voltage_code", "voltage_not_for_class");
    }

    let (route_code, route_id) = match text(&draft.route_code) {
        None => (None, None),
        Some(code) => match allowed.routes.iter().find(|(c, _)| c == code) {
            Some((c, id)) => (Some(c.clone()), Some(*id)),
            None => {
                let is_retired = retired.routes.iter().any(|(c, _)| c == code);
                errors.add("route_code", if is_retired { "retired_code" } else { "unknown_code" });
                (None, None)
            }
        },
    };
    let address = input::visible_text(draft.address.as_deref().unwrap_or(""), 300, "address", false, &mut errors);
    let phone = text(&draft.phone).and_then(|p| {
        let parsed = parse_phone(p);
        if parsed.is_none() {
            errors.add("phone", "phone_format");
        }
        parsed
    });
    let capacity_kva = text(&draft.capacity_kva).and_then(|c| {
        let parsed = parse_capacity(c);
        if parsed.is_none() {
            errors.add("capacity_kva", "capacity_format");
        }
        parsed
    });
    // The two-part tariff bills on capacity, so large industry must state it.
    if class_code == "large_industry" && capacity_kva.is_none() && !errors.has("capacity_kva") {
        errors.add("capacity_kva", "capacity_required");
    }
    let importance = text(&draft.importance).map(|g| {
        if !IMPORTANCE_GRADES.contains(&g) {
            errors.add("importance", "unknown_code");
        }
        g.to_owned()
    });
    let account_manager_id = text(&draft.account_manager_id).and_then(|m| match Uuid::try_parse(m) {
        Ok(id) if allowed.managers.contains(&id) => Some(id),
        _ => {
            errors.add("account_manager_id", "unknown_manager");
            None
        }
    });
    let mut preferred_channels: Vec<String> = draft.preferred_channels.clone().unwrap_or_default();
    preferred_channels.retain(|c| !c.trim().is_empty());
    preferred_channels.sort_by_key(|c| CHANNELS.iter().position(|k| k == c).unwrap_or(usize::MAX));
    preferred_channels.dedup();
    if preferred_channels.iter().any(|c| !CHANNELS.contains(&c.as_str())) {
        errors.add("preferred_channels", "unknown_code");
    }
    let (quiet_from, quiet_to) = parse_quiet_hours(&draft.quiet_from, &draft.quiet_to, &mut errors);
    let mut tags: Vec<String> = draft.tags.clone().unwrap_or_default();
    tags.retain(|t| !t.trim().is_empty());
    tags.sort();
    tags.dedup();
    if let Some(tag) = tags.iter().find(|t| !allowed.tags.contains(t)) {
        errors.add("tags", if retired.tags.contains(tag) { "retired_code" } else { "unknown_code" });
    }
    let status = text(&draft.status).unwrap_or("active").to_owned();
    if !STATUSES.contains(&status.as_str()) {
        errors.add("status", "unknown_code");
    }

    errors.finish(ValidCustomer {
        account_no,
        name,
        class_code,
        industry_code,
        voltage_code,
        tariff_code,
        route_code,
        route_id,
        address,
        phone,
        capacity_kva,
        importance,
        account_manager_id,
        preferred_channels,
        quiet_from,
        quiet_to,
        tags,
        status,
    })
}

pub fn is_account_no(s: &str) -> bool {
    (6..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account number for the `n`th customer of a tenant with `prefix`:
/// prefix, then the running number padded to eight digits.
pub fn format_account_no(prefix: &str, n: i64) -> String {
    format!("{prefix}{n:08}")
}

/// A mainland mobile (11 digits starting with 1) or a landline with its area
/// code (0 + 2–3 digits, then 7–8 digits). Spaces and dashes are dropped;
/// a leading +86 or 0086 is dropped for mobiles.
pub fn parse_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let digits = digits.strip_prefix("+86").or_else(|| digits.strip_prefix("0086")).unwrap_or(&digits);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mobile = digits.len() == 11 && digits.starts_with('1') && digits.as_bytes()[1] >= b'3';
    let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
    (mobile || landline).then(|| digits.to_owned())
}

/// Capacity in kVA: a plain decimal (no exponent or grouping), non-negative,
/// at most two decimals, below ten million.
pub fn parse_capacity(raw: &str) -> Option<Decimal> {
    input::plain_decimal(raw, 7, 2).filter(|value| *value >= Decimal::ZERO)
}

/// A customer's quiet hours as typed (fields `quiet_from`, `quiet_to`):
/// both ends, HH:MM, or neither.
pub fn parse_quiet_hours(
    from: &Option<String>,
    to: &Option<String>,
    errors: &mut FieldErrors,
) -> (Option<NaiveTime>, Option<NaiveTime>) {
    let quiet_from = parse_time(from, "quiet_from", errors);
    let quiet_to = parse_time(to, "quiet_to", errors);
    if quiet_from.is_some() != quiet_to.is_some() && !errors.has("quiet_from") && !errors.has("quiet_to") {
        errors.add(if quiet_from.is_none() { "quiet_from" } else { "quiet_to" }, "quiet_hours_pair");
    }
    (quiet_from, quiet_to)
}

fn parse_time(value: &Option<String>, field: &'static str, errors: &mut FieldErrors) -> Option<NaiveTime> {
    let raw = text(value)?;
    let parsed = NaiveTime::parse_from_str(raw, "%H:%M").or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"));
    match parsed {
        Ok(t) => Some(t),
        Err(_) => {
            errors.add(field, "time_format");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Allowed {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        Allowed {
            classes: v(&["residential", "large_industry"]),
            industries: v(&["RES", "C26"]),
            voltages: v(&["v220", "kv10"]),
            tariffs: v(&["res_tiered", "large_two_part"]),
            tags: v(&["elderly", "online_payer"]),
            routes: vec![("R01".into(), Uuid::nil())],
            managers: vec![Uuid::from_u128(7)],
            retired: Retired { industries: v(&["B06"]), ..Default::default() },
        }
    }

    #[test]
    fn a_retired_code_is_refused_for_new_values_but_kept_by_its_holder() {
        let draft = CustomerDraft { industry_code: Some("B06".into()), ..resident() };
        let errors = validate(&draft, &allowed()).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [("industry_code", "retired_code")]
        );
        let mut keeping = allowed();
        keeping.keep_current(&draft);
        assert_eq!(validate(&draft, &keeping).unwrap().industry_code, "B06");
        // An unknown code is still unknown, not retired.
        let martian = CustomerDraft { industry_code: Some("Z99".into()), ..resident() };
        assert!(validate(&martian, &keeping).unwrap_err().iter().any(|e| e.code == "unknown_code"));
    }

    fn resident() -> CustomerDraft {
        CustomerDraft {
            name: Some(" 王建国 ".into()),
            class_code: Some("residential".into()),
            industry_code: Some("RES".into()),
            voltage_code: Some("v220".into()),
            tariff_code: Some("res_tiered".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_resident_is_valid_and_trimmed() {
        let valid = validate(&resident(), &allowed()).unwrap();
        assert_eq!(valid.name, "王建国");
        assert_eq!(valid.status, "active");
        assert_eq!(valid.account_no, None);
    }

    #[test]
    fn every_missing_required_field_is_named() {
        let errors = validate(&CustomerDraft::default(), &allowed()).unwrap_err();
        for field in ["name", "class_code", "industry_code", "voltage_code", "tariff_code"] {
            assert!(errors.has(field), "{field} not reported");
        }
    }

    #[test]
    fn unknown_codes_are_refused() {
        let draft = CustomerDraft {
            class_code: Some("martian".into()),
            tags: Some(vec!["vip".into()]),
            route_code: Some("R99".into()),
            preferred_channels: Some(vec!["pigeon".into()]),
            ..resident()
        };
        let errors = validate(&draft, &allowed()).unwrap_err();
        for field in ["class_code", "tags", "route_code", "preferred_channels"] {
            assert!(errors.has(field), "{field} not reported");
        }
    }

    #[test]
    fn large_industry_needs_its_capacity() {
        let draft = CustomerDraft {
            class_code: Some("large_industry".into()),
            voltage_code: Some("kv10".into()),
            tariff_code: Some("large_two_part".into()),
            industry_code: Some("C26".into()),
            ..resident()
        };
        assert!(validate(&draft, &allowed()).unwrap_err().has("capacity_kva"));
        let with_capacity = CustomerDraft { capacity_kva: Some("1250".into()), ..draft };
        assert_eq!(validate(&with_capacity, &allowed()).unwrap().capacity_kva, Some(Decimal::from(1250)));
    }

    #[test]
    fn households_are_not_supplied_at_high_voltage() {
        let draft = CustomerDraft { voltage_code: Some("kv10".into()), ..resident() };
        assert!(validate(&draft, &allowed()).unwrap_err().has("voltage_code"));
    }

    #[test]
    fn quiet_hours_come_in_pairs() {
        let draft = CustomerDraft { quiet_from: Some("22:00".into()), ..resident() };
        assert!(validate(&draft, &allowed()).unwrap_err().has("quiet_to"));
        let bad = CustomerDraft { quiet_from: Some("25:00".into()), quiet_to: Some("07:00".into()), ..resident() };
        assert!(validate(&bad, &allowed()).unwrap_err().has("quiet_from"));
        let ok = CustomerDraft { quiet_from: Some("22:00".into()), quiet_to: Some("07:00".into()), ..resident() };
        assert!(validate(&ok, &allowed()).is_ok());
    }

    #[test]
    fn a_name_needs_a_visible_character() {
        for blank in ["\u{200B}\u{200C}", "\u{FEFF}", " \u{2060} "] {
            let draft = CustomerDraft { name: Some(blank.into()), ..resident() };
            assert!(validate(&draft, &allowed()).unwrap_err().has("name"), "{blank:?}");
        }
        let draft = CustomerDraft { address: Some("\u{200D}".into()), ..resident() };
        assert!(validate(&draft, &allowed()).unwrap_err().has("address"));
    }

    #[test]
    fn managers_must_be_account_managers_of_this_tenant() {
        let draft = CustomerDraft { account_manager_id: Some(Uuid::from_u128(8).to_string()), ..resident() };
        assert!(validate(&draft, &allowed()).unwrap_err().has("account_manager_id"));
        let ok = CustomerDraft { account_manager_id: Some(Uuid::from_u128(7).to_string()), ..resident() };
        assert_eq!(validate(&ok, &allowed()).unwrap().account_manager_id, Some(Uuid::from_u128(7)));
    }

    #[test]
    fn channels_are_ordered_and_deduplicated() {
        let draft =
            CustomerDraft { preferred_channels: Some(vec!["wechat".into(), "sms".into(), "sms".into()]), ..resident() };
        assert_eq!(validate(&draft, &allowed()).unwrap().preferred_channels, vec!["sms", "wechat"]);
    }

    #[test]
    fn phones() {
        assert_eq!(parse_phone("138 0013 8000").as_deref(), Some("13800138000"));
        assert_eq!(parse_phone("+86 139-0000-1111").as_deref(), Some("13900001111"));
        assert_eq!(parse_phone("0571-87654321").as_deref(), Some("057187654321"));
        assert_eq!(parse_phone("12345678901"), None);
        assert_eq!(parse_phone("1380013800"), None);
        assert_eq!(parse_phone("abc"), None);
    }

    #[test]
    fn capacities() {
        assert_eq!(parse_capacity("315"), Some(Decimal::from(315)));
        assert_eq!(parse_capacity("12.5"), Some("12.5".parse().unwrap()));
        assert_eq!(parse_capacity("-1"), None);
        assert_eq!(parse_capacity("1.234"), None);
        assert_eq!(parse_capacity("lots"), None);
        assert_eq!(parse_capacity("1e3"), None);
        assert_eq!(parse_capacity("1,000"), None);
        assert_eq!(parse_capacity("10000000"), None);
    }

    #[test]
    fn account_numbers() {
        assert_eq!(format_account_no("01", 42), "0100000042");
        assert!(is_account_no("0100000042"));
        assert!(!is_account_no("01-0042"));
        assert!(!is_account_no("123"));
    }

    #[test]
    fn a_patch_keeps_what_it_does_not_name() {
        let patched = resident().apply(CustomerDraft { phone: Some("13800138000".into()), ..Default::default() });
        assert_eq!(patched.name.as_deref(), Some(" 王建国 "));
        assert_eq!(patched.phone.as_deref(), Some("13800138000"));
        let cleared = patched.apply(CustomerDraft { phone: Some(String::new()), ..Default::default() });
        assert_eq!(validate(&cleared, &allowed()).unwrap().phone, None);
    }
}
