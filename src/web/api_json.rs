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
        let mut errors = FieldErrors::default();
        input::check_json(&document, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        serde_path_to_error::deserialize(whole_numbers_as_integers(document))
            .map(ApiJson)
            .map_err(|err| unfit_body(err, "wrong_type"))
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
}
