//! Implicit state: which model inputs are fed, per sequence, from which
//! model outputs of the previous request; which inputs the server fills
//! with the sequence's signals (Triton's control inputs); what clients see
//! (the model's signature without either); and the tensors a sequence
//! starts with.

use bytes::Bytes;
use inferd_repository::{ControlInput, ControlKind, StateConfig};

use crate::SequenceId;
use inferd_tensor::{DataType, Dim, Signature, Tensor, TensorData};

/// The implicit states of a model and the signature clients see.
#[derive(Debug)]
pub struct StatePlan {
    /// Per state: model input index, model output index.
    pairs: Vec<(usize, usize)>,
    /// The tensors every sequence starts with, one per pair.
    initial: Vec<Tensor>,
    /// The control inputs: model input index, signal, type, shape, values.
    controls: Vec<Control>,
    /// The model's inputs clients send, as model input indices.
    client_inputs: Vec<usize>,
    /// The model's outputs clients get, as model output indices.
    client_outputs: Vec<usize>,
    model_inputs: usize,
    client: Signature,
}

/// One control input, resolved against the model.
#[derive(Debug)]
struct Control {
    input: usize,
    kind: ControlKind,
    dtype: DataType,
    dims: Vec<usize>,
    false_true: [f64; 2],
}

/// What a request tells the model's control inputs.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    /// The sequence's first request.
    pub start: bool,
    /// Its last request.
    pub end: bool,
    /// The sequence's id.
    pub id: &'a SequenceId,
}

impl StatePlan {
    /// The plan for `model`'s signature, its `states` and its `controls`.
    pub fn new(
        model: &Signature,
        states: &[StateConfig],
        controls: &[ControlInput],
    ) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut initial = Vec::new();
        for state in states {
            let input = model.input_index(&state.input_name).ok_or_else(|| {
                format!(
                    "sequence_batching.state: the model has no input {:?}",
                    state.input_name
                )
            })?;
            let output = model.output_index(&state.output_name).ok_or_else(|| {
                format!(
                    "sequence_batching.state: the model has no output {:?}",
                    state.output_name
                )
            })?;
            let spec = &model.inputs[input];
            if model.outputs[output].dtype != spec.dtype {
                return Err(format!(
                    "sequence_batching.state: output {:?} is {}, input {:?} is {}",
                    state.output_name,
                    model.outputs[output].dtype.name(),
                    state.input_name,
                    spec.dtype.name()
                ));
            }
            let dims: Vec<usize> = match &state.dims {
                Some(dims) => dims.iter().map(|&d| d as usize).collect(),
                None => spec
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => Ok(*n as usize),
                        _ => Err(format!(
                            "sequence_batching.state {:?}: the input's shape is dynamic; give dims",
                            state.input_name
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            };
            let value = state.initial_value.unwrap_or(0.0);
            initial.push(filled(spec.dtype, dims, value).ok_or_else(|| {
                format!(
                    "sequence_batching.state {:?}: {} cannot hold an implicit state",
                    state.input_name,
                    spec.dtype.name()
                )
            })?);
            pairs.push((input, output));
        }
        let controls = controls
            .iter()
            .map(|control| resolve_control(model, control))
            .collect::<Result<Vec<_>, _>>()?;
        let client_inputs: Vec<usize> = (0..model.inputs.len())
            .filter(|i| !pairs.iter().any(|p| p.0 == *i))
            .filter(|i| !controls.iter().any(|c| c.input == *i))
            .collect();
        let client_outputs: Vec<usize> = (0..model.outputs.len())
            .filter(|i| !pairs.iter().any(|p| p.1 == *i))
            .collect();
        let client = Signature {
            inputs: client_inputs
                .iter()
                .map(|&i| model.inputs[i].clone())
                .collect(),
            outputs: client_outputs
                .iter()
                .map(|&i| model.outputs[i].clone())
                .collect(),
        };
        Ok(StatePlan {
            pairs,
            initial,
            controls,
            client_inputs,
            client_outputs,
            model_inputs: model.inputs.len(),
            client,
        })
    }

    /// How many implicit state pairs there are.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// What clients send and receive.
    pub fn client_signature(&self) -> &Signature {
        &self.client
    }

    /// The states a sequence starts with.
    pub fn initial(&self) -> Vec<Tensor> {
        self.initial.clone()
    }

    /// The model's inputs: the client's, with the sequence's states and
    /// this request's signals in place.
    pub fn inputs(&self, client: Vec<Tensor>, states: &[Tensor], signals: Signals) -> Vec<Tensor> {
        let mut inputs: Vec<Option<Tensor>> = vec![None; self.model_inputs];
        for (index, tensor) in self.client_inputs.iter().zip(client) {
            inputs[*index] = Some(tensor);
        }
        for ((input, _), state) in self.pairs.iter().zip(states) {
            inputs[*input] = Some(state.clone());
        }
        for control in &self.controls {
            inputs[control.input] = control.tensor(signals);
        }
        inputs.into_iter().flatten().collect()
    }

    /// The model's outputs split into the client's and the next states.
    pub fn outputs(&self, model: Vec<Tensor>) -> (Vec<Tensor>, Vec<Tensor>) {
        let mut model: Vec<Option<Tensor>> = model.into_iter().map(Some).collect();
        let states = self
            .pairs
            .iter()
            .filter_map(|(_, output)| model.get(*output).cloned().flatten())
            .collect();
        let client = self
            .client_outputs
            .iter()
            .filter_map(|&i| model.get_mut(i).and_then(Option::take))
            .collect();
        (client, states)
    }
}

/// `control` against the model: its input, whose type must be the
/// control's; dynamic dimensions of the input are 1.
fn resolve_control(model: &Signature, control: &ControlInput) -> Result<Control, String> {
    let input = model.input_index(&control.name).ok_or_else(|| {
        format!(
            "sequence_batching.control_input: the model has no input {:?}",
            control.name
        )
    })?;
    let spec = &model.inputs[input];
    if spec.dtype.name() != control.datatype {
        return Err(format!(
            "sequence_batching.control_input {:?}: the model's input is {}, the control {}",
            control.name,
            spec.dtype.name(),
            control.datatype
        ));
    }
    let dims = spec
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n as usize,
            _ => 1,
        })
        .collect();
    Ok(Control {
        input,
        kind: control.kind,
        dtype: spec.dtype,
        dims,
        false_true: control.false_true,
    })
}

