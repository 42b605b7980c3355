//! Applying a new model list while serving, one change at a time, from any
//! frontend (`POST /v1/config/reload`, TFS `HandleReloadConfigRequest`).

use std::sync::Arc;

use inferd_core::{Manager, VersionStatus};
use inferd_repository::{ConfigError, ServerModelsConfig};

use crate::config::ModelSource;

/// Serialises configuration changes and reports whether they changed anything.
pub struct Reloader {
    manager: Arc<Manager>,
    source: ModelSource,
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader that re-reads `source` and applies it to `manager`.
    pub fn new(manager: Arc<Manager>, source: ModelSource) -> Self {
        Reloader {
            manager,
            source,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The manager changes are applied to.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    /// Re-reads the configured source and applies it; returns whether any
    /// model version changed state. An invalid source changes nothing.
    pub async fn reload(&self) -> Result<bool, ConfigError> {
        let _one_at_a_time = self.lock.lock().await;
        let models = self.source.load()?;
        Ok(self.apply_locked(&models).await)
    }

    /// Checks `models` (including version labels against the folders on
    /// disk) and applies it; returns whether any model version changed state.
    pub async fn apply(&self, models: &ServerModelsConfig) -> Result<bool, ConfigError> {
        let _one_at_a_time = self.lock.lock().await;
        models.check()?;
        models.check_labels_on_disk()?;
        Ok(self.apply_locked(models).await)
    }

    async fn apply_locked(&self, models: &ServerModelsConfig) -> bool {
        let before = self.snapshot();
        self.manager.apply(models).await;
        let changed = before != self.snapshot();
        tracing::info!(changed, "configuration applied");
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
