//! One error type for every handler. It renders as a friendly page for
//! browsers and as `application/problem+json` (RFC 9457) for the API; the
//! choice is made once, in [`render_errors`], which knows the path and locale.

use axum::{
    Json,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Serialize;

use crate::web::{
    auth::CurrentUser,
    i18n::{I18n, Locale},
    page::Page,
};

/// Field-level validation problems, each a field name and a message code
/// (translated as `err.<code>`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FieldErrors(Vec<FieldError>);

#[derive(Clone, Debug, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
}

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, code: &'static str) {
        let field = field.into();
        if !self.has(&field) {
            self.0.push(FieldError { field, code });
        }
    }
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }
    /// The translated message for `field`, for a form to show beside it.
    pub fn message(&self, field: &str, i: &I18n) -> Option<String> {
        self.0.iter().find(|e| e.field == field).map(|e| i.t(&format!("err.{}", e.code)))
    }
    /// `Ok(value)` when nothing was wrong, else the errors.
    pub fn finish<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("not signed in")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    /// Allowed in general, but not to this caller for this item; the code says
    /// why (translated as `err.<code>`).
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The request conflicts with the current state; the code is translated as `err.<code>`.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("too many requests")]
    TooManyRequests,
    /// Over one of the service's limits (408 time, 413 size, 429 uploads at
    /// once); the message names the limit.
    #[error("over a limit: {1}")]
    OverLimit(StatusCode, String),
    /// The database cannot be reached or has no free connection; try again soon.
    #[error("service unavailable")]
    Unavailable,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request URI is longer than the application reads (414).
    #[error("URI too long")]
    UriTooLong,
    /// Refused by the HTTP layer with this status (a body too large, a
    /// parameter axum's extractors could not read); the text says why.
    #[error("{0}: {1}")]
    Http(StatusCode, String),
    /// Refused by the HTTP layer for a reason we know; the code is
    /// translated as `err.<code>` (axum's own text is English and technical).
    #[error("{0}: {1}")]
    Rejected(StatusCode, &'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::PoolTimedOut => {
                metrics::counter!("gridcrm_db_pool_timeouts_total").increment(1);
                AppError::Unavailable
            }
            sqlx::Error::PoolClosed => AppError::Unavailable,
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::Internal(err.into())
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Invalid(errors)
    }
}

/// What [`render_errors`] needs to draw an error; travels in the response's extensions.
#[derive(Clone, Debug)]
struct ErrorReport {
    status: StatusCode,
    title_code: &'static str,
    detail: Option<String>,
    detail_code: Option<&'static str>,
    fields: FieldErrors,
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Refused(_) => StatusCode::FORBIDDEN,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::OverLimit(status, _) => *status,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::UriTooLong => StatusCode::URI_TOO_LONG,
            AppError::Http(status, _) | AppError::Rejected(status, _) => *status,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(err) = &self {
            // The full chain goes to the log; the user sees a generic message.
            tracing::error!(error = ?err, "internal error");
        }
        let report = ErrorReport {
            status,
            title_code: match &self {
                AppError::NotFound => "not_found",
                AppError::Unauthenticated => "unauthenticated",
                AppError::Forbidden | AppError::Refused(_) => "forbidden",
                AppError::Invalid(_) => "invalid",
                AppError::Conflict(_) => "conflict",
                AppError::TooManyRequests => "too_many_requests",
                AppError::OverLimit(status, _) => match *status {
                    StatusCode::REQUEST_TIMEOUT => "timed_out",
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    _ => "too_many_requests",
                },
                AppError::Unavailable => "unavailable",
                AppError::BadRequest(_) => "bad_request",
                AppError::UriTooLong => "uri_too_long",
                AppError::Http(status, _) | AppError::Rejected(status, _) => http_title(*status),
                AppError::Internal(_) => "internal",
            },
            detail: match &self {
                AppError::BadRequest(msg) | AppError::OverLimit(_, msg) | AppError::Http(_, msg) => Some(msg.clone()),
                _ => None,
            },
            detail_code: match &self {
                AppError::Conflict(code) | AppError::Refused(code) | AppError::Rejected(_, code) => Some(code),
                AppError::Unavailable => Some("unavailable"),
                AppError::UriTooLong => Some("uri_too_long"),
                _ => None,
            },
            fields: match self {
                AppError::Invalid(fields) => fields,
                _ => FieldErrors::default(),
            },
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(report);
        response
    }
}

#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ProblemField>,
}

#[derive(Serialize)]
struct ProblemField {
    field: String,
    code: &'static str,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    p: Page,
    status: u16,
    title: String,
    detail: Option<String>,
    fields: Vec<(String, String)>,
}

