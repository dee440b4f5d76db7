//! `gridcrm load scan [--tenant SLUG]`: look for abrupt changes in large
//! customers' load now (the hourly job does it once a day per company).

use clap::Subcommand;
use gridcrm::db::Database;

use crate::cli::admin::tenants_or_every;

#[derive(Subcommand)]
pub enum LoadCommand {
    /// Scan the last nine weeks of every meter's daily energy for a sudden
    /// lasting change, record what is new and raise its notice event.
    Scan {
        /// A company code (default: every company).
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn load_command(database: &Database, command: LoadCommand) -> anyhow::Result<()> {
    let LoadCommand::Scan { tenant } = command;
    for (id, slug) in tenants_or_every(database, tenant).await? {
        let started = std::time::Instant::now();
        let s = gridcrm::anomalies::db::scan_tenant(&database.bulk, id).await?;
        println!(
            "{slug}: {} meters scanned, {} new load changes in {:.1} s",
            s.meters,
            s.found,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
