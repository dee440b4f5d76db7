//! `gridcrm citus distribute`: places the migrated schema on a Citus cluster
//! (see docs/operations.md, "Scale out on Citus").

use clap::Subcommand;
use gridcrm::{config::Config, db::citus};

#[derive(Subcommand)]
pub enum CitusCommand {
    /// Distribute the tables by tenant_id (co-located) and make the platform
    /// tables reference tables, on the Citus coordinator that
    /// GRIDCRM_DATABASE_URL names, after `gridcrm migrate`. Running it again
    /// changes nothing; after a migration that adds a tenant table it
    /// distributes that table.
    Distribute,
}

pub async fn citus_command(config: &Config, command: CitusCommand) -> anyhow::Result<()> {
    let CitusCommand::Distribute = command;
    let Some(url) = &config.database_url else {
        anyhow::bail!(
            "set GRIDCRM_DATABASE_URL to the Citus coordinator's database (the embedded cluster has no Citus)"
        );
    };
    let started = std::time::Instant::now();
    let report = citus::distribute(url.expose()).await?;
    let a = &report.after;
    let placed = (a.distributed + a.reference + a.coordinator)
        - (report.before.distributed + report.before.reference + report.before.coordinator);
    println!(
        "{} tables distributed by tenant_id ({} co-location group), {} reference tables, {} on the coordinator; {} newly placed; \
         {} transition-table triggers run as row triggers ({:.1} s)",
        a.distributed,
        a.colocation_groups,
        a.reference,
        a.coordinator,
        placed.max(0),
        report.row_twins,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
