//! Pages a person uses: home per role, the customer page, editing with an
//! audit trail, contacts, the audit log, user admin and platform pages.

use reqwest::StatusCode;

use crate::{
    support::{TestApp, location},
    validation::platform_admin,
};

#[tokio::test]
async fn each_role_lands_on_its_home_page() {
    let app = TestApp::spawn().await;
    let counter = app.login(&app.alpha, "counter").await;
    let (status, home) = counter.get_text("/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("data-shortcut=\"/\""), "the counter gets the search box");
    assert!(home.contains("我最近的操作"));
    let manager = app.login(&app.alpha, "manager").await;
    let (_, home) = manager.get_text("/home").await;
    assert!(home.contains("我的客户") && home.contains("暂无分配给您的客户"), "an empty portfolio says so");
    let supervisor = app.login(&app.alpha, "supervisor").await;
    assert!(supervisor.get_text("/home").await.1.contains("客户档案最近变更"));
    let root = platform_admin(&app).await;
    let response = root.get("/home").await;
    assert_eq!(location(&response), "/platform/tenants");
    let root_page = root.get_text("/platform/tenants").await.1;
    assert!(root_page.contains("alpha") && root_page.contains("beta"));
    let migrations = root.get_text("/platform/migrations").await.1;
    assert!(migrations.contains("customer archive") && migrations.contains("已执行"));
}

#[tokio::test]
async fn the_customer_page_shows_the_whole_archive() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let id = app.alpha.customers[0];
    let (status, page) = clerk.get_text(&format!("/customers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "王建国",
        "1100000001",
        "居民生活",
        "城乡居民生活",
        "交流220V",
        "居民阶梯电价",
        "13800000001",
        "王小明",
        "13900000009",
        "ALPHAM0001",
        "1100000001-1",
        "智能表",
        "联系人",
        "计量点与电能表",
    ] {
        assert!(page.contains(expected), "the page shows {expected}");
    }
    assert!(page.contains("href=\"/customers/") && page.contains("/edit\""), "counter staff may edit");
}

#[tokio::test]
async fn editing_a_customer_is_audited_with_before_and_after() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let id = app.alpha.customers[2];
    let (_, form) = clerk.get_text(&format!("/customers/{id}/edit")).await;
    assert!(form.contains("value=\"张伟\""));
    let version = crate::support::hidden_value(&form, "version").unwrap();
    let fields = [
        ("version", version.as_str()),
        ("name", "张伟"),
        ("class_code", "residential"),
        ("industry_code", "RES"),
        ("voltage_code", "v220"),
        ("tariff_code", "res_tou"),
        ("phone", "13912345678"),
        ("address", "上城区解放路1号"),
        ("preferred_channels", "sms"),
        ("preferred_channels", "wechat"),
        ("tags", "elderly"),
        ("status", "active"),
    ];
    let saved = clerk.post(&format!("/customers/{id}"), &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.get_text(&location(&saved)).await;
    assert!(
        page.contains("已保存") && page.contains("13912345678") && page.contains("老年人") && page.contains("微信")
    );
    // The same form sent again is stale and refused, keeping the first edit.
    let again = clerk.post(&format!("/customers/{id}"), &fields).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("其他人已修改该客户"));

    let admin = app.login(&app.alpha, "admin").await;
    let counter_id = app.alpha.user_id("counter");
    let (_, audit) = admin.get_text(&format!("/admin/audit?entity=customer&user={counter_id}")).await;
    assert!(audit.contains("13800000003") && audit.contains("13912345678"), "before and after of the phone");
    assert!(audit.contains("res_tiered") && audit.contains("res_tou"));
    let (_, filtered) = admin.get_text("/admin/audit?entity=tenant").await;
    assert!(!filtered.contains("13912345678"), "the entity filter excludes customer changes");
    let (_, bad) = admin.get_text("/admin/audit?from=yesterday").await;
    assert!(bad.contains("id=\"from-error\""));
    // Dates in the filter are days in the tenant's time zone, not UTC.
    let today =
        chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive().format("%Y-%m-%d").to_string();
    let (_, dated) = admin.get_text(&format!("/admin/audit?entity=customer&from={today}&to={today}")).await;
    assert!(dated.contains("13912345678"));
    let (_, future) = admin.get_text("/admin/audit?from=2999-01-01").await;
    assert!(future.contains("没有符合条件的记录"));
}

