//! REST frontends: KServe v2 under `/v2`.

mod error;
mod json_data;
mod kserve;
mod kserve_infer;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use inferd_core::Core;
use tower_http::decompression::RequestDecompressionLayer;

pub use error::ApiError;

/// KServe protocol extensions this server implements.
pub const EXTENSIONS: &[&str] = &["binary_tensor_data"];

/// State shared by the REST handlers.
#[derive(Clone)]
pub struct RestState {
    core: Arc<Core>,
    max_request_bytes: usize,
}

/// The REST application; bodies above `max_request_bytes` (after
/// decompression) are answered with 413.
pub fn router(core: Arc<Core>, max_request_bytes: usize) -> Router {
    let state = RestState {
        core,
        max_request_bytes,
    };
    Router::new()
        .route("/v2/health/live", get(kserve::live))
        .route("/v2/health/ready", get(kserve::ready))
        .route("/v2", get(kserve::server_metadata))
        .route("/v2/models/{model}", get(kserve::model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(kserve::model_version_metadata),
        )
        .route("/v2/models/{model}/ready", get(kserve::model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(kserve::model_version_ready),
        )
        .route("/v2/models/{model}/infer", post(kserve_infer::infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(kserve_infer::infer_version),
        )
        .fallback(|| async {
            ApiError::new(axum::http::StatusCode::NOT_FOUND, "Invalid request URL")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "Unsupported method",
            )
        })
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .layer(RequestDecompressionLayer::new())
        .with_state(state)
}
