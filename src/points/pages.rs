//! Points pages: the customer page's section (balance, what expires next,
//! the history, the counter's redemption form) and the catalogue page for
//! tenant admins (items, their stock and whether they are offered, and the
//! rates and term).

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    points::{
        self, ItemChangeForm, ItemForm, ONLINE_CHANNELS, RedeemForm, SettingsForm,
        db::{self, Entry, Item, Standing},
        service,
    },
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers/{id}/points/redemptions", post(redeem_at_counter))
        .route("/points/catalogue", axum::routing::get(catalogue_page).post(add_item))
        .route("/points/catalogue/{id}", post(change_item))
        .route("/points/settings", post(save_settings))
}

// ---------------------------------------------------------------- the customer page

/// The customer page's points section.
pub struct PointsSection {
    pub customer_id: Uuid,
    pub standing: Standing,
    /// The newest entries.
    pub history: Vec<Entry>,
    /// The items offered now (active, in stock), for the redemption form.
    pub items: Vec<Item>,
    pub can_redeem: bool,
}

impl PointsSection {
    pub fn signed(&self, points: &i64) -> String {
        points::signed(*points)
    }
}

/// The customer page's points, read in its statement: no paging back, the
/// newest twenty entries, and the items on offer when `offered` (a
/// parameter: whether the user may redeem, [`may_redeem`]).
pub fn page_query(offered: &str, tenant: &str) -> String {
    db::customer_points_query("NULL", "20", offered, tenant)
}

pub fn may_redeem(user: &CurrentUser) -> bool {
    user.require(Permission::RedeemPoints).is_ok()
}

/// The section of the customer page, from [`page_query`]'s column.
pub fn section(user: &CurrentUser, customer_id: Uuid, column: serde_json::Value) -> sqlx::Result<PointsSection> {
    // The tenant's day from the caller's time zone (the tenant's): no round trip.
    let today = chrono::Utc::now().with_timezone(&user.tz).date_naive();
    let db::CustomerPoints { standing, history, items } = db::customer_points_from(column, today)?;
    Ok(PointsSection { customer_id, standing, history, items, can_redeem: may_redeem(user) })
}

async fn redeem_at_counter(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<RedeemForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RedeemPoints)?;
    let (item, quantity) = points::check_redeem_form(&form)?;
    let mut tx = user.tx(&state.db).await?;
    service::redeem(&mut tx, &Actor::from(&user), user.locale.code(), id, &item, quantity).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/customers/{id}?saved=true#points")).into_response())
}

// ---------------------------------------------------------------- the catalogue and the rates

#[derive(askama::Template)]
#[template(path = "points/catalogue.html")]
struct CataloguePage {
    p: Page,
    items: Vec<Item>,
    item: ItemForm,
    item_errors: FieldErrors,
    settings: SettingsForm,
    settings_errors: FieldErrors,
    saved: String,
}

impl CataloguePage {
    fn online_channels(&self) -> &'static [&'static str] {
        &ONLINE_CHANNELS
    }
}

#[derive(Deserialize, Default)]
struct CatalogueQuery {
    /// What was saved: item, stock or settings.
    #[serde(default)]
    saved: String,
}

async fn catalogue_view(
    state: &AppState,
    user: &CurrentUser,
    item: Option<(ItemForm, FieldErrors)>,
    settings: Option<(SettingsForm, FieldErrors)>,
    saved: String,
) -> Result<CataloguePage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let items = db::items(&mut tx, false).await?;
    let current = db::settings(&mut tx).await?;
    tx.commit().await?;
    let (item, item_errors) = item.unwrap_or_else(|| (ItemForm::default(), FieldErrors::default()));
    let (settings, settings_errors) =
        settings.unwrap_or_else(|| (SettingsForm::from(&current), FieldErrors::default()));
    Ok(CataloguePage {
        p: Page::for_user(user, "points.catalogue_title"),
        items,
        item,
        item_errors,
        settings,
        settings_errors,
        saved,
    })
}

async fn catalogue_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<CatalogueQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePoints)?;
    let saved = if ["item", "stock", "settings"].contains(&q.saved.as_str()) { q.saved } else { String::new() };
    Ok(render(&catalogue_view(&state, &user, None, None, saved).await?)?.into_response())
}

fn unprocessable(page: CataloguePage) -> Result<Response, AppError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

async fn add_item(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<ItemForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePoints)?;
    let new = match points::check_item(&form) {
        Ok(new) => new,
        Err(errors) => {
            return unprocessable(catalogue_view(&state, &user, Some((form, errors)), None, String::new()).await?);
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let Some(id) = db::add_item(&mut tx, &new).await? else {
        drop(tx);
        let mut errors = FieldErrors::default();
        errors.add("code", "points_item_code_taken");
        return unprocessable(catalogue_view(&state, &user, Some((form, errors)), None, String::new()).await?);
    };
    let change = Change {
        action: "create",
        entity: "points_item",
        entity_id: Some(id),
        summary: format!("{} {}", new.code, new.name_zh),
        before: None,
        after: Some(json!(new)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/points/catalogue?saved=item").into_response())
}

async fn change_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ItemChangeForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePoints)?;
    let (stock, shown, active) = points::check_item_change(&form)?;
    let mut tx = user.tx(&state.db).await?;
    let before = db::item(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    // A redemption took stock since the form was shown: the clerk sees the new figure first.
    let after = db::change_item(&mut tx, id, stock, shown, active).await?.ok_or(AppError::Conflict("stale_item"))?;
    let change = Change {
        action: "update",
        entity: "points_item",
        entity_id: Some(id),
        summary: format!("{} {}", after.code, after.name_zh),
        before: Some(json!({ "stock": before.stock, "active": before.active })),
        after: Some(json!({ "stock": after.stock, "active": after.active })),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/points/catalogue?saved=stock").into_response())
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManagePoints)?;
    let proposed = match points::check_settings(&form) {
        Ok(s) => s,
        Err(errors) => {
            return unprocessable(catalogue_view(&state, &user, None, Some((form, errors)), String::new()).await?);
        }
    };
    let mut tx = user.tx(&state.db).await?;
    let before = db::settings(&mut tx).await?;
    db::save_settings(&mut tx, &proposed, &user.label).await?;
    let change = Change {
        action: "update",
        entity: "points_settings",
        entity_id: None,
        summary: String::new(),
        before: Some(json!(before)),
        after: Some(json!(proposed)),
    };
    audit::record(&mut tx, &Actor::from(&user), change).await?;
    tx.commit().await?;
    Ok(Redirect::to("/points/catalogue?saved=settings").into_response())
}
