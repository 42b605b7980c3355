//! Triton's statistics extension over REST: `GET /v2/models/stats`,
//! `/v2/models/{m}/stats` and `/v2/models/{m}/versions/{v}/stats`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::statistics::{select, to_json};
use crate::transport::{ApiError, RestState};

fn answer(state: &RestState, model: &str, version: &str) -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&select(&state.core, model, version)?)))
}

/// Every serving version of every model.
pub async fn all(State(state): State<RestState>) -> Result<Json<Value>, ApiError> {
    answer(&state, "", "")
}

/// Every serving version of one model.
pub async fn model(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &model, "")
}

/// One version.
pub async fn version(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    answer(&state, &model, &version)
}
