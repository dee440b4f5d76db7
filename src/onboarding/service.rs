//! One import as one business action: decode the file, check every line,
//! stage the good ones, and write them into the archive in one transaction
//! with one audit record. By default a single bad line loads nothing (and
//! every bad line is listed); `partial` loads the good lines.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    audit::{self, Actor},
    customers, db,
    onboarding::{
        db::{self as onboarding_db, Applied, STAGE_BATCH},
        encoding,
        model::{Consistency, Header, LineProblem, Rules, validate_line},
    },
    readings::import::LineError,
    supply,
    web::i18n::I18n,
};

/// Rejected lines listed in a report; all are counted.
pub const LISTED: usize = 10_000;

/// Named apart from the readings' ImportReport: one name is one schema in the document.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
#[schema(as = CustomerImportReport)]
pub struct ImportReport {
    /// UTF-8, UTF-8 (BOM) or GBK; empty when the file could not be read.
    pub encoding: String,
    /// Data lines read (the header not counted).
    pub read: u64,
    pub rejected: u64,
    /// Whether anything was written: false when a line was rejected and
    /// `partial` was not asked for, or the file could not be read.
    pub loaded: bool,
    pub applied: Applied,
    /// Every rejected line (up to 10,000), with the column and why.
    pub errors: Vec<LineError>,
}

/// Where an import is: reading (bytes done of all), then each table written.
pub enum Progress {
    Read { done: u64, total: u64 },
    Writing(&'static str),
}

fn line_error(p: &LineProblem, i: &I18n) -> LineError {
    let reason = match p.other_line {
        Some(other) => i.t_with(&p.key, &[("line", &other.to_string())]),
        None => i.t(&p.key),
    };
    LineError { line: p.line, field: p.field.clone(), reason }
}

struct Rejections<'a> {
    report: &'a mut ImportReport,
    i: &'a I18n,
    lines: u64,
}

impl Rejections<'_> {
    fn add(&mut self, problems: &[LineProblem]) {
        if let Some(first) = problems.first()
            && first.line > 1
        {
            self.lines += 1;
        }
        for p in problems {
            if self.report.errors.len() < LISTED {
                self.report.errors.push(line_error(p, self.i));
            }
        }
    }
}

/// The line a byte offset is on, for offsets that only grow.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self { text, offset: 0, line: 1 }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        // After a CRLF the csv crate starts the next record at its LF.
        let mut byte = (byte as usize).min(self.text.len());
        while self.text.get(byte).is_some_and(|b| *b == b'\n' || *b == b'\r') {
            byte += 1;
        }
        if byte > self.offset {
            self.line += self.text[self.offset..byte].iter().filter(|b| **b == b'\n').count() as u64;
            self.offset = byte;
        }
        self.line
    }
}

