//! Loyalty points (客户积分): an append-only ledger per customer.
//!
//! - Earning: a booked payment earns, in the transaction that books it,
//!   `on_time_points` when it settles bills none of which was past its due
//!   date on the day the money was received, `per_100_yuan` for each 100 yuan
//!   paid (pro rata, rounded down) and `online_bonus` when it came through an
//!   online channel ([`ONLINE_CHANNELS`]). A payment earns once (a retried
//!   notification books nothing new); reversing it appends the negative of
//!   exactly what it earned.
//! - Redemption: items of the tenant's catalogue, each at a cost in points and
//!   with a stock; the balance and the stock are checked in one transaction
//!   that holds the customer, so concurrent redemptions cannot overdraw.
//! - Expiry, oldest first, without changing a ledger row: on any day, the
//!   points that must have expired are the points earned (net of their
//!   reversal) whose term has run out, less every point already taken
//!   (redeemed or expired), when that is above zero; an expiry appends one
//!   `expire` row for the difference. Taking points oldest first means a
//!   redemption used the oldest points, so only what is left of them expires.
//!
//! This file holds the rules and form checks (pure, unit tested); `db` the
//! SQL, `service` the redemption, `pages` and `api` the handlers.

pub mod api;
pub mod db;
pub mod pages;
pub mod service;

use chrono::{Months, NaiveDate};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::web::{error::FieldErrors, input};

/// The ledger's kinds: earn is positive, the others negative.
pub const KINDS: [&str; 4] = ["earn", "reverse", "redeem", "expire"];

/// The payment channels (of `payments::model::CHANNELS`) that count as
/// online: online banking and bank debits, WeChat Pay, Alipay and the
/// customer portal's own payments. Cash and card at the counter and agents'
/// collection points do not.
pub const ONLINE_CHANNELS: [&str; 4] = ["bank", "wechat", "alipay", "portal"];

/// Each rate and the term: the most a tenant may set.
pub const MAX_RATE: i32 = 100_000;
pub const MAX_TERM_MONTHS: i32 = 120;
/// Items per redemption.
pub const MAX_QUANTITY: i32 = 100;
pub const MAX_COST: i32 = 10_000_000;
pub const MAX_STOCK: i32 = 10_000_000;

/// A tenant's rates and term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PointsSettings)]
pub struct Settings {
    /// For a payment that settles bills on or before their due date.
    pub on_time_points: i32,
    /// For each 100 yuan paid, pro rata, rounded down.
    pub per_100_yuan: i32,
    /// For a payment through an online channel (bank, wechat, alipay, portal).
    pub online_bonus: i32,
    /// The most one payment earns for its amount (0: no limit).
    pub amount_cap: i32,
    /// Points expire this many months after they were earned.
    pub expiry_months: i32,
}

impl Default for Settings {
    /// The same as the columns' defaults in migration 0026.
    fn default() -> Self {
        Settings { on_time_points: 10, per_100_yuan: 1, online_bonus: 5, amount_cap: 200, expiry_months: 24 }
    }
}

/// What one payment earns, by rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Earning {
    pub on_time: i64,
    pub amount: i64,
    pub online: i64,
}

impl Earning {
    pub fn total(&self) -> i64 {
        self.on_time + self.amount + self.online
    }
}

/// The points a payment of `amount` yuan through `channel` earns; `on_time`:
/// it settled bills, none of them after its due date.
pub fn earn(amount: Decimal, channel: &str, on_time: bool, s: &Settings) -> Earning {
    let by_amount = (amount.max(Decimal::ZERO) * Decimal::from(s.per_100_yuan) / Decimal::ONE_HUNDRED).floor();
    let by_amount = by_amount.to_i64().unwrap_or(i64::MAX / 4);
    Earning {
        on_time: if on_time { s.on_time_points.into() } else { 0 },
        amount: if s.amount_cap > 0 { by_amount.min(s.amount_cap.into()) } else { by_amount },
        online: if ONLINE_CHANNELS.contains(&channel) { s.online_bonus.into() } else { 0 },
    }
}

/// The ledger's kinds as a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Earn,
    Reverse,
    Redeem,
    Expire,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "earn" => Some(Kind::Earn),
            "reverse" => Some(Kind::Reverse),
            "redeem" => Some(Kind::Redeem),
            "expire" => Some(Kind::Expire),
            _ => None,
        }
    }
}

/// One ledger row as the expiry rule reads it: the tenant's day it was
/// written on, its kind, its signed points and, for earn and reverse, the payment.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    pub on: NaiveDate,
    pub kind: Kind,
    pub points: i64,
    pub payment: Option<Uuid>,
}

