//! Work orders (工单): fault repair, business expansion (业扩报装) stage by
//! stage, and simpler tasks (meter checks, periodic visits, outage
//! negotiation, paid maintenance), with SLA clocks and the green channel.

pub mod api;
pub mod change;
pub mod change_db;
pub mod change_pages;
pub mod change_service;
pub mod db;
pub mod documents;
pub mod documents_db;
pub mod model;
pub mod pages;
pub mod refund;
pub mod refund_pages;
pub mod service;
