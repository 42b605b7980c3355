//! The REST listener's application: every API's routes on one router, with
//! the body limit, decompression and JSON errors they share.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use inferd_core::Core;

use crate::reload::Reloader;
use axum::http::StatusCode;
use tower_http::cors::CorsLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::RestGuard;

pub use super::rest_error::ApiError;

/// How long a REST request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestTimeouts {
    /// Longest pause between two parts of a request body.
    pub body: std::time::Duration,
    /// Longest a whole request may take (`--rest_api_timeout_in_ms`).
    pub request: Option<std::time::Duration>,
}

/// State shared by the REST handlers.
#[derive(Clone)]
pub struct RestState {
    /// The core every handler enters.
    pub(crate) core: Arc<Core>,
    /// `--max_request_bytes`, named in 413 answers.
    pub(crate) max_request_bytes: usize,
    /// Applies configuration changes (reload, repository load/unload).
    pub(crate) reloader: Arc<Reloader>,
}

/// The REST application; bodies above `max_request_bytes` (after
/// decompression) are answered with 413.
pub fn router(
    core: Arc<Core>,
    reloader: Arc<Reloader>,
    guard: RestGuard,
    timeouts: RestTimeouts,
    cors: Option<CorsLayer>,
) -> Router {
    let state = RestState {
        core,
        max_request_bytes: guard.max_request_bytes,
        reloader,
    };
    let max_request_bytes = guard.max_request_bytes;
    Router::new()
        .merge(crate::ovms::rest_routes())
        .merge(crate::tfs::rest_routes())
        .merge(crate::kserve::rest_routes())
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
        .layer(axum::middleware::from_fn(
            super::rest_guard::limit_decompressed,
        ))
        .layer(RequestDecompressionLayer::new())
        .layer(RequestBodyTimeoutLayer::new(timeouts.body))
        .layer(tower::util::option_layer(timeouts.request.map(|limit| {
            TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, limit)
        })))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            super::rest_guard::guard,
        ))
        .layer(axum::middleware::map_response(
            super::rest_error::errors_as_json,
        ))
        .layer(tower::util::option_layer(cors))
        .with_state(state)
}
