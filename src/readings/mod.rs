//! Meter register readings: entered at the counter or by a reader, sent to
//! the API, or imported from a file; checked for plausibility, and held in a
//! review queue when they look wrong, so that no bill is made from them
//! silently.

pub mod api;
pub mod db;
pub mod import;
pub mod model;
pub mod pages;
pub mod service;
