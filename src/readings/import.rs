//! Loading many readings at once (a CSV file or a JSON array): every line is
//! checked and recorded in one transaction. By default one bad line rejects
//! the file and nothing is loaded; asked for explicitly, the good lines load
//! and the bad ones are reported. The report always says how many lines were
//! read, loaded, replaced, flagged and rejected, and why.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    config::Config,
    db,
    readings::{db as readings_db, model::ReadingDraft, service},
    web::{error::FieldErrors, i18n::I18n, input, upload},
};

pub const CSV_COLUMNS: [&str; 11] =
    ["meter", "period", "kind", "read_on", "total", "peak", "flat", "valley", "reactive", "max_demand_kw", "rollover"];

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// The line of the file (1 is the header) or the item of the array (from 1).
    pub line: u64,
    pub field: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub read: u64,
    pub loaded: u64,
    /// Loaded lines that superseded a live reading of the same meter, period and kind.
    pub replaced: u64,
    /// Loaded lines that wait in the review queue.
    pub flagged: u64,
    pub rejected: u64,
    pub errors: Vec<LineError>,
}

fn line_errors(line: u64, errors: &FieldErrors, i: &I18n) -> Vec<LineError> {
    errors.iter().map(|e| LineError { line, field: e.field.clone(), reason: i.t(&format!("err.{}", e.code)) }).collect()
}

fn flag(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" | "否" => Some(false),
        "1" | "true" | "yes" | "y" | "是" => Some(true),
        _ => None,
    }
}

/// [`parse_csv_within`] the configured line limit (file and environment, as
/// the command line reads them).
pub fn parse_csv(bytes: &[u8], i: &I18n) -> Result<Vec<(u64, ReadingDraft)>, Vec<LineError>> {
    let config = Config::load().unwrap_or_else(|_| Config::defaults());
    parse_csv_within(bytes, config.upload_max_line_bytes, i)
}

/// Parses a CSV file (header line first, columns by name, any order) into
/// drafts with their line numbers; a line that cannot be read is an error
/// of its own. Lines longer than `max_line_bytes` reject the file, each named.
pub fn parse_csv_within(
    bytes: &[u8],
    max_line_bytes: usize,
    i: &I18n,
) -> Result<Vec<(u64, ReadingDraft)>, Vec<LineError>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let limit = max_line_bytes.to_string();
    let too_long: Vec<LineError> = upload::long_lines(bytes, max_line_bytes)
        .map(|line| LineError {
            line,
            field: String::new(),
            reason: i.t_with("upload.line_too_long", &[("limit", &limit)]),
        })
        .collect();
    if !too_long.is_empty() {
        return Err(too_long);
    }
    // Files saved by Excel end lines with CRLF, which throws the csv crate's
    // line numbers off by one; counted on LF they match what an editor shows.
    let text: Vec<u8> = if bytes.windows(2).any(|w| w == b"\r\n") {
        String::from_utf8_lossy(bytes).replace("\r\n", "\n").into_bytes()
    } else {
        bytes.to_vec()
    };
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_slice());
    let header_error = |reason: String| vec![LineError { line: 1, field: String::new(), reason }];
    let headers = reader.headers().map_err(|e| header_error(e.to_string()))?.clone();
    let mut columns = Vec::new();
    for h in headers.iter() {
        let Some(known) = CSV_COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(h)) else {
            return Err(header_error(format!("{}: {h}", i.t("err.unknown_column"))));
        };
        columns.push(known);
    }
    for required in ["meter", "read_on", "total"] {
        if !headers.iter().any(|h| h.eq_ignore_ascii_case(required)) {
            return Err(header_error(format!("{}: {required}", i.t("err.missing_column"))));
        }
    }
    let mut drafts = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(LineError { line, field: String::new(), reason: e.to_string() });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut d = ReadingDraft::default();
        for (value, &column) in record.iter().zip(&columns) {
            if input::has_control_char(value, false) {
                let reason = i.t("err.control_character");
                errors.push(LineError { line, field: CSV_COLUMNS[column].into(), reason });
                continue;
            }
            let some = || (!value.is_empty()).then(|| value.to_owned());
            match CSV_COLUMNS[column] {
                "meter" => d.meter = value.to_owned(),
                "period" => d.period = some(),
                "kind" => d.kind = some(),
                "read_on" => d.read_on = value.to_owned(),
                "total" => d.total = value.to_owned(),
                "peak" => d.peak = some(),
                "flat" => d.flat = some(),
                "valley" => d.valley = some(),
                "reactive" => d.reactive = some(),
                "max_demand_kw" => d.max_demand_kw = some(),
                _ => match flag(value) {
                    Some(rolled) => d.rollover = Some(rolled),
                    None => errors.push(LineError { line, field: "rollover".into(), reason: i.t("err.yes_or_no") }),
                },
            }
        }
        drafts.push((line, d));
    }
    if errors.is_empty() { Ok(drafts) } else { Err(errors) }
}

