//! The REST listener's application: every API's routes on one router, with
//! the body limit, decompression and JSON errors they share.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use inferd_core::Core;

use crate::reload::Reloader;
use axum::http::StatusCode;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::cors::CorsLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::RestGuard;

pub use super::rest_error::ApiError;

/// A request body as it leaves the timeout and decompression layers.
type DecompressedRequestBody = tower_http::decompression::DecompressionBody<
    tower_http::timeout::TimeoutBody<axum::body::Body>,
>;

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
    let routes = Router::new()
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
        .with_state(state);
    // The guard, timeouts and decompression wrap the routed app once. With
    // `Router::layer` every layer wrapped, boxed and (per request) cloned
    // each route: a keep-alive REST request cost 35 % more instructions.
    let stack = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            guard,
            super::rest_guard::guard,
        ))
        .layer(RequestBodyTimeoutLayer::new(timeouts.body))
        .layer(RequestDecompressionLayer::new())
        .layer(MapRequestLayer::new(
            super::rest_guard::limit_decompressed::<DecompressedRequestBody>,
        ))
        .service(routes);
    let mut app = Router::new()
        .fallback_service(stack)
        .layer(axum::middleware::map_response(
            super::rest_error::errors_as_json,
        ));
    if let Some(limit) = timeouts.request {
        app = app.layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limit,
        ));
    }
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}
