//! The supply contract (供用电合同) a customer signs: its number and term,
//! recorded at the counter. A renewal is a new contract; the one in force is
//! the latest to start. Its expiry comes due as a notice (`contract_expiry`).

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

/// The longest number a contract may carry (the column's check).
pub const MAX_NO_CHARS: usize = 40;
/// A contract signed today may start up to a year from now and run up to 30 years.
const LATEST_START_MONTHS: u32 = 12;
const LATEST_EXPIRY_MONTHS: u32 = 30 * 12;
/// Within this many days of its end a contract shows as ending soon.
pub const ENDING_SOON_DAYS: i64 = 60;

/// A recorded contract.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contract {
    pub id: Uuid,
    pub contract_no: String,
    pub starts_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// The terms' label codes (`contracts.term_*`), in [`Term`]'s order.
pub const TERMS: [&str; 4] = ["not_started", "in_force", "ending_soon", "expired"];

/// Where a contract stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    NotStarted,
    InForce,
    /// In force, ending within [`ENDING_SOON_DAYS`]; the days left.
    EndingSoon(i64),
    Expired,
}

impl Term {
    pub fn code(self) -> &'static str {
        match self {
            Term::NotStarted => TERMS[0],
            Term::InForce => TERMS[1],
            Term::EndingSoon(_) => TERMS[2],
            Term::Expired => TERMS[3],
        }
    }
}

impl Contract {
    pub fn term(&self, today: NaiveDate) -> Term {
        let left = (self.expires_on - today).num_days();
        if today < self.starts_on {
            Term::NotStarted
        } else if left < 0 {
            Term::Expired
        } else if left <= ENDING_SOON_DAYS {
            Term::EndingSoon(left)
        } else {
            Term::InForce
        }
    }
}

/// A contract as typed on the page or sent to the API (dates `YYYY-MM-DD`).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ContractForm {
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 40, example = "GY-2026-0012")]
    pub contract_no: String,
    #[serde(default)]
    #[schema(required = true, format = Date, example = "2026-01-01")]
    pub starts_on: String,
    #[serde(default)]
    #[schema(required = true, format = Date, example = "2029-12-31")]
    pub expires_on: String,
}

/// A checked contract, ready to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewContract {
    pub contract_no: String,
    pub starts_on: NaiveDate,
    pub expires_on: NaiveDate,
}

impl ContractForm {
    /// Checks the form on `today`: a visible number, a start at most a year
    /// ahead and an end after the start, at most 30 years ahead.
    pub fn check(&self, today: NaiveDate) -> Result<NewContract, FieldErrors> {
        let mut errors = FieldErrors::default();
        let contract_no = input::visible_text(&self.contract_no, MAX_NO_CHARS, "contract_no", true, &mut errors);
        let mut date = |field: &'static str, raw: &str, months: u32| {
            let latest = today.checked_add_months(Months::new(months)).expect("a date within the calendar");
            input::date_field(raw, latest).map_err(|code| errors.add(field, code)).ok()
        };
        let starts_on = date("starts_on", &self.starts_on, LATEST_START_MONTHS);
        let expires_on = date("expires_on", &self.expires_on, LATEST_EXPIRY_MONTHS);
        if let (Some(start), Some(end)) = (starts_on, expires_on)
            && end <= start
        {
            errors.add("expires_on", "contract_ends_before_start");
        }
        match (starts_on, expires_on) {
            (Some(starts_on), Some(expires_on)) => errors.finish(NewContract { contract_no, starts_on, expires_on }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn form(no: &str, start: &str, end: &str) -> ContractForm {
        ContractForm { contract_no: no.into(), starts_on: start.into(), expires_on: end.into() }
    }

    fn codes(result: Result<NewContract, FieldErrors>) -> Vec<(String, &'static str)> {
        result.unwrap_err().iter().map(|e| (e.field.clone(), e.code)).collect()
    }

    #[test]
    fn a_good_contract_is_trimmed_and_kept() {
        let checked = form("  HT-2026-0012 ", "2026-01-01", "2030-12-31").check(day("2026-12-02")).unwrap();
        assert_eq!(
            checked,
            NewContract {
                contract_no: "HT-2026-0012".into(),
                starts_on: day("2026-01-01"),
                expires_on: day("2030-12-31")
            }
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let today = day("2026-12-02");
        assert_eq!(
            codes(form("", "2026/01/01", "").check(today)),
            [
                ("contract_no".into(), "required"),
                ("starts_on".into(), "date_format"),
                ("expires_on".into(), "required")
            ]
        );
        assert_eq!(
            codes(form("X", "2026-06-01", "2026-06-01").check(today)),
            [("expires_on".into(), "contract_ends_before_start")]
        );
        assert_eq!(codes(form("X", "2028-01-01", "2029-01-01").check(today)), [("starts_on".into(), "date_too_late")]);
        assert_eq!(codes(form("X", "2026-01-01", "2057-01-01").check(today)), [("expires_on".into(), "date_too_late")]);
        assert_eq!(
            codes(form(&"9".repeat(41), "2026-01-01", "2027-01-01").check(today)),
            [("contract_no".into(), "too_long")]
        );
    }

    #[test]
    fn the_term_reads_the_day() {
        let c = Contract {
            id: Uuid::nil(),
            contract_no: "X".into(),
            starts_on: day("2026-01-01"),
            expires_on: day("2026-12-31"),
            recorded_by: String::new(),
            recorded_at: Utc::now(),
        };
        assert_eq!(c.term(day("2025-12-31")), Term::NotStarted);
        assert_eq!(c.term(day("2026-06-01")), Term::InForce);
        assert_eq!(c.term(day("2026-11-01")), Term::EndingSoon(60));
        assert_eq!(c.term(day("2026-12-31")), Term::EndingSoon(0));
        assert_eq!(c.term(day("2027-01-01")), Term::Expired);
    }
}
