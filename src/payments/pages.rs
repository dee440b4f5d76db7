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
        model::{self, COUNTER_CHANNELS, PaymentDraft, QR_CHANNELS},
        service,
    },
    prints::{self, Letterhead},
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
    /// Cash: what the customer handed over (blank: the exact amount).
    #[serde(default)]
    cash_received: String,
    /// A scanned WeChat or Alipay code: the channel's transaction reference.
    #[serde(default)]
    channel_ref: String,
    /// The clerk confirmed that what is beyond the debts goes to prepaid credit.
    #[serde(default)]
    confirm_credit: Option<String>,
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
    /// An amount beyond the debts waits for the clerk's confirmation: (settles, to credit).
    overpayment: Option<(Decimal, Decimal)>,
}

impl PayPage {
    fn channels(&self) -> &'static [&'static str] {
        &COUNTER_CHANNELS
    }
    fn qr_channels(&self) -> &'static [&'static str] {
        &QR_CHANNELS
    }
    /// "¥X settles the bills, ¥Y goes to prepaid credit".
    fn overpayment_text(&self) -> Option<String> {
        let (settles, credit) = self.overpayment?;
        Some(self.p.i.t_with(
            "payments.overpayment_split",
            &[("settles", &self.p.money(&settles)), ("credit", &self.p.money(&credit))],
        ))
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
    let open = db::open_bills(&mut tx, user.tenant_id, customer_id, false).await?;
    let credit = sqlx::query_scalar!("SELECT credit_balance FROM customers WHERE id = $1", customer_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    let total: Decimal = open.iter().map(OpenBill::outstanding).sum();
    let f = f.unwrap_or_else(|| PayForm {
        amount: if total > Decimal::ZERO { total.to_string() } else { String::new() },
        channel: "counter_cash".into(),
        ..Default::default()
    });
    // An amount beyond the debts is shown split, for the clerk to confirm.
    let overpayment = errors
        .iter()
        .any(|e| e.field == "amount" && e.code == "overpayment_unconfirmed")
        .then(|| model::parse_amount(&model::normalize_amount(&f.amount)).ok())
        .flatten()
        .map(|amount| {
            let chosen = (!f.bills.is_empty()).then_some(f.bills.as_slice());
            let split = service::preview(amount, &open, chosen);
            (amount - split.credit, split.credit)
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
        overpayment,
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
        let mut errors = FieldErrors::default();
        if !COUNTER_CHANNELS.contains(&f.channel.as_str()) {
            errors.add("channel", "unknown_code");
        }
        let qr = QR_CHANNELS.contains(&f.channel.as_str());
        let scanned = f.channel_ref.trim();
        if qr && scanned.is_empty() {
            errors.add("channel_ref", "qr_reference_required");
        }
        // Cash handed over: blank is the exact amount.
        let cash_received = match (f.channel.as_str(), f.cash_received.trim()) {
            ("counter_cash", "") => model::parse_amount(&model::normalize_amount(&f.amount)).ok(),
            ("counter_cash", raw) => match crate::web::input::money(&model::normalize_amount(raw)) {
                Some(cash) if cash >= Decimal::ZERO => Some(cash),
                _ => {
                    errors.add("cash_received", "amount_format");
                    None
                }
            },
            _ => None,
        };
        if !errors.is_empty() {
            // The amount's own refusal is named too.
            if let Err(code) = model::parse_amount(&model::normalize_amount(&f.amount)) {
                errors.add("amount", code);
            }
            return Err(AppError::Invalid(errors));
        }
        let mut tx = user.tx(&state.db).await?;
        let customer = customers_db::get(&mut tx, id).await?;
        // The receipt number is the counter's channel reference; a scanned
        // code's is the channel's own transaction number.
        let reference = if qr { scanned.to_owned() } else { next_ref(&mut tx, "R").await? };
        let draft = PaymentDraft {
            account_no: customer.account_no,
            amount: model::normalize_amount(&f.amount),
            channel: f.channel.clone(),
            channel_ref: reference,
            received_at: None,
            allow_credit: Some(f.confirm_credit.is_some()),
        };
        let chosen = (!f.bills.is_empty()).then_some(f.bills.as_slice());
        let counter = service::Counter { chosen, cash_received };
        let booked = service::book(&mut tx, &Actor::from(&user), &draft, &counter, Utc::now()).await?;
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
    letterhead: Letterhead,
    errors: FieldErrors,
    notice: Option<&'static str>,
}

impl ReceiptPage {
    /// The amount in Chinese capitals (大写).
    fn capitals(&self) -> String {
        prints::capitals(self.payment.amount).unwrap_or_default()
    }
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
    let letterhead = prints::letterhead(&mut tx).await?;
    tx.commit().await?;
    Ok(ReceiptPage {
        p: Page::for_user(user, "payments.receipt_title"),
        payment,
        allocations,
        letterhead,
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
