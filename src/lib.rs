//! gridcrm: a multi-tenant customer-relationship server for electric power
//! supply companies. The library builds the application; `main.rs` is the CLI.

rust_i18n::i18n!("locales", fallback = "en");

pub mod anomalies;
pub mod api;
pub mod app;
pub mod appointments;
pub mod audit;
pub mod billing;
pub mod complaints;
pub mod config;
pub mod cost_control;
pub mod credit;
pub mod customers;
pub mod db;
pub mod demand_response;
pub mod forecast;
pub mod home;
pub mod interval;
pub mod jobs;
pub mod load;
pub mod metrics;
pub mod months;
pub mod notices;
pub mod onboarding;
pub mod payments;
pub mod platform;
pub mod points;
pub mod portal;
pub mod portfolio;
pub mod prints;
pub mod privacy;
pub mod readings;
pub mod seed;
pub mod segments;
pub mod service;
pub mod sla;
pub mod staff;
pub mod supply;
pub mod tariff_analysis;
pub mod tenants;
pub mod timeline;
pub mod value;
pub mod web;
pub mod work_orders;
pub mod workflow;

pub use app::app;
pub use web::AppState;
