//! Daemon information and system figures: version, home and work dirs, `/init`, `/env` and
//! `/system/metrics`.
//!
//! Routes: `/version`, `/user-home-dir`, `/project-dir`, `/work-dir`, `/init`, `/env`,
//! `/system/metrics`. Knows nothing of HTTP outside `routes.rs`.

pub mod metrics;
pub mod routes;

use std::sync::{Arc, Mutex};

use crate::state::Context;

/// The daemon's version as `/version` reports it.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct SystemService {
    metrics: metrics::MetricsSampler,
    /// The token `/init` hands over for telemetry export; never used for request auth.
    init_token: Arc<Mutex<Option<String>>>,
}

impl SystemService {
    pub fn new(ctx: &Context) -> Self {
        SystemService {
            metrics: metrics::MetricsSampler::start(ctx.shutdown.clone()),
            init_token: Arc::default(),
        }
    }

    pub fn metrics(&self) -> metrics::SystemMetrics {
        self.metrics.latest()
    }

    pub fn set_init_token(&self, token: Option<String>) {
        *self.init_token.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = token;
    }

    pub async fn shutdown(&self) {}
}
