//! Conversions between inferd tensors and ONNX Runtime values.
//!
//! Numeric tensors are copied once each way: request bytes straight into a
//! tensor that ONNX Runtime allocated, and output buffers straight into
//! `Bytes`. That needs raw access to ONNX Runtime's buffers (ort offers typed
//! access only for element types we could not name without the `half` crate).
#![allow(unsafe_code)]

use bytes::Bytes;
use inferd_tensor::{DataType, Tensor, TensorData};
use ort::memory::Allocator;
use ort::value::{
    DynTensor, DynTensorValueType, DynValue, Tensor as OrtTensor, TensorElementType, ValueType,
};

use super::signature::{data_type, element_type};
use crate::BackendError;

fn exec_err(context: &str) -> impl Fn(ort::Error) -> BackendError + '_ {
    move |e| BackendError::Execution(format!("{context}: {e}"))
}

/// ONNX Runtime keeps elements in native byte order; the protocol's are
/// little-endian. Swaps each element in place on big-endian machines.
fn to_from_native(buf: &mut [u8], size: usize) {
    if cfg!(target_endian = "big") && size > 1 {
        buf.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
}

/// Builds the ONNX Runtime value for a validated request tensor.
pub fn to_ort(name: &str, tensor: &Tensor) -> Result<DynValue, BackendError> {
    let shape: Vec<i64> = tensor
        .shape()
        .iter()
        .map(|&d| i64::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            BackendError::InvalidInput(format!("input {name} has a dimension too large"))
        })?;
    match tensor.data() {
        TensorData::Strings(items) => {
            // ort takes strings it can name as `'static` and copies each into a
            // NUL-terminated buffer for ONNX Runtime.
            let strings = items
                .iter()
                .map(|item| {
                    if item.contains(&0) {
                        return Err(BackendError::InvalidInput(format!(
                            "input {name}: BYTES elements must not contain NUL bytes for the ONNX Runtime backend"
                        )));
                    }
                    String::from_utf8(item.to_vec()).map_err(|_| {
                        BackendError::InvalidInput(format!(
                            "input {name}: BYTES elements must be UTF-8 text for the ONNX Runtime backend"
                        ))
                    })
                })
                .collect::<Result<Vec<String>, _>>()?;
            let value = OrtTensor::from_string_array((shape, strings.as_slice()))
                .map_err(exec_err(&format!("cannot create input {name}")))?;
            Ok(value.into_dyn())
        }
        TensorData::Raw(bytes) => {
            let dtype = tensor.dtype();
            let size = dtype.size_bytes().unwrap_or(1);
            let mut value = DynTensor::new(&Allocator::default(), element_type(dtype), shape)
                .map_err(exec_err(&format!("cannot create input {name}")))?;
            if !bytes.is_empty() {
                if value.size() != Some(bytes.len()) {
                    return Err(BackendError::Execution(format!(
                        "input {name}: ONNX Runtime allocated {:?} bytes for {} bytes of data",
                        value.size(),
                        bytes.len()
                    )));
                }
                let ptr = value.data_ptr_mut().cast::<u8>();
                if ptr.is_null() || !value.memory_info().is_cpu_accessible() {
                    return Err(BackendError::Execution(format!(
                        "input {name}: ONNX Runtime gave no host buffer"
                    )));
                }
                // SAFETY: `value` is a CPU tensor just allocated by ONNX Runtime
                // (checked: host memory, non-null) whose buffer holds exactly
                // `bytes.len()` bytes (checked against `size()` above). Nothing
                // else refers to it, and `dst` does not outlive `value`.
                let dst = unsafe { std::slice::from_raw_parts_mut(ptr, bytes.len()) };
                if dtype == DataType::Bool {
                    // Any non-zero byte is true; ONNX Runtime's bool must be 0 or 1.
                    for (d, s) in dst.iter_mut().zip(bytes.iter()) {
                        *d = u8::from(*s != 0);
                    }
                } else {
                    dst.copy_from_slice(bytes);
                    to_from_native(dst, size);
                }
            }
            Ok(value.into_dyn())
        }
    }
}

/// Copies an ONNX Runtime output into an inferd tensor.
pub fn from_ort(name: &str, value: DynValue) -> Result<Tensor, BackendError> {
    let ValueType::Tensor { ty, shape, .. } = value.dtype() else {
        return Err(BackendError::Execution(format!(
            "output {name} is a {}, not a tensor",
            value.dtype()
        )));
    };
    let ty = *ty;
    let dtype = data_type(ty).ok_or_else(|| {
        BackendError::Execution(format!(
            "output {name} has element type {ty}, which inferd cannot serve"
        ))
    })?;
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| BackendError::Execution(format!("output {name} has a negative dimension")))?;
    let data = if ty == TensorElementType::String {
        let (_, strings) = value
            .try_extract_strings()
            .map_err(exec_err(&format!("cannot read output {name}")))?;
        TensorData::Strings(
            strings
                .into_iter()
                .map(|s| Bytes::from(s.into_bytes()))
                .collect(),
        )
    } else {
        let tensor = value
            .downcast::<DynTensorValueType>()
            .map_err(exec_err(&format!("cannot read output {name}")))?;
        TensorData::Raw(raw_bytes(name, &tensor, dtype)?)
    };
    Tensor::new(dtype, dims, data)
        .map_err(|e| BackendError::Execution(format!("output {name}: {e}")))
}

fn raw_bytes(name: &str, tensor: &DynTensor, dtype: DataType) -> Result<Bytes, BackendError> {
    let len = tensor
        .size()
        .ok_or_else(|| BackendError::Execution(format!("output {name} has no known size")))?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    if !tensor.memory_info().is_cpu_accessible() {
        return Err(BackendError::Execution(format!(
            "output {name} is not in host memory"
        )));
    }
    let ptr = tensor.data_ptr().cast::<u8>();
    if ptr.is_null() {
        return Err(BackendError::Execution(format!(
            "output {name} has no data"
        )));
    }
    // SAFETY: ONNX Runtime reports `len` bytes of host memory (checked above)
    // at `ptr` (non-null) for this tensor, which it keeps alive and unchanged
    // while `tensor` is borrowed here; the slice is copied before returning.
    let src = unsafe { std::slice::from_raw_parts(ptr, len) };
    let mut out = src.to_vec();
    to_from_native(&mut out, dtype.size_bytes().unwrap_or(1));
    Ok(Bytes::from(out))
}
