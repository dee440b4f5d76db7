//! The customer page: its database round trips (counted on the wire, so a
//! regression fails), its banner of what matters now, and its print view.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use gridcrm::{AppState, db};
use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::support::{self, Browser, TestApp};
use sqlx::Connection;

/// A TCP proxy in front of PostgreSQL that counts the client's round trips:
/// every Sync (the end of an extended-protocol exchange, also sqlx's ping)
/// and every simple Query is one wait for the server.
struct WireCounter {
    addr: SocketAddr,
    round_trips: Arc<AtomicUsize>,
}

impl WireCounter {
    async fn start(target: SocketAddr) -> WireCounter {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let round_trips = Arc::new(AtomicUsize::new(0));
        let counter = round_trips.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let server = TcpStream::connect(target).await.unwrap();
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
                    let _ = forward_counting(&mut client_read, &mut server_write, &counter).await;
                });
            }
        });
        WireCounter { addr, round_trips }
    }

    fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }
}

/// Copies the frontend's messages to the server, counting Sync and Query.
async fn forward_counting(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    // Until the startup message, messages have no type byte (an SSL or GSS
    // request may come first).
    let mut started = false;
    loop {
        let mut kind = [0u8; 1];
        if started {
            from.read_exact(&mut kind).await?;
        }
        let mut len = [0u8; 4];
        from.read_exact(&mut len).await?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        from.read_exact(&mut body).await?;
        if started {
            to.write_all(&kind).await?;
            if kind[0] == b'S' || kind[0] == b'Q' {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            // ROUND_TRIPS_LOG=1 shows what the application sends.
            if std::env::var_os("ROUND_TRIPS_LOG").is_some() && matches!(kind[0], b'P' | b'Q' | b'S' | b'B') {
                let text = String::from_utf8_lossy(&body).replace('\0', " ");
                eprintln!("{} {}", kind[0] as char, text.chars().take(110).collect::<String>());
            }
        } else {
            let code = u32::from_be_bytes(body[..4].try_into().unwrap());
            started = code != 80877103 && code != 80877104;
        }
        to.write_all(&len).await?;
        to.write_all(&body).await?;
    }
}

/// The application again, on a pool of one connection through the counter.
/// On a Citus cluster the session is looked up in a transaction of its own
/// (`web::auth::look_up`): two round trips more, [`CITUS_SESSION_TRIPS`].
async fn counted_app(app: &TestApp) -> (WireCounter, Browser) {
    let mut url = url::Url::parse(&app.owner_url).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432)).parse().unwrap();
    let counter = WireCounter::start(target).await;
    url.set_port(Some(counter.addr.port())).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let pool = db::app_pool(url.as_str(), None, 1).await.expect("pool through the counter");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let on_citus = db::citus::is_distributed(&pool).await.unwrap();
    let served = gridcrm::app(AppState::new(pool, support::config()).on_citus(on_citus))
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    let mut browser = Browser::at(&format!("http://{addr}"));
    let response = browser.try_login(&app.alpha.slug, "counter", support::PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (counter, browser)
}

/// The most round trips the customer page may take, the caller's session
/// included: the session, the pool's check, the transaction's start (with
/// the tenant), the page's one statement (the customer and every section's
/// list, `customers::page_db`), the commit, and the pool's check when the
/// connection is given back. It was 18 while each section was a statement
/// of its own, and 30 before that. The same for an account manager (who
/// also sees the value section); one who plans visits for others adds one
/// statement, the list of account managers.
const CUSTOMER_PAGE_ROUND_TRIPS: usize = 6;

/// The BEGIN and COMMIT around the session's look-up on a Citus cluster.
const CITUS_SESSION_TRIPS: usize = 2;

#[tokio::test]
async fn the_customer_page_takes_a_handful_of_round_trips() {
    let app = TestApp::spawn().await;
    let (counter, browser) = counted_app(&app).await;
    let path = format!("/customers/{}", app.alpha.customers[0]);
    // Warm: statements are prepared once per connection.
    for _ in 0..2 {
        assert_eq!(browser.get(&path).await.status(), StatusCode::OK);
    }
    counter.reset();
    let (status, page) = browser.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("王建国"));
    let trips = counter.count();
    eprintln!("customer page: {trips} round trips");
    let most = CUSTOMER_PAGE_ROUND_TRIPS + if app.on_citus { CITUS_SESSION_TRIPS } else { 0 };
    assert!(trips <= most, "{trips} round trips, at most {most} expected");

    // An account manager's page reads the value section in the same statement.
    let mut manager = Browser::at(&browser.base);
    assert_eq!(manager.try_login(&app.alpha.slug, "manager", support::PASSWORD).await.status(), StatusCode::SEE_OTHER);
    for _ in 0..2 {
        assert_eq!(manager.get(&path).await.status(), StatusCode::OK);
    }
    counter.reset();
    let (status, page) = manager.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"value\""), "the manager sees the value section");
    let trips = counter.count();
    eprintln!("customer page, account manager: {trips} round trips");
    assert!(trips <= most, "{trips} round trips, at most {most} expected");

    // The search page before a search: the session, and the class names.
    counter.reset();
    assert_eq!(browser.get("/customers").await.status(), StatusCode::OK);
    eprintln!("empty search page: {} round trips", counter.count());
}

