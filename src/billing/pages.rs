//! Bill runs (start one, watch it, see who was skipped and why) and the
//! bill page (lines, the readings and tiers behind them, a year's usage for
//! "why is my bill so high", print, cancel and re-issue).

use axum::{
    Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    billing::{
        run::{self, RunSummary, Skip},
        service,
        sheet::BillSheet,
    },
    staff::Permission,
    web::change::{after_change, in_tenant_tx},
    web::{
        AppState,
        auth::CurrentUser,
        csrf::{CsrfForm, ReasonForm},
        csv_export,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/billing/runs", get(runs).post(start_run))
        .route("/billing/runs/{id}", get(run_page))
        .route("/billing/runs/{id}/skips.csv", get(skips_csv))
        .route("/bills/{id}", get(bill_page))
        .route("/bills/{id}/cancel", post(cancel))
        .route("/bills/{id}/reissue", post(reissue))
}

#[derive(Deserialize, Default, Clone)]
struct RunForm {
    #[serde(default)]
    period: String,
    #[serde(default)]
    route: String,
}

#[derive(askama::Template)]
#[template(path = "billing/runs.html")]
struct RunsPage {
    p: Page,
    runs: Vec<RunSummary>,
    f: RunForm,
    errors: FieldErrors,
    conflict: Option<&'static str>,
}

async fn runs_page(
    state: &AppState,
    user: &CurrentUser,
    f: RunForm,
    errors: FieldErrors,
    conflict: Option<&'static str>,
) -> Result<RunsPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let runs = run::recent(&mut tx, None, 30).await?;
    tx.commit().await?;
    Ok(RunsPage { p: Page::for_user(user, "billing.runs_title"), runs, f, errors, conflict })
}

async fn runs(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let today = Utc::now().with_timezone(&user.tz).date_naive();
    let f = RunForm { period: service::default_period(today), route: String::new() };
    Ok(render(&runs_page(&state, &user, f, FieldErrors::default(), None).await?)?.into_response())
}

async fn start_run(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm(f): CsrfForm<RunForm>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let jobs = crate::jobs::Settings::from_config(&state.config);
    let result = service::start(&state.db, user.tenant_id, &Actor::from(&user), &f.period, &f.route, &jobs).await;
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/billing/runs/{id}")).into_response()),
        Err(err) => {
            after_change(Err(err), "/billing/runs", |errors, conflict| {
                runs_page(&state, &user, f.clone(), errors, conflict)
            })
            .await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "billing/run.html")]
struct RunPage {
    p: Page,
    run: RunSummary,
    skips: Vec<Skip>,
}

#[derive(askama::Template)]
#[template(path = "billing/run_summary.html")]
struct RunSummaryPart {
    p: Page,
    run: RunSummary,
}

const SKIPS_SHOWN: i64 = 500;

async fn run_page(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let mut tx = user.tx(&state.db).await?;
    let run = run::summary(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let partial = headers.contains_key("hx-request") && run.status == "running";
    let skips = if partial { Vec::new() } else { run::skips(&mut tx, id, SKIPS_SHOWN).await? };
    tx.commit().await?;
    let p = Page::for_user(&user, "billing.run_title");
    if partial {
        return Ok(render(&RunSummaryPart { p, run })?.into_response());
    }
    Ok(render(&RunPage { p, run, skips })?.into_response())
}

async fn skips_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let mut tx = user.tx(&state.db).await?;
    let run = run::summary(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let skips = run::skips(&mut tx, id, i64::MAX).await?;
    tx.commit().await?;
    let p = Page::for_user(&user, "billing.run_title");
    let header =
        ["customers.account_no", "customers.name", "billing.skip_reason", "billing.skip_detail"].map(|k| p.t(k));
    let rows = skips.into_iter().map(|s| vec![s.account_no, s.name, p.tc("skip_reason.", &s.reason), s.detail]);
    let body = csv_export::to_csv(&header, rows)?;
    Ok(csv_export::download(&format!("skipped_{}.csv", run.period), body))
}

#[derive(askama::Template)]
#[template(path = "billing/bill.html")]
struct BillPage {
    p: Page,
    sheet: BillSheet,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct Saved {
    saved: Option<String>,
}

async fn bill_view(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<BillPage, AppError> {
    let p = Page::for_user(user, "billing.bill_title");
    let mut tx = user.tx(&state.db).await?;
    let sheet = BillSheet::load(&mut tx, id, &p, true).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(BillPage { p, sheet, errors, notice })
}

async fn bill_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    let notice = q.saved.map(|_| "common.saved");
    Ok(render(&bill_view(&state, &user, id, FieldErrors::default(), notice).await?)?.into_response())
}

async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<ReasonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let actor = Actor::from(&user);
    let result = in_tenant_tx(&state, &user, async |tx| service::cancel(tx, &actor, id, &f.reason).await).await;
    after_change(result, &format!("/bills/{id}"), |errors, conflict| bill_view(&state, &user, id, errors, conflict))
        .await
}

async fn reissue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    match service::reissue(&state.db, user.tenant_id, &Actor::from(&user), id).await {
        Ok((_, Some(new_id))) => Ok(Redirect::to(&format!("/bills/{new_id}?saved=1")).into_response()),
        // Not billable now (a flagged reading, say): the run's page says why.
        Ok((run, None)) => Ok(Redirect::to(&format!("/billing/runs/{}", run.id)).into_response()),
        Err(err) => {
            after_change(Err(err), &format!("/bills/{id}"), |errors, conflict| {
                bill_view(&state, &user, id, errors, conflict)
            })
            .await
        }
    }
}
