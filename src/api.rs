//! The JSON API v1 and its OpenAPI document, generated from the handlers.
//!
//! The document states what the server does, so that a client (and the
//! contract test, `scripts/api-contract`) can rely on it: each handler's
//! attributes name its own answers (201, 202, 409…); [`CommonResponses`] adds
//! the problem answers every operation can give (bad input, no key, no
//! permission, limits, an unavailable database), once, here.

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        Content, PathItem, Ref, RefOr,
        path::Operation,
        response::ResponseBuilder,
        schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;

use crate::web::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "gridcrm API", description = "Customer archive of a power supply company. Authenticate with a per-tenant API key: `Authorization: Bearer gck_…`. Errors are application/problem+json (RFC 9457); validation errors list each field with a code and a message. Text fields refuse control characters (tab, line feed and carriage return are allowed where text may run over several lines)."),
    components(schemas(Problem, ProblemField)),
    modifiers(&BearerKey)
)]
struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("gck_…").build()),
        );
    }
}

/// An error (RFC 9457), as `application/problem+json`. Mirrors what
/// `web::error::render_errors` writes; documentation only.
#[derive(Serialize, ToSchema)]
struct Problem {
    /// Always `about:blank`: the status says what kind of error it is.
    #[serde(rename = "type")]
    kind: String,
    /// The status's meaning, in the caller's language.
    title: String,
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What was wrong, when there is more to say than the title.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    detail: Option<String>,
    /// Each field that was wrong (422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    errors: Vec<ProblemField>,
}

/// One field that was wrong.
#[derive(Serialize, ToSchema)]
struct ProblemField {
    /// The field, as a JSON path for a body (`lines[2].kw`) or the parameter's name.
    field: String,
    /// A stable code, e.g. `required`, `unknown_code`, `too_long`, `wrong_type`.
    code: String,
    /// The code explained, in the caller's language.
    message: String,
}

/// The problem answers an operation can give besides its own: a component
/// response each, referenced from every operation they apply to.
struct CommonResponses;

