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
    // Now even the right password is refused.
    let response = browser.try_login("alpha", "manager", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(lock_of(&app, "manager").await.2, Some(config().login_lock_minutes), "locked for the first length");
    // Another account of the same tenant is unaffected.
    let mut other = app.anonymous();
    assert_eq!(other.try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

/// (failed_logins, successive_locks, minutes the lock has left rounded up) of an alpha user.
async fn lock_of(app: &TestApp, username: &str) -> (i32, i32, Option<i64>) {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query_as(
        "SELECT failed_logins, successive_locks,
                ceil(extract(epoch FROM locked_until - now()) / 60)::bigint
         FROM users WHERE id = $1",
    )
    .bind(app.alpha.user_id(username))
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

async fn set_user(app: &TestApp, username: &str, assignment: &str) {
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    sqlx::query(&format!("UPDATE users SET {assignment} WHERE id = $1"))
        .bind(app.alpha.user_id(username))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The status and the error message of a refused sign-in.
async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let page = response.text().await.unwrap();
    let start = page.find("role=\"alert\">").expect("the page shows an error") + "role=\"alert\">".len();
    let end = page[start..].find("</p>").unwrap() + start;
    (status, page[start..end].to_owned())
}

#[tokio::test]
async fn locked_unknown_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let mut browser = app.anonymous();
    let wrong = refusal(browser.try_login("alpha", "counter2", "wrong password!").await).await;
    for _ in 0..config().login_max_failures {
        browser.try_login("alpha", "manager", "wrong password!").await;
    }
    let locked = refusal(browser.try_login("alpha", "manager", PASSWORD).await).await;
    let unknown = refusal(browser.try_login("alpha", "nobody", PASSWORD).await).await;
    let no_company = refusal(browser.try_login("nowhere", "manager", PASSWORD).await).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(locked, wrong, "a locked account does not say so: that would tell which usernames exist");
    assert_eq!(unknown, wrong);
    assert_eq!(no_company, wrong);
}

#[tokio::test]
async fn an_expired_lock_starts_counting_again_and_each_lock_in_a_row_lasts_longer() {
    let app = TestApp::spawn().await;
    let max = config().login_max_failures;
    let first = config().login_lock_minutes;
    let mut browser = app.anonymous();
    for _ in 0..max {
        browser.try_login("alpha", "manager", "wrong password!").await;
    }
    assert_eq!(lock_of(&app, "manager").await, (0, 1, Some(first)));
    set_user(&app, "manager", "locked_until = now() - interval '1 second'").await;
    // One wrong password after the lock ran out does not lock again …
    assert_eq!(browser.try_login("alpha", "manager", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(lock_of(&app, "manager").await, (1, 1, None));
    // … but a full row of them does, for twice as long.
    for _ in 1..max {
        browser.try_login("alpha", "manager", "wrong password!").await;
    }
    assert_eq!(lock_of(&app, "manager").await, (0, 2, Some(2 * first)));
    assert_eq!(browser.try_login("alpha", "manager", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // When it runs out, the right password works and starts over.
    set_user(&app, "manager", "locked_until = now() - interval '1 second'").await;
    assert_eq!(browser.try_login("alpha", "manager", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(lock_of(&app, "manager").await, (0, 0, None));
}

#[tokio::test]
async fn a_locked_account_still_opens_at_the_address_of_its_last_good_sign_in() {
    let app = TestApp::spawn().await;
    // The manager signs in here once; then someone types wrong passwords.
    app.login(&app.alpha, "manager").await;
    let mut browser = app.anonymous();
    for _ in 0..config().login_max_failures {
        browser.try_login("alpha", "manager", "wrong password!").await;
    }
    assert!(lock_of(&app, "manager").await.2.is_some(), "the account is locked");
    assert_eq!(browser.try_login("alpha", "manager", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    // Had the last good sign-in been elsewhere, this address would be refused.
    set_user(&app, "manager", "last_login_address = '203.0.113.9'").await;
    let mut browser = app.anonymous();
    for _ in 0..config().login_max_failures {
        browser.try_login("alpha", "manager", "wrong password!").await;
    }
    assert_eq!(browser.try_login("alpha", "manager", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
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
async fn behind_a_trusted_proxy_each_forwarded_address_is_throttled_on_its_own() {
    let mut cfg = config();
    cfg.login_max_failures_per_address = 3;
    cfg.trusted_proxies = Some("127.0.0.1, ::1".into());
    let app = TestApp::spawn_with(cfg).await;
    // A browser behind the proxy (the test connects from loopback, the proxy's address).
    let via_proxy = |client_address: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", client_address.parse().unwrap());
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        crate::support::Browser { base: app.base.clone(), client, csrf: String::new() }
    };
    // One address guesses, claiming another address in front of its own.
    let mut guesser = via_proxy("198.51.100.1, 203.0.113.7");
    for user in ["a1", "a2", "a3"] {
        assert_eq!(guesser.try_login("alpha", user, "whatever!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(guesser.try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user behind the same proxy, and the address the guesser made up, still sign in.
    assert_eq!(via_proxy("203.0.113.8").try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(via_proxy("198.51.100.1").try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_in_to_ones_own_account_does_not_clear_the_address_failures() {
    let mut cfg = config();
    cfg.login_max_failures_per_address = 3;
    let app = TestApp::spawn_with(cfg).await;
    let mut browser = app.anonymous();
    for user in ["a1", "a2"] {
        assert_eq!(browser.try_login("alpha", user, "whatever!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.anonymous().try_login("alpha", "counter", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.try_login("alpha", "a3", "whatever!!").await.status(), StatusCode::UNAUTHORIZED);
    let response = browser.try_login("alpha", "counter", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the three failures still count");
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

/// A session is touched when its last-seen minute has passed, and only
/// then (migration 0064): a clerk who works on keeps the session, and the
/// requests within a minute write nothing.
#[tokio::test]
async fn a_session_in_use_is_touched_once_a_minute() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let mut conn = PgConnection::connect(&app.owner_url).await.unwrap();
    let user = app.alpha.user_id("counter");
    let age = r#"SELECT extract(epoch FROM now() - last_seen_at)::float8 FROM sessions WHERE user_id = $1"#;
    let set_age = |seconds: f64| {
        sqlx::query("UPDATE sessions SET last_seen_at = now() - make_interval(secs => $2) WHERE user_id = $1")
            .bind(user)
            .bind(seconds)
    };
    set_age(300.0).execute(&mut conn).await.unwrap();
    assert_eq!(clerk.get("/customers").await.status(), StatusCode::OK);
    let seconds: f64 = sqlx::query_scalar(age).bind(user).fetch_one(&mut conn).await.unwrap();
    assert!(seconds < 60.0, "a request five minutes on touches the session ({seconds} s ago)");

    set_age(30.0).execute(&mut conn).await.unwrap();
    assert_eq!(clerk.get("/customers").await.status(), StatusCode::OK);
    let seconds: f64 = sqlx::query_scalar(age).bind(user).fetch_one(&mut conn).await.unwrap();
    assert!(seconds >= 30.0, "a request within the minute writes nothing ({seconds} s ago)");
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

#[tokio::test]
async fn a_database_failure_while_finding_the_caller_is_503_not_a_sign_out() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::CounterStaff).await;
    let client = reqwest::Client::new();
    // Every connection busy: the key's lookup waits for one, then gives up.
    let mut held = Vec::new();
    for _ in 0..app.pool.options().get_max_connections() {
        held.push(app.pool.acquire().await.unwrap());
    }
    let busy = client.get(app.url("/api/v1/customers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    assert_eq!(busy.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    drop(held);
    // The database gone: pages and the API answer at once, and nobody is signed out.
    app.pool.close().await;
    let page = clerk.get("/customers").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE, "not a redirect to the login page");
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().get_all("set-cookie").iter().next().is_none(), "the session cookie is kept");
    let by_session = clerk.get("/api/v1/customers").await;
    assert_eq!(by_session.status(), StatusCode::SERVICE_UNAVAILABLE);
    let by_key = client.get(app.url("/api/v1/customers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(by_key.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(by_key.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn next_and_back_cannot_lead_to_another_site() {
    let app = TestApp::spawn().await;
    // Browsers drop a tab and read a backslash as a slash: `/\t/evil.example`
    // and `/\evil.example` would both leave the site. A control character is
    // refused outright by the input rules (422 naming the field, no redirect);
    // a backslash or a leading `//` falls back to the home page.
    let tab = "/\t/evil.example";
    let backslash = "/\\evil.example";
    let mut browser = app.anonymous();
    let refused = browser.get("/login?next=/%09/evil.example").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.headers().get("location").is_none());
    let (status, page) = browser.get_text("/login?next=/%5Cevil.example").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(crate::support::hidden_value(&page, "next").as_deref(), Some("/"));
    let csrf = crate::support::hidden_value(&page, "csrf").unwrap();
    let fields = [("csrf", csrf.as_str()), ("tenant", "alpha"), ("username", "counter"), ("password", PASSWORD)];
    let with_tab = browser.post_raw("/login", &[&fields[..], &[("next", tab)]].concat()).await;
    assert_eq!(with_tab.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(with_tab.headers().get("location").is_none());
    let login = browser.post_raw("/login", &[&fields[..], &[("next", backslash)]].concat()).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&login), "/");
    // Signed in: /login passes straight on to next.
    browser.refresh_csrf("/home").await;
    for next in ["/%5Cevil.example", "//evil.example", "https://evil.example"] {
        let response = browser.get(&format!("/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(location(&response), "/", "{next}");
    }
    for next in ["/%09/evil.example", "/%0Ax"] {
        let response = browser.get(&format!("/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{next}: refused, not a 500");
        assert!(response.headers().get("location").is_none(), "{next}");
    }
    let local = browser.get("/login?next=%2Fcustomers%3Fq%3Dx").await;
    assert_eq!(location(&local), "/customers?q=x", "a path of this site is followed");
    // The language switch, signed in and signed out.
    let switched = browser.post("/language", &[("lang", "en"), ("back", backslash)]).await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&switched), "/");
    let switched = browser.post("/language", &[("lang", "en"), ("back", tab)]).await;
    assert_eq!(switched.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let anonymous = app.anonymous().post_raw("/language", &[("lang", "en"), ("back", backslash)]).await;
    assert_eq!(location(&anonymous), "/");
}

fn new_customer() -> serde_json::Value {
    serde_json::json!({
        "name": "会话写入", "class_code": "residential", "industry_code": "RES", "voltage_code": "v220",
        "tariff_code": "res_tiered", "address": "上城区解放路2号", "phone": "13800000021"
    })
}

#[tokio::test]
async fn an_api_write_with_a_session_needs_its_csrf_token() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let before = app.count_all("customers").await;
    let post = || clerk.client.post(format!("{}/api/v1/customers", clerk.base)).json(&new_customer());
    let bare = post().send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    assert_eq!(bare.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = bare.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("X-CSRF-Token"), "the problem says why: {problem}");
    let forged = post().header("x-csrf-token", "forged-token-forged-token-forged-token-xx").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count_all("customers").await, before, "nothing was written");
    let with_token = post().header("x-csrf-token", &clerk.csrf).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::CREATED);
    // Reading needs no token.
    assert_eq!(clerk.get("/api/v1/customers").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_keys_open_the_api_only() {
    let app = TestApp::spawn().await;
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::TenantAdmin).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let api = client.get(app.url("/api/v1/customers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    for path in ["/customers", "/admin/users", "/home"] {
        let page = client.get(app.url(path)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path} asks to sign in");
        assert!(location(&page).starts_with("/login?next="), "{path}");
    }
}

#[tokio::test]
async fn metrics_answer_this_machine_or_whoever_has_the_token() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::OK, "from loopback");
    let relayed = client.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.5").send().await.unwrap();
    assert_eq!(relayed.status(), StatusCode::NOT_FOUND, "relayed by a proxy, so not from this machine");

    let mut cfg = config();
    cfg.metrics_token = Some(gridcrm::config::Secret::new("metrics-token-for-the-test"));
    let app = TestApp::spawn_with(cfg).await;
    let metrics = |token: Option<&'static str>| {
        let request = client.get(app.url("/metrics"));
        async move { request.bearer_auth(token.unwrap_or_default()).send().await.unwrap() }
    };
    assert_eq!(client.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(metrics(Some("wrong")).await.status(), StatusCode::FORBIDDEN);
    let good = metrics(Some("metrics-token-for-the-test")).await;
    assert_eq!(good.status(), StatusCode::OK);
    assert!(good.text().await.unwrap().contains("http_requests_total"));
}
