//! TensorFlow `TensorProto` ⇄ core tensors: packed `tensor_content` or the
//! one typed `*_val` list that matches the dtype.

use bytes::Bytes;
use inferd_core::{ContentEncoding, InferInput};
use inferd_tensor::{DataType, Tensor, TensorData};
use tonic::Status;

use crate::proto::tensorflow::tensor_shape_proto::Dim;
use crate::proto::tensorflow::{DataType as TfDataType, TensorProto, TensorShapeProto};
use crate::values::{pack, pack_narrowed};

/// The TensorFlow dtype of a core data type (`DT_FLOAT` for FP32, ...).
pub fn tf_dtype(dtype: DataType) -> TfDataType {
    // Every core type has a TensorFlow name that the proto enum declares.
    TfDataType::from_str_name(dtype.tf_name()).unwrap_or(TfDataType::DtInvalid)
}

/// The core data type of a TensorFlow dtype number; INVALID_ARGUMENT for the
/// types inferd does not serve (DT_INVALID, complex, quantized, resource...).
pub fn core_dtype(dtype: i32, input: &str) -> Result<DataType, Status> {
    DataType::ALL
        .into_iter()
        .find(|d| tf_dtype(*d) as i32 == dtype)
        .ok_or_else(|| {
            let name = TfDataType::try_from(dtype)
                .map_or_else(|_| dtype.to_string(), |t| t.as_str_name().to_string());
            Status::invalid_argument(format!(
                "Invalid input precision - unsupported data type {name}; input name: {input}"
            ))
        })
}

/// A shape proto with the given dimension sizes (-1 for unknown).
pub fn shape_proto(dims: impl IntoIterator<Item = i64>) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .into_iter()
            .map(|size| Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// The `*_val` field that carries elements of `dtype`.
fn values_field(dtype: DataType) -> &'static str {
    match dtype {
        DataType::F32 => "float_val",
        DataType::F64 => "double_val",
        DataType::I8 | DataType::I16 | DataType::I32 | DataType::U8 | DataType::U16 => "int_val",
        DataType::I64 => "int64_val",
        DataType::U32 => "uint32_val",
        DataType::U64 => "uint64_val",
        DataType::Bool => "bool_val",
        DataType::F16 | DataType::BF16 => "half_val",
        DataType::Bytes => "string_val",
    }
}

/// Names of the `*_val` fields that hold something.
fn filled_fields(t: &TensorProto) -> Vec<&'static str> {
    [
        ("float_val", t.float_val.is_empty()),
        ("double_val", t.double_val.is_empty()),
        ("int_val", t.int_val.is_empty()),
        ("int64_val", t.int64_val.is_empty()),
        ("uint32_val", t.uint32_val.is_empty()),
        ("uint64_val", t.uint64_val.is_empty()),
        ("bool_val", t.bool_val.is_empty()),
        ("half_val", t.half_val.is_empty()),
        ("string_val", t.string_val.is_empty()),
        ("scomplex_val", t.scomplex_val.is_empty()),
        ("dcomplex_val", t.dcomplex_val.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, empty)| (!empty).then_some(field))
    .collect()
}

/// Decodes input `name`: dtype and shape from the proto, content from
/// `tensor_content` (raw) or the typed list (values). Never panics.
pub fn decode_input(name: String, tensor: TensorProto) -> Result<InferInput, Status> {
    let dtype = core_dtype(tensor.dtype, &name)?;
    let invalid = |message: String| Err(Status::invalid_argument(message));
    let shape = match &tensor.tensor_shape {
        Some(shape) if shape.unknown_rank => {
            return invalid(format!("input {name} has an unknown rank; send its shape"));
        }
        Some(shape) => shape.dim.iter().map(|d| d.size).collect(),
        None => Vec::new(),
    };
    let expected = values_field(dtype);
    let filled = filled_fields(&tensor);
    if let Some(other) = filled.iter().find(|f| **f != expected) {
        return invalid(format!(
            "input {name}: {other} cannot carry {}; use {expected} or tensor_content",
            dtype.tf_name()
        ));
    }
    let (data, encoding) = if tensor.tensor_content.is_empty() {
        (typed_values(dtype, &name, tensor)?, ContentEncoding::Values)
    } else if !filled.is_empty() {
        return invalid(format!(
            "input {name} has both tensor_content and {expected}; send one"
        ));
    } else if dtype == DataType::Bytes {
        return invalid(format!("DT_STRING input {name} must be sent in string_val"));
    } else {
        (TensorData::Raw(tensor.tensor_content), ContentEncoding::Raw)
    };
    Ok(InferInput {
        name,
        dtype,
        shape,
        data,
        encoding,
        parameters: Default::default(),
    })
}

