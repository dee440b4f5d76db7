//! `gridcrm forecast backtest --csv FILE --interval 30m --horizon 48`: how
//! well each forecasting method would have done on the last weeks of a load
//! series, without a database.
//!
//! `gridcrm forecast refresh [--tenant SLUG] [--day DATE]`: the day-ahead and
//! energy forecasts of one tenant or of every tenant, now (the hourly job
//! does the same only when a tenant's tomorrow is not forecast yet or its
//! data changed; the command always forecasts).

use std::{fs::File, io::Write, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use gridcrm::{
    db::Database,
    forecast::{self, Interval, Plan},
};

use crate::cli::admin::tenants_or_every;

#[derive(Subcommand)]
pub enum ForecastCommand {
    /// Forecast from each day of the holdout with every method and report MAPE by method and by step ahead.
    Backtest {
        /// A CSV with a header line and timestamp,value lines (2024-01-01T00:00:00, with or without an offset).
        #[arg(long)]
        csv: PathBuf,
        /// The spacing of the readings: 15m, 30m, 1h.
        #[arg(long)]
        interval: Interval,
        /// Steps ahead to forecast from each origin (48 at 30m is a day).
        #[arg(long)]
        horizon: usize,
        /// Days at the end of the series to forecast, one origin a day.
        #[arg(long, default_value_t = 28)]
        holdout_days: usize,
        /// Print one JSON object: {"methods": {NAME: {"mape", "mape_by_step"}}, "chosen": NAME}.
        #[arg(long)]
        json: bool,
    },
    /// Forecast every meter, customer, route, industry and the company for the next day, and the energy.
    Refresh {
        /// A company code (default: every company).
        #[arg(long)]
        tenant: Option<String>,
        /// The day to forecast (default: tomorrow in the company's time zone), e.g. 2026-12-03.
        #[arg(long)]
        day: Option<chrono::NaiveDate>,
    },
}

/// `forecast refresh`: one tenant after another, with a progress bar of meters.
pub async fn refresh_command(
    database: &Database,
    tenant: Option<String>,
    day: Option<chrono::NaiveDate>,
) -> anyhow::Result<()> {
    for (id, slug) in tenants_or_every(database, tenant).await? {
        let started = std::time::Instant::now();
        let bar = crate::cli::data::progress_bar(0, "meters");
        bar.set_message(slug.clone());
        let progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let report = forecast::db::refresh(&database.bulk, id, day, true, &progress).await?;
        bar.finish_and_clear();
        println!(
            "{slug}: {} forecast for {} meters, {} customers and {} aggregates; {} beat the seasonal-naive baseline ({:.1} s)",
            report.target_day.map(|d| d.to_string()).unwrap_or_default(),
            report.meters,
            report.customers,
            report.aggregates,
            report.beat_baseline,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn forecast_command(command: ForecastCommand) -> anyhow::Result<()> {
    let ForecastCommand::Backtest { csv, interval, horizon, holdout_days, json } = command else {
        anyhow::bail!("forecast refresh needs the database");
    };
    let started = std::time::Instant::now();
    let file = File::open(&csv).with_context(|| format!("opening {}", csv.display()))?;
    let series = forecast::read_csv(file, interval).with_context(|| format!("reading {}", csv.display()))?;
    let steps_per_day = interval.steps_per_day();
    let plan = Plan { steps_per_day, holdout_days, horizon };
    let backtest = forecast::backtest::run(&series.values, &plan, &mut forecast::standard_methods(steps_per_day))?;
    let first_origin = series.time_of(backtest.origins[0]);
    let summary = format!(
        "{}: {} readings every {interval} from {} to {}, {} filled in; {} origins from {first_origin}, {horizon} steps ahead",
        csv.display(),
        series.values.len(),
        series.start,
        series.time_of(series.values.len() - 1),
        series.filled,
        backtest.origins.len(),
    );
    let zeros = (backtest.zero_actuals > 0)
        .then(|| format!("{} actual values of 0 are left out of the MAPE", backtest.zero_actuals));
    let report = if json {
        // The object alone on stdout; the notes go to stderr.
        eprintln!("{summary}");
        zeros.iter().for_each(|z| eprintln!("{z}"));
        format!("{}\n", serde_json::to_string(&backtest)?)
    } else {
        let zeros = zeros.map(|z| format!("{z}\n")).unwrap_or_default();
        format!("{summary}\n{zeros}\n{backtest}({:.1} s)\n", started.elapsed().as_secs_f64())
    };
    // The table is long: `| head` closing the pipe early is not an error.
    match std::io::stdout().write_all(report.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => Ok(written?),
    }
}
