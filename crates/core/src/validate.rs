//! Every check a request passes before it reaches a backend.

use inferd_tensor::{Dim, Signature, Tensor, TensorError, TensorSpec, format_shape};

use crate::{ContentEncoding, InferInput, InferRequest, ValidationError};

/// A request that fits the model: inputs in signature order, checked.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// One tensor per model input, in the signature's order.
    pub inputs: Vec<Tensor>,
    /// Indices of the outputs to return, in the signature's order.
    pub outputs: Vec<usize>,
    /// The batch size: the first dimension of the inputs whose first
    /// dimension is variable in the model (all agree); `None` if none is.
    pub batch: Option<usize>,
}

/// Checks `request` against `signature`: input count, names, types, shapes and
/// content sizes, then the requested output names.
pub fn validate(
    signature: &Signature,
    request: InferRequest,
) -> Result<ValidRequest, ValidationError> {
    if request.inputs.len() != signature.inputs.len() {
        return Err(ValidationError::InputCount {
            expected: signature.inputs.len(),
            actual: request.inputs.len(),
        });
    }
    let mut slots: Vec<Option<InferInput>> = vec![None; signature.inputs.len()];
    for input in request.inputs {
        if let Some(index) = signature.input_index(&input.name) {
            slots[index] = Some(input);
        }
    }
    let inputs = signature
        .inputs
        .iter()
        .zip(slots)
        .map(|(spec, slot)| {
            let input = slot.ok_or_else(|| ValidationError::MissingInput(spec.name.clone()))?;
            check_input(spec, input)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = batch_size(signature, &inputs)?;
    let outputs = requested_outputs(signature, &request.outputs)?;
    Ok(ValidRequest {
        inputs,
        outputs,
        batch,
    })
}

/// The one batch size of a request: every input whose first dimension is
/// variable in the model must have the same first dimension, or the engine
/// would broadcast one over the other.
fn batch_size(signature: &Signature, inputs: &[Tensor]) -> Result<Option<usize>, ValidationError> {
    let mut first: Option<(&str, usize)> = None;
    for (spec, tensor) in signature.inputs.iter().zip(inputs) {
        if matches!(spec.shape.first(), None | Some(Dim::Fixed(_))) {
            continue;
        }
        let rows = tensor.shape()[0];
        match first {
            None => first = Some((&spec.name, rows)),
            Some((name, expected)) if expected != rows => {
                return Err(ValidationError::BatchMismatch {
                    first: name.to_string(),
                    expected,
                    name: spec.name.clone(),
                    actual: rows,
                });
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|(_, rows)| rows))
}

fn check_input(spec: &TensorSpec, input: InferInput) -> Result<Tensor, ValidationError> {
    if input.dtype != spec.dtype {
        return Err(ValidationError::Precision {
            name: input.name,
            expected: spec.dtype.to_string(),
            actual: input.dtype.to_string(),
        });
    }
    let shape = check_shape(spec, &input)?;
    let element_bytes = input.dtype.size_bytes().unwrap_or(1);
    Tensor::new(input.dtype, shape, input.data).map_err(|e| match e {
        TensorError::ByteSize { expected, actual } if input.encoding == ContentEncoding::Values => {
            ValidationError::ValueCount {
                name: input.name.clone(),
                expected: expected / element_bytes,
                actual: actual / element_bytes,
            }
        }
        TensorError::ByteSize { expected, actual } => ValidationError::ContentSize {
            name: input.name.clone(),
            expected,
            actual,
        },
        TensorError::ElementCount { expected, actual } => ValidationError::ValueCount {
            name: input.name.clone(),
            expected,
            actual,
        },
        other => ValidationError::Content {
            name: input.name.clone(),
            message: other.to_string(),
        },
    })
}

fn check_shape(spec: &TensorSpec, input: &InferInput) -> Result<Vec<usize>, ValidationError> {
    let shape_error = || ValidationError::Shape {
        name: input.name.clone(),
        expected: format_shape(&spec.shape),
        actual: format_shape(&input.shape),
    };
    let dims: Vec<usize> = input
        .shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| shape_error()))
        .collect::<Result<_, _>>()?;
    if dims.len() != spec.shape.len() {
        return Err(shape_error());
    }
    let mismatched: Vec<usize> = spec
        .shape
        .iter()
        .zip(&dims)
        .enumerate()
        .filter(|(_, (want, have))| !want.accepts(**have as u64))
        .map(|(axis, _)| axis)
        .collect();
    match mismatched.as_slice() {
        [] => Ok(dims),
        [0] if dims.len() > 1 => Err(ValidationError::BatchSize {
            name: input.name.clone(),
            expected: dim_text(spec.shape[0]),
            actual: dims[0].to_string(),
        }),
        _ => Err(shape_error()),
    }
}

fn dim_text(dim: Dim) -> String {
    dim.to_string()
}

fn requested_outputs(
    signature: &Signature,
    names: &[String],
) -> Result<Vec<usize>, ValidationError> {
    if names.is_empty() {
        return Ok((0..signature.outputs.len()).collect());
    }
    let mut indices = Vec::with_capacity(names.len());
    for name in names {
        let index = signature
            .output_index(name)
            .ok_or_else(|| ValidationError::UnknownOutput(name.clone()))?;
        if indices.contains(&index) {
            return Err(ValidationError::DuplicateOutput(name.clone()));
        }
        indices.push(index);
    }
    indices.sort_unstable();
    Ok(indices)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use inferd_tensor::{DataType, TensorData};

    use super::*;

    fn add_signature() -> Signature {
        let shape = vec![Dim::Any, Dim::Fixed(16)];
        Signature {
            inputs: vec![
                TensorSpec::new("a", DataType::F32, shape.clone()),
                TensorSpec::new("b", DataType::F32, shape.clone()),
            ],
            outputs: vec![
                TensorSpec::new("sum", DataType::F32, shape.clone()),
                TensorSpec::new("diff", DataType::F32, shape),
            ],
        }
    }

    fn fixed_signature() -> Signature {
        let shape = vec![Dim::Fixed(1), Dim::Fixed(4)];
        Signature {
            inputs: vec![TensorSpec::new("x", DataType::F32, shape.clone())],
            outputs: vec![TensorSpec::new("y", DataType::F32, shape)],
        }
    }

    fn f32_input(name: &str, shape: Vec<i64>, values: usize) -> InferInput {
        InferInput {
            name: name.into(),
            dtype: DataType::F32,
            shape,
            data: TensorData::Raw(Bytes::from(vec![0u8; values * 4])),
            encoding: ContentEncoding::Raw,
            parameters: Default::default(),
        }
    }

    fn request(inputs: Vec<InferInput>) -> InferRequest {
        InferRequest {
            inputs,
            outputs: vec![],
            ..Default::default()
        }
    }

    fn message(sig: &Signature, req: InferRequest) -> String {
        validate(sig, req).unwrap_err().to_string()
    }

    #[test]
    fn valid_request_is_put_in_signature_order() {
        let req = request(vec![
            f32_input("b", vec![2, 16], 32),
            f32_input("a", vec![2, 16], 32),
        ]);
        let valid = validate(&add_signature(), req).unwrap();
        assert_eq!(valid.inputs.len(), 2);
        assert_eq!(valid.inputs[0].shape(), &[2, 16]);
        assert_eq!(valid.outputs, vec![0, 1]);
    }

    #[test]
    fn ovms_messages() {
        let sig = add_signature();
        assert_eq!(
            message(&sig, request(vec![f32_input("a", vec![1, 16], 16)])),
            "Invalid number of inputs - Expected: 2; Actual: 1"
        );
        assert_eq!(
            message(
                &sig,
                request(vec![
                    f32_input("a", vec![1, 16], 16),
                    f32_input("c", vec![1, 16], 16)
                ])
            ),
            "Missing input with specific name - Required input: b"
        );
        let mut wrong_type = f32_input("b", vec![1, 16], 16);
        wrong_type.dtype = DataType::I64;
        wrong_type.data = TensorData::Raw(Bytes::from(vec![0u8; 128]));
        assert_eq!(
            message(
                &sig,
                request(vec![f32_input("a", vec![1, 16], 16), wrong_type])
            ),
            "Invalid input precision - Expected: FP32; Actual: INT64; input name: b"
        );
        assert_eq!(
            message(
                &sig,
                request(vec![
                    f32_input("a", vec![1, 15], 15),
                    f32_input("b", vec![1, 16], 16)
                ])
            ),
            "Invalid input shape - Expected: (-1,16); Actual: (1,15); input name: a"
        );
        assert_eq!(
            message(
                &sig,
                request(vec![
                    f32_input("a", vec![16], 16),
                    f32_input("b", vec![1, 16], 16)
                ])
            ),
            "Invalid input shape - Expected: (-1,16); Actual: (16); input name: a"
        );
        assert_eq!(
            message(
                &sig,
                request(vec![
                    f32_input("a", vec![2, 16], 31),
                    f32_input("b", vec![2, 16], 32)
                ])
            ),
            "Invalid content size of tensor proto - Expected: 128 bytes; Actual: 124 bytes; input name: a"
        );
    }

    #[test]
    fn inputs_must_agree_on_the_batch_size() {
        let sig = add_signature();
        let msg = message(
            &sig,
            request(vec![
                f32_input("a", vec![1, 16], 16),
                f32_input("b", vec![2, 16], 32),
            ]),
        );
        assert_eq!(
            msg,
            "Invalid input batch size - Expected: 1 as in input a; Actual: 2; input name: b"
        );
        let valid = validate(
            &sig,
            request(vec![
                f32_input("a", vec![3, 16], 48),
                f32_input("b", vec![3, 16], 48),
            ]),
        )
        .unwrap();
        assert_eq!(valid.batch, Some(3));
        let fixed = validate(
            &fixed_signature(),
            request(vec![f32_input("x", vec![1, 4], 4)]),
        );
        assert_eq!(fixed.unwrap().batch, None);
    }

    #[test]
    fn batch_mismatch_is_reported_as_batch() {
        let msg = message(
            &fixed_signature(),
            request(vec![f32_input("x", vec![2, 4], 8)]),
        );
        assert_eq!(
            msg,
            "Invalid input batch size - Expected: 1; Actual: 2; input name: x"
        );
        let msg = message(
            &fixed_signature(),
            request(vec![f32_input("x", vec![2, 5], 10)]),
        );
        assert_eq!(
            msg,
            "Invalid input shape - Expected: (1,4); Actual: (2,5); input name: x"
        );
    }

    #[test]
    fn values_count_is_reported_in_values() {
        let mut input = f32_input("x", vec![1, 4], 3);
        input.encoding = ContentEncoding::Values;
        let msg = message(&fixed_signature(), request(vec![input]));
        assert_eq!(
            msg,
            "Invalid number of values in tensor proto container - Expected: 4; Actual: 3; input name: x"
        );
    }

    #[test]
    fn negative_dims_are_refused() {
        let msg = message(
            &fixed_signature(),
            request(vec![f32_input("x", vec![-1, 4], 4)]),
        );
        assert!(msg.starts_with("Invalid input shape"), "{msg}");
    }

    #[test]
    fn ranges_are_enforced() {
        let sig = Signature {
            inputs: vec![TensorSpec::new("x", DataType::F32, vec![Dim::Range(1, 4)])],
            outputs: vec![TensorSpec::new("y", DataType::F32, vec![Dim::Any])],
        };
        assert!(validate(&sig, request(vec![f32_input("x", vec![4], 4)])).is_ok());
        assert!(validate(&sig, request(vec![f32_input("x", vec![5], 5)])).is_err());
    }

    #[test]
    fn strings_count_is_checked() {
        let sig = Signature {
            inputs: vec![TensorSpec::new("s", DataType::Bytes, vec![Dim::Any])],
            outputs: vec![TensorSpec::new("o", DataType::Bytes, vec![Dim::Any])],
        };
        let input = InferInput {
            name: "s".into(),
            dtype: DataType::Bytes,
            shape: vec![3],
            data: TensorData::Strings(vec![Bytes::from_static(b"x")]),
            encoding: ContentEncoding::Values,
            parameters: Default::default(),
        };
        assert_eq!(
            message(&sig, request(vec![input])),
            "Invalid number of values in tensor proto container - Expected: 3; Actual: 1; input name: s"
        );
    }

    #[test]
    fn requested_outputs_are_checked_and_ordered() {
        let sig = add_signature();
        let mut req = request(vec![
            f32_input("a", vec![1, 16], 16),
            f32_input("b", vec![1, 16], 16),
        ]);
        req.outputs = vec!["diff".into(), "sum".into()];
        assert_eq!(validate(&sig, req.clone()).unwrap().outputs, vec![0, 1]);
        req.outputs = vec!["diff".into(), "sum".into(), "diff".into()];
        assert_eq!(
            validate(&sig, req.clone()).unwrap_err().to_string(),
            "Invalid output name - Requested output: diff is requested more than once"
        );
        req.outputs = vec!["prod".into()];
        assert_eq!(
            validate(&sig, req).unwrap_err().to_string(),
            "Invalid output name - Requested output: prod is not an output of the model"
        );
    }
}