/// Turns an [`ErrorReport`] into a page or a problem document. A 503 says
/// when to try again.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let mut response = render_report(request, next).await;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().entry(header::RETRY_AFTER).or_insert(HeaderValue::from_static("5"));
    }
    response
}

async fn render_report(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let locale = request.extensions().get::<Locale>().copied().unwrap_or_default();
    let user = request.extensions().get::<CurrentUser>().cloned();
    let path_and_query = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let mut response = next.run(request).await;
    if response.extensions().get::<ErrorReport>().is_none() && is_extractor_rejection(&response) {
        response = from_rejection(response).await.into_response();
    } else if response.extensions().get::<ErrorReport>().is_none()
        && response.status() == StatusCode::METHOD_NOT_ALLOWED
    {
        // The router's 405 has no body: a page (or problem) like any other error.
        let allow = response.headers().get(header::ALLOW).cloned();
        response = AppError::Rejected(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let Some(report) = response.extensions_mut().remove::<ErrorReport>() else {
        return response;
    };
    let i = I18n(locale);
    if report.status == StatusCode::UNAUTHORIZED && !is_api {
        return Redirect::to(&format!("/login?next={}", urlencode(&path_and_query))).into_response();
    }
    let title = i.t(&format!("err.title.{}", report.title_code));
    let detail = report.detail.or_else(|| report.detail_code.map(|c| i.t(&format!("err.{c}"))));
    if is_api {
        let problem = Problem {
            kind: "about:blank",
            title,
            status: report.status.as_u16(),
            detail,
            errors: report
                .fields
                .iter()
                .map(|f| ProblemField {
                    field: f.field.clone(),
                    code: f.code,
                    message: i.t(&format!("err.{}", f.code)),
                })
                .collect(),
        };
        let mut response = (report.status, Json(problem)).into_response();
        if report.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        return response;
    }
    let fields = report.fields.iter().map(|f| (f.field.clone(), i.t(&format!("err.{}", f.code)))).collect();
    let page =
        ErrorPage { p: Page::new(i, user.as_ref(), &title), status: report.status.as_u16(), title, detail, fields };
    match askama::Template::render(&page) {
        Ok(html) => (report.status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "error page failed to render");
            report.status.into_response()
        }
    }
}

/// axum's extractors (`Path`, `Query`, `Form`, `Json`, body limits) refuse a
/// request with a plain-text 4xx before the handler runs; every other error
/// of ours carries an [`ErrorReport`]. Catching them here gives them the same
/// problem document or page, whichever extractor a handler uses.
fn is_extractor_rejection(response: &Response) -> bool {
    response.status().is_client_error()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
}

async fn from_rejection(response: Response) -> AppError {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024).await.unwrap_or_default();
    rejection_error(status, String::from_utf8_lossy(&text).trim())
}

/// A rejection that names a parameter becomes a field error on it (422);
/// any other keeps its status, with axum's text as the detail.
fn rejection_error(status: StatusCode, text: &str) -> AppError {
    match rejected_field(text) {
        Some((field, code)) => {
            let mut errors = FieldErrors::default();
            errors.add(field, code);
            AppError::Invalid(errors)
        }
        None => match rejection_code(text) {
            Some(code) => AppError::Rejected(status, code),
            None => AppError::Http(status, text.to_owned()),
        },
    }
}

/// The message code of a rejection axum describes in English: a value in
/// the address that does not parse (without a parameter name), a body of
/// the wrong content type, JSON that does not parse.
fn rejection_code(text: &str) -> Option<&'static str> {
    const CODES: [(&str, &str); 5] = [
        ("Invalid URL", "malformed_url"),
        ("Wrong number of path arguments", "malformed_url"),
        ("Expected request with `Content-Type: application/json`", "json_content_type"),
        ("Form requests must have `Content-Type: application/x-www-form-urlencoded`", "form_content_type"),
        ("Failed to parse the request body as JSON", "json_syntax"),
    ];
    CODES.iter().find(|(prefix, _)| text.starts_with(prefix)).map(|(_, code)| *code)
}

