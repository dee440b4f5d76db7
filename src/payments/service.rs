//! Booking a payment once, spreading it over the oldest debts first (or the
//! bills staff chose), and reversing one with a reason, audited.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    billing::{Debt, allocate},
    cost_control::db as cost_control_db,
    payments::{
        db::{self, PaymentRow},
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

/// Books a payment unless its channel reference already is. `chosen`: the
/// bills staff picked, in order (else the oldest debts first, late fees before bills).
pub async fn book(
    conn: &mut PgConnection,
    actor: &Actor,
    draft: &PaymentDraft,
    chosen: Option<&[Uuid]>,
    now: DateTime<Utc>,
) -> Result<Booked, AppError> {
    let payment = model::validate(draft, now).map_err(AppError::Invalid)?;
    let customer_id = sqlx::query_scalar!("SELECT id FROM customers WHERE account_no = $1", payment.account_no)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(customer_id) = customer_id else {
        let mut errors = FieldErrors::default();
        errors.add("account_no", "unknown_customer");
        return Err(AppError::Invalid(errors));
    };
    let Some(id) = db::insert(conn, customer_id, &payment, &actor.label).await? else {
        let existing = db::by_reference(conn, &payment.channel, &payment.channel_ref)
            .await?
            .ok_or(AppError::Conflict("stale_item"))?;
        // The same reference for another customer or amount is not a retry: refuse it.
        if existing.customer_id != customer_id || existing.amount != payment.amount {
            return Err(AppError::Conflict("channel_ref_reused"));
        }
        return Ok(Booked { created: false, payment: existing });
    };
    let open = db::open_bills(conn, customer_id, true).await?;
    let debts: Vec<Debt<DebtId>> = open
        .iter()
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
        .collect();
    let chosen_ids: Option<Vec<DebtId>> = chosen.map(|bills| {
        bills
            .iter()
            .flat_map(|&bill_id| [DebtId { bill_id, late_fee: true }, DebtId { bill_id, late_fee: false }])
            .collect()
    });
    let allocation = allocate(payment.amount, &debts, chosen_ids.as_deref());
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
    let payment = db::get(conn, id).await?.ok_or(AppError::NotFound)?;
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
    if !db::reverse(conn, id, &actor.label, reason).await? {
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
