//! Bulk onboarding and export of the customer archive: customers with their
//! contact, supply points and meters, one line per meter (docs/import.md).

pub mod api;
pub mod db;
pub mod encoding;
pub mod model;
pub mod pages;
pub mod service;
