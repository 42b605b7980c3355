//! KServe gRPC tensors ⇄ core tensors: typed `contents` and `raw_*_contents`.

use bytes::Bytes;

use inferd_core::{ContentEncoding, InferInput};
use inferd_tensor::{DataType, Tensor, TensorData};
use tonic::Status;

use crate::proto::kserve::InferTensorContents;
use crate::proto::kserve::model_infer_request::InferInputTensor;
use crate::values::{pack, pack_narrowed, read_all};

fn invalid(message: String) -> Status {
    Status::invalid_argument(message)
}

/// Parses a KServe datatype name.
pub fn parse_dtype(name: &str, input: &str) -> Result<DataType, Status> {
    DataType::from_name(name).ok_or_else(|| {
        invalid(format!(
            "Invalid input precision - unknown datatype {name}; input name: {input}"
        ))
    })
}

/// Decodes one input; `raw` is its entry of `raw_input_contents`, if the request used them.
pub fn decode_input(tensor: InferInputTensor, raw: Option<Bytes>) -> Result<InferInput, Status> {
    let dtype = parse_dtype(&tensor.datatype, &tensor.name)?;
    let (data, encoding) = match raw {
        Some(bytes) => {
            if tensor.contents.is_some() {
                return Err(invalid(format!(
                    "input {} has both contents and raw_input_contents; use one",
                    tensor.name
                )));
            }
            let data = TensorData::from_wire(dtype, bytes)
                .map_err(|e| invalid(format!("Invalid content of input {}: {e}", tensor.name)))?;
            (data, ContentEncoding::Raw)
        }
        None => (
            typed_contents(dtype, &tensor.name, tensor.contents.unwrap_or_default())?,
            ContentEncoding::Values,
        ),
    };
    Ok(InferInput {
        name: tensor.name,
        dtype,
        shape: tensor.shape,
        data,
        encoding,
        parameters: super::parameters::from_proto(tensor.parameters),
    })
}

fn typed_contents(
    dtype: DataType,
    name: &str,
    c: InferTensorContents,
) -> Result<TensorData, Status> {
    let range = |v: &dyn std::fmt::Display| {
        invalid(format!(
            "value {v} is out of range for {dtype}; input name: {name}"
        ))
    };
    let raw = match dtype {
        DataType::Bool => Bytes::from(
            c.bool_contents
                .iter()
                .map(|b| u8::from(*b))
                .collect::<Vec<u8>>(),
        ),
        DataType::I8 => pack_narrowed(&c.int_contents, |v| i8::try_from(*v).map_err(|_| range(v)))?,
        DataType::I16 => {
            pack_narrowed(&c.int_contents, |v| i16::try_from(*v).map_err(|_| range(v)))?
        }
        DataType::I32 => pack(c.int_contents),
        DataType::I64 => pack(c.int64_contents),
        DataType::U8 => {
            pack_narrowed(&c.uint_contents, |v| u8::try_from(*v).map_err(|_| range(v)))?
        }
        DataType::U16 => pack_narrowed(&c.uint_contents, |v| {
            u16::try_from(*v).map_err(|_| range(v))
        })?,
        DataType::U32 => pack(c.uint_contents),
        DataType::U64 => pack(c.uint64_contents),
        DataType::F32 => pack(c.fp32_contents),
        DataType::F64 => pack(c.fp64_contents),
        DataType::Bytes => return Ok(TensorData::Strings(c.bytes_contents)),
        DataType::F16 | DataType::BF16 => {
            return Err(invalid(format!(
                "{dtype} input {name} must be sent in raw_input_contents"
            )));
        }
    };
    Ok(TensorData::Raw(raw))
}

/// Typed contents for an output; `None` for types that travel raw only (FP16, BF16).
pub fn encode_contents(tensor: &Tensor) -> Option<InferTensorContents> {
    let mut c = InferTensorContents::default();
    let bytes = match tensor.data() {
        TensorData::Strings(items) => {
            c.bytes_contents = items.clone();
            return Some(c);
        }
        TensorData::Raw(bytes) => bytes,
    };
    match tensor.dtype() {
        DataType::Bool => c.bool_contents = bytes.iter().map(|b| *b != 0).collect(),
        DataType::I8 => c.int_contents = read_all::<i8>(bytes).map(i32::from).collect(),
        DataType::I16 => c.int_contents = read_all::<i16>(bytes).map(i32::from).collect(),
        DataType::I32 => c.int_contents = read_all::<i32>(bytes).collect(),
        DataType::I64 => c.int64_contents = read_all::<i64>(bytes).collect(),
        DataType::U8 => c.uint_contents = bytes.iter().map(|b| u32::from(*b)).collect(),
        DataType::U16 => c.uint_contents = read_all::<u16>(bytes).map(u32::from).collect(),
        DataType::U32 => c.uint_contents = read_all::<u32>(bytes).collect(),
        DataType::U64 => c.uint64_contents = read_all::<u64>(bytes).collect(),
        DataType::F32 => c.fp32_contents = read_all::<f32>(bytes).collect(),
        DataType::F64 => c.fp64_contents = read_all::<f64>(bytes).collect(),
        DataType::F16 | DataType::BF16 | DataType::Bytes => return None,
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    fn input(datatype: &str, contents: InferTensorContents) -> InferInputTensor {
        InferInputTensor {
            name: "x".into(),
            datatype: datatype.into(),
            shape: vec![2],
            parameters: Default::default(),
            contents: Some(contents),
        }
    }

    #[test]
    fn typed_ints_are_narrowed_with_range_checks() {
        let c = InferTensorContents {
            int_contents: vec![-1, 5],
            ..Default::default()
        };
        let decoded = decode_input(input("INT8", c), None).unwrap();
        assert_eq!(
            decoded.data,
            TensorData::Raw(Bytes::from_static(&[0xff, 5]))
        );
        assert_eq!(decoded.encoding, ContentEncoding::Values);
        let c = InferTensorContents {
            int_contents: vec![1000],
            ..Default::default()
        };
        let err = decode_input(input("INT8", c), None).unwrap_err();
        assert!(err.message().contains("out of range"), "{}", err.message());
    }

    #[test]
    fn raw_and_typed_together_are_refused() {
        let c = InferTensorContents {
            fp32_contents: vec![1.0],
            ..Default::default()
        };
        let err = decode_input(input("FP32", c), Some(Bytes::from_static(&[0; 4]))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn unknown_datatype_is_refused() {
        let err = decode_input(input("FP99", InferTensorContents::default()), None).unwrap_err();
        assert!(err.message().contains("FP99"));
    }

    #[test]
    fn outputs_round_trip_through_typed_contents() {
        let t = Tensor::new(DataType::U16, vec![2], TensorData::Raw(pack([7u16, 65535]))).unwrap();
        assert_eq!(encode_contents(&t).unwrap().uint_contents, vec![7, 65535]);
        let h = Tensor::new(DataType::F16, vec![1], TensorData::Raw(pack([f16::ONE]))).unwrap();
        assert!(encode_contents(&h).is_none());
    }
}
