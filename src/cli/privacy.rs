//! `gridcrm customers anonymise --tenant S [--dry-run]`: anonymises every
//! closed account of a company whose retention period has passed, each in
//! its own transaction (audited like the page), with a progress bar.
//! `gridcrm retention run [--dry-run]`: removes interval data and audit
//! entries older than each company keeps them, and drops the monthly
//! interval partitions no company keeps any more.

use std::io::IsTerminal;

use clap::Subcommand;
use gridcrm::{
    audit::{self, Actor, Change},
    db::Database,
    privacy::{self, retention},
};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::cli::admin::tenant_id;

#[derive(Subcommand)]
pub enum CustomersCommand {
    /// Anonymise every closed account whose retention period has passed
    /// since closing (docs/privacy.md); bills and payments are kept.
    Anonymise {
        /// The company's code.
        #[arg(long)]
        tenant: String,
        /// List the accounts that are due and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn customers_command(database: &Database, command: CustomersCommand) -> anyhow::Result<()> {
    let CustomersCommand::Anonymise { tenant, dry_run } = command;
    let (id, _) = tenant_id(database, &tenant).await?;
    let now = chrono::Utc::now();
    let mut tx = gridcrm::db::begin_tenant(&database.bulk, id, None).await?;
    let years = privacy::db::retention_years(&mut tx).await?;
    let due = privacy::db::eligible(&mut tx, privacy::model::latest_closing(now, years)).await?;
    tx.commit().await?;
    if dry_run {
        for account in &due {
            println!("{}", account.account_no);
        }
        println!("{tenant}: {} closed accounts due (retention {years} years); nothing changed (--dry-run)", due.len());
        return Ok(());
    }
    let started = std::time::Instant::now();
    let bar = progress_bar(&tenant, due.len() as u64, "accounts");
    let actor = Actor::command_line("customers anonymise");
    let mut done = 0;
    for account in &due {
        let mut tx = gridcrm::db::begin_tenant(&database.bulk, id, None).await?;
        match privacy::service::anonymise(&mut tx, &actor, account.id, now).await {
            Ok(_) => {
                tx.commit().await?;
                done += 1;
            }
            // Reopened or anonymised by someone else meanwhile: skipped.
            Err(gridcrm::web::error::AppError::Conflict(code)) => {
                bar.println(format!("{}: skipped ({code})", account.account_no));
            }
            Err(other) => return Err(anyhow::anyhow!("{}: {other}", account.account_no)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{tenant}: {done} closed accounts anonymised (retention {years} years) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A progress bar on a terminal; nothing when output goes to a file.
fn progress_bar(label: &str, len: u64, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg:10}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{eta}} left)"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Remove each company's interval data and audit entries older than its
    /// retention settings (the /privacy page), and drop the monthly interval
    /// partitions no company keeps any more. Runs as the database owner.
    Run {
        /// Say what would be removed and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn retention_command(database: &Database, command: RetentionCommand) -> anyhow::Result<()> {
    let RetentionCommand::Run { dry_run } = command;
    let now = chrono::Utc::now();
    // The application role may not delete these rows nor drop partitions.
    let mut owner = PgConnection::connect(&database.owner_url).await?;
    let tenants = crate::cli::admin::tenants_or_every(database, None).await?;
    let mut settings = Vec::with_capacity(tenants.len());
    for (id, slug) in &tenants {
        let mut tx = begin_tenant(&mut owner, *id).await?;
        settings.push((*id, slug.clone(), privacy::db::retention_settings(&mut tx).await?));
        tx.commit().await?;
    }
    let cutoffs: Vec<_> = settings.iter().map(|(_, _, s)| retention::interval_cutoff(now, s.interval_years)).collect();
    // Rows older than the earliest cutoff go with their partitions below.
    let Some(earliest) = cutoffs.iter().min().copied() else {
        println!("no company: nothing to do");
        return Ok(());
    };
    let partitions = privacy::db::interval_partitions(&mut owner).await?;
    let names: Vec<String> = partitions.iter().map(|(name, _)| name.clone()).collect();
    let drop = retention::droppable(&names, &cutoffs);

    let verb = if dry_run { "would remove" } else { "removed" };
    let bar = progress_bar("retention", (settings.len() + drop.len()) as u64, "steps");
    let actor = Actor::command_line("retention run");
    for ((id, slug, set), cutoff) in settings.iter().zip(&cutoffs) {
        let audit_before = retention::audit_cutoff(now, set.audit_years);
        let mut tx = begin_tenant(&mut owner, *id).await?;
        let readings = privacy::db::expire_interval(&mut tx, earliest, *cutoff, !dry_run).await?;
        let entries = privacy::db::expire_audit(&mut tx, audit_before, !dry_run).await?;
        if !dry_run && readings + entries > 0 {
            let change = Change {
                action: "apply_retention",
                entity: "retention",
                entity_id: None,
                summary: format!("{readings} interval readings, {entries} audit entries"),
                before: None,
                after: Some(json!({
                    "interval_readings_removed": readings, "interval_kept_from": cutoff,
                    "audit_entries_removed": entries, "audit_kept_from": audit_before,
                })),
            };
            audit::record(&mut tx, &actor, change).await?;
        }
        tx.commit().await?;
        say(
            &bar,
            format!(
                "{slug}: {verb} {readings} interval readings before {} ({} years kept) and {entries} audit entries before {} ({} years kept)",
                cutoff.format("%Y-%m-%d"),
                set.interval_years,
                audit_before.format("%Y-%m-%d"),
                set.audit_years
            ),
        );
        bar.inc(1);
    }
    for name in &drop {
        let bytes = partitions.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
        if !dry_run {
            privacy::db::drop_interval_partition(&mut owner, name).await?;
        }
        let verb = if dry_run { "would drop" } else { "dropped" };
        say(&bar, format!("{verb} {name} ({:.1} MB), a month no company keeps", bytes as f64 / 1_048_576.0));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if dry_run {
        println!("nothing changed (--dry-run)");
    }
    owner.close().await?;
    Ok(())
}

/// A transaction on the owner's connection with the tenant set, so the
/// tenant policies (forced on the owner too) keep each company to its rows.
async fn begin_tenant(
    conn: &mut PgConnection,
    tenant: uuid::Uuid,
) -> anyhow::Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    let mut tx = conn.begin().await?;
    gridcrm::db::set_tenant(&mut tx, tenant, None).await?;
    Ok(tx)
}

/// A line of the report: above the progress bar on a terminal, else plain.
fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() { println!("{line}") } else { bar.println(line) }
}
