//! Triton's model repository extension over gRPC: `RepositoryIndex`,
//! `RepositoryModelLoad` and `RepositoryModelUnload`.

use std::collections::HashMap;

use tonic::Status;

use super::repository_index::{check_parameters, index};
use crate::proto::kserve::model_repository_parameter::ParameterChoice;
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
        ModelControlError::LoadFailed { .. } | ModelControlError::BadConfig(_) => {
            Status::invalid_argument(err.to_string())
        }
    }
}

/// Loads (again) a configured model, with the settings of a `config`
/// parameter (a string holding the model configuration as JSON) if given.
pub async fn load(
    reloader: &Reloader,
    request: RepositoryModelLoadRequest,
) -> Result<RepositoryModelLoadResponse, Status> {
    check(&request.parameters)?;
    let config = match request
        .parameters
        .get("config")
        .and_then(|p| p.parameter_choice.as_ref())
    {
        None => None,
        Some(ParameterChoice::StringParam(json)) => Some(json.clone()),
        Some(_) => {
            return Err(Status::invalid_argument(
                "parameter 'config' must be a string holding the model configuration as JSON",
            ));
        }
    };
    let name = request.model_name.clone();
    let replace = config
        .map(|json| move |base: &str| super::repository_index::config_override(&name, base, &json));
    reloader
        .load_model_with(&request.model_name, replace)
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
