//! The gridcrm command line: serve, demo, migrate, seed, and tenant, user and
//! API-key administration.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gridcrm::{
    AppState, app,
    audit::Actor,
    config::Config,
    db::{self, Database},
    seed,
    staff::{Role, db as staff_db, model},
    tenants::{self, TenantInput},
    web::error::FieldErrors,
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
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage staff users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
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
    /// Load data files.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
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
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Interval data (15/30-minute kW) from a CSV file `meter,ts,kw`, with a
    /// progress bar. One bad line rejects the file unless --partial is given.
    Interval {
        #[arg(long)]
        tenant: String,
        file: std::path::PathBuf,
        /// Load the good lines even when some are rejected.
        #[arg(long)]
        partial: bool,
    },
    /// Meter register readings from a CSV file with a header line. Columns:
    /// meter, read_on, total; optional period, kind, peak, flat, valley,
    /// reactive, max_demand_kw, rollover. One bad line rejects the file
    /// (nothing is loaded) unless --partial is given.
    Readings {
        #[arg(long)]
        tenant: String,
        file: std::path::PathBuf,
        /// Load the good lines even when some are rejected.
        #[arg(long)]
        partial: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with the default reference lists.
    Create {
        /// Company code used at login, e.g. "hangzhou".
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        time_zone: String,
        /// Leading digits of the tenant's account numbers.
        #[arg(long, default_value = "01")]
        account_prefix: String,
        /// The operator's own tenant, whose users may be platform admins.
        #[arg(long)]
        platform: bool,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        /// counter_staff, account_manager, supervisor, tenant_admin or platform_admin.
        #[arg(long)]
        role: String,
        /// Name shown in pages and the audit log (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key and print it once.
    Create {
        #[arg(long)]
        tenant: String,
        /// The role the key acts with.
        #[arg(long)]
        role: String,
        /// What the key is for, e.g. "95598 call centre".
        #[arg(long, default_value = "api")]
        name: String,
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
            serve(config, database, None).await
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
                seed::seed_demo(&database.app, customers, None, std::io::stderr().is_terminal()).await?;
                db::analyze(&database.owner_url).await?;
                true
            };
            serve(config, database, Some(seeded)).await
        }
        Command::Escalate => {
            let database = Database::open(&config, false).await?;
            let started = std::time::Instant::now();
            let report = gridcrm::service::escalation::run(&database.app, chrono::Utc::now()).await;
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
        Command::Seed { demo: _, customers, contacts, open_orders } => {
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
                seed::seed_demo(&database.app, customers, service, std::io::stderr().is_terminal()).await?;
                db::analyze(&database.owner_url).await?;
                print_logins();
                Ok(())
            }
            .await;
            database.close().await;
            result
        }
        Command::Tenant { command } => with_database(&config, |db| Box::pin(tenant_command(db, command))).await,
        Command::BillRun { tenant, period, route } => {
            let jobs = gridcrm::jobs::Settings::from_config(&config);
            with_database(&config, |db| Box::pin(bill_run_command(db, jobs, tenant, period, route))).await
        }
        Command::CostControl => {
            let database = Database::open(&config, false).await?;
            let report = gridcrm::cost_control::db::run_daily(&database.app).await;
            database.close().await;
            let (reviewed, orders) = report?;
            println!("cost control: {reviewed} agreements estimated, {orders} meter orders made");
            Ok(())
        }
        Command::LateFees => {
            let database = Database::open(&config, false).await?;
            let report = gridcrm::billing::late_fees::run(&database.app).await;
            database.close().await;
            let report = report?;
            println!("late fees accrued on {} bills, {} yuan", report.bills, report.amount);
            Ok(())
        }
        Command::Import { command } => with_database(&config, |db| Box::pin(import_command(db, command))).await,
        Command::User { command } => with_database(&config, |db| Box::pin(user_command(db, command))).await,
        Command::Apikey { command } => with_database(&config, |db| Box::pin(apikey_command(db, command))).await,
        Command::BenchTargets { tenant, out, samples } => {
            with_database(&config, |db| Box::pin(bench_targets(db, tenant, out, samples))).await
        }
    }
}

type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs an admin command against the database and always shuts it down after.
async fn with_database(config: &Config, f: impl for<'a> FnOnce(&'a Database) -> BoxFuture<'a>) -> anyhow::Result<()> {
    let database = Database::open(config, config.database_url.is_none()).await?;
    let result = f(&database).await;
    database.close().await;
    result
}

