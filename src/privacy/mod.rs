//! Personal information (PIPL): a tenant admin exports everything held about
//! one person as one JSON document, and anonymises a closed account once the
//! tenant's retention period has passed, keeping the financial records.
//! Also how long interval data and the audit log are kept (retention).
//! See docs/privacy.md and docs/operations.md.

pub mod api;
pub mod db;
pub mod model;
pub mod pages;
pub mod retention;
pub mod service;
