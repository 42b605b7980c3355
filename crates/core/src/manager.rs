//! The manager: owns every model's versions, loads what the configuration
//! aspires to, unloads the rest, and hands out servable handles.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use inferd_backend::{Backends, Loaded, ModelFiles};
use inferd_repository::{
    FolderSnapshot, ModelConfig, ServerModelsConfig, list_files, list_versions,
};

use crate::release::release;
use crate::telemetry::{Api, Interface, Method, StatsSnapshot, Telemetry, VersionTelemetry};
use crate::{
    CoreError, SchedulerOptions, Servable, ServableState, VersionRequest, VersionStatus,
    model_options,
};

struct VersionEntry {
    status: VersionStatus,
    servable: Option<Arc<Servable>>,
    /// Files at the last load attempt: a failed version is retried only once they change.
    attempted: Option<FolderSnapshot>,
    /// Files at the previous poll, for a version waiting for its folder to settle.
    seen: Option<FolderSnapshot>,
    /// Statistics and metrics, kept across reloads of the version.
    telemetry: Arc<VersionTelemetry>,
}

/// When [`Manager::apply`] loads a version folder it has not loaded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTiming {
    /// At once (start-up, explicit reloads).
    Now,
    /// Only once two calls a poll apart saw the same files, so that a folder
    /// still being copied is never loaded half-written.
    WhenSettled,
}

/// How often a retired version checks whether its last request has finished.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(5);

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
    telemetry: Arc<Telemetry>,
}

