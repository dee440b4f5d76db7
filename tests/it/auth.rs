//! Signing in and out, sessions, throttling, CSRF and role checks.

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};

use crate::support::{PASSWORD, TestApp, config, location};

#[tokio::test]
async fn a_wrong_password_is_refused_without_a_session() {
    let app = TestApp::spawn().await;
    let mut browser = app.anonymous();
    let response = browser.try_login("alpha", "counter", "not the password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("gridcrm_session="))
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("wrong") || body.contains("错误"), "the page says what went wrong");
    // Unknown user and unknown company get the same answer.
    assert_eq!(browser.try_login("alpha", "nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.try_login("nowhere", "counter", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/home").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_good_login_starts_a_new_session_each_time_and_logout_ends_it() {
    let app = TestApp::spawn().await;
    let first = app.login(&app.alpha, "counter").await;
    let second = app.login(&app.alpha, "counter").await;
    assert_ne!(first.csrf, second.csrf, "each login gets its own session");
    assert_eq!(first.get("/home").await.status(), StatusCode::OK);
    let out = first.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    let after = first.get("/home").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the ended session no longer works");
    assert!(location(&after).starts_with("/login"));
    assert_eq!(second.get("/home").await.status(), StatusCode::OK, "other sessions stay");
    let sessions: i64 = {
        let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sessions").fetch_one(&mut conn).await.unwrap()
    };
    assert_eq!(sessions, 1, "logout deleted the session row");
}

#[tokio::test]
async fn an_account_locks_after_repeated_wrong_passwords() {
    let app = TestApp::spawn().await;
    let mut browser = app.anonymous();
    for _ in 0..config().login_max_failures {
        assert_eq!(browser.try_login("alpha", "manager", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, and the page says the account is locked.
    let response = browser.try_login("alpha", "manager", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account of the same tenant is unaffected.
    let mut other = app.anonymous();
    assert_eq!(other.try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn one_address_is_throttled_after_many_failures() {
    let mut cfg = config();
    cfg.login_max_failures_per_address = 3;
    let app = TestApp::spawn_with(cfg).await;
    let mut browser = app.anonymous();
    for user in ["a1", "a2", "a3"] {
        assert_eq!(browser.try_login("alpha", user, "whatever!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    let response = browser.try_login("alpha", "counter", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is throttled, even with a right password"
    );
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_sessions() {
    let app = TestApp::spawn().await;
    let idle = app.login(&app.alpha, "counter").await;
    let old = app.login(&app.alpha, "supervisor").await;
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let idle_minutes = config().session_idle_minutes;
    sqlx::query("UPDATE sessions SET last_seen_at = now() - make_interval(mins => $1 + 1) WHERE user_id = $2")
        .bind(idle_minutes as i32)
        .bind(app.alpha.user_id("counter"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(app.alpha.user_id("supervisor"))
        .execute(&mut conn)
        .await
        .unwrap();
    for browser in [&idle, &old] {
        let response = browser.get("/customers").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login?next=%2Fcustomers");
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let before = app.count_all("customers").await;
    let fields = [
        ("name", "无令牌"),
        ("class_code", "residential"),
        ("industry_code", "RES"),
        ("voltage_code", "v220"),
        ("tariff_code", "res_tiered"),
    ];
    let missing = clerk.post_raw("/customers", &fields).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let mut wrong = vec![("csrf", "forged-token-forged-token-forged-token-xx")];
    wrong.extend_from_slice(&fields);
    assert_eq!(clerk.post_raw("/customers", &wrong).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count_all("customers").await, before, "nothing was written");
    // The login form has its own token.
    let anonymous = app.anonymous();
    let login =
        anonymous.post_raw("/login", &[("tenant", "alpha"), ("username", "counter"), ("password", PASSWORD)]).await;
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    // A cross-site form post is refused even with a token.
    let cross = clerk
        .client
        .post(format!("{}/logout", clerk.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", clerk.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn roles_without_the_permission_are_refused() {
    let app = TestApp::spawn().await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let clerk = app.login(&app.alpha, "counter").await;
    let id = app.alpha.customers[0];
    assert_eq!(supervisor.get(&format!("/customers/{id}")).await.status(), StatusCode::OK, "supervisors read");
    assert_eq!(supervisor.get("/customers/new").await.status(), StatusCode::FORBIDDEN);
    let edit = supervisor.post(&format!("/customers/{id}"), &[("name", "改名")]).await;
    assert_eq!(edit.status(), StatusCode::FORBIDDEN);
    for path in ["/admin/users", "/admin/audit", "/platform/tenants", "/platform/migrations"] {
        assert_eq!(clerk.get(path).await.status(), StatusCode::FORBIDDEN, "counter staff GET {path}");
    }
    let create_user = clerk
        .post(
            "/admin/users",
            &[
                ("username", "sneaky"),
                ("display_name", "x"),
                ("role", "tenant_admin"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(create_user.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count_all("users").await, 10, "no user was created");
    // The same rule holds for API keys.
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::Supervisor).await;
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/customers"))
        .bearer_auth(key)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn unauthenticated_requests_are_sent_to_login_or_told_401() {
    let app = TestApp::spawn().await;
    let browser = app.anonymous();
    let page = browser.get("/customers/new").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/login?next=%2Fcustomers%2Fnew");
    let api = reqwest::get(app.url("/api/v1/customers")).await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.headers()["www-authenticate"], "Bearer");
    let problem: serde_json::Value = api.json().await.unwrap();
    assert_eq!(problem["status"], 401);
}

#[tokio::test]
async fn login_redirects_only_to_local_pages() {
    let app = TestApp::spawn().await;
    let browser = app.anonymous();
    let (_, page) = browser.get_text("/login?next=//evil.example/x").await;
    let csrf = crate::support::hidden_value(&page, "csrf").unwrap();
    let response = browser
        .post_raw(
            "/login",
            &[
                ("csrf", &csrf),
                ("tenant", "alpha"),
                ("username", "counter"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/login")).await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().contains_key("x-request-id"));
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>") && !body.contains("onclick="), "no inline script");
}
