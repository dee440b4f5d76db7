//! Loading interval data, line by line from a file. Each good line's meter
//! is resolved (once per serial, a batch of serials per query, on a second
//! connection), and the rows go in batches through COPY into a staging
//! table and on into `interval_data`, on a task of their own, so that
//! parsing the next batch overlaps storing this one. A value already stored
//! for a meter and time is replaced and counted; so is an earlier line of the
//! same file. One transaction: a rejected file loads nothing, unless the good
//! lines were asked for.
//!
//! Why not COPY straight into the table: PostgreSQL refuses COPY FROM into a
//! table whose row-level security applies to the loading role, and COPY
//! cannot replace a stored value. The staging table is a temporary one (no
//! WAL), emptied after each batch.
//!
//! A load uses two pooled connections (the loading transaction and the meter
//! lookups), and a third for a moment when a month's partition is new; the API lets only a few loads run at once
//! (`crate::web::upload::Uploads`).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    fmt::Write,
};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Executor, PgPool};
use tokio::io::AsyncBufRead;
use uuid::Uuid;

use crate::{
    config::Config,
    db::{self, Tx},
    interval::model::{self, IntervalRow, Window},
    readings::import::LineError,
    web::{
        i18n::I18n,
        upload::{CappedLines, Line},
    },
};

/// Lines parsed before their meters are resolved and they are stored.
const BATCH_LINES: usize = 50_000;
/// Rejected lines listed in a report (all are counted).
const LISTED: usize = 200;

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

/// What a load accepts beyond the shape of a line.
#[derive(Clone, Copy, Debug)]
pub struct LoadRules {
    pub window: Window,
    pub max_line_bytes: usize,
}

impl LoadRules {
    pub fn new(config: &Config, now: DateTime<Utc>) -> Self {
        Self {
            window: Window::around(now, config.interval_days_back, config.interval_days_ahead),
            max_line_bytes: config.upload_max_line_bytes,
        }
    }
}

impl Default for LoadRules {
    /// The configured rules (file and environment, as the command line reads
    /// them), from now.
    fn default() -> Self {
        Self::new(&Config::load().unwrap_or_else(|_| Config::defaults()), Utc::now())
    }
}

/// Rows bound for the table, one meter and time each.
#[derive(Default)]
struct Batch {
    meters: Vec<Uuid>,
    times: Vec<DateTime<Utc>>,
    kw: Vec<Decimal>,
    /// First days (UTC) of the months the rows fall in: their partitions.
    months: BTreeSet<NaiveDate>,
}

/// A batch as the writer takes it: COPY text (`meter_id,epoch,kw`) and the
/// months to have partitions for.
struct Staged {
    csv: String,
    months: BTreeSet<NaiveDate>,
}

impl Batch {
    fn staged(self) -> Staged {
        let mut csv = String::with_capacity(self.meters.len() * 64);
        for ((meter, ts), kw) in self.meters.iter().zip(&self.times).zip(&self.kw) {
            // Times as epoch seconds: cheaper to write and read than text.
            let _ = writeln!(csv, "{meter},{},{kw}", ts.timestamp());
        }
        Staged { csv, months: self.months }
    }
}

/// What the writer task hands back: the transaction, and how many rows
/// replaced a value stored before (by an earlier load or batch).
type Written = (Tx, u64);

pub struct Loader {
    /// The loading transaction, on the writer task until `finish` takes it back.
    writer: Option<tokio::task::JoinHandle<anyhow::Result<Written>>>,
    batches: Option<tokio::sync::mpsc::Sender<Staged>>,
    /// Meter lookups, beside the writer.
    lookup: Tx,
    tenant_id: Uuid,
    tz: Tz,
    rules: LoadRules,
    keep_good: bool,
    i: I18n,
    line: u64,
    /// Parsed lines waiting for their meters: (line, row).
    pending: Vec<(u64, IntervalRow)>,
    meters: HashMap<String, Option<Uuid>>,
    /// The (meter, local month) pairs stored: their customers' metrics change.
    touched: HashSet<(Uuid, NaiveDate)>,
    /// The first and last local day stored, for rebuilding `load_days`.
    days: Option<(NaiveDate, NaiveDate)>,
    /// Good rows handed to the writer (a file's repeats within a batch merged).
    stored: u64,
    /// Lines that repeated a meter and time of the same batch (the later wins).
    repeats: u64,
    pub report: IntervalReport,
}

impl Loader {
    /// A load under the configured [`LoadRules`] (the import command).
    pub async fn begin(pool: &PgPool, tenant_id: Uuid, keep_good: bool, i: I18n) -> anyhow::Result<Self> {
        Self::begin_with(pool, tenant_id, keep_good, i, LoadRules::default()).await
    }