fn field_errors(what: &str, errors: &FieldErrors) -> anyhow::Error {
    let list: Vec<String> = errors.iter().map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.code)).collect();
    anyhow::anyhow!("{what}: {}", list.join(", "))
}

async fn tenant_command(database: &Database, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { slug, name, time_zone, account_prefix, platform } => {
            let input = TenantInput {
                slug: &slug,
                name: &name,
                time_zone: &time_zone,
                account_prefix: &account_prefix,
                is_platform: platform,
            };
            let valid = tenants::validate(&input).map_err(|e| field_errors("invalid tenant", &e))?;
            match tenants::create(&database.app, &valid, &Actor::command_line("tenant create")).await {
                Ok(id) => println!("created tenant {} ({id})", valid.slug),
                Err(tenants::CreateError::Invalid(e)) => {
                    return Err(field_errors("tenant not created", &e));
                }
                Err(tenants::CreateError::Db(e)) => return Err(e.into()),
            }
        }
        TenantCommand::List => {
            for t in tenants::list(&database.app).await? {
                println!(
                    "{:<20} {:<30} {}{}",
                    t.slug,
                    t.name,
                    t.time_zone,
                    if t.is_platform { " (platform)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    Ok(password)
}

async fn tenant_id(database: &Database, slug: &str) -> anyhow::Result<(uuid::Uuid, bool)> {
    let row = sqlx::query!("SELECT id, is_platform FROM tenants WHERE slug = $1", slug)
        .fetch_optional(&database.app)
        .await?
        .with_context(|| format!("no tenant with the code {slug:?}"))?;
    Ok((row.id, row.is_platform))
}

async fn bill_run_command(
    database: &Database,
    settings: gridcrm::jobs::Settings,
    tenant: String,
    period: String,
    route: String,
) -> anyhow::Result<()> {
    use gridcrm::{
        billing::{run, service},
        jobs,
    };
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let actor = Actor::command_line("bill-run");
    // The run is a job this command holds under a lease, like a server's
    // worker: no server bills it meanwhile, and one takes it over if we die.
    let owner = jobs::owner_id("bill-run");
    let (run_id, job) =
        match service::start_held(&database.app, tenant_id, &actor, &period, &route, &settings, &owner).await {
            Ok(started) => started,
            Err(gridcrm::web::error::AppError::Invalid(errors)) => return Err(field_errors("not started", &errors)),
            Err(err) => bail!("not started: {err}"),
        };
    let bar = progress_bar(0, "customers");
    let started = std::time::Instant::now();
    let shown = bar.clone();
    let progress: jobs::worker::Progress = std::sync::Arc::new(move |done, total| {
        shown.set_length(total);
        shown.set_position(done);
    });
    let runner = jobs::worker::Runner { pool: database.app.clone(), settings, progress: Some(progress) };
    let outcome = jobs::worker::process(&runner, job).await;
    bar.finish_and_clear();
    match outcome {
        jobs::worker::Outcome::Done => {}
        jobs::worker::Outcome::Retrying(err) => {
            bail!("run {run_id} failed: {err}; a server (gridcrm serve) will try it again")
        }
        jobs::worker::Outcome::Failed(err) => bail!("run {run_id} failed: {err}"),
        jobs::worker::Outcome::LeaseLost | jobs::worker::Outcome::Released => {
            bail!("run {run_id} was taken over by a server; its page shows how it goes: /billing/runs/{run_id}")
        }
    }
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let summary = run::summary(&mut tx, run_id).await?.with_context(|| format!("run {run_id} vanished"))?;
    tx.commit().await?;
    println!(
        "period {}: {} bills, {} kWh, {} yuan; skipped {}, already billed {} ({:.1} s; run {})",
        summary.period,
        summary.bills,
        summary.total_kwh,
        summary.total_amount,
        summary.skipped,
        summary.already,
        started.elapsed().as_secs_f64(),
        summary.id
    );
    if summary.skipped > 0 {
        println!("skipped customers and why: the run's page /billing/runs/{}", summary.id);
    }
    Ok(())
}

async fn import_command(database: &Database, command: ImportCommand) -> anyhow::Result<()> {
    use gridcrm::readings::import;
    let (tenant, file, partial) = match command {
        ImportCommand::Readings { tenant, file, partial } => (tenant, file, partial),
        ImportCommand::Interval { tenant, file, partial } => {
            return import_interval(database, tenant, file, partial).await;
        }
    };
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let locale = std::env::var("LANG").ok().and_then(|l| gridcrm::web::i18n::Locale::parse(&l)).unwrap_or_default();
    let i = gridcrm::web::i18n::I18n(locale);
    let report = match import::parse_csv(&bytes, &i) {
        Ok(drafts) => {
            let tz: chrono_tz::Tz = sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id)
                .fetch_one(&database.app)
                .await?
                .parse()
                .unwrap_or(chrono_tz::Asia::Shanghai);
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            let bar = progress_bar(drafts.len() as u64, "readings");
            let report = import::load(&database.app, tenant_id, None, &drafts, today, "import", partial, &i, &|n| {
                bar.set_position(n)
            })
            .await?;
            bar.finish_and_clear();
            report
        }
        Err(errors) => import::ImportReport { rejected: errors.len() as u64, errors, ..Default::default() },
    };
    println!(
        "read {}, loaded {}, replaced {}, flagged for review {}, rejected {}",
        report.read, report.loaded, report.replaced, report.flagged, report.rejected
    );
    for e in &report.errors {
        let field = if e.field.is_empty() { String::new() } else { format!(" {}:", e.field) };
        eprintln!("line {}:{field} {}", e.line, e.reason);
    }
    if report.rejected > 0 && report.loaded == 0 {
        bail!("nothing was loaded: fix the lines above (or load the good ones with --partial)");
    }
    Ok(())
}

async fn import_interval(
    database: &Database,
    tenant: String,
    file: std::path::PathBuf,
    partial: bool,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let locale = std::env::var("LANG").ok().and_then(|l| gridcrm::web::i18n::Locale::parse(&l)).unwrap_or_default();
    let handle = std::fs::File::open(&file).with_context(|| format!("reading {}", file.display()))?;
    let size = handle.metadata()?.len();
    let bar = progress_bar(size, "interval");
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:10} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut loader =
        gridcrm::interval::load::Loader::begin(&database.app, tenant_id, partial, gridcrm::web::i18n::I18n(locale))
            .await?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, handle);
    let mut line = String::new();
    let mut done = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        loader.line(line.trim_end_matches('\n')).await?;
        done += n as u64;
        if done % (1 << 20) < n as u64 {
            bar.set_position(done);
        }
    }
    bar.finish_and_clear();
    let report = loader.finish().await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "read {}, loaded {}, replaced {}, rejected {} ({:.1} s, {:.0} rows/s)",
        report.read,
        report.loaded,
        report.replaced,
        report.rejected,
        seconds,
        report.read as f64 / seconds.max(0.001)
    );
    for e in &report.errors {
        let field = if e.field.is_empty() { String::new() } else { format!(" {}:", e.field) };
        eprintln!("line {}:{field} {}", e.line, e.reason);
    }
    if report.rejected > 0 && report.loaded + report.replaced == 0 {
        bail!("nothing was loaded: fix the lines above (or load the good ones with --partial)");
    }
    Ok(())
}

