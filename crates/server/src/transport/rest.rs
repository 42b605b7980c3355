//! The REST listener's application: every API's routes on one router, with
//! the body limit, decompression and JSON errors they share.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inferd_core::Core;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::cors::CorsLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::rest_serve::RestApp;
use super::{RestGuard, RestGuardLayer};
use crate::reload::Reloader;

pub use super::rest_error::ApiError;

/// A request body as it leaves the timeout and decompression layers.
type DecompressedRequestBody = tower_http::decompression::DecompressionBody<
    tower_http::timeout::TimeoutBody<hyper::body::Incoming>,
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

/// The application of Triton's `--metrics-port`: `GET /metrics` only.
pub fn metrics_router(core: Arc<Core>, reloader: Arc<Reloader>) -> impl RestApp {
    let state = RestState {
        core,
        max_request_bytes: 0,
        reloader,
    };
    crate::ovms::metrics_at("/metrics")
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Invalid request URL") })
        .with_state(state)
}

/// The REST application: the routes behind the guard, body timeout,
/// decompression (bodies above `max_request_bytes` after decompression get
/// 413), JSON errors, the optional request timeout and CORS. Composed once
/// as plain tower layers: no per-request boxing or cloning of the stack.
pub fn router(
    core: Arc<Core>,
    reloader: Arc<Reloader>,
    guard: RestGuard,
    timeouts: RestTimeouts,
    cors: Option<CorsLayer>,
) -> impl RestApp {
    let state = RestState {
        core,
        max_request_bytes: guard.max_request_bytes,
        reloader,
    };
    let max_request_bytes = guard.max_request_bytes;
    let tfs_metrics = guard
        .tfs_metrics_path
        .as_deref()
        .map(crate::ovms::metrics_at)
        .unwrap_or_default();
    let routes = Router::new()
        .merge(tfs_metrics)
        .merge(crate::ovms::rest_routes())
        .merge(crate::tfs::rest_routes())
        .merge(crate::kserve::rest_routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "Invalid request URL") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Unsupported method")
        })
        .with_state(state);
    let request_timeout = timeouts
        .request
        .map(|limit| TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, limit));
    ServiceBuilder::new()
        .option_layer(cors)
        .option_layer(request_timeout)
        .map_future(|answer| async move {
            let response: Response = answer.await?;
            Ok::<_, Infallible>(super::rest_error::errors_as_json(response).await)
        })
        .layer(RestGuardLayer::new(guard))
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyTimeoutLayer::new(timeouts.body))
        .layer(RequestDecompressionLayer::new())
        .layer(MapRequestLayer::new(
            super::rest_guard::limit_decompressed::<DecompressedRequestBody>,
        ))
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .service(routes)
}
