//! `--model_config_file` in TensorFlow Serving's own format: a text-format
//! `ModelServerConfig`. A file whose first character is `{` is OVMS's
//! config.json instead, read by the repository crate.

use std::path::Path;

use inferd_proto::text_format;
use inferd_repository::{ConfigError, ServerModelsConfig};

use super::grpc_reload::model_list;
use crate::proto::tensorflow::serving::ModelServerConfig;

/// Reads the models configuration file in either format. Relative base
/// paths resolve against config.json's folder (OVMS) or the working folder
/// (TF Serving, which hands them to the file system as they are).
pub fn load_models_file(path: &Path) -> Result<ServerModelsConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim_start().starts_with('{') {
        return ServerModelsConfig::load(path);
    }
    let refused = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let config: ModelServerConfig =
        text_format::parse("tensorflow.serving.ModelServerConfig", &text).map_err(|e| {
            refused(format!(
                "not JSON, and not a text-format ModelServerConfig: {e}"
            ))
        })?;
    let mut models = model_list(Some(config)).map_err(|e| refused(e.to_string()))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    for entry in &mut models.model_config_list {
        entry.config.resolve_base_path(&cwd);
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ServerModelsConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.config");
        std::fs::write(&path, text).unwrap();
        load_models_file(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_two_models_with_policies_and_labels() {
        let models = load(
            r#"
            # TF Serving's model list
            model_config_list {
              config {
                name: 'first'
                base_path: '/models/first'
                model_platform: 'tensorflow'
                model_version_policy { specific { versions: 1 versions: 2 } }
                version_labels { key: 'stable' value: 1 }
                version_labels { key: 'canary' value: 2 }
              }
              config: { name: "second", base_path: "relative/second", model_version_policy: { all: {} } }
            }
            "#,
        )
        .unwrap();
        let list: Vec<_> = models.models().collect();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "first");
        assert_eq!(
            list[0].version_policy(),
            inferd_repository::VersionPolicy::specific(vec![1, 2])
        );
        assert_eq!(list[0].version_labels.as_ref().unwrap()["canary"], 2);
        assert_eq!(
            list[1].version_policy(),
            inferd_repository::VersionPolicy::all()
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            Path::new(&list[1].base_path),
            cwd.join("relative/second").as_path()
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let e = load("model_config_list { config { name: 'a' base_pth: '/m' } }").unwrap_err();
        assert!(
            e.contains("base_pth") && e.contains("ModelServerConfig"),
            "{e}"
        );
        let e = load("").unwrap_err();
        assert!(e.contains("no model_config_list"), "{e}");
        let e = load("model_config_list { config { name: 'a' base_path: '/m' } config { name: 'a' base_path: '/n' } }")
            .unwrap_err();
        assert!(e.contains("\"a\""), "{e}");
    }

    #[test]
    fn json_files_are_ovms_config() {
        let models =
            load(r#"{"model_config_list": [{"config": {"name": "j", "base_path": "/m"}}]}"#)
                .unwrap();
        assert_eq!(models.models().next().unwrap().name, "j");
    }
}
