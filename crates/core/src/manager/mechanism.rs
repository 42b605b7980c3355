//! The lifecycle mechanism: carries out the policy's decisions for each
//! model on its own. A model's changes run one at a time (the newest wanted
//! change wins), different models' changes run side by side, loads share a
//! bounded number of permits, and the routing table is locked only for
//! quick updates: listing, fingerprinting and loading happen outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use inferd_backend::saved_model::{self, SavedSignature};
use inferd_backend::{AUTO, Loaded, ModelFiles, ModelOptions};
use inferd_repository::{
    Fingerprint, LocalVersion, ModelConfig, ServerModelsConfig, Source, open_source,
};

use super::batching::{BatchingChoice, batching_for};
use super::policy::{LoadDecision, LoadFacts, RetireFacts, load_decision, versions_to_retire};
use super::{LoadTiming, Manager, ModelEntry, VersionEntry};
use crate::executor::{
    BatchingExecutor, BatchingOptions, DirectExecutor, Executor, SchedulerOptions,
    SequenceExecutor, SequenceSettings, StatePlan,
};

/// How long a sequence may stay idle without `max_sequence_idle_microseconds`
/// (OVMS's sequence cleaner period).
const DEFAULT_SEQUENCE_IDLE: std::time::Duration = std::time::Duration::from_secs(300);
use crate::release::release;
use crate::reshaping::follow_request_shapes;
use crate::telemetry::VersionTelemetry;
use crate::{InputPlan, OtherSignature, Servable, ServableState, VersionStatus, model_options};

/// A change wanted for one model.
#[derive(Debug, Clone)]
enum Desired {
    /// Serve the versions this config aspires to.
    Serve(Box<ModelConfig>, LoadTiming),
    /// Retire every version (the model left the configuration).
    Remove,
}

/// One model's pending change and the lock that serialises its changes.
#[derive(Default)]
pub(crate) struct Control {
    desired: Mutex<Option<Desired>>,
    worker: tokio::sync::Mutex<()>,
}

