//! The request paths the benchmarks replay (see BENCHMARKS.md).

use gridcrm::db::{self, Database};

use crate::cli::admin::tenant_id;

/// Samples the tenant's customers into the request paths the benchmark
/// replays: searches by each kind of key, customer pages, and one
/// meter's 30-day load page for meters with interval data.
pub async fn bench_targets(
    database: &Database,
    tenant: String,
    out: std::path::PathBuf,
    samples: i64,
) -> anyhow::Result<()> {
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    // Every table names the tenant ($2), so that on a Citus cluster the
    // statements go to its shard (scripts/bench-citus).
    let rows = sqlx::query!(
        r#"WITH sample AS (SELECT id, account_no, name, phone, address FROM customers TABLESAMPLE SYSTEM (2)
                          WHERE tenant_id = $2 LIMIT $1)
           SELECT DISTINCT ON (s.id) s.id AS "id!", s.account_no AS "account_no!", s.name AS "name!", s.phone,
                  s.address AS "address!", m.serial AS "serial?"
           FROM sample s
           LEFT JOIN supply_points p ON p.tenant_id = $2 AND p.customer_id = s.id
           LEFT JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
           LEFT JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           ORDER BY s.id"#,
        samples,
        tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    // One meter's 30-day load page, for meters with interval data.
    let loads = sqlx::query!(
        r#"SELECT p.customer_id, l.meter_id
           FROM (SELECT DISTINCT meter_id FROM load_days WHERE tenant_id = $2 LIMIT $1) l
           JOIN meter_installations i ON i.tenant_id = $2 AND i.meter_id = l.meter_id AND i.removed_on IS NULL
           JOIN supply_points p ON p.tenant_id = $2 AND p.id = i.supply_point_id"#,
        samples,
        tenant_id
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
        // The keys in turn, as clerks type them: a whole account number, a
        // two-character part of a name, a whole phone, a whole meter serial;
        // the last four digits of a phone, the last six of a meter serial, the
        // last character of a name, the name's pinyin initials, and the street
        // and house number of the address ("解放路360号").
        let chars: Vec<char> = row.name.chars().collect();
        let q = match n % 9 {
            0 => row.account_no.clone(),
            1 => {
                let start = if chars.len() > 2 { 1 } else { 0 };
                chars[start..(start + 2).min(chars.len())].iter().collect()
            }
            2 => row.phone.clone().unwrap_or_else(|| row.account_no.clone()),
            3 => row.serial.clone().unwrap_or_else(|| row.account_no.clone()),
            4 => row
                .phone
                .as_deref()
                .map(|p| p[p.len().saturating_sub(4)..].to_owned())
                .unwrap_or_else(|| row.account_no.clone()),
            5 => row
                .serial
                .as_deref()
                .map(|s| s[s.len().saturating_sub(6)..].to_owned())
                .unwrap_or_else(|| row.account_no.clone()),
            6 => chars.last().map(char::to_string).unwrap_or_else(|| row.account_no.clone()),
            7 => gridcrm::customers::search::initials(&row.name).chars().take(4).collect(),
            _ => street_and_number(&row.address).unwrap_or_else(|| row.account_no.clone()),
        };
        searches.push(format!("/customers?q={}", encode(&q)));
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("search.txt"), searches.join("\n") + "\n")?;
    std::fs::write(out.join("customers.txt"), pages.join("\n") + "\n")?;
    // The same customers by account number, for the ceiling (bench-ceiling).
    let accounts: Vec<String> = rows.iter().map(|r| format!("/c/{}", r.account_no)).collect();
    std::fs::write(out.join("ceiling.txt"), accounts.join("\n") + "\n")?;
    let loads: Vec<String> =
        loads.iter().map(|l| format!("/customers/{}/load?meter={}", l.customer_id, l.meter_id)).collect();
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

/// The ceiling the customer page is measured against (scripts/bench): a bare
/// axum server whose one page reads one customer by account number with one
/// indexed query, as the application role under row-level security, and
/// renders it. No session, no layers, no transaction: the tenant is set once
/// per pooled connection. Its requests per second, measured in the same run
/// as the customer page's, make the page's figure independent of the machine.
pub async fn bench_ceiling(database: &Database, tenant: String, bind: String, connections: u32) -> anyhow::Result<()> {
    use axum::{
        extract::{Path, State},
        http::StatusCode,
        response::{Html, IntoResponse, Response},
    };
    use sqlx::{Executor, postgres::PgPoolOptions};

    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let role_switch = sqlx::query_scalar!(r#"SELECT current_user AS "user!""#).fetch_one(&database.app).await?;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |conn, _| {
            let role = role_switch.clone();
            Box::pin(async move {
                conn.execute(format!("SET ROLE \"{}\"", role.replace('"', "")).as_str()).await?;
                sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
                    .bind(tenant_id.to_string())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect(&database.owner_url)
        .await?;

    #[derive(askama::Template)]
    #[template(
        source = "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{{ name }} · {{ account_no }}</title></head>\
                  <body><h1>{{ name }} <span>{{ account_no }}</span></h1><dl><dt>地址</dt><dd>{{ address }}</dd>\
                  <dt>电话</dt><dd>{{ phone.as_deref().unwrap_or(\"—\") }}</dd></dl></body></html>",
        ext = "html"
    )]
    struct Ceiling {
        account_no: String,
        name: String,
        address: String,
        phone: Option<String>,
    }

    async fn page(State(pool): State<sqlx::PgPool>, Path(account_no): Path<String>) -> Response {
        let row = sqlx::query_as!(
            Ceiling,
            "SELECT account_no, name, address, phone FROM customers WHERE tenant_id = app_tenant_id() AND account_no = $1",
            account_no
        )
        .fetch_optional(&pool)
        .await;
        match row {
            Ok(Some(c)) => match askama::Template::render(&c) {
                Ok(html) => Html(html).into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            },
            Ok(None) => StatusCode::NOT_FOUND.into_response(),
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }

    let app = axum::Router::new().route("/c/{account_no}", axum::routing::get(page)).with_state(pool);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("bench ceiling on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(())
}

/// The street and house number of an address ("杭州市西湖区解放路136号10栋" -> "解放路136号"):
/// what follows the district (区/县/市) up to and including 号.
fn street_and_number(address: &str) -> Option<String> {
    let start =
        address.char_indices().filter(|(_, c)| matches!(c, '区' | '县')).map(|(i, c)| i + c.len_utf8()).next()?;
    let rest = &address[start..];
    let end = rest.find('号')? + '号'.len_utf8();
    Some(rest[..end].to_owned()).filter(|s| s.chars().count() >= 2)
}

/// For the portal benchmark (scripts/bench-portal): a portal login with one
/// linked account and an open session for each of `count` sampled customers
/// of the tenant (again for a login the previous run made), written as
/// `portal-sessions.txt` (one session cookie value a line) and
/// `portal-ceiling.txt` (the same customers' ceiling pages).
pub async fn bench_portal_logins(
    database: &Database,
    tenant: String,
    out: std::path::PathBuf,
    count: i64,
) -> anyhow::Result<()> {
    use gridcrm::portal::db as portal_db;
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let hash = gridcrm::web::password::hash("a portal benchmark password");
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let customers: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT id, account_no::text FROM customers TABLESAMPLE SYSTEM (2) WHERE status = 'active' LIMIT $1",
    )
    .bind(count)
    .fetch_all(&mut *tx)
    .await?;
    anyhow::ensure!(!customers.is_empty(), "tenant {tenant} has no customers to sample");
    let mut sessions = Vec::with_capacity(customers.len());
    for (customer_id, account_no) in &customers {
        let login = format!("bench{account_no}@example.cn");
        let user = match portal_db::create_user(&mut tx, &login, &hash).await? {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT id FROM portal_users WHERE login = $1")
                    .bind(&login)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        portal_db::link(&mut tx, user, *customer_id).await?;
        sessions.push(portal_db::start_session(&mut tx, tenant_id, user).await?);
    }
    tx.commit().await?;
    // Planned with statistics, not guesses, from the first request on.
    let mut conn = database.app.acquire().await?;
    db::analyze_tables(&mut conn, &["portal_users", "portal_links", "portal_sessions"]).await?;
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("portal-sessions.txt"), sessions.join("\n") + "\n")?;
    let ceiling: Vec<String> = customers.iter().map(|(_, no)| format!("/c/{no}")).collect();
    std::fs::write(out.join("portal-ceiling.txt"), ceiling.join("\n") + "\n")?;
    println!("wrote {} portal sessions to {}", sessions.len(), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_street_and_number_of_an_address() {
        assert_eq!(super::street_and_number("杭州市西湖区解放路136号10栋2单元1401室").as_deref(), Some("解放路136号"));
        assert_eq!(super::street_and_number("桐庐县工业园区12号").as_deref(), Some("工业园区12号"));
        assert_eq!(super::street_and_number("无号"), None);
    }
}
