//! Loading data files and billing a period from the command line, with
//! progress bars on a terminal.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use clap::Subcommand;
use gridcrm::{
    audit::Actor,
    db::{self, Database},
};

use crate::cli::admin::{field_errors, tenant_id, tenants_or_every};

#[derive(Subcommand)]
pub enum ImportCommand {
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
    /// Customers with their contact, supply points and meters (one line per
    /// meter; the columns are in docs/import.md), in UTF-8 or GBK. One bad
    /// line loads nothing unless --partial is given; a re-run updates.
    Customers(crate::cli::onboarding::ImportCustomers),
}

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// Recompute the customer-months that changed since the last refresh (or
    /// everything, with --full), with a progress bar. Serve does the
    /// incremental refresh hourly.
    Refresh {
        /// One tenant's code (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Recompute every month from scratch.
        #[arg(long)]
        full: bool,
    },
}

pub async fn metrics_command(database: &Database, command: MetricsCommand) -> anyhow::Result<()> {
    use gridcrm::metrics::{self, Mode};
    let MetricsCommand::Refresh { tenant, full } = command;
    let tenants = tenants_or_every(database, tenant).await?;
    let mode = if full { Mode::Full } else { Mode::Incremental };
    for (id, slug) in tenants {
        let bar = progress_bar(0, if full { "steps" } else { "changes" });
        let shown = bar.clone();
        let progress = move |done: u64, total: u64| {
            shown.set_length(total);
            shown.set_position(done);
        };
        let report = metrics::refresh(&database.bulk, id, mode, &progress).await;
        bar.finish_and_clear();
        let report = report.with_context(|| format!("tenant {slug}"))?;
        println!(
            "{slug}: {} customer-months recomputed, {} removed ({:.1} s)",
            report.recomputed, report.removed, report.seconds
        );
    }
    Ok(())
}

pub async fn bill_run_command(
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
        match service::start_held(&database.bulk, tenant_id, &actor, &period, &route, &settings, &owner).await {
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
    let runner = jobs::worker::Runner { pool: database.bulk.clone(), settings, progress: Some(progress) };
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

pub async fn import_command(database: &Database, command: ImportCommand) -> anyhow::Result<()> {
    use gridcrm::readings::import;
    let (tenant, file, partial) = match command {
        ImportCommand::Readings { tenant, file, partial } => (tenant, file, partial),
        ImportCommand::Interval { tenant, file, partial } => {
            return import_interval(database, tenant, file, partial).await;
        }
        ImportCommand::Customers(args) => return crate::cli::onboarding::import_customers(database, args).await,
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
            let report = import::load(&database.bulk, tenant_id, None, &drafts, today, "import", partial, &i, &|n| {
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
        gridcrm::interval::load::Loader::begin(&database.bulk, tenant_id, partial, gridcrm::web::i18n::I18n(locale))
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
pub fn progress_bar(len: u64, what: &'static str) -> indicatif::ProgressBar {
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
