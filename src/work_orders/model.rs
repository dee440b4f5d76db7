//! What a work order is made of, the checks on a new one, and what each step
//! of its workflow needs (a crew to dispatch, a complete documents checklist to
//! review, a supply plan, the customer's confirmation, a supply point to power
//! on). No database, no HTTP.

use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    complaints::model::one_of,
    customers::model::parse_capacity,
    web::{
        error::FieldErrors,
        input::{self, visible_text},
    },
    work_orders::change::{self, ChangeDraft, ValidChange},
    workflow::{CHANGE, EXPANSION, REPAIR, TASK, Workflow},
};

pub const KINDS: [&str; 15] = [
    "repair",
    "expansion",
    "meter_check",
    "periodic_visit",
    "outage_negotiation",
    "paid_maintenance",
    // Change of use (see change.rs).
    "new_connection",
    "capacity_increase",
    "capacity_reduction",
    "suspension",
    "restoration",
    "transfer_of_ownership",
    "change_of_name",
    "change_of_tariff",
    "account_closing",
];
/// 1 urgent, 2 high, 3 normal, 4 low.
pub const PRIORITIES: [i16; 4] = [1, 2, 3, 4];
pub const AREA_TYPES: [&str; 3] = ["urban", "rural", "remote"];
pub const CUSTOMER_TYPES: [&str; 4] = ["residential", "low_voltage", "hv_single", "hv_double"];
/// Every document an expansion application may need.
pub const DOCUMENTS: [&str; 6] =
    ["application_form", "identity", "property_proof", "business_licence", "load_list", "site_plan"];
/// Customer importance grades whose orders go through the green channel (绿色通道),
/// besides customers tagged `vip`.
pub const GREEN_CHANNEL_GRADES: [&str; 2] = ["special", "first"];
pub const VIP_TAG: &str = "vip";

pub fn workflow_of(kind: &str) -> &'static Workflow {
    match kind {
        "repair" => &REPAIR,
        "expansion" | change::NEW_CONNECTION => &EXPANSION,
        k if change::is_change_kind(k) => &CHANGE,
        _ => &TASK,
    }
}

/// The documents the review of an expansion needs, by customer type: a
/// household brings less than a high-voltage works.
pub fn required_documents(customer_type: &str) -> &'static [&'static str] {
    match customer_type {
        "residential" => &DOCUMENTS[..3],
        "low_voltage" => &DOCUMENTS[..5],
        _ => &DOCUMENTS,
    }
}

/// VIP-listed and important customers' orders jump the queue and are supervised.
pub fn is_green_channel(importance: Option<&str>, tags: &[String]) -> bool {
    importance.is_some_and(|g| GREEN_CHANNEL_GRADES.contains(&g)) || tags.iter().any(|t| t == VIP_TAG)
}

/// The variant of the SLA limit an order's clocks use: the area type for a
/// repair's arrival, the customer type for an expansion stage.
pub fn limit_variant<'a>(kind: &str, area_type: Option<&'a str>, customer_type: Option<&'a str>) -> &'a str {
    match kind {
        "repair" => area_type.unwrap_or(""),
        "expansion" | change::NEW_CONNECTION => customer_type.unwrap_or(""),
        _ => "",
    }
}

