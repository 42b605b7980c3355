//! `shape: "auto"` and `batch_size: "auto"`: a model whose inputs take the
//! shape of each request. A request of a shape not loaded yet loads the
//! model again with that shape (OpenVINO's reshape, tract's input facts);
//! the last few shapes stay compiled, so requests of the old shape that are
//! in flight finish on their model and alternating shapes do not reload
//! each time. Engines that cannot reshape (ONNX Runtime) serve the model's
//! own dynamic dimensions, or refuse the setting when those are fixed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use inferd_backend::{Backend, BackendError, InputShapes, LoadedModel, ModelFiles, ModelOptions};
use inferd_repository::{BatchSize, ModelConfig};
use inferd_tensor::{Dim, Signature, Tensor};

/// A compiled model and the input shapes it was compiled for.
type Compiled = (Vec<Vec<usize>>, Arc<dyn LoadedModel>);

/// Shapes kept compiled at once.
const KEPT_SHAPES: usize = 4;

/// Which input dimensions follow the requests, per input and axis.
fn auto_axes(config: &ModelConfig, signature: &Signature) -> Option<Vec<Vec<bool>>> {
    let batch = config.batch_size == Some(BatchSize::Auto);
    let axes: Vec<Vec<bool>> = signature
        .inputs
        .iter()
        .map(|spec| {
            let whole = config.shape.as_ref().is_some_and(|s| s.is_auto(&spec.name));
            (0..spec.shape.len())
                .map(|axis| whole || (batch && axis == 0))
                .collect()
        })
        .collect();
    axes.iter().flatten().any(|a| *a).then_some(axes)
}

/// Wraps `model` when `config` asks for automatic shapes and some of those
/// dimensions are fixed in the model; `engine` reloads it per shape.
pub(crate) fn follow_request_shapes(
    config: &ModelConfig,
    model: Arc<dyn LoadedModel>,
    engine: Arc<dyn Backend>,
    files: &ModelFiles,
    options: &ModelOptions,
) -> Result<Arc<dyn LoadedModel>, String> {
    let Some(axes) = auto_axes(config, model.signature()) else {
        return Ok(model);
    };
    let mut signature = model.signature().clone();
    let mut fixed = Vec::new();
    for (spec, axes) in signature.inputs.iter_mut().zip(&axes) {
        for (dim, auto) in spec.shape.iter_mut().zip(axes) {
            if *auto && matches!(dim, Dim::Fixed(_) | Dim::Range(..)) {
                fixed.push(format!("{} {}", spec.name, dim));
                *dim = Dim::Any;
            }
        }
    }
    if fixed.is_empty() {
        // The engine's own dynamic dimensions already take any shape.
        return Ok(model);
    }
    if !engine.reshapes() {
        return Err(format!(
            "shape or batch_size \"auto\": the {} backend cannot reshape a model, and these \
             dimensions are fixed: {}; use a model with dynamic dimensions, or the openvino \
             or tract backend",
            engine.name(),
            fixed.join(", ")
        ));
    }
    let first_shapes = model
        .signature()
        .inputs
        .iter()
        .map(|spec| {
            spec.shape
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => Some(*n as usize),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>()
        })
        .collect::<Option<Vec<Vec<usize>>>>();
    let compiled = first_shapes
        .map(|shapes| (shapes, model.clone()))
        .into_iter()
        .collect();
    Ok(Arc::new(ReshapingModel {
        name: config.name.clone(),
        original: model,
        signature,
        engine,
        files: files.clone(),
        options: options.clone(),
        compiled: Mutex::new(compiled),
        reshaping: Mutex::new(()),
    }))
}

/// A model compiled once per request shape, the last few kept.
struct ReshapingModel {
    name: String,
    /// The model as first loaded (its settings hold for every shape).
    original: Arc<dyn LoadedModel>,
    /// The model's signature with the automatic dimensions dynamic.
    signature: Signature,
    engine: Arc<dyn Backend>,
    files: ModelFiles,
    options: ModelOptions,
    /// Most recently used first.
    compiled: Mutex<Vec<Compiled>>,
    /// One reshape at a time.
    reshaping: Mutex<()>,
}

impl ReshapingModel {
    fn cached(&self, shapes: &[Vec<usize>]) -> Option<Arc<dyn LoadedModel>> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        let at = compiled.iter().position(|(s, _)| s == shapes)?;
        let entry = compiled.remove(at);
        let model = entry.1.clone();
        compiled.insert(0, entry);
        Some(model)
    }

    fn model_for(&self, shapes: Vec<Vec<usize>>) -> Result<Arc<dyn LoadedModel>, BackendError> {
        if let Some(model) = self.cached(&shapes) {
            return Ok(model);
        }
        let _one_at_a_time = self.reshaping.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = self.cached(&shapes) {
            return Ok(model);
        }
        let mut options = self.options.clone();
        options.batch_size = None;
        options.shapes = InputShapes::PerInput(
            self.signature
                .inputs
                .iter()
                .zip(&shapes)
                .map(|(spec, dims)| {
                    let dims = dims.iter().map(|&d| Dim::Fixed(d as u64)).collect();
                    (spec.name.clone(), dims)
                })
                .collect(),
        );
        let started = Instant::now();
        let model = self.engine.load(&self.files, &options).map_err(|e| {
            BackendError::InvalidInput(format!(
                "cannot reshape the model to the request's shapes {shapes:?}: {e}"
            ))
        })?;
        tracing::info!(
            model = %self.name,
            shapes = ?shapes,
            took_ms = started.elapsed().as_millis() as u64,
            "reshaped to the request"
        );
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        compiled.insert(0, (shapes, model.clone()));
        compiled.truncate(KEPT_SHAPES);
        Ok(model)
    }
}

impl LoadedModel for ReshapingModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let shapes = inputs.iter().map(|t| t.shape().to_vec()).collect();
        self.model_for(shapes)?.execute(inputs)
    }

    fn runs_quickly(&self, inputs: &[Tensor]) -> bool {
        let compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        compiled.iter().any(|(shapes, _)| {
            shapes
                .iter()
                .map(Vec::as_slice)
                .eq(inputs.iter().map(Tensor::shape))
        })
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.original.max_concurrency()
    }

    fn applies_preprocessing(&self) -> bool {
        self.original.applies_preprocessing()
    }

    fn saved_signatures(&self) -> &[inferd_backend::saved_model::SavedSignature] {
        self.original.saved_signatures()
    }
}
