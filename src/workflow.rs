//! The state machines of contacts and work orders, as data: one table of edges
//! per workflow, and which SLA clock runs in each state. The same edges are in
//! the `workflow_edges` table, where a trigger refuses every other change of
//! state (tests/it/service.rs checks the two agree).
//! Pure: no database, no clock.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: &'static str,
    pub action: &'static str,
    pub to: &'static str,
}

/// When the clock of a state starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockStart {
    /// When the item was opened (received, reported, or reopened): a contact's
    /// "resolve within 5 working days" counts from receipt, not from acknowledgement.
    Opened,
    /// When the item entered the state (an expansion stage's own limit).
    Entered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateClock {
    pub state: &'static str,
    /// The `clock` of the tenant's `sla_limits` row.
    pub clock: &'static str,
    pub start: ClockStart,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Workflow {
    pub name: &'static str,
    pub states: &'static [&'static str],
    pub initial: &'static str,
    pub edges: &'static [Edge],
    /// States with a running SLA clock; states not listed have none.
    pub clocks: &'static [StateClock],
    /// States in which the item is finished (off the board).
    pub finished: &'static [&'static str],
    /// Actions that re-open a finished item (the clock starts again).
    pub reopening: &'static [&'static str],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    pub workflow: &'static str,
    pub from: String,
    pub action: String,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} that is {} cannot {}", self.workflow, self.from, self.action)
    }
}

impl std::error::Error for IllegalTransition {}

const fn e(from: &'static str, action: &'static str, to: &'static str) -> Edge {
    Edge { from, action, to }
}

const fn c(state: &'static str, clock: &'static str, start: ClockStart) -> StateClock {
    StateClock { state, clock, start }
}

/// Complaints, inquiries, suggestions, praise and reports:
/// `received → acknowledged → in_progress → resolved → closed`, with reopen.
pub const CONTACT: Workflow = Workflow {
    name: "contact",
    states: &["received", "acknowledged", "in_progress", "resolved", "closed"],
    initial: "received",
    edges: &[
        e("received", "acknowledge", "acknowledged"),
        e("acknowledged", "start", "in_progress"),
        e("in_progress", "resolve", "resolved"),
        e("resolved", "close", "closed"),
        e("resolved", "reopen", "in_progress"),
        e("closed", "reopen", "in_progress"),
    ],
    clocks: &[
        c("received", "acknowledge", ClockStart::Opened),
        c("acknowledged", "resolve", ClockStart::Opened),
        c("in_progress", "resolve", ClockStart::Opened),
    ],
    finished: &["resolved", "closed"],
    reopening: &["reopen"],
};

/// Fault repair: the arrival clock runs until the crew is on site.
pub const REPAIR: Workflow = Workflow {
    name: "repair",
    states: &["reported", "dispatched", "on_site", "restored", "closed", "cancelled"],
    initial: "reported",
    edges: &[
        e("reported", "dispatch", "dispatched"),
        e("dispatched", "arrive", "on_site"),
        e("on_site", "restore", "restored"),
        e("restored", "close", "closed"),
        e("reported", "cancel", "cancelled"),
        e("dispatched", "cancel", "cancelled"),
    ],
    clocks: &[c("reported", "arrival", ClockStart::Opened), c("dispatched", "arrival", ClockStart::Opened)],
    finished: &["restored", "closed", "cancelled"],
    reopening: &[],
};

/// Business expansion (业扩报装), stage by stage; each stage has its own limit.
pub const EXPANSION: Workflow = Workflow {
    name: "expansion",
    states: &[
        "accepted",
        "reviewed",
        "plan_drafted",
        "plan_agreed",
        "constructed",
        "inspected",
        "metered",
        "powered_on",
        "cancelled",
    ],
    initial: "accepted",
    edges: &[
        e("accepted", "review", "reviewed"),
        e("reviewed", "draft_plan", "plan_drafted"),
        e("plan_drafted", "agree_plan", "plan_agreed"),
        e("plan_agreed", "complete_construction", "constructed"),
        e("constructed", "pass_inspection", "inspected"),
        e("inspected", "install_meter", "metered"),
        e("metered", "power_on", "powered_on"),
        e("accepted", "cancel", "cancelled"),
        e("reviewed", "cancel", "cancelled"),
        e("plan_drafted", "cancel", "cancelled"),
        e("plan_agreed", "cancel", "cancelled"),
    ],
    clocks: &[
        c("accepted", "accepted", ClockStart::Entered),
        c("reviewed", "reviewed", ClockStart::Entered),
        c("plan_drafted", "plan_drafted", ClockStart::Entered),
        c("plan_agreed", "plan_agreed", ClockStart::Entered),
        c("constructed", "constructed", ClockStart::Entered),
        c("inspected", "inspected", ClockStart::Entered),
        c("metered", "metered", ClockStart::Entered),
    ],
    finished: &["powered_on", "cancelled"],
    reopening: &[],
};

