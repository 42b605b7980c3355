//! Backends turn model files into [`LoadedModel`]s that run inference.
//!
//! Every engine implements [`Backend`]; the [`Backends`] registry lists the
//! engines built into this binary and picks one for a model's files.

mod discover;
mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
#[cfg(feature = "openvino")]
pub mod openvino;
mod options;
mod registry;
pub mod saved_model;
#[cfg(feature = "tract")]
pub mod tract;
mod trial;

use std::path::PathBuf;
use std::sync::Arc;

use inferd_tensor::{Signature, Tensor};

pub use discover::{LibrarySearch, RuntimeSearch, find_library};
pub use error::BackendError;
pub use options::{InputPreprocessing, InputShapes, ModelOptions};
pub use registry::{AUTO, Backends, Loaded};
pub use trial::zero_inputs;

/// The files of one model version, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The version folder.
    pub dir: PathBuf,
    /// Regular files in it, recursively, sorted.
    pub files: Vec<PathBuf>,
}

impl ModelFiles {
    /// The ONNX file to serve: `model.onnx`, or else the only `*.onnx` file.
    pub fn onnx_file(&self) -> Result<PathBuf, BackendError> {
        let candidates: Vec<&PathBuf> = self.with_extension("onnx").collect();
        if let Some(named) = candidates
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "model.onnx"))
        {
            return Ok((*named).clone());
        }
        match candidates.as_slice() {
            [only] => Ok((*only).clone()),
            [] => Err(BackendError::Unsupported(format!(
                "no .onnx file in {}",
                self.dir.display()
            ))),
            _ => Err(BackendError::Load(format!(
                "several .onnx files in {}; name the one to serve model.onnx",
                self.dir.display()
            ))),
        }
    }

    /// Files whose name ends with `.{ext}`.
    pub fn with_extension<'a>(&'a self, ext: &'a str) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.files
            .iter()
            .filter(move |f| f.extension().is_some_and(|e| e == ext))
    }
}

/// An inference engine that can load some model formats.
pub trait Backend: Send + Sync {
    /// Short name used in config (`"tract"`).
    fn name(&self) -> &'static str;
    /// Platform string reported in model metadata.
    fn platform(&self) -> &'static str;
    /// Whether the engine can run on this machine (its runtime library was found).
    fn is_available(&self) -> bool;
    /// One line for the start-up log: where the runtime was found and its
    /// version, or what was searched and how to install it.
    fn describe(&self) -> String;
    /// Whether the engine can load a model with other input shapes than the
    /// file's fixed ones (what `shape: "auto"` needs); ONNX Runtime cannot.
    fn reshapes(&self) -> bool {
        true
    }
    /// Adds a library of custom operations (OVMS's `--cpu_extension`) before
    /// any model loads; engines without such libraries refuse.
    fn add_extension(&self, path: &std::path::Path) -> Result<(), BackendError> {
        Err(BackendError::Unsupported(format!(
            "the {} backend takes no extension libraries ({})",
            self.name(),
            path.display()
        )))
    }
    /// Whether these files hold a model this engine reads.
    fn can_load(&self, files: &ModelFiles) -> bool;
    /// Loads and compiles a model. Slow: call it off the async runtime.
    fn load(
        &self,
        files: &ModelFiles,
        options: &ModelOptions,
    ) -> Result<Arc<dyn LoadedModel>, BackendError>;
}

/// A model ready to run. `execute` may be called from many threads at once.
pub trait LoadedModel: Send + Sync {
    /// Inputs and outputs, in the order `execute` takes and returns them.
    fn signature(&self) -> &Signature;
    /// Runs one inference. `inputs` follow the signature's order and have been
    /// validated against it; the outputs follow the signature's output order.
    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError>;
    /// How many `execute` calls the engine can usefully run at once (e.g.
    /// OpenVINO's infer-request pool); `None` lets the scheduler decide.
    fn max_concurrency(&self) -> Option<usize> {
        None
    }
    /// False when running `inputs` first needs slow preparation (compiling
    /// the model for their shapes): the executor then runs them off the
    /// async threads whatever earlier runs took.
    fn runs_quickly(&self, inputs: &[Tensor]) -> bool {
        let _ = inputs;
        true
    }
    /// Whether the engine applied the options' layout conversions and
    /// pre-processing itself (its signature is then what clients send);
    /// otherwise the server does both in front of it.
    fn applies_preprocessing(&self) -> bool {
        false
    }
    /// A session of its own for one sequence of a stateful model, where the
    /// engine keeps the model's internal state (OpenVINO's ReadValue/Assign
    /// variables) between calls; `None` for engines that keep none.
    fn session(&self) -> Option<Result<Box<dyn ModelSession>, BackendError>> {
        None
    }
    /// The signatures of the SavedModel it was read from, when loaded for
    /// its primary signature (empty for other formats, and for a signature
    /// [`ModelOptions::signature`] named: the caller has the list).
    fn saved_signatures(&self) -> &[saved_model::SavedSignature] {
        &[]
    }
}

/// One sequence's own runs of a model (see [`LoadedModel::session`]): the
/// state the model keeps lives here, from a fresh start, call to call.
pub trait ModelSession: Send {
    /// Runs one inference, as [`LoadedModel::execute`].
    fn execute(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError>;
}