fn typed_values(dtype: DataType, name: &str, t: TensorProto) -> Result<TensorData, Status> {
    let range = |v: &dyn std::fmt::Display| {
        Status::invalid_argument(format!(
            "value {v} is out of range for {}; input name: {name}",
            dtype.tf_name()
        ))
    };
    let raw = match dtype {
        DataType::F32 => pack(t.float_val),
        DataType::F64 => pack(t.double_val),
        DataType::I32 => pack(t.int_val),
        DataType::I64 => pack(t.int64_val),
        DataType::U32 => pack(t.uint32_val),
        DataType::U64 => pack(t.uint64_val),
        DataType::I8 => pack_narrowed(&t.int_val, |v| i8::try_from(*v).map_err(|_| range(v)))?,
        DataType::I16 => pack_narrowed(&t.int_val, |v| i16::try_from(*v).map_err(|_| range(v)))?,
        DataType::U8 => pack_narrowed(&t.int_val, |v| u8::try_from(*v).map_err(|_| range(v)))?,
        DataType::U16 => pack_narrowed(&t.int_val, |v| u16::try_from(*v).map_err(|_| range(v)))?,
        // FP16 / BF16 elements travel as their 16-bit patterns.
        DataType::F16 | DataType::BF16 => {
            pack_narrowed(&t.half_val, |v| u16::try_from(*v).map_err(|_| range(v)))?
        }
        DataType::Bool => Bytes::from(t.bool_val.into_iter().map(u8::from).collect::<Vec<_>>()),
        DataType::Bytes => return Ok(TensorData::Strings(t.string_val)),
    };
    Ok(TensorData::Raw(raw))
}

/// Encodes an output as TensorFlow Serving does: numeric types packed in
/// `tensor_content` (no per-element work), DT_STRING in `string_val`.
pub fn encode_output(tensor: &Tensor) -> TensorProto {
    let shape = tensor.shape().iter().map(|&d| d as i64);
    let mut proto = TensorProto {
        dtype: tf_dtype(tensor.dtype()) as i32,
        tensor_shape: Some(shape_proto(shape)),
        ..Default::default()
    };
    match tensor.data() {
        TensorData::Raw(bytes) => proto.tensor_content = bytes.clone(),
        TensorData::Strings(items) => proto.string_val = items.clone(),
    }
    proto
}

#[cfg(test)]
mod tests {
    use half::{bf16, f16};
    use tonic::Code;

    use super::*;

