//! Payments: at the counter with a receipt, or notified by a channel over
//! the API (each channel reference books once); settled against the oldest
//! debts; reversible with a reason. The arrears list ages what is overdue.

pub mod api;
pub mod arrears;
pub mod cash_api;
pub mod cash_days;
pub mod cash_pages;
pub mod db;
pub mod model;
pub mod pages;
pub mod service;
