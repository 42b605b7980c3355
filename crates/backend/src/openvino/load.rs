//! Reading a model with OpenVINO and applying the load-time options: which
//! file, layouts, shapes, batch size, device and compile properties.

use std::path::PathBuf;

use inferd_tensor::{Dim, Signature, TensorSpec};

use super::graph::{InputSteps, Model, PortInfo};
use super::ov::CompiledModel;
use super::runtime::Runtime;
use super::types::{STRING, data_type, dim, dimension, type_name};
use crate::saved_model::{
    self, DEFAULT_SIGNATURE, SAVED_MODEL_FILE, SavedSignature, SignatureCopy,
};
use crate::{BackendError, InputShapes, ModelFiles, ModelOptions};

/// The file OpenVINO reads: a path, plus the weights for IR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    pub path: PathBuf,
    pub weights: Option<PathBuf>,
}

/// Picks the model file like OVMS does: IR (`.xml` + `.bin`), ONNX, TF
/// SavedModel (`saved_model.pb`, read as its folder), TFLite, PaddlePaddle,
/// then a frozen TF graph (`.pb`). Within a kind, `model.<ext>` wins over
/// other names; several other candidates are an error. `Ok(None)`: none.
pub fn model_file(files: &ModelFiles) -> Result<Option<ModelFile>, BackendError> {
    let ir: Vec<PathBuf> = files
        .with_extension("xml")
        .filter(|xml| files.files.contains(&xml.with_extension("bin")))
        .cloned()
        .collect();
    if let Some(xml) = pick(files, ir, "model.xml", "OpenVINO IR (.xml)")? {
        let weights = Some(xml.with_extension("bin"));
        return Ok(Some(ModelFile { path: xml, weights }));
    }
    let is_saved_model = |p: &PathBuf| p.file_name().is_some_and(|n| n == "saved_model.pb");
    let saved: Vec<PathBuf> = files
        .files
        .iter()
        .filter(|p| is_saved_model(p))
        .filter_map(|p| p.parent().map(PathBuf::from))
        .collect();
    let kinds: [(Vec<PathBuf>, &str, &str); 5] = [
        (
            files.with_extension("onnx").cloned().collect(),
            "model.onnx",
            "ONNX (.onnx)",
        ),
        (saved, "", "TensorFlow SavedModel (saved_model.pb)"),
        (
            files.with_extension("tflite").cloned().collect(),
            "model.tflite",
            "TensorFlow Lite (.tflite)",
        ),
        (
            files.with_extension("pdmodel").cloned().collect(),
            "model.pdmodel",
            "PaddlePaddle (.pdmodel)",
        ),
        (
            files
                .with_extension("pb")
                .filter(|p| !is_saved_model(p))
                .cloned()
                .collect(),
            "model.pb",
            "frozen TensorFlow graph (.pb)",
        ),
    ];
    for (candidates, preferred, kind) in kinds {
        if let Some(path) = pick(files, candidates, preferred, kind)? {
            return Ok(Some(ModelFile {
                path,
                weights: None,
            }));
        }
    }
    Ok(None)
}

fn pick(
    files: &ModelFiles,
    candidates: Vec<PathBuf>,
    preferred: &str,
    kind: &str,
) -> Result<Option<PathBuf>, BackendError> {
    if let Some(named) = candidates
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == preferred))
    {
        return Ok(Some(named.clone()));
    }
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.into_iter().next()),
        _ => Err(BackendError::Load(format!(
            "several {kind} models in {}; keep one{}",
            files.dir.display(),
            if preferred.is_empty() {
                String::new()
            } else {
                format!(" or name it {preferred}")
            }
        ))),
    }
}

fn load_err(e: String) -> BackendError {
    BackendError::Load(e)
}

