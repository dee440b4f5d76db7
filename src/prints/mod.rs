//! What printed receipts, bills and slips share: the company's letterhead
//! (name, address, the 95598 hotline), payment instructions for bills, and
//! amounts in Chinese capitals.

pub mod capitals;
pub mod pages;

use serde::Serialize;
use sqlx::PgConnection;

pub use capitals::capitals;

/// The head of every print, and how to pay (printed on bills).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Letterhead {
    pub name: String,
    pub address: String,
    pub hotline: String,
    pub payment_instructions: String,
}

/// The company's letterhead; a company that set nothing prints its name and 95598.
pub async fn letterhead(conn: &mut PgConnection) -> sqlx::Result<Letterhead> {
    // The settings' row (at most one, by row-level security) beside the
    // company's name, not joined to tenants: Citus 12.1 crashes on a reference
    // table outer-joined to a distributed one and filtered by a function.
    let row = sqlx::query!(
        r#"SELECT (SELECT name FROM tenants WHERE id = app_tenant_id()) AS "name!", s.address AS "address?",
                  s.hotline AS "hotline?", s.payment_instructions AS "payment_instructions?"
           FROM (SELECT 1) AS one
           LEFT JOIN (SELECT address, hotline, payment_instructions FROM print_settings) s ON true"#
    )
    .fetch_one(conn)
    .await?;
    Ok(Letterhead {
        name: row.name,
        address: row.address.unwrap_or_default(),
        hotline: row.hotline.unwrap_or_else(|| "95598".to_owned()),
        payment_instructions: row.payment_instructions.unwrap_or_default(),
    })
}

pub async fn save(conn: &mut PgConnection, l: &Letterhead) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO print_settings (tenant_id, address, hotline, payment_instructions)
           VALUES (app_tenant_id(), $1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET address = $1, hotline = $2, payment_instructions = $3"#,
        l.address,
        l.hotline,
        l.payment_instructions
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An acceptance slip (受理回执) as printed: a work order's or a contact's.
/// Every text is translated by the caller.
#[derive(Clone, Debug, Default)]
pub struct Slip {
    pub heading: String,
    pub ref_label: String,
    pub ref_no: String,
    /// What was accepted: (label, value), in order.
    pub facts: Vec<(String, String)>,
    pub rows_title: String,
    pub rows: Vec<(String, String)>,
    pub documents: Vec<String>,
    pub clerk: String,
    pub note: String,
}

#[derive(askama::Template)]
#[template(path = "prints/slip.html")]
pub struct SlipPage {
    pub p: crate::web::page::Page,
    pub letterhead: Letterhead,
    pub slip: Slip,
}
