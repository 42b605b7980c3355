//! ONNX Runtime's own limits on element types, against the real runtime.

use bytes::Bytes;
use inferd_tensor::{DataType, Tensor, TensorData};

use super::tests::{backend, load};
use crate::{BackendError, ModelOptions};

// Every dtype through the identity models runs in tests/conformance.rs, for
// every engine; what is particular to ONNX Runtime stays here.

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