/// The day points earned on `earned_on` expire: `months` later (the same day
/// of the month, or the month's last day). From that day on they are gone.
pub fn expires_on(earned_on: NaiveDate, months: i32) -> NaiveDate {
    earned_on.checked_add_months(Months::new(months.max(0) as u32)).unwrap_or(NaiveDate::MAX)
}

/// The lots of earned points, oldest first: each earning with its payment's
/// reversal netted off (a reversed payment's points never expire, because
/// they are no longer there). (earned on, points left after the reversal.)
pub fn lots(movements: &[Movement]) -> Vec<(NaiveDate, i64)> {
    let mut lots: Vec<(NaiveDate, i64)> = movements
        .iter()
        .filter(|m| m.kind == Kind::Earn)
        .map(|earned| {
            let reversed: i64 = movements
                .iter()
                .filter(|m| m.kind == Kind::Reverse && m.payment.is_some() && m.payment == earned.payment)
                .map(|m| m.points)
                .sum();
            (earned.on, (earned.points + reversed).max(0))
        })
        .collect();
    lots.sort_by_key(|(on, _)| *on);
    lots
}

/// Every point taken so far other than by a reversal: redeemed and expired
/// (a positive number). A reversal without its earning (which the ledger
/// cannot hold) counts as taken too.
pub fn taken(movements: &[Movement]) -> i64 {
    movements
        .iter()
        .filter(|m| match m.kind {
            Kind::Redeem | Kind::Expire => true,
            Kind::Reverse => !movements.iter().any(|e| e.kind == Kind::Earn && e.payment == m.payment),
            Kind::Earn => false,
        })
        .map(|m| -m.points)
        .sum()
}

/// The points that must expire on `today` and are not recorded as expired
/// yet: the lots whose term has run out, less all that was taken, if above zero.
pub fn due_to_expire(movements: &[Movement], months: i32, today: NaiveDate) -> i64 {
    let run_out: i64 =
        lots(movements).iter().filter(|(on, _)| expires_on(*on, months) <= today).map(|(_, points)| points).sum();
    (run_out - taken(movements)).max(0)
}

/// What expires next after `today` and when: what is left of the oldest lots
/// once everything taken (and what is due to expire today) has used up the
/// oldest points first; the lots that expire on that same day together.
pub fn next_expiry(movements: &[Movement], months: i32, today: NaiveDate) -> Option<(NaiveDate, i64)> {
    let mut used = taken(movements) + due_to_expire(movements, months, today);
    let mut next: Option<(NaiveDate, i64)> = None;
    for (on, points) in lots(movements) {
        let left = points - used.min(points);
        used -= points - left;
        let day = expires_on(on, months);
        if left <= 0 || day <= today {
            continue;
        }
        match &mut next {
            None => next = Some((day, left)),
            Some((first, total)) if *first == day => *total += left,
            Some(_) => break,
        }
    }
    next
}

/// The balance: the sum of the ledger.
pub fn balance(movements: &[Movement]) -> i64 {
    movements.iter().map(|m| m.points).sum()
}

// ---------------------------------------------------------------- redemption

/// A redemption as the API takes it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RedemptionDraft {
    /// The catalogue item's code.
    #[serde(default)]
    #[schema(required = true, pattern = r"^[A-Za-z0-9_-]{1,32}$", example = "LED-BULB")]
    pub item: String,
    /// How many, 1–100 (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100, example = 1)]
    pub quantity: Option<i64>,
}

/// A redemption as typed at the counter.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RedeemForm {
    #[serde(default)]
    pub item: String,
    #[serde(default)]
    pub quantity: String,
}

/// A catalogue code: 1–32 letters, digits, `-` or `_`.
pub fn is_item_code(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An item code and a quantity of 1–100: (code, quantity).
pub fn check_redemption(item: &str, quantity: Option<i64>) -> Result<(String, i32), FieldErrors> {
    let mut errors = FieldErrors::default();
    let item = item.trim();
    if item.is_empty() {
        errors.add("item", "required");
    } else if !is_item_code(item) {
        errors.add("item", "points_item_code");
    }
    let quantity = quantity.unwrap_or(1);
    if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
        errors.add("quantity", "points_quantity_range");
    }
    errors.finish((item.to_owned(), quantity.clamp(1, MAX_QUANTITY.into()) as i32))
}

/// The counter's form: the quantity as typed (empty: one).
pub fn check_redeem_form(form: &RedeemForm) -> Result<(String, i32), FieldErrors> {
    let raw = form.quantity.trim();
    let quantity = if raw.is_empty() { Some(1) } else { raw.parse::<i64>().ok().or(Some(0)) };
    check_redemption(&form.item, quantity)
}

