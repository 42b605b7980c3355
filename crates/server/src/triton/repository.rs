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
    /// `--exit-on-error`: a configuration that cannot be read fails the
    /// whole read; false leaves that model out (logged).
    pub exit_on_error: bool,
}

fn refused(path: &Path, message: String) -> ConfigError {
    ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    }
}

/// The model folders of one repository, sorted by name.
fn model_folders(repository: &Path) -> Result<Vec<(String, PathBuf)>, ConfigError> {
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
    Ok(folders)
}

/// The settings of the model `name` in `folder`.
fn model_in(name: &str, folder: &Path, strict: bool) -> Result<ModelConfigEntry, ConfigError> {
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
    let config = config_pbtxt::settings(name, &base, config)
        .map_err(|e| refused(&file, format!("model '{name}': {e}")))?;
    Ok(ModelConfigEntry { config })
}

impl TritonRepositories {
    /// Reads every repository; a model name in two repositories is
    /// refused, and so is any model's configuration that cannot be read
    /// (without `exit_on_error`: that model is left out, logged).
    pub fn load(&self) -> Result<ServerModelsConfig, ConfigError> {
        let (models, mut refusals) = self.read(None)?;
        if self.exit_on_error && !refusals.is_empty() {
            return Err(refusals.swap_remove(0));
        }
        for refusal in refusals {
            tracing::error!(%refusal, "model left out (--exit-on-error=false)");
        }
        Ok(models)
    }

    /// Reads every repository again, as a poll does: a model whose
    /// configuration is now refused keeps its entry of `previous` (Triton
    /// keeps a loaded model whose reload fails), a new one is left out;
    /// the other models take their changes. Returns the refusals too.
    pub fn reload(
        &self,
        previous: &ServerModelsConfig,
    ) -> Result<(ServerModelsConfig, Vec<ConfigError>), ConfigError> {
        self.read(Some(previous))
    }

    fn read(
        &self,
        previous: Option<&ServerModelsConfig>,
    ) -> Result<(ServerModelsConfig, Vec<ConfigError>), ConfigError> {
        let mut all = ServerModelsConfig::default();
        let mut refusals = Vec::new();
        for repository in &self.paths {
            for (name, folder) in model_folders(repository)? {
                if all.models().any(|m| m.name == name) {
                    return Err(refused(
                        repository,
                        format!("model '{name}' is in more than one model repository"),
                    ));
                }
                match model_in(&name, &folder, self.strict) {
                    Ok(entry) => all.model_config_list.push(entry),
                    Err(refusal) => {
                        let kept = previous.and_then(|p| {
                            p.model_config_list.iter().find(|e| e.config.name == name)
                        });
                        all.model_config_list.extend(kept.cloned());
                        refusals.push(refusal);
                    }
                }
            }
        }
        all.check()?;
        Ok((all, refusals))
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
            exit_on_error: true,
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
            ..repositories.clone()
        };
        let e = twice.load().unwrap_err().to_string();
        assert!(e.contains("in more than one model repository"), "{e}");

        let good = repositories.load().unwrap();
        std::fs::write(repo.path().join("tuned/config.pbtxt"), "bogus: 1").unwrap();
        let e = repositories.load().unwrap_err().to_string();
        assert!(e.contains("bogus") && e.contains("config.pbtxt"), "{e}");
        let lenient = TritonRepositories {
            exit_on_error: false,
            ..repositories.clone()
        };
        let names: Vec<_> = lenient
            .load()
            .unwrap()
            .models()
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(names, ["plain"]);

        // A poll keeps the refused model's last good entry; the others change.
        std::fs::create_dir_all(repo.path().join("late/1")).unwrap();
        std::fs::create_dir_all(repo.path().join("broken/1")).unwrap();
        std::fs::write(repo.path().join("broken/config.pbtxt"), "bogus: 2").unwrap();
        let (polled, refusals) = repositories.reload(&good).unwrap();
        let names: Vec<_> = polled.models().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["late", "plain", "tuned"]);
        assert_eq!(polled.models().nth(2).unwrap().nireq, Some(3));
        assert_eq!(refusals.len(), 2);
        assert!(
            refusals[0].to_string().contains("broken"),
            "{}",
            refusals[0]
        );
    }
}
