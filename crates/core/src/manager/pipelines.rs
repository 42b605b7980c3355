//! Pipelines in the manager: their configs (replaced with each config.json),
//! and the servable of each, built on first use from the node models'
//! serving versions and dropped whenever a model version changes state, so
//! the next request builds it again over the versions serving then. A
//! pipeline is available exactly while every node model is.

use std::collections::BTreeMap;
use std::sync::Arc;

use inferd_repository::{CUSTOM, CustomNodeLibraryConfig, PipelineConfig};

use super::Manager;
use crate::telemetry::VersionTelemetry;
use crate::{
    CoreError, CustomLibrary, CustomNode, NodeRunner, PIPELINE_VERSION, Servable, ServableState,
    VersionRequest, VersionStatus, build_pipeline,
};

/// One configured pipeline.
pub(super) struct PipelineEntry {
    config: PipelineConfig,
    /// The custom node libraries its nodes use (name, path).
    libraries: Vec<(String, String)>,
    /// Each node's custom node (for custom nodes), initialised with its
    /// params while this configuration lasts; or why that failed.
    custom: Result<Vec<Option<Arc<CustomNode>>>, String>,
    /// The servable over the node versions serving when it was built.
    built: Option<Arc<Servable>>,
    /// Statistics and metrics, kept across rebuilds.
    telemetry: Arc<VersionTelemetry>,
}

impl Manager {
    fn pipelines_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PipelineEntry>> {
        self.pipelines.read().unwrap_or_else(|p| p.into_inner())
    }

