//! The signatures TF Serving's metadata lists for a model version, as the
//! gRPC `SignatureDefMap` and its REST JSON form: a SavedModel's own
//! `signature_def`s with TensorFlow's tensor names, or for other formats one
//! `serving_default` built from the model's inputs and outputs.

use std::collections::BTreeMap;

use inferd_backend::saved_model::{DEFAULT_SIGNATURE, SavedSignature, SavedTensor};
use inferd_core::Servable;
use inferd_tensor::TensorSpec;

use super::grpc_tensor::{shape_proto, tf_dtype};
use crate::proto::tensorflow::serving::SignatureDefMap;
use crate::proto::tensorflow::{DataType as TfDataType, SignatureDef, TensorInfo};

/// `method_name` of a predict signature.
const PREDICT_METHOD: &str = "tensorflow/serving/predict";

/// The version's signatures, in name order.
pub fn of(servable: &Servable) -> Vec<SavedSignature> {
    let saved = servable.saved_signatures();
    if !saved.is_empty() {
        return saved.to_vec();
    }
    let signature = servable.signature();
    vec![SavedSignature {
        name: DEFAULT_SIGNATURE.to_string(),
        method_name: PREDICT_METHOD.to_string(),
        inputs: signature.inputs.iter().map(tensor_of_spec).collect(),
        outputs: signature.outputs.iter().map(tensor_of_spec).collect(),
        same_as: None,
    }]
}

fn tensor_of_spec(spec: &TensorSpec) -> SavedTensor {
    SavedTensor {
        key: spec.name.clone(),
        tensor_name: spec.name.clone(),
        dtype: tf_dtype(spec.dtype) as i32,
        shape: Some(spec.shape_i64()),
    }
}

/// The signatures as the gRPC metadata's `SignatureDefMap`.
pub fn to_proto(signatures: &[SavedSignature]) -> SignatureDefMap {
    let infos = |tensors: &[SavedTensor]| -> BTreeMap<String, TensorInfo> {
        tensors
            .iter()
            .map(|t| {
                let shape = shape_proto(t.shape.iter().flatten().copied());
                let info = TensorInfo {
                    name: t.tensor_name.clone(),
                    dtype: t.dtype,
                    tensor_shape: Some(crate::proto::tensorflow::TensorShapeProto {
                        unknown_rank: t.shape.is_none(),
                        ..shape
                    }),
                };
                (t.key.clone(), info)
            })
            .collect()
    };
    SignatureDefMap {
        signature_def: signatures
            .iter()
            .map(|s| {
                let def = SignatureDef {
                    inputs: infos(&s.inputs),
                    outputs: infos(&s.outputs),
                    method_name: s.method_name.clone(),
                };
                (s.name.clone(), def)
            })
            .collect(),
    }
}

/// The signatures in protobuf JSON form (camelCase, 64-bit sizes as
/// strings), as OVMS answers REST metadata and `ovmsclient` reads it.
pub fn to_json(signatures: &[SavedSignature]) -> serde_json::Value {
    let tensors = |tensors: &[SavedTensor]| -> serde_json::Value {
        let entries = tensors.iter().map(|t| {
            let dims: Vec<serde_json::Value> = t
                .shape
                .iter()
                .flatten()
                .map(|d| serde_json::json!({"size": d.to_string(), "name": ""}))
                .collect();
            let dtype = TfDataType::try_from(t.dtype)
                .unwrap_or(TfDataType::DtInvalid)
                .as_str_name();
            let tensor = serde_json::json!({
                "dtype": dtype,
                "tensorShape": {"dim": dims, "unknownRank": t.shape.is_none()},
                "name": t.tensor_name,
            });
            (t.key.clone(), tensor)
        });
        serde_json::Value::Object(entries.collect())
    };
    let defs = signatures.iter().map(|s| {
        let def = serde_json::json!({
            "inputs": tensors(&s.inputs),
            "outputs": tensors(&s.outputs),
            "methodName": s.method_name,
        });
        (s.name.clone(), def)
    });
    serde_json::Value::Object(defs.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Vec<SavedSignature> {
        let tensor = |key: &str, name: &str, shape: Option<Vec<i64>>| SavedTensor {
            key: key.into(),
            tensor_name: name.into(),
            dtype: 1,
            shape,
        };
        vec![SavedSignature {
            name: "scale".into(),
            method_name: PREDICT_METHOD.into(),
            inputs: vec![tensor("x", "scale_x:0", Some(vec![-1, 16]))],
            outputs: vec![tensor("y", "PartitionedCall:0", None)],
            same_as: None,
        }]
    }

    #[test]
    fn saved_signatures_keep_tensorflows_names() {
        let map = to_proto(&saved());
        let def = &map.signature_def["scale"];
        assert_eq!(def.inputs["x"].name, "scale_x:0");
        let shape = def.inputs["x"].tensor_shape.as_ref().unwrap();
        assert_eq!(shape.dim.len(), 2);
        assert!(!shape.unknown_rank);
        let output = def.outputs["y"].tensor_shape.as_ref().unwrap();
        assert!(output.unknown_rank && output.dim.is_empty());
        let json = to_json(&saved());
        assert_eq!(json["scale"]["inputs"]["x"]["name"], "scale_x:0");
        assert_eq!(json["scale"]["inputs"]["x"]["dtype"], "DT_FLOAT");
        assert_eq!(
            json["scale"]["inputs"]["x"]["tensorShape"]["dim"][1]["size"],
            "16"
        );
        assert_eq!(
            json["scale"]["outputs"]["y"]["tensorShape"]["unknownRank"],
            true
        );
    }
}