/// A progress bar on a terminal; nothing when output goes to a file.
fn progress_bar(len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what);
    bar
}

async fn user_command(database: &Database, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create { tenant, username, role, display_name } = command;
    let (tenant_id, is_platform) = tenant_id(database, &tenant).await?;
    let mut errors = FieldErrors::default();
    let username = model::parse_username(&username, &mut errors);
    let role = Role::parse(&role);
    match role {
        None => errors.add("role", "unknown_code"),
        Some(Role::PlatformAdmin) if !is_platform => errors.add("role", "platform_role_outside_platform"),
        Some(Role::MeterSystem) => errors.add("role", "api_key_only_role"),
        Some(_) => {}
    }
    let password = read_password()?;
    model::check_password(&password, "password", &mut errors);
    if !errors.is_empty() {
        return Err(field_errors("user not created", &errors));
    }
    let role = role.unwrap_or(Role::CounterStaff);
    let display_name = display_name.unwrap_or_else(|| username.clone());
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let new = staff_db::NewUser {
        tenant_id,
        username: &username,
        display_name: &display_name,
        team: "",
        role,
        password: &password,
        locale: None,
    };
    gridcrm::staff::create_user(&mut tx, &Actor::command_line("user create"), new)
        .await?
        .with_context(|| format!("user {username} already exists"))?;
    tx.commit().await?;
    println!("created user {username} ({}) in {tenant}", role.as_str());
    Ok(())
}

