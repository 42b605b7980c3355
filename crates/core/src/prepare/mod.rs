//! What happens to a request's inputs between the wire and the engine:
//! encoded images decoded ([`images`]), then validation against the inputs
//! as clients see them, then — for engines that do not do it themselves —
//! `color_format`/`mean`/`scale` ([`normalize`]) and the layout conversion
//! ([`layout`]), each input transposed once into the buffer the engine gets.

mod images;
mod layout;
mod normalize;
mod reshape;

use std::collections::BTreeMap;

use inferd_backend::{InputPreprocessing, ModelOptions};
use inferd_repository::ExpectedSignature;
use inferd_tensor::{DataType, Dim, Signature, Tensor, TensorData};

use crate::{InferRequest, ValidRequest, ValidationError, validate};
use images::{ImageInput, decode_images, image_input};
use layout::{InputLayout, inverse, permutation, permute, transpose};
use normalize::Normalize;

/// One input's steps.
#[derive(Debug, Clone, Default)]
struct InputSteps {
    images: Option<ImageInput>,
    normalize: Option<Normalize>,
    /// Client axes in the model's order (see [`layout::permutation`]).
    transpose: Option<Vec<usize>>,
    /// The model's full shape where clients send another (Triton's reshape).
    reshape: Option<Vec<i64>>,
}

/// A version's input preparation, fixed when it is loaded.
#[derive(Debug, Clone)]
pub struct InputPlan {
    client: Signature,
    /// Each input's layout as clients send it, where one is set.
    layouts: Vec<Option<String>>,
    inputs: Vec<InputSteps>,
    /// Each output's full shape as clients get it, where the model's differs.
    outputs: Vec<Option<Vec<i64>>>,
    threads: usize,
}

/// The value of `map` for input `name` (key `""` stands for the only input).
fn setting_for<'m, T>(
    map: &'m BTreeMap<String, T>,
    option: &str,
    signature: &Signature,
) -> Result<Vec<Option<&'m T>>, String> {
    let mut found = vec![None; signature.inputs.len()];
    for (key, value) in map {
        let index = if key.is_empty() {
            if signature.inputs.len() != 1 {
                return Err(format!(
                    "{option} without an input name needs a model with one input; this one has {}",
                    signature.inputs.len()
                ));
            }
            0
        } else {
            signature.input_index(key).ok_or_else(|| {
                format!("{option} names input {key:?}, which the model does not have")
            })?
        };
        found[index] = Some(value);
    }
    Ok(found)
}

impl InputPlan {
    /// Inputs passed to the engine as they arrive (no images, no steps).
    pub fn identity(signature: Signature) -> Self {
        let inputs = vec![InputSteps::default(); signature.inputs.len()];
        InputPlan {
            layouts: vec![None; signature.inputs.len()],
            outputs: vec![None; signature.outputs.len()],
            client: signature,
            inputs,
            threads: 1,
        }
    }

