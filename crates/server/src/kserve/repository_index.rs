//! Triton's model repository extension, the part REST and gRPC share: the
//! index of model versions with Triton's state names, and which load and
//! unload parameters are refused.

use inferd_core::{Manager, ServableState};

/// One entry of the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Model name.
    pub name: String,
    /// Version number; `None` for a model with no version at all.
    pub version: Option<String>,
    /// `READY`, `UNAVAILABLE`, `LOADING` or `UNLOADING`.
    pub state: &'static str,
    /// The version's error message, or empty.
    pub reason: String,
}

/// Triton's name for a version state.
pub fn state_name(state: ServableState) -> &'static str {
    match state {
        ServableState::Available => "READY",
        ServableState::Loading => "LOADING",
        ServableState::Unloading => "UNLOADING",
        ServableState::Start | ServableState::End => "UNAVAILABLE",
    }
}

/// Every version of every model known to `manager`, by model name then
/// ascending version; with `ready_only`, only the versions that are READY.
/// A model with no version is one entry without version, UNAVAILABLE.
pub fn index(manager: &Manager, ready_only: bool) -> Vec<IndexEntry> {
    let mut names = manager.model_names();
    names.sort();
    let mut entries = Vec::new();
    for name in names {
        let statuses = manager.model_status(&name).unwrap_or_default();
        // A storage that cannot be listed is the reason for every version
        // that has none of its own (loaded versions keep serving).
        let fault = manager.storage_fault(&name).unwrap_or_default();
        if statuses.is_empty() {
            if !ready_only {
                entries.push(IndexEntry {
                    name,
                    version: None,
                    state: state_name(ServableState::End),
                    reason: fault,
                });
            }
            continue;
        }
        for status in statuses {
            if ready_only && status.state != ServableState::Available {
                continue;
            }
            entries.push(IndexEntry {
                name: name.clone(),
                version: Some(status.version.to_string()),
                state: state_name(status.state),
                reason: status.error.unwrap_or_else(|| fault.clone()),
            });
        }
    }
    entries
}

/// Refuses the load/unload parameters this server cannot honour:
/// `file:<version>/<name>` (models come from the configured folders only).
/// Others, like `unload_dependents`, are accepted and ignored; `config` is
/// read by [`config_override`].
pub fn check_parameters<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    match names.into_iter().find(|n| n.starts_with("file:")) {
        Some(name) => Err(format!(
            "parameter '{name}' is not supported: models load from the configured model folders only"
        )),
        None => Ok(()),
    }
}

/// A load's `config` parameter (Triton's model configuration as JSON) as
/// the model's settings; `base_path` is the model's folder.
pub fn config_override(
    name: &str,
    base_path: &str,
    json: &str,
) -> Result<inferd_repository::ModelConfig, String> {
    let config = crate::proto::json::from_json("inference.ModelConfig", json)
        .map_err(|e| format!("parameter 'config' is not a model configuration: {e}"))?;
    crate::triton::config_pbtxt::settings(name, base_path, Some(config))
        .map_err(|e| format!("parameter 'config': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_triton_names() {
        assert_eq!(state_name(ServableState::Available), "READY");
        assert_eq!(state_name(ServableState::Loading), "LOADING");
        assert_eq!(state_name(ServableState::Unloading), "UNLOADING");
        assert_eq!(state_name(ServableState::Start), "UNAVAILABLE");
        assert_eq!(state_name(ServableState::End), "UNAVAILABLE");
    }

    #[test]
    fn file_parameters_are_refused() {
        assert!(check_parameters(["unload_dependents"]).is_ok());
        assert!(check_parameters([]).is_ok());
        assert!(check_parameters(["config"]).is_ok());
        let err = check_parameters(["file:1/model.onnx"]).unwrap_err();
        assert!(
            err.contains("'file:1/model.onnx' is not supported"),
            "{err}"
        );
    }
}
