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

pub async fn serve(config: Config, database: Database, demo_seeded: Option<bool>) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(&config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(database.app.clone(), config);
    if demo_seeded.is_some() {
        print_logins();
    }
    println!("gridcrm is serving on {url}  (Ctrl-C stops it)");
    std::io::stdout().flush().ok();
    let escalation = tokio::spawn(gridcrm::service::escalation::run_periodically(
        database.app.clone(),
        std::time::Duration::from_secs(60),
    ));
    let cost_control = tokio::spawn(gridcrm::cost_control::db::run_periodically(
        database.app.clone(),
        std::time::Duration::from_secs(3600),
    ));
    let late_fees = tokio::spawn(gridcrm::billing::late_fees::run_periodically(
        database.app.clone(),
        std::time::Duration::from_secs(3600),
    ));
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown_signal()).await?;
    escalation.abort();
    late_fees.abort();
    cost_control.abort();
    database.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
