//! The ONNX Runtime engine, loaded at run time from `libonnxruntime.so`
//! (the `onnxruntime` pip wheel that `scripts/install-runtimes.sh` installs).
//!
//! ONNX Runtime cannot reshape a model: the `shape` and `batch_size` options
//! narrow the served signature instead, and layout conversion needs the
//! OpenVINO backend. Session settings come from `plugin_config`; see
//! [`SessionSettings`].

mod convert;
mod model;
mod run;
mod runtime;
mod settings;
mod signature;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dtypes;
mod version;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::Session;

use self::model::OrtModel;
use self::runtime::Runtime;
pub use self::settings::{ExecutionMode, SessionSettings};
use crate::{
    Backend, BackendError, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch, find_library,
};

/// Environment variables naming the library, in the order they are read.
pub const LIBRARY_ENV_VARS: [&str; 2] = ["INFERD_ONNXRUNTIME_LIB", "ORT_DYLIB_PATH"];

/// The ONNX Runtime backend.
pub struct OrtBackend {
    state: State,
}

enum State {
    Ready {
        runtime: &'static Runtime,
        /// The library the search found, when the process had already loaded
        /// ONNX Runtime from another file.
        requested: Option<PathBuf>,
    },
    Unavailable(String),
}

impl OrtBackend {
    /// Looks for `libonnxruntime.so` (`--onnxruntime_lib`, then
    /// `$INFERD_ONNXRUNTIME_LIB`, `$ORT_DYLIB_PATH`, then
    /// `<runtimes>/onnxruntime/capi/`) and loads it. Never fails: a missing
    /// or unusable library leaves the backend unavailable, and
    /// [`Backend::describe`] says why. The library is loaded once per
    /// process; later calls reuse it.
    pub fn discover(search: &RuntimeSearch) -> Self {
        let found = find_library(
            search.onnxruntime_lib.as_deref(),
            &LIBRARY_ENV_VARS,
            &search.runtimes_dirs,
            "onnxruntime/capi",
            "libonnxruntime.so",
        );
        let hint = "install it with scripts/install-runtimes.sh, or name the library with \
                    --onnxruntime_lib PATH, $INFERD_ONNXRUNTIME_LIB or $ORT_DYLIB_PATH";
        let state = match found.found {
            None => State::Unavailable(format!(
                "libonnxruntime.so not found (searched: {}); {hint}",
                found.searched.join(", ")
            )),
            Some(path) => match runtime::load(&path) {
                Ok(runtime) => State::Ready {
                    runtime,
                    requested: (!same_file(&runtime.library, &path)).then_some(path),
                },
                Err(e) => State::Unavailable(format!(
                    "cannot use ONNX Runtime from {}: {e}; {hint}",
                    path.display()
                )),
            },
        };
        if let State::Unavailable(why) = &state {
            tracing::debug!(reason = %why, "ONNX Runtime backend unavailable");
        }
        OrtBackend { state }
    }

    /// The version of the loaded runtime (`1.31.1`), if available.
    pub fn version(&self) -> Option<&str> {
        match &self.state {
            State::Ready { runtime, .. } => Some(&runtime.version),
            State::Unavailable(_) => None,
        }
    }

    /// The library file loaded, if available.
    pub fn library(&self) -> Option<&Path> {
        match &self.state {
            State::Ready { runtime, .. } => Some(&runtime.library),
            State::Unavailable(_) => None,
        }
    }

    fn runtime(&self) -> Result<&'static Runtime, BackendError> {
        match &self.state {
            State::Ready { runtime, .. } => Ok(runtime),
            State::Unavailable(why) => Err(BackendError::Unsupported(format!(
                "the ONNX Runtime backend is not available: {why}"
            ))),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn reshapes(&self) -> bool {
        false
    }

    fn platform(&self) -> &'static str {
        "onnxruntime_onnx"
    }

    fn is_available(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    fn describe(&self) -> String {
        match &self.state {
            State::Ready { runtime, requested } => {
                let mut line = format!(
                    "ONNX Runtime {} from {}",
                    runtime.version,
                    runtime.library.display()
                );
                if let Some(other) = requested {
                    line.push_str(&format!(
                        " (loaded earlier in this process; {} was not loaded)",
                        other.display()
                    ));
                }
                line
            }
            State::Unavailable(why) => why.clone(),
        }
    }

    fn can_load(&self, files: &ModelFiles) -> bool {
        files.with_extension("onnx").next().is_some()
    }

    fn load(
        &self,
        files: &ModelFiles,
        options: &ModelOptions,
    ) -> Result<Arc<dyn LoadedModel>, BackendError> {
        let runtime = self.runtime()?;
        check_options(options)?;
        let settings = SessionSettings::parse(&options.plugin_config)?;
        let path = files.onnx_file()?;
        let builder = Session::builder(&runtime.env).map_err(|e| {
            BackendError::Load(format!("cannot create an ONNX Runtime session: {e}"))
        })?;
        let mut builder = settings.apply(builder)?;
        let session = builder
            .commit_from_file(&path)
            .map_err(|e| BackendError::Load(format!("cannot load {}: {e}", path.display())))?;
        let signature = signature::build(session.inputs(), session.outputs(), options)?;
        // Concurrent requests run in parallel on the one session; without an
        // explicit nireq the scheduler decides how many.
        let max_concurrency = options.nireq.filter(|n| *n > 0).map(|n| n as usize);
        let session = run::SharedSession::new(session)?;
        Ok(Arc::new(OrtModel::new(session, signature, max_concurrency)))
    }
}

fn check_options(options: &ModelOptions) -> Result<(), BackendError> {
    options.require_cpu("ONNX Runtime")?;
    if options.cache_dir.is_some() {
        tracing::debug!("cache_dir is not used by the ONNX Runtime backend");
    }
    Ok(())
}
