//! `gridcrm import customers` and `gridcrm export customers`: a company's
//! archive in and out as one CSV file (docs/import.md), with a progress bar.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gridcrm::{
    audit::Actor,
    db::Database,
    onboarding::service::{self, Progress},
    web::i18n::{I18n, Locale},
};

use crate::cli::{admin::tenant_id, data::progress_bar};

#[derive(Args)]
pub struct ImportCustomers {
    #[arg(long)]
    tenant: String,
    file: std::path::PathBuf,
    /// Load the good lines even when some are rejected.
    #[arg(long)]
    partial: bool,
}

#[derive(Subcommand)]
pub enum ExportCommand {
    /// The tenant's customers with their contact, supply points and meters,
    /// in the columns `import customers` reads (UTF-8 with a BOM, for Excel).
    Customers {
        #[arg(long)]
        tenant: String,
        /// The file to write (default: standard output).
        file: Option<std::path::PathBuf>,
    },
}

pub async fn import_customers(database: &Database, args: ImportCustomers) -> anyhow::Result<()> {
    let (tenant_id, _) = tenant_id(database, &args.tenant).await?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let locale = std::env::var("LANG").ok().and_then(|l| Locale::parse(&l)).unwrap_or_default();
    let zone: String = sqlx::query_scalar("SELECT time_zone FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(&database.app)
        .await?;
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let bar = progress_bar(bytes.len() as u64, "customers");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:14} [{bar:40}] {bytes}/{total_bytes} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let shown = bar.clone();
    // Each step's time at debug (GRIDCRM_LOG=warn,gridcrm::cli::onboarding=debug), for the
    // benchmark's breakdown: reading and staging, then each table.
    let step = std::sync::Mutex::new((std::time::Instant::now(), "reading and staging"));
    let log_step = |next: &'static str| {
        let mut step = step.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tracing::debug!(step = step.1, seconds = step.0.elapsed().as_secs_f64(), "import step done");
        *step = (std::time::Instant::now(), next);
    };
    let progress = |p: Progress| match p {
        Progress::Read { done, total } => {
            shown.set_length(total);
            shown.set_position(done);
        }
        Progress::Writing(table) => {
            log_step(table);
            shown.set_message(format!("writing {table}"));
        }
    };
    let started = std::time::Instant::now();
    let actor = Actor::command_line("import customers");
    let report =
        service::import(&database.bulk, tenant_id, &actor, &bytes, args.partial, today, &I18n(locale), &progress).await;
    log_step("(done)");
    bar.finish_and_clear();
    let report = report?;
    let a = &report.applied;
    println!(
        "{}: read {}, rejected {}; customers {} new, {} updated; contacts {} new, {} updated; supply points {} new, \
         {} updated; meters {} new, {} updated; installations {} new, {} moved ({:.1} s)",
        if report.encoding.is_empty() { "?" } else { &report.encoding },
        report.read,
        report.rejected,
        a.customers.added,
        a.customers.updated,
        a.contacts.added,
        a.contacts.updated,
        a.supply_points.added,
        a.supply_points.updated,
        a.meters.added,
        a.meters.updated,
        a.installations.added,
        a.installations.updated,
        started.elapsed().as_secs_f64()
    );
    for e in &report.errors {
        let field = if e.field.is_empty() { String::new() } else { format!(" {}:", e.field) };
        eprintln!("line {}:{field} {}", e.line, e.reason);
    }
    if !report.loaded {
        bail!("nothing was loaded: fix the lines above (or load the good ones with --partial)");
    }
    // The archive is in; now the search keys the import deferred. Stopped
    // half-way, a server's `search_keys` job writes the rest.
    let started = std::time::Instant::now();
    let bar = progress_bar(0, "search keys");
    let shown = bar.clone();
    let written =
        gridcrm::customers::service::write_deferred_search_keys(&database.bulk, tenant_id, &move |done, of| {
            shown.set_length(of);
            shown.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    println!("search keys of {} customers written ({:.1} s)", written?, started.elapsed().as_secs_f64());
    Ok(())
}

pub async fn export_command(database: &Database, command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Customers { tenant, file } = command;
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let started = std::time::Instant::now();
    let n = match &file {
        Some(path) => {
            let out = std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
            service::export(&database.bulk, tenant_id, std::io::BufWriter::with_capacity(1 << 20, out)).await?
        }
        None => service::export(&database.bulk, tenant_id, std::io::BufWriter::new(std::io::stdout())).await?,
    };
    eprintln!("{n} lines exported ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}
