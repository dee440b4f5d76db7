//! Cost control (费控 / 智能交费): prepaid customers. A daily estimate of the
//! balance (credit, less unpaid bills, less usage not yet billed at the
//! recent daily cost) decides the standing: fine, low (the `low_balance`
//! event, once per episode) or exhausted (a disconnection order to the meter
//! system, once). A payment that brings the balance back above zero orders
//! the reconnection. The meter system polls the orders over the API and
//! acknowledges each.

pub mod api;
pub mod db;
pub mod pages;

use rust_decimal::Decimal;

use crate::billing::{PrepaidStanding, prepaid_standing};

/// What the estimate decides for an agreement, given how it stood before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// The balance fell to the warning threshold: record `low_balance`.
    Warn,
    /// The balance is gone and the supply is on: order a disconnection.
    Disconnect,
    /// The balance is back above zero and the supply is off: order a reconnection.
    Reconnect,
}

/// Days of use a suggested top-up covers beyond what is owed.
pub const TOP_UP_DAYS: i64 = 30;

/// What a prepaid customer is asked to pay: enough to bring the estimated
/// `balance` (credit less unpaid bills less unbilled use) up to `days` of
/// use at `daily_cost`, in whole yuan, and never less than the unpaid bills
/// (`owed`). Paying only the bills can leave the balance below zero (the use
/// since the last bill), and then the supply stays off.
pub fn suggested_top_up(balance: Decimal, daily_cost: Decimal, owed: Decimal, days: i64) -> Decimal {
    let wanted = (daily_cost.max(Decimal::ZERO) * Decimal::from(days) - balance).ceil();
    wanted.max(owed).max(Decimal::ZERO)
}

pub fn standing_code(s: PrepaidStanding) -> &'static str {
    match s {
        PrepaidStanding::Fine { .. } => "fine",
        PrepaidStanding::Low { .. } => "low",
        PrepaidStanding::Exhausted => "exhausted",
    }
}

/// The step for an agreement that stood at `before` (connected or not) and now has `balance`.
pub fn next_step(
    before: &str,
    connected: bool,
    balance: Decimal,
    daily_cost: Decimal,
    warn_days: Decimal,
) -> (PrepaidStanding, Step) {
    let now = prepaid_standing(balance, daily_cost, warn_days);
    let step = match now {
        PrepaidStanding::Exhausted if connected => Step::Disconnect,
        PrepaidStanding::Exhausted => Step::Nothing,
        _ if !connected => Step::Reconnect,
        PrepaidStanding::Low { .. } if before == "fine" => Step::Warn,
        _ => Step::Nothing,
    };
    (now, step)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_top_up_covers_the_shortfall_and_a_month_not_only_the_bills() {
        // Owes 76.20, has used 12.30 since: balance -88.50; 2.10 a day.
        assert_eq!(suggested_top_up(dec!(-88.50), dec!(2.10), dec!(76.20), 30), dec!(152));
        // Plenty left: the bills, if any.
        assert_eq!(suggested_top_up(dec!(500), dec!(2.10), dec!(0), 30), dec!(0));
        assert_eq!(suggested_top_up(dec!(500), dec!(2.10), dec!(40.00), 30), dec!(40.00));
        // No use recorded: what brings the balance to zero, at least the bills.
        assert_eq!(suggested_top_up(dec!(-10.40), dec!(0), dec!(10.40), 30), dec!(11));
    }

    #[test]
    fn each_episode_warns_disconnects_and_reconnects_once() {
        let warn = dec!(7);
        assert_eq!(next_step("fine", true, dec!(100), dec!(5), warn).1, Step::Nothing, "20 days left");
        assert_eq!(next_step("fine", true, dec!(30), dec!(5), warn).1, Step::Warn, "6 days left");
        assert_eq!(next_step("low", true, dec!(25), dec!(5), warn).1, Step::Nothing, "warned already");
        assert_eq!(next_step("low", true, dec!(0), dec!(5), warn).1, Step::Disconnect);
        assert_eq!(next_step("exhausted", false, dec!(-3), dec!(5), warn).1, Step::Nothing, "ordered already");
        assert_eq!(next_step("exhausted", false, dec!(50), dec!(5), warn).1, Step::Reconnect);
        assert_eq!(next_step("exhausted", false, dec!(10), dec!(5), warn).1, Step::Reconnect, "even when low");
        assert_eq!(next_step("exhausted", true, dec!(-1), dec!(5), warn).1, Step::Disconnect);
    }
}
