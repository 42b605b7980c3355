//! `GET /metrics`: the Prometheus text format, when metrics are enabled.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::transport::{ApiError, RestState};

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<RestState>) -> Result<Response, ApiError> {
    let telemetry = state.core.manager().telemetry();
    let metrics = telemetry.metrics().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "Metrics are not enabled: start with --metrics_enable",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, TEXT_FORMAT)], metrics.render()).into_response())
}
