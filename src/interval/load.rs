//! Loading interval data, line by line from a stream. Each good line's meter
//! is resolved (once per serial, a batch of serials per query, on a second
//! connection); each batch of rows is then written by a task of its own, so
//! that parsing the next batch overlaps writing this one: `INSERT … SELECT
//! FROM unnest(…) ON CONFLICT DO NOTHING`, then an update of the rows that
//! were already stored (replaced, and counted). The months' partitions are
//! made as batches reach them. One transaction: a rejected file loads
//! nothing, unless the good lines were asked for.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
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

/// One batch for the writer: rows with their meters resolved, a meter and
/// time at most once.
struct Batch {
    meters: Vec<Uuid>,
    times: Vec<DateTime<Utc>>,
    kw: Vec<Decimal>,
    months: Vec<NaiveDate>,
}

/// What the writer did: rows stored new, rows that replaced a stored value.
#[derive(Default)]
struct Written {
    inserted: u64,
    replaced: u64,
}

pub struct Loader {
    /// The loading transaction, on the writer task until `finish` takes it back.
    writer: Option<tokio::task::JoinHandle<anyhow::Result<(Tx, Written)>>>,
    batches: Option<tokio::sync::mpsc::Sender<Batch>>,
    /// Meter lookups, beside the writer.
    lookup: Tx,
    tz: Tz,
    keep_good: bool,
    i: I18n,
    line: u64,
    /// Parsed lines waiting for their meters: (line, row).
    pending: Vec<(u64, IntervalRow)>,
    meters: HashMap<String, Option<Uuid>>,
    /// Lines that repeat a meter and time of the same batch (the later wins).
    duplicates: u64,
    pub report: IntervalReport,
}

async fn write(tx: &mut Tx, batch: Batch, partitions: &mut HashSet<NaiveDate>) -> anyhow::Result<Written> {
    for month in batch.months {
        if partitions.insert(month) {
            sqlx::query("SELECT gridcrm_interval_partition($1)").bind(month).execute(&mut **tx).await?;
        }
    }
    let rows = batch.meters.len() as u64;
    let inserted: i64 = sqlx::query_scalar(
        "WITH ins AS (
           INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
           SELECT app_tenant_id(), * FROM unnest($1::uuid[], $2::timestamptz[], $3::numeric[])
           ON CONFLICT (tenant_id, meter_id, ts) DO NOTHING RETURNING 1
         ) SELECT count(*) FROM ins",
    )
    .bind(&batch.meters)
    .bind(&batch.times)
    .bind(&batch.kw)
    .fetch_one(&mut **tx)
    .await?;
    let replaced = rows - inserted as u64;
    if replaced > 0 {
        // The rows already stored (by an earlier load or an earlier batch) take the new value.
        sqlx::query(
            "UPDATE interval_data d SET kw = u.kw
             FROM unnest($1::uuid[], $2::timestamptz[], $3::numeric[]) AS u (meter_id, ts, kw)
             WHERE d.tenant_id = app_tenant_id() AND d.meter_id = u.meter_id AND d.ts = u.ts AND d.kw <> u.kw",
        )
        .bind(&batch.meters)
        .bind(&batch.times)
        .bind(&batch.kw)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Written { inserted: inserted as u64, replaced })
}

impl Loader {
    pub async fn begin(pool: &PgPool, tenant_id: Uuid, keep_good: bool, i: I18n) -> anyhow::Result<Self> {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        let zone =
            sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id).fetch_one(&mut *tx).await?;
        let lookup = db::begin_tenant(pool, tenant_id, None).await?;
        // One batch being written, one waiting: parsing never runs far ahead.
        let (batches, mut incoming) = tokio::sync::mpsc::channel::<Batch>(1);
        let writer = tokio::spawn(async move {
            let mut total = Written::default();
            let mut partitions = HashSet::new();
            while let Some(batch) = incoming.recv().await {
                let w = write(&mut tx, batch, &mut partitions).await?;
                total.inserted += w.inserted;
                total.replaced += w.replaced;
            }
            Ok((tx, total))
        });
        Ok(Self {
            writer: Some(writer),
            batches: Some(batches),
            lookup,
            tz: zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
            keep_good,
            i,
            line: 0,
            pending: Vec::with_capacity(BATCH_LINES),
            meters: HashMap::new(),
            duplicates: 0,
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

    /// The writer's transaction and counts back, or the error that stopped it.
    async fn take_writer(&mut self) -> anyhow::Result<(Tx, Written)> {
        self.batches = None;
        match self.writer.take() {
            Some(writer) => writer.await?,
            None => anyhow::bail!("the writer task is gone"),
        }
    }

    /// Resolves the batch's new serials, then hands its rows to the writer.
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
        let pending = std::mem::take(&mut self.pending);
        let mut batch = Batch { meters: Vec::new(), times: Vec::new(), kw: Vec::new(), months: Vec::new() };
        let mut at: HashMap<(Uuid, i64), usize> = HashMap::with_capacity(pending.len());
        for (line, row) in &pending {
            let Some(meter_id) = self.meters.get(&row.meter).copied().flatten() else {
                let reason = format!("{}: {}", self.i.t("interval_error.unknown_meter"), row.meter);
                self.reject(*line, "meter", reason);
                continue;
            };
            match at.get(&(meter_id, row.ts.timestamp())) {
                // The same meter and time again in this batch: the later line wins.
                Some(&n) => {
                    batch.kw[n] = row.kw;
                    self.duplicates += 1;
                }
                None => {
                    at.insert((meter_id, row.ts.timestamp()), batch.meters.len());
                    batch.meters.push(meter_id);
                    batch.times.push(row.ts);
                    batch.kw.push(row.kw);
                    let month = crate::months::start_of(row.ts.date_naive());
                    if !batch.months.contains(&month) {
                        batch.months.push(month);
                    }
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
        if batch.meters.is_empty() {
            return Ok(());
        }
        let sent = match &self.batches {
            Some(batches) => batches.send(batch).await.is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped: its error says why.
            self.take_writer().await?;
            anyhow::bail!("the writer task stopped");
        }
        Ok(())
    }

    /// Commits, or rolls back when lines were rejected and the good ones
    /// were not asked for.
    pub async fn finish(mut self) -> anyhow::Result<IntervalReport> {
        self.flush().await?;
        let (tx, written) = self.take_writer().await?;
        self.lookup.commit().await?;
        self.report.errors.sort_by_key(|e| e.line);
        if self.report.rejected > 0 && !self.keep_good {
            tx.rollback().await?;
            return Ok(self.report);
        }
        tx.commit().await?;
        self.report.loaded = written.inserted;
        self.report.replaced = written.replaced + self.duplicates;
        Ok(self.report)
    }
}