/// Reads, reshapes and compiles the model; returns it with its signature
/// and, for a SavedModel, the file's signatures.
pub fn compile(
    rt: &Runtime,
    files: &ModelFiles,
    options: &ModelOptions,
) -> Result<(CompiledModel, Signature, Vec<SavedSignature>), BackendError> {
    let file = model_file(files)?.ok_or_else(|| {
        BackendError::Unsupported(format!(
            "no model OpenVINO reads in {}",
            files.dir.display()
        ))
    })?;
    let properties = properties(options)?;
    let device = options
        .target_device
        .as_deref()
        .filter(|d| !d.is_empty())
        .unwrap_or("CPU");
    let core = rt.core();
    let saved = saved_model_signatures(&file, options)?;
    let mut model = match &saved {
        Some((_, name)) if name != DEFAULT_SIGNATURE => {
            // OpenVINO reads `serving_default` only: a copy holding the
            // chosen signature under that name is read instead.
            let copy = SignatureCopy::new(&file.path, name)?;
            core.read_model(copy.path(), None).map_err(|e| {
                // Name the model's folder, not the temporary copy.
                let copied = copy.path().display().to_string();
                e.replace(&copied, &file.path.display().to_string())
            })
        }
        _ => core.read_model(&file.path, file.weights.as_deref()),
    }
    .map_err(load_err)?;
    let output_names = names(&model.outputs().map_err(load_err)?, "output");
    let input_names = names(&model.inputs().map_err(load_err)?, "input");
    let steps = input_steps(options, &input_names, &output_names)?;
    if !steps.is_empty() {
        model = model.with_preprocessing(&steps).map_err(load_err)?;
    }
    reshape(&mut model, &input_names, options)?;
    let signature = Signature {
        inputs: specs(&model.inputs().map_err(load_err)?, "input")?,
        outputs: specs(&model.outputs().map_err(load_err)?, "output")?,
    };
    let compiled = core
        .compile(&model, device, &properties, false)
        .map_err(load_err)?;
    Ok((
        compiled,
        signature,
        saved.map(|(found, _)| found).unwrap_or_default(),
    ))
}

/// A SavedModel's signatures (`None` for other formats) and the one to
/// serve: [`ModelOptions::signature`], else the primary one. The list is
/// read for the primary load only (empty for a named signature).
fn saved_model_signatures(
    file: &ModelFile,
    options: &ModelOptions,
) -> Result<Option<(Vec<SavedSignature>, String)>, BackendError> {
    if !file.path.join(SAVED_MODEL_FILE).is_file() {
        return match &options.signature {
            Some(name) => Err(BackendError::Load(format!(
                "signature {name:?} asked of a model that is not a SavedModel"
            ))),
            None => Ok(None),
        };
    }
    if let Some(name) = &options.signature {
        // Named after the primary load listed the signatures: the list is
        // not read again (the copy checks the name).
        return Ok(Some((Vec::new(), name.clone())));
    }
    let found = saved_model::signatures(&file.path)?;
    let Some(wanted) = saved_model::primary(&found).map(|s| s.name.clone()) else {
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        return Err(BackendError::Load(format!(
            "the SavedModel has no signature to serve; it has {names:?}"
        )));
    };
    Ok(Some((found, wanted)))
}

/// `plugin_config` as compile properties, plus `CACHE_DIR` from `cache_dir`
/// (an explicit `plugin_config` `CACHE_DIR` wins).
pub fn properties(options: &ModelOptions) -> Result<Vec<(String, String)>, BackendError> {
    let mut properties: Vec<(String, String)> = options
        .plugin_config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(dir) = &options.cache_dir
        && !options.plugin_config.contains_key("CACHE_DIR")
    {
        let dir = dir.to_str().ok_or_else(|| {
            BackendError::Load(format!("cache_dir {} is not UTF-8", dir.display()))
        })?;
        properties.push(("CACHE_DIR".into(), dir.into()));
    }
    Ok(properties)
}

fn names(ports: &[PortInfo], kind: &str) -> Vec<String> {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| p.name.clone().unwrap_or_else(|| format!("{kind}_{i}")))
        .collect()
}

fn input_index(names: &[String], key: &str, option: &str) -> Result<usize, BackendError> {
    if key.is_empty() {
        return match names.len() {
            1 => Ok(0),
            n => Err(BackendError::Load(format!(
                "{option} without an input name needs a model with one input; this one has {n}"
            ))),
        };
    }
    names.iter().position(|n| n == key).ok_or_else(|| {
        BackendError::Load(format!(
            "{option} names input {key:?}, which the model does not have"
        ))
    })
}