    fn pipelines_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, PipelineEntry>> {
        self.pipelines.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves exactly `configs` as pipelines (their custom nodes from
    /// `libraries`): new ones are added, changed ones set up again, missing
    /// ones removed (requests in flight finish).
    pub(super) fn set_pipelines(
        &self,
        configs: &[PipelineConfig],
        libraries: &[CustomNodeLibraryConfig],
    ) {
        let mut pipelines = self.pipelines_write();
        pipelines.retain(|name, _| configs.iter().any(|c| &c.name == name));
        for config in configs {
            let used = libraries_used(config, libraries);
            if let Some(entry) = pipelines.get(&config.name)
                && entry.config == *config
                && entry.libraries == used
            {
                continue;
            }
            let telemetry = match pipelines.remove(&config.name) {
                Some(old) => old.telemetry,
                None => self.telemetry.for_version(&config.name, PIPELINE_VERSION),
            };
            let custom = custom_nodes(config, &used);
            if let Err(error) = &custom {
                tracing::error!(pipeline = %config.name, %error, "pipeline custom node refused");
            }
            tracing::info!(pipeline = %config.name, "pipeline configured");
            pipelines.insert(
                config.name.clone(),
                PipelineEntry {
                    config: config.clone(),
                    libraries: used,
                    custom,
                    built: None,
                    telemetry,
                },
            );
        }
    }

    /// Drops every built pipeline servable (a node model's versions changed).
    pub(super) fn forget_built_pipelines(&self) {
        for entry in self.pipelines_write().values_mut() {
            entry.built = None;
        }
    }

    /// Whether `name` is a configured pipeline.
    pub(super) fn is_pipeline(&self, name: &str) -> bool {
        self.pipelines_read().contains_key(name)
    }

    /// Names of the configured pipelines.
    pub(super) fn pipeline_names(&self) -> Vec<String> {
        self.pipelines_read().keys().cloned().collect()
    }

    /// The servable of pipeline `name` for `request` (only its version 1
    /// exists), built over the node models' serving versions if need be.
    pub(super) fn pipeline_handle(
        &self,
        name: &str,
        request: &VersionRequest,
    ) -> Result<Arc<Servable>, CoreError> {
        if !self.is_pipeline(name) {
            return Err(CoreError::ModelNotFound);
        }
        match request {
            VersionRequest::Latest | VersionRequest::Specific(PIPELINE_VERSION) => {}
            VersionRequest::Specific(_) => return Err(CoreError::VersionNotFound),
            VersionRequest::Label(label) => return Err(CoreError::LabelNotFound(label.clone())),
        }
        let (config, custom, telemetry) = {
            let pipelines = self.pipelines_read();
            let entry = pipelines.get(name).ok_or(CoreError::ModelNotFound)?;
            if let Some(built) = &entry.built {
                return Ok(built.clone());
            }
            let custom = entry.custom.clone().map_err(CoreError::PipelineNotReady)?;
            (entry.config.clone(), custom, entry.telemetry.clone())
        };
        let built = Arc::new(self.build(&config, custom, telemetry)?);
        if let Some(entry) = self.pipelines_write().get_mut(name)
            && entry.config == config
        {
            entry.built = Some(built.clone());
        }
        Ok(built)
    }

    fn build(
        &self,
        config: &PipelineConfig,
        custom: Vec<Option<Arc<CustomNode>>>,
        telemetry: Arc<VersionTelemetry>,
    ) -> Result<Servable, CoreError> {
        let mut runners = Vec::with_capacity(config.nodes.len());
        for (node, custom) in config.nodes.iter().zip(custom) {
            if let Some(custom) = custom {
                runners.push(NodeRunner::Custom(custom));
                continue;
            }
            let model = node.model_name.as_deref().unwrap_or_default();
            let version = node
                .version
                .map_or(VersionRequest::Latest, VersionRequest::Specific);
            let servable = self.handle(model, version).map_err(|error| {
                CoreError::PipelineNotReady(format!(
                    "node {:?}: model {model:?} is not available: {error}",
                    node.name
                ))
            })?;
            runners.push(NodeRunner::Model(servable));
        }
        build_pipeline(config, runners, telemetry).map_err(|message| {
            tracing::error!(pipeline = %config.name, error = %message, "pipeline refused");
            CoreError::PipelineNotReady(message)
        })
    }

    /// Pipeline `name`'s status: version 1, AVAILABLE while it can be built,
    /// else LOADING with the reason.
    pub(super) fn pipeline_status(&self, name: &str) -> Option<Vec<VersionStatus>> {
        if !self.is_pipeline(name) {
            return None;
        }
        let (state, error) = match self.pipeline_handle(name, &VersionRequest::Latest) {
            Ok(_) => (ServableState::Available, None),
            Err(error) => (ServableState::Loading, Some(error.to_string())),
        };
        Some(vec![VersionStatus {
            version: PIPELINE_VERSION,
            state,
            error,
        }])
    }

    /// Statistics of pipeline `name`, if it is one.
    pub(super) fn pipeline_telemetry(&self, name: &str) -> Option<Arc<VersionTelemetry>> {
        self.pipelines_read().get(name).map(|e| e.telemetry.clone())
    }
}

/// The (name, path) of each library `config`'s custom nodes use.
fn libraries_used(
    config: &PipelineConfig,
    libraries: &[CustomNodeLibraryConfig],
) -> Vec<(String, String)> {
    let mut used: Vec<(String, String)> = config
        .nodes
        .iter()
        .filter_map(|n| n.library_name.as_ref())
        .filter_map(|name| libraries.iter().find(|l| &l.name == name))
        .map(|l| (l.name.clone(), l.base_path.clone()))
        .collect();
    used.sort();
    used.dedup();
    used
}

/// Opens the libraries and initialises each custom node with its params.
fn custom_nodes(
    config: &PipelineConfig,
    libraries: &[(String, String)],
) -> Result<Vec<Option<Arc<CustomNode>>>, String> {
    let mut opened: BTreeMap<&str, Arc<CustomLibrary>> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(config.nodes.len());
    for node in &config.nodes {
        if node.kind != CUSTOM {
            nodes.push(None);
            continue;
        }
        let name = node.library_name.as_deref().unwrap_or_default();
        let (_, path) = libraries
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("Custom node library not found: {name}"))?;
        let library = match opened.get(path.as_str()) {
            Some(library) => library.clone(),
            None => {
                let library = CustomLibrary::open(std::path::Path::new(path))?;
                opened.insert(path, library.clone());
                library
            }
        };
        let params = node.params.clone().unwrap_or_default();
        let custom = CustomNode::new(library, &params)
            .map_err(|error| format!("node {:?}: {error}", node.name))?;
        nodes.push(Some(custom));
    }
    Ok(nodes)
}
