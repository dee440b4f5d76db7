//! The banner at the top of the customer page: what matters now, most
//! urgent first. Pure: built from what the page has read already, so it
//! costs no round trip of its own.

use rust_decimal::Decimal;

/// How loud an item is: `danger` needs action today, `warn` soon, `info`
/// is worth knowing before speaking to the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Danger,
    Warn,
    Info,
}

impl Level {
    pub fn css(&self) -> &'static str {
        match self {
            Level::Danger => "danger",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

/// One item: a label code (`customers.banner_<code>`), an amount or a count
/// where it has one, and the section of the page that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub level: Level,
    pub code: &'static str,
    pub amount: Option<Decimal>,
    pub count: Option<usize>,
    pub anchor: &'static str,
}

/// Every item's code (`customers.banner_<code>`).
pub const CODES: [&str; 14] = [
    "overdue",
    "arrears",
    "cost_control_fine",
    "cost_control_low",
    "cost_control_exhausted",
    "cost_control_disconnected",
    "poor_credit",
    "complaints_overdue",
    "open_complaints",
    "open_contacts",
    "outage_sensitive",
    "importance_special",
    "importance_first",
    "importance_second",
];

/// What the banner is made of.
pub struct Facts<'a> {
    /// Owed on issued bills (arrears), and the part past its due date.
    pub owed: Decimal,
    pub overdue: Decimal,
    /// The cost-control agreement, if active: its standing (fine, low,
    /// exhausted) and whether supply is connected.
    pub cost_control: Option<(&'a str, bool)>,
    pub poor_credit: bool,
    pub tags: &'a [String],
    /// The importance grade (special, first, second), if any.
    pub importance: Option<&'a str>,
    /// Open contacts: (kind, SLA breached).
    pub open_contacts: &'a [(&'a str, bool)],
}

fn item(level: Level, code: &'static str, anchor: &'static str) -> Item {
    Item { level, code, amount: None, count: None, anchor }
}

/// The banner's items, most urgent first. Empty: nothing needs attention.
pub fn items(f: &Facts) -> Vec<Item> {
    let mut items = Vec::new();
    if f.overdue > Decimal::ZERO {
        items.push(Item { amount: Some(f.overdue), ..item(Level::Danger, "overdue", "account") });
    }
    if f.owed > Decimal::ZERO {
        let level = if f.overdue > Decimal::ZERO { Level::Warn } else { Level::Info };
        items.push(Item { amount: Some(f.owed), ..item(level, "arrears", "account") });
    }
    match f.cost_control {
        Some((_, false)) => items.push(item(Level::Danger, "cost_control_disconnected", "cost-control")),
        Some(("exhausted", true)) => items.push(item(Level::Danger, "cost_control_exhausted", "cost-control")),
        Some(("low", true)) => items.push(item(Level::Warn, "cost_control_low", "cost-control")),
        Some((_, true)) => items.push(item(Level::Info, "cost_control_fine", "cost-control")),
        None => {}
    }
    if f.poor_credit {
        items.push(item(Level::Danger, "poor_credit", "credit"));
    }
    let complaints: Vec<bool> = f.open_contacts.iter().filter(|(kind, _)| *kind == "complaint").map(|c| c.1).collect();
    let breached = complaints.iter().filter(|b| **b).count();
    if breached > 0 {
        items.push(Item { count: Some(breached), ..item(Level::Danger, "complaints_overdue", "open-items") });
    }
    if !complaints.is_empty() {
        items.push(Item { count: Some(complaints.len()), ..item(Level::Warn, "open_complaints", "open-items") });
    }
    let others = f.open_contacts.len() - complaints.len();
    if others > 0 {
        items.push(Item { count: Some(others), ..item(Level::Info, "open_contacts", "open-items") });
    }
    if f.tags.iter().any(|t| t == "outage_sensitive") {
        items.push(item(Level::Warn, "outage_sensitive", "archive"));
    }
    match f.importance {
        Some("special") => items.push(item(Level::Warn, "importance_special", "archive")),
        Some("first") => items.push(item(Level::Warn, "importance_first", "archive")),
        Some("second") => items.push(item(Level::Info, "importance_second", "archive")),
        _ => {}
    }
    items.sort_by_key(|i| i.level);
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn calm<'a>() -> Facts<'a> {
        Facts {
            owed: Decimal::ZERO,
            overdue: Decimal::ZERO,
            cost_control: None,
            poor_credit: false,
            tags: &[],
            importance: None,
            open_contacts: &[],
        }
    }

    fn codes(items: &[Item]) -> Vec<&'static str> {
        items.iter().map(|i| i.code).collect()
    }

    #[test]
    fn a_customer_with_nothing_open_has_an_empty_banner() {
        assert!(items(&calm()).is_empty());
    }

    #[test]
    fn arrears_show_with_their_overdue_part_first() {
        let f = Facts { owed: dec!(320.50), overdue: dec!(120.00), ..calm() };
        let got = items(&f);
        assert_eq!(codes(&got), ["overdue", "arrears"]);
        assert_eq!(got[0].amount, Some(dec!(120.00)));
        assert_eq!(got[0].level, Level::Danger);
        assert_eq!(got[1].amount, Some(dec!(320.50)));
        assert_eq!(got[1].level, Level::Warn);
        let not_due = items(&Facts { owed: dec!(80), ..calm() });
        assert_eq!((not_due[0].code, not_due[0].level), ("arrears", Level::Info));
    }

    #[test]
    fn cost_control_shows_its_state() {
        for (state, connected, code, level) in [
            ("fine", true, "cost_control_fine", Level::Info),
            ("low", true, "cost_control_low", Level::Warn),
            ("exhausted", true, "cost_control_exhausted", Level::Danger),
            ("exhausted", false, "cost_control_disconnected", Level::Danger),
        ] {
            let got = items(&Facts { cost_control: Some((state, connected)), ..calm() });
            assert_eq!((got[0].code, got[0].level), (code, level), "{state} {connected}");
        }
    }

    #[test]
    fn flags_and_open_complaints_are_counted_and_ordered_by_urgency() {
        let tags = vec!["outage_sensitive".to_owned()];
        let open = [("complaint", true), ("complaint", false), ("inquiry", false)];
        let f = Facts { poor_credit: true, tags: &tags, importance: Some("first"), open_contacts: &open, ..calm() };
        let got = items(&f);
        assert_eq!(
            codes(&got),
            [
                "poor_credit",
                "complaints_overdue",
                "open_complaints",
                "outage_sensitive",
                "importance_first",
                "open_contacts"
            ]
        );
        assert_eq!(got[1].count, Some(1));
        assert_eq!(got[2].count, Some(2));
        assert_eq!(got[5].count, Some(1));
    }
}
