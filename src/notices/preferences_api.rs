//! A customer's notice preferences over the API.
//!
//! ```text
//! GET /api/v1/customers/{id}/notice-preferences  → {lang, email, sms_phone, wechat_openid, opt_outs, bill_content, bill_day, bill_channel}
//! PUT /api/v1/customers/{id}/notice-preferences  the same document, replacing the whole preference → 200 as stored
//! ```

use axum::{
    Json,
    extract::{Path, State},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{preferences::Preferences, preferences_db, preferences_pages};
use crate::{
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_preferences, put_preferences))
}

/// A customer's notice preferences: the language notices are written in
/// (null: the company's default), the addresses that override the archive's
/// for email, SMS and WeChat, the kinds the customer opted out of, and the
/// personalised bill. A customer who never stated any gets the defaults
/// (everything null, no opt-outs, bill off). 404 when the customer is not in
/// this company.
#[utoipa::path(get, path = "/api/v1/customers/{id}/notice-preferences", tag = "notices",
    params(("id" = Uuid, Path, description = "customer id")), security(("api_key" = [])),
    responses((status = 200, body = Preferences), (status = 404)))]
async fn get_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Preferences>, AppError> {
    user.require(Permission::ReadCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    let prefs = preferences_db::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(prefs))
}

/// Replaces the whole preference (absent fields become null, absent opt-outs
/// are withdrawn), audited. 422 names each wrong field: `lang` or
/// `bill_content` not one of the codes (`unknown_code`), `email`
/// (`email_format`), `sms_phone` (`notice_sms_phone_format`), `opt_outs`
/// with an unknown kind (`unknown_code`) or a service-critical one the
/// customer cannot opt out of (`notice_opt_out_critical`), `bill_day` outside
/// 1–28, and `bill_channel` without an address for the customer on it
/// (`notice_channel_no_address`). Returns the preference as stored.
#[utoipa::path(put, path = "/api/v1/customers/{id}/notice-preferences", tag = "notices",
    params(("id" = Uuid, Path, description = "customer id")), request_body = Preferences,
    security(("api_key" = [])),
    responses((status = 200, body = Preferences), (status = 404),
              (status = 422, description = "invalid fields, each named")))]
async fn put_preferences(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(draft): ApiJson<Preferences>,
) -> Result<Json<Preferences>, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    let stored =
        preferences_pages::replace(&mut tx, &crate::audit::Actor::from(&user), id, &draft, FieldErrors::default())
            .await?;
    tx.commit().await?;
    Ok(Json(stored))
}
