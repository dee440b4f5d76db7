//! The request paths the benchmarks replay (see BENCHMARKS.md).

use gridcrm::db::{self, Database};

use crate::cli::admin::tenant_id;

/// Samples the tenant's customers into the request paths the benchmark
/// replays: searches by each of the four keys, customer pages, and one
/// meter's 30-day load page for meters with interval data.
pub async fn bench_targets(
    database: &Database,
    tenant: String,
    out: std::path::PathBuf,
    samples: i64,
) -> anyhow::Result<()> {
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let rows = sqlx::query!(
        r#"WITH sample AS (SELECT id, account_no, name, phone FROM customers TABLESAMPLE SYSTEM (2) LIMIT $1)
           SELECT DISTINCT ON (s.id) s.id AS "id!", s.account_no AS "account_no!", s.name AS "name!", s.phone, m.serial AS "serial?"
           FROM sample s
           LEFT JOIN supply_points p ON p.customer_id = s.id
           LEFT JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
           LEFT JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           ORDER BY s.id"#,
        samples
    )
    .fetch_all(&mut *tx)
    .await?;
    // One meter's 30-day load page, for meters with interval data.
    let loads = sqlx::query!(
        r#"SELECT p.customer_id, l.meter_id
           FROM (SELECT DISTINCT meter_id FROM load_days WHERE tenant_id = app_tenant_id() LIMIT $1) l
           JOIN meter_installations i ON i.tenant_id = app_tenant_id() AND i.meter_id = l.meter_id AND i.removed_on IS NULL
           JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id"#,
        samples
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    anyhow::ensure!(!rows.is_empty(), "tenant {tenant} has no customers to sample");
    let encode = |q: &str| gridcrm::web::error::urlencode(q);
    let mut searches = Vec::new();
    let mut pages = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        pages.push(format!("/customers/{}", row.id));
        // The four keys in turn; names by a two-character part, as clerks type them.
        let q = match n % 4 {
            0 => row.account_no.clone(),
            1 => {
                let chars: Vec<char> = row.name.chars().collect();
                let start = if chars.len() > 2 { 1 } else { 0 };
                chars[start..(start + 2).min(chars.len())].iter().collect()
            }
            2 => row.phone.clone().unwrap_or_else(|| row.account_no.clone()),
            _ => row.serial.clone().unwrap_or_else(|| row.account_no.clone()),
        };
        searches.push(format!("/customers?q={}", encode(&q)));
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("search.txt"), searches.join("\n") + "\n")?;
    std::fs::write(out.join("customers.txt"), pages.join("\n") + "\n")?;
    let loads: Vec<String> = loads.iter().map(|l| format!("/customers/{}/load?meter={}", l.customer_id, l.meter_id)).collect();
    if !loads.is_empty() {
        std::fs::write(out.join("load.txt"), loads.join("\n") + "\n")?;
    }
    println!(
        "wrote {} searches, {} customer pages and {} load pages to {}",
        searches.len(),
        pages.len(),
        loads.len(),
        out.display()
    );
    Ok(())
}
