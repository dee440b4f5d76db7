//! Loading interval data, line by line from a stream. Each good line's meter
//! is resolved (once per serial, a batch of serials per query, on a second
//! connection), and the rows go in batches through COPY into a staging
//! table, on a task of their own so that parsing the next batch overlaps
//! copying this one; at the end the months' partitions are made and one
//! INSERT moves the rows in. A value already stored for a meter and time is
//! replaced and counted; so is an earlier line of the same file. One
//! transaction: a rejected file loads nothing, unless the good lines were
//! asked for.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write,
};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::{self, Tx},
    interval::model::{self, IntervalRow},
    web::i18n::I18n,
};

/// Lines parsed before their meters are resolved and they are copied.
const BATCH_LINES: usize = 50_000;
/// Rejected lines listed in a report (all are counted).
const LISTED: usize = 200;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineError {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IntervalReport {
    /// Data lines read (the header not counted).
    pub read: u64,
    /// Rows stored new.
    pub loaded: u64,
    /// Rows that replaced a stored value for the same meter and time (or an
    /// earlier line of the same file).
    pub replaced: u64,
    pub rejected: u64,
    /// The first rejected lines, with the reason.
    pub errors: Vec<LineError>,
}

pub struct Loader {
    /// The loading transaction, on the copy task until `finish` takes it back.
    copier: Option<tokio::task::JoinHandle<anyhow::Result<Tx>>>,
    batches: Option<tokio::sync::mpsc::Sender<String>>,
    /// Meter lookups, beside the copy.
    lookup: Tx,
    tz: Tz,
    keep_good: bool,
    i: I18n,
    line: u64,
    /// Parsed lines waiting for their meters: (line, row).
    pending: Vec<(u64, IntervalRow)>,
    meters: HashMap<String, Option<Uuid>>,
    /// Meter and time of every staged row, to find a file's own duplicates.
    seen: HashSet<(Uuid, i64)>,
    duplicates: u64,
    staged: u64,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub report: IntervalReport,
}

impl Loader {
    pub async fn begin(pool: &PgPool, tenant_id: Uuid, keep_good: bool, i: I18n) -> anyhow::Result<Self> {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        let zone =
            sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id).fetch_one(&mut *tx).await?;
        // Times go in as epoch seconds: cheaper to write than text, converted once by the INSERT.
        sqlx::query(
            "CREATE TEMP TABLE interval_stage (line bigint, meter_id uuid, epoch bigint, kw numeric) ON COMMIT DROP",
        )
        .execute(&mut *tx)
        .await?;
        let lookup = db::begin_tenant(pool, tenant_id, None).await?;
        // One batch being copied, one waiting: parsing never runs far ahead.
        let (batches, mut incoming) = tokio::sync::mpsc::channel::<String>(1);
        let copier = tokio::spawn(async move {
            while let Some(csv) = incoming.recv().await {
                let mut copy = tx
                    .copy_in_raw("COPY interval_stage (line, meter_id, epoch, kw) FROM STDIN WITH (FORMAT csv)")
                    .await?;
                copy.send(csv.as_bytes()).await?;
                copy.finish().await?;
            }
            Ok(tx)
        });
        Ok(Self {
            copier: Some(copier),
            batches: Some(batches),
            lookup,
            tz: zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
            keep_good,
            i,
            line: 0,
            pending: Vec::with_capacity(BATCH_LINES),
            meters: HashMap::new(),
            seen: HashSet::new(),
            duplicates: 0,
            staged: 0,
            range: None,
            report: IntervalReport::default(),
        })
    }

    fn reject(&mut self, line: u64, field: &str, reason: String) {
        self.report.rejected += 1;
        if self.report.errors.len() < LISTED {
            self.report.errors.push(LineError { line, field: field.to_owned(), reason });
        }
    }

    /// Takes the next line of the file (the first may be the header).
    pub async fn line(&mut self, text: &str) -> anyhow::Result<()> {
        self.line += 1;
        let text = text.trim_end_matches('\r');
        if (self.line == 1 && model::is_header(text)) || text.trim().is_empty() {
            return Ok(());
        }
        self.report.read += 1;
        match model::parse_line(text, self.tz) {
            Ok(row) => {
                self.pending.push((self.line, row));
                if self.pending.len() >= BATCH_LINES {
                    self.flush().await?;
                }
            }
            Err((field, reason)) => {
                let reason = self.i.t(&format!("interval_error.{reason}"));
                self.reject(self.line, field, reason);
            }
        }
        Ok(())
    }

    /// The copy task's transaction back, or the error that stopped it.
    async fn take_copier(&mut self) -> anyhow::Result<Tx> {
        self.batches = None;
        match self.copier.take() {
            Some(copier) => copier.await?,
            None => anyhow::bail!("the copy task is gone"),
        }
    }

    /// Resolves the batch's new serials, then hands its rows to the copy task.
    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut new: Vec<String> =
            self.pending.iter().map(|(_, r)| &r.meter).filter(|m| !self.meters.contains_key(*m)).cloned().collect();
        new.sort();
        new.dedup();
        if !new.is_empty() {
            let found: Vec<(String, Uuid)> = sqlx::query_as("SELECT serial, id FROM meters WHERE serial = ANY($1)")
                .bind(&new)
                .fetch_all(&mut *self.lookup)
                .await?;
            let found: HashMap<String, Uuid> = found.into_iter().collect();
            for serial in new {
                let id = found.get(&serial).copied();
                self.meters.insert(serial, id);
            }
        }
        let mut csv = String::with_capacity(self.pending.len() * 64);
        let pending = std::mem::take(&mut self.pending);
        for (line, row) in &pending {
            let Some(meter_id) = self.meters.get(&row.meter).copied().flatten() else {
                let reason = format!("{}: {}", self.i.t("interval_error.unknown_meter"), row.meter);
                self.reject(*line, "meter", reason);
                continue;
            };
            if !self.seen.insert((meter_id, row.ts.timestamp())) {
                self.duplicates += 1;
            }
            self.range = Some(match self.range {
                None => (row.ts, row.ts),
                Some((lo, hi)) => (lo.min(row.ts), hi.max(row.ts)),
            });
            let _ = writeln!(csv, "{line},{meter_id},{},{}", row.ts.timestamp(), row.kw);
            self.staged += 1;
        }
        self.pending = pending;
        self.pending.clear();
        let sent = match &self.batches {
            Some(batches) if !csv.is_empty() => batches.send(csv).await.is_ok(),
            Some(_) => true,
            None => false,
        };
        if !sent {
            // The copy task stopped: its error says why.
            self.take_copier().await?;
            anyhow::bail!("the copy task stopped");
        }
        Ok(())
    }

    /// Stores the rows and commits, or rolls back when lines were rejected
    /// and the good ones were not asked for.
    pub async fn finish(mut self) -> anyhow::Result<IntervalReport> {
        self.flush().await?;
        let mut tx = self.take_copier().await?;
        self.lookup.commit().await?;
        self.report.errors.sort_by_key(|e| e.line);
        if self.report.rejected > 0 && !self.keep_good {
            tx.rollback().await?;
            return Ok(self.report);
        }
        let Some((from, to)) = self.range else {
            tx.commit().await?;
            return Ok(self.report);
        };
        for month in sqlx::query_scalar::<_, chrono::NaiveDate>(
            "SELECT generate_series(date_trunc('month', $1 AT TIME ZONE 'UTC'), $2 AT TIME ZONE 'UTC', interval '1 month')::date",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?
        {
            sqlx::query("SELECT gridcrm_interval_partition($1)").bind(month).execute(&mut *tx).await?;
        }
        // Values already stored for these meters and times: usually none (a
        // new period), found by one probe; otherwise counted row by row.
        let any_stored: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM interval_data d JOIN (SELECT DISTINCT meter_id FROM interval_stage) m USING (meter_id)
                            WHERE d.tenant_id = app_tenant_id() AND d.ts BETWEEN $1 AND $2)",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        let stored: i64 = if any_stored {
            sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT DISTINCT meter_id, to_timestamp(epoch) AS ts FROM interval_stage) s
                 JOIN interval_data d ON d.tenant_id = app_tenant_id() AND d.meter_id = s.meter_id AND d.ts = s.ts",
            )
            .fetch_one(&mut *tx)
            .await?
        } else {
            0
        };
        // A file's own duplicates: the last line for a meter and time wins.
        let source = if self.duplicates > 0 {
            "(SELECT DISTINCT ON (meter_id, epoch) meter_id, epoch, kw FROM interval_stage ORDER BY meter_id, epoch, line DESC) s"
        } else {
            "interval_stage s"
        };
        let conflict =
            if any_stored { " ON CONFLICT (tenant_id, meter_id, ts) DO UPDATE SET kw = excluded.kw" } else { "" };
        sqlx::query(&format!(
            "INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
             SELECT app_tenant_id(), s.meter_id, to_timestamp(s.epoch), s.kw FROM {source}{conflict}"
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let distinct = self.staged - self.duplicates;
        self.report.loaded = distinct - stored as u64;
        self.report.replaced = stored as u64 + self.duplicates;
        Ok(self.report)
    }
}
