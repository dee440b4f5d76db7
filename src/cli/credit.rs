//! `gridcrm credit rate [--tenant SLUG]`: rate every customer of one tenant
//! or of every tenant.

use clap::Subcommand;
use gridcrm::db::Database;

use crate::cli::{admin::tenants_or_every, data::progress_bar};

#[derive(Subcommand)]
pub enum CreditCommand {
    /// Rate every active customer from the last 24 months (again this month: replaces this month's rating).
    Rate {
        /// A company code (default: every company).
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn credit_command(database: &Database, command: CreditCommand) -> anyhow::Result<()> {
    match command {
        CreditCommand::Rate { tenant } => rate(database, tenant).await,
    }
}

async fn rate(database: &Database, tenant: Option<String>) -> anyhow::Result<()> {
    for (id, slug) in tenants_or_every(database, tenant).await? {
        let started = std::time::Instant::now();
        let bar = progress_bar(0, "customers");
        let shown = bar.clone();
        let progress = move |done: u64, total: u64| {
            shown.set_length(total);
            shown.set_position(done);
        };
        let report = gridcrm::credit::db::rate(&database.bulk, id, &progress).await;
        bar.finish_and_clear();
        let report = report?;
        let grades: Vec<String> = report.grades.iter().map(|(g, n)| format!("{g} {n}")).collect();
        println!(
            "{slug}: {} rated ({}); {} changed grade; poor-credit list: {} entered, {} left; in {:.1} s",
            report.rated,
            grades.join(", "),
            report.changed,
            report.listed,
            report.delisted,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
