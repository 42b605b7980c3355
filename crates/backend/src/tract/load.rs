//! Reading an ONNX file into a tract plan, with the load-time options applied.

use std::sync::Arc;

use inferd_tensor::{Dim, Signature, TensorSpec};
use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceFact};

use super::convert::data_type;
use crate::{BackendError, InputShapes, ModelFiles, ModelOptions};

/// The plugin_config keys tract honours.
const HONOURED_KEYS: &[&str] = &["INFERENCE_NUM_THREADS"];

fn load_err(context: &str) -> impl Fn(TractError) -> BackendError + '_ {
    move |e| BackendError::Load(format!("{context}: {e:#}"))
}

fn check_options(options: &ModelOptions) -> Result<(), BackendError> {
    options.require_cpu("tract")?;
    let ignored: Vec<&str> = options
        .plugin_config
        .keys()
        .map(String::as_str)
        .filter(|k| !HONOURED_KEYS.contains(k))
        .collect();
    if !ignored.is_empty() {
        tracing::warn!(keys = ?ignored, "plugin_config keys not used by the tract backend");
    }
    Ok(())
}

/// Reads, reshapes, optimises and plans the model; returns the plan and its signature.
pub fn compile(
    files: &ModelFiles,
    options: &ModelOptions,
    executor: Executor,
) -> Result<(Arc<TypedRunnableModel>, Signature), BackendError> {
    check_options(options)?;
    let path = files.onnx_file()?;
    let mut model = tract_onnx::onnx()
        .model_for_path(&path)
        .map_err(load_err(&format!("cannot read {}", path.display())))?;
    let input_names = outlet_names(&model, model.input_outlets().map_err(load_err("inputs"))?);
    let output_names = outlet_names(&model, model.output_outlets().map_err(load_err("outputs"))?);
    let applied = apply_shapes(&mut model, &input_names, options)?;
    let typed = model
        .into_typed()
        .map_err(load_err("cannot analyse the model"))?;
    let mut signature = Signature {
        inputs: specs(&input_names, |i| typed.input_fact(i))?,
        outputs: specs(&output_names, |i| typed.output_fact(i))?,
    };
    // tract knows only fixed or symbolic dimensions: keep configured ranges so
    // that requests are validated against them.
    for (spec, dims) in signature.inputs.iter_mut().zip(applied) {
        if let Some(dims) = dims.filter(|d| d.len() == spec.shape.len()) {
            for (have, want) in spec.shape.iter_mut().zip(dims) {
                if matches!(want, Dim::Range(..)) {
                    *have = want;
                }
            }
        }
    }
    let optimized = typed
        .into_optimized()
        .map_err(load_err("cannot optimise the model"))?;
    let run_options = RunOptions {
        executor: Some(executor),
        ..Default::default()
    };
    let plan = optimized
        .into_runnable_with_options(&run_options)
        .map_err(load_err("cannot plan the model"))?;
    Ok((plan, signature))
}

/// Names of graph inputs/outputs as the ONNX file declares them.
fn outlet_names(model: &InferenceModel, outlets: &[OutletId]) -> Vec<String> {
    outlets
        .iter()
        .map(|o| {
            model
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| model.node(o.node).name.clone())
        })
        .collect()
}

fn specs<'m>(
    names: &[String],
    fact: impl Fn(usize) -> TractResult<&'m TypedFact>,
) -> Result<Vec<TensorSpec>, BackendError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let fact = fact(i).map_err(load_err(name))?;
            let dtype = data_type(fact.datum_type).ok_or_else(|| {
                BackendError::Unsupported(format!(
                    "tensor {name} has type {:?}, which inferd cannot serve",
                    fact.datum_type
                ))
            })?;
            let shape = fact
                .shape
                .iter()
                .map(|d| match d.to_i64() {
                    Ok(n) if n >= 0 => Dim::Fixed(n as u64),
                    _ => Dim::Any,
                })
                .collect();
            Ok(TensorSpec {
                name: name.clone(),
                dtype,
                shape,
            })
        })
        .collect()
}

