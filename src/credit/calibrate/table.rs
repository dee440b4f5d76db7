//! Reading a CSV of factors (and a 0/1 label) into typed inputs.
//!
//! A file is read whole before its columns are typed: a column is numeric
//! only when every present cell parses as a number, and a file scored by a
//! card must be typed as the training file was, not by its own cells.

use std::io::Read;

use csv::{ReaderBuilder, StringRecord, Trim};

use super::CalibrateError;
use crate::credit::card::Input;

/// How a column's cells are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Number,
    Text,
}

/// Factor columns by name and one row of inputs per data line, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Input>>,
}

impl Table {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Text when any cell is text; a column of only numbers and gaps is numeric.
    pub fn kind_of(&self, column: usize) -> ColumnKind {
        if self.rows.iter().any(|row| matches!(row[column], Input::Text(_))) {
            ColumnKind::Text
        } else {
            ColumnKind::Number
        }
    }

    /// The first `n` rows and the rest, keeping file order (a time-based split).
    pub fn split_at(mut self, n: usize) -> (Table, Table) {
        let rest = self.rows.split_off(n);
        let later = Table { columns: self.columns.clone(), rows: rest };
        (self, later)
    }
}

/// A CSV file whose cells are still text, with each record's line number.
pub struct CsvFile {
    pub columns: Vec<String>,
    records: Vec<StringRecord>,
}

