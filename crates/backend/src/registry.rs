use std::sync::Arc;

use crate::{Backend, BackendError, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch};

/// A loaded model and the engine that loaded it.
pub type Loaded = (Arc<dyn Backend>, Arc<dyn LoadedModel>);

/// The engines built into this binary, in order of preference.
#[derive(Clone)]
pub struct Backends {
    engines: Vec<Arc<dyn Backend>>,
}

impl Backends {
    /// The engines compiled in, fastest first, with native runtimes looked
    /// for in the default places.
    pub fn builtin() -> Self {
        Backends::discover(&RuntimeSearch {
            runtimes_dirs: RuntimeSearch::default_dirs(),
            ..Default::default()
        })
    }

    /// The engines compiled in, fastest first: OpenVINO, ONNX Runtime, tract.
    /// Native ones are available only when `search` finds their library.
    pub fn discover(search: &RuntimeSearch) -> Self {
        let _ = search;
        let engines: Vec<Arc<dyn Backend>> = vec![
            #[cfg(feature = "openvino")]
            Arc::new(crate::openvino::OpenVinoBackend::discover(search)),
            #[cfg(feature = "onnxruntime")]
            Arc::new(crate::onnxruntime::OrtBackend::discover(search)),
            #[cfg(feature = "tract")]
            Arc::new(crate::tract::TractBackend::new()),
        ];
        Backends { engines }
    }

    /// A registry of exactly these engines (tests use fakes).
    pub fn from_engines(engines: Vec<Arc<dyn Backend>>) -> Self {
        Backends { engines }
    }

    /// Every engine, available or not.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.engines.iter()
    }

    /// Loads `files` with the engine named by `preferred`, or else with the
    /// first available engine that reads them; an engine that finds the model
    /// unsupported (e.g. OpenVINO and string tensors) passes it to the next.
    pub fn load(
        &self,
        files: &ModelFiles,
        preferred: Option<&str>,
        options: &ModelOptions,
    ) -> Result<Loaded, BackendError> {
        if preferred.is_some() {
            let engine = self.select(files, preferred)?;
            let loaded = engine
                .load(files, options)
                .map_err(|e| prefixed(&engine, e))?;
            return Ok((engine, loaded));
        }
        let mut refusals = Vec::new();
        for engine in self
            .engines
            .iter()
            .filter(|e| e.is_available() && e.can_load(files))
        {
            match engine.load(files, options) {
                Ok(loaded) => return Ok((engine.clone(), loaded)),
                Err(BackendError::Unsupported(why)) => {
                    refusals.push(format!("{}: {why}", engine.name()))
                }
                Err(e) => return Err(prefixed(engine, e)),
            }
        }
        if refusals.is_empty() {
            return Err(self
                .select(files, None)
                .err()
                .unwrap_or_else(|| BackendError::Unsupported("no backend".into())));
        }
        Err(BackendError::Unsupported(refusals.join("; ")))
    }

    /// Picks the engine for `files`: the one named by `preferred`, or else the
    /// first available engine that reads them.
    pub fn select(
        &self,
        files: &ModelFiles,
        preferred: Option<&str>,
    ) -> Result<Arc<dyn Backend>, BackendError> {
        if let Some(name) = preferred {
            let engine = self
                .engines
                .iter()
                .find(|e| e.name() == name)
                .ok_or_else(|| BackendError::Unsupported(format!("unknown backend {name:?}")))?;
            if !engine.is_available() {
                return Err(BackendError::Unsupported(format!(
                    "backend {name:?} is not available on this machine"
                )));
            }
            return Ok(engine.clone());
        }
        self.engines
            .iter()
            .find(|e| e.is_available() && e.can_load(files))
            .cloned()
            .ok_or_else(|| {
                BackendError::Unsupported(format!(
                    "no available backend reads the files in {} (found: {})",
                    files.dir.display(),
                    describe(files)
                ))
            })
    }
}

fn prefixed(engine: &Arc<dyn Backend>, err: BackendError) -> BackendError {
    let message = format!("{} backend: {err}", engine.name());
    match err {
        BackendError::Unsupported(_) => BackendError::Unsupported(message),
        BackendError::Load(_) => BackendError::Load(message),
        BackendError::InvalidInput(_) => BackendError::InvalidInput(message),
        BackendError::Execution(_) => BackendError::Execution(message),
    }
}

fn describe(files: &ModelFiles) -> String {
    if files.files.is_empty() {
        return "no files".into();
    }
    files
        .files
        .iter()
        .filter_map(|f| f.strip_prefix(&files.dir).ok())
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