#[tokio::test]
async fn contacts_are_added_and_removed_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let id = app.alpha.customers[3];
    let added = clerk
        .post(
            &format!("/customers/{id}/contacts"),
            &[("name", "欧阳电工"), ("role", "电工"), ("phone", "13700001111"), ("is_primary", "on")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (_, page) = clerk.get_text(&format!("/customers/{id}")).await;
    assert!(page.contains("欧阳电工") && page.contains("13700001111"));
    let prefix = format!("/customers/{id}/contacts/");
    let start = page.find(&prefix).unwrap() + prefix.len();
    let contact_id = &page[start..start + 36];
    let removed = clerk.post(&format!("/customers/{id}/contacts/{contact_id}/delete"), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(!clerk.get_text(&format!("/customers/{id}")).await.1.contains("13700001111"));
    let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY at, id")
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(actions, vec!["create", "add_contact", "remove_contact"]);
}

#[tokio::test]
async fn a_tenant_admin_manages_users_and_roles() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let created = admin
        .post(
            "/admin/users",
            &[
                ("username", "Li.Na"),
                ("display_name", "李娜"),
                ("team", "城东营业厅"),
                ("role", "account_manager"),
                ("password", "a good long password"),
                ("locale", "en"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (_, list) = admin.get_text("/admin/users").await;
    assert!(list.contains("li.na") && list.contains("李娜") && list.contains("客户经理"));
    assert!(list.contains("<td>城东营业厅</td>"), "the team is kept and listed");
    // The new user signs in and sees English (their setting), then is deactivated and signed out.
    let mut lina = app.anonymous();
    assert_eq!(lina.try_login("alpha", "li.na", "a good long password").await.status(), StatusCode::SEE_OTHER);
    assert!(lina.get_text("/home").await.1.contains("My customers"));
    let id = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM users WHERE username = 'li.na'")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    let changed = admin
        .post(
            &format!("/admin/users/{id}"),
            &[("display_name", "李娜"), ("team", "服务监督班"), ("role", "supervisor"), ("locale", "en")],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(lina.get("/home").await.status(), StatusCode::SEE_OTHER, "a deactivated user is signed out");
    assert_eq!(lina.try_login("alpha", "li.na", "a good long password").await.status(), StatusCode::UNAUTHORIZED);
    let (_, audit) = admin.get_text("/admin/audit?entity=user").await;
    // The recorded roles are shown by their names, not their codes.
    assert!(audit.contains("客户经理") && audit.contains("班组长"), "{audit}");
    for code in ["account_manager", "supervisor", "counter_staff"] {
        for side in ["before", "after"] {
            assert!(!audit.contains(&format!("class=\"{side}\">{code}<")), "{code} shown as a code");
        }
    }
    assert!(audit.contains("服务监督班"), "a team change is audited");
}

#[tokio::test]
async fn a_platform_admin_creates_a_tenant_whose_staff_can_then_work() {
    let app = TestApp::spawn().await;
    let root = platform_admin(&app).await;
    let created = root
        .post(
            "/platform/tenants",
            &[("slug", "gamma"), ("name", "丙市供电公司"), ("time_zone", "Asia/Urumqi"), ("account_prefix", "33")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert!(root.get_text("/platform/tenants").await.1.contains("丙市供电公司"));
    // Platform admins cannot read any tenant's customers.
    assert_eq!(root.get(&format!("/customers/{}", app.alpha.customers[0])).await.status(), StatusCode::FORBIDDEN);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.owner_url).await.unwrap();
    let lists: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tariff_categories t JOIN tenants n ON n.id = t.tenant_id WHERE n.slug = 'gamma'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(lists, 6, "the new tenant starts with the default reference lists");
}

#[tokio::test]
async fn health_metrics_and_unknown_pages() {
    let app = TestApp::spawn().await;
    let health: serde_json::Value = reqwest::get(app.url("/healthz")).await.unwrap().json().await.unwrap();
    assert_eq!(health["database"], "reachable");
    let clerk = app.login(&app.alpha, "counter").await;
    clerk.get("/customers?q=1").await;
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total") && metrics.contains("route=\"/customers\""));
    let (status, page) = clerk.get_text("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("未找到") && page.contains("返回首页"), "a friendly page in the user's language");
    let css = reqwest::get(app.url("/static/app.css")).await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[tokio::test]
async fn a_tenant_admin_creates_and_revokes_api_keys() {
    let app = TestApp::spawn().await;
    let admin = app.login(&app.alpha, "admin").await;
    let bad = admin.post("/admin/api-keys", &[("name", ""), ("role", "root")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(page.contains("id=\"name-error\"") && page.contains("id=\"role-error\""));
    let created = admin.post("/admin/api-keys", &[("name", "95598 客服系统"), ("role", "counter_staff")]).await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let page = created.text().await.unwrap();
    let start = page.find("gck_").expect("the new key is shown once");
    let key = &page[start..start + page[start..].find('<').unwrap()];
    let client = reqwest::Client::new();
    let list = client.get(app.url("/api/v1/customers")).bearer_auth(key).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let (_, listing) = admin.get_text("/admin/api-keys").await;
    assert!(listing.contains("95598 客服系统") && !listing.contains(key), "the list never shows the key again");
    let id = {
        let mut tx = gridcrm::db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM api_keys").fetch_one(&mut *tx).await.unwrap()
    };
    // The other tenant's admin cannot revoke it.
    let other = app.login(&app.beta, "admin").await;
    assert_eq!(other.post(&format!("/admin/api-keys/{id}/revoke"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.post(&format!("/admin/api-keys/{id}/revoke"), &[]).await.status(), StatusCode::SEE_OTHER);
    let after = client.get(app.url("/api/v1/customers")).bearer_auth(key).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "a revoked key stops working");
    let (_, audit) = admin.get_text("/admin/audit?entity=api_key").await;
    assert!(audit.contains("95598 客服系统") && audit.contains("吊销"));
}
