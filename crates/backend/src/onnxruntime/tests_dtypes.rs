//! Every element type through the identity models, against the real runtime.

use bytes::Bytes;
use inferd_tensor::{DataType, Dim, Tensor, TensorData};

use super::tests::{backend, load};
use crate::{BackendError, ModelOptions};

/// Test data for one dtype: six elements, and what comes back.
fn identity_case(dtype: DataType) -> (TensorData, TensorData) {
    let raw = |bytes: Vec<u8>| TensorData::Raw(Bytes::from(bytes));
    let same = |bytes: Vec<u8>| (raw(bytes.clone()), raw(bytes));
    match dtype {
        DataType::Bytes => {
            let items: Vec<Bytes> = ["hello", "", "wörld", "a b", "x", "\u{1F600}"]
                .iter()
                .map(|s| Bytes::from(s.as_bytes().to_vec()))
                .collect();
            (
                TensorData::Strings(items.clone()),
                TensorData::Strings(items),
            )
        }
        DataType::Bool => (raw(vec![1, 0, 7, 1, 0, 255]), raw(vec![1, 0, 1, 1, 0, 1])),
        DataType::F32 => same(
            [0.5f32, -1.0, 3.25, 1e6, -0.0, 42.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DataType::F64 => same(
            [0.5f64, -1.0, 3.25, 1e100, -0.0, 42.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        // 1.0, 2.0, -2.0, 0.5, 0.0, 65504.0 in IEEE half precision.
        DataType::F16 | DataType::BF16 => same(
            [0x3C00u16, 0x4000, 0xC000, 0x3800, 0, 0x7BFF]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        other => {
            let size = other.size_bytes().unwrap();
            same((0..6 * size).map(|i| (i * 37 % 251) as u8).collect())
        }
    }
}

#[test]
fn identity_round_trips_every_dtype() {
    let Some(backend) = backend() else { return };
    let cases = [
        ("fp32", DataType::F32),
        ("fp64", DataType::F64),
        ("fp16", DataType::F16),
        ("int8", DataType::I8),
        ("int16", DataType::I16),
        ("int32", DataType::I32),
        ("int64", DataType::I64),
        ("uint8", DataType::U8),
        ("uint16", DataType::U16),
        ("uint32", DataType::U32),
        ("uint64", DataType::U64),
        ("bool", DataType::Bool),
        ("bytes", DataType::Bytes),
    ];
    for (suffix, dtype) in cases {
        let name = format!("identity_{suffix}");
        let model = load(&backend, &name, 1, &ModelOptions::default()).unwrap();
        let sig = model.signature();
        assert_eq!(sig.inputs[0].name, "input", "{name}");
        assert_eq!(sig.inputs[0].dtype, dtype, "{name}");
        assert_eq!(sig.inputs[0].shape, vec![Dim::Any, Dim::Any], "{name}");
        assert_eq!(sig.outputs[0].name, "output", "{name}");
        assert_eq!(sig.outputs[0].dtype, dtype, "{name}");
        let (input, expected) = identity_case(dtype);
        let tensor = Tensor::new(dtype, vec![2, 3], input).unwrap();
        let out = model.execute(vec![tensor]).unwrap();
        assert_eq!(out[0].dtype(), dtype, "{name}");
        assert_eq!(out[0].shape(), &[2, 3], "{name}");
        assert_eq!(out[0].data(), &expected, "{name}");
        // Empty tensors pass through too.
        let empty = match dtype {
            DataType::Bytes => TensorData::Strings(Vec::new()),
            _ => TensorData::Raw(Bytes::new()),
        };
        let out = model
            .execute(vec![Tensor::new(dtype, vec![0, 3], empty).unwrap()])
            .unwrap();
        assert_eq!(out[0].shape(), &[0, 3], "{name}");
    }
}

#[test]
fn bytes_must_be_utf8_without_nul() {
    let Some(backend) = backend() else { return };
    let model = load(&backend, "identity_bytes", 1, &ModelOptions::default()).unwrap();
    for bad in [&b"\xff\xfe"[..], &b"a\0b"[..]] {
        let tensor = Tensor::new(
            DataType::Bytes,
            vec![1, 1],
            TensorData::Strings(vec![Bytes::from(bad.to_vec())]),
        )
        .unwrap();
        let err = model.execute(vec![tensor]).unwrap_err();
        assert!(matches!(err, BackendError::InvalidInput(_)), "{err}");
    }
}
