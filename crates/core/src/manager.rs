//! The manager: owns every model's versions, loads what the configuration
//! aspires to, unloads the rest, and hands out servable handles.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use inferd_backend::{Backends, ModelFiles};
use inferd_repository::{ModelConfig, ServerModelsConfig, list_files, list_versions};

use crate::{
    CoreError, SchedulerOptions, Servable, ServableState, VersionRequest, VersionStatus,
    model_options,
};

struct VersionEntry {
    status: VersionStatus,
    servable: Option<Arc<Servable>>,
}

struct ModelEntry {
    config: ModelConfig,
    versions: BTreeMap<u64, VersionEntry>,
}

/// Server-wide settings the manager applies to every model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerOptions {
    /// `--cache_dir`: compiled-model cache for engines that have one.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Owns the loaded servables of every model.
pub struct Manager {
    backends: Backends,
    options: ManagerOptions,
    models: RwLock<BTreeMap<String, ModelEntry>>,
    ready: AtomicBool,
}

impl Manager {
    /// A manager that loads models with `backends`.
    pub fn new(backends: Backends) -> Self {
        Manager::with_options(backends, ManagerOptions::default())
    }

    /// A manager with server-wide settings.
    pub fn with_options(backends: Backends, options: ManagerOptions) -> Self {
        Manager {
            backends,
            options,
            models: RwLock::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, ModelEntry>> {
        self.models.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, ModelEntry>> {
        self.models.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the initial configuration has been applied.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Brings the loaded versions in line with `config`: loads every aspired
    /// version first, then unloads versions and models no longer aspired.
    /// A model that fails affects no other. Marks the manager ready.
    pub async fn apply(self: &Arc<Self>, config: &ServerModelsConfig) {
        let mut loads = tokio::task::JoinSet::new();
        for model in config.models() {
            let aspired = self.aspired_versions(model);
            let stale = self.register(model, &aspired);
            for version in aspired.into_iter().filter(|v| stale.contains(v)) {
                let manager = self.clone();
                let model = model.clone();
                loads.spawn_blocking(move || manager.load_version(&model, version));
            }
        }
        while loads.join_next().await.is_some() {}
        self.unload_unaspired(config);
        self.ready.store(true, Ordering::Release);
    }

    /// Versions the policy selects among those on disk (none if the folder is unreadable).
    fn aspired_versions(&self, model: &ModelConfig) -> Vec<u64> {
        match list_versions(Path::new(&model.base_path)) {
            Ok(found) => model.version_policy().select(&found),
            Err(e) => {
                tracing::error!(model = %model.name, error = %e, "cannot list model versions");
                Vec::new()
            }
        }
    }

    /// Records the model's config and aspired versions; returns the versions
    /// that need (re)loading: new ones, failed ones, and all if the config changed.
    fn register(&self, model: &ModelConfig, aspired: &[u64]) -> Vec<u64> {
        let mut models = self.write();
        let entry = models
            .entry(model.name.clone())
            .or_insert_with(|| ModelEntry {
                config: model.clone(),
                versions: BTreeMap::new(),
            });
        let changed = entry.config.needs_reload_for(model);
        entry.config = model.clone();
        let mut stale = Vec::new();
        for &version in aspired {
            let slot = entry
                .versions
                .entry(version)
                .or_insert_with(|| VersionEntry {
                    status: VersionStatus {
                        version,
                        state: ServableState::Start,
                        error: None,
                    },
                    servable: None,
                });
            if changed || slot.servable.is_none() {
                stale.push(version);
            }
        }
        stale
    }

    fn set_status(
        &self,
        name: &str,
        version: u64,
        state: ServableState,
        error: Option<String>,
        servable: Option<Arc<Servable>>,
    ) {
        let mut models = self.write();
        let Some(slot) = models
            .get_mut(name)
            .and_then(|m| m.versions.get_mut(&version))
        else {
            return;
        };
        slot.status = VersionStatus {
            version,
            state,
            error,
        };
        if servable.is_some() || state != ServableState::Available {
            slot.servable = servable;
        }
    }

    /// Loads one version on the calling (blocking) thread and publishes the outcome.
    fn load_version(&self, model: &ModelConfig, version: u64) {
        let name = model.name.as_str();
        let keep_serving = self
            .read()
            .get(name)
            .and_then(|m| m.versions.get(&version))
            .and_then(|v| v.servable.clone());
        if keep_serving.is_none() {
            self.set_status(name, version, ServableState::Loading, None, None);
        }
        tracing::info!(model = name, version, "LOADING");
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.build_servable(model, version)
        }))
        .unwrap_or_else(|_| Err("the backend panicked while loading the model".to_string()));
        match built {
            Ok(servable) => {
                let platform = servable.platform();
                self.set_status(
                    name,
                    version,
                    ServableState::Available,
                    None,
                    Some(Arc::new(servable)),
                );
                tracing::info!(model = name, version, backend = platform, "AVAILABLE");
            }
            Err(message) => {
                tracing::error!(model = name, version, error = %message, "load failed");
                match keep_serving {
                    // A reload failed: the version keeps serving what it had.
                    Some(old) => self.set_status(
                        name,
                        version,
                        ServableState::Available,
                        Some(message),
                        Some(old),
                    ),
                    None => {
                        self.set_status(name, version, ServableState::Loading, Some(message), None)
                    }
                }
            }
        }
    }

    fn build_servable(&self, model: &ModelConfig, version: u64) -> Result<Servable, String> {
        let dir = Path::new(&model.base_path).join(version.to_string());
        let files = list_files(&dir).map_err(|e| e.to_string())?;
        let files = ModelFiles { dir, files };
        let mut options = model_options(model);
        options.cache_dir.clone_from(&self.options.cache_dir);
        let (backend, loaded) = self
            .backends
            .load(&files, model.backend.as_deref(), &options)
            .map_err(|e| e.to_string())?;
        // Without an explicit nireq, run as many at once as the engine says it can.
        let nireq = model
            .nireq
            .filter(|n| *n > 0)
            .or_else(|| loaded.max_concurrency().map(|n| n as u32));
        Ok(Servable::new(
            &model.name,
            version,
            backend.platform(),
            loaded,
            SchedulerOptions::with_nireq(nireq),
        ))
    }

    /// Unloads versions the config no longer aspires to, and models it no longer lists.
    fn unload_unaspired(&self, config: &ServerModelsConfig) {
        let aspired: BTreeMap<&str, Vec<u64>> = config
            .models()
            .map(|m| (m.name.as_str(), self.aspired_versions(m)))
            .collect();
        let mut released = Vec::new();
        {
            let mut models = self.write();
            for (name, entry) in models.iter_mut() {
                let keep = aspired.get(name.as_str());
                for (version, slot) in entry.versions.iter_mut() {
                    if keep.is_some_and(|k| k.contains(version))
                        || slot.status.state == ServableState::End
                    {
                        continue;
                    }
                    tracing::info!(model = %name, version, "UNLOADING");
                    released.extend(slot.servable.take());
                    slot.status = VersionStatus {
                        version: *version,
                        state: ServableState::End,
                        error: None,
                    };
                    tracing::info!(model = %name, version, "END");
                }
            }
        }
        // In-flight requests hold their own handles; memory is freed when the last one ends.
        drop(released);
    }

    /// A handle to the version that serves `request` for model `name`.
    pub fn handle(&self, name: &str, request: VersionRequest) -> Result<Arc<Servable>, CoreError> {
        let models = self.read();
        let model = models.get(name).ok_or(CoreError::ModelNotFound)?;
        let live = |e: &VersionEntry| e.status.state != ServableState::End;
        let wanted = match request {
            VersionRequest::Latest => None,
            VersionRequest::Specific(version) => Some(version),
            VersionRequest::Label(label) => Some(label_of(model, &label)?),
        };
        match wanted {
            None => {
                if !model.versions.values().any(live) {
                    return Err(CoreError::VersionNotFound);
                }
                model
                    .versions
                    .values()
                    .rev()
                    .find_map(|v| v.servable.clone())
                    .ok_or(CoreError::VersionNotLoaded)
            }
            Some(version) => {
                let slot = model
                    .versions
                    .get(&version)
                    .filter(|v| live(v))
                    .ok_or(CoreError::VersionNotFound)?;
                slot.servable.clone().ok_or(CoreError::VersionNotLoaded)
            }
        }
    }

    /// The version that `label` names in model `name`'s config.
    pub fn label_version(&self, name: &str, label: &str) -> Result<u64, CoreError> {
        let models = self.read();
        let model = models.get(name).ok_or(CoreError::ModelNotFound)?;
        label_of(model, label)
    }

    /// Status of every version of model `name`, ascending; `None` for an unknown model.
    pub fn model_status(&self, name: &str) -> Option<Vec<VersionStatus>> {
        self.read()
            .get(name)
            .map(|m| m.versions.values().map(|v| v.status.clone()).collect())
    }

    /// Versions of model `name` that are serving, as strings, ascending.
    pub fn available_versions(&self, name: &str) -> Vec<String> {
        self.read()
            .get(name)
            .map(|m| {
                m.versions
                    .values()
                    .filter(|v| v.servable.is_some())
                    .map(|v| v.status.version.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names of every model the manager knows, sorted.
    pub fn model_names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
}

fn label_of(model: &ModelEntry, label: &str) -> Result<u64, CoreError> {
    model
        .config
        .version_labels
        .as_ref()
        .and_then(|labels| labels.get(label))
        .copied()
        .ok_or_else(|| CoreError::LabelNotFound(label.to_string()))
}

#[cfg(test)]
mod tests;
