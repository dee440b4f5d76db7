//! The gridcrm command line: serve, demo, migrate, seed, and tenant, user and
//! API-key administration.

mod cli;

use std::io::IsTerminal;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use cli::{admin, bench, data, serve, value};
use gridcrm::{
    config::Config,
    db::{self, Database},
    seed,
};

#[derive(Parser)]
#[command(name = "gridcrm", version, about = "Customer-relationship server for electric power supply companies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web application and the API.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; env GRIDCRM_BIND).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Start everything for a demo: database, migrations, demo data (unless
    /// the database already holds data), and the server.
    Demo {
        #[arg(long)]
        bind: Option<String>,
        /// Customers in the first demo tenant.
        #[arg(long, default_value_t = 5000)]
        customers: u64,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Scale out on a Citus cluster.
    Citus {
        #[command(subcommand)]
        command: cli::citus::CitusCommand,
    },
    /// Escalate overdue contacts and work orders to supervisors once (serve
    /// does this every minute by itself).
    Escalate,
    /// Load data.
    Seed {
        /// Seed the demo tenants, staff and customers (an empty database only).
        #[arg(long, required = true)]
        demo: bool,
        /// Customers in the first demo tenant (the others get at most 3,000).
        #[arg(long, default_value_t = 5000)]
        customers: u64,
        /// Contacts in the first demo tenant (default: one per five customers).
        #[arg(long)]
        contacts: Option<i64>,
        /// Open work orders in the first demo tenant (default: one per twenty customers).
        #[arg(long)]
        open_orders: Option<i64>,
        /// Months of billing history (bills and payments) before the billed
        /// months (default: 30 up to 50,000 customers, else none).
        #[arg(long)]
        history: Option<u32>,
        /// Meters with 90 days of 15-minute interval data in each demo
        /// tenant: its largest customers' meters, at most this many (default:
        /// every meter of a customer of 315 kVA or more, in a tenant of up to
        /// 50,000 customers; none in a larger one; 0: none anywhere).
        #[arg(long)]
        interval_meters: Option<usize>,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: admin::TenantCommand,
    },
    /// Manage staff users.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: admin::ApiKeyCommand,
    },
    /// Bill a period: every active customer (or one route's) from the
    /// billable readings, with a progress bar. Running it again bills only
    /// the customers not yet billed.
    BillRun {
        #[arg(long)]
        tenant: String,
        /// The period, e.g. 2026-11.
        #[arg(long)]
        period: String,
        /// A reading route's code (default: all routes).
        #[arg(long, default_value = "")]
        route: String,
    },
    /// Accrue late fees on unpaid bills past due, once (serve does this hourly).
    LateFees,
    /// Estimate prepaid balances, warn and order disconnections, once (serve does this hourly).
    CostControl,
    /// Customer metrics (the monthly facts of every customer).
    Metrics {
        #[command(subcommand)]
        command: data::MetricsCommand,
    },
    /// Load analysis: abrupt-change warnings.
    Load {
        #[command(subcommand)]
        command: cli::load::LoadCommand,
    },
    /// Value tiers and the VIP list.
    Value {
        #[command(subcommand)]
        command: value::ValueCommand,
    },
    /// Credit ratings, the payment-method decision and the poor-credit list.
    Credit {
        #[command(subcommand)]
        command: cli::credit::CreditCommand,
    },
    /// Load forecasting: measure the forecasting methods on a load series, or refresh the stored forecasts.
    Forecast {
        #[command(subcommand)]
        command: cli::forecast::ForecastCommand,
    },
    /// Load data files.
    Import {
        #[command(subcommand)]
        command: data::ImportCommand,
    },
    /// Customer segments.
    Segments {
        #[command(subcommand)]
        command: cli::segments::SegmentsCommand,
    },
    /// Customers' personal information (PIPL).
    Customers {
        #[command(subcommand)]
        command: cli::privacy::CustomersCommand,
    },
    /// Data retention: interval data, audit log (docs/operations.md).
    Retention {
        #[command(subcommand)]
        command: cli::privacy::RetentionCommand,
    },
    /// Write data files.
    Export {
        #[command(subcommand)]
        command: cli::onboarding::ExportCommand,
    },
    /// Write the request paths the benchmark replays (see BENCHMARKS.md).
    #[command(hide = true)]
    BenchTargets {
        #[arg(long, default_value = "hangzhou")]
        tenant: String,
        /// Folder for search.txt and customers.txt.
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 2000)]
        samples: i64,
    },
    /// Portal logins with open sessions for sampled customers, for the
    /// portal benchmark (see scripts/bench-portal).
    #[command(hide = true)]
    BenchPortalLogins {
        #[arg(long, default_value = "hangzhou")]
        tenant: String,
        /// Folder for portal-sessions.txt and portal-ceiling.txt.
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 2000)]
        count: i64,
    },
    /// Serve the benchmark's ceiling: one customer by account number, one
    /// indexed query, no session or layers (see scripts/bench-ceiling).
    #[command(hide = true)]
    BenchCeiling {
        #[arg(long, default_value = "hangzhou")]
        tenant: String,
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: String,
        /// Pooled connections (as the server's GRIDCRM_MAX_CONNECTIONS).
        #[arg(long, default_value_t = 32)]
        connections: u32,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRIDCRM_LOG")
                .unwrap_or_else(|_| "gridcrm=info,tower_http=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; a log file or pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load().context("loading configuration")?;
    match cli.command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            // The embedded cluster is ours to migrate; a shared server is migrated by `gridcrm migrate`.
            let migrate = config.database_url.is_none();
            let database = Database::open(&config, migrate).await?;
            serve::serve(config, database, None).await
        }
        Command::Demo { bind, customers } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            let database = Database::open(&config, true).await?;
            let seeded = if seed::has_data(&database.app).await? {
                eprintln!("The database already holds data; the demo data was not seeded again.");
                false
            } else {
                seed::seed_demo(&database.bulk, customers, None, None, None, std::io::stderr().is_terminal()).await?;
                db::analyze(&database.owner_url).await?;
                true
            };
            serve::serve(config, database, Some(seeded)).await
        }
        Command::Escalate => {
            let database = Database::open(&config, false).await?;
            let started = std::time::Instant::now();
            let report = gridcrm::service::escalation::run(&database.bulk, chrono::Utc::now()).await;
            database.close().await;
            let report = report?;
            println!(
                "escalated {} contacts and {} work orders in {} tenants ({:.2} s)",
                report.contacts,
                report.work_orders,
                report.tenants,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Migrate => {
            let database = Database::open(&config, true).await?;
            let filled = gridcrm::customers::service::fill_name_initials(&database.bulk).await?;
            if filled > 0 {
                println!("wrote the pinyin initials of {filled} customers' names");
            }
            let status = gridcrm::platform::migration_status(&database.app).await?;
            for m in &status {
                println!(
                    "{:>4} {:<40} {}",
                    m.version,
                    m.description,
                    if m.applied_at.is_some() { "applied" } else { "pending" }
                );
            }
            database.close().await;
            Ok(())
        }
        Command::Citus { command } => cli::citus::citus_command(&config, command).await,
        Command::Seed { demo: _, customers, contacts, open_orders, history, interval_meters } => {
            let service = (contacts.is_some() || open_orders.is_some()).then(|| {
                let mut plan = seed::service::ServicePlan::for_customers(customers);
                if let Some(n) = contacts {
                    plan.contacts = n.max(0);
                    plan.open_contacts = (n / 50).max(1).min(plan.contacts);
                    plan.completed_orders = plan.completed_orders.max(n / 10);
                }
                if let Some(n) = open_orders {
                    plan.open_orders = n.max(0);
                }
                plan
            });
            let database = Database::open(&config, true).await?;
            let result = async {
                if seed::has_data(&database.app).await? {
                    bail!("the database already holds data; demo seeding needs an empty database (e.g. GRIDCRM_DATA_DIR=./data-bench)");
                }
                seed::seed_demo(&database.bulk, customers, service, history, interval_meters, std::io::stderr().is_terminal()).await?;
                let started = std::time::Instant::now();
                db::analyze(&database.owner_url).await?;
                tracing::info!(seconds = started.elapsed().as_secs_f64(), "analysed the database");
                serve::print_logins();
                Ok(())
            }
            .await;
            database.close().await;
            result
        }
        Command::Tenant { command } => {
            admin::with_database(&config, |db| Box::pin(admin::tenant_command(db, command))).await
        }
        Command::BillRun { tenant, period, route } => {
            let jobs = gridcrm::jobs::Settings::from_config(&config);
            admin::with_database(&config, |db| Box::pin(data::bill_run_command(db, jobs, tenant, period, route))).await
        }
        Command::Segments { command } => {
            admin::with_database(&config, |db| Box::pin(cli::segments::segments_command(db, command))).await
        }
        Command::Customers { command } => {
            admin::with_database(&config, |db| Box::pin(cli::privacy::customers_command(db, command))).await
        }
        Command::Retention { command } => {
            admin::with_database(&config, |db| Box::pin(cli::privacy::retention_command(db, command))).await
        }
        Command::CostControl => {
            let database = Database::open(&config, false).await?;
            let report = gridcrm::cost_control::db::run_daily(&database.bulk).await;
            database.close().await;
            let (reviewed, orders) = report?;
            println!("cost control: {reviewed} agreements estimated, {orders} meter orders made");
            Ok(())
        }
        Command::LateFees => {
            let database = Database::open(&config, false).await?;
            let report = gridcrm::billing::late_fees::run(&database.bulk).await;
            database.close().await;
            let report = report?;
            println!("late fees accrued on {} bills, {} yuan", report.bills, report.amount);
            Ok(())
        }
        Command::Metrics { command } => {
            admin::with_database(&config, |db| Box::pin(data::metrics_command(db, command))).await
        }
        Command::Load { command } => {
            admin::with_database(&config, |db| Box::pin(cli::load::load_command(db, command))).await
        }
        Command::Value { command } => {
            admin::with_database(&config, |db| Box::pin(value::value_command(db, command))).await
        }
        Command::Credit { command: cli::credit::CreditCommand::Calibrate { csv: Some(csv), label, test, .. } } => {
            cli::credit::calibrate_csv(&csv, &label.unwrap_or_default(), test.as_ref())
        }
        Command::Credit { command } => {
            admin::with_database(&config, |db| Box::pin(cli::credit::credit_command(db, command))).await
        }
        Command::Forecast { command: cli::forecast::ForecastCommand::Refresh { tenant, day } } => {
            admin::with_database(&config, |db| Box::pin(cli::forecast::refresh_command(db, tenant, day))).await
        }
        Command::Forecast { command } => cli::forecast::forecast_command(command),
        Command::Import { command } => {
            admin::with_database(&config, |db| Box::pin(data::import_command(db, command))).await
        }
        Command::User { command } => {
            admin::with_database(&config, |db| Box::pin(admin::user_command(db, command))).await
        }
        Command::Apikey { command } => {
            admin::with_database(&config, |db| Box::pin(admin::apikey_command(db, command))).await
        }
        Command::BenchTargets { tenant, out, samples } => {
            admin::with_database(&config, |db| Box::pin(bench::bench_targets(db, tenant, out, samples))).await
        }
        Command::BenchPortalLogins { tenant, out, count } => {
            admin::with_database(&config, |db| Box::pin(bench::bench_portal_logins(db, tenant, out, count))).await
        }
        Command::BenchCeiling { tenant, bind, connections } => {
            admin::with_database(&config, |db| Box::pin(bench::bench_ceiling(db, tenant, bind, connections))).await
        }
        Command::Export { command } => {
            admin::with_database(&config, |db| Box::pin(cli::onboarding::export_command(db, command))).await
        }
    }
}