/// The most round trips a portal customer's home may take: one statement
/// for the session and the accounts (migration 0065), and the pool's check
/// of the connection when it is given back. It was nine while the session
/// took a transaction of its own, six while the accounts did, and four while
/// the session and the accounts were two statements.
const PORTAL_HOME_ROUND_TRIPS: usize = 2;

#[tokio::test]
async fn the_portal_home_takes_a_handful_of_round_trips() {
    let app = TestApp::spawn().await;
    let (counter, staff) = counted_app(&app).await;
    let customer = app.alpha.customers[0];
    let signed_in = crate::portal::registered(&app, customer, "13912345678").await;
    // The same customer's cookies (cookies are not kept apart by port) on the counted server.
    let phone = Browser { base: staff.base.clone(), client: signed_in.client.clone(), csrf: signed_in.csrf.clone() };
    for _ in 0..2 {
        assert_eq!(phone.get("/portal/home").await.status(), StatusCode::OK);
    }
    counter.reset();
    let (status, page) = phone.get_text("/portal/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&crate::portal::account_no(&app, customer).await), "the home lists the linked account");
    let trips = counter.count();
    eprintln!("portal home: {trips} round trips");
    assert!(trips <= PORTAL_HOME_ROUND_TRIPS, "{trips} round trips, at most {PORTAL_HOME_ROUND_TRIPS} expected");
}

/// A malformed id in a path gets the normal error page (in the user's
/// language, no axum text) or, under /api/v1, a problem document naming it.
#[tokio::test]
async fn malformed_ids_get_the_error_page_or_a_problem() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    for path in [
        "/bills/zzz",
        "/customers/zzz",
        "/contacts/zzz",
        "/work-orders/zzz",
        "/payments/zzz/receipt",
        "/customers/zzz/contacts/yyy/delete",
        "/accounts/visits/zzz",
        "/admin/service-settings/days/2026-13-45/remove",
    ] {
        let r = clerk.get(path).await;
        let status = r.status();
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        let html = r.text().await.unwrap();
        eprintln!("{path}: {status} {kind}");
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(
            html.contains("<html") && !html.contains("Invalid URL") && !html.contains("Cannot parse"),
            "{path}: {html}"
        );
    }
    let key = app.api_key(&app.alpha, gridcrm::staff::Role::Supervisor).await;
    for path in ["/api/v1/customers/zzz", "/api/v1/bills/zzz", "/api/v1/work-orders/zzz", "/api/v1/contacts/zzz"] {
        let r = reqwest::Client::new().get(app.url(path)).bearer_auth(&key).send().await.unwrap();
        let status = r.status();
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        let body = r.text().await.unwrap();
        eprintln!("{path}: {status} {kind} {body}");
        assert!(status.is_client_error(), "{path}: {status}");
        assert_eq!(kind, "application/problem+json", "{path}");
        assert!(!body.contains("Invalid URL") && !body.contains("Cannot parse"), "{path}: {body}");
    }
}

