//! TensorFlow Serving's REST model status and metadata (as OVMS serves
//! them): `GET /v1/models/{m}[/versions/{v}|/labels/{l}][/metadata]`.

use axum::Json;
use axum::extract::{Path, State};
use inferd_core::telemetry::{Api, Interface, Method};
use inferd_core::{CoreError, VersionRequest, VersionStatus};
use serde::Serialize;

use crate::transport::rest::{ApiError, RestState};
#[derive(Serialize, PartialEq)]
struct Status {
    error_code: &'static str,
    error_message: String,
}

#[derive(Serialize, PartialEq)]
struct VersionStatusBody {
    version: String,
    state: &'static str,
    status: Status,
}

/// `{"model_version_status": [...]}` as TFS and OVMS answer it.
#[derive(Serialize, PartialEq)]
pub struct ModelStatus {
    model_version_status: Vec<VersionStatusBody>,
}

/// The status body of these versions, newest first.
pub fn body(statuses: &[VersionStatus]) -> ModelStatus {
    // Newest first, as OVMS lists them.
    let model_version_status = statuses
        .iter()
        .rev()
        .map(|s| VersionStatusBody {
            version: s.version.to_string(),
            state: s.state.name(),
            status: Status {
                error_code: s.error_code(),
                error_message: s.error.clone().unwrap_or_default(),
            },
        })
        .collect();
    ModelStatus {
        model_version_status,
    }
}

fn count(state: &RestState, method: Method, model: &str, version: Option<u64>, ok: bool) {
    state.core.manager().count_request(
        Api::TensorFlowServing,
        Interface::Rest,
        method,
        model,
        version,
        ok,
    );
}

fn status_of(
    state: &RestState,
    model: &str,
    version: VersionRequest,
) -> Result<Json<ModelStatus>, ApiError> {
    let answer = statuses_of(state, model, version);
    count(state, Method::GetModelStatus, model, None, answer.is_ok());
    answer
}

fn statuses_of(
    state: &RestState,
    model: &str,
    version: VersionRequest,
) -> Result<Json<ModelStatus>, ApiError> {
    let manager = state.core.manager();
    let statuses = manager
        .model_status(model)
        .ok_or(CoreError::ModelNotFound)?;
    if statuses.is_empty()
        && let Some(message) = manager.storage_fault(model)
    {
        return Err(CoreError::StorageFault {
            model: model.to_string(),
            message,
        }
        .into());
    }
    let wanted = match version {
        VersionRequest::Latest => return Ok(Json(body(&statuses))),
        VersionRequest::Specific(v) => v,
        VersionRequest::Label(label) => manager.label_version(model, &label)?,
    };
    let one: Vec<VersionStatus> = statuses
        .into_iter()
        .filter(|s| s.version == wanted)
        .collect();
    if one.is_empty() {
        return Err(CoreError::VersionNotFound.into());
    }
    Ok(Json(body(&one)))
}

/// `GET /v1/models/{m}`: every version's status.
pub async fn model_status(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    status_of(&state, &model, VersionRequest::Latest)
}

/// `GET /v1/models/{m}/versions/{v}`.
pub async fn model_version_status(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelStatus>, ApiError> {
    status_of(&state, &model, VersionRequest::parse(&version)?)
}

/// `GET /v1/models/{m}/labels/{l}`.
pub async fn model_label_status(
    State(state): State<RestState>,
    Path((model, label)): Path<(String, String)>,
) -> Result<Json<ModelStatus>, ApiError> {
    status_of(&state, &model, VersionRequest::Label(label))
}

fn metadata_of(
    state: &RestState,
    model: &str,
    version: VersionRequest,
) -> Result<Json<serde_json::Value>, ApiError> {
    let servable = state.core.manager().handle(model, version);
    let served = servable.as_ref().ok().map(|s| s.version());
    count(
        state,
        Method::GetModelMetadata,
        model,
        served,
        servable.is_ok(),
    );
    let servable = servable?;
    let signatures = super::signature_defs::of(&servable);
    Ok(Json(serde_json::json!({
        "modelSpec": {"name": servable.name(), "signatureName": "", "version": servable.version().to_string()},
        "metadata": {"signature_def": {
            "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
            "signatureDef": super::signature_defs::to_json(&signatures),
        }},
    })))
}

/// `GET /v1/models/{m}/metadata`: the TensorFlow Serving signature of the latest version.
pub async fn model_metadata(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    metadata_of(&state, &model, VersionRequest::Latest)
}

/// `GET /v1/models/{m}/versions/{v}/metadata`.
pub async fn model_version_metadata(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    metadata_of(&state, &model, VersionRequest::parse(&version)?)
}

/// `GET /v1/models/{m}/labels/{l}/metadata`.
pub async fn model_label_metadata(
    State(state): State<RestState>,
    Path((model, label)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    metadata_of(&state, &model, VersionRequest::Label(label))
}