/// Meter checks, periodic visits, outage negotiation, paid maintenance.
pub const TASK: Workflow = Workflow {
    name: "task",
    states: &["open", "scheduled", "in_progress", "done", "cancelled"],
    initial: "open",
    edges: &[
        e("open", "schedule", "scheduled"),
        e("open", "start", "in_progress"),
        e("scheduled", "start", "in_progress"),
        e("in_progress", "complete", "done"),
        e("open", "cancel", "cancelled"),
        e("scheduled", "cancel", "cancelled"),
    ],
    clocks: &[
        c("open", "resolve", ClockStart::Opened),
        c("scheduled", "resolve", ClockStart::Opened),
        c("in_progress", "resolve", ClockStart::Opened),
    ],
    finished: &["done", "cancelled"],
    reopening: &[],
};

/// Change-of-use transactions at the counter (变更用电: capacity, suspension,
/// transfer, name, tariff, closing): the documents are reviewed, then the
/// archive change is applied as the order completes.
pub const CHANGE: Workflow = Workflow {
    name: "change",
    states: &["accepted", "reviewed", "completed", "cancelled"],
    initial: "accepted",
    edges: &[
        e("accepted", "review", "reviewed"),
        e("reviewed", "complete", "completed"),
        e("accepted", "cancel", "cancelled"),
        e("reviewed", "cancel", "cancelled"),
    ],
    clocks: &[c("accepted", "accepted", ClockStart::Entered), c("reviewed", "reviewed", ClockStart::Entered)],
    finished: &["completed", "cancelled"],
    reopening: &[],
};

pub const ALL: [&Workflow; 5] = [&CONTACT, &REPAIR, &EXPANSION, &TASK, &CHANGE];

impl Workflow {
    pub fn by_name(name: &str) -> Option<&'static Workflow> {
        ALL.into_iter().find(|w| w.name == name)
    }

    /// The state after `action` from `from`, or why it is refused.
    pub fn transition(&self, from: &str, action: &str) -> Result<&'static str, IllegalTransition> {
        self.edges
            .iter()
            .find(|e| e.from == from && e.action == action)
            .map(|e| e.to)
            .ok_or_else(|| IllegalTransition { workflow: self.name, from: from.to_owned(), action: action.to_owned() })
    }

    /// The actions possible now, for buttons and API hints.
    pub fn actions_from(&self, state: &str) -> Vec<&'static str> {
        self.edges.iter().filter(|e| e.from == state).map(|e| e.action).collect()
    }

    pub fn clock_of(&self, state: &str) -> Option<StateClock> {
        self.clocks.iter().find(|c| c.state == state).copied()
    }

    pub fn is_finished(&self, state: &str) -> bool {
        self.finished.contains(&state)
    }

    pub fn all_actions(&self) -> Vec<&'static str> {
        let mut actions: Vec<_> = self.edges.iter().map(|e| e.action).collect();
        actions.sort_unstable();
        actions.dedup();
        actions
    }
}

/// What happens to the SLA clock when an item moves from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockChange {
    /// The same clock keeps running with the same deadline.
    Keep,
    /// A new clock starts (`clock`), counted from the item's opening or from now.
    Start(StateClock),
    /// No clock runs in the new state.
    Stop,
}

