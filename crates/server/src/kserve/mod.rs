//! KServe v2 (Open Inference Protocol) with Triton's extensions: REST and
//! gRPC adapters over the core, side by side.

pub(crate) mod grpc;
mod grpc_repository;
mod grpc_tensor;
pub mod model_config;
mod parameters;
pub mod repository_index;
pub(crate) mod rest;
pub(crate) mod rest_infer;
mod rest_raw;
mod rest_repository;
mod rest_statistics;
pub mod statistics;

use axum::Router;
use axum::routing::{get, post};

pub use grpc::KServeGrpc;
pub use rest_infer::HEADER_LENGTH;

use crate::transport::RestState;

/// KServe protocol extensions this server implements.
pub const EXTENSIONS: &[&str] = &[
    "binary_tensor_data",
    "model_repository",
    "statistics",
    "model_configuration",
];

/// The REST routes under `/v2`.
pub fn rest_routes() -> Router<RestState> {
    Router::new()
        .route("/v2/health/live", get(rest::live))
        .route("/v2/health/ready", get(rest::ready))
        .route("/v2", get(rest::server_metadata))
        .route("/v2/models/stats", get(rest_statistics::all))
        .route("/v2/models/{model}/stats", get(rest_statistics::model))
        .route(
            "/v2/models/{model}/versions/{version}/stats",
            get(rest_statistics::version),
        )
        .route("/v2/models/{model}/config", get(model_config::rest_config))
        .route(
            "/v2/models/{model}/versions/{version}/config",
            get(model_config::rest_version_config),
        )
        .route("/v2/models/{model}", get(rest::model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(rest::model_version_metadata),
        )
        .route("/v2/models/{model}/ready", get(rest::model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(rest::model_version_ready),
        )
        .route("/v2/models/{model}/infer", post(rest_infer::infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(rest_infer::infer_version),
        )
        .route(
            "/v2/repository/index",
            post(rest_repository::repository_index),
        )
        .route(
            "/v2/repository/models/{model}/load",
            post(rest_repository::load),
        )
        .route(
            "/v2/repository/models/{model}/unload",
            post(rest_repository::unload),
        )
}
