//! Triton's model repository extension over REST:
//! `POST /v2/repository/index` and `POST /v2/repository/models/{m}/load|unload`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::repository_index::{check_parameters, index};
use crate::reload::ModelControlError;
use crate::transport::json_depth::check_json_depth;
use crate::transport::{ApiError, RestState};

#[derive(Deserialize, Default)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

#[derive(Deserialize, Default)]
struct ControlRequest {
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// The JSON body, or the default when the body is empty.
fn optional_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    check_json_depth(body)?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

pub async fn repository_index(
    State(state): State<RestState>,
    body: Bytes,
) -> Result<Json<Vec<Value>>, ApiError> {
    let request: IndexRequest = optional_body(&body)?;
    let entries = index(state.reloader.manager(), request.ready)
        .into_iter()
        .map(|e| {
            let mut entry = Map::new();
            entry.insert("name".into(), e.name.into());
            if let Some(version) = e.version {
                entry.insert("version".into(), version.into());
            }
            entry.insert("state".into(), e.state.into());
            entry.insert("reason".into(), e.reason.into());
            Value::Object(entry)
        })
        .collect();
    Ok(Json(entries))
}

/// Checks a load/unload body; returns its `config` parameter, if any.
fn control_request(body: &[u8]) -> Result<Option<String>, ApiError> {
    let request: ControlRequest = optional_body(body)?;
    check_parameters(request.parameters.keys().map(String::as_str))
        .map_err(ApiError::bad_request)?;
    match request.parameters.get("config") {
        None => Ok(None),
        Some(Value::String(json)) => Ok(Some(json.clone())),
        Some(_) => Err(ApiError::bad_request(
            "parameter 'config' must be a string holding the model configuration as JSON",
        )),
    }
}

fn control_error(err: ModelControlError) -> ApiError {
    // Triton answers 400 for a model it cannot load or does not know.
    ApiError::bad_request(err.to_string())
}

/// `POST /v2/repository/models/{m}/load`, with an optional `config`.
pub async fn load(
    State(state): State<RestState>,
    Path(model): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let config = control_request(&body)?;
    let replace = config.map(|json| {
        let name = model.clone();
        move |base: &str| super::repository_index::config_override(&name, base, &json)
    });
    state
        .reloader
        .load_model_with(&model, replace)
        .await
        .map_err(control_error)?;
    Ok(Json(Value::Object(Map::new())))
}

/// `POST /v2/repository/models/{m}/unload`.
pub async fn unload(
    State(state): State<RestState>,
    Path(model): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    control_request(&body)?;
    state
        .reloader
        .unload_model(&model)
        .await
        .map_err(control_error)?;
    Ok(Json(Value::Object(Map::new())))
}
