//! POST /api/v1/customers/import (a CSV file, as the body or as the `file`
//! part of a multipart form) and GET /api/v1/customers/export: the customer
//! archive in the columns of docs/import.md. Tenant administrators only.

use axum::{
    Json,
    body::Body,
    extract::{FromRequest, Multipart, Query, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::Utc;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit::Actor,
    onboarding::service::{self, ImportReport},
    web::{
        AppState,
        access::Role,
        auth::CurrentUser,
        csv_export,
        error::AppError,
        i18n::I18n,
        upload::{self, BodyLimits},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_import)).routes(routes!(get_export))
}

/// Moving a whole archive in or out is for the tenant's administrators.
pub(crate) fn require_admin(user: &CurrentUser) -> Result<(), AppError> {
    if user.role == Role::TenantAdmin { Ok(()) } else { Err(AppError::Forbidden) }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Load the good lines even when some are rejected (default: a rejected
    /// line loads nothing).
    #[serde(default)]
    partial: bool,
}

/// A multipart form's parts: the file's bytes and the other fields' text.
pub(crate) struct FormParts {
    pub file: Option<Vec<u8>>,
    pub fields: Vec<(String, String)>,
}

impl FormParts {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads a multipart body already read under the upload limits.
pub(crate) async fn multipart_parts(headers: &HeaderMap, bytes: Vec<u8>) -> Result<FormParts, AppError> {
    let mut request = Request::new(Body::from(bytes));
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        request.headers_mut().insert(header::CONTENT_TYPE, content_type.clone());
    }
    let bad = |e: &dyn std::fmt::Display| AppError::BadRequest(format!("multipart body: {e}"));
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| bad(&e))?;
    let mut parts = FormParts { file: None, fields: Vec::new() };
    while let Some(field) = multipart.next_field().await.map_err(|e| bad(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(|e| bad(&e))?;
        if name == "file" {
            parts.file = Some(data.to_vec());
        } else {
            parts.fields.push((name, String::from_utf8_lossy(&data).into_owned()));
        }
    }
    Ok(parts)
}

/// An import file; the pattern states the shortest form (the six required
/// columns); every column of docs/import.md may be given, in any order.
struct CustomersCsv;

impl utoipa::PartialSchema for CustomersCsv {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        const LINE: &str = r"[0-9]{6,16},[A-Za-z\u4e00-\u9fa5][A-Za-z0-9 \u4e00-\u9fa5]{0,49},[A-Za-z0-9_.-]{1,20},[A-Za-z0-9_.-]{1,20},[A-Za-z0-9_.-]{1,20},[A-Za-z0-9_.-]{1,20}";
        crate::api::csv(
            "A header line naming the columns (see docs/import.md: account_no, name, class_code, industry_code, \
             voltage_code, tariff_code required; contact_*, point_* and meter_* columns optional), then one line \
             per meter. UTF-8 (with or without BOM) or GBK. Codes must be the tenant's.",
            &format!(r"^account_no,name,class_code,industry_code,voltage_code,tariff_code\r?\n({LINE}\r?\n)+$"),
        )
    }
}

impl utoipa::ToSchema for CustomersCsv {}

fn customers_csv() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    <CustomersCsv as utoipa::PartialSchema>::schema()
}

/// The multipart form: the CSV file as its `file` part, and no other part.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImportForm {
    #[schema(schema_with = customers_csv)]
    file: String,
}

/// Imports customers with their contact, supply points and meters (one line
/// per meter; columns in docs/import.md). Every line is checked first; by
/// default one rejected line loads nothing and every rejected line is
/// listed; with `partial` the good lines load. An account number, supply
/// point code or meter serial already in the archive is updated where a value
/// differs, so a re-run changes nothing. Tenant administrators only.
///
/// Limits (defaults; see the README): a body of at most 64 MiB
/// (`interval_max_bytes`, else 413); the body must keep arriving, with no
/// pause over 10 s and in 25 s in all (else 408); at most 2 uploads in flight
/// per API key or user (else 429).
#[utoipa::path(post, path = "/api/v1/customers/import", tag = "customers", params(ImportParams),
    request_body(content((CustomersCsv = "text/csv"), (ImportForm = "multipart/form-data")),
        description = "The CSV file as the body, or as the `file` part of a multipart form"),
    security(("api_key" = [])),
    responses((status = 200, body = ImportReport, description = "loaded (with `partial`, rejected lines are listed)"),
              (status = 400, description = "neither CSV nor a multipart form with a file, or the body could not be read"),
              (status = 403, description = "not a tenant administrator"),
              (status = 408, description = "the body paused too long or took too long in all; nothing was loaded"),
              (status = 413, description = "the body is over the size limit; nothing was loaded"),
              (status = 422, body = ImportReport, description = "rejected lines (any, or with `partial` every one), or an encoding other than UTF-8 and GBK; nothing was loaded"),
              (status = 429, description = "the caller already has as many uploads in flight as allowed")))]
async fn post_import(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ImportReport>), AppError> {
    require_admin(&user)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_csv = content_type.starts_with("text/csv");
    if !is_csv && !content_type.starts_with("multipart/form-data") {
        return Err(AppError::BadRequest("expected Content-Type: text/csv or multipart/form-data".into()));
    }
    let i = I18n(user.locale);
    let config = &state.config;
    let _upload = state.uploads.begin(&user)?;
    let body = upload::read_to_memory(body, &BodyLimits::new(config, config.interval_max_bytes), &i).await?;
    let file = if is_csv {
        body
    } else {
        let parts = multipart_parts(&headers, body).await?;
        // The document allows the file alone: any other part is named, not ignored.
        if let Some((name, _)) = parts.fields.first() {
            return Err(AppError::BadRequest(format!(
                "the multipart form has a part `{name}`: only `file` is allowed"
            )));
        }
        parts.file.ok_or_else(|| AppError::BadRequest("the multipart form has no `file` part".into()))?
    };
    let _turn = state.uploads.load_turn().await;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let report =
        service::import(&state.db, user.tenant_id, &Actor::from(&user), &file, params.partial, today, &i, &|_| {})
            .await?;
    // As the readings import: a file of which no line could be taken is refused,
    // with or without `partial`.
    let every_line_rejected = report.rejected > 0 && report.rejected == report.read;
    let status = if report.loaded && !every_line_rejected { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)))
}

/// The tenant's whole archive in the import's columns: UTF-8 with a BOM,
/// CRLF, cells Excel would run as formulas prefixed with an apostrophe (the
/// import takes it off). Tenant administrators only.
#[utoipa::path(get, path = "/api/v1/customers/export", tag = "customers", security(("api_key" = [])),
    responses((status = 200, content_type = "text/csv", body = String, description = "the archive as CSV"),
              (status = 403, description = "not a tenant administrator")))]
async fn get_export(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    require_admin(&user)?;
    Ok(csv_export::download("customers.csv", export_bytes(&state, &user).await?))
}

pub(crate) async fn export_bytes(state: &AppState, user: &CurrentUser) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    service::export(&state.db, user.tenant_id, &mut out).await.map_err(AppError::Internal)?;
    Ok(out)
}
