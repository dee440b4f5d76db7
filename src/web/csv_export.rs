//! CSV downloads that open correctly in Excel: UTF-8 with a byte-order mark
//! (else Excel reads Chinese as mojibake), CRLF line ends, and cells that
//! would start a formula prefixed with an apostrophe.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

use crate::web::error::AppError;

/// Writes the header and rows as an Excel-friendly CSV document.
pub fn to_csv<R, C>(header: &[String], rows: R) -> Result<Vec<u8>, AppError>
where
    R: IntoIterator<Item = Vec<C>>,
    C: AsRef<str>,
{
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(&mut out);
        w.write_record(header.iter().map(|h| guard(h).into_owned())).map_err(csv_error)?;
        for row in rows {
            w.write_record(row.iter().map(|c| guard(c.as_ref()).into_owned())).map_err(csv_error)?;
        }
        w.flush().map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(out)
}

/// A download response; `filename` should be plain ASCII.
pub fn download(filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

fn csv_error(err: csv::Error) -> AppError {
    AppError::Internal(err.into())
}

/// Excel runs a cell that starts with = + - @ (or a tab/CR) as a formula;
/// plain negative numbers stay numbers.
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky =
        cell.starts_with(['=', '+', '@', '\t', '\r']) || (cell.starts_with('-') && cell.parse::<f64>().is_err());
    if risky { format!("'{cell}").into() } else { cell.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_bom_crlf_and_quotes_where_needed() {
        let out = to_csv(&["月份".to_owned(), "投诉".to_owned()], [vec!["2026-11", "12"], vec!["a,b", "-3"]]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "\u{feff}月份,投诉\r\n2026-11,12\r\n\"a,b\",-3\r\n");
    }

    #[test]
    fn formula_cells_are_defused() {
        let out = to_csv(&["x".to_owned()], [vec!["=HYPERLINK(\"x\")"], vec!["@SUM(A1)"], vec!["-x"]]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
        assert!(text.contains("'@SUM(A1)"));
        assert!(text.contains("'-x"));
    }
}