    pub async fn begin_with(
        pool: &PgPool,
        tenant_id: Uuid,
        keep_good: bool,
        i: I18n,
        rules: LoadRules,
    ) -> anyhow::Result<Self> {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        let zone =
            sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id).fetch_one(&mut *tx).await?;
        let lookup = db::begin_tenant(pool, tenant_id, None).await?;
        // One batch being stored, one waiting: parsing never runs far ahead.
        let (batches, incoming) = tokio::sync::mpsc::channel::<Staged>(1);
        let writer = tokio::spawn(write_batches(pool.clone(), tx, tenant_id, incoming));
        Ok(Self {
            writer: Some(writer),
            batches: Some(batches),
            lookup,
            tenant_id,
            tz: zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
            rules,
            keep_good,
            i,
            line: 0,
            pending: Vec::with_capacity(BATCH_LINES),
            meters: HashMap::new(),
            touched: HashSet::new(),
            days: None,
            stored: 0,
            repeats: 0,
            report: IntervalReport::default(),
        })
    }

    fn reject(&mut self, line: u64, field: &str, reason: String) {
        self.report.rejected += 1;
        if self.report.errors.len() < LISTED {
            self.report.errors.push(LineError { line, field: field.to_owned(), reason });
        }
    }

    /// Whether rows still go to the database: once a line is rejected and
    /// only a whole file may load, nothing will be kept, so nothing is sent.
    fn storing(&self) -> bool {
        self.keep_good || self.report.rejected == 0
    }

    /// Loads every line of a file (an upload read back from its spool file),
    /// never holding more than one line of it in memory.
    pub async fn read_all(&mut self, reader: impl AsyncBufRead + Unpin) -> anyhow::Result<()> {
        let mut lines = CappedLines::new(reader, self.rules.max_line_bytes);
        while let Some(line) = lines.next().await? {
            match line {
                Line::Text(text) => self.line(&text).await?,
                Line::TooLong => {
                    self.line += 1;
                    self.too_long();
                }
            }
        }
        Ok(())
    }

    /// The current line is longer than the rules allow.
    fn too_long(&mut self) {
        self.report.read += 1;
        let limit = self.rules.max_line_bytes.to_string();
        let reason = self.i.t_with("upload.line_too_long", &[("limit", &limit)]);
        self.reject(self.line, "", reason);
    }

    /// Takes the next line of the file (the first may be the header).
    pub async fn line(&mut self, text: &str) -> anyhow::Result<()> {
        self.line += 1;
        let text = text.trim_end_matches('\r');
        if text.len() > self.rules.max_line_bytes {
            self.too_long();
            return Ok(());
        }
        // Blank means ASCII blank: a line of other spaces (a no-break space
        // pasted from a spreadsheet) is a line the caller should see rejected.
        if (self.line == 1 && model::is_header(text)) || text.trim_ascii().is_empty() {
            return Ok(());
        }
        self.report.read += 1;
        match model::parse_line(text, self.tz, &self.rules.window) {
            Ok(row) => {
                self.pending.push((self.line, row));
                if self.pending.len() >= BATCH_LINES {
                    self.flush().await?;
                }
            }
            Err((field, reason)) => {
                let window = self.rules.window.describe(self.tz);
                let reason = self.i.t_with(&format!("interval_error.{reason}"), &[("window", &window)]);
                self.reject(self.line, field, reason);
            }
        }
        Ok(())
    }

    /// The writer task's transaction back, or the error that stopped it.
    async fn take_writer(&mut self) -> anyhow::Result<Written> {
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
            let found = sqlx::query!("SELECT serial, id FROM meters WHERE serial = ANY($1)", &new)
                .fetch_all(&mut *self.lookup)
                .await?;
            let found: HashMap<String, Uuid> = found.into_iter().map(|m| (m.serial, m.id)).collect();
            for serial in new {
                let id = found.get(&serial).copied();
                self.meters.insert(serial, id);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let mut batch = Batch::default();
        // Where each meter and time sits in the batch: a repeat overwrites it.
        let mut at: HashMap<(Uuid, i64), usize> = HashMap::with_capacity(pending.len());
        for (line, row) in &pending {
            let Some(meter_id) = self.meters.get(&row.meter).copied().flatten() else {
                let reason = format!("{}: {}", self.i.t("interval_error.unknown_meter"), row.meter);
                self.reject(*line, "meter", reason);
                continue;
            };
            match at.entry((meter_id, row.ts.timestamp())) {
                std::collections::hash_map::Entry::Occupied(seen) => {
                    batch.kw[*seen.get()] = row.kw;
                    self.repeats += 1;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(batch.meters.len());
                    batch.meters.push(meter_id);
                    batch.times.push(row.ts);
                    batch.kw.push(row.kw);
                    batch.months.insert(first_of_month(row.ts));
                    let local = row.ts.with_timezone(&self.tz).date_naive();
                    self.touched.insert((meter_id, crate::months::start_of(local)));
                    self.days = Some(match self.days {
                        Some((first, last)) => (first.min(local), last.max(local)),
                        None => (local, local),
                    });
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
        if batch.meters.is_empty() || !self.storing() {
            return Ok(());
        }
        self.stored += batch.meters.len() as u64;
        let sent = match &self.batches {
            Some(batches) => batches.send(batch.staged()).await.is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped: its error says why.
            self.take_writer().await?;
            anyhow::bail!("the writer task stopped");
        }
        Ok(())
    }

    /// Commits the rows, or rolls back when lines were rejected and the good
    /// ones were not asked for.
    pub async fn finish(mut self) -> anyhow::Result<IntervalReport> {
        self.flush().await?;
        let (mut tx, replaced_stored) = self.take_writer().await?;
        let keep = self.storing();
        self.lookup.commit().await?;
        self.report.errors.sort_by_key(|e| e.line);
        if !keep {
            tx.rollback().await?;
            return Ok(self.report);
        }
        let (meters, months): (Vec<Uuid>, Vec<NaiveDate>) = self.touched.iter().copied().unzip();
        crate::metrics::db::mark_interval_months(&mut tx, self.tenant_id, &meters, &months).await?;
        if let Some((first, last)) = self.days {
            let mut meters = meters;
            meters.sort_unstable();
            meters.dedup();
            super::days::mark(&mut tx, self.tenant_id, &meters, first, last).await?;
        }
        tx.commit().await?;
        self.report.loaded = self.stored - replaced_stored;
        self.report.replaced = replaced_stored + self.repeats;
        Ok(self.report)
    }
}

fn first_of_month(ts: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(ts.year(), ts.month(), 1).expect("the first of a month exists")
}

/// The plan the replacing delete must get: one primary-key probe per staged
/// row. Partitions filled moments ago have no statistics, and the planner,
/// taking them for a few rows, would otherwise scan them whole for each
/// staged row (a minute per batch), or, with statistics, join a whole month
/// to each batch. Set for the rest of the load's transaction, which plans
/// nothing else that joins. (The misestimates would also have the JIT compile
/// the plan, which costs more than it saves here.)
const REPLACING_PLAN: &str = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
    SET LOCAL enable_material = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
    SET LOCAL jit = off";

/// Stores batches as they come: COPY into the staging table, then on into
/// `interval_data`. Each batch is first moved with a plain INSERT (a new
/// period: nothing stored yet, the common case) inside a savepoint. When a
/// row is already stored, the savepoint is undone and the load turns to
/// replacing: from this batch on, the stored rows for a batch's meters and
/// times are deleted (and counted) before it is inserted (a file sent twice).
async fn write_batches(
    pool: PgPool,
    mut tx: Tx,
    tenant_id: Uuid,
    mut incoming: tokio::sync::mpsc::Receiver<Staged>,
) -> anyhow::Result<Written> {
    sqlx::query("CREATE TEMP TABLE interval_stage (meter_id uuid, epoch bigint, kw numeric) ON COMMIT DROP")
        .execute(&mut *tx)
        .await?;
    let move_sql = db::not_by_copy(
        "INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
         SELECT $1, meter_id, to_timestamp(epoch), kw FROM interval_stage",
    );
    let mut partitions = HashSet::new();
    let mut replacing = false;
    let mut replaced = 0u64;
    while let Some(batch) = incoming.recv().await {
        // A new month's partition is made and committed on its own: in the
        // load's transaction, creating it would lock out every reader of
        // interval_data until the load ends, and on a Citus cluster the load
        // could not write to the shards the table's owner created in it
        // ("modified in this transaction by a different user").
        for month in batch.months.iter().filter(|m| partitions.insert(**m)) {
            sqlx::query!("SELECT gridcrm_interval_partition($1)", month).execute(&pool).await?;
        }
        let mut copy = tx.copy_in_raw("COPY interval_stage (meter_id, epoch, kw) FROM STDIN WITH (FORMAT csv)").await?;
        copy.send(batch.csv.as_bytes()).await?;
        copy.finish().await?;
        let move_batch = || sqlx::query(&move_sql).bind(tenant_id);
        if !replacing {
            sqlx::query!("SAVEPOINT interval_batch").execute(&mut *tx).await?;
            match move_batch().execute(&mut *tx).await {
                Ok(_) => {
                    sqlx::query!("RELEASE SAVEPOINT interval_batch").execute(&mut *tx).await?;
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    sqlx::query!("ROLLBACK TO SAVEPOINT interval_batch").execute(&mut *tx).await?;
                    sqlx::query!("RELEASE SAVEPOINT interval_batch").execute(&mut *tx).await?;
                    replacing = true;
                    tx.execute(REPLACING_PLAN).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if replacing {
            // Stored rows for the batch's meters and times go first; their
            // count is what the batch replaces. The plain INSERT then adds
            // the batch whole.
            // The times are converted in a subquery kept apart (OFFSET 0):
            // under the tenant policy only a leakproof comparison of plain
            // values (not a call to to_timestamp) may be an index condition.
            let gone = sqlx::query(
                "DELETE FROM interval_data d
                 USING (SELECT meter_id, to_timestamp(epoch) AS ts FROM interval_stage OFFSET 0) s
                 WHERE d.tenant_id = $1 AND d.meter_id = s.meter_id AND d.ts = s.ts",
            )
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
            replaced += gone.rows_affected();
            move_batch().execute(&mut *tx).await?;
        }
        sqlx::query("TRUNCATE interval_stage").execute(&mut *tx).await?;
    }
    Ok((tx, replaced))
}
