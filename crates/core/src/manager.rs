//! The manager: owns every model's versions, loads what the configuration
//! aspires to, unloads the rest, and hands out servable handles.

mod batching;
mod expected;
mod mechanism;
mod model_file;
mod pipelines;
mod policy;
mod storage_fault;
mod warmup;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use inferd_backend::Backends;
use inferd_repository::{Fingerprint, ModelConfig};
use tokio::sync::Semaphore;

use crate::telemetry::{Api, Interface, Method, StatsSnapshot, Telemetry, VersionTelemetry};
use crate::{CoreError, Servable, ServableState, VersionRequest, VersionStatus};

pub use batching::{BatchingFileParser, PER_MODEL_BATCHING_FILE};
use mechanism::Control;
pub use mechanism::{Detached, Submitted};
use storage_fault::StorageFault;

struct VersionEntry {
    status: VersionStatus,
    servable: Option<Arc<Servable>>,
    /// Files at the last load attempt: a failed version is retried only once they change.
    attempted: Option<Fingerprint>,
    /// Files at the previous poll, for a version waiting for its files to settle.
    seen: Option<Fingerprint>,
    /// Statistics and metrics, kept across reloads of the version.
    telemetry: Arc<VersionTelemetry>,
}

/// When [`Manager::submit`] loads a version it has not loaded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTiming {
    /// At once (start-up, explicit reloads).
    Now,
    /// Only once two calls a poll apart saw the same files, so that a folder
    /// still being copied is never loaded half-written.
    WhenSettled,
}

struct ModelEntry {
    config: ModelConfig,
    versions: BTreeMap<u64, VersionEntry>,
    /// Why the model's storage could not be listed at the last try, if it
    /// could not; polls back off while it lasts.
    storage_fault: Option<StorageFault>,
}

/// Server-wide settings the manager applies to every model.
#[derive(Debug, Clone, Default)]
pub struct ManagerOptions {
    /// `--cache_dir`: compiled-model cache for engines that have one.
    pub cache_dir: Option<std::path::PathBuf>,
    /// `--num_load_threads`: version loads that may run at once, over all
    /// models; 0 means the default, the number of cores but at least 2.
    pub num_load_threads: usize,
    /// `--enable_batching`: batching for every model whose config has no
    /// `dynamic_batching` of its own.
    pub batching: Option<inferd_repository::DynamicBatching>,
    /// `--enable_per_model_batching_parameters`: a `batching_params.pbtxt`
    /// in a version's folder (or the model's) is read with this parser and
    /// wins over `batching`.
    pub batching_file: Option<BatchingFileParser>,
    /// Engine settings every model gets unless its plugin_config sets them
    /// (TF Serving's --tensorflow_intra_op_parallelism: INFERENCE_NUM_THREADS).
    pub default_plugin_config: std::collections::BTreeMap<String, String>,
    /// Warm-up requests read from a version's folder (TF Serving's
    /// assets.extra/tf_serving_warmup_requests), run before the version
    /// becomes AVAILABLE; `None`: no warm-up.
    pub warmup: Option<WarmupReader>,
    /// How many times each warm-up request runs (at least once).
    pub warmup_iterations: u32,
}

/// Reads a version folder's warm-up requests (none when it has no file).
pub type WarmupReader = fn(&std::path::Path) -> Result<Vec<WarmupRequest>, String>;

/// One warm-up request read from a version's folder.
#[derive(Debug, Clone)]
pub struct WarmupRequest {
    /// The SavedModel signature it calls (`""`: `serving_default`).
    pub signature: String,
    /// The request.
    pub request: crate::InferRequest,
}

impl ManagerOptions {
    /// Loads that may run at once.
    pub fn load_concurrency(&self) -> usize {
        match self.num_load_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            n => n,
        }
    }
}

