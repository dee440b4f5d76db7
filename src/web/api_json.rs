//! JSON bodies for the API: a body that does not fit names the field that is
//! wrong, as a 422 problem, instead of a bare 400 text. Every string in it is
//! checked for control characters first ([`input::check_json`]), so no
//! handler sees a NUL or an escape sequence.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
};
use serde::de::DeserializeOwned;

use crate::web::{
    error::{AppError, FieldErrors, unfit_body},
    input,
};

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(AppError::BadRequest("expected Content-Type: application/json".into()));
        }
        let body = Bytes::from_request(request, state).await.map_err(|e| AppError::Http(e.status(), e.body_text()))?;
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))?;
        // Every body is an object; serde would also fill a struct from an array, field by field.
        if !document.is_object() {
            let mut errors = FieldErrors::default();
            errors.add("body", "wrong_type");
            return Err(AppError::Invalid(errors));
        }
        match from_document(document) {
            Ok(value) => Ok(ApiJson(value)),
            Err(Unfit::Text(errors)) => Err(AppError::Invalid(errors)),
            Err(Unfit::Shape(err)) => Err(unfit_body(err, "wrong_type")),
        }
    }
}

/// Why a JSON document does not make a `T`.
pub enum Unfit {
    /// Text the handler would see holds a control character (each field named).
    Text(FieldErrors),
    /// A field has the wrong type or is missing (the path names it).
    Shape(serde_path_to_error::Error<serde_json::Error>),
}

/// Reads a `T` out of a parsed JSON document. Fields the type does not know
/// are ignored, as the API document allows; only what the handler will see is
/// checked for control characters.
pub fn from_document<T: DeserializeOwned>(document: serde_json::Value) -> Result<T, Unfit> {
    let document = whole_numbers_as_integers(document);
    let mut ignored = Vec::new();
    let mut note_ignored = |path: serde_ignored::Path<'_>| ignored.push(steps(&path));
    let parsed: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(document.clone(), &mut note_ignored));
    let mut seen = document;
    for path in &ignored {
        remove(&mut seen, path);
    }
    let mut errors = FieldErrors::default();
    input::check_json(&seen, &mut errors);
    if !errors.is_empty() {
        return Err(Unfit::Text(errors));
    }
    parsed.map_err(Unfit::Shape)
}

/// A step from a JSON document's root to one of its values.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &serde_ignored::Path<'_>) -> Vec<Step> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut steps = steps(parent);
            steps.push(Step::Index(*index));
            steps
        }
        Path::Map { parent, key } => {
            let mut steps = steps(parent);
            steps.push(Step::Key(key.clone()));
            steps
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => steps(parent),
    }
}

/// Drops the value at `path` (an ignored array item becomes null, so the
/// others keep their numbers).
fn remove(value: &mut serde_json::Value, path: &[Step]) {
    use serde_json::Value;
    match (value, path) {
        (Value::Object(map), [Step::Key(key)]) => {
            map.remove(key);
        }
        (Value::Array(items), [Step::Index(i)]) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        (Value::Object(map), [Step::Key(key), rest @ ..]) => {
            if let Some(inner) = map.get_mut(key) {
                remove(inner, rest);
            }
        }
        (Value::Array(items), [Step::Index(i), rest @ ..]) => {
            if let Some(inner) = items.get_mut(*i) {
                remove(inner, rest);
            }
        }
        _ => {}
    }
}

/// JSON has one number type: `3.0` is the integer 3 to JSON Schema (and to
/// most clients' serialisers), so an integer field takes it.
fn whole_numbers_as_integers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers_as_integers).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, whole_numbers_as_integers(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_floats_become_integers_and_others_stay() {
        let value = serde_json::json!({"version": 3.0, "list": [2.0, 2.5], "big": 1.0e300, "n": 7});
        let value = whole_numbers_as_integers(value);
        assert!(value["version"].is_i64());
        assert!(value["list"][0].is_i64());
        assert!(value["list"][1].is_f64());
        assert!(value["big"].is_f64());
        assert_eq!(value["n"], 7);
    }

    #[derive(serde::Deserialize, Debug)]
    struct Draft {
        name: String,
        #[serde(default)]
        lines: Vec<Line>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Line {
        note: String,
    }

    async fn extract(body: serde_json::Value) -> Result<Draft, AppError> {
        let request = Request::builder()
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        ApiJson::<Draft>::from_request(request, &()).await.map(|ApiJson(draft)| draft)
    }

    fn refused_fields(result: Result<Draft, AppError>) -> Vec<String> {
        match result {
            Err(AppError::Invalid(errors)) => errors.iter().map(|e| e.field.clone()).collect(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn control_characters_are_refused_in_known_fields_and_unknown_ones_are_ignored() {
        let ignored =
            serde_json::json!({"name": "王五", "x\u{0}": "\u{0}", "lines": [{"note": "a\nb", "extra\u{1}": 1}]});
        let draft = extract(ignored).await.expect("unknown fields, whatever they hold, are ignored");
        assert_eq!(draft.name, "王五");
        assert_eq!(draft.lines[0].note, "a\nb", "a note may run over lines");
        let nul = serde_json::json!({"name": "王\u{0}五", "lines": [{"note": "ok"}, {"note": "\u{7}"}]});
        let mut refused = refused_fields(extract(nul).await);
        refused.sort();
        assert_eq!(refused, ["lines[1].note", "name"]);
    }
}
