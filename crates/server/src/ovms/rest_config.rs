//! OVMS's configuration endpoints: `GET /v1/config` (every model's
//! status) and `POST /v1/config/reload`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::tfs::rest_status::{ModelStatus, body};
use crate::transport::rest::{ApiError, RestState};

fn all_models(state: &RestState) -> BTreeMap<String, ModelStatus> {
    let manager = state.core.manager();
    manager
        .model_names()
        .into_iter()
        .filter_map(|name| manager.model_status(&name).map(|s| (name, body(&s))))
        .collect()
}

pub async fn config(State(state): State<RestState>) -> Json<BTreeMap<String, ModelStatus>> {
    Json(all_models(&state))
}

/// Re-reads the model configuration and applies it: 201 when anything
/// changed, 200 when not; the body is the new `/v1/config`.
pub async fn reload(
    State(state): State<RestState>,
) -> Result<(StatusCode, Json<BTreeMap<String, ModelStatus>>), ApiError> {
    let changed = state.reloader.reload().await.map_err(|e| {
        ApiError::bad_request(format!(
            "Config reload failed, the previous configuration is kept: {e}"
        ))
    })?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let after = all_models(&state);
    Ok((status, Json(after)))
}
