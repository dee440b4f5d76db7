//! Booking a payment once, spreading it over the oldest debts first (or the
//! bills staff chose), and reversing one with a reason, audited.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    billing::{Allocation, Debt, allocate},
    cost_control::db as cost_control_db,
    payments::{
        cash_days,
        db::{self, OpenBill, PaymentRow},
        model::{self, DebtId, PaymentDraft},
    },
    web::error::{AppError, FieldErrors},
};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Booked {
    /// true: booked by this request; false: the reference was booked before
    /// (a retried notification), and this is that booking.
    pub created: bool,
    pub payment: PaymentRow,
}

/// One field's refusal.
pub fn invalid(field: &str, code: &'static str) -> AppError {
    let mut errors = FieldErrors::default();
    errors.add(field, code);
    AppError::Invalid(errors)
}

/// What the counter adds to a payment: the bills the customer chose (in
/// order; else the oldest debts first, late fees before bills) and, for cash,
/// what the customer handed over.
#[derive(Clone, Debug, Default)]
pub struct Counter<'a> {
    pub chosen: Option<&'a [Uuid]>,
    pub cash_received: Option<Decimal>,
}

/// The customer's debts as the allocation sees them: each bill's late fee and its own amount.
pub fn debts(open: &[OpenBill]) -> Vec<Debt<DebtId>> {
    open.iter()
        .flat_map(|b| {
            [
                Debt {
                    id: DebtId { bill_id: b.id, late_fee: true },
                    late_fee: true,
                    dated: b.period,
                    outstanding: b.late_fee - b.late_fee_paid,
                },
                Debt {
                    id: DebtId { bill_id: b.id, late_fee: false },
                    late_fee: false,
                    dated: b.period,
                    outstanding: b.amount - b.paid,
                },
            ]
        })
        .collect()
}

/// How `amount` would be spread over the open bills (or the chosen ones).
pub fn preview(amount: Decimal, open: &[OpenBill], chosen: Option<&[Uuid]>) -> Allocation<DebtId> {
    let chosen_ids: Option<Vec<DebtId>> = chosen.map(|bills| {
        bills
            .iter()
            .flat_map(|&bill_id| [DebtId { bill_id, late_fee: true }, DebtId { bill_id, late_fee: false }])
            .collect()
    });
    allocate(amount, &debts(open), chosen_ids.as_deref())
}

