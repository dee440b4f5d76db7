//! Redeeming points for a catalogue item, at the counter, over the API or
//! by the customer in the portal:
//! one transaction that holds the customer, records the expiry due, checks
//! the balance and takes the stock, then records the redemption, audited and
//! on the customer's timeline.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    points::db::{self, Redemption},
    timeline,
    web::error::{AppError, FieldErrors},
};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Redeemed {
    pub redemption: Redemption,
    /// The customer's balance after it.
    pub balance: i64,
}

/// Redeems `quantity` of the item `code` for the customer: 404 when the
/// tenant has no such customer, a field error on `item` when the catalogue
/// has no such active item, 409 `points_insufficient` or `points_out_of_stock`.
/// Concurrent redemptions for one customer take turns (the customer is held),
/// so the balance never goes below zero; the stock is taken only where there
/// is enough, so it never does either.
pub async fn redeem(
    conn: &mut PgConnection,
    actor: &Actor,
    lang: &str,
    customer_id: Uuid,
    code: &str,
    quantity: i32,
) -> Result<Redeemed, AppError> {
    if !db::lock_customer(conn, customer_id).await? {
        return Err(AppError::NotFound);
    }
    let Some(item) = db::item_by_code(conn, code).await?.filter(|i| i.active) else {
        let mut errors = FieldErrors::default();
        errors.add("item", "unknown_points_item");
        return Err(AppError::Invalid(errors));
    };
    // Points whose term has run out are gone before the balance is read.
    let today = crate::tenants::today(conn).await?;
    db::expire(conn, Some(customer_id), today).await?;
    let balance = db::balance(conn, customer_id).await?;
    let cost = i64::from(item.cost) * i64::from(quantity);
    if balance < cost {
        return Err(AppError::Conflict("points_insufficient"));
    }
    if !db::take_stock(conn, item.id, quantity).await? {
        return Err(AppError::Conflict("points_out_of_stock"));
    }
    let redemption = db::record_redemption(conn, customer_id, &item, quantity, cost, &actor.label).await?;
    let balance = balance - cost;
    let title = format!("{} ×{quantity} · {}", item.name(lang), crate::points::signed(-cost));
    let change = Change {
        action: "redeem_points",
        entity: "customer",
        entity_id: Some(customer_id),
        summary: title.clone(),
        before: None,
        after: Some(json!({
            "points_redemption": redemption.id,
            "item": item.code,
            "quantity": quantity,
            "points": cost,
            "balance": balance,
        })),
    };
    audit::record(conn, actor, change).await?;
    let entry = timeline::Entry {
        kind: "points",
        notice: None,
        title: &title,
        status: "points_redeemed",
        link: &format!("/customers/{customer_id}#points"),
    };
    timeline::record(conn, customer_id, Utc::now(), entry).await?;
    Ok(Redeemed { redemption, balance })
}
