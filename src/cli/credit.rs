//! `gridcrm credit rate [--tenant SLUG]`: rate every customer of one tenant
//! or of every tenant. `gridcrm credit calibrate --tenant SLUG [--json]`: fit
//! a candidate scorecard from the tenant's history and compare it with the
//! card in use; `--csv TRAIN.csv --label COLUMN [--test TEST.csv]` does the
//! same fit on any table, without a database.

use std::{fs::File, path::PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use gridcrm::{credit::calibrate::Options, db::Database};

use crate::cli::{
    admin::{tenant_id, tenants_or_every},
    data::progress_bar,
};

#[derive(Subcommand)]
pub enum CreditCommand {
    /// Rate every active customer from the last 24 months (again this month: replaces this month's rating).
    Rate {
        /// A company code (default: every company).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Fit a scorecard from history (weight of evidence, then logistic regression) and report AUC, Gini and KS.
    Calibrate {
        /// A company code: fit from its customers (stored for a tenant admin to adopt).
        #[arg(long, conflicts_with = "csv")]
        tenant: Option<String>,
        /// Or a CSV table: one column per factor (numbers or text) and a label column.
        #[arg(long, requires = "label")]
        csv: Option<PathBuf>,
        /// The label column of the CSV: 1 for the bad outcome, 0 otherwise.
        #[arg(long)]
        label: Option<String>,
        /// A CSV to score (and measure, when it has the label column).
        #[arg(long, requires = "csv")]
        test: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub async fn credit_command(database: &Database, command: CreditCommand) -> anyhow::Result<()> {
    match command {
        CreditCommand::Rate { tenant } => rate(database, tenant).await,
        CreditCommand::Calibrate { tenant: Some(slug), json, .. } => calibrate_tenant(database, &slug, json).await,
        CreditCommand::Calibrate { .. } => bail!("give --tenant SLUG, or --csv TRAIN.csv --label COLUMN"),
    }
}

/// `--csv` needs no database: main runs it before opening one.
pub fn calibrate_csv(csv: &PathBuf, label: &str, test: Option<&PathBuf>) -> anyhow::Result<()> {
    let train = File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let test = test.map(|t| File::open(t).with_context(|| format!("opening {}", t.display()))).transpose()?;
    let report = gridcrm::credit::calibrate::calibrate_csv(train, label, test, &Options::default())?;
    println!("{report}");
    Ok(())
}

async fn calibrate_tenant(database: &Database, slug: &str, json: bool) -> anyhow::Result<()> {
    let (id, _) = tenant_id(database, slug).await?;
    let started = std::time::Instant::now();
    let mut tx = gridcrm::db::begin_tenant(&database.bulk, id, None).await?;
    let (report, card) = gridcrm::credit::service::calibrate(&mut tx, &Options::default()).await?;
    gridcrm::credit::db::save_calibration(&mut tx, &serde_json::to_value(&report)?, &card, "command line").await?;
    tx.commit().await?;
    if json {
        let summary = serde_json::json!({
            "current": report.current,
            "candidate": report.candidate,
            "n_train": report.n_train,
            "n_test": report.n_test,
        });
        println!("{summary}");
        return Ok(());
    }
    let line = |name: &str, m: &gridcrm::credit::calibrate::Measures| {
        println!("{name:10} AUC {:.3}  Gini {:.3}  KS {:.3}", m.auc, m.gini, m.ks);
    };
    println!(
        "{slug}: trained on {} customers as of {} ({} bad), measured on {} as of {} ({} bad)",
        report.n_train, report.train.month, report.train.bad, report.n_test, report.test.month, report.test.bad
    );
    line("current", &report.current);
    line("candidate", &report.candidate);
    let grades = |g: &[(String, usize)]| g.iter().map(|(g, n)| format!("{g} {n}")).collect::<Vec<_>>().join(", ");
    println!(
        "grades now: {}; with the candidate: {}",
        grades(&report.current_grades),
        grades(&report.candidate_grades)
    );
    println!("stored for a tenant admin to adopt on /credit/calibration ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
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
