//! Changing the served models while serving, from every trigger (each
//! model's changes run in order, models independently): start-up, the file-system poll (new version folders,
//! config.json edits), `POST /v1/config/reload`, TFS
//! `HandleReloadConfigRequest`, and the repository load/unload extension.

use std::collections::BTreeSet;
use std::sync::Arc;

use inferd_core::{LoadTiming, Manager, ServableState, VersionStatus};
use inferd_repository::{ConfigError, ServerModelsConfig};

use crate::config::ModelSource;
use crate::tfs::settings::ConfigFilePoll;

/// Why an explicit model load or unload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelControlError {
    /// The model is not in the configuration.
    #[error("Model {0} is not in the model configuration")]
    NotConfigured(String),
    /// A load's `config` parameter cannot be used (the message says why).
    #[error("{0}")]
    BadConfig(String),
    /// The model was applied, but no version of it is serving.
    #[error("Model {name} has no available version: {reason}")]
    LoadFailed {
        /// Model name.
        name: String,
        /// The backend's message, or why no version was found.
        reason: String,
    },
}

struct ReloadState {
    /// The configuration being served (the last good one).
    current: ServerModelsConfig,
    /// What the config file said when last read, to tell edits from gRPC changes.
    from_file: Option<ServerModelsConfig>,
    /// The last config-file error logged, to log each distinct error once.
    last_error: Option<String>,
    /// Models unloaded through the repository extension, until loaded again.
    unloaded: BTreeSet<String>,
    /// When the config file was last read by a poll (or at start).
    last_read: std::time::Instant,
}

impl ReloadState {
    /// `current` without the models unloaded on request.
    fn effective(&self) -> ServerModelsConfig {
        let mut config = self.current.clone();
        config
            .model_config_list
            .retain(|e| !self.unloaded.contains(&e.config.name));
        config
    }
}

/// Keeps the configuration being served, hands each change to the manager,
/// and reports whether it changed anything.
pub struct Reloader {
    manager: Arc<Manager>,
    source: ModelSource,
    config_file_poll: ConfigFilePoll,
    state: tokio::sync::Mutex<ReloadState>,
}

impl Reloader {
    /// A reloader for `source`, whose checked content at start-up is `initial`.
    pub fn new(manager: Arc<Manager>, source: ModelSource, initial: ServerModelsConfig) -> Self {
        Reloader {
            manager,
            source,
            config_file_poll: ConfigFilePoll::EveryPoll,
            state: tokio::sync::Mutex::new(ReloadState {
                from_file: Some(initial.clone()),
                current: initial,
                last_error: None,
                unloaded: BTreeSet::new(),
                last_read: std::time::Instant::now(),
            }),
        }
    }

    /// The settings `name` is served with, when the model list holds it.
    pub async fn model_config(&self, name: &str) -> Option<inferd_repository::ModelConfig> {
        let state = self.state.lock().await;
        state.current.models().find(|m| m.name == name).cloned()
    }

    /// Models left unloaded at start (Triton's explicit control mode: every
    /// model but the --load-model ones); loaded through the repository API.
    pub fn with_unloaded(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.state.get_mut().unloaded.extend(names);
        self
    }

    /// How often polls read the config file again (TF Serving's
    /// --model_config_file_poll_wait_seconds; every poll by default).
    pub fn with_config_file_poll(mut self, poll: ConfigFilePoll) -> Self {
        self.config_file_poll = poll;
        self
    }

    /// The manager changes are applied to.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    /// Loads the initial configuration; marks the manager ready.
    pub async fn start(&self) {
        let effective = self.state.lock().await.effective();
        self.manager.apply(&effective, LoadTiming::Now).await;
    }

    /// Re-reads the configured source and applies it; returns whether any
    /// model version changed state. An invalid source changes nothing.
    pub async fn reload(&self) -> Result<bool, ConfigError> {
        let mut state = self.state.lock().await;
        let models = self.source.load()?;
        state.from_file = Some(models.clone());
        state.current = models;
        state.unloaded.clear();
        Ok(self.settle(state, None).await)
    }

    /// Checks `models` (including version labels against the folders on
    /// disk) and applies it; returns whether any model version changed state.
    pub async fn apply(&self, models: &ServerModelsConfig) -> Result<bool, ConfigError> {
        let mut state = self.state.lock().await;
        models.check()?;
        models.check_labels_on_disk()?;
        state.current = models.clone();
        state.unloaded.clear();
        Ok(self.settle(state, None).await)
    }

