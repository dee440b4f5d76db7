//! Paying or topping up from the portal: an order, the gateway's hosted
//! page, the gateway's signed callback booking the payment through the
//! counter's idempotent path, and the page the customer comes back to.

use std::collections::BTreeMap;

use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    auth::{PortalCaller, PortalForm},
    db::{self as portal_db, Account},
    gateway::{self, CallbackError, Gateway, Order},
    pages::{Frame, page, signed_in_frame},
};
use crate::{
    audit::Actor,
    db,
    payments::{
        model::{PaymentDraft, normalize_amount, parse_amount},
        service::{self as payments, Counter},
    },
    web::{
        AppState,
        error::{AppError, FieldErrors},
        i18n::Locale,
        page::{Page, render},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/accounts/{account_no}/pay", get(pay_page).post(pay))
        .route("/portal/payments/{order}", get(order_page))
        .route("/portal/pay/{slug}/callback", post(callback))
}

/// The configured gateway, if all three settings are there.
fn configured(state: &AppState) -> Option<Gateway<'_>> {
    let c = &state.config;
    Some(Gateway {
        url: c.pay_gateway_url.as_deref()?,
        merchant: c.pay_gateway_merchant.as_deref()?,
        secret: c.pay_gateway_secret.as_ref()?.expose().as_bytes(),
    })
}

/// This server's address as the outside sees it.
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = if state.config.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

#[derive(askama::Template)]
#[template(path = "portal/pay.html")]
struct PayPage {
    p: Page,
    f: Frame,
    account: Account,
    available: bool,
    amount: String,
    /// The amount filled in is a prepaid account's top-up, not only its bills.
    top_up: bool,
    errors: FieldErrors,
}

async fn linked_account(state: &AppState, caller: &PortalCaller, account_no: &str) -> Result<Account, AppError> {
    let mut tx = caller.tx(&state.db).await?;
    let account = portal_db::account(&mut tx, account_no).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(account)
}

/// `suggested`: a prepaid account's top-up (see `cost_control::suggested_top_up`).
fn pay_form(
    state: &AppState,
    caller: &PortalCaller,
    locale: Locale,
    account: Account,
    suggested: Option<Decimal>,
) -> PayPage {
    let amount = suggested.unwrap_or(account.owed);
    let amount = if amount > Decimal::ZERO { format!("{amount:.2}") } else { String::new() };
    PayPage {
        p: page(locale, "portal.pay_title", caller.csrf.clone()),
        f: signed_in_frame(caller, &format!("/portal/accounts/{}/pay", account.account_no)),
        available: configured(state).is_some() && account.status == "active",
        account,
        amount,
        top_up: suggested.is_some(),
        errors: FieldErrors::default(),
    }
}

async fn pay_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(account_no): Path<String>,
) -> Result<Response, AppError> {
    let account = linked_account(&state, &caller, &account_no).await?;
    // The account is a linked one (read as the customer above).
    let mut tx = caller.company_tx(&state.db).await?;
    let prepaid = crate::cost_control::db::get(&mut tx, account.customer_id).await?.filter(|a| a.active);
    tx.commit().await?;
    let suggested = prepaid.map(|a| {
        crate::cost_control::suggested_top_up(a.balance, a.daily_cost, account.owed, crate::cost_control::TOP_UP_DAYS)
    });
    let page = render(&pay_form(&state, &caller, locale.0, account, suggested))?;
    Ok(may_leave_for_gateway(&state, page.into_response()))
}

