//! The rules of personal information (PIPL): when a closed account may be
//! anonymised, and what its personal fields become.

use chrono::{DateTime, Months, Utc};
use uuid::Uuid;

/// Years a closed account keeps its personal data when the tenant has not
/// set its own period (DOMAIN.md names none; three years covers the time
/// within which a closed account's bills can still be disputed).
pub const DEFAULT_RETENTION_YEARS: i32 = 3;

/// The text that replaces a name: `已匿名 #` and the last eight hex digits
/// of the customer id (the end of a v7 id is its random part), so staff can
/// still tell two anonymised accounts apart.
pub fn mark(id: Uuid) -> String {
    let hex = id.simple().to_string();
    format!("已匿名 #{}", &hex[hex.len() - 8..])
}

/// The moment the retention period of an account closed at `closed_at` ends.
pub fn retention_ends(closed_at: DateTime<Utc>, years: i32) -> DateTime<Utc> {
    let months = u32::try_from(years.max(0)).unwrap_or(0) * 12;
    closed_at.checked_add_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The latest closing time whose retention period has passed at `now`.
pub fn latest_closing(now: DateTime<Utc>, years: i32) -> DateTime<Utc> {
    let months = u32::try_from(years.max(0)).unwrap_or(0) * 12;
    now.checked_sub_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What an account is, as far as anonymisation goes.
pub struct AccountState<'a> {
    pub status: &'a str,
    pub closed_at: Option<DateTime<Utc>>,
    pub anonymised: bool,
}

/// Whether the account may be anonymised at `now`; the refusal is an error
/// code (`err.<code>`): `account_not_closed`, `retention_not_passed` or
/// `already_anonymised`.
pub fn may_anonymise(account: &AccountState, years: i32, now: DateTime<Utc>) -> Result<(), &'static str> {
    if account.anonymised {
        return Err("already_anonymised");
    }
    match (account.status, account.closed_at) {
        ("closed", Some(closed)) if retention_ends(closed, years) <= now => Ok(()),
        ("closed", _) => Err("retention_not_passed"),
        _ => Err("account_not_closed"),
    }
}

/// The typed confirmation matches the account number (spaces around ignored).
pub fn confirmed(typed: &str, account_no: &str) -> bool {
    typed.trim() == account_no
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_mark_ends_with_the_random_part_of_the_id() {
        let id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
        assert_eq!(mark(id), "已匿名 #099a8057");
    }

    #[test]
    fn retention_runs_whole_years_from_closing() {
        assert_eq!(retention_ends(at(2020, 2, 29), 3), at(2023, 2, 28));
        assert_eq!(retention_ends(at(2021, 6, 1), 1), at(2022, 6, 1));
    }

    #[test]
    fn only_a_closed_account_past_its_retention_may_be_anonymised() {
        let now = at(2026, 6, 1);
        let open = AccountState { status: "active", closed_at: None, anonymised: false };
        assert_eq!(may_anonymise(&open, 3, now), Err("account_not_closed"));
        let recent = AccountState { status: "closed", closed_at: Some(at(2024, 6, 2)), anonymised: false };
        assert_eq!(may_anonymise(&recent, 3, now), Err("retention_not_passed"));
        assert_eq!(may_anonymise(&recent, 1, now), Ok(()));
        let unknown = AccountState { status: "closed", closed_at: None, anonymised: false };
        assert_eq!(may_anonymise(&unknown, 3, now), Err("retention_not_passed"));
        let old = AccountState { status: "closed", closed_at: Some(at(2023, 6, 1)), anonymised: false };
        assert_eq!(may_anonymise(&old, 3, now), Ok(()), "the day the period ends");
        let done = AccountState { anonymised: true, ..old };
        assert_eq!(may_anonymise(&done, 3, now), Err("already_anonymised"));
    }

    #[test]
    fn the_latest_closing_mirrors_the_end_of_retention() {
        assert_eq!(latest_closing(at(2026, 6, 1), 3), at(2023, 6, 1));
    }

    #[test]
    fn the_confirmation_is_the_account_number() {
        assert!(confirmed(" 1100000001 ", "1100000001"));
        assert!(!confirmed("110000000", "1100000001"));
        assert!(!confirmed("", "1100000001"));
    }
}