    /// The plan for a model loaded with `options` whose engine has
    /// `engine` as its signature; `engine_applies` when the engine did the
    /// layout conversions and pre-processing itself (OpenVINO).
    pub fn new(
        engine: &Signature,
        options: &ModelOptions,
        engine_applies: bool,
    ) -> Result<Self, String> {
        let layouts = setting_for(&options.layouts, "layout", engine)?;
        let preprocessing = setting_for(&options.preprocessing, "pre-processing", engine)?;
        let none = InputPreprocessing::default();
        let mut client = engine.clone();
        let mut inputs = Vec::with_capacity(engine.inputs.len());
        let mut client_layouts = Vec::with_capacity(engine.inputs.len());
        for (index, spec) in client.inputs.iter_mut().enumerate() {
            let layout =
                layouts[index].map_or_else(InputLayout::default, |l| InputLayout::parse(l));
            client_layouts.push(layout.client.clone());
            let mut steps = InputSteps::default();
            if !engine_applies {
                if let Some((from, to)) = layout.conversion() {
                    let perm = permutation(from, to, spec.shape.len())
                        .map_err(|e| format!("input {}: {e}", spec.name))?;
                    spec.shape = permute(&spec.shape, &inverse(&perm));
                    steps.transpose = Some(perm);
                }
                let pre = preprocessing[index].unwrap_or(&none);
                steps.normalize = Normalize::new(pre, spec, &layout)?;
            }
            steps.images = image_input(spec, &layout);
            inputs.push(steps);
        }
        Ok(InputPlan {
            outputs: vec![None; client.outputs.len()],
            client,
            layouts: client_layouts,
            inputs,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Applies Triton's `reshape`s of `expected`: clients send and get
    /// each such tensor in its declared dims, the model has its own shape.
    pub fn with_reshapes(mut self, expected: &ExpectedSignature) -> Result<Self, String> {
        for tensor in expected.inputs.iter().filter(|t| t.model_shape.is_some()) {
            let Some(index) = self.client.input_index(&tensor.name) else {
                continue;
            };
            let steps = &mut self.inputs[index];
            if steps.transpose.is_some() || steps.normalize.is_some() {
                return Err(format!(
                    "input '{}': a reshape and a layout or pre-processing on one input",
                    tensor.name
                ));
            }
            // Encoded images are decoded to the model's shape: not reshaped ones.
            steps.images = None;
            steps.reshape = Some(tensor.model_shape().to_vec());
            self.client.inputs[index].shape = dims(&tensor.shape);
        }
        for tensor in expected.outputs.iter().filter(|t| t.model_shape.is_some()) {
            if let Some(index) = self.client.output_index(&tensor.name) {
                self.outputs[index] = Some(tensor.shape.clone());
                self.client.outputs[index].shape = dims(&tensor.shape);
            }
        }
        Ok(self)
    }

    /// Output `index` of the model as clients get it.
    pub fn client_output(&self, index: usize, tensor: Tensor) -> Result<Tensor, String> {
        match self.outputs.get(index).and_then(Option::as_ref) {
            None => Ok(tensor),
            Some(shape) => {
                let had = tensor.shape().to_vec();
                reshape::reshaped(tensor, shape).ok_or_else(|| {
                    format!("output {index} of shape {had:?} does not reshape to {shape:?}")
                })
            }
        }
    }

    /// The inputs and outputs as clients see them (the effective shapes).
    pub fn signature(&self) -> &Signature {
        &self.client
    }

    /// One line per input as clients see it (OVMS logs the same at load):
    /// name, shape, precision and layout (`N...` when none is set).
    pub fn describe_inputs(&self) -> Vec<String> {
        self.client
            .inputs
            .iter()
            .zip(&self.layouts)
            .zip(&self.inputs)
            .map(|((spec, layout), steps)| {
                let images = match steps.images {
                    Some(ImageInput::Takes(_)) => "; takes JPEG/PNG",
                    _ => "",
                };
                format!(
                    "Input name: {}; shape: {}; precision: {}; layout: {}{images}",
                    spec.name,
                    inferd_tensor::format_shape(&spec.shape),
                    spec.dtype,
                    layout.as_deref().unwrap_or("N...")
                )
            })
            .collect()
    }

    /// Whether a layout conversion moves the first (batch) axis.
    pub fn moves_batch_axis(&self) -> bool {
        self.inputs
            .iter()
            .any(|s| s.transpose.as_ref().is_some_and(|p| p.first() != Some(&0)))
    }

    /// Whether tensors are changed on their way to the engine.
    pub fn transforms(&self) -> bool {
        self.inputs
            .iter()
            .any(|s| s.normalize.is_some() || s.transpose.is_some() || s.reshape.is_some())
    }

    /// How `request` is prepared: `None` when the plan has nothing to do for
    /// it (plain validation), `Some(true)` when on a blocking thread
    /// (images to decode, or over 64 KiB to transform), `Some(false)` in place.
    pub fn work_for(&self, request: &InferRequest) -> Option<bool> {
        const IN_PLACE_BYTES: usize = 64 * 1024;
        if self.has_images(request) {
            return Some(true);
        }
        if !self.transforms() {
            return None;
        }
        let bytes: usize = request
            .inputs
            .iter()
            .map(|input| match &input.data {
                TensorData::Raw(raw) => raw.len(),
                TensorData::Strings(items) => items.iter().map(|s| s.len()).sum(),
            })
            .sum();
        Some(bytes > IN_PLACE_BYTES)
    }

    /// Whether `request` sends encoded images (`BYTES` to a numeric input).
    pub fn has_images(&self, request: &InferRequest) -> bool {
        request.inputs.iter().any(|input| {
            input.dtype == DataType::Bytes
                && self
                    .client
                    .input_index(&input.name)
                    .is_some_and(|i| self.inputs[i].images.is_some())
        })
    }

    /// Decodes the request's images, validates it against the client-side
    /// signature and turns its tensors into what the engine takes.
    pub fn prepare(&self, mut request: InferRequest) -> Result<ValidRequest, ValidationError> {
        request.inputs = std::mem::take(&mut request.inputs)
            .into_iter()
            .map(|input| self.decoded(input))
            .collect::<Result<_, _>>()?;
        let mut valid = validate(&self.client, request)?;
        valid.inputs = std::mem::take(&mut valid.inputs)
            .into_iter()
            .zip(&self.inputs)
            .map(|(tensor, steps)| {
                let tensor = match &steps.reshape {
                    // Validation checked the client's shape; the load, the
                    // elements of both shapes.
                    Some(shape) => reshape::reshaped(tensor.clone(), shape).unwrap_or(tensor),
                    None => tensor,
                };
                let tensor = match &steps.normalize {
                    Some(normalize) => normalize.apply(tensor),
                    None => tensor,
                };
                match &steps.transpose {
                    Some(perm) => transposed(&tensor, perm),
                    None => tensor,
                }
            })
            .collect();
        Ok(valid)
    }

    /// `input` with its encoded images decoded, when it is `BYTES` sent to
    /// an input that takes images; as it came otherwise.
    fn decoded(&self, input: crate::InferInput) -> Result<crate::InferInput, ValidationError> {
        let steps = self
            .client
            .input_index(&input.name)
            .filter(|_| input.dtype == DataType::Bytes)
            .map(|index| &self.inputs[index].images);
        match steps {
            Some(Some(ImageInput::Takes(target))) => decode_images(input, target, self.threads),
            Some(Some(ImageInput::Refuses(why))) => Err(ValidationError::BinaryInput {
                name: input.name,
                message: why.clone(),
            }),
            _ => Ok(input),
        }
    }
}

fn transposed(tensor: &Tensor, perm: &[usize]) -> Tensor {
    let TensorData::Raw(bytes) = tensor.data() else {
        return tensor.clone();
    };
    let element = tensor.dtype().size_bytes().unwrap_or(1);
    let data = transpose(bytes, tensor.shape(), element, perm);
    Tensor::new(
        tensor.dtype(),
        permute(tensor.shape(), perm),
        TensorData::Raw(data.into()),
    )
    .unwrap_or_else(|_| tensor.clone())
}

/// A full shape (-1 variable) as signature dimensions.
fn dims(shape: &[i64]) -> Vec<Dim> {
    shape
        .iter()
        .map(|&d| u64::try_from(d).map_or(Dim::Any, Dim::Fixed))
        .collect()
}
