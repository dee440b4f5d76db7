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
        let expected = match request.extensions().get::<CurrentUser>() {
            Some(user) => user.csrf_token.clone(),
            None => crate::web::auth::cookie(request.headers(), LOGIN_CSRF_COOKIE).unwrap_or_default().to_owned(),
        };
        checked_form(request, state, &expected).await.map(CsrfForm)
    }
}

/// Reads a form whose `csrf` field must equal `expected` (refused when
/// `expected` is empty, or the request comes from another site). Every form
/// extractor of the application goes through here, whoever the caller is.
pub async fn checked_form<S: Send + Sync, T: DeserializeOwned>(
    request: Request,
    state: &S,
    expected: &str,
) -> Result<T, AppError> {
    if request.headers().get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return Err(AppError::Forbidden);
    }
    let body = Bytes::from_request(request, state).await.map_err(|e| AppError::Http(e.status(), e.body_text()))?;
    let presented: TokenOnly = serde_html_form::from_bytes(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), presented.csrf.as_bytes()) {
        return Err(AppError::Forbidden);
    }
    // A field that does not fit its type is named, like a JSON body's.
    serde_path_to_error::deserialize(serde_html_form::Deserializer::from_bytes(&body))
        .map_err(|err| unfit_body(err, "malformed"))
}

/// A file sent with a multipart form.
pub struct FilePart {
    pub file_name: String,
    pub bytes: Bytes,
}

/// A multipart form (one that uploads a file) whose CSRF token was checked:
/// its text fields, and its file when one was chosen.
pub struct MultipartForm {
    pub fields: std::collections::HashMap<String, String>,
    pub file: Option<FilePart>,
}

impl MultipartForm {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// Reads a multipart form whose `csrf` field must equal `expected`, as
/// [`checked_form`] does for plain forms. The route's body limit bounds it;
/// a file field left empty by the browser counts as no file.
pub async fn checked_multipart<S: Send + Sync>(
    request: Request,
    state: &S,
    expected: &str,
) -> Result<MultipartForm, AppError> {
    if request.headers().get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return Err(AppError::Forbidden);
    }
    let bad = |e: axum::extract::multipart::MultipartError| AppError::Http(e.status(), e.body_text());
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| AppError::Http(e.status(), e.body_text()))?;
    let mut form = MultipartForm { fields: Default::default(), file: None };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes = field.bytes().await.map_err(bad)?;
                if !(bytes.is_empty() && file_name.is_empty()) {
                    form.file = Some(FilePart { file_name, bytes });
                }
            }
            None => {
                let text = field.text().await.map_err(bad)?;
                form.fields.insert(name, text);
            }
        }
    }
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.field("csrf").as_bytes()) {
        return Err(AppError::Forbidden);
    }
    Ok(form)
}