    /// One file-system poll: adopts an edited config file (an invalid one is
    /// logged and ignored), then picks up added and removed version folders,
    /// loading new ones only once their files have settled. The changes run
    /// in the background, each model on its own: the poll never waits for a
    /// load, and a model still busy takes its change up when it is done.
    pub async fn poll(&self) {
        let mut state = self.state.lock().await;
        let read_file = match self.config_file_poll {
            ConfigFilePoll::EveryPoll => true,
            ConfigFilePoll::Never => false,
            ConfigFilePoll::Every(wait) => state.last_read.elapsed() >= wait,
        };
        if let Some(origin) = self.source.origin()
            && read_file
        {
            state.last_read = std::time::Instant::now();
            match self.source.reload(state.from_file.as_ref()) {
                Ok((models, refusals)) => {
                    let message = refusals
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    if !refusals.is_empty() && state.last_error.as_ref() != Some(&message) {
                        tracing::error!(
                            path = %origin,
                            "model configuration rejected, the model's last good configuration keeps serving: {message}"
                        );
                    }
                    state.last_error = (!refusals.is_empty()).then_some(message);
                    if state.from_file.as_ref() != Some(&models) {
                        tracing::info!(path = %origin, "configuration file changed");
                        state.from_file = Some(models.clone());
                        state.current = models;
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    if state.last_error.as_ref() != Some(&message) {
                        tracing::error!(
                            path = %origin,
                            "configuration file rejected, the last good configuration keeps serving: {message}"
                        );
                        state.last_error = Some(message);
                    }
                }
            }
        }
        drop(
            self.manager
                .submit(&state.effective(), LoadTiming::WhenSettled, None)
                .detach(),
        );
    }

    /// Loads (again) a configured model, e.g. after [`Reloader::unload_model`].
    pub async fn load_model(&self, name: &str) -> Result<(), ModelControlError> {
        self.load_model_with(name, None::<fn(&str) -> Result<_, String>>)
            .await
    }

    /// Like [`Reloader::load_model`], with the settings `replace` makes from
    /// the model's folder (Triton's load with a `config` parameter); they
    /// stay until the model list is read again with other settings.
    pub async fn load_model_with<F>(
        &self,
        name: &str,
        replace: Option<F>,
    ) -> Result<(), ModelControlError>
    where
        F: FnOnce(&str) -> Result<inferd_repository::ModelConfig, String>,
    {
        let mut state = self.state.lock().await;
        let Some(entry) = state
            .current
            .model_config_list
            .iter_mut()
            .find(|e| e.config.name == name)
        else {
            return Err(ModelControlError::NotConfigured(name.to_string()));
        };
        let previous = match replace {
            Some(replace) => {
                let settings =
                    replace(&entry.config.base_path).map_err(ModelControlError::BadConfig)?;
                Some(std::mem::replace(&mut entry.config, settings))
            }
            None => None,
        };
        state.unloaded.remove(name);
        self.settle(state, Some(name)).await;
        let statuses = self.manager.model_status(name).unwrap_or_default();
        let failure = statuses.iter().rev().find_map(|s| s.error.clone());
        let serving = statuses.iter().any(|s| s.state == ServableState::Available);
        // With new settings, a version that kept serving its old ones
        // (the reload failed) is a failed load too; the old settings return.
        let failed = !serving || (previous.is_some() && failure.is_some());
        if !failed {
            return Ok(());
        }
        if let Some(previous) = previous {
            let mut state = self.state.lock().await;
            if let Some(entry) = state
                .current
                .model_config_list
                .iter_mut()
                .find(|e| e.config.name == name)
            {
                entry.config = previous;
            }
            self.settle(state, Some(name)).await;
        }
        Err(ModelControlError::LoadFailed {
            name: name.to_string(),
            reason: failure.unwrap_or_else(|| "no version folder was found".to_string()),
        })
    }

    /// Unloads every version of a configured model (each after its in-flight
    /// requests) until it is loaded again or the configuration is reloaded.
    pub async fn unload_model(&self, name: &str) -> Result<(), ModelControlError> {
        let mut state = self.state.lock().await;
        if !state.current.models().any(|m| m.name == name) {
            return Err(ModelControlError::NotConfigured(name.to_string()));
        }
        state.unloaded.insert(name.to_string());
        self.settle(state, Some(name)).await;
        Ok(())
    }

    /// Submits the changes `state` calls for (to model `only`, or all), lets
    /// go of the configuration lock, and waits for them; returns whether any
    /// model version changed state. Other triggers may run meanwhile: each
    /// model applies the newest change submitted for it.
    async fn settle(
        &self,
        state: tokio::sync::MutexGuard<'_, ReloadState>,
        only: Option<&str>,
    ) -> bool {
        let before = self.snapshot();
        let submitted = self
            .manager
            .submit(&state.effective(), LoadTiming::Now, only);
        drop(state);
        submitted.settled().await;
        let changed = before != self.snapshot();
        if changed {
            tracing::info!("configuration applied; model versions changed");
        }
        changed
    }

    fn snapshot(&self) -> Vec<(String, Vec<VersionStatus>)> {
        self.manager
            .model_names()
            .into_iter()
            .filter_map(|name| self.manager.model_status(&name).map(|s| (name, s)))
            .collect()
    }
}
