//! The commands, one module per group; `main.rs` parses and dispatches.

pub mod admin;
pub mod bench;
pub mod citus;
pub mod credit;
pub mod data;
pub mod forecast;
pub mod load;
pub mod onboarding;
pub mod privacy;
pub mod segments;
pub mod serve;
pub mod value;
