//! One bill of a linked account, as the counter explains it ("why is it this
//! much": the lines, the readings and tiers behind them, a year of usage)
//! and as it prints: the staff bill page's sheet (`billing::sheet`).

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::get,
};
use uuid::Uuid;

use super::{
    auth::PortalCaller,
    db as portal_db,
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    billing::sheet::BillSheet,
    web::{
        AppState,
        error::AppError,
        i18n::Locale,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/portal/bills/{id}", get(bill_page))
}

#[derive(askama::Template)]
#[template(path = "portal/bill.html")]
struct BillPage {
    p: Page,
    f: Frame,
    sheet: BillSheet,
}

/// Another customer's bill is "not found", like one that does not exist.
async fn bill_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let visible = portal_db::bill_visible(&mut tx, id).await?;
    tx.commit().await?;
    if !visible {
        return Err(AppError::NotFound);
    }
    let mut p = page(locale.0, "billing.bill_title", caller.csrf.clone());
    p.tz = caller.tz;
    let mut tx = caller.company_tx(&state.db).await?;
    let sheet = BillSheet::load(&mut tx, id, &p, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    p.title = format!("{} · {}", sheet.bill.bill_no, p.title);
    let f = signed_in_frame(&caller, &format!("/portal/bills/{id}"));
    Ok(render(&BillPage { p, f, sheet })?.into_response())
}
