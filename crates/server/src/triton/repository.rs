//! Triton model repositories (`--model-repository`, repeatable): every
//! folder of a repository is a model of that name, its numbered folders the
//! versions, its optional `config.pbtxt` the settings. Read again at each
//! poll in `poll` control mode.

use std::path::{Path, PathBuf};

use inferd_repository::{ConfigError, ModelConfigEntry, ServerModelsConfig};

use super::config_pbtxt;

/// The name of a model's configuration file.
pub const CONFIG_FILE: &str = "config.pbtxt";

/// How the repositories are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TritonRepositories {
    /// The repository folders, in order.
    pub paths: Vec<PathBuf>,
    /// `--strict-model-config`: every model needs its config.pbtxt.
    pub strict: bool,
}

fn refused(path: &Path, message: String) -> ConfigError {
    ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    }
}

/// The models of one repository folder, sorted by name.
fn models_in(repository: &Path, strict: bool) -> Result<Vec<ModelConfigEntry>, ConfigError> {
    let read = std::fs::read_dir(repository).map_err(|source| ConfigError::Read {
        path: repository.to_path_buf(),
        source,
    })?;
    let mut folders: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            (!name.starts_with('.')).then(|| (name, entry.path()))
        })
        .collect();
    folders.sort();
    let mut models = Vec::new();
    for (name, folder) in folders {
        let file = folder.join(CONFIG_FILE);
        let config = match std::fs::read_to_string(&file) {
            Ok(text) => Some(config_pbtxt::parse(&text).map_err(|e| refused(&file, e))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if strict {
                    return Err(refused(
                        &file,
                        format!("model '{name}' has no {CONFIG_FILE} (--strict-model-config=true)"),
                    ));
                }
                None
            }
            Err(source) => return Err(ConfigError::Read { path: file, source }),
        };
        let base = folder.to_string_lossy().into_owned();
        let config = config_pbtxt::settings(&name, &base, config)
            .map_err(|e| refused(&file, format!("model '{name}': {e}")))?;
        models.push(ModelConfigEntry { config });
    }
    Ok(models)
}

impl TritonRepositories {
    /// Reads every repository; a model name in two repositories is refused.
    pub fn load(&self) -> Result<ServerModelsConfig, ConfigError> {
        let mut all = ServerModelsConfig::default();
        for repository in &self.paths {
            for entry in models_in(repository, self.strict)? {
                if all.models().any(|m| m.name == entry.config.name) {
                    return Err(refused(
                        repository,
                        format!(
                            "model '{}' is in more than one model repository",
                            entry.config.name
                        ),
                    ));
                }
                all.model_config_list.push(entry);
            }
        }
        all.check()?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_models_and_config_pbtxt_their_settings() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("plain/1")).unwrap();
        std::fs::create_dir_all(repo.path().join("tuned/1")).unwrap();
        std::fs::create_dir_all(repo.path().join(".hidden")).unwrap();
        std::fs::write(
            repo.path().join("tuned/config.pbtxt"),
            "instance_group [ { count: 3 } ]",
        )
        .unwrap();
        let repositories = TritonRepositories {
            paths: vec![repo.path().to_path_buf()],
            strict: false,
        };
        let models = repositories.load().unwrap();
        let names: Vec<_> = models.models().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["plain", "tuned"]);
        assert_eq!(models.models().nth(1).unwrap().nireq, Some(3));

        let strict = TritonRepositories {
            strict: true,
            ..repositories.clone()
        };
        let e = strict.load().unwrap_err().to_string();
        assert!(e.contains("model 'plain' has no config.pbtxt"), "{e}");

        let twice = TritonRepositories {
            paths: vec![repo.path().to_path_buf(), repo.path().to_path_buf()],
            strict: false,
        };
        let e = twice.load().unwrap_err().to_string();
        assert!(e.contains("in more than one model repository"), "{e}");

        std::fs::write(repo.path().join("tuned/config.pbtxt"), "bogus: 1").unwrap();
        let e = repositories.load().unwrap_err().to_string();
        assert!(e.contains("bogus") && e.contains("config.pbtxt"), "{e}");
    }
}
