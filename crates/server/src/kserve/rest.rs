//! KServe v2 REST: health, server and model metadata, model readiness.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inferd_core::telemetry::{Api, Interface, Method};
use inferd_core::{Servable, VersionRequest};
use inferd_tensor::TensorSpec;
use serde::Serialize;

use super::EXTENSIONS;
use crate::transport::{ApiError, RestState};

pub async fn live() -> StatusCode {
    StatusCode::OK
}

pub async fn ready(State(state): State<RestState>) -> StatusCode {
    if state.core.manager().is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[derive(Serialize)]
pub struct ServerMetadata {
    name: &'static str,
    version: &'static str,
    extensions: &'static [&'static str],
}

pub async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: crate::SERVER_NAME,
        version: crate::SERVER_VERSION,
        extensions: EXTENSIONS,
    })
}

#[derive(Serialize)]
struct TensorMetadata {
    name: String,
    datatype: &'static str,
    shape: Vec<i64>,
}

#[derive(Serialize)]
pub struct ModelMetadata {
    name: String,
    versions: Vec<String>,
    platform: &'static str,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
}

fn tensors(specs: &[TensorSpec]) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|s| TensorMetadata {
            name: s.name.clone(),
            datatype: s.dtype.name(),
            shape: s.shape_i64(),
        })
        .collect()
}

/// The version an optional version path segment asks for.
pub fn version_request(version: Option<&str>) -> Result<VersionRequest, ApiError> {
    Ok(match version {
        Some(v) => VersionRequest::parse(v)?,
        None => VersionRequest::Latest,
    })
}

/// The servable for a model and an optional version path segment.
pub fn servable(
    state: &RestState,
    model: &str,
    version: Option<&str>,
) -> Result<Arc<Servable>, ApiError> {
    let version = version_request(version)?;
    Ok(state.core.manager().handle(model, version)?)
}

fn metadata(
    state: &RestState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let servable = servable(state, model, version);
    let served = servable.as_ref().ok().map(|s| s.version());
    count(
        state,
        Method::ModelMetadata,
        model,
        served,
        servable.is_ok(),
    );
    let servable = servable?;
    let signature = servable.signature();
    Ok(Json(ModelMetadata {
        name: servable.name().to_string(),
        versions: state.core.manager().available_versions(model),
        platform: servable.platform(),
        inputs: tensors(&signature.inputs),
        outputs: tensors(&signature.outputs),
    }))
}

pub async fn model_metadata(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<Json<ModelMetadata>, ApiError> {
    metadata(&state, &model, None)
}

pub async fn model_version_metadata(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, ApiError> {
    metadata(&state, &model, Some(&version))
}

fn count(state: &RestState, method: Method, model: &str, version: Option<u64>, ok: bool) {
    state
        .core
        .manager()
        .count_request(Api::KServe, Interface::Rest, method, model, version, ok);
}

fn model_ready_status(
    state: &RestState,
    model: &str,
    version: Option<&str>,
) -> Result<StatusCode, ApiError> {
    let answer = servable(state, model, version).map(|_| StatusCode::OK);
    count(state, Method::ModelReady, model, None, answer.is_ok());
    answer
}

pub async fn model_ready(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<StatusCode, ApiError> {
    model_ready_status(&state, &model, None)
}

pub async fn model_version_ready(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    model_ready_status(&state, &model, Some(&version))
}