/// Imports a file of customers into the tenant's archive.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    pool: &PgPool,
    tenant_id: Uuid,
    actor: &Actor,
    bytes: &[u8],
    partial: bool,
    today: NaiveDate,
    i: &I18n,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let (text, encoding) = match encoding::decode(bytes) {
        Ok(decoded) => decoded,
        Err(refused) => {
            report.errors.push(LineError { line: 0, field: String::new(), reason: i.t(refused.key()) });
            return Ok(report);
        }
    };
    report.encoding = encoding.label().to_owned();
    let total = text.len() as u64;

    let mut tx = db::begin_tenant(pool, tenant_id, actor.user_id).await?;
    let rules = Rules {
        allowed: customers::db::load_allowed(&mut tx).await?,
        points: supply::db::codes(&mut tx, None).await?,
        today,
    };
    onboarding_db::create_staging(&mut tx).await?;

    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut rejected = Rejections { report: &mut report, i, lines: 0 };
    let header = match records.next() {
        Some(Ok(head)) => match Header::parse(head.iter()) {
            Ok(header) => Some(header),
            Err(problems) => {
                rejected.add(&problems);
                None
            }
        },
        Some(Err(e)) => {
            rejected.add(&[LineProblem { line: 1, field: String::new(), key: e.to_string(), other_line: None }]);
            None
        }
        None => {
            let key = "onboarding.err.empty_file".to_owned();
            rejected.add(&[LineProblem { line: 1, field: String::new(), key, other_line: None }]);
            None
        }
    };
    let mut read = 0u64;
    // Line numbers as an editor shows them, counted on LF (the csv crate's
    // own count is thrown off by CRLF line ends).
    let mut lines = LineCounter::new(text.as_bytes());
    if let Some(header) = header {
        let mut seen = Consistency::default();
        let mut batch = csv::Writer::from_writer(Vec::new());
        let mut staged = 0usize;
        for record in records {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    read += 1;
                    let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                    rejected.add(&[LineProblem { line, field: String::new(), key: e.to_string(), other_line: None }]);
                    continue;
                }
            };
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            read += 1;
            let line = record.position().map_or(read + 1, |p| lines.line_at(p.byte()));
            let checked = validate_line(&header, &record, line, &rules)
                .and_then(|l| seen.check(&l).map(|()| l).map_err(|p| vec![p]));
            match checked {
                Ok(l) => {
                    // Once a line is rejected, a whole-file import will load nothing: stop staging.
                    if partial || rejected.lines == 0 {
                        onboarding_db::stage(&mut batch, &l)?;
                        staged += 1;
                    }
                }
                Err(problems) => rejected.add(&problems),
            }
            if staged >= STAGE_BATCH {
                let full = std::mem::replace(&mut batch, csv::Writer::from_writer(Vec::new()));
                onboarding_db::copy_staged(&mut tx, full).await?;
                staged = 0;
                progress(Progress::Read { done: record.position().map_or(0, |p| p.byte()), total });
            }
        }
        onboarding_db::copy_staged(&mut tx, batch).await?;
        progress(Progress::Read { done: total, total });
    }

    // What only the archive can tell: a point code that is another customer's.
    if rejected.lines == 0 || partial {
        let taken = onboarding_db::points_of_others(&mut tx).await?;
        for (line, account) in &taken {
            let problem = LineProblem {
                line: *line as u64,
                field: "point_code".to_owned(),
                key: "onboarding.err.point_taken".to_owned(),
                other_line: None,
            };
            rejected.lines += 1;
            if rejected.report.errors.len() < LISTED {
                let reason = i.t_with(&problem.key, &[("account", account)]);
                rejected.report.errors.push(LineError { line: problem.line, field: problem.field, reason });
            }
        }
        if partial && !taken.is_empty() {
            let lines: Vec<i64> = taken.iter().map(|(line, _)| *line).collect();
            onboarding_db::drop_lines(&mut tx, &lines).await?;
        }
    }
    let rejected_lines = rejected.lines;
    report.read = read;
    report.rejected = rejected_lines;
    report.errors.sort_by_key(|e| e.line);
    if read == 0 || (rejected_lines > 0 && !partial) {
        tx.rollback().await?;
        return Ok(report);
    }

    report.applied = onboarding_db::apply(&mut tx, today, &|table| progress(Progress::Writing(table))).await?;
    report.loaded = true;
    let a = &report.applied;
    audit::record(
        &mut tx,
        actor,
        audit::Change {
            action: "import",
            entity: "customer_archive",
            entity_id: None,
            summary: format!(
                "import of {read} lines ({}{}): customers +{} ~{}, supply points +{} ~{}, meters +{} ~{}",
                report.encoding,
                if rejected_lines > 0 { format!(", {rejected_lines} rejected") } else { String::new() },
                a.customers.added,
                a.customers.updated,
                a.supply_points.added,
                a.supply_points.updated,
                a.meters.added,
                a.meters.updated
            ),
            before: None,
            after: Some(serde_json::json!({
                "encoding": report.encoding, "read": read, "rejected": rejected_lines, "partial": partial,
                "applied": report.applied,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The tenant's archive as an import file.
pub async fn export(pool: &PgPool, tenant_id: Uuid, out: impl std::io::Write + Send) -> anyhow::Result<u64> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let n = onboarding_db::export_csv(&mut tx, out).await?;
    tx.commit().await?;
    Ok(n)
}