impl Control {
    fn take(&self) -> Option<Desired> {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Changes recorded by [`Manager::submit`]; they run once settled or detached.
#[must_use = "submitted changes run only when settled or detached"]
pub struct Submitted {
    manager: Arc<Manager>,
    models: Vec<(String, Arc<Control>)>,
}

impl Submitted {
    /// Carries the changes out and returns once each model's change (or a
    /// newer one submitted meanwhile) is done. The work goes on if the
    /// returned future is dropped.
    pub async fn settled(self) {
        let mut work = tokio::task::JoinSet::new();
        for (name, control) in self.models {
            let manager = self.manager.clone();
            work.spawn(async move {
                let _worker = control.worker.lock().await;
                manager.carry_out(&name, &control).await;
            });
        }
        while work.join_next().await.is_some() {}
    }

    /// Carries the changes out in the background (the file-system poll). A
    /// model still busy with an earlier change takes this one up when that
    /// is done, so a hanging load holds up nothing but its own model.
    pub fn detach(self) -> Detached {
        let tasks = self
            .models
            .into_iter()
            .map(|(name, control)| {
                let manager = self.manager.clone();
                tokio::spawn(async move {
                    let Ok(_worker) = control.worker.try_lock() else {
                        return;
                    };
                    manager.carry_out(&name, &control).await;
                })
            })
            .collect();
        Detached { tasks }
    }
}

/// Changes running in the background; dropping this leaves them running.
pub struct Detached {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Detached {
    /// Waits for the models that were idle when the changes were detached;
    /// those that were busy take the change up later.
    pub async fn finished(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl Manager {
    /// Records the changes that bring model `only` (or every model) in line
    /// with `config`: aspired versions to load, models no longer listed to
    /// retire. Nothing runs until [`Submitted::settled`] or
    /// [`Submitted::detach`]; a newer submission for a model replaces an
    /// older one that has not started.
    pub fn submit(
        self: &Arc<Self>,
        config: &ServerModelsConfig,
        timing: LoadTiming,
        only: Option<&str>,
    ) -> Submitted {
        let mut wanted: BTreeMap<String, Desired> = config
            .models()
            .map(|m| {
                let desired = Desired::Serve(Box::new(m.clone()), timing);
                (m.name.clone(), desired)
            })
            .collect();
        let known: Vec<String> = self.read().keys().cloned().collect();
        for name in known {
            wanted.entry(name).or_insert(Desired::Remove);
        }
        if only.is_none() {
            self.set_pipelines(
                &config.pipeline_config_list,
                &config.custom_node_library_config_list,
            );
        }
        if let Some(only) = only {
            wanted.retain(|name, _| name == only);
        }
        let mut controls = self.controls.lock().unwrap_or_else(|p| p.into_inner());
        let models = wanted
            .into_iter()
            .map(|(name, desired)| {
                let control = controls.entry(name.clone()).or_default().clone();
                *control.desired.lock().unwrap_or_else(|p| p.into_inner()) = Some(desired);
                (name, control)
            })
            .collect();
        Submitted {
            manager: self.clone(),
            models,
        }
    }

    /// Brings every model in line with `config` and waits until done (see
    /// [`Manager::submit`]); marks the manager ready.
    pub async fn apply(self: &Arc<Self>, config: &ServerModelsConfig, timing: LoadTiming) {
        self.submit(config, timing, None).settled().await;
        self.ready.store(true, Ordering::Release);
    }

    /// Runs model `name`'s pending changes, newest first wins, until none is
    /// left; the caller holds the model's worker lock.
    async fn carry_out(self: &Arc<Self>, name: &str, control: &Control) {
        while let Some(desired) = control.take() {
            match desired {
                Desired::Serve(model, timing) => self.serve(&model, timing).await,
                Desired::Remove => self.retire(name, &[]).await,
            }
        }
    }

    /// Loads what `model`'s policy aspires to, then retires the rest. When
    /// the versions cannot be listed, nothing changes: a storage hiccup is
    /// not an empty folder.
    async fn serve(self: &Arc<Self>, model: &ModelConfig, timing: LoadTiming) {
        if timing == LoadTiming::WhenSettled && self.backing_off(model) {
            return;
        }
        let policy = model.version_policy();
        let settled = self.settled_versions(model);
        let listed = match open_source(&model.name, &model.base_path) {
            Ok(source) => {
                let lister = source.clone();
                tokio::task::spawn_blocking(move || {
                    let found = lister.list_versions()?;
                    let aspired = policy.select(&found);
                    Ok::<_, inferd_repository::SourceError>(
                        aspired
                            .into_iter()
                            .map(|v| {
                                let files = if settled.contains(&v) {
                                    None
                                } else {
                                    lister.fingerprint(v).ok()
                                };
                                (v, files)
                            })
                            .collect::<Vec<_>>(),
                    )
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|aspired| (source, aspired))
            }
            Err(e) => Err(e.to_string()),
        };
        let (source, aspired) = match listed {
            Ok(listed) => listed,
            Err(error) => {
                self.ensure_entry(model);
                self.storage_failed(&model.name, error);
                return;
            }
        };
        let mut loads = tokio::task::JoinSet::new();
        for version in self.register(model, &aspired, timing) {
            let (manager, model, source) = (self.clone(), model.clone(), source.clone());
            loads.spawn(async move {
                manager.loads_queued.fetch_add(1, Ordering::AcqRel);
                let permit = manager.load_permits.clone().acquire_owned().await;
                manager.loads_queued.fetch_sub(1, Ordering::AcqRel);
                let Ok(_permit) = permit else {
                    return None;
                };
                let loader = manager.clone();
                tokio::task::spawn_blocking(move || {
                    loader.load_version(&model, version, source.as_ref())
                })
                .await
                .ok()
                .flatten()
            });
        }
        // A version that could not be downloaded makes the storage back
        // off as a failed listing does; it is fetched again after that.
        let mut download_failed = None;
        while let Some(done) = loads.join_next().await {
            if let Ok(Some(error)) = done {
                download_failed = Some(error);
            }
        }
        match download_failed {
            Some(error) => self.storage_failed(&model.name, error),
            None => self.storage_answered(&model.name),
        }
        let versions: Vec<u64> = aspired.iter().map(|(v, _)| *v).collect();
        self.retire(&model.name, &versions).await;
        // Local copies of versions neither aspired nor still live go.
        let mut kept = self.live_versions(&model.name);
        kept.extend(versions);
        let _ = tokio::task::spawn_blocking(move || source.keep_only(&kept)).await;
    }

    /// Versions of `name` not retired (serving, loading or failed).
    fn live_versions(&self, name: &str) -> Vec<u64> {
        self.read()
            .get(name)
            .map(|entry| {
                entry
                    .versions
                    .iter()
                    .filter(|(_, slot)| {
                        !matches!(
                            slot.status.state,
                            ServableState::End | ServableState::Unloading
                        )
                    })
                    .map(|(&version, _)| version)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Versions of `model` serving without error under unchanged load
    /// settings: the policy keeps them whatever their files say, so a poll
    /// need not fingerprint them.
    fn settled_versions(&self, model: &ModelConfig) -> BTreeSet<u64> {
        let models = self.read();
        match models.get(&model.name) {
            Some(entry) if !entry.config.needs_reload_for(model) => entry
                .versions
                .iter()
                .filter(|(_, v)| v.servable.is_some() && v.status.error.is_none())
                .map(|(&version, _)| version)
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    fn new_entry(&self, model: &ModelConfig) -> ModelEntry {
        ModelEntry {
            config: model.clone(),
            versions: BTreeMap::new(),
            storage_fault: None,
        }
    }

    /// Makes model `model` known (with no versions) if it is not yet.
    fn ensure_entry(&self, model: &ModelConfig) {
        let mut models = self.write();
        if !models.contains_key(&model.name) {
            let entry = self.new_entry(model);
            models.insert(model.name.clone(), entry);
        }
    }

    /// Records the model's config and aspired versions (with their files
    /// now); returns the versions to load, as the policy decides.
    fn register(
        &self,
        model: &ModelConfig,
        aspired: &[(u64, Option<Fingerprint>)],
        timing: LoadTiming,
    ) -> Vec<u64> {
        let mut models = self.write();
        let entry = models
            .entry(model.name.clone())
            .or_insert_with(|| self.new_entry(model));
        let changed = entry.config.needs_reload_for(model);
        entry.config = model.clone();
        let mut to_load = Vec::new();
        for (version, files) in aspired {
            let slot = entry.versions.entry(*version).or_insert_with(|| {
                VersionEntry::new(*version, self.telemetry.for_version(&model.name, *version))
            });
            let facts = LoadFacts {
                serving: slot.servable.is_some(),
                failed: slot.status.error.is_some(),
                files: files.clone(),
                attempted: slot.attempted.clone(),
                seen: slot.seen.clone(),
            };
            match load_decision(&facts, changed, timing) {
                LoadDecision::Keep => {}
                LoadDecision::WaitToSettle(files) => slot.seen = files,
                LoadDecision::Load(files) => {
                    slot.attempted = files;
                    slot.seen = None;
                    to_load.push(*version);
                }
            }
        }
        to_load
    }

    /// Sets a version's state (and servable); returns the servable it
    /// replaced, for the caller to drop outside the routing table's lock.
    #[must_use]
    fn set_status(
        &self,
        name: &str,
        version: u64,
        state: ServableState,
        error: Option<String>,
        servable: Option<Arc<Servable>>,
    ) -> Option<Arc<Servable>> {
        let mut models = self.write();
        let slot = models
            .get_mut(name)
            .and_then(|m| m.versions.get_mut(&version))?;
        slot.status = VersionStatus {
            version,
            state,
            error,
        };
        // Pipelines over this model are built again over what serves now.
        self.forget_built_pipelines();
        if servable.is_some() || state != ServableState::Available {
            std::mem::replace(&mut slot.servable, servable)
        } else {
            None
        }
    }

    /// Loads one version on the calling (blocking) thread and publishes the
    /// outcome; returns the storage's error if the version could not be
    /// fetched (it is then fetched again at a later poll).
    fn load_version(
        &self,
        model: &ModelConfig,
        version: u64,
        source: &dyn Source,
    ) -> Option<String> {
        let name = model.name.as_str();
        let (keep_serving, telemetry) = self
            .read()
            .get(name)
            .and_then(|m| m.versions.get(&version))
            .map(|v| (v.servable.clone(), v.telemetry.clone()))
            .unwrap_or_else(|| (None, self.telemetry.for_version(name, version)));
        if keep_serving.is_none() {
            drop(self.set_status(name, version, ServableState::Loading, None, None));
        }
        tracing::info!(model = name, version, "LOADING");
        let local = match source.fetch(version) {
            Ok(local) => local,
            Err(error) => {
                let message = error.to_string();
                tracing::error!(model = name, version, error = %message, "download failed");
                let state = match keep_serving {
                    Some(_) => ServableState::Available,
                    None => ServableState::Loading,
                };
                drop(self.set_status(name, version, state, Some(message.clone()), keep_serving));
                self.fetch_again(name, version);
                return Some(message);
            }
        };
        let dir = local.dir.clone();
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (servable, engine) = self.build_version(model, version, local, telemetry)?;
            let requests = super::warmup::requests(
                self.options.warmup,
                &dir,
                self.options.warmup_iterations,
                &model.warmup_samples,
            )?;
            match super::warmup::run(&servable, &requests)? {
                0 => Ok((servable, engine)),
                n => Ok((servable, format!("{engine}, warmed up with {n} requests"))),
            }
        }))
        .unwrap_or_else(|_| Err("the backend panicked while loading the model".to_string()));
        match built {
            Ok((servable, engine)) => {
                let replaced = self.set_status(
                    name,
                    version,
                    ServableState::Available,
                    None,
                    Some(Arc::new(servable)),
                );
                tracing::info!(model = name, version, backend = %engine, "AVAILABLE");
                // The version reloaded with new settings: the old servable
                // goes once its last request has finished.
                drop(keep_serving);
                if let Some(old) = replaced {
                    old.on_release(Box::new(release));
                }
            }
            Err(message) => {
                tracing::error!(model = name, version, error = %message, "load failed");
                let state = match keep_serving {
                    // A reload failed: the version keeps serving what it had.
                    Some(_) => ServableState::Available,
                    None => ServableState::Loading,
                };
                drop(self.set_status(name, version, state, Some(message), keep_serving));
            }
        }
        None
    }

    /// Builds a version's servable and, for a SavedModel with several
    /// signatures, one more for each of the others; returns it with a
    /// description of how it runs.
    fn build_version(
        &self,
        model: &ModelConfig,
        version: u64,
        local: LocalVersion,
        telemetry: Arc<VersionTelemetry>,
    ) -> Result<(Servable, String), String> {
        let mut files = ModelFiles {
            dir: local.dir,
            files: local.files,
        };
        if let Some(name) = &model.model_filename {
            files = super::model_file::only(files, name)?;
        }
        let (servable, engine, saved) =
            self.build_servable(model, version, &files, telemetry.clone(), None)?;
        let Some(primary) = saved_model::primary(&saved).map(|s| s.name.clone()) else {
            return Ok((servable, engine));
        };
        let mut others = BTreeMap::new();
        for other in saved
            .iter()
            .filter(|s| s.is_servable() && s.name != primary)
        {
            if let Some(twin) = &other.same_as {
                others.insert(other.name.clone(), OtherSignature::SameAs(twin.clone()));
                continue;
            }
            let built =
                self.build_servable(model, version, &files, telemetry.clone(), Some(&other.name));
            let other_signature = match built {
                Ok((built, _, _)) => OtherSignature::Served(built),
                Err(error) => {
                    // Such as a tf.Example signature (ParseExample), which
                    // the engine cannot run: the others still serve.
                    tracing::warn!(model = %model.name, version, signature = %other.name, %error, "signature not served");
                    OtherSignature::Failed(error)
                }
            };
            others.insert(other.name.clone(), other_signature);
        }
        let served: Vec<String> = others
            .iter()
            .filter_map(|(name, other)| match other {
                OtherSignature::Served(_) => Some(name.clone()),
                OtherSignature::SameAs(twin) => Some(format!("{name} as {twin}")),
                OtherSignature::Failed(_) => None,
            })
            .collect();
        let engine = if served.is_empty() {
            format!("{engine}, signature {primary}")
        } else {
            format!("{engine}, signature {primary} (also {})", served.join(", "))
        };
        Ok((
            servable.with_saved_signatures(saved, primary, others),
            engine,
        ))
    }

    /// Builds the servable of one SavedModel signature (`None`: the
    /// primary one, or a model of another format); returns it with a
    /// description of how it runs and the SavedModel's signatures.
    fn build_servable(
        &self,
        model: &ModelConfig,
        version: u64,
        files: &ModelFiles,
        telemetry: Arc<VersionTelemetry>,
        signature: Option<&str>,
    ) -> Result<(Servable, String, Vec<SavedSignature>), String> {
        let mut options = model_options(model);
        options.signature = signature.map(str::to_string);
        options.cache_dir.clone_from(&self.options.cache_dir);
        for (key, value) in &self.options.default_plugin_config {
            options
                .plugin_config
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        let Loaded {
            engine: backend,
            model: loaded,
            choice,
        } = self
            .backends
            .load(files, model.backend.as_deref(), &options)
            .map_err(|e| e.to_string())?;
        let (backend, loaded, choice) =
            match follow_request_shapes(model, loaded, backend.clone(), files, &options) {
                Ok(loaded) => (backend, loaded, choice),
                Err(refusal) if model.backend.as_deref().is_none_or(|b| b == AUTO) => {
                    let other = self
                        .reshapable_engine(model, files, &options)
                        .ok_or(refusal)?;
                    (other.engine, other.model, other.choice)
                }
                Err(refusal) => return Err(refusal),
            };
        if let Some(expected) = &model.expected_signature {
            super::expected::check(&model.name, expected, loaded.signature())?;
        }
        let saved = loaded.saved_signatures().to_vec();
        // Without an explicit nireq, run as many at once as the engine says it can.
        let nireq = model
            .nireq
            .filter(|n| *n > 0)
            .or_else(|| loaded.max_concurrency().map(|n| n as u32));
        let scheduler = SchedulerOptions::with_nireq(nireq);
        // A stateful model's implicit states are the server's, not the client's.
        let states = match model.stateful {
            Some(true) => {
                let configured = model
                    .sequence_batching
                    .as_ref()
                    .map(|s| s.state.as_slice())
                    .unwrap_or_default();
                let controls = model
                    .sequence_batching
                    .as_ref()
                    .map(|s| s.control_inputs.as_slice())
                    .unwrap_or_default();
                Some(StatePlan::new(loaded.signature(), configured, controls)?)
            }
            _ => None,
        };
        let client = states
            .as_ref()
            .map_or(loaded.signature(), StatePlan::client_signature);
        let mut plan = InputPlan::new(client, &options, loaded.applies_preprocessing())?;
        if let Some(expected) = &model.expected_signature {
            plan = plan.with_reshapes(expected)?;
        }
        for line in plan.describe_inputs() {
            tracing::info!(model = %model.name, version, "{line}");
        }
        let signature = loaded.signature().clone();
        // A stateful model without declared state pairs keeps its own state
        // in the engine: each sequence runs on a session of its own.
        let sessions = match &states {
            Some(plan) if plan.pairs() == 0 => match loaded.session() {
                Some(Ok(_)) => Some(loaded.clone()),
                Some(Err(error)) => return Err(error.to_string()),
                None => {
                    return Err(format!(
                        "stateful: this engine ({}) keeps no model state; declare the state \
                         pairs in sequence_batching.state, or serve a model with internal \
                         state (ReadValue/Assign) on OpenVINO",
                        backend.name()
                    ));
                }
            },
            _ => None,
        };
        let batching = match batching_for(&self.options, model, &files.dir)? {
            BatchingChoice::Off => None,
            BatchingChoice::Model(settings) => Some(
                BatchingOptions::resolve(&settings, &signature, scheduler.nireq)
                    .map_err(|e| format!("dynamic_batching: {e}"))?,
            ),
            BatchingChoice::Server(settings) => BatchingOptions::resolve(
                &settings,
                &signature,
                scheduler.nireq,
            )
            .inspect_err(|error| {
                tracing::warn!(model = %model.name, version, %error, "served without batching");
            })
            .ok(),
        };
        if batching.is_some() && plan.moves_batch_axis() {
            return Err(
                "dynamic_batching needs the batch (N) first in the model's layout too".to_string(),
            );
        }
        let (executor, how): (Box<dyn Executor>, String) = match batching {
            Some(options) => {
                let how = format!(
                    ", batches of up to {} rows, {} at once",
                    options.max_batch_size(),
                    options.concurrent_batches
                );
                let executor =
                    BatchingExecutor::new(&model.name, version, loaded, options, telemetry.clone());
                (Box::new(executor), how)
            }
            None => {
                let executor =
                    DirectExecutor::new(&model.name, version, loaded, scheduler, telemetry.clone());
                (Box::new(executor), String::new())
            }
        };
        let (executor, how) = match states {
            Some(states) => {
                let max = model
                    .max_sequence_number
                    .unwrap_or(inferd_repository::DEFAULT_MAX_SEQUENCE_NUMBER);
                let idle = match model.idle_sequence_cleanup {
                    Some(false) => None,
                    _ => Some(
                        model
                            .sequence_batching
                            .as_ref()
                            .and_then(|s| s.max_sequence_idle_microseconds)
                            .map_or(DEFAULT_SEQUENCE_IDLE, std::time::Duration::from_micros),
                    ),
                };
                let settings = SequenceSettings {
                    max: max as usize,
                    idle,
                    sessions,
                };
                let executor = SequenceExecutor::new(
                    (&model.name, version),
                    executor,
                    states,
                    settings,
                    telemetry.clone(),
                );
                let how = format!("{how}, stateful: up to {max} sequences");
                (Box::new(executor) as Box<dyn Executor>, how)
            }
            None => (executor, how),
        };
        let servable = Servable::new(
            &model.name,
            version,
            backend.platform(),
            plan,
            executor,
            telemetry,
        )
        .with_engine(backend.name());
        let described = format!("{}: {choice}{how}", backend.name());
        Ok((servable, described, saved))
    }

    /// `shape`/`batch_size` "auto" on an engine chosen by the race that
    /// cannot reshape: the model from the first engine that can.
    fn reshapable_engine(
        &self,
        model: &ModelConfig,
        files: &ModelFiles,
        options: &ModelOptions,
    ) -> Option<Loaded> {
        ["openvino", "tract"].into_iter().find_map(|engine| {
            let loaded = self.backends.load(files, Some(engine), options).ok()?;
            let wrapped =
                follow_request_shapes(model, loaded.model, loaded.engine.clone(), files, options)
                    .ok()?;
            let choice = format!(
                "{}, as shape \"auto\" needs an engine that reshapes",
                loaded.choice
            );
            Some(Loaded {
                engine: loaded.engine,
                model: wrapped,
                choice,
            })
        })
    }

    /// Retires what the policy says of model `name` given `aspired`: each
    /// retired version leaves the routing table at once (UNLOADING) and is
    /// released, then marked END, when its last handle drops — at once when
    /// no request holds it, which this call waits for.
    async fn retire(self: &Arc<Self>, name: &str, aspired: &[u64]) {
        let mut retired = Vec::new();
        {
            let mut models = self.write();
            let Some(entry) = models.get_mut(name) else {
                return;
            };
            let facts: Vec<RetireFacts> = entry
                .versions
                .iter()
                .map(|(&version, slot)| RetireFacts {
                    version,
                    serving: slot.servable.is_some(),
                    retired: matches!(
                        slot.status.state,
                        ServableState::End | ServableState::Unloading
                    ),
                })
                .collect();
            for version in versions_to_retire(aspired, &facts) {
                let Some(slot) = entry.versions.get_mut(&version) else {
                    continue;
                };
                tracing::info!(model = name, version, "UNLOADING");
                let servable = slot.servable.take();
                let state = if servable.is_some() {
                    ServableState::Unloading
                } else {
                    tracing::info!(model = name, version, "END");
                    ServableState::End
                };
                slot.status = VersionStatus {
                    version,
                    state,
                    error: None,
                };
                retired.extend(servable.map(|s| (version, s)));
            }
        }
        let mut idle = Vec::new();
        for (version, servable) in retired {
            // Out of the table, only in-flight requests can hold handles.
            let unused = Arc::strong_count(&servable) == 1;
            let (done, finished) = tokio::sync::oneshot::channel();
            let manager = Arc::downgrade(self);
            let runtime = tokio::runtime::Handle::current();
            let name = name.to_string();
            servable.on_release(Box::new(move |remains| {
                // Freeing a model can take a while: keep it off the async threads.
                runtime.spawn_blocking(move || {
                    release(remains);
                    if let Some(manager) = manager.upgrade() {
                        manager.finish_unload(&name, version);
                    }
                    let _ = done.send(());
                });
            }));
            drop(servable);
            if unused {
                idle.push(finished);
            }
        }
        for finished in idle {
            let _ = finished.await;
        }
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
}

impl VersionEntry {
    fn new(version: u64, telemetry: Arc<VersionTelemetry>) -> Self {
        VersionEntry {
            status: VersionStatus {
                version,
                state: ServableState::Start,
                error: None,
            },
            servable: None,
            attempted: None,
            seen: None,
            telemetry,
        }
    }
}
