//! Tenant isolation, enforced by PostgreSQL and visible on every path.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};

use crate::support::{TestApp, location};
use gridcrm::{db, staff::Role};

/// Platform tables that also hold tenants' rows (tenant_id NULL for the
/// platform's): forced row-level security with policies of their own.
/// jobs: migration 0015, tested in jobs.rs.
const PLATFORM_TABLES: [&str; 1] = ["jobs"];

/// Every tenant-owned table (one with a tenant_id column) has row-level
/// security enabled and forced, and every key on it includes tenant_id.
#[tokio::test]
async fn every_tenant_table_forces_rls_and_keys_include_tenant_id() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() >= 15, "expected the archive's tables, found {}", tables.len());
    for (table, enabled, forced) in &tables {
        assert!(*enabled && *forced, "{table}: row-level security enabled={enabled} forced={forced}");
    }
    let policies: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_policies WHERE policyname = 'tenant_isolation'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for (table, _, _) in tables.iter().filter(|(t, ..)| !PLATFORM_TABLES.contains(&t.as_str())) {
        assert!(policies.contains(table), "{table} has no tenant_isolation policy");
    }
    // Each reads the tenant once a statement (an initplan), not once a row
    // (see the_tenant_policy_is_checked_once_a_statement_not_once_a_row); on
    // a Citus cluster, which refuses subqueries in policies, the function
    // itself (`gridcrm citus distribute`, src/db/citus.sql).
    let policy = if app.on_citus {
        "(tenant_id = app_tenant_id())"
    } else {
        "(tenant_id = ( SELECT app_tenant_id() AS app_tenant_id))"
    };
    let expressions: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tablename::text, qual, with_check FROM pg_policies
         WHERE policyname IN ('tenant_isolation', 'jobs_tenant_read', 'jobs_tenant_enqueue')",
    )
    .fetch_all(&mut conn)
    .await
    .map(|rows: Vec<(String, Option<String>, Option<String>)>| {
        rows.into_iter().map(|(t, q, c)| (t, q.unwrap_or_default(), c.unwrap_or_default())).collect()
    })
    .unwrap();
    for (table, qual, check) in &expressions {
        for expression in [qual, check].into_iter().filter(|e| !e.is_empty()) {
            assert_eq!(expression, policy, "{table}");
        }
    }
    // Primary keys, unique constraints and foreign keys of tenant tables all name tenant_id.
    let keys = sqlx::query(
        "SELECT con.conname::text AS name, con.contype::text AS kind, cl.relname::text AS tbl,
                EXISTS (SELECT 1 FROM unnest(con.conkey) k JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k
                        WHERE a.attname = 'tenant_id') AS has_tenant
         FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f')
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = cl.oid AND a.attname = 'tenant_id')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(keys.len() > 30);
    for key in keys.into_iter().filter(|k| !PLATFORM_TABLES.contains(&k.get::<String, _>("tbl").as_str())) {
        let name: String = key.get("name");
        let has_tenant: bool = key.get("has_tenant");
        assert!(
            has_tenant,
            "constraint {name} ({}) on {} lacks tenant_id",
            key.get::<String, _>("kind"),
            key.get::<String, _>("tbl")
        );
    }
    // Unique indexes made outside constraints count too.
    let unique_indexes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT i.relname::text, pg_get_indexdef(i.oid), t.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND x.indisunique
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for (name, def, _) in unique_indexes.into_iter().filter(|(.., t)| !PLATFORM_TABLES.contains(&t.as_str())) {
        assert!(def.contains("tenant_id"), "unique index {name} lacks tenant_id: {def}");
    }
}

/// As the application role, with no tenant set, every tenant table is empty.
#[tokio::test]
async fn the_application_role_without_a_tenant_sees_no_rows() {
    let app = TestApp::spawn().await;
    assert!(app.count_all("customers").await >= 8, "the fixture has customers");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&app.pool).await.unwrap();
        assert_eq!(n, 0, "{table} shows rows with no tenant set");
    }
    let who: (String, bool) =
        sqlx::query_as("SELECT current_user::text, (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(who, ("gridcrm_app".to_owned(), false));
}

