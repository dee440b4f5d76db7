//! Serving: the server with its background work, and the demo's logins.

use std::io::Write;

use anyhow::Context;
use gridcrm::{AppState, app, config::Config, db::Database, seed};

pub fn print_logins() {
    let tenants: Vec<&str> = seed::DEMO_TENANTS.iter().map(|t| t.slug).collect();
    println!("Demo logins, password {}:", seed::DEMO_PASSWORD);
    println!("  {:<22} {:<11} who", "company code", "username");
    for (username, name, role) in seed::DEMO_STAFF {
        println!("  {:<22} {username:<11} {name} ({})", tenants.join(" or "), role.as_str());
    }
    println!("  {:<22} {:<11} platform admin", "platform", "root");
}

pub async fn serve(mut config: Config, database: Database, demo_seeded: Option<bool>) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(&config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let url = format!("http://{}", listener.local_addr()?);
    let filled = gridcrm::customers::service::fill_name_initials(&database.bulk).await?;
    if filled > 0 {
        tracing::info!(customers = filled, "wrote the pinyin initials of names that had none");
    }
    if demo_seeded.is_some() {
        print_logins();
    }
    println!("gridcrm is serving on {url}  (Ctrl-C stops it)");
    std::io::stdout().flush().ok();
    // Bill runs and the periodic jobs, shared with any other server process on this database.
    let workers =
        gridcrm::jobs::Workers::start(database.bulk.clone(), gridcrm::jobs::Settings::from_config(&config), true);
    // Notice delivery, shared the same way (claims skip what another process holds).
    let dispatcher = gridcrm::notices::dispatch::Dispatcher::start(
        database.app.clone(),
        gridcrm::notices::dispatch::Settings::from_config(&config),
    )
    .context("starting the notice dispatcher")?;
    // The demo's portal pays through the stand-in gateway, unless a real one is set.
    let fake_gateway = (demo_seeded.is_some() && config.pay_gateway_url.is_none()).then(|| {
        let secret = gridcrm::web::password::random_token();
        config.pay_gateway_url = Some(format!("{url}{}", gridcrm::portal::fake_gateway::PATH));
        config.pay_gateway_merchant = Some("DEMO".into());
        config.pay_gateway_secret = Some(gridcrm::config::Secret::new(secret.clone()));
        gridcrm::portal::fake_gateway::router("DEMO", &secret)
    });
    let on_citus = crate::db::citus::is_distributed(&database.app).await?;
    let state = AppState::new(database.app.clone(), config).with_bulk_pool(database.bulk.clone()).on_citus(on_citus);
    let mut application = app(state);
    if let Some(gateway) = fake_gateway {
        println!("online payments in the portal ({url}/portal) go to a stand-in gateway at {url}/fake-pay");
        application = application.merge(gateway);
    }
    let service = application.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(workers.stop_signal()).await?;
    let (stopped, ()) = tokio::join!(workers.finish(), dispatcher.finish());
    database.close().await;
    println!("gridcrm stopped: requests in flight answered, {stopped}");
    Ok(())
}
