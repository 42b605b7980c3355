//! OVMS's own endpoints: the configuration status and reload, and the
//! Prometheus metrics.

mod rest_config;
mod rest_metrics;

use axum::Router;
use axum::routing::{get, post};

use crate::transport::RestState;

/// The REST routes `/v1/config`, `/v1/config/reload` and `/metrics`.
pub fn rest_routes() -> Router<RestState> {
    Router::new()
        .route("/v1/config", get(rest_config::config))
        .route("/v1/config/reload", post(rest_config::reload))
        .route("/metrics", get(rest_metrics::metrics))
}

/// The same metrics at TF Serving's Prometheus path.
pub fn metrics_at(path: &str) -> Router<RestState> {
    Router::new().route(path, get(rest_metrics::metrics))
}
