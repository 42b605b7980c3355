//! Triton's raw binary request: `Inference-Header-Content-Length: 0` and the
//! whole body as the raw bytes of the model's only input, its shape deduced
//! from the model (at most one variable dimension) and the body's size.

use bytes::Bytes;
use inferd_core::{ContentEncoding, InferInput};
use inferd_tensor::{DataType, Dim, Signature, TensorData};

use crate::transport::ApiError;

/// The one input of a raw binary request to the model of `signature`.
pub fn raw_input(model: &str, signature: &Signature, body: Bytes) -> Result<InferInput, ApiError> {
    let [spec] = signature.inputs.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "Raw request must only have 1 input to be deduced, but model '{model}' has {} inputs",
            signature.inputs.len()
        )));
    };
    let name = spec.name.clone();
    if spec.dtype == DataType::Bytes {
        if spec.shape != [Dim::Fixed(1)] {
            return Err(ApiError::bad_request(format!(
                "For BYTES datatype raw input '{name}', the model must have input shape [1]"
            )));
        }
        return Ok(one_string(name, body));
    }
    if spec.shape.len() == 4 && is_encoded_image(&body) {
        // One JPEG or PNG for an image input: the core decodes it.
        return Ok(one_string(name, body));
    }
    let shape = deduce_shape(&name, &spec.shape, spec.dtype, body.len())?;
    Ok(InferInput {
        name,
        dtype: spec.dtype,
        shape,
        data: TensorData::Raw(body),
        encoding: ContentEncoding::Raw,
        parameters: Default::default(),
    })
}

/// The body as the one element of a `BYTES` `[1]` input.
fn one_string(name: String, body: Bytes) -> InferInput {
    InferInput {
        name,
        dtype: DataType::Bytes,
        shape: vec![1],
        data: TensorData::Strings(vec![body]),
        encoding: ContentEncoding::Raw,
        parameters: Default::default(),
    }
}

/// Whether a body starts like a JPEG or a PNG file.
fn is_encoded_image(body: &[u8]) -> bool {
    body.starts_with(&[0xFF, 0xD8, 0xFF]) || body.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// The model's shape with its one variable dimension (if any) sized so that
/// the tensor holds `body_bytes` bytes.
fn deduce_shape(
    name: &str,
    dims: &[Dim],
    dtype: DataType,
    body_bytes: usize,
) -> Result<Vec<i64>, ApiError> {
    let variable: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|(_, d)| !matches!(d, Dim::Fixed(_)))
        .map(|(axis, _)| axis)
        .collect();
    if variable.len() > 1 {
        return Err(ApiError::bad_request(format!(
            "The shape of the raw input '{name}' can not be deduced because there are more than one variable-sized dimension"
        )));
    }
    let fixed_bytes = dims
        .iter()
        .filter_map(|d| match d {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        })
        .try_fold(dtype.size_bytes().unwrap_or(1) as u64, u64::checked_mul);
    let mut shape: Vec<i64> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            _ => 0,
        })
        .collect();
    if let [axis] = variable.as_slice() {
        let size = match fixed_bytes {
            Some(unit) if unit > 0 && (body_bytes as u64).is_multiple_of(unit) => {
                body_bytes as u64 / unit
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "The raw input '{name}' has {body_bytes} bytes, which is not a whole number of {dtype} elements of shape {}",
                    inferd_tensor::format_shape(dims)
                )));
            }
        };
        shape[*axis] = i64::try_from(size).unwrap_or(i64::MAX);
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_dimension_comes_from_the_size() {
        let dims = [Dim::Any, Dim::Fixed(4)];
        assert_eq!(deduce_shape("x", &dims, DataType::F32, 48).unwrap(), [3, 4]);
        assert_eq!(deduce_shape("x", &dims, DataType::F32, 0).unwrap(), [0, 4]);
        let err = deduce_shape("x", &dims, DataType::F32, 20).unwrap_err();
        assert!(err.message.contains("has 20 bytes"), "{}", err.message);
        let fixed = [Dim::Fixed(1), Dim::Fixed(4)];
        assert_eq!(
            deduce_shape("x", &fixed, DataType::F32, 16).unwrap(),
            [1, 4]
        );
        let two = [Dim::Any, Dim::Range(1, 8)];
        assert!(deduce_shape("x", &two, DataType::F32, 16).is_err());
    }
}
