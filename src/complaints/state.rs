//! The contact state machine:
//! `received → acknowledged → in_progress → resolved → closed`, with reopen
//! (from resolved or closed back to in progress). Anything off these edges is
//! refused. The database will refuse the same edges (see the issue).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContactState {
    Received,
    Acknowledged,
    InProgress,
    Resolved,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Acknowledge,
    Start,
    Resolve,
    Close,
    Reopen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: ContactState,
    pub action: Action,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} a contact that is {}", self.action.as_str(), self.from.as_str())
    }
}

impl std::error::Error for IllegalTransition {}

impl ContactState {
    pub const ALL: [ContactState; 5] = [
        ContactState::Received,
        ContactState::Acknowledged,
        ContactState::InProgress,
        ContactState::Resolved,
        ContactState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactState::Received => "received",
            ContactState::Acknowledged => "acknowledged",
            ContactState::InProgress => "in_progress",
            ContactState::Resolved => "resolved",
            ContactState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The actions a person may take now, for buttons and API hints.
    pub fn allowed(self) -> Vec<Action> {
        Action::ALL.into_iter().filter(|a| transition(self, *a).is_ok()).collect()
    }

    /// Whether the SLA clock is still running.
    pub fn is_open(self) -> bool {
        !matches!(self, ContactState::Resolved | ContactState::Closed)
    }
}

impl Action {
    pub const ALL: [Action; 5] = [Action::Acknowledge, Action::Start, Action::Resolve, Action::Close, Action::Reopen];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Start => "start",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Reopen => "reopen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == s)
    }
}

/// The state after `action`, or why it is refused.
pub fn transition(from: ContactState, action: Action) -> Result<ContactState, IllegalTransition> {
    use Action::*;
    use ContactState::*;
    match (from, action) {
        (Received, Acknowledge) => Ok(Acknowledged),
        (Acknowledged, Start) => Ok(InProgress),
        (InProgress, Resolve) => Ok(Resolved),
        (Resolved, Close) => Ok(Closed),
        (Resolved | Closed, Reopen) => Ok(InProgress),
        _ => Err(IllegalTransition { from, action }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use ContactState::*;

    const LEGAL: [(ContactState, Action, ContactState); 6] = [
        (Received, Acknowledge, Acknowledged),
        (Acknowledged, Start, InProgress),
        (InProgress, Resolve, Resolved),
        (Resolved, Close, Closed),
        (Resolved, Reopen, InProgress),
        (Closed, Reopen, InProgress),
    ];

    #[test]
    fn every_edge_is_allowed_and_nothing_else() {
        for from in ContactState::ALL {
            for action in Action::ALL {
                let expected = LEGAL.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                match expected {
                    Some(to) => assert_eq!(transition(from, action), Ok(to), "{from:?} {action:?}"),
                    None => assert_eq!(
                        transition(from, action),
                        Err(IllegalTransition { from, action }),
                        "{from:?} {action:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn the_happy_path_and_a_reopen() {
        let mut state = Received;
        for action in [Acknowledge, Start, Resolve, Close, Reopen, Resolve, Close] {
            state = transition(state, action).unwrap();
        }
        assert_eq!(state, Closed);
    }

    #[test]
    fn refusals_explain_themselves() {
        let err = transition(Received, Close).unwrap_err();
        assert_eq!(err.to_string(), "cannot close a contact that is received");
        assert_eq!(Closed.allowed(), vec![Reopen]);
        assert_eq!(Received.allowed(), vec![Acknowledge]);
    }

    #[test]
    fn names_round_trip() {
        for s in ContactState::ALL {
            assert_eq!(ContactState::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert!(InProgress.is_open() && !Resolved.is_open());
    }
}