/// The banner says what matters now: arrears and their overdue part, cost
/// control, the poor-credit list, open complaints, outage-sensitive.
#[tokio::test]
async fn the_banner_shows_what_matters_now() {
    let app = TestApp::spawn().await;
    let clerk = app.login(&app.alpha, "counter").await;
    let quiet = app.alpha.customers[1];
    let (_, page) = clerk.get_text(&format!("/customers/{quiet}")).await;
    assert!(page.contains("id=\"banner\"") && page.contains("无欠费，无未办结事项。"), "a calm banner");

    let busy = app.alpha.customers[0];
    let mut conn = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    let tenant = app.alpha.id;
    // Two issued bills: one past due (120.00 open), one not yet due (80.50 open).
    for (n, due, amount) in [(1, "2020-02-15", "120.00"), (2, "2099-01-15", "80.50")] {
        sqlx::query(
            "INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on, energy_kwh, amount, status)
             VALUES ($1, $2, $3, $4, $5::date, 'res_tiered', '2020-01-31', $6::date, 100, $7::numeric, 'issued')",
        )
        .bind(tenant)
        .bind(uuid::Uuid::now_v7())
        .bind(format!("B-BANNER-{n}"))
        .bind(busy)
        .bind(if n == 1 { "2020-01-01" } else { "2098-12-01" })
        .bind(due)
        .bind(amount)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO cost_control_agreements (tenant_id, customer_id, started_on, balance, standing, connected)
         VALUES ($1, $2, '2020-01-01', 3.20, 'low', true)",
    )
    .bind(tenant)
    .bind(busy)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO poor_credit_list (tenant_id, id, customer_id, entered_on, entry_reason, entered_by, manual_entry)
         VALUES ($1, $2, $3, '2020-01-01', 'theft', 'test', false)",
    )
    .bind(tenant)
    .bind(uuid::Uuid::now_v7())
    .bind(busy)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("INSERT INTO customer_tags (tenant_id, customer_id, tag_code) VALUES ($1, $2, 'outage_sensitive')")
        .bind(tenant)
        .bind(busy)
        .execute(&mut conn)
        .await
        .unwrap();
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let r = supervisor
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hall"),
                ("subject", "billing"),
                ("customer_id", &busy.to_string()),
                ("caller_name", "王建国"),
                ("description", "电费异常"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());

    let (status, page) = clerk.get_text(&format!("/customers/{busy}")).await;
    assert_eq!(status, StatusCode::OK);
    let banner = &page[page.find("id=\"banner\"").unwrap()..];
    let banner = &banner[..banner.find("</section>").unwrap()];
    let order: Vec<usize> = [
        "data-code=\"overdue\"",
        "data-code=\"poor_credit\"",
        "data-code=\"arrears\"",
        "data-code=\"cost_control_low\"",
        "data-code=\"open_complaints\"",
        "data-code=\"outage_sensitive\"",
    ]
    .iter()
    .map(|code| banner.find(code).unwrap_or_else(|| panic!("{code} in {banner}")))
    .collect();
    assert!(order[0] < order[2] && order[1] < order[2], "danger items first: {banner}");
    assert!(banner.contains("逾期欠费 <strong>¥120.00</strong>"), "{banner}");
    assert!(banner.contains("欠费 <strong>¥200.50</strong>"), "{banner}");
    assert!(banner.contains("未办结投诉 <strong>1</strong>"), "{banner}");
    assert!(banner.contains("费控余额不足") && banner.contains("在失信名单中") && banner.contains("停电敏感"));
}

/// The State Council's holidays and make-up days are every new company's
/// from the start: a clock over 国庆 skips the holiday week and counts the
/// make-up Saturday.
#[tokio::test]
async fn national_holidays_ship_with_every_company_and_move_the_clocks() {
    let app = TestApp::spawn().await;
    let mut tx = db::begin_tenant(&app.pool, app.alpha.id, None).await.unwrap();
    let days = gridcrm::sla::settings::calendar_days(&mut tx).await.unwrap();
    let kind = |day: &str| days.iter().find(|d| d.day.to_string() == day).map(|d| (d.kind.clone(), d.name.clone()));
    assert_eq!(kind("2026-02-17"), Some(("holiday".into(), "春节".into())));
    assert_eq!(kind("2026-02-14"), Some(("working".into(), "春节调休上班".into())));
    assert_eq!(kind("2025-10-08"), Some(("holiday".into(), "国庆节、中秋节".into())));
    let rules = gridcrm::sla::settings::load_rules(&mut tx, chrono_tz::Asia::Shanghai).await.unwrap();
    tx.commit().await.unwrap();
    use chrono::TimeZone;
    let at =
        |d, h, m| chrono_tz::Asia::Shanghai.with_ymd_and_hms(2026, 9, d, h, m, 0).unwrap().with_timezone(&chrono::Utc);
    // Received on Wednesday 30 September at 16:30: one working hour left
    // that day; 1 to 7 October are holidays; so two working days (7.5 h
    // each) end on Friday 9 October at 16:30, not on 2 October.
    let due = rules.calendar.add(at(30, 16, 30), chrono::Duration::minutes(2 * 450));
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    };
    assert_eq!(local(due), "2026-10-09 16:30");
    // From then, one working day ends on the make-up Saturday, 10 October, not on Monday.
    assert_eq!(local(rules.calendar.add(due, chrono::Duration::minutes(450))), "2026-10-10 16:30");
    // The company edits its copy; other companies keep theirs.
    let admin = app.login(&app.alpha, "admin").await;
    let r = admin.post("/admin/service-settings/days/2026-10-10/remove", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut other = db::begin_tenant(&app.pool, app.beta.id, None).await.unwrap();
    let beta_days = gridcrm::sla::settings::calendar_days(&mut other).await.unwrap();
    assert!(beta_days.iter().any(|d| d.day.to_string() == "2026-10-10"));
}

