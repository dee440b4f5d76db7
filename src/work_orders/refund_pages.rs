//! The refunds page: what the company owes customers whose accounts closed
//! with money left, and the payout the counter records (cash, or a bank
//! transfer with its reference), once, audited and on the customer's timeline.

use axum::{
    Router,
    extract::{Path, Query, State},
    response::{Html, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    staff::Permission,
    timeline,
    web::{
        AppState,
        auth::CurrentUser,
        change::{after_change, in_tenant_tx},
        csrf::CsrfForm,
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
    work_orders::{
        change_db::{self, Refund},
        refund::{CHANNELS, PayoutDraft, validate_payout},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/refunds", get(list)).route("/refunds/{id}/pay", post(pay))
}

/// How many refunds a page lists (owed ones are few: closings are rare).
const SHOWN: i64 = 200;

#[derive(askama::Template)]
#[template(path = "work_orders/refunds.html")]
struct RefundsPage {
    p: Page,
    status: String,
    refunds: Vec<Refund>,
    saved: bool,
    /// The refund a refused payout was for, its draft, and why.
    failed: Option<Uuid>,
    draft: PayoutDraft,
    errors: FieldErrors,
    conflict: Option<&'static str>,
}

impl RefundsPage {
    fn channels(&self) -> &'static [&'static str] {
        &CHANNELS
    }

    fn failed_here(&self, id: &Uuid) -> bool {
        self.failed == Some(*id)
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    saved: bool,
}

async fn page(state: &AppState, user: &CurrentUser, status: &str) -> Result<RefundsPage, AppError> {
    let status = if status == "paid" { "paid" } else { "owed" };
    let mut tx = user.tx(&state.db).await?;
    let refunds = change_db::refunds(&mut tx, None, Some(status), SHOWN).await?;
    tx.commit().await?;
    Ok(RefundsPage {
        p: Page::for_user(user, "refunds.title"),
        status: status.to_owned(),
        refunds,
        saved: false,
        failed: None,
        draft: PayoutDraft::default(),
        errors: FieldErrors::default(),
        conflict: None,
    })
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, AppError> {
    user.require(Permission::TakePayments)?;
    let page = RefundsPage { saved: q.saved, ..page(&state, &user, &q.status).await? };
    render(&page)
}

async fn pay(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(draft): CsrfForm<PayoutDraft>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    let result = in_tenant_tx(&state, &user, async |tx| {
        let payout = validate_payout(&draft).map_err(AppError::Invalid)?;
        let refund = change_db::lock_refund(tx, id).await?.ok_or(AppError::NotFound)?;
        if refund.status != "owed" {
            return Err(AppError::Conflict("refund_already_paid"));
        }
        change_db::mark_refund_paid(tx, id, &payout.channel, &payout.reference, &user.label).await?;
        let after = json!({ "status": "paid", "channel": payout.channel, "reference": payout.reference });
        audit::record(
            tx,
            &Actor::from(&user),
            Change {
                action: "pay_out",
                entity: "refund",
                entity_id: Some(id),
                summary: format!("{} {} ¥{}", refund.account_no, refund.customer_name, refund.amount),
                before: Some(json!({ "status": "owed", "amount": refund.amount })),
                after: Some(after),
            },
        )
        .await?;
        let title = format!("¥{}", refund.amount);
        let entry = timeline::Entry { kind: "refund", notice: None, title: &title, status: "refund_paid", link: "" };
        timeline::record(tx, refund.customer_id, chrono::Utc::now(), entry).await?;
        Ok(())
    })
    .await;
    after_change(result, "/refunds", async |errors, conflict| {
        Ok(RefundsPage {
            failed: Some(id),
            draft: draft.clone(),
            errors,
            conflict,
            ..page(&state, &user, "owed").await?
        })
    })
    .await
}