/// (status, component name, description, applies to the operation?)
type Applies = fn(&str, &Operation) -> bool;
const COMMON: [(&str, &str, &str, Applies); 10] = [
    (
        "400",
        "BadRequest",
        "Malformed request: a body that is not JSON (or CSV where asked), a wrong Content-Type, a path or query value of the wrong type or format, text with control characters.",
        |_, _| true,
    ),
    ("401", "Unauthorized", "No API key, or an unknown, revoked or expired one.", |_, _| true),
    ("403", "Forbidden", "The key's role may not do this.", |_, _| true),
    ("404", "NotFound", "No such item in the caller's tenant.", |path, _| path.contains('{')),
    ("408", "RequestTimeout", "The upload was not received in time.", |_, op| {
        op.request_body.as_ref().is_some_and(|b| b.content.contains_key("text/csv"))
    }),
    ("413", "PayloadTooLarge", "The body is larger than the server accepts.", |_, op| op.request_body.is_some()),
    ("414", "UriTooLong", "The request's URI is longer than the server accepts.", |_, _| true),
    ("422", "Unprocessable", "Invalid input: each field that is wrong is named, with why.", |_, _| true),
    ("429", "TooManyRequests", "Too many requests from this key; try again later.", |_, _| true),
    ("503", "Unavailable", "The database is unavailable; try again later.", |_, _| true),
];

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description, _) in COMMON {
            let response =
                ResponseBuilder::new().description(description).content("application/problem+json", problem_content());
            components.responses.insert(name.to_owned(), RefOr::T(response.build()));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                let applicable: Vec<_> = COMMON.iter().filter(|(.., applies)| applies(path, operation)).collect();
                let responses = &mut operation.responses.responses;
                for (status, name, ..) in applicable {
                    // An operation's own answer ("not the owner") stays as it is.
                    if !responses.contains_key(*status) {
                        let common = Ref::new(format!("#/components/responses/{name}"));
                        responses.insert((*status).to_owned(), RefOr::Ref(common));
                    }
                }
                // Errors an operation names itself (403 "not the owner", 409…) are problems too;
                // so is a 422 whose own body is a report (an upload refused before any line
                // was read, for a bad parameter or a control character in the query).
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(own) = response
                        && (status.starts_with('4') || status.starts_with('5'))
                        && (own.content.is_empty() || status == "422")
                    {
                        own.content.entry("application/problem+json".to_owned()).or_insert_with(problem_content);
                    }
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// The text rule, stated once for every request: no control characters
/// (tab, line feed and carriage return only in the fields
/// `web::input::is_multi_line` names), and a
/// required text (`minLength` 1) must not be blank, since it is trimmed.
/// Dates and times get a pattern that says what the format means.
struct RequestText;

// What `web::input` refuses, as patterns: C0 and C1 controls and DEL; tab,
// LF and CR only in the fields `web::input::is_multi_line` names.
const LINE: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
const LINE_NOT_BLANK: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
const TEXT: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
const TEXT_NOT_BLANK: &str =
    r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
/// A month and day of the calendar, after the year: `format` alone is only an
/// annotation in JSON Schema 2020-12. 29 February is left out: a pattern
/// cannot know leap years.
macro_rules! month_day {
    () => {
        r"-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
    };
}
pub(crate) use month_day;
/// A year the system takes from outside: `web::input::EARLIEST` to `LATEST`.
macro_rules! year {
    () => {
        r"(20[0-9]{2}|2100)"
    };
}
pub(crate) use year;
const DATE: &str = concat!("^", year!(), month_day!(), "$");
/// A time, RFC 3339.
macro_rules! date_time {
    () => {
        concat!(
            year!(),
            month_day!(),
            r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
        )
    };
}
const DATE_TIME: &str = concat!("^", date_time!(), "$");

/// A time (RFC 3339), or `null` or an empty string for "now". (No `format`:
/// an empty string is not a date-time.)
pub fn date_time_or_now(description: &str) -> Schema {
    let kind = SchemaType::from_iter([Type::String, Type::Null]);
    let pattern = concat!("^(", date_time!(), ")?$");
    Schema::Object(ObjectBuilder::new().schema_type(kind).pattern(Some(pattern)).description(Some(description)).build())
}

/// A string schema for a CSV body: what `pattern` allows is a well-formed file.
pub fn csv(description: &str, pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description)).pattern(Some(pattern)).into()
}