// ---------------------------------------------------------------- catalogue and settings

/// A new catalogue item as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub cost: String,
    #[serde(default)]
    pub stock: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewItem {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub cost: i32,
    pub stock: i32,
}

/// A code of letters, digits, `-` and `_`; both names; a cost of 1 to ten
/// million points; a stock of 0 to ten million.
pub fn check_item(form: &ItemForm) -> Result<NewItem, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = form.code.trim();
    if code.is_empty() {
        errors.add("code", "required");
    } else if !is_item_code(code) {
        errors.add("code", "points_item_code");
    }
    let name_zh = input::visible_text(&form.name_zh, 100, "name_zh", true, &mut errors);
    let name_en = input::visible_text(&form.name_en, 100, "name_en", true, &mut errors);
    let cost = input::whole_number(&form.cost, 1..=MAX_COST, "cost", "points_cost_range", &mut errors);
    let stock = input::whole_number(&form.stock, 0..=MAX_STOCK, "stock", "points_stock_range", &mut errors);
    errors.finish(NewItem { code: code.to_owned(), name_zh, name_en, cost, stock })
}

/// A change to an item's stock and whether it is offered, with the stock
/// the form was shown with (a redemption meanwhile makes the change stale).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ItemChangeForm {
    #[serde(default)]
    pub stock: String,
    #[serde(default)]
    pub shown_stock: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub active: Option<String>,
}

/// (new stock, stock shown, active).
pub fn check_item_change(form: &ItemChangeForm) -> Result<(i32, i32, bool), FieldErrors> {
    let mut errors = FieldErrors::default();
    let stock = input::whole_number(&form.stock, 0..=MAX_STOCK, "stock", "points_stock_range", &mut errors);
    let shown = input::whole_number(&form.shown_stock, 0..=MAX_STOCK, "shown_stock", "malformed", &mut errors);
    errors.finish((stock, shown, form.active.is_some()))
}

/// The settings as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub on_time_points: String,
    #[serde(default)]
    pub per_100_yuan: String,
    #[serde(default)]
    pub online_bonus: String,
    #[serde(default)]
    pub amount_cap: String,
    #[serde(default)]
    pub expiry_months: String,
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        SettingsForm {
            on_time_points: s.on_time_points.to_string(),
            per_100_yuan: s.per_100_yuan.to_string(),
            online_bonus: s.online_bonus.to_string(),
            amount_cap: s.amount_cap.to_string(),
            expiry_months: s.expiry_months.to_string(),
        }
    }
}

/// Rates of 0–100,000 points, a term of 1–120 months.
pub fn check_settings(form: &SettingsForm) -> Result<Settings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let rate = |raw: &str, field, errors: &mut FieldErrors| {
        input::whole_number(raw, 0..=MAX_RATE, field, "points_rate_range", errors)
    };
    let settings = Settings {
        on_time_points: rate(&form.on_time_points, "on_time_points", &mut errors),
        per_100_yuan: rate(&form.per_100_yuan, "per_100_yuan", &mut errors),
        online_bonus: rate(&form.online_bonus, "online_bonus", &mut errors),
        amount_cap: rate(&form.amount_cap, "amount_cap", &mut errors),
        expiry_months: input::whole_number(
            &form.expiry_months,
            1..=MAX_TERM_MONTHS,
            "expiry_months",
            "points_term_range",
            &mut errors,
        ),
    };
    errors.finish(settings)
}