impl Control {
    /// The input's tensor for a request with `signals`.
    fn tensor(&self, signals: Signals) -> Option<Tensor> {
        let on = match self.kind {
            ControlKind::Start => signals.start,
            ControlKind::End => signals.end,
            ControlKind::Ready => true,
            ControlKind::CorrelationId => return self.correlation_id(signals.id),
        };
        filled(
            self.dtype,
            self.dims.clone(),
            self.false_true[usize::from(on)],
        )
    }

    /// The sequence's id in every element: its text for `BYTES`, else the
    /// number (a text id has none: 0).
    fn correlation_id(&self, id: &SequenceId) -> Option<Tensor> {
        let count: usize = self.dims.iter().product();
        if self.dtype == DataType::Bytes {
            let text = match id {
                SequenceId::Number(n) => Bytes::from(n.to_string()),
                SequenceId::Text(text) => Bytes::from(text.clone()),
            };
            let data = TensorData::Strings(vec![text; count]);
            return Tensor::new(self.dtype, self.dims.clone(), data).ok();
        }
        let number = match id {
            SequenceId::Number(n) => *n,
            SequenceId::Text(_) => 0,
        };
        let one: Vec<u8> = match self.dtype {
            DataType::U64 => number.to_le_bytes().to_vec(),
            DataType::I64 => (number as i64).to_le_bytes().to_vec(),
            DataType::U32 => (number as u32).to_le_bytes().to_vec(),
            DataType::I32 => (number as i32).to_le_bytes().to_vec(),
            _ => return filled(self.dtype, self.dims.clone(), number as f64),
        };
        let data = Bytes::from(one.repeat(count));
        Tensor::new(self.dtype, self.dims.clone(), TensorData::Raw(data)).ok()
    }
}

/// A tensor of `dims` with `value` in every element; `None` for types that
/// hold no numbers.
fn filled(dtype: DataType, dims: Vec<usize>, value: f64) -> Option<Tensor> {
    let count: usize = dims.iter().product();
    let one: Vec<u8> = match dtype {
        DataType::F32 => (value as f32).to_le_bytes().to_vec(),
        DataType::F64 => value.to_le_bytes().to_vec(),
        // FP16 and BF16 states start at zero only.
        DataType::F16 | DataType::BF16 if value == 0.0 => vec![0, 0],
        DataType::I8 => (value as i8).to_le_bytes().to_vec(),
        DataType::I16 => (value as i16).to_le_bytes().to_vec(),
        DataType::I32 => (value as i32).to_le_bytes().to_vec(),
        DataType::I64 => (value as i64).to_le_bytes().to_vec(),
        DataType::U8 => (value as u8).to_le_bytes().to_vec(),
        DataType::U16 => (value as u16).to_le_bytes().to_vec(),
        DataType::U32 => (value as u32).to_le_bytes().to_vec(),
        DataType::U64 => (value as u64).to_le_bytes().to_vec(),
        DataType::Bool => vec![u8::from(value != 0.0)],
        DataType::F16 | DataType::BF16 | DataType::Bytes => return None,
    };
    let data: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * count)
        .collect();
    Tensor::new(dtype, dims, TensorData::Raw(Bytes::from(data))).ok()
}
