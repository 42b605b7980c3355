use std::sync::Arc;

use crate::{Backend, BackendError, ModelFiles};

/// The engines built into this binary, in order of preference.
#[derive(Clone)]
pub struct Backends {
    engines: Vec<Arc<dyn Backend>>,
}

impl Backends {
    /// The engines compiled in, fastest first.
    pub fn builtin() -> Self {
        let engines: Vec<Arc<dyn Backend>> = vec![
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