impl CsvFile {
    /// Reads the header and every record; cells are trimmed. Fails on an empty
    /// file, a repeated column name or a row whose cell count differs from the
    /// header's.
    pub fn read(reader: impl Read) -> Result<CsvFile, CalibrateError> {
        let mut csv = ReaderBuilder::new().flexible(true).trim(Trim::All).from_reader(reader);
        let columns: Vec<String> = csv.headers()?.iter().map(str::to_owned).collect();
        if columns.is_empty() {
            return Err(CalibrateError::EmptyFile);
        }
        if let Some(twice) = columns.iter().enumerate().find_map(|(i, c)| columns[..i].contains(c).then_some(c)) {
            return Err(CalibrateError::DuplicateColumn(twice.clone()));
        }
        let mut records = Vec::new();
        for record in csv.records() {
            let record = record?;
            if record.len() != columns.len() {
                return Err(CalibrateError::RowLength {
                    line: line_of(&record),
                    found: record.len(),
                    expected: columns.len(),
                });
            }
            records.push(record);
        }
        Ok(CsvFile { columns, records })
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    /// The label column's values: 1 for the bad outcome, 0 otherwise.
    pub fn labels(&self, label: &str) -> Result<Vec<u8>, CalibrateError> {
        let column = self.index(label, "label")?;
        self.records
            .iter()
            .map(|record| match record[column].parse::<f64>() {
                Ok(0.0) => Ok(0),
                Ok(1.0) => Ok(1),
                _ => Err(cell_error(
                    record,
                    label,
                    format!("the label must be 0 or 1, found {}", shown(&record[column])),
                )),
            })
            .collect()
    }

    /// Every column but `label`, typed by its own cells.
    pub fn to_table(&self, label: Option<&str>) -> Table {
        let kept: Vec<(usize, ColumnKind)> = (0..self.columns.len())
            .filter(|&c| Some(self.columns[c].as_str()) != label)
            .map(|c| (c, self.inferred_kind(c)))
            .collect();
        let rows = self
            .records
            .iter()
            .map(|record| kept.iter().map(|&(c, kind)| read_cell(&record[c], kind).expect("kind inferred")).collect())
            .collect();
        Table { columns: kept.iter().map(|&(c, _)| self.columns[c].clone()).collect(), rows }
    }

    /// The named columns, in the order given and typed as given (as the
    /// training file had them); other columns are ignored.
    pub fn to_table_as(&self, wanted: &[(String, ColumnKind)]) -> Result<Table, CalibrateError> {
        let columns: Vec<usize> =
            wanted.iter().map(|(name, _)| self.index(name, "factor")).collect::<Result<_, _>>()?;
        let rows = self
            .records
            .iter()
            .map(|record| {
                columns
                    .iter()
                    .zip(wanted)
                    .map(|(&c, (name, kind))| {
                        read_cell(&record[c], *kind).ok_or_else(|| {
                            cell_error(
                                record,
                                name,
                                format!(
                                    "expected a number (the column is numeric in the training file), found {}",
                                    shown(&record[c])
                                ),
                            )
                        })
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        Ok(Table { columns: wanted.iter().map(|(name, _)| name.clone()).collect(), rows })
    }

    fn index(&self, name: &str, role: &'static str) -> Result<usize, CalibrateError> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| CalibrateError::UnknownColumn {
            role,
            column: name.to_owned(),
            header: self.columns.clone(),
        })
    }

    fn inferred_kind(&self, column: usize) -> ColumnKind {
        if self.records.iter().all(|r| read_cell(&r[column], ColumnKind::Number).is_some()) {
            ColumnKind::Number
        } else {
            ColumnKind::Text
        }
    }
}

/// Reads a whole CSV typed by its own cells; with `label`, that column is
/// required and returned as the labels instead of a factor.
pub fn read_csv(reader: impl Read, label: Option<&str>) -> Result<(Table, Option<Vec<u8>>), CalibrateError> {
    let file = CsvFile::read(reader)?;
    let labels = label.map(|l| file.labels(l)).transpose()?;
    Ok((file.to_table(label), labels))
}

/// Blank cells and the usual spellings of "not available" are missing.
fn is_missing(cell: &str) -> bool {
    cell.is_empty() || ["na", "nan", "null"].iter().any(|m| cell.eq_ignore_ascii_case(m))
}

/// `None` when a numeric column's cell is not a finite number (infinite
/// values cannot be binned, so "inf" reads as text).
fn read_cell(cell: &str, kind: ColumnKind) -> Option<Input> {
    if is_missing(cell) {
        return Some(Input::Missing);
    }
    match kind {
        ColumnKind::Number => cell.parse::<f64>().ok().filter(|x| x.is_finite()).map(Input::Number),
        ColumnKind::Text => Some(Input::Text(cell.to_owned())),
    }
}

/// The 1-based line a record starts on, as a text editor counts (header = 1).
fn line_of(record: &StringRecord) -> u64 {
    record.position().map_or(0, |p| p.line())
}

fn cell_error(record: &StringRecord, column: &str, problem: String) -> CalibrateError {
    CalibrateError::Cell { line: line_of(record), column: column.to_owned(), problem }
}

fn shown(cell: &str) -> String {
    if cell.is_empty() { "an empty cell".to_owned() } else { format!("{cell:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(csv: &str, label: Option<&str>) -> String {
        read_csv(csv.as_bytes(), label).unwrap_err().to_string()
    }

    #[test]
    fn columns_are_numeric_only_when_every_present_cell_is_a_number() {
        let csv = "amount,region,gaps,default\n 1.5 ,north,NA,0\n2,south, null ,1\n,3,NaN,0\n1e3,,nan,1\n";
        let (table, labels) = read_csv(csv.as_bytes(), Some("default")).unwrap();
        assert_eq!(table.columns, ["amount", "region", "gaps"]);
        assert_eq!(labels, Some(vec![0, 1, 0, 1]));
        assert_eq!(table.rows[0], [Input::Number(1.5), Input::Text("north".into()), Input::Missing]);
        // "3" stays text: the column holds text elsewhere.
        assert_eq!(table.rows[2], [Input::Missing, Input::Text("3".into()), Input::Missing]);
        assert_eq!(table.rows[3], [Input::Number(1000.0), Input::Missing, Input::Missing]);
        assert_eq!(table.kind_of(0), ColumnKind::Number);
        assert_eq!(table.kind_of(1), ColumnKind::Text);
        // A column of gaps only has no text, so it counts as numeric.
        assert_eq!(table.kind_of(2), ColumnKind::Number);
    }

    #[test]
    fn an_infinite_value_makes_the_column_text() {
        let (table, _) = read_csv("x\n1\ninf\n".as_bytes(), None).unwrap();
        assert_eq!(table.kind_of(0), ColumnKind::Text);
    }

    #[test]
    fn a_file_without_the_label_reads_without_labels() {
        let (table, labels) = read_csv("x,y\n1,a\n".as_bytes(), None).unwrap();
        assert_eq!(table.columns, ["x", "y"]);
        assert_eq!(labels, None);
    }

    #[test]
    fn a_bad_label_names_its_line_and_column() {
        let csv = "x,default\n1,0\n2,1.0\n3,yes\n";
        assert_eq!(
            error_of(csv, Some("default")),
            r#"line 4, column "default": the label must be 0 or 1, found "yes""#
        );
        assert_eq!(
            error_of("x,default\n1,\n", Some("default")),
            r#"line 2, column "default": the label must be 0 or 1, found an empty cell"#
        );
        assert_eq!(
            error_of("x,default\n1,2\n", Some("default")),
            r#"line 2, column "default": the label must be 0 or 1, found "2""#
        );
    }

    #[test]
    fn line_numbers_count_lines_inside_quoted_cells() {
        let csv = "note,default\n\"two\nlines\",0\nx,maybe\n";
        assert_eq!(
            error_of(csv, Some("default")),
            r#"line 4, column "default": the label must be 0 or 1, found "maybe""#
        );
    }

    #[test]
    fn an_unknown_label_column_lists_the_header() {
        assert_eq!(
            error_of("x,y\n1,0\n", Some("default")),
            r#"the label column "default" is not in the header (columns: "x", "y")"#
        );
    }

    #[test]
    fn an_empty_file_needs_a_header() {
        assert_eq!(error_of("", None), "the file is empty: a header row is required");
        assert_eq!(error_of("\n\n", None), "the file is empty: a header row is required");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_cells_is_named() {
        assert_eq!(error_of("x,y\n1,2\n3\n", None), "line 3: 1 cells where the header has 2");
        assert_eq!(error_of("x,y\n1,2,3\n", None), "line 2: 3 cells where the header has 2");
    }

    #[test]
    fn a_repeated_column_name_is_refused() {
        assert_eq!(error_of("x,y,x\n1,2,3\n", None), r#"the header names column "x" twice"#);
    }

    #[test]
    fn a_file_typed_as_the_training_file_keeps_text_and_refuses_text_for_numbers() {
        let file = CsvFile::read("extra,region,amount\nzz,1,5\nzz,2,\n".as_bytes()).unwrap();
        let wanted = [("amount".to_owned(), ColumnKind::Number), ("region".to_owned(), ColumnKind::Text)];
        let table = file.to_table_as(&wanted).unwrap();
        assert_eq!(table.columns, ["amount", "region"]);
        assert_eq!(table.rows[0], [Input::Number(5.0), Input::Text("1".into())]);
        assert_eq!(table.rows[1], [Input::Missing, Input::Text("2".into())]);

        let file = CsvFile::read("amount,region\n5,a\nlots,b\n".as_bytes()).unwrap();
        assert_eq!(
            file.to_table_as(&wanted).unwrap_err().to_string(),
            r#"line 3, column "amount": expected a number (the column is numeric in the training file), found "lots""#
        );
        let file = CsvFile::read("region\na\n".as_bytes()).unwrap();
        assert_eq!(
            file.to_table_as(&wanted).unwrap_err().to_string(),
            r#"the factor column "amount" is not in the header (columns: "region")"#
        );
    }

    #[test]
    fn a_split_keeps_file_order() {
        let (table, _) = read_csv("x\n1\n2\n3\n".as_bytes(), None).unwrap();
        let (first, later) = table.split_at(2);
        assert_eq!(first.rows, [[Input::Number(1.0)], [Input::Number(2.0)]]);
        assert_eq!(later.rows, [[Input::Number(3.0)]]);
        assert_eq!(later.columns, ["x"]);
    }
}
