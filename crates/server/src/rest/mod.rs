//! REST frontends: KServe v2 under `/v2`.

mod error;
mod json_data;
mod json_depth;
mod kserve;
mod kserve_infer;
mod kserve_raw;
mod metrics;
mod ovms_config;
mod repository;
mod statistics;
mod tfs_json;
mod tfs_predict;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use inferd_core::Core;

use crate::reload::Reloader;
use tower_http::decompression::RequestDecompressionLayer;

pub use error::ApiError;

/// KServe protocol extensions this server implements.
pub const EXTENSIONS: &[&str] = &["binary_tensor_data", "model_repository", "statistics"];

/// State shared by the REST handlers.
#[derive(Clone)]
pub struct RestState {
    core: Arc<Core>,
    max_request_bytes: usize,
    reloader: Arc<Reloader>,
}

/// The REST application; bodies above `max_request_bytes` (after
/// decompression) are answered with 413.
pub fn router(core: Arc<Core>, max_request_bytes: usize, reloader: Arc<Reloader>) -> Router {
    let state = RestState {
        core,
        max_request_bytes,
        reloader,
    };
    Router::new()
        .route("/v1/config", get(ovms_config::config))
        .route("/v1/config/reload", post(ovms_config::reload))
        .route(
            "/v1/models/{model}",
            get(ovms_config::model_status).post(tfs_predict::predict),
        )
        .route(
            "/v1/models/{model}/versions/{version}",
            get(ovms_config::model_version_status).post(tfs_predict::predict_version),
        )
        .route(
            "/v1/models/{model}/labels/{label}",
            get(ovms_config::model_label_status).post(tfs_predict::predict_label),
        )
        .route(
            "/v1/models/{model}/labels/{label}/metadata",
            get(ovms_config::model_label_metadata),
        )
        .route(
            "/v1/models/{model}/metadata",
            get(ovms_config::model_metadata),
        )
        .route(
            "/v1/models/{model}/versions/{version}/metadata",
            get(ovms_config::model_version_metadata),
        )
        .route("/v2/health/live", get(kserve::live))
        .route("/v2/health/ready", get(kserve::ready))
        .route("/v2", get(kserve::server_metadata))
        .route("/v2/models/stats", get(statistics::all))
        .route("/v2/models/{model}/stats", get(statistics::model))
        .route(
            "/v2/models/{model}/versions/{version}/stats",
            get(statistics::version),
        )
        .route("/metrics", get(metrics::metrics))
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
        .route("/v2/repository/index", post(repository::repository_index))
        .route("/v2/repository/models/{model}/load", post(repository::load))
        .route(
            "/v2/repository/models/{model}/unload",
            post(repository::unload),
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
        .layer(axum::middleware::map_response(error::errors_as_json))
        .with_state(state)
}
