//! OpenVINO backend: loads `libopenvino_c` at run time (the openvino wheel that
//! `scripts/install-runtimes.sh` installs, or `--openvino_lib`), reads IR,
//! ONNX, TensorFlow, TFLite and PaddlePaddle models like OVMS, and runs them
//! through a pool of infer requests.

mod ffi;
mod graph;
mod load;
mod model;
mod ov;
mod runtime;
mod tensor;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
#[cfg(test)]
mod tests_options;
mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{
    Backend, BackendError, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch, find_library,
};

use runtime::Runtime;

/// Environment variable naming `libopenvino_c.so*`.
pub const LIBRARY_ENV: &str = "INFERD_OPENVINO_LIB";

/// The OpenVINO backend.
pub struct OpenVinoBackend {
    state: State,
}

enum State {
    Ready {
        runtime: &'static Runtime,
        path: PathBuf,
    },
    Unavailable(String),
}

impl OpenVinoBackend {
    /// Looks for `libopenvino_c.so*` (flag, `$INFERD_OPENVINO_LIB`, then
    /// `<runtimes dir>/openvino/libs/`) and loads it. Never fails: without a
    /// usable runtime the backend is unavailable and [`Backend::describe`]
    /// says why. The library is loaded once per process; discovering again
    /// with the same library reuses it.
    pub fn discover(search: &RuntimeSearch) -> Self {
        let found = find_library(
            search.openvino_lib.as_deref(),
            &[LIBRARY_ENV],
            &search.runtimes_dirs,
            "openvino/libs",
            "libopenvino_c.so",
        );
        let hint = "install it with scripts/install-runtimes.sh, or point --openvino_lib PATH \
                    or INFERD_OPENVINO_LIB at libopenvino_c.so";
        let state = match found.found {
            None => State::Unavailable(format!(
                "libopenvino_c.so not found (searched: {}); {hint}",
                found.searched.join(", ")
            )),
            Some(path) => match runtime::load(&path) {
                Ok(runtime) => State::Ready { runtime, path },
                Err(e) => State::Unavailable(format!("cannot load OpenVINO: {e}; {hint}")),
            },
        };
        if let State::Unavailable(why) = &state {
            tracing::debug!("OpenVINO backend unavailable: {why}");
        }
        OpenVinoBackend { state }
    }

    /// The runtime's build number (e.g. `2026.4.1-22982-...`), when loaded.
    pub fn version(&self) -> Option<&str> {
        match &self.state {
            State::Ready { runtime, .. } => Some(&runtime.version),
            State::Unavailable(_) => None,
        }
    }

    /// The library loaded, when loaded.
    pub fn library_path(&self) -> Option<&Path> {
        match &self.state {
            State::Ready { path, .. } => Some(path),
            State::Unavailable(_) => None,
        }
    }

    fn runtime(&self) -> Result<&'static Runtime, BackendError> {
        match &self.state {
            State::Ready { runtime, .. } => Ok(runtime),
            State::Unavailable(why) => Err(BackendError::Unsupported(format!(
                "OpenVINO is not available: {why}"
            ))),
        }
    }
}

impl Backend for OpenVinoBackend {
    fn name(&self) -> &'static str {
        "openvino"
    }

    fn add_extension(&self, path: &Path) -> Result<(), BackendError> {
        self.runtime()?
            .core()
            .add_extension(path)
            .map_err(BackendError::Load)
    }

    fn platform(&self) -> &'static str {
        "OpenVINO"
    }

    fn is_available(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    fn describe(&self) -> String {
        match &self.state {
            State::Ready { runtime, path } => {
                format!("OpenVINO {} from {}", runtime.version, path.display())
            }
            State::Unavailable(why) => why.clone(),
        }
    }

    fn can_load(&self, files: &ModelFiles) -> bool {
        // An ambiguous folder still counts: `load` then says what is wrong.
        !matches!(load::model_file(files), Ok(None))
    }

    fn load(
        &self,
        files: &ModelFiles,
        options: &ModelOptions,
    ) -> Result<Arc<dyn LoadedModel>, BackendError> {
        let runtime = self.runtime()?;
        let (compiled, signature, saved) = load::compile(runtime, files, options)?;
        let size = match options.nireq {
            Some(n) if n > 0 => n as usize,
            _ => compiled
                .property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(1),
        };
        tracing::debug!(dir = %files.dir.display(), requests = size, "OpenVINO model compiled");
        Ok(Arc::new(
            model::OvModel::new(runtime.api, compiled, signature, size)?
                .with_saved_signatures(saved),
        ))
    }
}
