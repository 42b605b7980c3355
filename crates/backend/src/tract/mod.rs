//! The built-in tract engine: pure Rust, reads ONNX, always available.

mod convert;
mod load;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use inferd_tensor::{Signature, Tensor};
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;

use crate::{Backend, BackendError, LoadedModel, ModelFiles, ModelOptions};

/// The tract backend.
#[derive(Debug, Default)]
pub struct TractBackend;

impl TractBackend {
    /// Creates the backend.
    pub fn new() -> Self {
        TractBackend
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn platform(&self) -> &'static str {
        "tract_onnx"
    }

    fn is_available(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "built in (pure Rust), reads ONNX".to_string()
    }

    fn can_load(&self, files: &ModelFiles) -> bool {
        files.with_extension("onnx").next().is_some()
    }

    fn load(
        &self,
        files: &ModelFiles,
        options: &ModelOptions,
    ) -> Result<Arc<dyn LoadedModel>, BackendError> {
        let threads = options
            .inference_threads()
            .map_err(BackendError::Load)?
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (plan, signature) = load::compile(files, options, shared_executor(threads))?;
        Ok(Arc::new(TractModel { plan, signature }))
    }
}

/// One rayon pool per thread count, shared by every model that asks for it.
fn shared_executor(threads: usize) -> Executor {
    static POOLS: OnceLock<Mutex<HashMap<usize, Executor>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    pools
        .entry(threads)
        .or_insert_with(|| Executor::multithread_with_name(threads, "tract"))
        .clone()
}

struct TractModel {
    plan: Arc<TypedRunnableModel>,
    signature: Signature,
}

impl LoadedModel for TractModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let values = inputs
            .iter()
            .map(|t| convert::to_tract(t).map(IntoTValue::into_tvalue))
            .collect::<Result<TVec<TValue>, _>>()?;
        let outputs = self
            .plan
            .run(values)
            .map_err(|e| BackendError::Execution(format!("{e:#}")))?;
        outputs
            .into_iter()
            .map(|v| convert::from_tract(v.into_arc_tensor()))
            .collect()
    }
}
