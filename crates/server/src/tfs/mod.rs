//! TensorFlow Serving's API (as OVMS serves it): gRPC PredictionService and
//! ModelService, and the REST predict, status and metadata endpoints.

mod config_file;
mod grpc_model;
mod grpc_predict;
mod grpc_reload;
pub(crate) mod grpc_spec;
pub(crate) mod grpc_tensor;
pub(crate) mod rest_json;
pub(crate) mod rest_predict;
pub mod rest_status;
pub mod settings;
mod signature_defs;
pub mod warmup;

use axum::Router;
use axum::routing::get;

pub use config_file::load_models_file;
pub use grpc_model::TfsModels;
pub use grpc_predict::TfsPrediction;
pub use settings::TfsSettings;

use crate::transport::RestState;

/// Why Classify, Regress and MultiInference are refused (UNIMPLEMENTED, 501).
pub(crate) fn unsupported_method(method: &str) -> String {
    format!(
        "{method} is not supported: models are served by OpenVINO, ONNX Runtime or tract, \
         which take tensors, not tf.Example; send the tensors with Predict"
    )
}

/// The REST routes under `/v1/models`.
pub fn rest_routes() -> Router<RestState> {
    Router::new()
        .route(
            "/v1/models/{model}",
            get(rest_status::model_status).post(rest_predict::predict),
        )
        .route(
            "/v1/models/{model}/versions/{version}",
            get(rest_status::model_version_status).post(rest_predict::predict_version),
        )
        .route(
            "/v1/models/{model}/labels/{label}",
            get(rest_status::model_label_status).post(rest_predict::predict_label),
        )
        .route(
            "/v1/models/{model}/labels/{label}/metadata",
            get(rest_status::model_label_metadata),
        )
        .route(
            "/v1/models/{model}/metadata",
            get(rest_status::model_metadata),
        )
        .route(
            "/v1/models/{model}/versions/{version}/metadata",
            get(rest_status::model_version_metadata),
        )
}