/// Each input's layouts and pre-processing: `layouts` holds `"NHWC:NCHW"`
/// (clients send NHWC, the model takes NCHW) or a plain model layout such as
/// `"NCHW"`; key `""` is the only input.
fn input_steps(
    options: &ModelOptions,
    inputs: &[String],
    outputs: &[String],
) -> Result<Vec<InputSteps>, BackendError> {
    let mut steps: Vec<InputSteps> = Vec::new();
    let mut entry = |key: &str, option: &str| -> Result<usize, BackendError> {
        if !key.is_empty() && !inputs.iter().any(|n| n == key) && outputs.iter().any(|n| n == key) {
            return Err(BackendError::Unsupported(format!(
                "{option} for output {key:?}: OpenVINO's C API sets it on inputs only"
            )));
        }
        let index = input_index(inputs, key, option)?;
        Ok(match steps.iter().position(|s| s.index == index) {
            Some(at) => at,
            None => {
                steps.push(InputSteps {
                    index,
                    ..InputSteps::default()
                });
                steps.len() - 1
            }
        })
    };
    let mut placed = Vec::new();
    for (key, value) in &options.layouts {
        let (tensor, model) = match value.split_once(':') {
            Some((tensor, model)) => (Some(tensor.to_string()), model.to_string()),
            None => (None, value.clone()),
        };
        placed.push((entry(key, "layout")?, Some((tensor, model)), None));
    }
    for (key, pre) in &options.preprocessing {
        placed.push((entry(key, "pre-processing")?, None, Some(pre.clone())));
    }
    for (at, layouts, pre) in placed {
        let step = &mut steps[at];
        if let Some((tensor, model)) = layouts {
            step.tensor_layout = tensor;
            step.model_layout = Some(model);
        }
        if let Some(pre) = pre {
            step.reverse_channels = pre.reverse_channels;
            step.mean = pre.mean;
            step.scale = pre.scale;
        }
    }
    Ok(steps)
}

/// Applies `shapes` and `batch_size` (the first dimension of every input
/// without a configured shape). Shapes are in the layout clients send.
fn reshape(
    model: &mut Model,
    names: &[String],
    options: &ModelOptions,
) -> Result<(), BackendError> {
    let mut wanted: Vec<(usize, Vec<Dim>)> = match &options.shapes {
        InputShapes::Model => Vec::new(),
        InputShapes::Single(dims) => vec![(input_index(names, "", "shape")?, dims.clone())],
        InputShapes::PerInput(map) => map
            .iter()
            .map(|(name, dims)| Ok((input_index(names, name, "shape")?, dims.clone())))
            .collect::<Result<_, BackendError>>()?,
    };
    if let Some(batch) = options.batch_size {
        let ports = model.inputs().map_err(load_err)?;
        for (index, port) in ports.iter().enumerate() {
            if wanted.iter().any(|(i, _)| *i == index) {
                continue;
            }
            let mut dims: Vec<Dim> = match &port.shape {
                Some(shape) if !shape.is_empty() => shape.iter().map(|d| dim(*d)).collect(),
                _ => {
                    return Err(BackendError::Load(format!(
                        "batch_size needs inputs of known rank; {} has none",
                        names[index]
                    )));
                }
            };
            dims[0] = Dim::Fixed(batch);
            wanted.push((index, dims));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let shapes = wanted
        .into_iter()
        .map(|(index, dims)| {
            Ok((
                index,
                dims.iter()
                    .map(|d| dimension(*d))
                    .collect::<Result<_, _>>()?,
            ))
        })
        .collect::<Result<Vec<_>, BackendError>>()?;
    model.reshape(&shapes).map_err(load_err)
}

fn specs(ports: &[PortInfo], kind: &str) -> Result<Vec<TensorSpec>, BackendError> {
    let names = names(ports, kind);
    ports
        .iter()
        .zip(names)
        .map(|(port, name)| {
            if port.element_type == STRING {
                // OpenVINO's C API can build string tensors but has no call to
                // read them back, and OpenVINO 2026.4's CPU plugin corrupts the
                // heap running Identity on a string input (the process aborts
                // after a few inferences): string models are left to the other
                // backends.
                return Err(BackendError::Unsupported(format!(
                    "{kind} {name} is a string (BYTES) tensor, which the OpenVINO backend does not serve"
                )));
            }
            let dtype = data_type(port.element_type).ok_or_else(|| {
                BackendError::Unsupported(format!(
                    "{kind} {name} has OpenVINO type {}, which inferd cannot serve",
                    type_name(port.element_type)
                ))
            })?;
            let shape = port.shape.as_ref().ok_or_else(|| {
                BackendError::Load(format!("{kind} {name} has a dynamic rank; give it a shape with the shape option"))
            })?;
            Ok(TensorSpec { name, dtype, shape: shape.iter().map(|d| dim(*d)).collect() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_becomes_a_property_unless_set_explicitly() {
        let mut options = ModelOptions {
            cache_dir: Some("/tmp/c".into()),
            ..Default::default()
        };
        options
            .plugin_config
            .insert("NUM_STREAMS".into(), "2".into());
        let props = properties(&options).unwrap();
        assert_eq!(
            props,
            [
                ("NUM_STREAMS".into(), "2".into()),
                ("CACHE_DIR".into(), "/tmp/c".into())
            ]
        );
        options
            .plugin_config
            .insert("CACHE_DIR".into(), "/elsewhere".into());
        assert!(
            !properties(&options)
                .unwrap()
                .iter()
                .any(|(_, v)| v == "/tmp/c")
        );
    }
}
