//! The service statistics as tables of numbers: complaints per 10,000
//! customers, SLA attainment, satisfaction, and the average working days per
//! expansion stage. Pure: the page and the CSV export both render these
//! tables, so what a supervisor sees and what they download agree.

use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive};

use crate::web::{chart, i18n::I18n};

/// A cell of a statistics table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Count(i64),
    /// A rate or an average; None where there is nothing to divide by.
    Value(Option<Decimal>),
}

impl Cell {
    /// As the page shows it, in the reader's number format; "—" for no value.
    pub fn display(&self, i: &I18n) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => i.number(Decimal::from(*n)),
            Cell::Value(Some(v)) => i.number(*v),
            Cell::Value(None) => "—".to_owned(),
        }
    }

    /// As the CSV holds it: plain digits Excel reads as numbers; empty for no value.
    pub fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Value(v) => v.map(|v| v.to_string()).unwrap_or_default(),
        }
    }

    fn number(&self) -> f64 {
        match self {
            Cell::Count(n) => *n as f64,
            Cell::Value(Some(v)) => v.to_f64().unwrap_or(0.0),
            _ => f64::NAN,
        }
    }
}

/// One table: a key for its CSV address, headers, rows, and which columns
/// are drawn as bar charts (each labelled by the first column).
#[derive(Clone, Debug)]
pub struct StatTable {
    pub key: &'static str,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub charted: Vec<usize>,
}

impl StatTable {
    /// The SVG charts of the charted columns, each with its column's header.
    pub fn charts(&self, i: &I18n) -> Vec<(String, String)> {
        self.charted
            .iter()
            .map(|&col| {
                let bars: Vec<chart::Bar> = self
                    .rows
                    .iter()
                    .map(|row| chart::Bar {
                        label: row.first().map(|c| c.display(i)).unwrap_or_default(),
                        value: row.get(col).map(Cell::number).unwrap_or(f64::NAN),
                        caption: row.get(col).map(|c| c.display(i)).unwrap_or_default(),
                    })
                    .collect();
                let header = self.headers.get(col).cloned().unwrap_or_default();
                let svg = chart::bar_chart(&format!("{} — {header}", self.title), &bars);
                (header, svg)
            })
            .collect()
    }

    pub fn csv_rows(&self) -> impl Iterator<Item = Vec<String>> + '_ {
        self.rows.iter().map(|row| row.iter().map(Cell::csv).collect())
    }
}

fn round(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero).normalize()
}

/// `part` of `whole` in percent, one decimal; None when `whole` is zero.
pub fn percent(part: i64, whole: i64) -> Option<Decimal> {
    (whole > 0).then(|| round(Decimal::from(part) * Decimal::from(100) / Decimal::from(whole), 1))
}

/// Complaints per 10,000 customers, two decimals; None without customers.
pub fn per_10k(count: i64, customers: i64) -> Option<Decimal> {
    (customers > 0).then(|| round(Decimal::from(count) * Decimal::from(10_000) / Decimal::from(customers), 2))
}

/// The average of `total_minutes` over `finished` items, in working days of
/// `day_minutes`, one decimal; None when nothing finished.
pub fn average_days(total_minutes: i64, finished: i64, day_minutes: i64) -> Option<Decimal> {
    (finished > 0 && day_minutes > 0)
        .then(|| round(Decimal::from(total_minutes) / Decimal::from(finished) / Decimal::from(day_minutes), 1))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::web::i18n::Locale;

    #[test]
    fn rates_round_half_away_from_zero_and_refuse_to_divide_by_nothing() {
        assert_eq!(percent(2, 3), Some(dec!(66.7)));
        assert_eq!(percent(1, 8), Some(dec!(12.5)));
        assert_eq!(percent(5, 5), Some(dec!(100)));
        assert_eq!(percent(0, 0), None);
        assert_eq!(per_10k(3, 120_000), Some(dec!(0.25)));
        assert_eq!(per_10k(1, 0), None);
        // 3 expansions, 4,050 working minutes in all, 450-minute days: 3 days each.
        assert_eq!(average_days(4050, 3, 450), Some(dec!(3)));
        assert_eq!(average_days(100, 0, 450), None);
    }

    #[test]
    fn cells_show_localised_and_export_plain() {
        let i = I18n(Locale::En);
        assert_eq!(Cell::Count(12345).display(&i), "12,345");
        assert_eq!(Cell::Count(12345).csv(), "12345");
        assert_eq!(Cell::Value(None).display(&i), "—");
        assert_eq!(Cell::Value(None).csv(), "");
        assert_eq!(Cell::Value(Some(dec!(66.7))).csv(), "66.7");
    }

    #[test]
    fn each_charted_column_draws_one_chart_labelled_by_the_first_column() {
        let table = StatTable {
            key: "t",
            title: "Complaints".into(),
            headers: vec!["Month".into(), "Count".into(), "Per 10,000".into()],
            rows: vec![
                vec![Cell::Text("2026-10".into()), Cell::Count(4), Cell::Value(Some(dec!(0.4)))],
                vec![Cell::Text("2026-11".into()), Cell::Count(2), Cell::Value(None)],
            ],
            charted: vec![2],
        };
        let charts = table.charts(&I18n(Locale::En));
        assert_eq!(charts.len(), 1);
        assert_eq!(charts[0].0, "Per 10,000");
        assert!(charts[0].1.contains("2026-10") && charts[0].1.contains("Per 10,000"));
        assert_eq!(table.csv_rows().collect::<Vec<_>>()[1], vec!["2026-11", "2", ""]);
    }
}
