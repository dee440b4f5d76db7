//! `gridcrm customers anonymise --tenant S [--dry-run]`: anonymises every
//! closed account of a company whose retention period has passed, each in
//! its own transaction (audited like the page), with a progress bar.

use std::io::IsTerminal;

use clap::Subcommand;
use gridcrm::{audit::Actor, db::Database, privacy};

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
    let bar = progress_bar(&tenant, due.len() as u64);
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
fn progress_bar(tenant: &str, len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} accounts ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(tenant.to_owned());
    bar
}
