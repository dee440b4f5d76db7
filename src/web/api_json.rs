//! JSON bodies for the API: a body that does not fit names the field that is
//! wrong, as a 422 problem, instead of a bare 400 text.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
};
use serde::de::DeserializeOwned;

use crate::web::error::{AppError, FieldErrors};

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
        let body = Bytes::from_request(request, state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de).map(ApiJson).map_err(|err| {
            let path = err.path().to_string();
            if path == "." || err.inner().is_syntax() || err.inner().is_eof() {
                return AppError::BadRequest(format!("malformed JSON: {}", err.inner()));
            }
            let mut errors = FieldErrors::default();
            errors.add(path, "wrong_type");
            AppError::Invalid(errors)
        })
    }
}
