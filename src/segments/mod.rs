//! Segments (客户细分): saved trees of conditions over the customer archive
//! and the monthly metrics, compiled to parameterised SQL from a whitelist
//! (`filter`), with membership recomputed on schedule or on demand and the
//! joined/left diff of each run kept (`db`).

pub mod api;
pub mod db;
pub mod filter;
pub mod pages;

use serde_json::Value;

use crate::web::error::FieldErrors;

pub const SCHEDULES: [&str; 2] = ["daily", "manual"];

/// A segment form as typed: the definition is JSON text.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SegmentForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub definition: String,
    #[serde(default)]
    pub version: Option<i32>,
    /// The segment being edited (empty for a new one), so a preview keeps editing it.
    #[serde(default)]
    pub segment: String,
}

/// What is wrong with a form: field errors for the plain fields, and the
/// definition's own error (JSON syntax, or the path of the offending part).
#[derive(Debug, Default)]
pub struct FormProblems {
    pub fields: FieldErrors,
    pub definition: Option<DefinitionProblem>,
}

#[derive(Debug)]
pub enum DefinitionProblem {
    /// Not JSON at all: where the parser stopped.
    Syntax {
        line: usize,
        column: usize,
    },
    Invalid(filter::DefinitionError),
}

impl DefinitionProblem {
    pub fn message(&self, i: &crate::web::i18n::I18n) -> String {
        match self {
            DefinitionProblem::Syntax { line, column } => {
                i.t_with("segments.err.syntax", &[("line", &line.to_string()), ("column", &column.to_string())])
            }
            DefinitionProblem::Invalid(e) => e.message(i),
        }
    }
}

/// Parses the definition text alone (for a preview).
pub fn parse_definition(text: &str) -> Result<Value, DefinitionProblem> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DefinitionProblem::Syntax { line: e.line(), column: e.column() })?;
    filter::parse(&value).map_err(DefinitionProblem::Invalid)?;
    Ok(value)
}

/// Checks a form; on success the input to save.
pub fn validate(form: &SegmentForm) -> Result<db::SegmentInput, FormProblems> {
    let mut problems = FormProblems::default();
    let name = form.name.trim();
    if name.is_empty() {
        problems.fields.add("name", "required");
    } else if name.chars().count() > 100 {
        problems.fields.add("name", "too_long");
    }
    let description = form.description.trim();
    if description.chars().count() > 500 {
        problems.fields.add("description", "too_long");
    }
    let schedule = if form.schedule.is_empty() { "daily" } else { form.schedule.as_str() };
    if !SCHEDULES.contains(&schedule) {
        problems.fields.add("schedule", "unknown_code");
    }
    let definition = parse_definition(&form.definition).map_err(|p| problems.definition = Some(p)).ok();
    match definition {
        Some(definition) if problems.fields.is_empty() => Ok(db::SegmentInput {
            name: name.to_owned(),
            description: description.to_owned(),
            definition,
            schedule: schedule.to_owned(),
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(definition: &str) -> SegmentForm {
        SegmentForm { name: " 大工业 ".into(), definition: definition.into(), ..Default::default() }
    }

    #[test]
    fn every_definition_problem_has_a_message_in_both_languages() {
        use crate::web::i18n::{I18n, Locale};
        use filter::ErrorKind::*;
        let kinds = [
            NotAGroup,
            EmptyGroup,
            NotACondition,
            UnknownKey("k".into()),
            UnknownField("f".into()),
            UnknownMetric("m".into()),
            UnknownAggregate("a".into()),
            UnknownOperator("o".into()),
            Missing("op"),
            BadValue("number"),
            UnknownCode("c".into()),
            MonthsRange,
            TooDeep,
            TooManyConditions,
        ];
        for locale in Locale::ALL {
            let i = I18n(locale);
            assert!(i.has("segments.err.syntax"));
            for kind in &kinds {
                assert!(i.has(&format!("segments.err.{}", kind.code())), "{kind:?} in {}", locale.code());
                let message = filter::DefinitionError { path: "all[0].op".into(), kind: kind.clone() }.message(&i);
                assert!(message.starts_with("all[0].op: ") && !message.contains('%'), "{message}");
            }
        }
    }

    #[test]
    fn a_valid_form_is_trimmed_and_scheduled_daily() {
        let input = validate(&form(r#"{"all": [{"field": "class", "op": "eq", "value": "large_industry"}]}"#)).unwrap();
        assert_eq!((input.name.as_str(), input.schedule.as_str()), ("大工业", "daily"));
    }

    #[test]
    fn bad_json_and_bad_definitions_are_told_apart() {
        let p = validate(&form("{\"all\": [")).unwrap_err();
        assert!(matches!(p.definition, Some(DefinitionProblem::Syntax { line: 1, .. })), "{p:?}");
        let p = validate(&form(r#"{"all": [{"field": "foo", "op": "eq", "value": 1}]}"#)).unwrap_err();
        let Some(DefinitionProblem::Invalid(e)) = p.definition else { panic!("{p:?}") };
        assert_eq!(e.path, "all[0].field");
        let p = validate(&SegmentForm {
            schedule: "hourly".into(),
            ..form(r#"{"any": [{"field": "tags", "op": "has", "value": "vip"}]}"#)
        })
        .unwrap_err();
        assert!(p.fields.has("schedule") && p.definition.is_none());
        let p = validate(&SegmentForm { name: String::new(), ..form("{}") }).unwrap_err();
        assert!(p.fields.has("name") && p.definition.is_some());
    }
}