pub fn clock_change(workflow: &Workflow, from: &str, action: &str, to: &str) -> ClockChange {
    match (workflow.clock_of(from), workflow.clock_of(to)) {
        (_, None) => ClockChange::Stop,
        // A reopen always starts afresh, even into a state with the same clock.
        (Some(old), Some(new)) if old.clock == new.clock && !workflow.reopening.contains(&action) => ClockChange::Keep,
        (_, Some(new)) => ClockChange::Start(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of (state, action) is either exactly one listed edge or refused.
    fn check_closed(workflow: &Workflow, legal: &[(&str, &str, &str)]) {
        assert_eq!(workflow.edges.len(), legal.len(), "{}", workflow.name);
        for from in workflow.states {
            for action in workflow.all_actions() {
                let expected = legal.iter().find(|(f, a, _)| f == from && *a == action).map(|(_, _, to)| *to);
                match expected {
                    Some(to) => assert_eq!(workflow.transition(from, action), Ok(to), "{from} {action}"),
                    None => assert!(workflow.transition(from, action).is_err(), "{} {from} {action}", workflow.name),
                }
            }
        }
    }

    #[test]
    fn contact_edges_are_exactly_the_issues() {
        check_closed(
            &CONTACT,
            &[
                ("received", "acknowledge", "acknowledged"),
                ("acknowledged", "start", "in_progress"),
                ("in_progress", "resolve", "resolved"),
                ("resolved", "close", "closed"),
                ("resolved", "reopen", "in_progress"),
                ("closed", "reopen", "in_progress"),
            ],
        );
    }

    #[test]
    fn repair_goes_report_dispatch_arrive_restore_close() {
        check_closed(
            &REPAIR,
            &[
                ("reported", "dispatch", "dispatched"),
                ("dispatched", "arrive", "on_site"),
                ("on_site", "restore", "restored"),
                ("restored", "close", "closed"),
                ("reported", "cancel", "cancelled"),
                ("dispatched", "cancel", "cancelled"),
            ],
        );
        // Once the crew is there, the order can no longer be cancelled.
        assert!(REPAIR.transition("on_site", "cancel").is_err());
    }

    #[test]
    fn expansion_stages_follow_in_order_and_cannot_skip() {
        let path = [
            "review",
            "draft_plan",
            "agree_plan",
            "complete_construction",
            "pass_inspection",
            "install_meter",
            "power_on",
        ];
        let mut state = EXPANSION.initial;
        for action in path {
            for other in path.iter().filter(|a| **a != action) {
                assert!(EXPANSION.transition(state, other).is_err(), "{state} {other}");
            }
            state = EXPANSION.transition(state, action).unwrap();
        }
        assert_eq!(state, "powered_on");
        assert!(EXPANSION.actions_from("powered_on").is_empty());
        // Cancel only before construction starts.
        assert!(EXPANSION.transition("plan_agreed", "cancel").is_ok());
        assert!(EXPANSION.transition("constructed", "cancel").is_err());
    }

    #[test]
    fn task_edges() {
        check_closed(
            &TASK,
            &[
                ("open", "schedule", "scheduled"),
                ("open", "start", "in_progress"),
                ("scheduled", "start", "in_progress"),
                ("in_progress", "complete", "done"),
                ("open", "cancel", "cancelled"),
                ("scheduled", "cancel", "cancelled"),
            ],
        );
    }

    #[test]
    fn every_edge_joins_known_states_and_every_state_is_reachable() {
        for w in ALL {
            for edge in w.edges {
                assert!(w.states.contains(&edge.from) && w.states.contains(&edge.to), "{} {edge:?}", w.name);
            }
            for state in w.states {
                let reachable = *state == w.initial || w.edges.iter().any(|e| e.to == *state);
                assert!(reachable, "{} {state}", w.name);
            }
            for clock in w.clocks {
                assert!(!w.is_finished(clock.state), "{} clock in finished state {}", w.name, clock.state);
            }
        }
    }

    #[test]
    fn refusals_explain_themselves() {
        let err = CONTACT.transition("received", "close").unwrap_err();
        assert_eq!(err.to_string(), "a contact that is received cannot close");
        assert_eq!(CONTACT.actions_from("closed"), vec!["reopen"]);
        assert_eq!(CONTACT.actions_from("received"), vec!["acknowledge"]);
    }

    #[test]
    fn clocks_switch_keep_and_stop() {
        // Acknowledging switches from the acknowledge clock to the resolve clock.
        assert_eq!(
            clock_change(&CONTACT, "received", "acknowledge", "acknowledged"),
            ClockChange::Start(c("acknowledged", "resolve", ClockStart::Opened))
        );
        assert_eq!(clock_change(&CONTACT, "acknowledged", "start", "in_progress"), ClockChange::Keep);
        assert_eq!(clock_change(&CONTACT, "in_progress", "resolve", "resolved"), ClockChange::Stop);
        assert!(matches!(clock_change(&CONTACT, "closed", "reopen", "in_progress"), ClockChange::Start(_)));
        // Each expansion stage has its own clock from the moment it is entered.
        assert_eq!(
            clock_change(&EXPANSION, "accepted", "review", "reviewed"),
            ClockChange::Start(c("reviewed", "reviewed", ClockStart::Entered))
        );
        assert_eq!(clock_change(&REPAIR, "reported", "dispatch", "dispatched"), ClockChange::Keep);
        assert_eq!(clock_change(&REPAIR, "dispatched", "arrive", "on_site"), ClockChange::Stop);
    }
}
