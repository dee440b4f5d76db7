//! The counter: take a payment (cash or card) against chosen bills or the
//! oldest debts, print the receipt; reverse a payment with a reason.

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    audit::Actor,
    customers::db as customers_db,
    payments::{
        db::{self, AllocationRow, OpenBill, PaymentRow},
        model::{COUNTER_CHANNELS, PaymentDraft},
        service,
    },
    service::next_ref,
    staff::Permission,
    web::{
        AppState,
        auth::CurrentUser,
        change::{after_change, in_tenant_tx},
        csrf::{CsrfForm, ReasonForm},
        error::{AppError, FieldErrors},
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers/{id}/pay", get(pay_form).post(pay))
        .route("/payments/{id}/receipt", get(receipt))
        .route("/payments/{id}/reverse", post(reverse))
}

#[derive(Deserialize, Default, Clone)]
struct PayForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    channel: String,
    /// Bills the customer asked to settle; none: the oldest debts first.
    #[serde(default)]
    bills: Vec<Uuid>,
}

#[derive(askama::Template)]
#[template(path = "payments/pay.html")]
struct PayPage {
    p: Page,
    customer_id: Uuid,
    account_no: String,
    name: String,
    credit: Decimal,
    open: Vec<OpenBill>,
    total: Decimal,
    f: PayForm,
    errors: FieldErrors,
    conflict: Option<&'static str>,
}

impl PayPage {
    fn channels(&self) -> &'static [&'static str] {
        &COUNTER_CHANNELS
    }
    fn total_text(&self) -> String {
        self.p.money(&self.total)
    }
    fn owed(&self, b: &OpenBill) -> String {
        self.p.money(&b.outstanding())
    }
}

async fn pay_page(
    state: &AppState,
    user: &CurrentUser,
    customer_id: Uuid,
    f: Option<PayForm>,
    errors: FieldErrors,
    conflict: Option<&'static str>,
) -> Result<PayPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let customer = customers_db::get(&mut tx, customer_id).await?;
    let open = db::open_bills(&mut tx, customer_id, false).await?;
    let credit = sqlx::query_scalar!("SELECT credit_balance FROM customers WHERE id = $1", customer_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    let total: Decimal = open.iter().map(OpenBill::outstanding).sum();
    let f = f.unwrap_or_else(|| PayForm {
        amount: if total > Decimal::ZERO { total.to_string() } else { String::new() },
        channel: "counter_cash".into(),
        bills: Vec::new(),
    });
    Ok(PayPage {
        p: Page::for_user(user, "payments.pay_title"),
        customer_id,
        account_no: customer.account_no,
        name: customer.name,
        credit,
        open,
        total,
        f,
        errors,
        conflict,
    })
}

async fn pay_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    Ok(render(&pay_page(&state, &user, id, None, FieldErrors::default(), None).await?)?.into_response())
}

async fn pay(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<PayForm>,
) -> Result<Response, AppError> {
    user.require(Permission::TakePayments)?;
    let booked = async {
        let mut tx = user.tx(&state.db).await?;
        let customer = customers_db::get(&mut tx, id).await?;
        // The receipt number is the counter's channel reference.
        let receipt_no = next_ref(&mut tx, "R").await?;
        let draft = PaymentDraft {
            account_no: customer.account_no,
            amount: f.amount.clone(),
            channel: f.channel.clone(),
            channel_ref: receipt_no,
            received_at: None,
        };
        if !COUNTER_CHANNELS.contains(&f.channel.as_str()) {
            let mut errors = FieldErrors::default();
            errors.add("channel", "unknown_code");
            return Err(AppError::Invalid(errors));
        }
        let chosen = (!f.bills.is_empty()).then_some(f.bills.as_slice());
        let booked = service::book(&mut tx, &Actor::from(&user), &draft, chosen, Utc::now()).await?;
        tx.commit().await?;
        Ok(booked.payment.id)
    }
    .await;
    match booked {
        Ok(payment_id) => Ok(Redirect::to(&format!("/payments/{payment_id}/receipt")).into_response()),
        Err(err) => {
            after_change(Err(err), &format!("/customers/{id}/pay"), |errors, conflict| {
                pay_page(&state, &user, id, Some(f.clone()), errors, conflict)
            })
            .await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "payments/receipt.html")]
struct ReceiptPage {
    p: Page,
    payment: PaymentRow,
    allocations: Vec<AllocationRow>,
    tenant_name: String,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

async fn receipt_page(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<ReceiptPage, AppError> {
    let mut tx = user.tx(&state.db).await?;
    let payment = db::get(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let allocations = db::allocations(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ReceiptPage {
        p: Page::for_user(user, "payments.receipt_title"),
        payment,
        allocations,
        tenant_name: user.tenant_name.clone(),
        errors,
        notice,
    })
}

async fn receipt(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> Result<Response, AppError> {
    user.require(Permission::ReadCustomers)?;
    Ok(render(&receipt_page(&state, &user, id, FieldErrors::default(), None).await?)?.into_response())
}

async fn reverse(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<ReasonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::Bill)?;
    let actor = Actor::from(&user);
    let result = in_tenant_tx(&state, &user, async |tx| service::reverse(tx, &actor, id, &f.reason).await).await;
    after_change(result, &format!("/payments/{id}/receipt"), |errors, conflict| {
        receipt_page(&state, &user, id, errors, conflict)
    })
    .await
}
