//! Typed configuration: built-in defaults, an optional file, then `GRIDCRM_*`
//! environment variables.

use std::{fmt, path::PathBuf};

use serde::Deserialize;

/// A value that must never be printed (database URLs carry passwords).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: Option<Secret>,
    pub app_database_url: Option<Secret>,
    pub max_connections: u32,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub secure_cookies: bool,
    pub login_max_failures: i32,
    pub login_lock_minutes: i64,
    pub login_max_failures_per_address: u32,
    /// Reverse proxies' addresses, comma-separated (see config/default.toml).
    pub trusted_proxies: Option<String>,
    // Uploads (interval data, readings): see config/default.toml.
    pub upload_idle_seconds: u64,
    pub upload_total_seconds: u64,
    pub uploads_per_caller: usize,
    pub upload_max_loads: usize,
    pub upload_max_line_bytes: usize,
    pub interval_max_bytes: u64,
    pub readings_max_bytes: u64,
    pub interval_days_back: u32,
    pub interval_days_ahead: u32,
    // Sign-in and operations hardening.
    pub login_lock_max_minutes: i64,
    pub metrics_token: Option<Secret>,
    // Background jobs and shutdown (src/jobs).
    pub job_workers: usize,
    pub job_lease_seconds: u64,
    pub job_poll_millis: u64,
    pub job_retry_seconds: u64,
    pub job_max_attempts: i32,
    pub shutdown_grace_seconds: u64,
    pub bill_run_batch: usize,
    // Notice delivery (src/notices/dispatch.rs, src/notices/channels): see config/default.toml.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub smtp_from: Option<String>,
    pub gateway_url: Option<String>,
    pub gateway_secret: Option<Secret>,
    pub notice_dispatchers: usize,
    pub notice_batch: i64,
    pub notice_poll_millis: u64,
    pub notice_lease_seconds: u64,
    pub notice_max_attempts: i32,
    pub notice_retry_seconds: u64,
    pub notice_rate_email: u32,
    pub notice_rate_sms: u32,
    pub notice_rate_wechat: u32,
    pub public_url: Option<String>,
    pub pay_gateway_url: Option<String>,
    pub pay_gateway_merchant: Option<String>,
    pub pay_gateway_secret: Option<Secret>,
}

const DEFAULTS: &str = include_str!("../config/default.toml");

impl Config {
    /// Loads defaults, then the file named by `GRIDCRM_CONFIG` (if any), then
    /// `GRIDCRM_*` environment variables.
    pub fn load() -> anyhow::Result<Self> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Ok(path) = std::env::var("GRIDCRM_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        let loaded = builder
            .add_source(config::Environment::with_prefix("GRIDCRM").try_parsing(true))
            .build()?
            .try_deserialize::<Config>()?;
        loaded.trusted_proxy_addrs()?;
        Ok(loaded)
    }

    /// The addresses of `trusted_proxies`; an entry that is no IP address is
    /// named in the error.
    pub fn trusted_proxy_addrs(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        let listed = self.trusted_proxies.as_deref().unwrap_or_default();
        listed
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| entry.parse().map_err(|_| anyhow::anyhow!("trusted_proxies: {entry:?} is not an IP address")))
            .collect()
    }

    /// The built-in defaults alone (tests start from these).
    pub fn defaults() -> Self {
        config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("config/default.toml is valid")
    }
}
