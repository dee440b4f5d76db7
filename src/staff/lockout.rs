//! Locking an account after wrong passwords: the pure rule, kept apart from
//! the SQL that stores it (`users.failed_logins`, `successive_locks`,
//! `locked_until`, `last_login_address`).
//!
//! A lock must slow down guessing without becoming a cheap way to keep
//! someone out of their own account:
//! - `max_failures` wrong passwords in a row lock the account; the failures
//!   start again from zero once a lock is set, and once it runs out, so one
//!   wrong password after a lock does not lock again at once.
//! - Each lock that follows another without a good sign-in in between lasts
//!   twice as long, up to a cap: a guesser gets a handful of tries an hour at
//!   first and a handful a day soon after. A good sign-in starts over.
//! - The address the user last signed in from successfully is not refused by
//!   the lock. Someone elsewhere who types wrong passwords on purpose cannot
//!   keep a clerk out at her usual counter; the locked account then opens to
//!   nobody but that address. Guesses from that address are still bounded by
//!   the per-address throttle and still count towards the lock (so a guesser
//!   there locks everyone else out, not the user), and each one is audited.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Copy, Debug)]
pub struct LockPolicy {
    /// Wrong passwords in a row that lock the account.
    pub max_failures: i32,
    /// How long the first lock lasts; each successive one doubles it …
    pub first_lock_minutes: i64,
    /// … up to this.
    pub max_lock_minutes: i64,
}

/// An account's failed sign-ins as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockState {
    pub failed_logins: i32,
    /// Locks since the last good sign-in.
    pub successive_locks: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl LockState {
    pub fn locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

impl LockPolicy {
    /// The length of the `nth` lock in a row (the first is 1).
    pub fn lock_length(&self, nth: i32) -> Duration {
        let doublings = nth.saturating_sub(1).clamp(0, 30) as u32;
        let minutes = self.first_lock_minutes.saturating_mul(1 << doublings).min(self.max_lock_minutes);
        Duration::minutes(minutes.max(1))
    }

    /// The state after one more wrong password at `now`.
    pub fn after_failure(&self, state: LockState, now: DateTime<Utc>) -> LockState {
        let expired = state.locked_until.is_some_and(|until| until <= now);
        let (failed, locked_until) =
            if expired { (1, None) } else { (state.failed_logins.saturating_add(1), state.locked_until) };
        if failed >= self.max_failures {
            let nth = state.successive_locks.saturating_add(1);
            LockState { failed_logins: 0, successive_locks: nth, locked_until: Some(now + self.lock_length(nth)) }
        } else {
            LockState { failed_logins: failed, successive_locks: state.successive_locks, locked_until }
        }
    }
}

/// How an address is stored as the user's last good one (IPv4 clients of a
/// dual-stack listener arrive as IPv4-mapped IPv6 addresses).
pub fn address_key(address: IpAddr) -> String {
    address.to_canonical().to_string()
}

/// Whether the lock refuses a sign-in from `address` (see the module comment).
pub fn refuses(state: &LockState, now: DateTime<Utc>, last_good_address: Option<&str>, address: IpAddr) -> bool {
    state.locked_at(now) && last_good_address != Some(address_key(address).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockPolicy = LockPolicy { max_failures: 3, first_lock_minutes: 15, max_lock_minutes: 60 };

    fn fresh() -> LockState {
        LockState { failed_logins: 0, successive_locks: 0, locked_until: None }
    }

    #[test]
    fn the_limit_of_failures_locks_and_starts_the_count_again() {
        let now = Utc::now();
        let mut state = fresh();
        for _ in 0..2 {
            state = POLICY.after_failure(state, now);
        }
        assert!(!state.locked_at(now));
        state = POLICY.after_failure(state, now);
        assert_eq!(
            state,
            LockState { failed_logins: 0, successive_locks: 1, locked_until: Some(now + Duration::minutes(15)) }
        );
    }

    #[test]
    fn an_expired_lock_forgets_its_failures() {
        let now = Utc::now();
        // As the old rule left it: the count at the limit and the lock run out.
        let state = LockState { failed_logins: 3, successive_locks: 1, locked_until: Some(now - Duration::seconds(1)) };
        let after = POLICY.after_failure(state, now);
        assert_eq!(after, LockState { failed_logins: 1, successive_locks: 1, locked_until: None });
    }

    #[test]
    fn successive_locks_double_up_to_the_cap() {
        assert_eq!(POLICY.lock_length(1), Duration::minutes(15));
        assert_eq!(POLICY.lock_length(2), Duration::minutes(30));
        assert_eq!(POLICY.lock_length(3), Duration::minutes(60));
        assert_eq!(POLICY.lock_length(4), Duration::minutes(60));
        assert_eq!(POLICY.lock_length(i32::MAX), Duration::minutes(60));
        // The second lock, after the first ran out.
        let now = Utc::now();
        let state = LockState { failed_logins: 2, successive_locks: 1, locked_until: None };
        assert_eq!(POLICY.after_failure(state, now).locked_until, Some(now + Duration::minutes(30)));
    }

    #[test]
    fn the_last_good_address_is_not_refused() {
        let now = Utc::now();
        let locked =
            LockState { failed_logins: 0, successive_locks: 1, locked_until: Some(now + Duration::minutes(5)) };
        let office = IpAddr::from([10, 1, 2, 3]);
        let elsewhere = IpAddr::from([203, 0, 113, 9]);
        assert!(refuses(&locked, now, Some("10.1.2.3"), elsewhere));
        assert!(refuses(&locked, now, None, office));
        assert!(!refuses(&locked, now, Some("10.1.2.3"), office));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert!(!refuses(&locked, now, Some("10.1.2.3"), mapped));
        assert!(!refuses(&fresh(), now, None, elsewhere), "an unlocked account refuses no one");
    }
}