async fn apikey_command(database: &Database, command: ApiKeyCommand) -> anyhow::Result<()> {
    let ApiKeyCommand::Create { tenant, role, name } = command;
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let role = Role::parse(&role).filter(|r| Role::API_KEY_ROLES.contains(r)).with_context(|| {
        let roles: Vec<_> = Role::API_KEY_ROLES.iter().map(|r| r.as_str()).collect();
        format!("--role {role:?} is not one of {}", roles.join(", "))
    })?;
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let key =
        gridcrm::staff::create_api_key(&mut tx, &Actor::command_line("apikey create"), tenant_id, &name, role).await?;
    tx.commit().await?;
    eprintln!("API key for {tenant} ({}); it is shown only this once:", role.as_str());
    println!("{key}");
    Ok(())
}

/// Samples the tenant's customers into the request paths the benchmark
/// replays: searches by each of the four keys, and customer pages.
async fn bench_targets(
    database: &Database,
    tenant: String,
    out: std::path::PathBuf,
    samples: i64,
) -> anyhow::Result<()> {
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let rows = sqlx::query!(
        r#"WITH sample AS (SELECT id, account_no, name, phone FROM customers TABLESAMPLE SYSTEM (2) LIMIT $1)
           SELECT DISTINCT ON (s.id) s.id AS "id!", s.account_no AS "account_no!", s.name AS "name!", s.phone, m.serial AS "serial?"
           FROM sample s
           LEFT JOIN supply_points p ON p.customer_id = s.id
           LEFT JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
           LEFT JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           ORDER BY s.id"#,
        samples
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    anyhow::ensure!(!rows.is_empty(), "tenant {tenant} has no customers to sample");
    let encode = |q: &str| gridcrm::web::error::urlencode(q);
    let mut searches = Vec::new();
    let mut pages = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        pages.push(format!("/customers/{}", row.id));
        // The four keys in turn; names by a two-character part, as clerks type them.
        let q = match n % 4 {
            0 => row.account_no.clone(),
            1 => {
                let chars: Vec<char> = row.name.chars().collect();
                let start = if chars.len() > 2 { 1 } else { 0 };
                chars[start..(start + 2).min(chars.len())].iter().collect()
            }
            2 => row.phone.clone().unwrap_or_else(|| row.account_no.clone()),
            _ => row.serial.clone().unwrap_or_else(|| row.account_no.clone()),
        };
        searches.push(format!("/customers?q={}", encode(&q)));
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("search.txt"), searches.join("\n") + "\n")?;
    std::fs::write(out.join("customers.txt"), pages.join("\n") + "\n")?;
    println!("wrote {} searches and {} customer pages to {}", searches.len(), pages.len(), out.display());
    Ok(())
}

fn print_logins() {
    let tenants: Vec<&str> = seed::DEMO_TENANTS.iter().map(|t| t.slug).collect();
    println!("Demo logins, password {}:", seed::DEMO_PASSWORD);
    println!("  {:<22} {:<11} who", "company code", "username");
    for (username, name, role) in seed::DEMO_STAFF {
        println!("  {:<22} {username:<11} {name} ({})", tenants.join(" or "), role.as_str());
    }
    println!("  {:<22} {:<11} platform admin", "platform", "root");
}

async fn serve(config: Config, database: Database, demo_seeded: Option<bool>) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(&config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let url = format!("http://{}", listener.local_addr()?);
    if demo_seeded.is_some() {
        print_logins();
    }
    println!("gridcrm is serving on {url}  (Ctrl-C stops it)");
    std::io::stdout().flush().ok();
    // Bill runs and the periodic jobs, shared with any other server process on this database.
    let workers =
        gridcrm::jobs::Workers::start(database.app.clone(), gridcrm::jobs::Settings::from_config(&config), true);
    let state = AppState::new(database.app.clone(), config);
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(workers.stop_signal()).await?;
    let stopped = workers.finish().await;
    database.close().await;
    println!("gridcrm stopped: requests in flight answered, {stopped}");
    Ok(())
}
