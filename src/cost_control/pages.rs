//! Putting a customer on cost control and taking them off, from the customer
//! page; audited. The estimate runs at once, so the page shows where they stand.

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    cost_control::db,
    staff::Permission,
    web::{AppState, auth::CurrentUser, csrf::CsrfForm, error::AppError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers/{id}/cost-control", post(start))
        .route("/customers/{id}/cost-control/end", post(end))
}

type AnyForm = CsrfForm<std::collections::HashMap<String, String>>;

async fn start(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: AnyForm,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let mut tx = user.tx(&state.db).await?;
    crate::customers::db::get(&mut tx, id).await?;
    db::start(&mut tx, id, today).await?;
    let warn = db::warn_days(&mut tx).await?;
    db::review(&mut tx, id, today, warn).await?;
    let change = Change {
        action: "start",
        entity: "cost_control",
        entity_id: Some(id),
        summary: String::new(),
        before: None,
        after: Some(json!({ "active": true, "started_on": today })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#cost-control")).into_response())
}

async fn end(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    _: AnyForm,
) -> Result<Response, AppError> {
    user.require(Permission::EditCustomers)?;
    let mut tx = user.tx(&state.db).await?;
    if db::end(&mut tx, id).await? {
        let change = Change {
            action: "end",
            entity: "cost_control",
            entity_id: Some(id),
            summary: String::new(),
            before: Some(json!({ "active": true })),
            after: Some(json!({ "active": false })),
        };
        audit::record(&mut tx, &Actor::from(&user), change).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#cost-control")).into_response())
}