/// A work order as typed at the counter or sent by another system. Numbers
/// that need exact decimals (coordinates, capacity) are strings.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct WorkOrderDraft {
    /// repair, expansion, meter_check, periodic_visit, outage_negotiation or paid_maintenance.
    #[serde(default)]
    #[schema(required = true, schema_with = crate::work_orders::api::kind_schema)]
    pub kind: String,
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub customer_id: Option<String>,
    /// The supply point concerned (for an expansion: the one whose capacity changes).
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub supply_point_id: Option<String>,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, example = "表计校验")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
    /// 1 urgent, 2 high, 3 normal (default), 4 low.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4)]
    pub priority: Option<i16>,
    /// Repair: where the fault is (required for a repair).
    #[serde(default)]
    #[schema(max_length = 300)]
    pub address: String,
    /// Repair: optional coordinates, decimal degrees as strings, both or neither.
    #[serde(default)]
    #[schema(pattern = r"^(-?(90(\.0{1,12})?|[0-8]?[0-9](\.[0-9]{1,12})?))?$")]
    pub latitude: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^(-?(180(\.0{1,12})?|(1[0-7][0-9]|[0-9]?[0-9])(\.[0-9]{1,12})?))?$")]
    pub longitude: Option<String>,
    /// Repair: urban, rural or remote (sets the arrival limit; required for a repair).
    #[serde(default)]
    #[schema(schema_with = crate::work_orders::api::area_type_schema)]
    pub area_type: Option<String>,
    /// Repair: the reading route whose customers are affected, by code.
    #[serde(default)]
    pub affected_route: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub affected_transformer: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub affected_area: String,
    /// Expansion: residential, low_voltage, hv_single or hv_double (required for an expansion).
    #[serde(default)]
    #[schema(schema_with = crate::work_orders::api::customer_type_schema)]
    pub customer_type: Option<String>,
    /// Expansion: the supply point's capacity after the work, in kVA, e.g. "630"
    /// (more than 0, below ten million, at most two decimals; required for an expansion).
    #[serde(default)]
    #[schema(pattern = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,6}(\.[0-9]{1,2})?)?$")]
    pub requested_capacity_kva: Option<String>,
    /// API only: the username of the staff member who owns the order.
    #[serde(default)]
    pub owner: Option<String>,
    // What a change of use asks for (by kind). In the draft itself, not a
    // flattened struct: fields ignored inside `#[serde(flatten)]` are
    // invisible to the API's check of what the handler reads.
    /// Transfer of ownership: the new holder when already a customer.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub new_holder_id: Option<String>,
    /// Transfer of ownership: the new holder's name when they are a new customer.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub new_holder_name: Option<String>,
    /// Transfer of ownership: a new holder's mobile (11 digits from 13) or
    /// landline with its area code (0 and 9–11 digits).
    #[serde(default)]
    #[schema(max_length = 30, pattern = r"^(1[3-9][0-9]{9}|0[0-9]{9,11})?$")]
    pub new_holder_phone: Option<String>,
    /// Change of name: the customer's new name.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub new_name: Option<String>,
    /// Change of tariff: the new tariff category, by code.
    #[serde(default)]
    #[schema(max_length = 40)]
    pub tariff_code: Option<String>,
    /// New connection: the supply point's address (blank: the customer's).
    #[serde(default)]
    #[schema(max_length = 300)]
    pub point_address: Option<String>,
    /// New connection: the supply point's voltage level, by code (required).
    #[serde(default)]
    #[schema(max_length = 40)]
    pub point_voltage_code: Option<String>,
    /// New connection: the serial of the meter power-on installs (required).
    #[serde(default)]
    #[schema(pattern = r"^([A-Za-z0-9-]{4,32})?$")]
    pub meter_serial: Option<String>,
    /// New connection: the meter's multiplier (CT/PT ratio), default 1.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,8}(\.[0-9]{1,2})?)?$")]
    pub meter_multiplier: Option<String>,
    /// New connection: the register's reading when installed, default 0.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub initial_reading: Option<String>,
}

