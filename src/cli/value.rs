//! `gridcrm value refresh [--tenant SLUG]`: recompute the value tiers (and
//! the `vip` tag) of one tenant or of every tenant.

use clap::Subcommand;
use gridcrm::db::Database;

use crate::cli::admin::tenants_or_every;

#[derive(Subcommand)]
pub enum ValueCommand {
    /// Recompute every customer's value tier from the customer metrics.
    Refresh {
        /// A company code (default: every company).
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn value_command(database: &Database, command: ValueCommand) -> anyhow::Result<()> {
    let ValueCommand::Refresh { tenant } = command;
    let tenants = tenants_or_every(database, tenant).await?;
    for (id, slug) in tenants {
        let started = std::time::Instant::now();
        let report = gridcrm::value::db::recompute(&database.bulk, id).await?;
        let tiers: Vec<String> = report.tiers.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!(
            "{slug}: {} ({} changed tier, {} new) in {:.1} s",
            tiers.join(", "),
            report.changed,
            report.added,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