/// Sets input facts from the `shape` / `batch_size` options; returns the
/// dimensions set on each input.
fn apply_shapes(
    model: &mut InferenceModel,
    names: &[String],
    options: &ModelOptions,
) -> Result<Vec<Option<Vec<Dim>>>, BackendError> {
    let mut applied = vec![None; names.len()];
    let wanted: Vec<Option<Vec<Dim>>> = match &options.shapes {
        InputShapes::Model => vec![None; names.len()],
        InputShapes::Single(dims) if names.len() == 1 => vec![Some(dims.clone())],
        InputShapes::Single(_) => {
            return Err(BackendError::Load(format!(
                "shape without an input name needs a model with one input; this one has {}",
                names.len()
            )));
        }
        InputShapes::PerInput(map) => {
            if let Some(unknown) = map.keys().find(|k| !names.contains(k)) {
                return Err(BackendError::Load(format!(
                    "shape names input {unknown:?}, which the model does not have"
                )));
            }
            names.iter().map(|n| map.get(n).cloned()).collect()
        }
    };
    for (index, dims) in wanted.into_iter().enumerate() {
        let current = model.input_fact(index).map_err(load_err("input"))?.clone();
        let dims = match (dims, options.batch_size) {
            (Some(dims), _) => dims,
            (None, Some(batch)) => {
                let rank = current.shape.rank().concretize().map(|r| r as usize);
                let Some(rank) = rank.filter(|r| *r > 0) else {
                    return Err(BackendError::Load(format!(
                        "batch_size needs inputs of known rank; {} has none",
                        names[index]
                    )));
                };
                let mut dims: Vec<Dim> = current
                    .shape
                    .dims()
                    .map(|d| {
                        d.concretize()
                            .and_then(|d| d.to_i64().ok())
                            .map_or(Dim::Any, |n| Dim::Fixed(n as u64))
                    })
                    .collect();
                dims.resize(rank, Dim::Any);
                dims[0] = Dim::Fixed(batch);
                dims
            }
            (None, None) => {
                name_unknown_dims(model, index, &names[index])?;
                continue;
            }
        };
        let dt = current.datum_type.concretize().ok_or_else(|| {
            BackendError::Load(format!(
                "input {} has no known type, so its shape cannot be set",
                names[index]
            ))
        })?;
        let shape: TVec<TDim> = dims
            .iter()
            .enumerate()
            .map(|(axis, d)| match *d {
                Dim::Fixed(n) => TDim::from(i64::try_from(n).unwrap_or(i64::MAX)),
                Dim::Any | Dim::Range(..) => input_symbol(model, &names[index], axis),
            })
            .collect();
        model
            .set_input_fact(index, InferenceFact::dt_shape(dt, shape))
            .map_err(load_err("cannot set input shape"))?;
        applied[index] = Some(dims);
    }
    Ok(applied)
}

/// Gives each dimension of an input that its file leaves unknown (neither
/// `dim_value` nor `dim_param`, or `dim_param` `"?"`, as several exporters
/// write it) a symbol of its own, as ONNX Runtime and OpenVINO read such a
/// dimension; tract cannot plan a model whose inputs have undetermined
/// facts. Inputs of unknown rank or type are left as they are.
fn name_unknown_dims(
    model: &mut InferenceModel,
    index: usize,
    name: &str,
) -> Result<(), BackendError> {
    let current = model.input_fact(index).map_err(load_err("input"))?.clone();
    let Some(dt) = current.datum_type.concretize() else {
        return Ok(());
    };
    if current.shape.is_open() || current.shape.dims().all(|d| d.concretize().is_some()) {
        return Ok(());
    }
    let shape: TVec<TDim> = current
        .shape
        .dims()
        .enumerate()
        .map(|(axis, d)| {
            d.concretize()
                .unwrap_or_else(|| input_symbol(model, name, axis))
        })
        .collect();
    model
        .set_input_fact(index, InferenceFact::dt_shape(dt, shape))
        .map_err(load_err("cannot name the input's unknown dimensions"))
}

/// The symbol standing for a dynamic dimension of an input (`<input>_<axis>`).
fn input_symbol(model: &InferenceModel, input: &str, axis: usize) -> TDim {
    model
        .symbols
        .sym(&format!("{}_{axis}", sanitize(input)))
        .into()
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
