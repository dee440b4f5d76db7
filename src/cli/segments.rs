//! `gridcrm segments refresh`: recomputes segment memberships, with a
//! progress bar (serve's job chain does the scheduled ones after the metrics).

use std::io::IsTerminal;

use clap::Subcommand;
use gridcrm::db::Database;

use crate::cli::admin::tenant_id;

#[derive(Subcommand)]
pub enum SegmentsCommand {
    /// Recompute every segment's members now (all tenants, or one), each
    /// segment in its own transaction, keeping who joined and who left.
    Refresh {
        /// A tenant's code (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Only the segments scheduled daily (skip the on-demand ones).
        #[arg(long)]
        scheduled: bool,
    },
}

pub async fn segments_command(database: &Database, command: SegmentsCommand) -> anyhow::Result<()> {
    let SegmentsCommand::Refresh { tenant, scheduled } = command;
    let tenants: Vec<(uuid::Uuid, String)> = match tenant {
        Some(slug) => vec![(tenant_id(database, &slug).await?.0, slug)],
        None => sqlx::query_as("SELECT id, slug FROM tenants ORDER BY slug").fetch_all(&database.app).await?,
    };
    let started = std::time::Instant::now();
    let mut total = 0;
    for (id, slug) in tenants {
        let bar = progress_bar(&slug);
        let done = gridcrm::segments::db::recompute_all_with(&database.bulk, id, scheduled, |done, of| {
            bar.set_length(of as u64);
            bar.set_position(done as u64);
        })
        .await?;
        bar.finish_and_clear();
        println!("{slug}: {done} segments recomputed");
        total += done;
    }
    println!("{total} segments recomputed in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A progress bar on a terminal; nothing when output goes to a file.
fn progress_bar(tenant: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} segments ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(tenant.to_owned());
    bar
}