/// The platform admin creates a new company's first administrator, with a
/// confirmation; the administrator can then sign in. A company that has one
/// is refused.
#[tokio::test]
async fn the_platform_admin_creates_a_companys_first_administrator() {
    let app = TestApp::spawn().await;
    let root = crate::validation::platform_admin(&app).await;
    let r = root
        .post(
            "/platform/tenants",
            &[("slug", "fuyang"), ("name", "富阳供电公司"), ("time_zone", "Asia/Shanghai"), ("account_prefix", "33")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = gridcrm::tenants::find_by_slug(&app.pool, "fuyang").await.unwrap().unwrap();
    let (status, page) = root.get_text("/platform/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/platform/tenants/{id}/admin")));
    let form = format!("/platform/tenants/{id}/admin");
    let (_, page) = root.get_text(&form).await;
    assert!(page.contains("富阳供电公司") && page.contains("data-confirm="), "{page}");

    // Without the confirmation, or with passwords that differ, nothing is created.
    let fields = |confirm: bool, again: &'static str| {
        let mut f = vec![
            ("username", "chief"),
            ("display_name", "陈主任"),
            ("password", "a long enough secret"),
            ("password_confirm", again),
        ];
        if confirm {
            f.push(("confirm", "yes"));
        }
        f
    };
    let r = root.post(&form, &fields(false, "a long enough secret")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"confirm-error\""), "{page}");
    let r = root.post(&form, &fields(true, "another secret!")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"password_confirm-error\""));
    assert_eq!(
        app.count_all(
            "users WHERE role = 'tenant_admin' AND tenant_id = (SELECT id FROM tenants WHERE slug = 'fuyang')"
        )
        .await,
        0
    );

    let r = root.post(&form, &fields(true, "a long enough secret")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = root.get_text(&support::location(&r)).await;
    assert!(page.contains("id=\"admin-created\"") && page.contains("chief") && page.contains("fuyang"), "{page}");
    // Audited in the company's own log, by the platform admin.
    let mut conn = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    let (label, entity): (String, String) = sqlx::query_as(
        "SELECT actor_label, entity FROM audit_log WHERE tenant_id = $1 AND action = 'create' AND entity = 'user'",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((label.as_str(), entity.as_str()), ("root", "user"));
    // The administrator signs in to the new company.
    let mut chief = app.anonymous();
    assert_eq!(chief.try_login("fuyang", "chief", "a long enough secret").await.status(), StatusCode::SEE_OTHER);
    // A second "first" administrator is refused.
    let r = root.post(&form, &fields(true, "a long enough secret")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Not for the platform's own tenant, nor an unknown one.
    assert_eq!(
        root.get(&format!("/platform/tenants/{}/admin", uuid::Uuid::now_v7())).await.status(),
        StatusCode::NOT_FOUND
    );
    // A tenant admin cannot.
    let admin = app.login(&app.alpha, "admin").await;
    assert_eq!(admin.get(&form).await.status(), StatusCode::FORBIDDEN);
}

/// Complaints are in the audit log (registered, then each step), and the
/// audit page shows translated values and system actors, not codes.
#[tokio::test]
async fn the_audit_log_records_complaints_in_words() {
    let app = TestApp::spawn().await;
    let supervisor = app.login(&app.alpha, "supervisor").await;
    let customer = app.alpha.customers[0].to_string();
    let r = supervisor
        .post(
            "/contacts",
            &[
                ("kind", "complaint"),
                ("channel", "hotline"),
                ("subject", "billing"),
                ("customer_id", &customer),
                ("caller_name", "王建国"),
                ("description", "电费异常"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = support::location(&r);
    let contact = location.split(['?', '#']).next().unwrap();
    let r = supervisor.post(&format!("{contact}/actions"), &[("action", "acknowledge"), ("comment", "")]).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let mut conn = sqlx::PgConnection::connect(&app.owner_url).await.unwrap();
    let actions: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM audit_log WHERE tenant_id = $1 AND entity = 'contact' ORDER BY at")
            .bind(app.alpha.id)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(actions.into_iter().map(|a| a.0).collect::<Vec<_>>(), ["create", "acknowledge"]);
    // A role change and a system actor, as the audit page shows them.
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, id, actor_label, action, entity, summary, before, after)
         VALUES ($1, $2, 'escalation job', 'update', 'user', 'counter', '{\"role\": \"counter_staff\"}', '{\"role\": \"supervisor\"}')",
    )
    .bind(app.alpha.id)
    .bind(uuid::Uuid::now_v7())
    .execute(&mut conn)
    .await
    .unwrap();
    let admin = app.login(&app.alpha, "admin").await;
    let (status, page) = admin.get_text("/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    for words in ["超时自动升级", "营业厅柜员", "客户诉求", "投诉", "95598 热线"] {
        assert!(page.contains(words), "{words} on the audit page");
    }
    for code in ["escalation job", "counter_staff", ">complaint<", ">hotline<"] {
        assert!(!page.contains(code), "{code} on the audit page");
    }
}