/// The parameter and message code in axum's rejection text:
/// `Invalid URL: Cannot parse `id` with value …` for a path, and
/// `Failed to deserialize query string: limit: invalid digit…` (or
/// `…: missing field `period``) for a query, form or JSON body.
fn rejected_field(text: &str) -> Option<(String, &'static str)> {
    const DESERIALIZING: [&str; 4] = [
        "Failed to deserialize query string: ",
        "Failed to deserialize form: ",
        "Failed to deserialize form body: ",
        "Failed to deserialize the JSON body into the target type: ",
    ];
    if let Some(rest) = text.strip_prefix("Invalid URL: ") {
        let (key, after) = rest.strip_prefix("Cannot parse `")?.split_once('`')?;
        // `Cannot parse `VALUE` to a `T`` quotes the value, not a name.
        return after.starts_with(" with value ").then(|| (key.to_owned(), "malformed"));
    }
    let rest = DESERIALIZING.iter().find_map(|prefix| text.strip_prefix(prefix))?;
    match rest.split_once(": ") {
        Some((path, message)) if !path.is_empty() && !path.contains(' ') => unfit_field(path, message, "malformed"),
        _ => unfit_field(".", rest, "malformed"),
    }
}

/// The field a deserialisation error is about, given its path (`.` for the
/// whole document) and message: a missing field is `required`, a value of
/// the wrong shape is `code`; None when the document as a whole does not fit.
fn unfit_field(path: &str, message: &str, code: &'static str) -> Option<(String, &'static str)> {
    if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
        let field = if path == "." { missing.to_owned() } else { format!("{path}.{missing}") };
        return Some((field, "required"));
    }
    (path != ".").then(|| (path.to_owned(), code))
}

/// A JSON or form body that does not fit its type, as a 422 naming the
/// field (`code` for a wrong value), or a 400 when nothing in it fits.
pub fn unfit_body<E: std::fmt::Display>(err: serde_path_to_error::Error<E>, code: &'static str) -> AppError {
    let message = err.inner().to_string();
    match unfit_field(&err.path().to_string(), &message, code) {
        Some((field, code)) => {
            let mut errors = FieldErrors::default();
            errors.add(field, code);
            AppError::Invalid(errors)
        }
        None => AppError::BadRequest(format!("the body does not fit: {message}")),
    }
}

/// The title of a refusal by the HTTP layer.
fn http_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "bad_request",
    }
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|e| e[1..].to_owned()).unwrap_or_default()
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axum_rejections_name_their_parameter() {
        let cases = [
            ("Invalid URL: Cannot parse `id` with value `not-a-uuid`: UUID parsing failed: invalid character", "id"),
            ("Invalid URL: Cannot parse `day` with value `2026-13-01` to a `NaiveDate`", "day"),
            ("Failed to deserialize query string: limit: invalid digit found in string", "limit"),
            ("Failed to deserialize query string: partial: provided string was not `true` or `false`", "partial"),
            ("Failed to deserialize form body: bills[0]: UUID parsing failed: invalid length", "bills[0]"),
        ];
        for (text, field) in cases {
            assert_eq!(rejected_field(text), Some((field.to_owned(), "malformed")), "{text}");
        }
        assert_eq!(
            rejected_field("Failed to deserialize query string: missing field `period`"),
            Some(("period".to_owned(), "required"))
        );
        assert_eq!(rejected_field("Invalid URL: Cannot parse `abc` to a `u32`"), None);
        assert_eq!(
            unfit_field("steps[0]", "missing field `action`", "wrong_type"),
            Some(("steps[0].action".to_owned(), "required"))
        );
        assert_eq!(
            unfit_field("priority", "invalid type: string", "wrong_type"),
            Some(("priority".to_owned(), "wrong_type"))
        );
        assert_eq!(unfit_field(".", "invalid type: sequence, expected struct", "wrong_type"), None);
        assert_eq!(rejected_field("Failed to buffer the request body: length limit exceeded"), None);
        assert_eq!(rejected_field("Failed to deserialize query string: invalid type: map, expected a string"), None);
        assert!(matches!(
            rejection_error(StatusCode::PAYLOAD_TOO_LARGE, "Failed to buffer the request body"),
            AppError::Http(StatusCode::PAYLOAD_TOO_LARGE, _)
        ));
        assert!(matches!(rejection_error(StatusCode::BAD_REQUEST, cases[0].0), AppError::Invalid(_)));
        // Rejections without a parameter name get a translated message, not axum's English.
        for (status, text, code) in [
            (StatusCode::BAD_REQUEST, "Invalid URL: Cannot parse `zzz` to a `Uuid`", "malformed_url"),
            (StatusCode::BAD_REQUEST, "Invalid URL: UUID parsing failed: invalid character", "malformed_url"),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
                "json_content_type",
            ),
            (
                StatusCode::BAD_REQUEST,
                "Failed to parse the request body as JSON: trailing comma at line 1",
                "json_syntax",
            ),
        ] {
            assert!(
                matches!(rejection_error(status, text), AppError::Rejected(s, c) if s == status && c == code),
                "{text}"
            );
        }
    }
}