/// Books a payment unless its channel reference already is. An amount beyond
/// what is owed is refused unless the draft allows the rest to go to credit;
/// a payment dated in the cashier's closed day is refused.
pub async fn book(
    conn: &mut PgConnection,
    actor: &Actor,
    draft: &PaymentDraft,
    counter: &Counter<'_>,
    now: DateTime<Utc>,
) -> Result<Booked, AppError> {
    let payment = model::validate(draft, now).map_err(AppError::Invalid)?;
    let change = match counter.cash_received {
        Some(received) => {
            Some(model::change_for(payment.amount, received).map_err(|code| invalid("cash_received", code))?)
        }
        None => None,
    };
    // Row-level security finds the transaction's tenant's customer; its
    // tenant is named in the row locks below (Citus routes them by it).
    let customer = sqlx::query!("SELECT id, tenant_id FROM customers WHERE account_no = $1", payment.account_no)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((customer_id, tenant_id)) = customer.map(|c| (c.id, c.tenant_id)) else {
        return Err(invalid("account_no", "unknown_customer"));
    };
    if let Some(cashier) = actor.user_id {
        let day = cash_days::day_of(conn, payment.received_at).await?;
        if cash_days::hold_open(conn, cashier, day).await? {
            return Err(AppError::Conflict("cash_day_closed"));
        }
    }
    let cash = counter.cash_received.zip(change);
    let Some(id) = db::insert(conn, customer_id, &payment, actor, cash).await? else {
        let existing = db::by_reference(conn, &payment.channel, &payment.channel_ref)
            .await?
            .ok_or(AppError::Conflict("stale_item"))?;
        // The same reference for another customer or amount is not a retry: refuse it.
        if existing.customer_id != customer_id || existing.amount != payment.amount {
            return Err(AppError::Conflict("channel_ref_reused"));
        }
        return Ok(Booked { created: false, payment: existing });
    };
    let open = db::open_bills(conn, tenant_id, customer_id, true).await?;
    let allocation = preview(payment.amount, &open, counter.chosen);
    if allocation.credit > Decimal::ZERO && !payment.allow_credit {
        // Nothing is kept: the caller's transaction rolls back with the error.
        return Err(invalid("amount", "overpayment_unconfirmed"));
    }
    let parts: Vec<_> = allocation.parts.iter().map(|(d, amount)| (d.bill_id, d.late_fee, *amount)).collect();
    db::apply(conn, id, customer_id, &parts, allocation.credit).await?;
    // The payment earns its loyalty points with the booking, once.
    crate::points::db::earn_for_payment(conn, id, &actor.label).await?;
    let title = format!("¥{} · {}", payment.amount, payment.channel_ref);
    db::timeline(conn, customer_id, id, &title, &payment.channel).await?;
    // A prepaid customer's supply comes back as soon as the balance does.
    if let Some(agreement) = cost_control_db::get(conn, customer_id).await?
        && agreement.active
    {
        let warn = cost_control_db::warn_days(conn).await?;
        let today = cost_control_db::tenant_today(conn, now).await?;
        cost_control_db::review(conn, customer_id, agreement.estimated_on.unwrap_or(today).max(today), warn).await?;
    }
    db::record_balance_after(conn, tenant_id, id, customer_id).await?;
    let payment = db::get(conn, id).await?.ok_or(AppError::NotFound)?;
    audit::record(
        conn,
        actor,
        Change {
            action: "create",
            entity: "payment",
            entity_id: Some(id),
            summary: format!("{} {} {} {}", payment.account_no, payment.channel, payment.channel_ref, payment.amount),
            before: None,
            after: Some(json!({
                "account_no": payment.account_no,
                "amount": payment.amount,
                "channel": payment.channel,
                "channel_ref": payment.channel_ref,
                "credit": payment.credit,
                "cash_received": payment.cash_received,
                "change_given": payment.change_given,
            })),
        },
    )
    .await?;
    Ok(Booked { created: true, payment })
}

/// Reverses a booked payment (a bounced card, a clerk's mistake); the reason is required and audited.
pub async fn reverse(conn: &mut PgConnection, actor: &Actor, id: Uuid, reason: &str) -> Result<(), AppError> {
    let reason = reason.trim();
    let said = crate::web::input::has_visible_char(reason);
    if !said || reason.chars().count() > 500 {
        let mut errors = FieldErrors::default();
        errors.add("reason", if said { "too_long" } else { "reverse_reason_required" });
        return Err(AppError::Invalid(errors));
    }
    let payment = db::get(conn, id).await?.ok_or(AppError::NotFound)?;
    // A reversal is dated now: in the reverser's day, which must be open.
    if let Some(cashier) = actor.user_id {
        let day = cash_days::day_of(conn, Utc::now()).await?;
        if cash_days::hold_open(conn, cashier, day).await? {
            return Err(AppError::Conflict("cash_day_closed"));
        }
    }
    if !db::reverse(conn, id, actor, reason).await? {
        return Err(AppError::Conflict("payment_not_booked"));
    }
    // What the payment earned is taken back, exactly.
    let points = crate::points::db::reverse_for_payment(conn, id, &actor.label).await?;
    db::timeline(conn, payment.customer_id, id, &format!("¥{} · {}", payment.amount, payment.channel_ref), "reversed")
        .await?;
    audit::record(
        conn,
        actor,
        Change {
            action: "reverse",
            entity: "payment",
            entity_id: Some(id),
            summary: format!("{} {}", payment.channel_ref, payment.amount),
            before: Some(json!({ "status": "booked", "amount": payment.amount })),
            after: Some(json!({ "status": "reversed", "reason": reason, "points_taken_back": points })),
        },
    )
    .await?;
    Ok(())
}
