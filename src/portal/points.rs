//! A linked account's loyalty points: the balance, what expires next, the
//! history, and redeeming an item of the catalogue. The redemption is the
//! counter's (`points::service::redeem`): one transaction that holds the
//! customer, so the balance and the stock never go below zero.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    auth::{PortalCaller, PortalForm},
    db::Account,
    pages::{Frame, linked, page, signed_in_frame},
};
use crate::{
    points::{
        self, RedeemForm,
        db::{self as points_db, Entry, Item, Standing},
        service,
    },
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/portal/accounts/{account_no}/points", get(points_page).post(redeem))
}

/// History rows shown.
const HISTORY: i64 = 30;

#[derive(askama::Template)]
#[template(path = "portal/points.html")]
struct PointsPage {
    p: Page,
    f: Frame,
    account: Account,
    standing: Standing,
    items: Vec<Item>,
    history: Vec<Entry>,
    errors: FieldErrors,
    /// Why a redemption could not be made (not enough points, out of stock).
    refused: Option<String>,
    redeemed: bool,
}

impl PointsPage {
    fn signed(&self, points: &i64) -> String {
        points::signed(*points)
    }
    /// One of the item costs more than the balance.
    fn short_of(&self, item: &Item) -> bool {
        i64::from(item.cost) > self.standing.balance
    }
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    redeemed: bool,
}

async fn view(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    account: Account,
    errors: FieldErrors,
    refused: Option<&str>,
    redeemed: bool,
) -> Result<PointsPage, AppError> {
    let today = chrono::Utc::now().with_timezone(&caller.tz).date_naive();
    let mut tx = caller.company_tx(&state.db).await?;
    let points_db::CustomerPoints { standing, history, items } =
        points_db::customer_points(&mut tx, account.customer_id, today, None, HISTORY, true).await?;
    tx.commit().await?;
    let mut p = page(locale, "portal.points_title", caller.csrf.clone());
    p.tz = caller.tz;
    let refused = refused.map(|key| p.t(&format!("portal.{key}")));
    let f = signed_in_frame(caller, &format!("/portal/accounts/{}/points", account.account_no));
    Ok(PointsPage { p, f, account, standing, items, history, errors, refused, redeemed })
}

async fn points_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let page = view(&state, &caller, locale.0, account, FieldErrors::default(), None, done.redeemed).await?;
    Ok(render(&page)?.into_response())
}

async fn redeem(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    PortalForm(form): PortalForm<RedeemForm>,
) -> Result<Response, AppError> {
    let account = linked(&state, &caller, &account_no).await?;
    let again = async |errors: FieldErrors, refused: Option<&str>| -> Result<Response, AppError> {
        let page = view(&state, &caller, locale.0, account.clone(), errors, refused, false).await?;
        let status = if refused.is_some() { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
        Ok((status, render(&page)?).into_response())
    };
    let (item, quantity) = match points::check_redeem_form(&form) {
        Ok(checked) => checked,
        Err(errors) => return again(errors, None).await,
    };
    let actor = caller.actor();
    let mut tx = caller.company_tx(&state.db).await?;
    match service::redeem(&mut tx, &actor, locale.0.code(), account.customer_id, &item, quantity).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/portal/accounts/{}/points?redeemed=true", account.account_no)).into_response())
        }
        Err(AppError::Invalid(errors)) => {
            drop(tx);
            again(errors, None).await
        }
        Err(AppError::Conflict(key)) => {
            drop(tx);
            again(FieldErrors::default(), Some(key)).await
        }
        Err(other) => Err(other),
    }
}