impl WorkOrderDraft {
    /// The change-of-use fields.
    pub fn change(&self) -> ChangeDraft {
        ChangeDraft {
            new_holder_id: self.new_holder_id.clone(),
            new_holder_name: self.new_holder_name.clone(),
            new_holder_phone: self.new_holder_phone.clone(),
            new_name: self.new_name.clone(),
            tariff_code: self.tariff_code.clone(),
            point_address: self.point_address.clone(),
            point_voltage_code: self.point_voltage_code.clone(),
            meter_serial: self.meter_serial.clone(),
            meter_multiplier: self.meter_multiplier.clone(),
            initial_reading: self.initial_reading.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidWorkOrder {
    pub kind: String,
    pub customer_id: Option<Uuid>,
    pub supply_point_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub priority: i16,
    pub address: String,
    pub latitude: Option<Decimal>,
    pub longitude: Option<Decimal>,
    pub area_type: Option<String>,
    pub affected_route: Option<String>,
    pub affected_transformer: String,
    pub affected_area: String,
    pub customer_type: Option<String>,
    pub requested_capacity_kva: Option<Decimal>,
    pub change: Option<ValidChange>,
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn parse_id(
    value: &Option<String>,
    field: &'static str,
    code: &'static str,
    errors: &mut FieldErrors,
) -> Option<Uuid> {
    let raw = filled(value)?;
    let parsed = Uuid::parse_str(raw).ok();
    if parsed.is_none() {
        errors.add(field, code);
    }
    parsed
}

fn coordinate(value: &Option<String>, limit: i64, field: &'static str, errors: &mut FieldErrors) -> Option<Decimal> {
    let raw = filled(value)?;
    match input::plain_decimal(raw, 3, 12) {
        Some(v) if v.abs() <= Decimal::from(limit) => Some(v.round_dp(6)),
        _ => {
            errors.add(field, "coordinate_range");
            None
        }
    }
}

/// Checks a new order; the kind decides which fields are required.
pub fn validate(draft: &WorkOrderDraft) -> Result<ValidWorkOrder, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = one_of(&draft.kind, &KINDS, "kind", &mut errors);
    let customer_id = parse_id(&draft.customer_id, "customer_id", "unknown_customer", &mut errors);
    let supply_point_id = parse_id(&draft.supply_point_id, "supply_point_id", "unknown_supply_point", &mut errors);
    let title = visible_text(&draft.title, 200, "title", true, &mut errors);
    let description = visible_text(&draft.description, 4000, "description", false, &mut errors);
    let priority = draft.priority.unwrap_or(3);
    if !PRIORITIES.contains(&priority) {
        errors.add("priority", "unknown_code");
    }
    let address = visible_text(&draft.address, 300, "address", kind == "repair", &mut errors);
    let latitude = coordinate(&draft.latitude, 90, "latitude", &mut errors);
    let longitude = coordinate(&draft.longitude, 180, "longitude", &mut errors);
    if latitude.is_some() != longitude.is_some() && !errors.has("latitude") && !errors.has("longitude") {
        errors.add(if latitude.is_none() { "latitude" } else { "longitude" }, "coordinates_in_pairs");
    }
    let area_type = match (kind.as_str(), filled(&draft.area_type)) {
        ("repair", None) => {
            errors.add("area_type", "required");
            None
        }
        (_, Some(a)) => Some(one_of(a, &AREA_TYPES, "area_type", &mut errors)),
        (_, None) => None,
    };
    let customer_type = match (kind.as_str(), filled(&draft.customer_type)) {
        ("expansion" | change::NEW_CONNECTION, None) => {
            errors.add("customer_type", "required");
            None
        }
        (_, Some(t)) => Some(one_of(t, &CUSTOMER_TYPES, "customer_type", &mut errors)),
        (_, None) => None,
    };
    let requested_capacity_kva = match (kind.as_str(), filled(&draft.requested_capacity_kva)) {
        ("expansion" | change::NEW_CONNECTION, None) => {
            errors.add("requested_capacity_kva", "required");
            None
        }
        (_, Some(raw)) => {
            let parsed = parse_capacity(raw).filter(|c| *c > Decimal::ZERO);
            if parsed.is_none() {
                errors.add("requested_capacity_kva", "capacity_format");
            }
            parsed
        }
        (_, None) => None,
    };
    // An expansion changes a customer's connection: it needs the customer.
    if (kind == "expansion" || change::changes_archive(&kind)) && customer_id.is_none() && !errors.has("customer_id") {
        errors.add("customer_id", "required");
    }
    let change = change::validate(
        &kind,
        &draft.change(),
        supply_point_id.is_some(),
        requested_capacity_kva.is_some(),
        &mut errors,
    );
    let affected_transformer =
        visible_text(&draft.affected_transformer, 100, "affected_transformer", false, &mut errors);
    let affected_area = visible_text(&draft.affected_area, 200, "affected_area", false, &mut errors);
    errors.finish(ValidWorkOrder {
        kind,
        customer_id,
        supply_point_id,
        title,
        description,
        priority,
        address,
        latitude,
        longitude,
        area_type,
        affected_route: filled(&draft.affected_route).map(str::to_owned),
        affected_transformer,
        affected_area,
        customer_type,
        requested_capacity_kva,
        change,
    })
}

/// What a step may carry besides its comment.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StepInput {
    /// The action: an edge of the order's workflow (another answers 409).
    #[serde(default)]
    #[schema(required = true, schema_with = crate::work_orders::api::action_schema)]
    pub action: String,
    /// Required to restore a repair or to cancel.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: String,
    /// The order's version this is based on; a changed order answers 409.
    #[serde(default)]
    pub version: Option<i32>,
    /// Repair `dispatch`: the crew sent.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub crew: Option<String>,
    /// Expansion `review`: the documents received (the checklist).
    #[serde(default)]
    #[schema(schema_with = crate::work_orders::api::documents_schema)]
    pub documents: Vec<String>,
    /// Expansion `draft_plan`: the supply plan.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub supply_plan: Option<String>,
    /// Expansion `agree_plan`: who confirmed the plan for the customer.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub confirmed_by: Option<String>,
    /// Expansion `power_on`: the supply point, when the order names none yet.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub supply_point_id: Option<String>,
    /// Account closing and transfer of ownership `complete`: the meter's
    /// final reading, which ends the (old) holder's use (required).
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{1,12}(\.[0-9]{1,2})?)?$")]
    pub final_reading: Option<String>,
    /// Account closing and transfer `complete` for a customer with several
    /// meters: every installed meter's serial, and in `final_readings` its
    /// final reading at the same position (instead of `final_reading`).
    #[serde(default)]
    #[schema(schema_with = crate::work_orders::api::meter_serials_schema)]
    pub meter_serials: Vec<String>,
    /// The final readings of the meters in `meter_serials`, in their order.
    #[serde(default)]
    #[schema(schema_with = crate::work_orders::api::readings_schema)]
    pub final_readings: Vec<String>,
}

/// The most meters one closing or transfer takes readings for.
pub const MAX_METERS: usize = 50;

/// The final readings a closing or a transfer is completed with: one for
/// the customer's only meter, or one per meter named by its serial.
#[derive(Clone, Debug, PartialEq)]
pub enum FinalReadings {
    One(Decimal),
    PerMeter(Vec<(String, Decimal)>),
}

/// Checks the final readings of a closing or a transfer: either
/// `final_reading`, or a reading for each serial in `meter_serials`.
fn check_final_readings(input: &StepInput, errors: &mut FieldErrors) -> Option<FinalReadings> {
    if input.meter_serials.is_empty() && input.final_readings.is_empty() {
        return match filled(&input.final_reading) {
            None => {
                errors.add("final_reading", "required");
                None
            }
            Some(raw) => change::parse_reading(raw).map(FinalReadings::One).or_else(|| {
                errors.add("final_reading", "reading_format");
                None
            }),
        };
    }
    if input.meter_serials.len() != input.final_readings.len() || input.meter_serials.len() > MAX_METERS {
        errors.add("final_readings", "readings_per_meter");
        return None;
    }
    let mut readings: Vec<(String, Decimal)> = Vec::with_capacity(input.meter_serials.len());
    for (serial, raw) in input.meter_serials.iter().zip(&input.final_readings) {
        let serial = serial.trim();
        if serial.is_empty() || readings.iter().any(|(s, _)| s == serial) {
            errors.add("meter_serials", "readings_per_meter");
        }
        match raw.trim() {
            "" => errors.add("final_readings", "required"),
            raw => match change::parse_reading(raw) {
                Some(reading) => readings.push((serial.to_owned(), reading)),
                None => errors.add("final_readings", "reading_format"),
            },
        }
    }
    (!errors.has("final_readings") && !errors.has("meter_serials")).then_some(FinalReadings::PerMeter(readings))
}

/// The data a checked step writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepData {
    pub crew: Option<String>,
    pub documents: Option<Vec<String>>,
    pub supply_plan: Option<String>,
    pub confirmed_by: Option<String>,
    pub supply_point_id: Option<Uuid>,
    pub final_readings: Option<FinalReadings>,
}

