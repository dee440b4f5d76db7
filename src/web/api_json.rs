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
        serde_path_to_error::deserialize(document).map(ApiJson).map_err(|err| unfit_body(err, "wrong_type"))
    }
}
