//! A TensorFlow Serving `ModelServerConfig` (HandleReloadConfigRequest) in
//! the repository's terms: the same settings as config.json's `name`,
//! `base_path`, `model_version_policy` and `version_labels`.

use std::collections::BTreeMap;

use inferd_repository::{ModelConfigEntry, ServerModelsConfig, VersionPolicy};
use tonic::Status;

use crate::proto::tensorflow::serving::file_system_storage_path_source_config as source_config;
use crate::proto::tensorflow::serving::model_server_config::Config;
use crate::proto::tensorflow::serving::{ModelConfig, ModelServerConfig};
use source_config::servable_version_policy::PolicyChoice;

/// How a refused model list begins its message (as `POST /v1/config/reload`).
pub const RELOAD_FAILED: &str = "Config reload failed, the previous configuration is kept";

fn policy_of(choice: PolicyChoice) -> Result<VersionPolicy, String> {
    Ok(match choice {
        // proto3 cannot tell 0 from unset; TensorFlow Serving's default is 1.
        PolicyChoice::Latest(latest) => VersionPolicy::latest(latest.num_versions.max(1)),
        PolicyChoice::All(_) => VersionPolicy::all(),
        PolicyChoice::Specific(specific) => VersionPolicy::specific_signed(&specific.versions)?,
    })
}

/// One model of the list in the repository's terms. `model_platform` and
/// `model_type` are ignored: the engine is chosen by the model's files.
fn model_config(model: ModelConfig) -> Result<inferd_repository::ModelConfig, String> {
    let name = model.name;
    if !model.model_platform.is_empty() {
        let platform = model.model_platform;
        tracing::debug!(model = %name, %platform, "model_platform ignored");
    }
    let policy = model
        .model_version_policy
        .and_then(|p| p.policy_choice)
        .map(policy_of)
        .transpose()
        .map_err(|e| format!("model {name:?}: {e}"))?;
    let labels = model
        .version_labels
        .into_iter()
        .map(|(label, v)| match u64::try_from(v) {
            Ok(v) => Ok((label, v)),
            Err(_) => Err(format!(
                "model {name:?}: version label {label:?} points at {v}"
            )),
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let mut config = inferd_repository::ModelConfig::new(name, model.base_path);
    config.model_version_policy = policy;
    config.version_labels = (!labels.is_empty()).then_some(labels);
    Ok(config)
}

/// Why a `ModelServerConfig` gives no model list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelListError {
    /// Neither `model_config_list` nor anything else is set.
    #[error("no model_config_list")]
    Missing,
    /// `custom_model_config` instead of a list.
    #[error("custom_model_config is not supported; send a model_config_list")]
    Custom,
    /// A model's settings are out of range or the list does not check.
    #[error("{0}")]
    Invalid(String),
}

/// A `ModelServerConfig` (reload request or --model_config_file) in the
/// repository's terms, checked; base paths as given.
pub fn model_list(config: Option<ModelServerConfig>) -> Result<ServerModelsConfig, ModelListError> {
    let list = match config.and_then(|c| c.config) {
        Some(Config::ModelConfigList(list)) => list,
        Some(Config::CustomModelConfig(_)) => return Err(ModelListError::Custom),
        None => return Err(ModelListError::Missing),
    };
    let mut models = ServerModelsConfig::default();
    for model in list.config {
        let config = model_config(model).map_err(ModelListError::Invalid)?;
        models.model_config_list.push(ModelConfigEntry { config });
    }
    models
        .check()
        .map_err(|e| ModelListError::Invalid(e.to_string()))?;
    Ok(models)
}

/// The model list of a reload request; INVALID_ARGUMENT when there is none
/// or a model's settings are out of range.
pub fn server_models(config: Option<ModelServerConfig>) -> Result<ServerModelsConfig, Status> {
    model_list(config).map_err(|e| match e {
        ModelListError::Missing => {
            Status::invalid_argument("ReloadConfigRequest has no model_config_list")
        }
        ModelListError::Custom => Status::invalid_argument(e.to_string()),
        ModelListError::Invalid(message) => {
            Status::invalid_argument(format!("{RELOAD_FAILED}: {message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorflow::serving::ModelConfigList;
    use source_config::ServableVersionPolicy;
    use source_config::servable_version_policy::{Latest, Specific};

    fn model(name: &str) -> ModelConfig {
        ModelConfig {
            name: name.into(),
            base_path: format!("/models/{name}"),
            model_platform: "tensorflow".into(),
            ..Default::default()
        }
    }

    fn list(models: Vec<ModelConfig>) -> Option<ModelServerConfig> {
        Some(ModelServerConfig {
            config: Some(Config::ModelConfigList(ModelConfigList { config: models })),
        })
    }

    #[test]
    fn model_lists_convert_with_policies_and_labels() {
        let mut a = model("a");
        a.model_version_policy = Some(ServableVersionPolicy {
            policy_choice: Some(PolicyChoice::Specific(Specific {
                versions: vec![1, 3],
            })),
        });
        a.version_labels = BTreeMap::from([("stable".to_string(), 1)]);
        let mut b = model("b");
        b.model_version_policy = Some(ServableVersionPolicy {
            policy_choice: Some(PolicyChoice::Latest(Latest { num_versions: 0 })),
        });
        let models = server_models(list(vec![a, b])).unwrap();
        let converted: Vec<_> = models.models().collect();
        assert_eq!(converted[0].base_path, "/models/a");
        assert_eq!(
            converted[0].version_policy(),
            VersionPolicy::specific(vec![1, 3])
        );
        assert_eq!(
            converted[0].version_labels,
            Some(BTreeMap::from([("stable".into(), 1)]))
        );
        assert_eq!(converted[1].version_policy(), VersionPolicy::latest(1));
        assert_eq!(converted[1].version_labels, None);
        assert!(
            server_models(list(vec![]))
                .unwrap()
                .model_config_list
                .is_empty()
        );
    }

    #[test]
    fn bad_lists_are_invalid_arguments() {
        let mut negative = model("a");
        negative.version_labels = BTreeMap::from([("x".to_string(), -1)]);
        let unnamed = model("");
        for config in [
            None,
            Some(ModelServerConfig::default()),
            list(vec![negative]),
            list(vec![unnamed]),
        ] {
            let err = server_models(config).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        }
    }
}
