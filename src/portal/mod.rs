//! The customer self-service portal (`/portal`): customers register against
//! their account with a one-time code sent to the phone or email the account
//! has on file, sign in, link further accounts, and see each account's
//! balance, bills and payments on a phone-sized screen.
//!
//! Customers are their own kind of principal: their own logins, sessions,
//! cookie and limits. Once signed in, every read runs as the database role
//! `gridcrm_portal`, whose row-level security shows only the accounts linked
//! to the caller (migration 0053).
//!
//! This file holds the rules; `db` the SQL, `auth` the session, `pages` the
//! handlers.

pub mod applications;
pub mod appointments;
pub mod auth;
pub mod bills;
pub mod contacts;
pub mod db;
pub mod fake_gateway;
pub mod faults;
pub mod gateway;
pub mod notices;
pub mod pages;
pub mod pay;
pub mod points;

use rand::Rng;
use uuid::Uuid;

use crate::web::{error::FieldErrors, password};

/// A reference number a page was sent back with (`?sent=C00000012`), kept
/// only if it looks like one: it is shown on the page.
pub fn reference(q: Option<String>) -> Option<String> {
    q.filter(|r| r.len() <= 32 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// How long a one-time code lives.
pub const CODE_MINUTES: i64 = 10;
/// Wrong tries a code takes before it is dead.
pub const CODE_ATTEMPTS: i32 = 5;
/// Codes sent for one account in an hour; more requests send nothing (and
/// say nothing different, so the limit does not tell that the account exists).
pub const CODES_PER_ACCOUNT_PER_HOUR: i64 = 3;
/// Code requests from one address in an hour (kept in `AppState`).
pub use crate::web::auth::PORTAL_CODE_REQUESTS_PER_HOUR;
/// Wrong passwords before a login is locked, and for how long.
pub const LOGIN_FAILURES_BEFORE_LOCK: i32 = 5;
pub const LOCK_MINUTES: i32 = 15;
/// A portal session ends after this long, or after this long unused.
pub const SESSION_HOURS: i32 = 12;
pub const SESSION_IDLE_MINUTES: i32 = 30;

/// What a code is for: making a login, or linking one more account to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Link,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Link => "link",
        }
    }
}

/// Six random digits.
pub fn new_code() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// What is stored of a code: a hash salted with the code's id, so equal
/// codes of two requests do not look alike.
pub fn code_hash(code_id: Uuid, code: &str) -> Vec<u8> {
    password::sha256(&format!("{}:{}", code_id.simple(), code.trim()))
}

/// An account number as typed: spaces and dashes dropped; 6–16 digits.
pub fn parse_account_no(raw: &str, errors: &mut FieldErrors) -> String {
    let no: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if !(6..=16).contains(&no.len()) || !no.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("account_no", "account_no_format");
    }
    no
}

/// A login: a mainland mobile number (11 digits from 1, spaces and dashes
/// dropped, an optional +86 prefix) or an email address, lower-cased.
pub fn parse_login(raw: &str, errors: &mut FieldErrors) -> String {
    let trimmed = raw.trim().to_lowercase();
    if trimmed.contains('@') {
        let valid = (5..=100).contains(&trimmed.len())
            && trimmed.split_once('@').is_some_and(|(user, domain)| {
                !user.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && user.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                    && domain.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
            });
        if !valid {
            errors.add("login", "portal_login_format");
        }
        return trimmed;
    }
    let digits: String = trimmed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_owned();
    if !(digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit())) {
        errors.add("login", "portal_login_format");
    }
    digits
}

/// A one-time code as typed: six digits (spaces dropped).
pub fn parse_code(raw: &str, errors: &mut FieldErrors) -> String {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if !(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())) {
        errors.add("code", "portal_code_format");
    }
    code
}

/// Shows an account's phone as customers see it on a bank's app: the
/// first three and the last four digits.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        return "****".to_owned();
    }
    let head: String = digits[..3].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_their_hashes_depend_on_the_request() {
        for _ in 0..50 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(code_hash(a, "123456"), code_hash(a, " 123456 "));
        assert_ne!(code_hash(a, "123456"), code_hash(b, "123456"));
        assert_ne!(code_hash(a, "123456"), code_hash(a, "123457"));
    }

    #[test]
    fn logins_are_mobile_numbers_or_email_addresses() {
        let mut e = FieldErrors::default();
        assert_eq!(parse_login(" 138-0000-0001 ", &mut e), "13800000001");
        assert_eq!(parse_login("+86 13800000001", &mut e), "13800000001");
        assert_eq!(parse_login("Wang.Li@Example.CN", &mut e), "wang.li@example.cn");
        assert!(e.is_empty());
        for bad in ["12345", "23800000001", "1380000000x", "wang@", "@example.cn", "wang@example", "王@example.cn"] {
            let mut e = FieldErrors::default();
            parse_login(bad, &mut e);
            assert!(e.has("login"), "{bad} was taken");
        }
    }

    #[test]
    fn account_numbers_and_codes_are_digits_as_typed() {
        let mut e = FieldErrors::default();
        assert_eq!(parse_account_no(" 1100 0001 ", &mut e), "11000001");
        assert_eq!(parse_code("123 456", &mut e), "123456");
        assert!(e.is_empty());
        parse_account_no("12a45678", &mut e);
        parse_code("12345", &mut e);
        assert!(e.has("account_no") && e.has("code"));
    }

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("13800000001"), "138****0001");
        assert_eq!(mask_phone("123"), "****");
    }
}
