//! Conversions between inferd tensors and tract tensors.

use std::sync::Arc;

use bytes::Bytes;
use inferd_tensor::{DataType, Tensor, TensorData};
use tract_onnx::prelude::{DatumType, Tensor as TractTensor, tract_ndarray};

use crate::BackendError;

/// The tract type for a protocol type, if tract has one.
pub fn datum_type(dtype: DataType) -> Option<DatumType> {
    Some(match dtype {
        DataType::Bool => DatumType::Bool,
        DataType::U8 => DatumType::U8,
        DataType::U16 => DatumType::U16,
        DataType::U32 => DatumType::U32,
        DataType::U64 => DatumType::U64,
        DataType::I8 => DatumType::I8,
        DataType::I16 => DatumType::I16,
        DataType::I32 => DatumType::I32,
        DataType::I64 => DatumType::I64,
        DataType::F16 => DatumType::F16,
        DataType::F32 => DatumType::F32,
        DataType::F64 => DatumType::F64,
        DataType::Bytes => DatumType::String,
        DataType::BF16 => return None,
    })
}

/// The protocol type for a tract type, if the protocol has one.
pub fn data_type(dt: DatumType) -> Option<DataType> {
    DataType::ALL
        .into_iter()
        .find(|d| datum_type(*d) == Some(dt))
}

/// Copies a validated request tensor into an aligned tract tensor.
pub fn to_tract(tensor: &Tensor) -> Result<TractTensor, BackendError> {
    let unsupported = || {
        BackendError::InvalidInput(format!(
            "data type {} is not supported by tract",
            tensor.dtype()
        ))
    };
    let dt = datum_type(tensor.dtype()).ok_or_else(unsupported)?;
    match tensor.data() {
        TensorData::Raw(bytes) => {
            let mut out = TractTensor::zero_dt(dt, tensor.shape())
                .map_err(|e| BackendError::Execution(e.to_string()))?;
            let dst = out.as_bytes_mut();
            if dt == DatumType::Bool {
                // Any non-zero byte is true; tract's bool must be exactly 0 or 1.
                for (d, s) in dst.iter_mut().zip(bytes.iter()) {
                    *d = u8::from(*s != 0);
                }
            } else {
                dst.copy_from_slice(bytes);
            }
            Ok(out)
        }
        TensorData::Strings(items) => {
            let strings = items
                .iter()
                .map(|b| {
                    String::from_utf8(b.to_vec()).map_err(|_| {
                        BackendError::InvalidInput(
                            "BYTES elements must be UTF-8 text for the tract backend".into(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let array = tract_ndarray::ArrayD::from_shape_vec(tensor.shape(), strings)
                .map_err(|e| BackendError::Execution(e.to_string()))?;
            Ok(array.into())
        }
    }
}

/// Owner that lets `Bytes` borrow a tract tensor's buffer without copying it.
struct TensorBytes(Arc<TractTensor>);

impl AsRef<[u8]> for TensorBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Wraps a tract output as an inferd tensor (no copy for numeric types).
pub fn from_tract(tensor: Arc<TractTensor>) -> Result<Tensor, BackendError> {
    let dt = tensor.datum_type();
    let dtype = data_type(dt).ok_or_else(|| {
        BackendError::Execution(format!("model produced unsupported type {dt:?}"))
    })?;
    let shape = tensor.shape().to_vec();
    let exec_err = |e: tract_onnx::prelude::TractError| BackendError::Execution(e.to_string());
    let data = if dt == DatumType::String {
        let view = tensor.try_as_plain_ram().map_err(exec_err)?;
        let strings = view.as_slice::<String>().map_err(exec_err)?;
        TensorData::Strings(
            strings
                .iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect(),
        )
    } else if tensor.as_plain_ram().is_some() {
        // Plain host memory: lend the buffer (`as_bytes` cannot fail on it).
        TensorData::Raw(Bytes::from_owner(TensorBytes(tensor)))
    } else {
        let view = tensor.try_as_plain_ram().map_err(exec_err)?;
        TensorData::Raw(Bytes::copy_from_slice(view.as_bytes()))
    };
    Tensor::new(dtype, shape, data).map_err(|e| BackendError::Execution(e.to_string()))
}