/// The order as far as checking a step needs it.
pub struct OrderFacts<'a> {
    pub kind: &'a str,
    pub customer_type: Option<&'a str>,
    pub supply_point_id: Option<Uuid>,
}

/// Checks what `action` needs on this order. The edge itself is checked by
/// the workflow; this is what a clerk must fill in for it.
pub fn check_step(order: &OrderFacts<'_>, input: &StepInput) -> Result<StepData, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut data = StepData::default();
    let comment = input.comment.trim();
    if comment.chars().count() > 2000 {
        errors.add("comment", "too_long");
    }
    match (order.kind, input.action.as_str()) {
        ("repair", "dispatch") => {
            data.crew = Some(visible_text(input.crew.as_deref().unwrap_or(""), 100, "crew", true, &mut errors));
        }
        ("repair", "restore") | (_, "cancel") if !crate::web::input::has_visible_char(comment) => {
            // What was done, or why it was dropped, is what the customer will ask.
            errors.add("comment", "comment_required");
        }
        (kind, "review") if change::is_change_kind(kind) => {
            data.documents = Some(change::check_documents(kind, &input.documents, &mut errors));
        }
        ("account_closing" | "transfer_of_ownership", "complete") => {
            data.final_readings = check_final_readings(input, &mut errors);
        }
        ("expansion" | change::NEW_CONNECTION, "review") => {
            let mut documents: Vec<String> = Vec::new();
            for d in &input.documents {
                if !DOCUMENTS.contains(&d.as_str()) {
                    errors.add("documents", "unknown_code");
                } else if !documents.contains(d) {
                    documents.push(d.clone());
                }
            }
            let required = required_documents(order.customer_type.unwrap_or(""));
            if required.iter().any(|r| !documents.iter().any(|d| d == r)) && !errors.has("documents") {
                errors.add("documents", "documents_incomplete");
            }
            data.documents = Some(documents);
        }
        ("expansion" | change::NEW_CONNECTION, "draft_plan") => {
            data.supply_plan =
                Some(visible_text(input.supply_plan.as_deref().unwrap_or(""), 4000, "supply_plan", true, &mut errors));
        }
        ("expansion" | change::NEW_CONNECTION, "agree_plan") => {
            data.confirmed_by =
                Some(visible_text(input.confirmed_by.as_deref().unwrap_or(""), 100, "confirmed_by", true, &mut errors));
        }
        ("expansion", "power_on") => {
            let chosen = parse_id(&input.supply_point_id, "supply_point_id", "unknown_supply_point", &mut errors);
            data.supply_point_id = chosen.or(order.supply_point_id);
            if data.supply_point_id.is_none() && !errors.has("supply_point_id") {
                // The new capacity has to land on a supply point.
                errors.add("supply_point_id", "required");
            }
        }
        _ => {}
    }
    // A field this step does not use is still checked against its documented
    // form: a malformed value is refused, not silently dropped.
    if !errors.has("documents") && input.documents.iter().any(|d| !change::all_documents().contains(&d.as_str())) {
        errors.add("documents", "unknown_code");
    }
    if !errors.has("supply_point_id") && filled(&input.supply_point_id).is_some_and(|s| Uuid::parse_str(s).is_err()) {
        errors.add("supply_point_id", "unknown_supply_point");
    }
    if !errors.has("final_reading") && filled(&input.final_reading).is_some_and(|r| change::parse_reading(r).is_none())
    {
        errors.add("final_reading", "reading_format");
    }
    if !errors.has("final_readings") && input.final_readings.iter().any(|r| change::parse_reading(r).is_none()) {
        errors.add("final_readings", "reading_format");
    }
    errors.finish(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repair() -> WorkOrderDraft {
        WorkOrderDraft {
            kind: "repair".into(),
            title: "No power in building 3".into(),
            address: "Jianshe Rd 12".into(),
            area_type: Some("urban".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_repair_needs_an_address_and_an_area_type() {
        let valid = validate(&repair()).unwrap();
        assert_eq!(valid.priority, 3);
        assert_eq!(valid.area_type.as_deref(), Some("urban"));
        let errors = validate(&WorkOrderDraft { address: String::new(), area_type: None, ..repair() }).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields, vec![("address", "required"), ("area_type", "required")]);
    }

    #[test]
    fn an_expansion_needs_customer_type_capacity_and_customer() {
        let draft = WorkOrderDraft { kind: "expansion".into(), title: "New workshop".into(), ..Default::default() };
        let errors = validate(&draft).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![("customer_type", "required"), ("requested_capacity_kva", "required"), ("customer_id", "required")]
        );
        let ok = WorkOrderDraft {
            customer_id: Some(Uuid::nil().to_string()),
            customer_type: Some("hv_single".into()),
            requested_capacity_kva: Some("630".into()),
            ..draft
        };
        assert_eq!(validate(&ok).unwrap().requested_capacity_kva, Some(Decimal::from(630)));
    }

    #[test]
    fn bad_numbers_are_named() {
        let draft = WorkOrderDraft {
            priority: Some(9),
            latitude: Some("91".into()),
            longitude: Some("120.5".into()),
            requested_capacity_kva: Some("-5".into()),
            ..repair()
        };
        let errors = validate(&draft).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            vec![
                ("priority", "unknown_code"),
                ("latitude", "coordinate_range"),
                ("requested_capacity_kva", "capacity_format")
            ]
        );
        let half = WorkOrderDraft { latitude: Some("31.2".into()), ..repair() };
        assert!(validate(&half).unwrap_err().has("longitude"));
        let exponent = WorkOrderDraft { latitude: Some("3e1".into()), longitude: Some("1.2E2".into()), ..repair() };
        let errors = validate(&exponent).unwrap_err();
        assert!(errors.has("latitude") && errors.has("longitude"));
        let invisible = WorkOrderDraft { title: "\u{200B}".into(), ..repair() };
        assert!(validate(&invisible).unwrap_err().has("title"));
    }

    #[test]
    fn green_channel_is_for_vip_and_important_customers() {
        assert!(is_green_channel(Some("special"), &[]));
        assert!(is_green_channel(Some("first"), &[]));
        assert!(is_green_channel(None, &["vip".to_owned()]));
        assert!(!is_green_channel(Some("second"), &["arrears".to_owned()]));
        assert!(!is_green_channel(None, &[]));
    }

    fn expansion(customer_type: &'static str) -> OrderFacts<'static> {
        OrderFacts { kind: "expansion", customer_type: Some(customer_type), supply_point_id: None }
    }

    #[test]
    fn review_needs_the_documents_of_the_customer_type() {
        let step = |docs: &[&str]| StepInput {
            action: "review".into(),
            documents: docs.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        };
        let household = ["application_form", "identity", "property_proof"];
        assert!(check_step(&expansion("residential"), &step(&household)).is_ok());
        let errors = check_step(&expansion("hv_single"), &step(&household)).unwrap_err();
        assert!(errors.iter().any(|e| e.field == "documents" && e.code == "documents_incomplete"));
        let errors = check_step(&expansion("residential"), &step(&["application_form", "selfie"])).unwrap_err();
        assert!(errors.iter().any(|e| e.code == "unknown_code"));
    }

    #[test]
    fn steps_ask_for_what_they_record() {
        let input = |action: &str| StepInput { action: action.into(), ..Default::default() };
        let repair = OrderFacts { kind: "repair", customer_type: None, supply_point_id: None };
        assert!(check_step(&repair, &input("dispatch")).unwrap_err().has("crew"));
        assert!(check_step(&repair, &input("restore")).unwrap_err().has("comment"));
        assert!(check_step(&repair, &input("arrive")).is_ok());
        assert!(check_step(&expansion("residential"), &input("draft_plan")).unwrap_err().has("supply_plan"));
        assert!(check_step(&expansion("residential"), &input("agree_plan")).unwrap_err().has("confirmed_by"));
        assert!(check_step(&expansion("residential"), &input("power_on")).unwrap_err().has("supply_point_id"));
        let point = Uuid::now_v7();
        let with_point = OrderFacts { supply_point_id: Some(point), ..expansion("residential") };
        assert_eq!(check_step(&with_point, &input("power_on")).unwrap().supply_point_id, Some(point));
        // A field the step does not use is still refused when malformed.
        let start = |f: fn(&mut StepInput)| {
            let mut step = input("start");
            f(&mut step);
            check_step(&repair, &step)
        };
        assert!(start(|s| s.documents = vec!["selfie".into()]).unwrap_err().has("documents"));
        assert!(start(|s| s.supply_point_id = Some("not-an-id".into())).unwrap_err().has("supply_point_id"));
        assert!(start(|s| s.final_reading = Some("-3".into())).unwrap_err().has("final_reading"));
        assert!(start(|s| s.documents = vec!["identity".into()]).is_ok());
    }

    #[test]
    fn a_closing_takes_one_final_reading_or_one_per_named_meter() {
        let closing = OrderFacts { kind: "account_closing", customer_type: None, supply_point_id: None };
        let complete = |f: fn(&mut StepInput)| {
            let mut step = StepInput { action: "complete".into(), ..Default::default() };
            f(&mut step);
            check_step(&closing, &step)
        };
        assert!(complete(|_| {}).unwrap_err().has("final_reading"));
        assert_eq!(
            complete(|s| s.final_reading = Some(" 1520.5 ".into())).unwrap().final_readings,
            Some(FinalReadings::One(Decimal::new(15205, 1)))
        );
        let two = complete(|s| {
            s.meter_serials = vec!["M-1".into(), " M-2".into()];
            s.final_readings = vec!["10".into(), "20".into()];
        });
        assert_eq!(
            two.unwrap().final_readings,
            Some(FinalReadings::PerMeter(vec![("M-1".into(), Decimal::from(10)), ("M-2".into(), Decimal::from(20))]))
        );
        // Readings and serials must pair up; each meter once; each reading well formed.
        let short = complete(|s| {
            s.meter_serials = vec!["M-1".into(), "M-2".into()];
            s.final_readings = vec!["10".into()];
        });
        assert!(short.unwrap_err().iter().any(|e| e.field == "final_readings" && e.code == "readings_per_meter"));
        let twice = complete(|s| {
            s.meter_serials = vec!["M-1".into(), "M-1".into()];
            s.final_readings = vec!["10".into(), "11".into()];
        });
        assert!(twice.unwrap_err().iter().any(|e| e.field == "meter_serials" && e.code == "readings_per_meter"));
        let blank = complete(|s| {
            s.meter_serials = vec!["M-1".into(), "M-2".into()];
            s.final_readings = vec!["10".into(), " ".into()];
        });
        assert!(blank.unwrap_err().iter().any(|e| e.field == "final_readings" && e.code == "required"));
        let bad = complete(|s| {
            s.meter_serials = vec!["M-1".into()];
            s.final_readings = vec!["-1".into()];
        });
        assert!(bad.unwrap_err().iter().any(|e| e.field == "final_readings" && e.code == "reading_format"));
    }

    #[test]
    fn the_limit_variant_follows_the_kind() {
        assert_eq!(limit_variant("repair", Some("rural"), None), "rural");
        assert_eq!(limit_variant("expansion", None, Some("hv_double")), "hv_double");
        assert_eq!(limit_variant("meter_check", Some("rural"), Some("hv_double")), "");
    }
}
