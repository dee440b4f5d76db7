//! Abrupt-change warnings on large customers' load (负荷突变预警): a sudden
//! lasting change in a meter's daily energy — an equipment defect, a new
//! line, possible theft — is recorded as a load anomaly, shown to the
//! customer's account manager on their portfolio and to supervisors and
//! tenant admins on a list, acknowledged with a note, and raised as the
//! `load_anomaly` notice event.
//!
//! - `detect`: the method (pure, unit tested; documented there).
//! - `db`: the scan over `load_days` (the job), the records, acknowledging.
//! - `pages`: the list, one anomaly with the chart around the change, the
//!   acknowledgement.
//!
//! "Large customers" are those whose meters send interval data: the scan
//! looks at every meter with `load_days` in its window.

pub mod db;
pub mod detect;
pub mod pages;

/// Which way the load moved (stored, and a timeline status).
pub const DIRECTIONS: [&str; 2] = ["drop", "rise"];

/// An anomaly is open until someone acknowledges it.
pub const STATUSES: [&str; 2] = ["open", "acknowledged"];

/// The direction code of a relative change.
pub fn direction(relative: f64) -> &'static str {
    if relative < 0.0 { "drop" } else { "rise" }
}

/// A stored size (percent, one decimal) as whole percent with its sign.
pub fn percent_of(size_pct: &rust_decimal::Decimal) -> String {
    let whole = size_pct.round();
    if whole.is_sign_positive() && !whole.is_zero() { format!("+{whole}%") } else { format!("{whole}%") }
}

/// A relative change as whole percent with its sign: −0.354 → "-35%".
pub fn percent(relative: f64) -> String {
    format!("{:+.0}%", relative * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_percentages() {
        assert_eq!(direction(-0.35), "drop");
        assert_eq!(direction(0.4), "rise");
        assert_eq!(percent(-0.354), "-35%");
        assert_eq!(percent(0.4), "+40%");
        assert_eq!(percent_of(&rust_decimal_macros::dec!(-35.4)), "-35%");
        assert_eq!(percent_of(&rust_decimal_macros::dec!(40.0)), "+40%");
    }
}
