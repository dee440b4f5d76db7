//! The money side: tariffs, the bill calculation, late fees, how a payment
//! settles debts, and the prepaid (cost-control) balance. This module holds
//! the pure rules; they take values and return values.

pub mod api;
pub mod bills;
pub mod calc;
pub mod credits;
pub mod db;
pub mod late_fees;
pub mod pages;
pub mod run;
pub mod service;
pub mod sheet;
pub mod tariff;
pub mod tariff_form;
pub mod tariff_pages;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::billing::calc::money;

/// The tenant's late-fee rates per day (*defaults* from DOMAIN.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LateFeeRules {
    pub residential: Decimal,
    pub other: Decimal,
    /// For other customers, the days of a debt that fall in a later year than its due date.
    pub other_across_year: Decimal,
}

impl Default for LateFeeRules {
    fn default() -> Self {
        Self { residential: dec!(0.001), other: dec!(0.002), other_across_year: dec!(0.003) }
    }
}

/// The late fee (电费违约金) a debt accrues on `day`: nothing on or before the
/// due date, else the day's rate on what is unpaid, to the fen.
pub fn late_fee_for_day(
    unpaid: Decimal,
    due: NaiveDate,
    day: NaiveDate,
    residential: bool,
    rules: &LateFeeRules,
) -> Decimal {
    if day <= due || unpaid <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let rate = match (residential, day.year() > due.year()) {
        (true, _) => rules.residential,
        (false, false) => rules.other,
        (false, true) => rules.other_across_year,
    };
    money(unpaid * rate)
}

/// The late fee accrued over every day after the due date up to and including `until`.
pub fn late_fee_until(
    unpaid: Decimal,
    due: NaiveDate,
    until: NaiveDate,
    residential: bool,
    rules: &LateFeeRules,
) -> Decimal {
    due.iter_days()
        .skip(1)
        .take_while(|d| *d <= until)
        .map(|d| late_fee_for_day(unpaid, due, d, residential, rules))
        .sum()
}

/// Something a customer owes.
#[derive(Clone, Debug, PartialEq)]
pub struct Debt<Id> {
    pub id: Id,
    pub late_fee: bool,
    /// The bill's period or the fee's accrual start: older is settled first.
    pub dated: NaiveDate,
    pub outstanding: Decimal,
}

/// How a payment is spread over debts, and what is left as credit.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation<Id> {
    pub parts: Vec<(Id, Decimal)>,
    pub credit: Decimal,
}

/// Settles the oldest debts first: late fees, then bills by age; or only the
/// debts staff chose, in their order. What remains is credit on the account.
pub fn allocate<Id: Clone + PartialEq>(amount: Decimal, debts: &[Debt<Id>], chosen: Option<&[Id]>) -> Allocation<Id> {
    let mut order: Vec<&Debt<Id>> = match chosen {
        Some(ids) => ids.iter().filter_map(|id| debts.iter().find(|d| &d.id == id)).collect(),
        None => {
            let mut all: Vec<_> = debts.iter().collect();
            all.sort_by_key(|d| (!d.late_fee, d.dated));
            all
        }
    };
    order.retain(|d| d.outstanding > Decimal::ZERO);
    let mut left = amount;
    let mut parts = Vec::new();
    for debt in order {
        if left <= Decimal::ZERO {
            break;
        }
        let part = debt.outstanding.min(left);
        parts.push((debt.id.clone(), part));
        left -= part;
    }
    Allocation { parts, credit: left }
}

/// A prepaid customer's standing: days the balance lasts at the recent daily
/// cost, and whether the warning is due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PrepaidStanding {
    Fine {
        days_left: Decimal,
    },
    /// At or under the tenant's warning threshold (*default* 7 days): `low_balance` fires.
    Low {
        days_left: Decimal,
    },
    /// Nothing left: a disconnection order is due.
    Exhausted,
}

