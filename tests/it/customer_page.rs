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
async fn counted_app(app: &TestApp) -> (WireCounter, Browser) {
    let mut url = url::Url::parse(&app.owner_url).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432)).parse().unwrap();
    let counter = WireCounter::start(target).await;
    url.set_port(Some(counter.addr.port())).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let pool = db::app_pool(url.as_str(), None, 1).await.expect("pool through the counter");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served =
        gridcrm::app(AppState::new(pool, support::config())).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    let mut browser = Browser {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        csrf: String::new(),
    };
    let response = browser.try_login(&app.alpha.slug, "counter", support::PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (counter, browser)
}

/// The most round trips the customer page may take, the caller's session included.
const CUSTOMER_PAGE_ROUND_TRIPS: usize = 30;

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
    assert!(trips <= CUSTOMER_PAGE_ROUND_TRIPS, "{trips} round trips, at most {CUSTOMER_PAGE_ROUND_TRIPS} expected");

    // The search page before a search: the session, and the class names.
    counter.reset();
    assert_eq!(browser.get("/customers").await.status(), StatusCode::OK);
    eprintln!("empty search page: {} round trips", counter.count());
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