/// The pay form's page may send its form on to the gateway: browsers hold a
/// form's redirect to the page's `form-action`, which otherwise names only
/// this site.
fn may_leave_for_gateway(state: &AppState, mut response: Response) -> Response {
    let origin =
        configured(state).and_then(|g| reqwest::Url::parse(g.url).ok()).map(|u| u.origin().ascii_serialization());
    if let Some(origin) = origin
        && let Ok(value) = header::HeaderValue::from_str(
            &crate::web::CONTENT_SECURITY_POLICY.replace("form-action 'self'", &format!("form-action 'self' {origin}")),
        )
    {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    amount: String,
}

/// Opens an order and sends the browser to the gateway's hosted page.
async fn pay(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    headers: HeaderMap,
    caller: PortalCaller,
    Path(account_no): Path<String>,
    PortalForm(form): PortalForm<PayForm>,
) -> Result<Response, AppError> {
    // Read as the customer: only a linked account is found.
    let account = linked_account(&state, &caller, &account_no).await?;
    let Some(g) = configured(&state).filter(|_| account.status == "active") else {
        return Err(AppError::Refused("portal_payment_unavailable"));
    };
    let amount = match parse_amount(&normalize_amount(&form.amount)) {
        Ok(amount) => amount,
        Err(code) => {
            let mut page = pay_form(&state, &caller, locale.0, account, None);
            page.amount = form.amount.trim().to_owned();
            page.errors.add("amount", code);
            let response = (StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response();
            return Ok(may_leave_for_gateway(&state, response));
        }
    };
    let mut tx = caller.company_tx(&state.db).await?;
    let order_id = portal_db::create_order(&mut tx, account.customer_id, caller.user_id, amount).await?;
    tx.commit().await?;
    let base = public_base(&state, &headers);
    let notify_url = format!("{base}/portal/pay/{}/callback", caller.tenant_slug);
    let return_url = format!("{base}/portal/payments/{}", order_id.simple());
    let order =
        Order { id: order_id, amount, subject: &account.account_no, notify_url: &notify_url, return_url: &return_url };
    Ok(Redirect::to(&gateway::pay_url(&g, &order)).into_response())
}

#[derive(askama::Template)]
#[template(path = "portal/order.html")]
struct OrderPage {
    p: Page,
    f: Frame,
    order: portal_db::PaymentOrder,
    account: Option<Account>,
}

/// Where the customer comes back to: paid, or still waiting for the
/// gateway's word (the page says to look again in a moment).
async fn order_page(
    State(state): State<AppState>,
    locale: axum::Extension<Locale>,
    caller: PortalCaller,
    Path(order): Path<String>,
) -> Result<Response, AppError> {
    let order_id = Uuid::try_parse(&order).map_err(|_| AppError::NotFound)?;
    let mut tx = caller.tx(&state.db).await?;
    let order = portal_db::order(&mut tx, order_id).await?.ok_or(AppError::NotFound)?;
    let account = portal_db::account(&mut tx, &order.account_no).await?;
    tx.commit().await?;
    let mut p = page(locale.0, "portal.order_title", caller.csrf.clone());
    p.tz = caller.tz;
    let f = signed_in_frame(&caller, &format!("/portal/payments/{}", order_id.simple()));
    Ok(render(&OrderPage { p, f, order, account })?.into_response())
}

/// The gateway's word that money arrived. Answers `success` once the payment
/// is booked (again for a repeated callback, which books nothing twice);
/// anything else makes the gateway try again later, so a refusal that no
/// retry can mend says why in its body for the gateway's log.
async fn callback(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Form(params): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let Some(g) = configured(&state) else { return Ok(refuse(StatusCode::NOT_FOUND, "no gateway configured")) };
    let company = portal_db::company(&state.db, &slug).await?.ok_or(AppError::NotFound)?;
    let paid = match gateway::read_callback(&g, &params) {
        Ok(paid) => paid,
        Err(CallbackError::NotPaid) => return Ok((StatusCode::OK, "success").into_response()),
        Err(err) => {
            tracing::warn!(error = %err, tenant = %company.slug, "payment callback refused");
            return Ok(refuse(StatusCode::BAD_REQUEST, &err.to_string()));
        }
    };
    let mut tx = db::begin_tenant(&state.db, company.id, None).await?;
    let Some(order) = portal_db::order_for_update(&mut tx, paid.order).await? else {
        return Ok(refuse(StatusCode::NOT_FOUND, "unknown order"));
    };
    if order.amount != paid.amount {
        tracing::warn!(order = %paid.order, "payment callback for another amount than ordered");
        return Ok(refuse(StatusCode::BAD_REQUEST, "the amount differs from the order's"));
    }
    // Every distinct transaction is money that arrived: each is booked (a
    // second one for a paid order goes to credit), none twice.
    let draft = PaymentDraft {
        account_no: order.account_no.clone(),
        amount: format!("{:.2}", paid.amount),
        channel: "portal".into(),
        channel_ref: paid.txn.clone(),
        received_at: None,
        allow_credit: Some(true),
    };
    let actor = Actor { user_id: None, label: "portal:payment".into(), request_id: None };
    let booked = payments::book(&mut tx, &actor, &draft, &Counter::default(), chrono::Utc::now()).await?;
    portal_db::mark_paid(&mut tx, order.id, booked.payment.id, &paid.txn).await?;
    tx.commit().await?;
    Ok((StatusCode::OK, "success").into_response())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("fail: {why}")).into_response()
}
