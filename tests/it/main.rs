//! Integration tests: the real application against a real PostgreSQL, as the
//! application role. One binary, so one cluster serves the whole run.

mod anomalies;
mod api;
mod auth;
mod billing;
mod browser;
mod bulk;
mod change_of_use;
mod cli;
mod contracts;
mod cost_control;
mod credit;
mod demand_response;
mod drills;
mod forecast;
mod input;
mod interval;
mod isolation;
mod jobs;
mod load;
mod metrics;
mod notice_prefs;
mod notice_sinks;
mod notices;
mod notices_delivery;
mod outages;
mod pages;
mod payments;
mod points;
mod portfolio;
mod readings;
mod reference;
mod search;
mod seed;
mod segments;
mod service;
mod service_settings;
mod stats;
mod support;
mod tariff_analysis;
mod tariffs;
mod validation;
mod value;
mod work_orders;
// Supply points and meters.
mod supply;