/// Statistics of one serving model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatistics {
    /// Model name.
    pub name: String,
    /// Version number.
    pub version: u64,
    /// The figures.
    pub stats: StatsSnapshot,
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
            telemetry: Arc::new(Telemetry::disabled()),
        }
    }

    /// Reports statistics and metrics through `telemetry` (by default,
    /// statistics only).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The server's telemetry.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
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
    /// version first, then retires versions and models no longer aspired
    /// (each is released after its last in-flight request). While no aspired
    /// version of a model serves, the versions already serving keep serving.
    /// A model that fails affects no other. Marks the manager ready.
    pub async fn apply(self: &Arc<Self>, config: &ServerModelsConfig, timing: LoadTiming) {
        let mut loads = tokio::task::JoinSet::new();
        let mut aspired = BTreeMap::new();
        for model in config.models() {
            let versions = self.aspired_versions(model);
            for version in self.register(model, &versions, timing) {
                let manager = self.clone();
                let model = model.clone();
                loads.spawn_blocking(move || manager.load_version(&model, version));
            }
            aspired.insert(model.name.clone(), versions);
        }
        while loads.join_next().await.is_some() {}
        self.retire_unaspired(&aspired);
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
    /// to load now: all if the load settings changed, else those not serving
    /// whose files allow it (see [`LoadTiming`]; a failed load is retried only
    /// on new files).
    fn register(&self, model: &ModelConfig, aspired: &[u64], timing: LoadTiming) -> Vec<u64> {
        let mut models = self.write();
        let entry = models
            .entry(model.name.clone())
            .or_insert_with(|| ModelEntry {
                config: model.clone(),
                versions: BTreeMap::new(),
            });
        let changed = entry.config.needs_reload_for(model);
        entry.config = model.clone();
        let mut to_load = Vec::new();
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
                    attempted: None,
                    seen: None,
                    telemetry: self.telemetry.for_version(&model.name, version),
                });
            let serving = slot.servable.is_some();
            if serving && !changed && slot.status.error.is_none() {
                continue;
            }
            let files =
                FolderSnapshot::take(&Path::new(&model.base_path).join(version.to_string())).ok();
            if !changed {
                let failed_on_these_files =
                    slot.status.error.is_some() && files.is_some() && slot.attempted == files;
                if failed_on_these_files {
                    continue;
                }
                if timing == LoadTiming::WhenSettled && !serving && slot.seen != files {
                    slot.seen = files;
                    continue;
                }
            }
            slot.attempted = files;
            slot.seen = None;
            to_load.push(version);
        }
        to_load
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
        let (keep_serving, telemetry) = self
            .read()
            .get(name)
            .and_then(|m| m.versions.get(&version))
            .map(|v| (v.servable.clone(), v.telemetry.clone()))
            .unwrap_or_else(|| (None, self.telemetry.for_version(name, version)));
        if keep_serving.is_none() {
            self.set_status(name, version, ServableState::Loading, None, None);
        }
        tracing::info!(model = name, version, "LOADING");
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.build_servable(model, version, telemetry)
        }))
        .unwrap_or_else(|_| Err("the backend panicked while loading the model".to_string()));
        match built {
            Ok((servable, engine)) => {
                self.set_status(
                    name,
                    version,
                    ServableState::Available,
                    None,
                    Some(Arc::new(servable)),
                );
                tracing::info!(model = name, version, backend = %engine, "AVAILABLE");
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

    fn build_servable(
        &self,
        model: &ModelConfig,
        version: u64,
        telemetry: Arc<VersionTelemetry>,
    ) -> Result<(Servable, String), String> {
        let dir = Path::new(&model.base_path).join(version.to_string());
        let files = list_files(&dir).map_err(|e| e.to_string())?;
        let files = ModelFiles { dir, files };
        let mut options = model_options(model);
        options.cache_dir.clone_from(&self.options.cache_dir);
        let Loaded {
            engine: backend,
            model: loaded,
            choice,
        } = self
            .backends
            .load(&files, model.backend.as_deref(), &options)
            .map_err(|e| e.to_string())?;
        // Without an explicit nireq, run as many at once as the engine says it can.
        let nireq = model
            .nireq
            .filter(|n| *n > 0)
            .or_else(|| loaded.max_concurrency().map(|n| n as u32));
        let servable = Servable::new(
            &model.name,
            version,
            backend.platform(),
            loaded,
            SchedulerOptions::with_nireq(nireq),
            telemetry,
        );
        Ok((servable, format!("{}: {choice}", backend.name())))
    }

    /// Retires versions no longer aspired to, and models no longer listed;
    /// keeps serving versions while none of the model's aspired ones serves.
    fn retire_unaspired(self: &Arc<Self>, aspired: &BTreeMap<String, Vec<u64>>) {
        let mut draining = Vec::new();
        let mut released = Vec::new();
        {
            let mut models = self.write();
            for (name, entry) in models.iter_mut() {
                let keep = aspired.get(name).map_or(&[][..], Vec::as_slice);
                let aspired_serving = keep.iter().any(|v| {
                    entry
                        .versions
                        .get(v)
                        .is_some_and(|slot| slot.servable.is_some())
                });
                let hold_serving = !keep.is_empty() && !aspired_serving;
                for (version, slot) in entry.versions.iter_mut() {
                    let retired = matches!(
                        slot.status.state,
                        ServableState::End | ServableState::Unloading
                    );
                    if keep.contains(version)
                        || retired
                        || (hold_serving && slot.servable.is_some())
                    {
                        continue;
                    }
                    tracing::info!(model = %name, version, "UNLOADING");
                    // With the slot emptied, only in-flight requests can hold handles.
                    let servable = slot.servable.take();
                    let state = match servable {
                        Some(busy) if Arc::strong_count(&busy) > 1 => {
                            draining.push((name.clone(), *version, busy));
                            ServableState::Unloading
                        }
                        idle => {
                            tracing::info!(model = %name, version, "END");
                            released.extend(idle);
                            ServableState::End
                        }
                    };
                    slot.status = VersionStatus {
                        version: *version,
                        state,
                        error: None,
                    };
                }
            }
        }
        if !released.is_empty() {
            // Freeing a model can take a while: keep it off the async threads.
            tokio::task::spawn_blocking(move || release(released));
        }
        for (name, version, servable) in draining {
            self.drain(name, version, servable);
        }
    }

    /// Releases a retired version once its last in-flight request has
    /// finished (requests hold their own handles), then marks it END.
    fn drain(self: &Arc<Self>, name: String, version: u64, servable: Arc<Servable>) {
        let manager = self.clone();
        tokio::spawn(async move {
            while Arc::strong_count(&servable) > 1 {
                tokio::time::sleep(DRAIN_POLL).await;
            }
            // Freeing a model can take a while: keep it off the async threads.
            let _ = tokio::task::spawn_blocking(move || release(vec![servable])).await;
            manager.finish_unload(&name, version);
        });
    }

    fn finish_unload(&self, name: &str, version: u64) {
        let mut models = self.write();
        let Some(slot) = models
            .get_mut(name)
            .and_then(|m| m.versions.get_mut(&version))
        else {
            return;
        };
        // A version aspired again while draining is loading anew: leave it be.
        if slot.status.state == ServableState::Unloading {
            slot.status.state = ServableState::End;
            tracing::info!(model = name, version, "END");
        }
    }

    /// A handle to the version that serves `request` for model `name`.
    pub fn handle(&self, name: &str, request: VersionRequest) -> Result<Arc<Servable>, CoreError> {
        let models = self.read();
        let model = models.get(name).ok_or(CoreError::ModelNotFound)?;
        let live = |e: &VersionEntry| {
            !matches!(
                e.status.state,
                ServableState::End | ServableState::Unloading
            )
        };
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

    /// Statistics of the serving versions: of every model (`name` `None`),
    /// of one model, or of one version of it (which must be serving).
    pub fn statistics(
        &self,
        name: Option<&str>,
        version: Option<u64>,
    ) -> Result<Vec<VersionStatistics>, CoreError> {
        if let (Some(name), Some(version)) = (name, version) {
            let servable = self.handle(name, VersionRequest::Specific(version))?;
            return Ok(vec![VersionStatistics {
                name: name.to_string(),
                version,
                stats: servable.stats(),
            }]);
        }
        let models = self.read();
        let selected: Vec<(&String, &ModelEntry)> = match name {
            Some(name) => {
                let (key, entry) = models.get_key_value(name).ok_or(CoreError::ModelNotFound)?;
                vec![(key, entry)]
            }
            None => models.iter().collect(),
        };
        Ok(selected
            .into_iter()
            .flat_map(|(name, entry)| {
                entry
                    .versions
                    .iter()
                    .filter(|(_, v)| v.servable.is_some())
                    .map(|(&version, v)| VersionStatistics {
                        name: name.clone(),
                        version,
                        stats: v.telemetry.stats().snapshot(),
                    })
            })
            .collect())
    }

    /// Counts a metadata, readiness or status request to model `name` in
    /// the metrics, if the server knows that model (so that requests for
    /// made-up names cannot grow the metric set).
    pub fn count_request(
        &self,
        api: Api,
        interface: Interface,
        method: Method,
        name: &str,
        version: Option<u64>,
        ok: bool,
    ) {
        if self.telemetry.metrics().is_some() && self.knows(name) {
            self.telemetry
                .count(api, interface, method, name, version, ok);
        }
    }

    /// Whether model `name` is configured (whatever its versions' states).
    pub fn knows(&self, name: &str) -> bool {
        self.read().contains_key(name)
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