pub fn prepaid_standing(balance: Decimal, daily_cost: Decimal, warn_days: Decimal) -> PrepaidStanding {
    if balance <= Decimal::ZERO {
        return PrepaidStanding::Exhausted;
    }
    if daily_cost <= Decimal::ZERO {
        // No usage: the balance lasts; there is nothing to warn about.
        return PrepaidStanding::Fine { days_left: Decimal::MAX };
    }
    let days_left = (balance / daily_cost).round_dp(1);
    if days_left <= warn_days { PrepaidStanding::Low { days_left } } else { PrepaidStanding::Fine { days_left } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn late_fees_start_the_day_after_the_due_date() {
        let rules = LateFeeRules::default();
        let due = d(2026, 11, 20);
        assert_eq!(late_fee_for_day(dec!(100), due, due, true, &rules), dec!(0));
        assert_eq!(late_fee_for_day(dec!(100), due, d(2026, 11, 21), true, &rules), dec!(0.10));
        assert_eq!(late_fee_for_day(dec!(100), due, d(2026, 11, 21), false, &rules), dec!(0.20));
        assert_eq!(late_fee_until(dec!(100), due, d(2026, 11, 30), true, &rules), dec!(1.00));
        assert_eq!(late_fee_for_day(dec!(0), due, d(2026, 11, 30), false, &rules), dec!(0));
    }

    #[test]
    fn other_customers_pay_more_for_the_days_in_the_next_year() {
        let rules = LateFeeRules::default();
        let due = d(2026, 12, 30);
        assert_eq!(late_fee_for_day(dec!(1000), due, d(2026, 12, 31), false, &rules), dec!(2.00));
        assert_eq!(late_fee_for_day(dec!(1000), due, d(2027, 1, 1), false, &rules), dec!(3.00));
        assert_eq!(late_fee_until(dec!(1000), due, d(2027, 1, 2), false, &rules), dec!(8.00));
        // Households pay the same rate across the year end.
        assert_eq!(late_fee_for_day(dec!(1000), due, d(2027, 1, 1), true, &rules), dec!(1.00));
    }

    fn debts() -> Vec<Debt<&'static str>> {
        vec![
            Debt { id: "bill-oct", late_fee: false, dated: d(2026, 10, 1), outstanding: dec!(120) },
            Debt { id: "bill-sep", late_fee: false, dated: d(2026, 9, 1), outstanding: dec!(80) },
            Debt { id: "fee-sep", late_fee: true, dated: d(2026, 9, 20), outstanding: dec!(3.5) },
            Debt { id: "bill-nov", late_fee: false, dated: d(2026, 11, 1), outstanding: dec!(0) },
        ]
    }

    #[test]
    fn a_payment_settles_late_fees_then_the_oldest_bills() {
        let a = allocate(dec!(150), &debts(), None);
        assert_eq!(a.parts, vec![("fee-sep", dec!(3.5)), ("bill-sep", dec!(80)), ("bill-oct", dec!(66.5))]);
        assert_eq!(a.credit, dec!(0));
        let over = allocate(dec!(300), &debts(), None);
        assert_eq!(over.credit, dec!(96.5), "what is left stays on the account");
    }

    #[test]
    fn staff_may_choose_which_bills_to_settle() {
        let a = allocate(dec!(100), &debts(), Some(&["bill-oct"]));
        assert_eq!(a.parts, vec![("bill-oct", dec!(100))]);
        assert_eq!(a.credit, dec!(0));
        let a = allocate(dec!(130), &debts(), Some(&["bill-oct", "unknown"]));
        assert_eq!((a.parts.len(), a.credit), (1, dec!(10)));
    }

    #[test]
    fn prepaid_balance_warns_at_the_threshold_and_stops_at_zero() {
        assert_eq!(prepaid_standing(dec!(100), dec!(10), dec!(7)), PrepaidStanding::Fine { days_left: dec!(10) });
        assert_eq!(prepaid_standing(dec!(70), dec!(10), dec!(7)), PrepaidStanding::Low { days_left: dec!(7) });
        assert_eq!(prepaid_standing(dec!(0), dec!(10), dec!(7)), PrepaidStanding::Exhausted);
        assert_eq!(prepaid_standing(dec!(-5), dec!(0), dec!(7)), PrepaidStanding::Exhausted);
        assert!(matches!(prepaid_standing(dec!(5), dec!(0), dec!(7)), PrepaidStanding::Fine { .. }));
    }
}