/// Points with their sign, as the history shows them: "+12", "−30".
pub fn signed(points: i64) -> String {
    match points {
        p if p > 0 => format!("+{p}"),
        p if p < 0 => format!("−{}", p.unsigned_abs()),
        _ => "0".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn rates() -> Settings {
        Settings { on_time_points: 10, per_100_yuan: 10, online_bonus: 5, amount_cap: 0, expiry_months: 12 }
    }

    #[test]
    fn a_payment_earns_by_amount_punctuality_and_channel() {
        let s = rates();
        // ¥80.70 on time by WeChat: 8 for the amount (8.07 rounded down), 10, 5.
        let e = earn(dec!(80.70), "wechat", true, &s);
        assert_eq!((e.amount, e.on_time, e.online, e.total()), (8, 10, 5, 23));
        // Late at the counter in cash: the amount alone.
        assert_eq!(earn(dec!(80.70), "counter_cash", false, &s), Earning { on_time: 0, amount: 8, online: 0 });
        // Online channels are bank, WeChat, Alipay and the portal; an agent or a card at the counter is not.
        for channel in crate::payments::model::CHANNELS {
            let online = earn(dec!(1), channel, false, &s).online;
            assert_eq!(online == 5, ["bank", "wechat", "alipay", "portal"].contains(&channel), "{channel}");
        }
        // Under the pro-rata step nothing for the amount; a rate of zero earns nothing.
        assert_eq!(earn(dec!(9.99), "agent", false, &s).total(), 0);
        let none = Settings { on_time_points: 0, per_100_yuan: 0, online_bonus: 0, amount_cap: 0, expiry_months: 24 };
        assert_eq!(earn(dec!(5000), "alipay", true, &none).total(), 0);
        // Large payments at the largest rate do not overflow.
        let max = Settings {
            on_time_points: MAX_RATE,
            per_100_yuan: MAX_RATE,
            online_bonus: MAX_RATE,
            amount_cap: 0,
            expiry_months: 1,
        };
        assert_eq!(earn(dec!(999999999.99), "bank", true, &max).amount, 999_999_999_990);
        // A cap bounds what the amount earns, not the other parts.
        let capped = Settings { amount_cap: 200, ..s };
        assert_eq!(earn(dec!(3000000), "wechat", true, &capped), Earning { on_time: 10, amount: 200, online: 5 });
        assert_eq!(earn(dec!(1500), "wechat", true, &capped).amount, 150);
    }

    fn earned(on: NaiveDate, points: i64, payment: u128) -> Movement {
        Movement { on, kind: Kind::Earn, points, payment: Some(Uuid::from_u128(payment)) }
    }
    fn reversed(on: NaiveDate, points: i64, payment: u128) -> Movement {
        Movement { on, kind: Kind::Reverse, points: -points, payment: Some(Uuid::from_u128(payment)) }
    }
    fn redeemed(on: NaiveDate, points: i64) -> Movement {
        Movement { on, kind: Kind::Redeem, points: -points, payment: None }
    }
    fn expired(on: NaiveDate, points: i64) -> Movement {
        Movement { on, kind: Kind::Expire, points: -points, payment: None }
    }

    #[test]
    fn expiry_takes_the_oldest_points_first() {
        // Earn 100 in January, 50 in March, redeem 120 in April; a twelve-month term.
        let mut ledger =
            vec![earned(day(2025, 1, 10), 100, 1), earned(day(2025, 3, 5), 50, 2), redeemed(day(2025, 4, 1), 120)];
        assert_eq!(balance(&ledger), 30);
        // A year on, the January points run out: the redemption used them all, nothing expires.
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 1, 9)), 0);
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 1, 10)), 0);
        // What is left is March's, 30 of them, expiring on 5 March.
        assert_eq!(next_expiry(&ledger, 12, day(2026, 1, 10)), Some((day(2026, 3, 5), 30)));
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 3, 4)), 0);
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 3, 5)), 30);
        // Once recorded, nothing more is due, however late the next run.
        ledger.push(expired(day(2026, 3, 5), 30));
        assert_eq!(balance(&ledger), 0);
        assert_eq!(due_to_expire(&ledger, 12, day(2030, 1, 1)), 0);
        assert_eq!(next_expiry(&ledger, 12, day(2026, 3, 5)), None);
    }

    #[test]
    fn unused_points_expire_lot_by_lot() {
        let mut ledger = vec![earned(day(2025, 1, 31), 100, 1), earned(day(2025, 6, 1), 40, 2)];
        // 31 January + 12 months: the points are gone from 31 January 2026.
        assert_eq!(expires_on(day(2025, 1, 31), 12), day(2026, 1, 31));
        // A month's last day carries to a shorter month's last day.
        assert_eq!(expires_on(day(2025, 1, 31), 1), day(2025, 2, 28));
        assert_eq!(next_expiry(&ledger, 12, day(2025, 7, 1)), Some((day(2026, 1, 31), 100)));
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 1, 31)), 100);
        ledger.push(expired(day(2026, 1, 31), 100));
        assert_eq!(next_expiry(&ledger, 12, day(2026, 1, 31)), Some((day(2026, 6, 1), 40)));
        // A later run that missed a day catches up with everything run out by then.
        let missed =
            vec![earned(day(2025, 1, 31), 100, 1), earned(day(2025, 6, 1), 40, 2), redeemed(day(2025, 7, 1), 30)];
        assert_eq!(due_to_expire(&missed, 12, day(2026, 7, 1)), 110);
    }

    #[test]
    fn a_reversal_takes_back_its_own_points_not_the_oldest() {
        // 100 in January (kept), 50 in March from a payment reversed in April.
        let ledger =
            vec![earned(day(2025, 1, 10), 100, 1), earned(day(2025, 3, 5), 50, 2), reversed(day(2025, 4, 1), 50, 2)];
        assert_eq!(balance(&ledger), 100);
        assert_eq!(lots(&ledger), vec![(day(2025, 1, 10), 100), (day(2025, 3, 5), 0)]);
        // January's 100 all expire: the reversal did not use them.
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 1, 10)), 100);
        assert_eq!(due_to_expire(&ledger, 12, day(2026, 3, 5)), 100);
        // A reversal after the points were spent leaves the balance below zero; nothing expires then.
        let spent =
            vec![earned(day(2025, 1, 10), 100, 1), redeemed(day(2025, 2, 1), 100), reversed(day(2025, 2, 2), 100, 1)];
        assert_eq!(balance(&spent), -100);
        assert_eq!(due_to_expire(&spent, 12, day(2027, 1, 1)), 0);
        assert_eq!(next_expiry(&spent, 12, day(2025, 3, 1)), None);
    }

    #[test]
    fn lots_expiring_the_same_day_are_shown_together() {
        let ledger = vec![
            earned(day(2025, 1, 10), 10, 1),
            earned(day(2025, 1, 10), 15, 2),
            earned(day(2025, 2, 1), 7, 3),
            redeemed(day(2025, 1, 20), 12),
        ];
        assert_eq!(next_expiry(&ledger, 24, day(2025, 3, 1)), Some((day(2027, 1, 10), 13)));
    }

    #[test]
    fn redemptions_name_a_code_and_one_to_a_hundred() {
        assert_eq!(check_redemption(" LED-BULB ", None).unwrap(), ("LED-BULB".to_owned(), 1));
        assert_eq!(check_redemption("E50", Some(100)).unwrap().1, 100);
        let bad = check_redemption("", Some(0)).unwrap_err();
        assert!(bad.has("item") && bad.has("quantity"));
        assert_eq!(check_redemption("电费券", Some(1)).unwrap_err().iter().next().unwrap().code, "points_item_code");
        assert!(check_redemption("E50", Some(101)).unwrap_err().has("quantity"));
        let form = |q: &str| RedeemForm { item: "E50".into(), quantity: q.into() };
        assert_eq!(check_redeem_form(&form("")).unwrap().1, 1);
        assert_eq!(check_redeem_form(&form("3")).unwrap().1, 3);
        assert!(check_redeem_form(&form("two")).unwrap_err().has("quantity"));
        assert!(check_redeem_form(&form("-1")).unwrap_err().has("quantity"));
    }

    #[test]
    fn catalogue_items_and_settings_are_checked_by_field() {
        let good = ItemForm {
            code: "E50".into(),
            name_zh: "电费券 50元".into(),
            name_en: "¥50 electricity voucher".into(),
            cost: "5000".into(),
            stock: "0".into(),
        };
        assert_eq!(check_item(&good).unwrap().cost, 5000);
        let bad =
            ItemForm { code: "e 50".into(), name_zh: " ".into(), cost: "0".into(), stock: "-1".into(), ..good.clone() };
        let errors = check_item(&bad).unwrap_err();
        for field in ["code", "name_zh", "cost", "stock"] {
            assert!(errors.has(field), "{field}");
        }
        assert!(!errors.has("name_en"));
        assert!(check_item(&ItemForm { cost: "1.5".into(), ..good.clone() }).unwrap_err().has("cost"));
        assert!(check_item(&ItemForm { cost: "1e3".into(), ..good }).unwrap_err().has("cost"));

        let change = ItemChangeForm { stock: "12".into(), shown_stock: "10".into(), active: None };
        assert_eq!(check_item_change(&change).unwrap(), (12, 10, false));

        let form = SettingsForm::from(&Settings::default());
        assert_eq!(check_settings(&form).unwrap(), Settings::default());
        let bad = SettingsForm { on_time_points: "-1".into(), expiry_months: "0".into(), ..form.clone() };
        let errors = check_settings(&bad).unwrap_err();
        assert!(errors.has("on_time_points") && errors.has("expiry_months") && !errors.has("per_100_yuan"));
        assert!(
            check_settings(&SettingsForm { expiry_months: "121".into(), ..form }).unwrap_err().has("expiry_months")
        );
    }

    #[test]
    fn signed_points_read_as_they_are_said() {
        assert_eq!((signed(12), signed(-30), signed(0)), ("+12".into(), "−30".into(), "0".into()));
    }
}
