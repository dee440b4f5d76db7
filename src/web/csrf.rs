//! Form extraction with CSRF protection. Every form POST carries a token: the
//! session's for signed-in users, a double-submit cookie on the login form.
//! A cross-site `Sec-Fetch-Site` is refused as a second line of defence.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
};
use serde::{Deserialize, de::DeserializeOwned};

use crate::web::{
    auth::CurrentUser,
    error::{AppError, unfit_body},
    password::constant_time_eq,
};

pub const LOGIN_CSRF_COOKIE: &str = "gridcrm_login_csrf";

/// A form that only says why (cancelling a bill, reversing a payment).
#[derive(Deserialize, Default)]
pub struct ReasonForm {
    #[serde(default)]
    pub reason: String,
}

/// A form body whose CSRF token has been checked. Repeated keys (checkbox
/// groups) deserialise into `Vec`s.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if request.headers().get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
            return Err(AppError::Forbidden);
        }
        let expected = match request.extensions().get::<CurrentUser>() {
            Some(user) => user.csrf_token.clone(),
            None => crate::web::auth::cookie(request.headers(), LOGIN_CSRF_COOKIE).unwrap_or_default().to_owned(),
        };
        let body = Bytes::from_request(request, state).await.map_err(|e| AppError::Http(e.status(), e.body_text()))?;
        let presented: TokenOnly =
            serde_html_form::from_bytes(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
        if expected.is_empty() || !constant_time_eq(expected.as_bytes(), presented.csrf.as_bytes()) {
            return Err(AppError::Forbidden);
        }
        // A field that does not fit its type is named, like a JSON body's.
        let form = serde_path_to_error::deserialize(serde_html_form::Deserializer::from_bytes(&body))
            .map_err(|err| unfit_body(err, "malformed"))?;
        Ok(CsrfForm(form))
    }
}