impl Modify for RequestText {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut bodies = std::collections::BTreeSet::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let Some(RefOr::T(schema)) = &mut parameter.schema {
                        state_text_rule(&parameter.name, schema);
                    }
                }
                for content in operation.request_body.iter().flat_map(|b| b.content.values()) {
                    if let Some(schema) = &content.schema {
                        referenced(schema, &mut bodies);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else { return };
        // A body with a flattened part (serde's flatten) is an allOf: the parts it
        // names are bodies too.
        let mut pending: Vec<String> = bodies.into_iter().collect();
        let mut done = std::collections::BTreeSet::new();
        while let Some(name) = pending.pop() {
            if !done.insert(name.clone()) {
                continue;
            }
            match components.schemas.get_mut(&name) {
                Some(RefOr::T(Schema::Object(object))) => state_text_rules(object),
                Some(RefOr::T(Schema::AllOf(all))) => {
                    for item in all.items.iter_mut() {
                        match item {
                            RefOr::Ref(r) => {
                                pending.push(r.ref_location.trim_start_matches("#/components/schemas/").to_owned())
                            }
                            RefOr::T(Schema::Object(object)) => state_text_rules(object),
                            RefOr::T(_) => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The text rule on every property of a body object.
fn state_text_rules(object: &mut utoipa::openapi::schema::Object) {
    for (field, property) in object.properties.iter_mut() {
        if let RefOr::T(schema) = property {
            state_text_rule(field, schema);
        }
    }
}

/// The component schemas a request body names.
fn referenced(schema: &RefOr<Schema>, names: &mut std::collections::BTreeSet<String>) {
    match schema {
        RefOr::Ref(r) => {
            names.insert(r.ref_location.trim_start_matches("#/components/schemas/").to_owned());
        }
        RefOr::T(Schema::Array(array)) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &array.items {
                referenced(items, names);
            }
        }
        RefOr::T(Schema::AllOf(all)) => all.items.iter().for_each(|item| referenced(item, names)),
        RefOr::T(_) => {}
    }
}

/// Gives a free-text string (or an array of them) the text rule's pattern.
fn state_text_rule(field: &str, schema: &mut Schema) {
    match schema {
        Schema::Object(object) => {
            let is_string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            let format = match &object.format {
                Some(SchemaFormat::KnownFormat(KnownFormat::Date)) => Some(DATE),
                Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) => Some(DATE_TIME),
                _ => None,
            };
            if is_string && object.pattern.is_none() && format.is_some() {
                object.pattern = format.map(str::to_owned);
            } else if is_string && object.enum_values.is_none() && object.format.is_none() && object.pattern.is_none() {
                let required = object.min_length.is_some_and(|n| n > 0);
                let pattern = match (crate::web::input::is_multi_line(field), required) {
                    (false, false) => LINE,
                    (false, true) => LINE_NOT_BLANK,
                    (true, false) => TEXT,
                    (true, true) => TEXT_NOT_BLANK,
                };
                object.pattern = Some(pattern.to_owned());
            }
        }
        Schema::Array(array) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items
                && let RefOr::T(items) = items.as_mut()
            {
                state_text_rule(field, items);
            }
        }
        _ => {}
    }
}

/// A string that must be one of `list` (the enum comes from the same list
/// the rules check against).
pub fn codes(list: &[&str]) -> Schema {
    let values: Vec<_> = list.iter().map(|c| serde_json::Value::from(*c)).collect();
    Schema::Object(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).build())
}

/// A day (YYYY-MM-DD), or left out: `null` or an empty string.
pub fn optional_date() -> Schema {
    let kind = SchemaType::from_iter([Type::String, Type::Null]);
    let pattern = concat!("^(", year!(), month_day!(), ")?$");
    Schema::Object(ObjectBuilder::new().schema_type(kind).pattern(Some(pattern)).build())
}

/// One of `list`, or left out: `null` or an empty string.
pub fn optional_codes(list: &[&str]) -> Schema {
    let mut values: Vec<_> = list.iter().map(|c| serde_json::Value::from(*c)).collect();
    values.extend([serde_json::Value::from(""), serde_json::Value::Null]);
    let kind = SchemaType::from_iter([Type::String, Type::Null]);
    Schema::Object(ObjectBuilder::new().schema_type(kind).enum_values(Some(values)).build())
}

/// An array of at most `max_items` strings, each matching `pattern`;
/// `unique` when no two may be the same.
pub fn pattern_list(pattern: &str, max_items: usize, unique: bool) -> Schema {
    let item = ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).build();
    Schema::Array(
        ArrayBuilder::new()
            .items(RefOr::T(Schema::Object(item)))
            .max_items(Some(max_items))
            .unique_items(unique)
            .build(),
    )
}

/// An array of strings from `list` (repeats are dropped), or `null` when `nullable`.
pub fn code_list(list: &[&str], nullable: bool) -> Schema {
    let kind = if nullable { SchemaType::from_iter([Type::Array, Type::Null]) } else { SchemaType::Type(Type::Array) };
    Schema::Array(ArrayBuilder::new().schema_type(kind).items(RefOr::T(codes(list))).build())
}

pub fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::customers::api::router())
        .merge(crate::complaints::api::router())
        .merge(crate::work_orders::api::router())
        .merge(crate::readings::api::router())
        .merge(crate::billing::api::router())
        .merge(crate::payments::api::router())
        .merge(crate::payments::cash_api::router())
        .merge(crate::cost_control::api::router())
        .merge(crate::interval::api::router())
        .merge(crate::segments::api::router())
        .merge(crate::value::api::router())
        .merge(crate::forecast::api::router())
        .merge(crate::credit::api::router())
        .merge(crate::points::api::router())
        .merge(crate::portfolio::api::router())
        .merge(crate::notices::receipts::router())
        .merge(crate::notices::preferences_api::router())
        .merge(crate::customers::contracts_api::router())
        .merge(crate::load::api::router())
        .merge(crate::notices::outages_api::router())
        .merge(crate::demand_response::api::router())
        .merge(crate::tariff_analysis::api::router())
        .merge(crate::customers::reference_api::router())
        .merge(crate::supply::api::router())
        .merge(crate::onboarding::api::router())
        .merge(crate::privacy::api::router());
    // The handlers' paths exist only now, after the merge.
    CommonResponses.modify(router.get_openapi_mut());
    RequestText.modify(router.get_openapi_mut());
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        serde_json::to_value(router().into_openapi()).unwrap()
    }

    #[test]
    fn every_operation_documents_the_common_problems() {
        let doc = document();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["400", "401", "403", "414", "422", "429", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
                assert_eq!(responses.contains_key("404"), path.contains('{'), "{method} {path}: 404 iff an id");
                assert_eq!(responses.contains_key("413"), op.get("requestBody").is_some(), "{method} {path}: 413");
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let has_body = response.get("$ref").is_some() || response.get("content").is_some();
                        assert!(has_body, "{method} {path} {status} has no body");
                    }
                }
                seen += 1;
            }
        }
        assert!(seen >= 17, "only {seen} operations");
    }

    #[test]
    fn an_operations_own_error_keeps_its_description_and_gets_the_problem_body() {
        let doc = document();
        let own = &doc["paths"]["/api/v1/contacts/{id}/transitions"]["post"]["responses"]["403"];
        assert_eq!(own["description"], "not the owner");
        assert_eq!(own["content"]["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem");
        assert_eq!(
            doc["components"]["responses"]["Unauthorized"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }

    #[test]
    fn request_bodies_state_required_fields_codes_and_the_text_rule() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ContactDraft"]["required"],
            serde_json::json!(["kind", "channel", "subject", "description"])
        );
        assert_eq!(schemas["ContactDraft"]["properties"]["kind"]["enum"][0], "complaint");
        assert_eq!(schemas["ContactDraft"]["properties"]["description"]["pattern"], TEXT_NOT_BLANK);
        assert_eq!(schemas["ContactDraft"]["properties"]["caller_name"]["pattern"], LINE);
        assert_eq!(schemas["ContactDraft"]["properties"]["received_at"]["pattern"], DATE_TIME);
        assert_eq!(
            schemas["PaymentDraft"]["required"],
            serde_json::json!(["account_no", "amount", "channel", "channel_ref"])
        );
        let new_customer = &doc["paths"]["/api/v1/customers"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(new_customer["schema"]["$ref"], "#/components/schemas/NewCustomer");
        assert_eq!(schemas["NewCustomer"]["allOf"][1]["required"][0], "name");
        let limit = &doc["paths"]["/api/v1/customers"]["get"]["parameters"][2];
        assert_eq!((limit["name"].as_str(), limit["schema"]["minimum"].as_i64()), (Some("limit"), Some(1)));
    }

    #[test]
    fn code_lists_are_enums() {
        let schema = serde_json::to_value(optional_codes(&["a", "b"])).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["a", "b", "", null]));
        let schema = serde_json::to_value(code_list(&["a"], false)).unwrap();
        assert_eq!(schema["items"]["enum"], serde_json::json!(["a"]));
    }
}