/// Within one tenant's transaction, another tenant's rows can be neither
/// read nor written.
#[tokio::test]
async fn a_tenant_transaction_cannot_read_or_write_another_tenant() {
    let app = TestApp::spawn().await;
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE id = ANY($1)")
        .bind(&app.beta.customers)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let updated = sqlx::query("UPDATE customers SET name = 'x' WHERE id = $1")
        .bind(app.beta.customers[0])
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let insert =
        sqlx::query("INSERT INTO reading_routes (tenant_id, id, code, name) VALUES ($1, gen_random_uuid(), 'X1', 'x')")
            .bind(app.beta.id)
            .execute(&mut *tx)
            .await;
    assert!(insert.is_err(), "writing a row for another tenant must fail the policy check");
}

/// Every page that takes an id refuses the other tenant's id with 404.
#[tokio::test]
async fn pages_answer_404_for_another_tenants_ids() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let theirs = app.beta.customers[0];
    let their_user = app.beta.user_id("counter");
    let their_contact: uuid::Uuid = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
        sqlx::query_scalar("SELECT id FROM customer_contacts LIMIT 1").fetch_one(&mut *tx).await.unwrap()
    };
    for path in
        [format!("/customers/{theirs}"), format!("/customers/{theirs}/edit"), format!("/admin/users/{their_user}")]
    {
        let (status, body) = admin.get_text(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(!body.contains("王建国"), "GET {path} leaked a name");
    }
    let posts: [(String, Vec<(&str, &str)>); 4] = [
        (
            format!("/customers/{theirs}"),
            vec![
                ("name", "改名"),
                ("class_code", "residential"),
                ("industry_code", "RES"),
                ("voltage_code", "v220"),
                ("tariff_code", "res_tiered"),
            ],
        ),
        (format!("/customers/{theirs}/contacts"), vec![("name", "某人")]),
        (format!("/customers/{theirs}/contacts/{their_contact}/delete"), vec![]),
        (
            format!("/admin/users/{their_user}"),
            vec![("display_name", "x"), ("role", "counter_staff"), ("active", "on")],
        ),
    ];
    for (path, fields) in posts {
        let response = admin.post(&path, &fields).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    assert_eq!(app.count_all("customer_contacts").await, 2, "nothing was added or removed");
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM customers WHERE id = $1").bind(theirs).fetch_one(&mut conn).await.unwrap();
    assert_eq!(name, "王建国");
}

/// Every API route that takes an id refuses the other tenant's id with 404,
/// and lists and searches never show the other tenant's customers.
#[tokio::test]
async fn the_api_answers_404_for_another_tenants_ids_and_lists_only_its_own() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let client = reqwest::Client::new();
    let theirs = app.beta.customers[0];
    let get = client.get(app.url(&format!("/api/v1/customers/{theirs}"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    assert_eq!(get.headers()["content-type"], "application/problem+json");
    let patch = client
        .patch(app.url(&format!("/api/v1/customers/{theirs}")))
        .bearer_auth(&key)
        .json(&json!({"name": "改名"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::NOT_FOUND);
    for q in ["", "?q=王建国", "?q=13800000001", "?q=BETAM0001", "?q=22"] {
        let list: serde_json::Value = app.api_get(&key, &format!("/api/v1/customers{q}")).await;
        for item in list["items"].as_array().unwrap() {
            let id: uuid::Uuid = item["id"].as_str().unwrap().parse().unwrap();
            assert!(app.alpha.customers.contains(&id) || !app.beta.customers.contains(&id), "list {q} leaked {id}");
        }
    }
    // A key naming another tenant in its prefix but not its secret is simply unknown.
    let forged = format!("gck_{}.{}", app.beta.id.simple(), &key[key.find('.').unwrap() + 1..]);
    let response = client.get(app.url("/api/v1/customers")).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The search page shows only the signed-in tenant's customers.
#[tokio::test]
async fn search_pages_never_show_another_tenants_customers() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let (_, page) = clerk.get_text("/customers?q=BETAM").await;
    assert!(!page.contains("/customers/0"), "no result links");
    for theirs in &app.beta.customers {
        assert!(!page.contains(&theirs.to_string()));
    }
    let response = clerk.get("/customers?q=BETAM0001").await;
    assert_ne!(
        response.status(),
        StatusCode::SEE_OTHER,
        "no redirect to another tenant's customer: {}",
        location(&response)
    );
}

/// The reference lists, reading routes and verification list: another
/// tenant's route is 404 on every route page, a code another tenant added is
/// unknown here, retiring a code changes only this tenant's list, and the
/// verification list and its CSV show only this tenant's meters.
#[tokio::test]
async fn reference_routes_and_verification_stay_within_the_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let their_admin = app.login(&app.beta, "admin").await;
    let added = their_admin
        .post("/admin/reference/tags", &[("code", "beta_only"), ("name_zh", "乙专用"), ("name_en", "Beta")])
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let their_route: uuid::Uuid = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
        sqlx::query_scalar("SELECT id FROM reading_routes LIMIT 1").fetch_one(&mut *tx).await.unwrap()
    };
    assert_eq!(admin.get(&format!("/admin/routes/{their_route}")).await.status(), StatusCode::NOT_FOUND);
    let their_user = app.beta.user_id("counter").to_string();
    for (path, fields) in [
        (format!("/admin/routes/{their_route}"), vec![("name", "改名"), ("readers", their_user.as_str())]),
        (format!("/admin/routes/{their_route}/retire"), vec![]),
        (format!("/admin/routes/{their_route}/unretire"), vec![]),
        ("/admin/reference/tags/beta_only".to_owned(), vec![("name_zh", "改"), ("name_en", "x")]),
        ("/admin/reference/tags/beta_only/retire".to_owned(), vec![]),
        ("/admin/reference/tags/beta_only/unretire".to_owned(), vec![]),
        ("/admin/reference/tags/beta_only/delete".to_owned(), vec![]),
    ] {
        assert_eq!(admin.post(&path, &fields).await.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    let (_, tags) = admin.get_text("/admin/reference/tags").await;
    assert!(!tags.contains("beta_only"));
    let (_, routes) = admin.get_text("/admin/routes").await;
    assert!(!routes.contains(&their_route.to_string()));
    // The same code in both tenants: retiring it here leaves theirs current.
    assert_eq!(admin.post("/admin/reference/industries/C26/retire", &[]).await.status(), StatusCode::SEE_OTHER);
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let retired: Vec<(uuid::Uuid, bool)> =
        sqlx::query_as("SELECT tenant_id, retired_at IS NOT NULL FROM industries WHERE code = 'C26' ORDER BY 2")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(retired, [(app.beta.id, false), (app.alpha.id, true)]);
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let list: serde_json::Value = app.api_get(&key, "/api/v1/reference/tags").await;
    assert!(list.as_array().unwrap().iter().all(|t| t["code"] != "beta_only"));
    // Verification: every meter of both tenants is due; each sees only its own.
    sqlx::query("UPDATE meters SET next_verification = current_date").execute(&mut conn).await.unwrap();
    let (_, page) = admin.get_text("/meters/verification").await;
    assert!(page.contains("ALPHAM0001") && !page.contains("BETAM"));
    let csv = admin.get("/meters/verification.csv").await.text().await.unwrap();
    assert!(csv.contains("ALPHAM0004") && !csv.contains("BETAM"));
}

/// A change of use of another tenant: its slip, its order and its steps
/// answer 404, and nothing of it changes.
#[tokio::test]
async fn change_of_use_slips_and_steps_answer_404_for_another_tenants_orders() {
    let app = TestApp::spawn().await;
    let theirs = app.beta.customers[0];
    let their_key = app.api_key(&app.beta, gridcrm::staff::Role::Supervisor).await;
    let client = reqwest::Client::new();
    let order: serde_json::Value = client
        .post(app.url("/api/v1/work-orders"))
        .bearer_auth(&their_key)
        .json(&serde_json::json!({ "kind": "change_of_name", "customer_id": theirs, "title": "更名", "new_name": "乙方新名" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().expect("beta opened its order").to_owned();
    for step in [
        serde_json::json!({ "action": "review", "documents": ["application_form", "identity", "name_change_proof"] }),
        serde_json::json!({ "action": "complete" }),
    ] {
        let r = client
            .post(app.url(&format!("/api/v1/work-orders/{id}/transitions")))
            .bearer_auth(&their_key)
            .json(&step)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let admin = app.login(&app.alpha, "admin").await;
    let (status, body) = admin.get_text(&format!("/work-orders/{id}/slip")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("乙方新名"));
    let our_key = app.api_key(&app.alpha, gridcrm::staff::Role::Supervisor).await;
    let r = client
        .post(app.url(&format!("/api/v1/work-orders/{id}/transitions")))
        .bearer_auth(&our_key)
        .json(&serde_json::json!({ "action": "cancel", "comment": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin.post(&format!("/work-orders/{id}/actions"), &[("action", "cancel"), ("comment", "x")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM work_orders WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(state, "completed");
}

/// Supply points and meters: every page and API route that takes an id
/// answers 404 for the other tenant's, writes nothing, and lists only its own.
#[tokio::test]
async fn supply_point_and_meter_routes_answer_404_for_another_tenants_ids() {
    let app = TestApp::spawn().await;
    let (their_point, their_meter): (uuid::Uuid, uuid::Uuid) = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
        sqlx::query_as("SELECT supply_point_id, meter_id FROM meter_installations WHERE removed_on IS NULL LIMIT 1")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    let their_customer = app.beta.customers[0];
    let clerk = app.login(&app.alpha, "counter").await;
    for path in [
        format!("/customers/{their_customer}/supply-points/new"),
        format!("/supply-points/{their_point}"),
        format!("/supply-points/{their_point}/edit"),
        format!("/supply-points/{their_point}/meters"),
        format!("/meters/{their_meter}/exchange"),
    ] {
        let (status, body) = clerk.get_text(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(!body.contains("BETAM"), "GET {path} leaked a serial");
    }
    let exchange = [
        ("exchanged_on", "2026-11-20"),
        ("final_reading", "10"),
        ("new_serial", "ALPHAZ0001"),
        ("new_register_digits", "6"),
        ("new_initial_reading", "0"),
    ];
    let install =
        [("serial", "ALPHAZ0002"), ("register_digits", "6"), ("installed_on", "2026-11-01"), ("initial_reading", "0")];
    let posts: [(String, &[(&str, &str)]); 4] = [
        (format!("/customers/{their_customer}/supply-points"), &[("voltage_code", "v220")]),
        (format!("/supply-points/{their_point}"), &[("version", "1"), ("voltage_code", "v220"), ("transformer", "x")]),
        (format!("/supply-points/{their_point}/meters"), &install),
        (format!("/meters/{their_meter}/exchange"), &exchange),
    ];
    for (path, fields) in posts {
        assert_eq!(clerk.post(&path, fields).await.status(), StatusCode::NOT_FOUND, "POST {path}");
    }

    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let client = reqwest::Client::new();
    for path in [format!("/api/v1/supply-points/{their_point}"), format!("/api/v1/meters/{their_meter}")] {
        let r = client.get(app.url(&path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let writes = [
        (reqwest::Method::PATCH, format!("/api/v1/supply-points/{their_point}"), json!({"transformer": "x"})),
        (
            reqwest::Method::POST,
            format!("/api/v1/meters/{their_meter}/exchange"),
            json!({"exchanged_on": "2026-11-20", "final_reading": "10", "new_serial": "ALPHAZ0004", "new_initial_reading": "0"}),
        ),
    ];
    for (method, path, body) in writes {
        let r = client.request(method.clone(), app.url(&path)).bearer_auth(&key).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // A body naming another tenant's customer or point: that field is unknown.
    let named_in_body = [
        (
            "/api/v1/supply-points",
            json!({"customer_id": their_customer, "voltage_code": "v220"}),
            "customer_id",
            "unknown_customer",
        ),
        (
            "/api/v1/meters",
            json!({"supply_point_id": their_point, "serial": "ALPHAZ0003", "installed_on": "2026-11-01", "initial_reading": "0"}),
            "supply_point_id",
            "unknown_supply_point",
        ),
    ];
    for (path, body, field, code) in named_in_body {
        let r = client.post(app.url(path)).bearer_auth(&key).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "POST {path}");
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
            (Some(field), Some(code))
        );
    }
    let list: serde_json::Value = app.api_get(&key, &format!("/api/v1/supply-points?customer={their_customer}")).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let all: serde_json::Value = app.api_get(&key, "/api/v1/supply-points?limit=200").await;
    assert!(all["items"].as_array().unwrap().iter().all(|p| !p["code"].as_str().unwrap().starts_with("22")));
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "alpha's four points only");
    assert_eq!(app.count_all("supply_points").await, 8, "nothing was added");
    assert_eq!(app.count_all("meters").await, 8);
    assert_eq!(app.count_all("meter_readings").await, 0);
}

/// The archive import and export, on the page and over the API, stay in the
/// caller's tenant: a file naming another tenant's account number, supply
/// point code and meter serial adds the caller's own and leaves the other's
/// untouched; an export holds only the caller's archive.
#[tokio::test]
async fn archive_import_and_export_stay_in_the_callers_tenant() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let mut owner = PgConnection::connect(&app.owner_url).await.unwrap();
    let (account, their_name): (String, String) =
        sqlx::query_as("SELECT account_no, name FROM customers WHERE id = $1")
            .bind(app.beta.customers[0])
            .fetch_one(&mut owner)
            .await
            .unwrap();
    let file = format!(
        "account_no,name,class_code,industry_code,voltage_code,tariff_code,point_code,meter_serial,meter_multiplier\n\
         {account},甲方新户,residential,RES,v220,res_tiered,{account}-1,BETAM0001,40\n"
    );
    let client = reqwest::Client::new();
    let response = client
        .post(app.url("/api/v1/customers/import"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["applied"]["customers"], json!({"added": 1, "updated": 0}));
    assert_eq!(report["applied"]["meters"], json!({"added": 1, "updated": 0}));
    let (name, multiplier): (String, rust_decimal::Decimal) = sqlx::query_as(
        "SELECT c.name, m.multiplier FROM customers c, meters m
         WHERE c.tenant_id = $1 AND c.account_no = $2 AND m.tenant_id = $1 AND m.serial = 'BETAM0001'",
    )
    .bind(app.beta.id)
    .bind(&account)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!((name, multiplier), (their_name, rust_decimal::Decimal::ONE), "the other tenant's rows are untouched");

    let api_export = client.get(app.url("/api/v1/customers/export")).bearer_auth(&key).send().await.unwrap();
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page_export) = admin.get_text("/admin/import/customers.csv").await;
    assert_eq!(status, StatusCode::OK);
    for export in [api_export.text().await.unwrap(), page_export] {
        assert!(export.contains("甲方新户") && export.contains("ALPHAM0001"));
        assert!(!export.contains("BETAM0002"), "another tenant's meter leaked into the export");
    }
}

/// The cash drawer's routes (cash days, their sign-off, contact slips) answer
/// 404 for another company's cashiers and contacts, and list only the caller's.
#[tokio::test]
async fn cash_days_and_contact_slips_answer_404_for_another_tenants_ids() {
    let app = TestApp::spawn().await;
    let day = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    // Beta's cashier closes a day; alpha's supervisor can neither see nor sign it.
    let beta_clerk = app.login(&app.beta, "counter").await;
    assert_eq!(beta_clerk.post(&format!("/cash-days/{day}/close"), &[]).await.status(), StatusCode::SEE_OTHER);
    let their_cashier = app.beta.user_id("counter");
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let report = format!("/cash-days/{day}/cashiers/{their_cashier}");
    assert_eq!(supervisor.get(&report).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(supervisor.post(&format!("{report}/sign-off"), &[]).await.status(), StatusCode::NOT_FOUND);
    let (_, list) = supervisor.get_text(&format!("/cash-days?day={day}")).await;
    assert!(!list.contains(&their_cashier.to_string()), "{list}");
    let key = app.api_key(&app.alpha, Role::Supervisor).await;
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/cash-days/{day}/cashiers/{their_cashier}/sign-off")))
        .bearer_auth(&key)
        .json(&json!({"note": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Another company's contact has no slip here.
    let their_contact = {
        let r = beta_clerk
            .post("/contacts", &[("kind", "inquiry"), ("channel", "hall"), ("subject", "other"), ("description", "问")])
            .await;
        location(&r).trim_start_matches("/contacts/").split('?').next().unwrap().to_owned()
    };
    assert_eq!(supervisor.get(&format!("/contacts/{their_contact}/slip")).await.status(), StatusCode::NOT_FOUND);
}

/// Refunds: the other tenant's owed refund is neither listed nor paid out.
#[tokio::test]
async fn refunds_stay_in_their_tenant() {
    let app = TestApp::spawn().await;
    let theirs = uuid::Uuid::now_v7();
    {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
        sqlx::query(
            "INSERT INTO customer_refunds (tenant_id, id, customer_id, amount, from_credit, from_deposit, recorded_by)
             VALUES (app_tenant_id(), $1, $2, 88.80, 88.80, 0, '乙方柜员')",
        )
        .bind(theirs)
        .bind(app.beta.customers[0])
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let clerk = app.login(&app.alpha, "counter").await;
    let (status, page) = clerk.get_text("/refunds").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("88.80") && !page.contains("乙方柜员"), "{page}");
    let r = clerk.post(&format!("/refunds/{theirs}/pay"), &[("channel", "cash")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM customer_refunds WHERE id = $1")
        .bind(theirs)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "owed");
}

/// Personal data: another tenant's customer is neither exported nor
/// anonymised, over the page or the API (404), and nothing is audited.
#[tokio::test]
async fn personal_data_of_another_tenants_customer_is_out_of_reach() {
    let app = TestApp::spawn().await;
    let theirs = app.beta.customers[0];
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let client = reqwest::Client::new();
    let get = client.get(app.url(&format!("/api/v1/customers/{theirs}/personal-data"))).bearer_auth(&key);
    let r = get.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("王建国"));
    let post = client.post(app.url(&format!("/api/v1/customers/{theirs}/anonymise"))).bearer_auth(&key);
    assert_eq!(post.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let admin = app.login(&app.alpha, "admin").await;
    let (status, body) = admin.get_text(&format!("/customers/{theirs}/privacy")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("王建国"));
    assert_eq!(admin.post(&format!("/customers/{theirs}/personal-data"), &[]).await.status(), StatusCode::NOT_FOUND);
    let r = admin.post(&format!("/customers/{theirs}/anonymise"), &[("confirm_account_no", "2200000001")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count_all("audit_log WHERE action IN ('export_personal_data', 'anonymise')").await, 0);
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM customers WHERE id = $1").bind(theirs).fetch_one(&mut conn).await.unwrap();
    assert_eq!(name, "王建国");
}

/// The tenant policy costs one look-up of the caller's tenant a statement:
/// a bulk read of a big table compares each row's tenant_id with a
/// parameter instead of evaluating `current_setting` for every row (which
/// cost more than reading the rows; BENCHMARKS.md, "Row-level security in
/// bulk reads"). What a plan evaluates once a row is in its `Filter:` lines.
#[tokio::test]
async fn the_tenant_policy_is_checked_once_a_statement_not_once_a_row() {
    let app = TestApp::spawn().await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let per_row = async |tx: &mut db::Tx, sql: &str| -> Vec<String> {
        let plan: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut **tx).await.unwrap();
        plan.into_iter()
            .filter(|l| l.contains("Filter:") && !l.contains("One-Time") && l.contains("current_setting"))
            .collect()
    };
    // The control: a condition that is not an equality is evaluated for every row, and shows.
    let control = per_row(
        &mut tx,
        "EXPLAIN SELECT count(*) FROM customer_metrics WHERE tenant_id IS DISTINCT FROM app_tenant_id()",
    )
    .await;
    assert!(!control.is_empty(), "the control should evaluate current_setting once a row");
    for sql in [
        "EXPLAIN SELECT count(*) FROM customer_metrics WHERE month < current_date",
        "EXPLAIN SELECT sum(b.amount) FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id",
    ] {
        assert_eq!(per_row(&mut tx, sql).await, Vec::<String>::new(), "{sql}");
    }
    // And it still isolates: alpha's transaction counts only alpha's customers.
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM customers").fetch_one(&mut *tx).await.unwrap();
    let alphas: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE tenant_id = $1")
        .bind(app.alpha.id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(seen > 0);
    assert_eq!(seen, alphas);
}
