//! Credits waiting for a customer's next bill (a demand-response reward):
//! other areas add them ([`add`]), keyed by what caused them so that the
//! same cause credits once; the bill run turns the pending credits of a
//! customer it bills into lines of that bill that reduce it ([`apply`]) and
//! marks them used in the statement that writes the bill. A cancelled bill
//! gives its credits back ([`release`]), so the re-issue carries them.

use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

/// A credit not yet on a bill.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub id: Uuid,
    /// The bill line's kind (`demand_response`).
    pub kind: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// What the bill is reduced by, more than 0.
    pub amount: Decimal,
}

/// The credits a bill of `total` takes, oldest first: each whole, while
/// the bill stays at or above zero; the rest wait for a later bill.
pub fn apply(total: Decimal, pending: &[Pending]) -> Vec<&Pending> {
    let mut left = total;
    let mut taken = Vec::new();
    for credit in pending {
        if credit.amount <= left {
            left -= credit.amount;
            taken.push(credit);
        }
    }
    taken
}

/// A new credit for `customer`; nothing when `source_ref` was credited
/// before. Returns whether one was added.
pub async fn add(
    conn: &mut PgConnection,
    customer: Uuid,
    kind: &str,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
    source_ref: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"INSERT INTO bill_credits (tenant_id, id, customer_id, kind, quantity, unit_price, amount, source_ref)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (tenant_id, source_ref) DO NOTHING"#,
        Uuid::now_v7(),
        customer,
        kind,
        quantity,
        unit_price,
        amount,
        source_ref
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The pending credits of `customers`, locked for this transaction (a
/// concurrent run of another period waits, then finds them used), by
/// customer, oldest first.
pub async fn pending(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
) -> sqlx::Result<std::collections::HashMap<Uuid, Vec<Pending>>> {
    let rows = sqlx::query!(
        r#"SELECT id, customer_id, kind, quantity, unit_price, amount FROM bill_credits
           WHERE tenant_id = $1 AND customer_id = ANY($2) AND bill_id IS NULL
           ORDER BY customer_id, created_at, id FOR UPDATE"#,
        tenant_id,
        customers
    )
    .fetch_all(conn)
    .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<Pending>> = std::collections::HashMap::new();
    for r in rows {
        out.entry(r.customer_id).or_default().push(Pending {
            id: r.id,
            kind: r.kind,
            quantity: r.quantity,
            unit_price: r.unit_price,
            amount: r.amount,
        });
    }
    Ok(out)
}

/// Gives a cancelled bill's credits back to wait for the next bill.
pub async fn release(conn: &mut PgConnection, bill: Uuid) -> sqlx::Result<u64> {
    let done = sqlx::query!("UPDATE bill_credits SET bill_id = NULL, applied_at = NULL WHERE bill_id = $1", bill)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn credit(amount: Decimal) -> Pending {
        Pending { id: Uuid::now_v7(), kind: "demand_response".into(), quantity: dec!(1), unit_price: amount, amount }
    }

    #[test]
    fn credits_are_taken_whole_while_the_bill_stays_above_zero() {
        let list = [credit(dec!(30.00)), credit(dec!(80.00)), credit(dec!(50.00))];
        // 100 yuan: 30 fits, 80 would take it below zero and waits, 50 fits (20 left).
        let taken: Vec<Decimal> = apply(dec!(100.00), &list).iter().map(|c| c.amount).collect();
        assert_eq!(taken, [dec!(30.00), dec!(50.00)]);
        assert_eq!(apply(dec!(30.00), &list).len(), 1, "a credit equal to the bill takes it to zero");
        assert!(apply(dec!(0), &list).is_empty());
    }
}