/// Records the drafts in one transaction of the tenant. `keep_good`: load the
/// good lines even when some are rejected (else a rejected line loads nothing).
#[allow(clippy::too_many_arguments)]
pub async fn load(
    pool: &PgPool,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
    drafts: &[(u64, ReadingDraft)],
    today: NaiveDate,
    source: &str,
    keep_good: bool,
    i: &I18n,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> anyhow::Result<ImportReport> {
    let mut tx = db::begin_tenant(pool, tenant_id, user_id).await?;
    let jump_factor = readings_db::jump_factor(&mut tx).await?;
    let mut report = ImportReport { read: drafts.len() as u64, ..Default::default() };
    for (n, (line, draft)) in drafts.iter().enumerate() {
        match service::record(&mut tx, draft, today, source, user_id, jump_factor).await? {
            Ok(recorded) => {
                report.loaded += 1;
                report.replaced += u64::from(recorded.replaced);
                report.flagged += u64::from(!recorded.flags.is_empty());
            }
            Err(errors) => {
                report.rejected += 1;
                report.errors.extend(line_errors(*line, &errors, i));
            }
        }
        if n % 500 == 0 {
            progress(n as u64);
        }
    }
    progress(drafts.len() as u64);
    if report.rejected > 0 && !keep_good {
        // All or nothing: the file is rejected whole and the transaction rolls back.
        tx.rollback().await?;
        report.loaded = 0;
        report.replaced = 0;
        report.flagged = 0;
        return Ok(report);
    }
    tx.commit().await?;
    // A month's readings are what the next bill run reads: plan it from them.
    if report.loaded + report.replaced >= ANALYZE_AFTER_ROWS {
        db::analyze_tables(&mut *pool.acquire().await?, &["meter_readings"]).await?;
    }
    Ok(report)
}

/// Loads this large are analysed before anything reads them.
const ANALYZE_AFTER_ROWS: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Locale;

    #[test]
    fn csv_columns_go_by_name_and_lines_keep_their_numbers() {
        let csv = "\u{feff}read_on,meter,total,rollover\r\n2026-11-25,M1,100.5,\r\n2026-11-25,M2,99,是\r\n";
        let drafts = parse_csv(csv.as_bytes(), &I18n(Locale::En)).unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!((drafts[0].0, drafts[0].1.meter.as_str(), drafts[0].1.total.as_str()), (2, "M1", "100.5"));
        assert_eq!((drafts[1].0, drafts[1].1.rollover), (3, Some(true)));
    }

    #[test]
    fn unknown_columns_and_unreadable_lines_are_named() {
        let i = I18n(Locale::En);
        let err = parse_csv(b"meter,read_on,total,colour\n", &i).unwrap_err();
        assert_eq!(err[0].line, 1);
        assert!(err[0].reason.contains("colour"));
        let err = parse_csv(b"meter,read_on\n", &i).unwrap_err();
        assert!(err[0].reason.contains("total"));
        let err = parse_csv(b"meter,read_on,total\nM1,2026-11-25\nM2,2026-11-25,5,extra\n", &i).unwrap_err();
        assert_eq!(err.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3]);
        let err = parse_csv(b"meter,read_on,total,rollover\nM1,2026-11-25,5,maybe\n", &i).unwrap_err();
        assert_eq!((err[0].line, err[0].field.as_str()), (2, "rollover"));
    }

    #[test]
    fn lines_over_the_limit_are_named() {
        let csv = format!("meter,read_on,total\nM1,2026-11-25,5\nM2,2026-11-25,{}\n", "9".repeat(40));
        let err = parse_csv_within(csv.as_bytes(), 32, &I18n(Locale::En)).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].line, 3);
        assert!(err[0].reason.contains("32 bytes"), "{}", err[0].reason);
        assert!(parse_csv_within(csv.as_bytes(), 64, &I18n(Locale::En)).is_ok());
    }
}
