//! Triton's model repository extension over gRPC: `RepositoryIndex`,
//! `RepositoryModelLoad` and `RepositoryModelUnload`.

use std::collections::HashMap;

use tonic::Status;

use super::repository_index::{check_parameters, index};
use crate::proto::kserve::repository_index_response::ModelIndex;
use crate::proto::kserve::*;
use crate::reload::{ModelControlError, Reloader};

/// The index of every model version (only the READY ones with `ready`).
pub fn repository_index(
    reloader: &Reloader,
    request: RepositoryIndexRequest,
) -> RepositoryIndexResponse {
    let models = index(reloader.manager(), request.ready)
        .into_iter()
        .map(|e| ModelIndex {
            name: e.name,
            version: e.version.unwrap_or_default(),
            state: e.state.to_string(),
            reason: e.reason,
        })
        .collect();
    RepositoryIndexResponse { models }
}

fn check(parameters: &HashMap<String, ModelRepositoryParameter>) -> Result<(), Status> {
    check_parameters(parameters.keys().map(String::as_str)).map_err(Status::invalid_argument)
}

fn control_status(err: ModelControlError) -> Status {
    match err {
        ModelControlError::NotConfigured(_) => Status::not_found(err.to_string()),
        ModelControlError::LoadFailed { .. } => Status::invalid_argument(err.to_string()),
    }
}

/// Loads (again) a configured model.
pub async fn load(
    reloader: &Reloader,
    request: RepositoryModelLoadRequest,
) -> Result<RepositoryModelLoadResponse, Status> {
    check(&request.parameters)?;
    reloader
        .load_model(&request.model_name)
        .await
        .map_err(control_status)?;
    Ok(RepositoryModelLoadResponse {})
}

/// Unloads every version of a configured model.
pub async fn unload(
    reloader: &Reloader,
    request: RepositoryModelUnloadRequest,
) -> Result<RepositoryModelUnloadResponse, Status> {
    check(&request.parameters)?;
    reloader
        .unload_model(&request.model_name)
        .await
        .map_err(control_status)?;
    Ok(RepositoryModelUnloadResponse {})
}