    fn proto(dtype: TfDataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype: dtype as i32,
            tensor_shape: Some(shape_proto(dims.iter().copied())),
            ..Default::default()
        }
    }

    /// Two elements of `dtype` in the core's packed form.
    fn sample(dtype: DataType) -> TensorData {
        let raw = match dtype {
            DataType::Bool => Bytes::from_static(&[1, 0]),
            DataType::U8 => pack([0u8, 255]),
            DataType::U16 => pack([7u16, 65535]),
            DataType::U32 => pack([7u32, u32::MAX]),
            DataType::U64 => pack([7u64, u64::MAX]),
            DataType::I8 => pack([-128i8, 127]),
            DataType::I16 => pack([-300i16, 300]),
            DataType::I32 => pack([i32::MIN, 5]),
            DataType::I64 => pack([i64::MIN, 5]),
            DataType::F16 => pack([f16::from_f32(0.5), f16::from_f32(-2.0)]),
            DataType::BF16 => pack([bf16::from_f32(1.5), bf16::from_f32(-3.0)]),
            DataType::F32 => pack([1.5f32, -2.0]),
            DataType::F64 => pack([1.5f64, -2.0]),
            DataType::Bytes => {
                return TensorData::Strings(vec![Bytes::from_static(b"hi"), Bytes::new()]);
            }
        };
        TensorData::Raw(raw)
    }

    /// The same two elements in the dtype's typed field.
    fn typed(dtype: DataType) -> TensorProto {
        let mut t = proto(tf_dtype(dtype), &[2]);
        match dtype {
            DataType::Bool => t.bool_val = vec![true, false],
            DataType::U8 => t.int_val = vec![0, 255],
            DataType::U16 => t.int_val = vec![7, 65535],
            DataType::U32 => t.uint32_val = vec![7, u32::MAX],
            DataType::U64 => t.uint64_val = vec![7, u64::MAX],
            DataType::I8 => t.int_val = vec![-128, 127],
            DataType::I16 => t.int_val = vec![-300, 300],
            DataType::I32 => t.int_val = vec![i32::MIN, 5],
            DataType::I64 => t.int64_val = vec![i64::MIN, 5],
            DataType::F16 => t.half_val = vec![0x3800, 0xc000],
            DataType::BF16 => t.half_val = vec![0x3fc0, 0xc040],
            DataType::F32 => t.float_val = vec![1.5, -2.0],
            DataType::F64 => t.double_val = vec![1.5, -2.0],
            DataType::Bytes => t.string_val = vec![Bytes::from_static(b"hi"), Bytes::new()],
        }
        t
    }

    #[test]
    fn every_dtype_has_a_tensorflow_number_and_back() {
        for dtype in DataType::ALL {
            let tf = tf_dtype(dtype);
            assert_ne!(tf, TfDataType::DtInvalid, "{dtype}");
            assert_eq!(tf.as_str_name(), dtype.tf_name());
            assert_eq!(core_dtype(tf as i32, "x").unwrap(), dtype);
        }
        assert_eq!(TfDataType::DtHalf as i32, 19);
        assert_eq!(TfDataType::DtUint64 as i32, 23);
    }

    #[test]
    fn outputs_round_trip_through_tensor_content_and_string_val() {
        for dtype in DataType::ALL {
            let tensor = Tensor::new(dtype, vec![1, 2], sample(dtype)).unwrap();
            let encoded = encode_output(&tensor);
            assert_eq!(encoded.string_val.is_empty(), dtype != DataType::Bytes);
            let decoded = decode_input("x".into(), encoded).unwrap();
            assert_eq!((decoded.dtype, decoded.shape), (dtype, vec![1, 2]));
            assert_eq!(decoded.data, sample(dtype), "{dtype}");
            let raw = dtype != DataType::Bytes;
            assert_eq!(decoded.encoding == ContentEncoding::Raw, raw, "{dtype}");
        }
    }

    #[test]
    fn typed_fields_decode_to_the_same_content() {
        for dtype in DataType::ALL {
            let decoded = decode_input("x".into(), typed(dtype)).unwrap();
            assert_eq!(decoded.data, sample(dtype), "{dtype}");
            assert_eq!(decoded.encoding, ContentEncoding::Values);
        }
    }

    #[test]
    fn a_field_of_another_type_is_refused() {
        let mut t = proto(TfDataType::DtFloat, &[1]);
        t.int_val = vec![1];
        let err = decode_input("x".into(), t).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("int_val cannot carry DT_FLOAT"),
            "{err:?}"
        );
        let mut t = proto(TfDataType::DtInt32, &[1]);
        t.scomplex_val = vec![1.0, 0.0];
        assert!(decode_input("x".into(), t).is_err());
    }

    #[test]
    fn content_and_values_together_are_refused() {
        let mut t = typed(DataType::F32);
        t.tensor_content = pack([1.0f32, 2.0]);
        let err = decode_input("x".into(), t).unwrap_err();
        assert!(err.message().contains("both tensor_content and float_val"));
        let mut t = proto(TfDataType::DtString, &[1]);
        t.tensor_content = Bytes::from_static(b"abcd");
        let err = decode_input("x".into(), t).unwrap_err();
        assert!(err.message().contains("string_val"), "{err:?}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for (dtype, value) in [
            (DataType::I8, 128),
            (DataType::U8, -1),
            (DataType::U16, 65536),
        ] {
            let mut t = proto(tf_dtype(dtype), &[1]);
            t.int_val = vec![value];
            let err = decode_input("x".into(), t).unwrap_err();
            assert!(err.message().contains("out of range"), "{err:?}");
        }
        let mut t = proto(TfDataType::DtHalf, &[1]);
        t.half_val = vec![70000];
        assert!(decode_input("x".into(), t).is_err());
    }

    #[test]
    fn unsupported_dtypes_and_unknown_rank_are_refused() {
        for dtype in [
            TfDataType::DtInvalid as i32,
            TfDataType::DtResource as i32,
            99,
        ] {
            let err = decode_input(
                "x".into(),
                TensorProto {
                    dtype,
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert!(
                err.message().starts_with("Invalid input precision"),
                "{err:?}"
            );
        }
        let mut t = typed(DataType::F32);
        t.tensor_shape = Some(TensorShapeProto {
            dim: vec![],
            unknown_rank: true,
        });
        assert!(decode_input("x".into(), t).is_err());
    }

    #[test]
    fn no_shape_is_a_scalar_and_empty_content_is_no_values() {
        let mut t = typed(DataType::F32);
        t.tensor_shape = None;
        assert!(decode_input("x".into(), t).unwrap().shape.is_empty());
        let empty = decode_input("x".into(), proto(TfDataType::DtFloat, &[0, 3])).unwrap();
        assert_eq!(empty.data, TensorData::Raw(Bytes::new()));
        assert_eq!(empty.encoding, ContentEncoding::Values);
    }
}
