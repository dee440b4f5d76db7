//! Loading interval data, line by line from a stream: each good line goes,
//! in batches, through COPY into a staging table; at the end the meters are
//! resolved, the months' partitions made, and one INSERT … ON CONFLICT moves
//! the rows in (a timestamp already stored for the meter is replaced and
//! counted). One transaction: a rejected file loads nothing, unless the good
//! lines were asked for.

use std::fmt::Write;

use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::{self, Tx},
    interval::model::{self, IntervalRow},
    web::i18n::I18n,
};

/// Lines per COPY batch.
const BATCH_BYTES: usize = 4 << 20;
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
    tx: Tx,
    tz: Tz,
    keep_good: bool,
    i: I18n,
    buf: String,
    line: u64,
    staged: u64,
    pub report: IntervalReport,
}

impl Loader {
    pub async fn begin(pool: &PgPool, tenant_id: Uuid, keep_good: bool, i: I18n) -> anyhow::Result<Self> {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        let zone =
            sqlx::query_scalar!("SELECT time_zone FROM tenants WHERE id = $1", tenant_id).fetch_one(&mut *tx).await?;
        sqlx::query(
            "CREATE TEMP TABLE interval_stage (line bigint, serial text, ts timestamptz, kw numeric) ON COMMIT DROP",
        )
        .execute(&mut *tx)
        .await?;
        Ok(Self {
            tx,
            tz: zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
            keep_good,
            i,
            buf: String::with_capacity(BATCH_BYTES + 4096),
            line: 0,
            staged: 0,
            report: IntervalReport::default(),
        })
    }

    fn reject(&mut self, field: &str, reason: String) {
        self.report.rejected += 1;
        if self.report.errors.len() < LISTED {
            self.report.errors.push(LineError { line: self.line, field: field.to_owned(), reason });
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
            Ok(IntervalRow { meter, ts, kw }) => {
                let _ = writeln!(self.buf, "{},{},{},{}", self.line, meter, ts.format("%Y-%m-%dT%H:%M:%SZ"), kw);
                self.staged += 1;
                if self.buf.len() >= BATCH_BYTES {
                    self.flush().await?;
                }
            }
            Err((field, reason)) => {
                let reason = self.i.t(&format!("interval_error.{reason}"));
                self.reject(field, reason);
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut copy =
            self.tx.copy_in_raw("COPY interval_stage (line, serial, ts, kw) FROM STDIN WITH (FORMAT csv)").await?;
        copy.send(self.buf.as_bytes()).await?;
        copy.finish().await?;
        self.buf.clear();
        Ok(())
    }

    /// Resolves meters, stores the rows, and commits, or rolls back when
    /// lines were rejected and the good ones were not asked for.
    pub async fn finish(mut self) -> anyhow::Result<IntervalReport> {
        self.flush().await?;
        let unknown: Vec<(i64, String)> = sqlx::query_as(
            "SELECT line, serial FROM interval_stage s WHERE NOT EXISTS (SELECT 1 FROM meters m WHERE m.serial = s.serial)
             ORDER BY line",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        for (line, serial) in &unknown {
            let saved = self.line;
            self.line = *line as u64;
            let reason = format!("{}: {serial}", self.i.t("interval_error.unknown_meter"));
            self.reject("meter", reason);
            self.line = saved;
        }
        self.report.errors.sort_by_key(|e| e.line);
        if self.report.rejected > 0 && !self.keep_good {
            self.tx.rollback().await?;
            return Ok(self.report);
        }
        for month in sqlx::query_scalar::<_, chrono::NaiveDate>(
            "SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'UTC')::date FROM interval_stage",
        )
        .fetch_all(&mut *self.tx)
        .await?
        {
            sqlx::query("SELECT gridcrm_interval_partition($1)").bind(month).execute(&mut *self.tx).await?;
        }
        // The last line for a meter and time wins; earlier ones count as replaced.
        // (RETURNING cannot tell inserts from updates on a partitioned table:
        // the rows already stored are counted first, in the same snapshot.)
        let (inserted, updated, distinct): (i64, i64, i64) = sqlx::query_as(
            "WITH src AS (
               SELECT DISTINCT ON (m.id, s.ts) m.id AS meter_id, s.ts, s.kw
               FROM interval_stage s JOIN meters m ON m.serial = s.serial
               ORDER BY m.id, s.ts, s.line DESC
             ), stored AS (
               SELECT count(*) AS total, count(d.ts) AS existing FROM src
               LEFT JOIN interval_data d ON d.tenant_id = app_tenant_id() AND d.meter_id = src.meter_id AND d.ts = src.ts
             ), ins AS (
               INSERT INTO interval_data (tenant_id, meter_id, ts, kw)
               SELECT app_tenant_id(), meter_id, ts, kw FROM src
               ON CONFLICT (tenant_id, meter_id, ts) DO UPDATE SET kw = excluded.kw
             )
             SELECT total - existing, existing, total FROM stored",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        let good = self.staged - unknown.len() as u64;
        self.report.loaded = inserted as u64;
        self.report.replaced = updated as u64 + (good - distinct as u64);
        Ok(self.report)
    }
}
