//! The customer portal: registering with a one-time code sent through the
//! notices, signing in and out, linking accounts, what a customer can see
//! (checked over HTTP and in the database as the portal role), and the
//! abuse rules: codes that die, locks, limits, no account enumeration.

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use gridcrm::{db, portal};

use crate::support::{Browser, TestApp, hidden_value, location};

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.owner_url).await.unwrap()
}

pub async fn account_no(app: &TestApp, customer: Uuid) -> String {
    sqlx::query_scalar("SELECT account_no::text FROM customers WHERE id = $1")
        .bind(customer)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap()
}

/// The latest code sent to a customer, read from the notice that carries it.
async fn latest_code(app: &TestApp, customer: Uuid) -> Option<String> {
    sqlx::query_scalar(
        "SELECT data->>'code' FROM notices WHERE kind = 'portal_code' AND customer_id = $1
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut owner(app).await)
    .await
    .unwrap()
}

async fn codes_sent(app: &TestApp, customer: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notices WHERE kind = 'portal_code' AND customer_id = $1")
        .bind(customer)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap()
}

/// A bill issued to a customer, written as the owner.
async fn bill(app: &TestApp, tenant: Uuid, customer: Uuid, bill_no: &str, amount: &str) {
    sqlx::query(
        "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount)
         VALUES ($1, $2, $3, $4, '2026-10-01', 'res_tiered', '2026-11-01', '2026-11-20', 120, $5::numeric)",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(bill_no)
    .bind(customer)
    .bind(amount)
    .execute(&mut owner(app).await)
    .await
    .unwrap();
}

/// A browser on the portal, holding the pre-login CSRF token of `page`.
async fn visitor(app: &TestApp, page: &str) -> Browser {
    let mut b = app.anonymous();
    let (status, html) = b.get_text(page).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    b.csrf = hidden_value(&html, "csrf").expect("the form carries a CSRF token");
    b
}

async fn ask_code(b: &Browser, slug: &str, account: &str) -> (StatusCode, String) {
    let r = b.post(&format!("/portal/register/{slug}/code"), &[("account_no", account)]).await;
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn register(b: &Browser, slug: &str, account: &str, code: &str, login: &str) -> reqwest::Response {
    let password = "a long portal password";
    b.post(
        &format!("/portal/register/{slug}"),
        &[
            ("account_no", account),
            ("code", code),
            ("login", login),
            ("password", password),
            ("password_again", password),
        ],
    )
    .await
}

/// The session token a response set, from its Set-Cookie.
fn session_token(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("gridcrm_portal="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_customer_registers_with_a_code_links_a_second_account_and_sees_only_their_own() {
    let app = TestApp::spawn().await;
    let a = &app.alpha;
    let (mine, second, other) = (a.customers[0], a.customers[1], a.customers[2]);
    let (mine_no, second_no, other_no) =
        (account_no(&app, mine).await, account_no(&app, second).await, account_no(&app, other).await);
    bill(&app, a.id, mine, "B-MINE-1", "88.40").await;
    bill(&app, a.id, other, "B-OTHER-1", "51.00").await;

    // The company list leads to the sign-in page, and that to registering.
    let (status, front) = app.anonymous().get_text("/portal").await;
    assert_eq!(status, StatusCode::OK);
    assert!(front.contains("/portal/login/alpha") && front.contains("甲市供电公司"), "{front}");
    assert_eq!(app.anonymous().get("/portal/login/nowhere").await.status(), StatusCode::NOT_FOUND);

    let mut b = visitor(&app, "/portal/register/alpha").await;
    let (status, page) = ask_code(&b, "alpha", &mine_no).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"code\""), "the second step asks for the code");
    // The code went out as an SMS to the account's phone, through the notices.
    let (channel, address): (String, String) = sqlx::query_as(
        "SELECT channel, gridcrm_notice_address(customer_id, channel) FROM notices WHERE kind = 'portal_code' AND customer_id = $1",
    )
    .bind(mine)
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!((channel.as_str(), address.as_str()), ("sms", "13800000001"));
    let code = latest_code(&app, mine).await.unwrap();
    assert_eq!(code.len(), 6);
    // Only a hash of it is kept with the code.
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM portal_codes WHERE position($1::bytea IN code_hash) > 0")
        .bind(code.as_bytes())
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(kept, 0);

    // Each field's mistake is named; a wrong code costs a try.
    let r = b
        .post(
            "/portal/register/alpha",
            &[
                ("account_no", &mine_no),
                ("code", &code),
                ("login", "12345"),
                ("password", "short"),
                ("password_again", "other"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    for id in ["login-error", "password-error", "password_again-error"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} is shown");
    }
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = register(&b, "alpha", &mine_no, wrong, "13912345678").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"code-error\""));

    let r = register(&b, "alpha", &mine_no, &code, "13912345678").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/portal/home");
    let token = session_token(&r);

    // The code is spent: it registers nobody else.
    let stranger = visitor(&app, "/portal/register/alpha").await;
    assert_eq!(
        register(&stranger, "alpha", &mine_no, &code, "13987654321").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, home) = b.get_text("/portal/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains(&mine_no) && home.contains("王建国") && home.contains("88.40"), "{home}");
    assert!(!home.contains(&second_no) && !home.contains(&other_no));
    let (status, acct) = b.get_text(&format!("/portal/accounts/{mine_no}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(acct.contains("B-MINE-1") && !acct.contains("B-OTHER-1"));
    // Another customer's account, or one that does not exist: the same 404.
    assert_eq!(b.get(&format!("/portal/accounts/{other_no}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.get("/portal/accounts/11999999").await.status(), StatusCode::NOT_FOUND);

    // The same session token, presented for another company, is no session.
    let secret = token.split_once('.').unwrap().1;
    let forged = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = forged
        .get(app.url("/portal/home"))
        .header("cookie", format!("gridcrm_portal={}.{secret}", app.beta.id.simple()))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/portal".to_owned()));

    // Linking a second account takes a code sent to that account.
    b.refresh_csrf("/portal/link").await;
    let r = b.post("/portal/link/code", &[("account_no", &second_no)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let link_code = latest_code(&app, second).await.unwrap();
    // A code sent for one account does not link another.
    let r = b.post("/portal/link", &[("account_no", &other_no), ("code", &link_code)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = b.post("/portal/link", &[("account_no", &second_no), ("code", &link_code)]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("/portal/accounts/{second_no}")));
    let (_, home) = b.get_text("/portal/home").await;
    assert!(home.contains(&mine_no) && home.contains(&second_no) && !home.contains(&other_no));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE entity = 'portal_user' AND action IN ('create', 'link')",
    )
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!(audited, 2);

    // Signing out ends the session; signing in starts one.
    assert_eq!(b.post("/portal/logout", &[]).await.status(), StatusCode::SEE_OTHER);
    let r = b.get("/portal/home").await;
    assert_eq!(location(&r), "/portal");
    let mut b = visitor(&app, "/portal/login/alpha").await;
    let r = b.post("/portal/login/alpha", &[("login", "139 1234 5678"), ("password", "a long portal password")]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/portal/home".to_owned()));
    b.refresh_csrf("/portal/home").await;
    assert!(b.get_text("/portal/home").await.1.contains(&second_no));
    // The staff pages know nothing of this session.
    assert!(location(&b.get("/home").await).starts_with("/login"));
}

#[tokio::test]
async fn asking_for_a_code_does_not_tell_whether_an_account_exists_and_is_limited() {
    let app = TestApp::spawn().await;
    let mine = app.alpha.customers[0];
    let mine_no = account_no(&app, mine).await;
    let betas_no = account_no(&app, app.beta.customers[0]).await;
    let b = visitor(&app, "/portal/register/alpha").await;

    let (known_status, known) = ask_code(&b, "alpha", &mine_no).await;
    let (unknown_status, unknown) = ask_code(&b, "alpha", "11999999").await;
    assert_eq!(known_status, unknown_status);
    assert_eq!(known.replace(&mine_no, "N"), unknown.replace("11999999", "N"), "the two answers differ");
    // Another company's account is unknown here.
    let (status, page) = ask_code(&b, "alpha", &betas_no).await;
    assert_eq!(status, known_status);
    assert_eq!(page.replace(&betas_no, "N"), unknown.replace("11999999", "N"));
    assert_eq!(codes_sent(&app, app.beta.customers[0]).await, 0);
    // A malformed number is named as such.
    let (status, page) = ask_code(&b, "alpha", "12ab").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"account_no-error\""));

    // Three codes an hour per account: the fourth request sends nothing,
    // and says so no differently.
    for _ in 0..3 {
        let (status, page) = ask_code(&b, "alpha", &mine_no).await;
        assert_eq!(status, known_status);
        assert_eq!(page, known);
    }
    assert_eq!(codes_sent(&app, mine).await, 3);

    // Ten requests an hour from one address (six so far, the malformed one
    // not counted), then a refusal that names the connection.
    for _ in 0..4 {
        assert_eq!(ask_code(&b, "alpha", "11999998").await.0, StatusCode::OK);
    }
    let (status, _) = ask_code(&b, "alpha", "11999997").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_code_dies_after_five_wrong_tries_and_a_login_locks_after_five_wrong_passwords() {
    let app = TestApp::spawn().await;
    let mine = app.alpha.customers[0];
    let mine_no = account_no(&app, mine).await;
    let b = visitor(&app, "/portal/register/alpha").await;
    ask_code(&b, "alpha", &mine_no).await;
    let code = latest_code(&app, mine).await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            register(&b, "alpha", &mine_no, wrong, "13912345678").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // Guessed at five times, the code is dead even when right.
    assert_eq!(register(&b, "alpha", &mine_no, &code, "13912345678").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An expired code is dead too.
    ask_code(&b, "alpha", &mine_no).await;
    let code = latest_code(&app, mine).await.unwrap();
    sqlx::query("UPDATE portal_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(register(&b, "alpha", &mine_no, &code, "13912345678").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    ask_code(&b, "alpha", &mine_no).await;
    let code = latest_code(&app, mine).await.unwrap();
    assert_eq!(register(&b, "alpha", &mine_no, &code, "13912345678").await.status(), StatusCode::SEE_OTHER);

    let b = visitor(&app, "/portal/login/alpha").await;
    let login = |login: &'static str, password: &'static str| {
        let b = &b;
        async move { b.post("/portal/login/alpha", &[("login", login), ("password", password)]).await }
    };
    let unknown = login("13700000000", "whatever it is").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap().replace("13700000000", "L");
    for _ in 0..5 {
        let r = login("13912345678", "not the password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A wrong password reads like an unknown login.
        assert_eq!(r.text().await.unwrap().replace("13912345678", "L"), unknown);
    }
    let r = login("13912345678", "a long portal password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "locked after five wrong passwords");
    sqlx::query("UPDATE portal_users SET locked_until = now() - interval '1 second'")
        .execute(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(login("13912345678", "a long portal password").await.status(), StatusCode::SEE_OTHER);
}

/// A customer's session is touched when its last-seen minute has passed, and
/// only then (migration 0064); an idle one ends.
#[tokio::test]
async fn a_portal_session_in_use_is_touched_once_a_minute_and_an_idle_one_ends() {
    let app = TestApp::spawn().await;
    let phone = registered(&app, app.alpha.customers[0], "13912345678").await;
    let mut conn = owner(&app).await;
    let age = "SELECT extract(epoch FROM now() - last_seen_at)::float8 FROM portal_sessions WHERE tenant_id = $1";
    let set_age = |minutes: f64| {
        sqlx::query(
            "UPDATE portal_sessions SET last_seen_at = now() - make_interval(secs => $2 * 60) WHERE tenant_id = $1",
        )
        .bind(app.alpha.id)
        .bind(minutes)
    };
    set_age(5.0).execute(&mut conn).await.unwrap();
    assert_eq!(phone.get("/portal/home").await.status(), StatusCode::OK);
    let seconds: f64 = sqlx::query_scalar(age).bind(app.alpha.id).fetch_one(&mut conn).await.unwrap();
    assert!(seconds < 60.0, "a request five minutes on touches the session ({seconds} s ago)");

    set_age(0.5).execute(&mut conn).await.unwrap();
    assert_eq!(phone.get("/portal/home").await.status(), StatusCode::OK);
    let seconds: f64 = sqlx::query_scalar(age).bind(app.alpha.id).fetch_one(&mut conn).await.unwrap();
    assert!(seconds >= 30.0, "a request within the minute writes nothing ({seconds} s ago)");

    set_age(f64::from(portal::SESSION_IDLE_MINUTES) + 1.0).execute(&mut conn).await.unwrap();
    let response = phone.get("/portal/home").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "an idle session is signed out");
}

#[tokio::test]
async fn the_portal_role_sees_only_the_linked_accounts_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let a = &app.alpha;
    bill(&app, a.id, a.customers[0], "B-0", "10.00").await;
    bill(&app, a.id, a.customers[1], "B-1", "11.00").await;
    // One connection, so the check after the portal transaction runs on the
    // connection the portal role was set on.
    let pool = db::app_pool(&app.owner_url, None, 1).await.unwrap();
    let mut tx = db::begin_tenant(&pool, a.id, None).await.unwrap();
    let user = portal::db::create_user(&mut tx, "13912345678", "x").await.unwrap().unwrap();
    let neighbour = portal::db::create_user(&mut tx, "13912345679", "x").await.unwrap().unwrap();
    portal::db::link(&mut tx, user, a.customers[0]).await.unwrap();
    portal::db::link(&mut tx, neighbour, a.customers[1]).await.unwrap();
    tx.commit().await.unwrap();

    let counts = |tenant: Uuid, who: Uuid| {
        let pool = pool.clone();
        async move {
            let mut tx = db::begin_portal(&pool, tenant, who).await.unwrap();
            let n: (i64, i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM bills), (SELECT count(*) FROM payments),
                        (SELECT count(*) FROM portal_users), (SELECT count(*) FROM portal_links)",
            )
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            tx.rollback().await.unwrap();
            n
        }
    };
    assert_eq!(counts(a.id, user).await, (1, 1, 0, 1, 1));
    let mut tx = db::begin_portal(&pool, a.id, user).await.unwrap();
    let bills: Vec<String> = sqlx::query_scalar("SELECT bill_no FROM bills").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(bills, ["B-0"]);
    let accounts = portal::db::accounts(&mut tx).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].customer_id, a.customers[0]);
    assert_eq!(accounts[0].owed.to_string(), "10.00");
    tx.rollback().await.unwrap();
    // The home's one statement (no transaction, the session looked up by
    // its secret's hash) shows the same, and leaves the connection the
    // server's: role, tenant and customer end with it.
    let mut tx = db::begin_tenant(&pool, a.id, None).await.unwrap();
    let own = portal::db::start_session(&mut tx, a.id, user).await.unwrap();
    let unlinked = portal::db::create_user(&mut tx, "13912345670", "x").await.unwrap().unwrap();
    let nobodys = portal::db::start_session(&mut tx, a.id, unlinked).await.unwrap();
    tx.commit().await.unwrap();
    let hash = |token: &str| gridcrm::web::password::sha256(gridcrm::web::auth::split_token(token).unwrap().1);
    let home = |tenant: Uuid, token_hash: Vec<u8>| {
        let pool = pool.clone();
        async move { portal::db::session_with_accounts(&pool, tenant, &token_hash).await.unwrap() }
    };
    let (session, accounts) = home(a.id, hash(&own)).await.expect("the session is found");
    assert_eq!(session.portal_user_id, user);
    let listed: Vec<(Uuid, String)> = accounts.into_iter().map(|a| (a.customer_id, a.owed.to_string())).collect();
    assert_eq!(listed, [(a.customers[0], "10.00".to_owned())]);
    assert!(home(app.beta.id, hash(&own)).await.is_none(), "the session in another company: none");
    assert!(home(a.id, gridcrm::web::password::sha256("not a session")).await.is_none(), "no such session");
    let (session, accounts) = home(a.id, hash(&nobodys)).await.expect("a session without accounts is found");
    assert_eq!((session.portal_user_id, accounts.len()), (unlinked, 0), "nobody linked: no accounts");
    let after: (String, String, String) = sqlx::query_as(
        "SELECT current_user::text, coalesce(current_setting('app.tenant_id', true), ''),
                coalesce(current_setting('app.portal_user_id', true), '')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(after, ("gridcrm_app".to_owned(), String::new(), String::new()));
    // Another company, or nobody signed in: nothing.
    assert_eq!(counts(app.beta.id, user).await, (0, 0, 0, 0, 0));
    assert_eq!(counts(a.id, Uuid::now_v7()).await, (0, 0, 0, 0, 0));
    // The portal role writes nothing, and reads nothing it was not given.
    for statement in [
        "INSERT INTO portal_links (tenant_id, portal_user_id, customer_id) SELECT app_tenant_id(), app_portal_user_id(), id FROM customers",
        "UPDATE customers SET name = 'x'",
        "UPDATE portal_users SET password_hash = 'x'",
        "UPDATE work_orders SET title = 'x'",
        "DELETE FROM return_visits",
        "SELECT count(*) FROM points_ledger",
        "SELECT count(*) FROM customer_contacts",
        "SELECT count(*) FROM portal_codes",
        "SELECT count(*) FROM portal_sessions",
    ] {
        let mut tx = db::begin_portal(&pool, a.id, user).await.unwrap();
        let err = sqlx::query(statement).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{statement}: {err}");
        tx.rollback().await.unwrap();
    }
    // The role ends with the transaction: the connection is the server's again.
    let mut tx = db::begin_tenant(&pool, a.id, None).await.unwrap();
    let (role, customers): (String, i64) =
        sqlx::query_as("SELECT current_user::text, (SELECT count(*) FROM customers)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((role.as_str(), customers), ("gridcrm_app", 4));
    tx.rollback().await.unwrap();
}

/// How the audit names a portal login: by its id, not its phone or e-mail.
async fn label_of(app: &TestApp, login: &str) -> String {
    let id: Uuid = sqlx::query_scalar("SELECT id FROM portal_users WHERE login = $1")
        .bind(login)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap();
    portal::auth::portal_label(id)
}

/// Registers a portal login for `customer` and returns the signed-in browser.
pub async fn registered(app: &TestApp, customer: Uuid, login: &str) -> Browser {
    let no = account_no(app, customer).await;
    let mut b = visitor(app, "/portal/register/alpha").await;
    ask_code(&b, "alpha", &no).await;
    let code = latest_code(app, customer).await.unwrap();
    assert_eq!(register(&b, "alpha", &no, &code, login).await.status(), StatusCode::SEE_OTHER);
    b.refresh_csrf("/portal/home").await;
    b
}

fn signed(params: &[(&str, &str)], secret: &str) -> Vec<(String, String)> {
    let mut map: std::collections::BTreeMap<String, String> =
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sign = portal::gateway::sign(secret.as_bytes(), &map);
    map.insert("sign".into(), sign);
    map.into_iter().collect()
}

#[tokio::test]
async fn a_payment_through_the_gateway_books_once_and_reconnects_a_prepaid_customer() {
    use crate::support::{GATEWAY_MERCHANT, GATEWAY_SECRET, config, with_fake_gateway};
    let app = TestApp::spawn_with(with_fake_gateway(config()).await).await;
    let customer = app.alpha.customers[0];
    let no = account_no(&app, customer).await;
    bill(&app, app.alpha.id, customer, "B-PREPAID-1", "88.40").await;
    // A prepaid customer owing money: cost control cuts the supply.
    let manager = app.login(&app.alpha, "manager").await;
    assert_eq!(manager.post(&format!("/customers/{customer}/cost-control"), &[]).await.status(), StatusCode::SEE_OTHER);
    let commands = || async {
        sqlx::query_scalar::<_, String>("SELECT command FROM meter_commands WHERE customer_id = $1 ORDER BY created_at")
            .bind(customer)
            .fetch_all(&mut owner(&app).await)
            .await
            .unwrap()
    };
    assert_eq!(commands().await, ["disconnect"]);

    let b = registered(&app, customer, "13912345678").await;
    // The account page says the supply is cut and how to get it back.
    let (_, account) = b.get_text(&format!("/portal/accounts/{no}")).await;
    assert!(account.contains("id=\"prepaid\"") && account.contains("已停电"), "{account}");
    let (status, page) = b.get_text(&format!("/portal/accounts/{no}/pay")).await;
    assert_eq!(status, StatusCode::OK);
    // A prepaid account is asked for more than its bill: the use since, and a month.
    let filled: f64 = crate::support::hidden_value(&page, "amount").and_then(|v| v.parse().ok()).unwrap_or_default();
    assert!(filled > 88.40 && filled.fract() == 0.0, "{filled}: {page}");
    assert!(page.contains("约一个月的用电"), "{page}");
    let r = b.post(&format!("/portal/accounts/{no}/pay"), &[("amount", "abc")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"amount-error\""));
    // Another customer's account cannot be paid from this login.
    let other = account_no(&app, app.alpha.customers[1]).await;
    assert_eq!(b.get(&format!("/portal/accounts/{other}/pay")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        b.post(&format!("/portal/accounts/{other}/pay"), &[("amount", "1")]).await.status(),
        StatusCode::NOT_FOUND
    );

    // A cancelled payment leaves the order waiting and books nothing.
    let gateway = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let to_gateway = |amount: &'static str| {
        let b = &b;
        let no = no.clone();
        async move {
            let r = b.post(&format!("/portal/accounts/{no}/pay"), &[("amount", amount)]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            url::Url::parse(&location(&r)).unwrap()
        }
    };
    let decide = |hosted: url::Url, decision: &'static str| {
        let gateway = &gateway;
        async move {
            let page = gateway.get(hosted.clone()).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK, "the gateway accepts our signature");
            let mut form: Vec<(String, String)> = hosted.query_pairs().into_owned().collect();
            form.push(("decision".into(), decision.into()));
            let mut base = hosted.clone();
            base.set_query(None);
            let r = gateway.post(base).form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
            location(&r)
        }
    };
    let back = decide(to_gateway("50").await, "cancel").await;
    let back_path = url::Url::parse(&back).unwrap().path().to_owned();
    let (_, waiting) = b.get_text(&back_path).await;
    assert!(waiting.contains("正在等待支付机构确认"), "{waiting}");

    // Paid: the callback books it before the customer is back.
    let hosted = to_gateway("100.00").await;
    assert_eq!(hosted.path(), portal::fake_gateway::PATH);
    assert!(hosted.query_pairs().any(|(k, v)| k == "notify_url" && v.ends_with("/portal/pay/alpha/callback")));
    let back = decide(hosted, "pay").await;
    let back_path = url::Url::parse(&back).unwrap().path().to_owned();
    let (status, done) = b.get_text(&back_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("缴费成功") && done.contains("11.60"), "¥100 against ¥88.40 leaves ¥11.60 credit: {done}");
    let (order_id, txn): (Uuid, String) =
        sqlx::query_as("SELECT id, gateway_txn FROM portal_payment_orders WHERE status = 'paid'")
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!(app.count_all("payments WHERE channel = 'portal'").await, 1);
    // The supply comes back as soon as the balance does.
    assert_eq!(commands().await, ["disconnect", "reconnect"]);

    // The gateway repeats its callback: nothing is booked twice.
    let callback = app.url("/portal/pay/alpha/callback");
    let order = order_id.simple().to_string();
    let post = |form: Vec<(String, String)>| {
        let callback = callback.clone();
        async move {
            let r = reqwest::Client::new().post(callback).form(&form).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let paid = |amount: &'static str, txn: String| {
        let order = order.clone();
        move |secret: &str| {
            signed(
                &[
                    ("merchant", GATEWAY_MERCHANT),
                    ("order", &order),
                    ("amount", amount),
                    ("txn", &txn),
                    ("status", "paid"),
                ],
                secret,
            )
        }
    };
    assert_eq!(post(paid("100.00", txn.clone())(GATEWAY_SECRET)).await, (StatusCode::OK, "success".into()));
    assert_eq!(app.count_all("payments WHERE channel = 'portal'").await, 1);
    // A forged callback, or one for another amount, books nothing.
    assert_eq!(post(paid("100.00", "FORGED-1".into())("not the secret")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post(paid("1000.00", "FORGED-2".into())(GATEWAY_SECRET)).await.0, StatusCode::BAD_REQUEST);
    let unknown = signed(
        &[
            ("merchant", GATEWAY_MERCHANT),
            ("order", &Uuid::now_v7().simple().to_string()),
            ("amount", "1.00"),
            ("txn", "T-X"),
            ("status", "paid"),
        ],
        GATEWAY_SECRET,
    );
    assert_eq!(post(unknown).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.count_all("payments WHERE channel = 'portal'").await, 1);
    // The money of a second transaction for the same order arrived too: it
    // is booked (to credit), not lost.
    assert_eq!(post(paid("100.00", "T-SECOND".into())(GATEWAY_SECRET)).await.0, StatusCode::OK);
    assert_eq!(app.count_all("payments WHERE channel = 'portal'").await, 2);
    let (_, account) = b.get_text(&format!("/portal/accounts/{no}")).await;
    assert!(account.contains("111.60"), "credit of both: {account}");
    assert!(account.contains("id=\"prepaid\"") && !account.contains("已停电"), "back on: {account}");
    // Another customer's order is "not found", like one that does not exist.
    assert_eq!(b.get(&back_path).await.status(), StatusCode::OK);
    let stranger = registered(&app, app.alpha.customers[1], "13800000002").await;
    assert_eq!(stranger.get(&back_path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger.get(&format!("/portal/payments/{}", Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_complaint_sent_from_the_portal_joins_the_web_queue_and_is_followed_there() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let no = account_no(&app, mine).await;
    let b = registered(&app, mine, "13912345678").await;
    // A contact of another customer, taken at the hotline.
    let counter = app.login(&app.alpha, "counter").await;
    let r = counter
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hotline"),
                ("subject", "billing"),
                ("customer_id", &other.to_string()),
                ("description", "别人的投诉"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, page) = b.get_text("/portal/contacts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&no) && !page.contains("别人的投诉"), "{page}");
    // Each mistake is named: no subject, no text, an account not linked.
    let other_no = account_no(&app, other).await;
    let r = b
        .post(
            "/portal/contacts",
            &[("account_no", &other_no), ("kind", "complaint"), ("subject", ""), ("description", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"account_no-error\""));
    let r = b
        .post("/portal/contacts", &[("account_no", &no), ("kind", "complaint"), ("subject", ""), ("description", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"subject-error\"") && html.contains("id=\"description-error\""), "{html}");
    let r = b
        .post(
            "/portal/contacts",
            &[
                ("account_no", &no),
                ("kind", "complaint"),
                ("subject", "billing"),
                ("description", "十月电费比九月高一倍"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sent = location(&r);
    let (channel, customer, owner_id, ref_no): (String, Uuid, Option<Uuid>, String) = sqlx::query_as(
        "SELECT channel, customer_id, owner_id, ref_no::text FROM contacts WHERE description = '十月电费比九月高一倍'",
    )
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!((channel.as_str(), customer, owner_id), ("web", mine, None));
    assert_eq!(sent, format!("/portal/contacts?sent={ref_no}"));
    let (_, page) = b.get_text(&sent).await;
    assert!(page.contains(&ref_no) && page.contains("十月电费比九月高一倍"));
    // Staff take it from the web queue and answer it; the customer reads the answer.
    let id: Uuid = sqlx::query_scalar("SELECT id FROM contacts WHERE ref_no = $1")
        .bind(&ref_no)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    for (action, comment) in [("acknowledge", ""), ("start", ""), ("resolve", "经核实，十月为两个抄表周期")]
    {
        let r = counter.post(&format!("/contacts/{id}/actions"), &[("action", action), ("comment", comment)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}");
    }
    let (_, page) = b.get_text("/portal/contacts").await;
    assert!(page.contains("经核实，十月为两个抄表周期"));

    // The return-visit question is answered online, on the same record as a
    // visit by phone: an answer is required; satisfied closes the complaint.
    let visit = format!("/portal/contacts/{id}/visit");
    assert!(page.contains(&visit), "a resolved complaint asks the customer: {page}");
    let r = b.post(&visit, &[("satisfaction", ""), ("remarks", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"satisfaction-error\""));
    // Someone else's complaint cannot be answered.
    let others: Uuid = sqlx::query_scalar("SELECT id FROM contacts WHERE description = '别人的投诉'")
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let r = b.post(&format!("/portal/contacts/{others}/visit"), &[("satisfaction", "5")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = b.post(&visit, &[("satisfaction", "5"), ("remarks", "处理很快")]).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, format!("/portal/contacts?answered={id}#contact-{id}"))
    );
    let (state, satisfaction, remarks): (String, i16, String) = sqlx::query_as(
        "SELECT k.state, v.satisfaction, v.remarks FROM contacts k JOIN return_visits v ON v.contact_id = k.id
         WHERE k.id = $1",
    )
    .bind(id)
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!((state.as_str(), satisfaction, remarks.as_str()), ("closed", 5, "处理很快"));
    let (_, page) = b.get_text(&format!("/portal/contacts?answered={id}")).await;
    assert!(page.contains("id=\"visit-answered\"") && page.contains("非常满意") && !page.contains(&visit), "{page}");
    // Answered once: there is nothing left to answer.
    assert_eq!(b.post(&visit, &[("satisfaction", "1")]).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_fault_reported_from_a_phone_is_a_repair_order_the_customer_follows_to_restoration() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let no = account_no(&app, mine).await;
    let b = registered(&app, mine, "13912345678").await;
    let (status, page) = b.get_text("/portal/faults").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-locate") && page.contains("95598"), "{page}");
    // Each mistake is named: no place type, half a position, an account not linked.
    let r = b
        .post("/portal/faults", &[("account_no", &no), ("area_type", ""), ("latitude", "31.2"), ("longitude", "")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"area_type-error\"") && html.contains("id=\"longitude-error\""), "{html}");
    let other_no = account_no(&app, other).await;
    let r = b.post("/portal/faults", &[("account_no", &other_no), ("area_type", "urban")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"account_no-error\""));
    assert_eq!(app.count_all("work_orders").await, 0, "nothing half-written");

    let r = b
        .post(
            "/portal/faults",
            &[
                ("account_no", &no),
                ("address", ""),
                ("area_type", "urban"),
                ("latitude", "31.230416"),
                ("longitude", "121.473701"),
                ("description", "晚上八点起全屋停电"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id, ref_no, kind, state, customer, address, latitude, clock): (
        Uuid,
        String,
        String,
        String,
        Uuid,
        String,
        String,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT w.id, w.ref_no::text, w.kind, w.state, w.customer_id, w.address, w.latitude::text, w.clock
             FROM work_orders w",
    )
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    let account_address: String = sqlx::query_scalar("SELECT address FROM customers WHERE id = $1")
        .bind(mine)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!((kind.as_str(), state.as_str(), customer), ("repair", "reported", mine));
    assert_eq!((address, latitude.as_str(), clock.as_deref()), (account_address, "31.230416", Some("arrival")));
    assert_eq!(location(&r), format!("/portal/faults?reported={ref_no}"));
    // It raises the event the notice rules deliver, as a fault reported by phone does.
    let raised = format!("customer_timeline WHERE notice = 'fault_reported' AND customer_id = '{mine}'");
    assert_eq!(app.count_all(&raised).await, 1);
    let (_, page) = b.get_text(&format!("/portal/faults?reported={ref_no}")).await;
    assert!(
        page.contains("id=\"fault-reported\"") && page.contains(&ref_no) && page.contains("预计最迟到达"),
        "{page}"
    );

    // The crew is dispatched, arrives and restores the supply: the customer sees each step.
    let staff = app.login(&app.alpha, "supervisor").await;
    for (action, fields) in
        [("dispatch", vec![("crew", "抢修一班")]), ("arrive", vec![]), ("restore", vec![("comment", "更换熔断器")])]
    {
        let mut form = vec![("action", action)];
        form.extend(fields);
        let r = staff.post(&format!("/work-orders/{id}/actions"), &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}: {:?}", r.text().await);
    }
    let (_, page) = b.get_text("/portal/faults").await;
    assert!(page.contains("已恢复供电") && page.contains("抢修一班") && page.contains("抢修人员到达"), "{page}");
    assert!(!page.contains("预计最迟到达"), "the arrival clock stopped");
    // Another customer's faults are not listed.
    let b2 = registered(&app, other, "13800000002").await;
    let (_, page) = b2.get_text("/portal/faults").await;
    assert!(!page.contains(&ref_no) && page.contains("暂无报修"), "{page}");
}

#[tokio::test]
async fn a_customer_chooses_their_notices_and_sees_those_sent() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let no = account_no(&app, customer).await;
    let b = registered(&app, customer, "13912345678").await;
    let path = format!("/portal/accounts/{no}/notices");
    let (status, page) = b.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    // The code that registered the login is a notice of the account.
    assert!(page.contains("网上营业厅验证码"), "{page}");
    assert_eq!(
        b.get(&format!("/portal/accounts/{}/notices", account_no(&app, app.alpha.customers[1]).await)).await.status(),
        StatusCode::NOT_FOUND
    );
    // Bad values are named; a service-critical kind cannot be opted out of.
    let r = b
        .post(&path, &[("lang", "en"), ("opt_outs", "planned_outage"), ("bill_content", "summary"), ("bill_day", "31")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"opt_outs-error\"") && html.contains("id=\"bill_day-error\""), "{html}");
    let r = b
        .post(
            &path,
            &[
                ("lang", "en"),
                ("email", "wang@example.cn"),
                ("opt_outs", "energy_saving_advice"),
                ("bill_content", "itemised"),
                ("bill_day", "5"),
                ("bill_channel", "email"),
            ],
        )
        .await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("{path}?saved=true")));
    let (lang, email, day, by): (String, String, i32, String) =
        sqlx::query_as("SELECT lang, email, bill_day::int, updated_by FROM notice_preferences WHERE customer_id = $1")
            .bind(customer)
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    let label = label_of(&app, "13912345678").await;
    assert_eq!((lang.as_str(), email.as_str(), day, by.as_str()), ("en", "wang@example.cn", 5, label.as_str()));
    assert!(!label.contains("13912345678"), "no phone number in the audit: {label}");
    let opted: Vec<String> = sqlx::query_scalar("SELECT kind FROM notice_opt_outs WHERE customer_id = $1")
        .bind(customer)
        .fetch_all(&mut owner(&app).await)
        .await
        .unwrap();
    assert_eq!(opted, ["energy_saving_advice"]);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'notice_preferences' AND actor_label = $1")
            .bind(&label)
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

/// The id of a customer's bill.
async fn bill_id(app: &TestApp, bill_no: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM bills WHERE bill_no = $1")
        .bind(bill_no)
        .fetch_one(&mut owner(app).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_customer_opens_the_explained_printable_bill_of_their_own_accounts_only() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let no = account_no(&app, mine).await;
    bill(&app, app.alpha.id, mine, "B-MINE-1", "123.45").await;
    bill(&app, app.alpha.id, other, "B-OTHER-1", "67.00").await;
    let (mine_bill, other_bill) = (bill_id(&app, "B-MINE-1").await, bill_id(&app, "B-OTHER-1").await);
    // The bill run recorded the company's credit decision on it.
    sqlx::query(
        "UPDATE bills SET detail = '{\"credit\": {\"grade\": \"B\", \"method\": \"post_pay_secured\"}}' WHERE id = $1",
    )
    .bind(mine_bill)
    .execute(&mut owner(&app).await)
    .await
    .unwrap();
    let b = registered(&app, mine, "13912345678").await;
    let (_, account) = b.get_text(&format!("/portal/accounts/{no}")).await;
    assert!(account.contains(&format!("/portal/bills/{mine_bill}")), "the account page links its bills: {account}");
    let (status, sheet) = b.get_text(&format!("/portal/bills/{mine_bill}")).await;
    assert_eq!(status, StatusCode::OK);
    // The counter's sheet: the amount in capitals, the lines, the usage
    // history and how to pay; not the company's credit decision, and no
    // link into the staff pages.
    assert!(sheet.contains("B-MINE-1") && sheet.contains("壹佰贰拾叁元肆角伍分"), "{sheet}");
    assert!(sheet.contains("id=\"payment-instructions\"") && sheet.contains("class=\"chart-box\""), "{sheet}");
    assert!(!sheet.contains("/customers/") && !sheet.contains("信用等级与缴费方式"), "{sheet}");
    assert!(sheet.contains("data-print hidden") && sheet.contains("/static/portal.js"));
    // Another customer's bill, and a bill that does not exist, are alike.
    assert_eq!(b.get(&format!("/portal/bills/{other_bill}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.get(&format!("/portal/bills/{}", Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
    // The staff page shows the same sheet, with the staff's links.
    let staff = app.login(&app.alpha, "counter").await;
    let (status, staff_sheet) = staff.get_text(&format!("/bills/{mine_bill}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(staff_sheet.contains("壹佰贰拾叁元肆角伍分") && staff_sheet.contains(&format!("/customers/{mine}")));
    assert!(
        staff_sheet.contains("信用等级与缴费方式") && staff_sheet.contains("后付费（需保证金或担保）"),
        "{staff_sheet}"
    );
}

#[tokio::test]
async fn a_customer_redeems_points_within_the_balance_and_the_stock() {
    use gridcrm::staff::Role;
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let no = account_no(&app, customer).await;
    let admin = app.login(&app.alpha, "admin").await;
    let rates = [
        ("on_time_points", "0"),
        ("per_100_yuan", "10"),
        ("online_bonus", "5"),
        ("amount_cap", "0"),
        ("expiry_months", "24"),
    ];
    assert_eq!(admin.post("/points/settings", &rates).await.status(), StatusCode::SEE_OTHER);
    for (code, cost, stock) in [("LAMP", "20", "1"), ("BAG", "10", "5")] {
        let item = [("code", code), ("name_zh", "节能灯"), ("name_en", "LED bulb"), ("cost", cost), ("stock", stock)];
        assert_eq!(admin.post("/points/catalogue", &item).await.status(), StatusCode::SEE_OTHER);
    }
    // ¥300 through WeChat: 30 for the amount and 5 for paying online.
    let key = app.api_key(&app.alpha, Role::CounterStaff).await;
    let body = serde_json::json!({"account_no": no, "amount": "300.00", "channel": "wechat",
        "channel_ref": "WX-POINTS-1", "allow_credit": true});
    let r =
        reqwest::Client::new().post(app.url("/api/v1/payments")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);

    let b = registered(&app, customer, "13912345678").await;
    let path = format!("/portal/accounts/{no}/points");
    let (status, page) = b.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"points-balance\">35<"), "{page}");
    let other = account_no(&app, app.alpha.customers[1]).await;
    assert_eq!(b.get(&format!("/portal/accounts/{other}/points")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        b.post(&format!("/portal/accounts/{other}/points"), &[("item", "BAG"), ("quantity", "1")]).await.status(),
        StatusCode::NOT_FOUND
    );
    // Bad input names its field.
    let r = b.post(&path, &[("item", "BAG"), ("quantity", "0")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"quantity-error\""));
    let r = b.post(&path, &[("item", "NO-SUCH"), ("quantity", "1")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"item-error\""));

    let r = b.post(&path, &[("item", "LAMP"), ("quantity", "1")]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("{path}?redeemed=true")));
    let (_, page) = b.get_text(&format!("{path}?redeemed=true")).await;
    assert!(page.contains("id=\"points-balance\">15<") && page.contains("id=\"points-redeemed\""), "{page}");
    // More than the balance, or than the stock, takes nothing.
    let r = b.post(&path, &[("item", "BAG"), ("quantity", "2")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("id=\"points-refused\"") && refused.contains("积分不足"), "{refused}");
    let r = b.post(&path, &[("item", "LAMP"), ("quantity", "1")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (balance, stock, redeemed_by): (i64, i32, String) = sqlx::query_as(
        "SELECT (SELECT sum(points)::bigint FROM points_ledger WHERE customer_id = $1),
                (SELECT stock FROM points_catalogue WHERE code = 'LAMP'),
                (SELECT redeemed_by FROM points_redemptions WHERE customer_id = $1)",
    )
    .bind(customer)
    .fetch_one(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!((balance, stock, redeemed_by), (15, 0, label_of(&app, "13912345678").await));
}

#[tokio::test]
async fn a_customer_sets_quiet_hours_and_unlinks_an_account() {
    let app = TestApp::spawn().await;
    let customer = app.alpha.customers[0];
    let no = account_no(&app, customer).await;
    let b = registered(&app, customer, "13912345678").await;
    let path = format!("/portal/accounts/{no}/quiet-hours");
    // One end alone, or not a time, is named.
    let r = b.post(&path, &[("quiet_from", "22:00"), ("quiet_to", "")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"quiet_to-error\""));
    let r = b.post(&path, &[("quiet_from", "25:99"), ("quiet_to", "07:00")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"quiet_from-error\""));
    let quiet = || async {
        sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT to_char(quiet_from, 'HH24:MI'), to_char(quiet_to, 'HH24:MI') FROM customers WHERE id = $1",
        )
        .bind(customer)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap()
    };
    assert_eq!(quiet().await, (None, None), "nothing half-saved");
    let r = b.post(&path, &[("quiet_from", "22:30"), ("quiet_to", "07:00")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(quiet().await, (Some("22:30".into()), Some("07:00".into())));
    let (_, page) = b.get_text(&format!("/portal/accounts/{no}/notices")).await;
    assert!(page.contains("value=\"22:30\"") && page.contains("value=\"07:00\""), "{page}");
    // Both empty: only the company's quiet hours.
    assert_eq!(b.post(&path, &[("quiet_from", ""), ("quiet_to", "")]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(quiet().await, (None, None));
    let other = account_no(&app, app.alpha.customers[1]).await;
    let elsewhere = format!("/portal/accounts/{other}/quiet-hours");
    let r = b.post(&elsewhere, &[("quiet_from", "22:00"), ("quiet_to", "07:00")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Unlinking: someone else's account is not found; one's own goes off the list.
    assert_eq!(b.post(&format!("/portal/accounts/{other}/unlink"), &[]).await.status(), StatusCode::NOT_FOUND);
    let r = b.post(&format!("/portal/accounts/{no}/unlink"), &[]).await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/portal/home?unlinked=true"));
    let (_, home) = b.get_text("/portal/home?unlinked=true").await;
    assert!(home.contains("id=\"unlinked\"") && home.contains("/portal/link"), "the empty list offers linking: {home}");
    assert_eq!(b.get(&format!("/portal/accounts/{no}")).await.status(), StatusCode::NOT_FOUND);
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor_label = $1 AND action IN ('unlink', 'update') ORDER BY at",
    )
    .bind(label_of(&app, "13912345678").await)
    .fetch_all(&mut owner(&app).await)
    .await
    .unwrap();
    assert_eq!(audited, ["update", "update", "unlink"]);
    // The account itself is untouched.
    assert_eq!(app.count_all(&format!("customers WHERE id = '{customer}' AND status = 'active'")).await, 1);
}

/// Uploads a document to an application as the browser `b`.
async fn upload(b: &Browser, ref_no: &str, fields: &[(&str, &str)], name: &str, bytes: &[u8]) -> reqwest::Response {
    let mut all = vec![("csrf", b.csrf.as_str())];
    all.extend_from_slice(fields);
    let (content_type, body) = crate::onboarding::multipart_file(&all, name, "application/octet-stream", bytes);
    b.client
        .post(format!("{}/portal/applications/{ref_no}/documents", b.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR a small identity card";

#[tokio::test]
async fn an_application_made_online_keeps_its_documents_to_the_applicant_and_the_staff() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let no = account_no(&app, mine).await;
    let b = registered(&app, mine, "13912345678").await;
    let (status, page) = b.get_text("/portal/applications").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/portal/applications/new/capacity_increase") && page.contains("暂无申请"), "{page}");
    assert_eq!(b.get("/portal/applications/new/account_closing").await.status(), StatusCode::NOT_FOUND);

    // What is missing is named; nothing is written.
    let r = b.post("/portal/applications", &[("kind", "capacity_increase"), ("account_no", &no)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"supply_point_id-error\"") && html.contains("id=\"requested_capacity_kva-error\""),
        "{html}"
    );
    assert_eq!(app.count_all("work_orders").await, 0);
    let point: Uuid = sqlx::query_scalar("SELECT id FROM supply_points WHERE customer_id = $1")
        .bind(mine)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let others_point: Uuid = sqlx::query_scalar("SELECT id FROM supply_points WHERE customer_id = $1")
        .bind(other)
        .fetch_one(&mut owner(&app).await)
        .await
        .unwrap();
    let (_, form) = b.get_text("/portal/applications/new/capacity_increase").await;
    assert!(form.contains(&point.to_string()) && !form.contains(&others_point.to_string()), "{form}");
    let apply = |point: Uuid| {
        let (b, no) = (&b, no.clone());
        async move {
            let fields = [
                ("kind", "capacity_increase"),
                ("account_no", no.as_str()),
                ("supply_point_id", &point.to_string()),
                ("requested_capacity_kva", "50"),
                ("description", "新增一台充电桩"),
            ];
            b.post("/portal/applications", &fields).await
        }
    };
    let r = apply(others_point).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "another customer's supply point");
    let r = apply(point).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id, ref_no, kind, state, customer): (Uuid, String, String, String, Uuid) =
        sqlx::query_as("SELECT id, ref_no::text, kind, state, customer_id FROM work_orders")
            .fetch_one(&mut owner(&app).await)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), state.as_str(), customer), ("capacity_increase", "accepted", mine));
    let path = format!("/portal/applications/{ref_no}");
    assert_eq!(location(&r), format!("{path}?created=true"));
    let (_, page) = b.get_text(&format!("{path}?created=true")).await;
    assert!(page.contains("id=\"application-created\"") && page.contains("aria-current=\"step\""), "{page}");

    // Uploads: checked for the document, the type by content, the size and the form's token.
    let r = upload(&b, &ref_no, &[("document", "identity")], "id.pdf", b"<html><script>alert(1)</script>").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"file-error\""));
    let r = upload(&b, &ref_no, &[("document", "site_plan")], "plan.png", PNG).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "not a document of a capacity increase");
    assert!(r.text().await.unwrap().contains("id=\"document-error\""));
    let mut big = b"%PDF-1.4 ".to_vec();
    big.resize(gridcrm::work_orders::documents::MAX_BYTES + 1, b'x');
    let r = upload(&b, &ref_no, &[("document", "identity")], "big.pdf", &big).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("5 MB"));
    let forged = Browser { csrf: "not-the-token".into(), ..Browser::at(&b.base) };
    let forged = Browser { client: b.client.clone(), ..forged };
    assert_eq!(
        upload(&forged, &ref_no, &[("document", "identity")], "id.png", PNG).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count_all("application_documents").await, 0, "nothing refused is kept");
    let r = upload(&b, &ref_no, &[("document", "identity")], "C:\\photos\\身份证.png", PNG).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("{path}?uploaded=true#documents")));
    let document: Uuid =
        sqlx::query_scalar("SELECT id FROM application_documents").fetch_one(&mut owner(&app).await).await.unwrap();
    let (_, page) = b.get_text(&path).await;
    assert!(page.contains("身份证.png") && !page.contains("photos"), "{page}");
    let file = format!("{path}/documents/{document}");
    let r = b.get(&file).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = |r: &reqwest::Response, name: &str| r.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header(&r, "content-type"), "image/png");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(header(&r, "content-disposition").starts_with("attachment;"));
    assert!(header(&r, "content-security-policy").contains("sandbox"));
    assert_eq!(&r.bytes().await.unwrap()[..], PNG);

    // Another customer finds neither the application nor the document; a
    // second login of the same account sees the application (it is theirs
    // too) but not a document it did not upload.
    let stranger = registered(&app, other, "13800000002").await;
    assert_eq!(stranger.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stranger.get(&file).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        upload(&stranger, &ref_no, &[("document", "identity")], "id.png", PNG).await.status(),
        StatusCode::NOT_FOUND
    );
    let family = registered(&app, mine, "family@example.cn").await;
    let (status, page) = family.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("身份证.png"), "{page}");
    assert_eq!(family.get(&file).await.status(), StatusCode::NOT_FOUND);

    // The company's staff read it on the order; another company's do not.
    let staff = app.login(&app.alpha, "supervisor").await;
    let (_, order) = staff.get_text(&format!("/work-orders/{id}")).await;
    assert!(order.contains("id=\"uploads\"") && order.contains("身份证.png"), "{order}");
    let staff_file = format!("/work-orders/{id}/documents/{document}");
    let r = staff.get(&staff_file).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&r.bytes().await.unwrap()[..], PNG);
    let beta = app.login(&app.beta, "supervisor").await;
    assert_eq!(beta.get(&staff_file).await.status(), StatusCode::NOT_FOUND);

    // The customer follows the stages; a finished application takes no more documents.
    let documents = ["application_form", "identity", "property_proof", "load_list"];
    let mut review = vec![("action", "review")];
    review.extend(documents.iter().map(|d| ("documents", *d)));
    assert_eq!(staff.post(&format!("/work-orders/{id}/actions"), &review).await.status(), StatusCode::SEE_OTHER);
    let (_, page) = b.get_text(&path).await;
    assert!(page.contains("class=\"done current\" aria-current=\"step\">资料已审核"), "{page}");
    let r = staff.post(&format!("/work-orders/{id}/actions"), &[("action", "cancel"), ("comment", "客户撤回")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = b.get_text(&path).await;
    assert!(page.contains("此申请已取消") && !page.contains("enctype=\"multipart/form-data\""), "{page}");
    let r = upload(&b, &ref_no, &[("document", "load_list")], "loads.pdf", b"%PDF-1.4 list").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count_all("application_documents").await, 1);
}

#[tokio::test]
async fn an_accounts_portal_data_is_exported_and_goes_when_the_account_is_anonymised() {
    use gridcrm::staff::Role;
    let app = TestApp::spawn().await;
    let (closing, other) = (app.alpha.customers[0], app.alpha.customers[1]);
    let no = account_no(&app, closing).await;
    // One login has only this account; a family login has it and another.
    let solo = registered(&app, closing, "13912345678").await;
    let family = registered(&app, other, "family@example.cn").await;
    sqlx::query(
        "INSERT INTO portal_links (tenant_id, portal_user_id, customer_id)
         SELECT tenant_id, id, $1 FROM portal_users WHERE login = 'family@example.cn'",
    )
    .bind(closing)
    .execute(&mut owner(&app).await)
    .await
    .unwrap();
    let fields = [
        ("kind", "expansion"),
        ("account_no", no.as_str()),
        ("customer_type", "residential"),
        ("requested_capacity_kva", "8"),
    ];
    let r = solo.post("/portal/applications", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ref_no = location(&r).trim_start_matches("/portal/applications/").trim_end_matches("?created=true").to_owned();
    assert_eq!(
        upload(&solo, &ref_no, &[("document", "identity")], "身份证.png", PNG).await.status(),
        StatusCode::SEE_OTHER
    );

    // The export holds the portal's part, and never a password hash.
    let key = app.api_key(&app.alpha, Role::TenantAdmin).await;
    let client = reqwest::Client::new();
    let r = client.get(app.url(&format!("/api/v1/customers/{closing}/personal-data"))).bearer_auth(&key).send().await;
    let text = r.unwrap().text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let portal = &doc["data"]["portal"];
    let logins: Vec<&str> = portal["logins"].as_array().unwrap().iter().map(|l| l["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["13912345678", "family@example.cn"]);
    assert_eq!(portal["application_documents"][0]["file_name"], "身份证.png");
    assert_eq!(portal["application_documents"][0]["sha256"].as_str().unwrap().len(), 64);
    assert!(!text.contains("argon2") && !text.contains("password_hash"), "{text}");
    assert_eq!(doc["data"]["customer"]["account_no"], no.as_str(), "the rest of the export is still there");

    // Closed four years ago, then anonymised.
    for closed in ["status = 'closed'", "closed_at = now() - interval '4 years'"] {
        sqlx::query(&format!("UPDATE customers SET {closed} WHERE id = $1"))
            .bind(closing)
            .execute(&mut owner(&app).await)
            .await
            .unwrap();
    }
    let r = client.post(app.url(&format!("/api/v1/customers/{closing}/anonymise"))).bearer_auth(&key).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: serde_json::Value = r.json().await.unwrap();
    let rows = if done.get("rows").is_some() { &done["rows"] } else { &done };
    assert_eq!(
        (&rows["portal_links"], &rows["portal_logins_erased"], &rows["application_documents"]),
        (&2.into(), &1.into(), &1.into()),
        "{done}"
    );
    assert_eq!(app.count_all("application_documents").await, 0);
    assert_eq!(app.count_all("portal_users WHERE login = '13912345678'").await, 0, "the phone number is gone");
    assert_eq!(app.count_all("audit_log WHERE actor_label LIKE '%13912345678%'").await, 0, "nor in the audit");
    // The solo login is closed: its session ends and it cannot sign in again.
    assert_eq!(solo.get("/portal/home").await.status(), StatusCode::SEE_OTHER);
    let mut again = visitor(&app, "/portal/login/alpha").await;
    let r =
        again.post("/portal/login/alpha", &[("login", "13912345678"), ("password", "a long portal password")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    again.csrf.clear();
    // The family login keeps its other account only.
    let (status, home) = family.get_text("/portal/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains(&account_no(&app, other).await) && !home.contains(&no), "{home}");
}
