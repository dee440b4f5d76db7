//! Contacts: complaints, inquiries, suggestions, praise and reports, with
//! first-inquiry ownership, SLA clocks, handover and return visits.

pub mod api;
pub mod db;
pub mod model;
pub mod pages;
pub mod service;
