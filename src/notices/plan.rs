//! The planner: turns outbox events and dates coming due into notices by
//! the tenant's rules.
