//! The interface towards the meter system: it polls for disconnection and
//! reconnection orders (each handed out once) and acknowledges each with
//! its result. The caller is an API key with the `meter_system` role, which
//! may do nothing else.
//!
//! ```text
//! POST /api/v1/meter-commands/poll?limit=50   → [{id, account_no, meter, command, reason, …}]  (now "sent")
//! POST /api/v1/meter-commands/{id}/ack        {"done": true, "result": "relay opened 10:02"}
//! ```

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    cost_control::db::{self, Command},
    staff::Permission,
    web::{
        AppState,
        api_json::ApiJson,
        auth::CurrentUser,
        error::{AppError, FieldErrors},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(poll)).routes(routes!(acknowledge))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollParams {
    /// At most this many orders, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Hands out the oldest pending orders; each is handed out once (it becomes `sent`).
#[utoipa::path(post, path = "/api/v1/meter-commands/poll", tag = "cost control", params(PollParams),
    security(("api_key" = [])), responses((status = 200, body = Vec<Command>)))]
async fn poll(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(p): Query<PollParams>,
) -> Result<Json<Vec<Command>>, AppError> {
    user.require(Permission::RelayMeterCommands)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        let mut errors = FieldErrors::default();
        errors.add("limit", "limit_range");
        return Err(errors.into());
    }
    let mut tx = user.tx(&state.db).await?;
    let commands = db::poll(&mut tx, limit).await?;
    tx.commit().await?;
    Ok(Json(commands))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Ack {
    /// true: carried out; false: failed (say why in `result`).
    done: bool,
    #[serde(default)]
    result: String,
}

/// Records the result of a sent order. 409 when it was not sent or was acknowledged already.
#[utoipa::path(post, path = "/api/v1/meter-commands/{id}/ack", tag = "cost control", request_body = Ack,
    params(("id" = Uuid, Path, description = "command id")), security(("api_key" = [])),
    responses((status = 204), (status = 409)))]
async fn acknowledge(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    ApiJson(ack): ApiJson<Ack>,
) -> Result<axum::http::StatusCode, AppError> {
    user.require(Permission::RelayMeterCommands)?;
    let mut tx = user.tx(&state.db).await?;
    if !db::acknowledge(&mut tx, id, ack.done, ack.result.trim()).await? {
        return Err(AppError::Conflict("command_not_sent"));
    }
    tx.commit().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