/// Owns the loaded servables of every model.
pub struct Manager {
    backends: Backends,
    options: ManagerOptions,
    /// The routing table: held only for quick reads and updates, never
    /// across I/O or loading.
    models: RwLock<BTreeMap<String, ModelEntry>>,
    /// Configured pipelines.
    pipelines: RwLock<BTreeMap<String, pipelines::PipelineEntry>>,
    /// Each model's pending change and the lock that serialises its changes.
    controls: Mutex<BTreeMap<String, Arc<Control>>>,
    /// Permits for version loads (`num_load_threads`).
    load_permits: Arc<Semaphore>,
    /// Version loads waiting for a permit.
    loads_queued: AtomicUsize,
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
            load_permits: Arc::new(Semaphore::new(options.load_concurrency())),
            options,
            models: RwLock::new(BTreeMap::new()),
            pipelines: RwLock::new(BTreeMap::new()),
            controls: Mutex::new(BTreeMap::new()),
            loads_queued: AtomicUsize::new(0),
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

    /// Version loads waiting for one of the `num_load_threads` permits.
    pub fn loads_queued(&self) -> usize {
        self.loads_queued.load(Ordering::Acquire)
    }

    /// Whether the initial configuration has been applied.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A handle to the version that serves `request` for model `name`.
    pub fn handle(&self, name: &str, request: VersionRequest) -> Result<Arc<Servable>, CoreError> {
        let models = self.read();
        let Some(model) = models.get(name) else {
            drop(models);
            return self.pipeline_handle(name, &request);
        };
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
                    return Err(match &model.storage_fault {
                        Some(fault) => CoreError::StorageFault {
                            model: name.to_string(),
                            message: fault.message.clone(),
                        },
                        None => CoreError::VersionNotFound,
                    });
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
        let models = self.read();
        match models.get(name) {
            Some(m) => Some(m.versions.values().map(|v| v.status.clone()).collect()),
            None => {
                drop(models);
                self.pipeline_status(name)
            }
        }
    }

    /// Why model `name`'s storage could not be listed at the last try; `None`
    /// while it answers (or for an unknown model).
    pub fn storage_fault(&self, name: &str) -> Option<String> {
        self.read()
            .get(name)
            .and_then(|m| m.storage_fault.as_ref().map(|f| f.message.clone()))
    }

    /// Versions of model `name` that are serving, as strings, ascending.
    pub fn available_versions(&self, name: &str) -> Vec<String> {
        if self.is_pipeline(name) {
            return match self.pipeline_handle(name, &VersionRequest::Latest) {
                Ok(_) => vec![crate::PIPELINE_VERSION.to_string()],
                Err(_) => Vec::new(),
            };
        }
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
        let pipelines: Vec<VersionStatistics> = match name {
            Some(name) if !self.read().contains_key(name) => {
                let telemetry = self
                    .pipeline_telemetry(name)
                    .ok_or(CoreError::ModelNotFound)?;
                return Ok(vec![VersionStatistics {
                    name: name.to_string(),
                    version: crate::PIPELINE_VERSION,
                    stats: telemetry.stats().snapshot(),
                }]);
            }
            Some(_) => Vec::new(),
            None => self
                .pipeline_names()
                .into_iter()
                .filter_map(|name| {
                    let stats = self.pipeline_telemetry(&name)?.stats().snapshot();
                    Some(VersionStatistics {
                        name,
                        version: crate::PIPELINE_VERSION,
                        stats,
                    })
                })
                .collect(),
        };
        let models = self.read();
        let selected: Vec<(&String, &ModelEntry)> = match name {
            Some(name) => {
                let (key, entry) = models.get_key_value(name).ok_or(CoreError::ModelNotFound)?;
                vec![(key, entry)]
            }
            None => models.iter().collect(),
        };
        let mut statistics: Vec<VersionStatistics> = selected
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
            .collect();
        statistics.extend(pipelines);
        Ok(statistics)
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
        self.read().contains_key(name) || self.is_pipeline(name)
    }

    /// Names of every model and pipeline the manager knows, sorted.
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.extend(self.pipeline_names());
        names.sort();
        names
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
