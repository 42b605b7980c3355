//! TensorFlow Serving gRPC: `GetModelMetadata` (the signature's inputs) and
//! `Predict` with `tensor_content`.

use std::time::Duration;

use inferd_proto::google::protobuf::Int64Value;
use inferd_proto::tensorflow::serving::model_spec::VersionChoice;
use inferd_proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_proto::tensorflow::serving::{
    GetModelMetadataRequest, ModelSpec, PredictRequest, SignatureDefMap,
};
use inferd_proto::tensorflow::tensor_shape_proto::Dim;
use inferd_proto::tensorflow::{DataType as TfDataType, TensorInfo, TensorProto, TensorShapeProto};
use inferd_tensor::DataType;
use prost::Message;
use tonic::transport::Channel;

use super::{ModelInfo, ModelRef, limited};
use crate::data::InputTensor;
use crate::error::{BenchError, RequestError};
use crate::model::{ModelInput, parse_datatype};

/// The signature used when the model has several.
const DEFAULT_SIGNATURE: &str = "serving_default";

/// A `Predict` client over its own channel.
#[derive(Debug)]
pub struct TfsClient {
    client: PredictionServiceClient<Channel>,
    request: PredictRequest,
    timeout: Duration,
}

impl TfsClient {
    /// A client that will send `request` over `channel`.
    pub fn new(channel: Channel, request: PredictRequest, timeout: Duration) -> Self {
        TfsClient {
            client: unlimited(channel),
            request,
            timeout,
        }
    }

    /// Sends the request once.
    pub async fn infer(&mut self) -> Result<(), RequestError> {
        let request = self.request.clone(); // tensor bytes are shared, not copied
        limited(self.timeout, async {
            self.client.predict(request).await?;
            Ok(())
        })
        .await
    }
}

fn unlimited(channel: Channel) -> PredictionServiceClient<Channel> {
    PredictionServiceClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

fn model_spec(model: &ModelRef, signature_name: &str) -> ModelSpec {
    ModelSpec {
        name: model.name.clone(),
        version_choice: model
            .version
            .map(|v| VersionChoice::Version(Int64Value { value: v as i64 })),
        signature_name: signature_name.to_string(),
    }
}

/// The `Predict` request carrying `tensors` in `tensor_content`.
pub fn request(model: &ModelRef, info: &ModelInfo, tensors: &[InputTensor]) -> PredictRequest {
    let inputs = tensors.iter().map(|t| {
        let tensor = TensorProto {
            dtype: tf_dtype(t.spec.datatype) as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: t
                    .spec
                    .shape
                    .iter()
                    .map(|&size| Dim {
                        size: size as i64,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            ..Default::default()
        };
        let tensor = if t.spec.datatype == DataType::Bytes {
            TensorProto {
                string_val: crate::data::split_length_prefixed(&t.raw),
                ..tensor
            }
        } else {
            TensorProto {
                tensor_content: t.raw.clone(),
                ..tensor
            }
        };
        (t.spec.name.clone(), tensor)
    });
    PredictRequest {
        model_spec: Some(model_spec(model, &info.signature_name)),
        inputs: inputs.collect(),
        output_filter: Vec::new(),
    }
}

fn tf_dtype(dtype: DataType) -> TfDataType {
    TfDataType::from_str_name(dtype.tf_name()).unwrap_or(TfDataType::DtInvalid)
}

/// The inputs of the model's `serving_default` signature (or its only one),
/// sorted by name.
pub async fn metadata(channel: Channel, model: &ModelRef) -> Result<ModelInfo, BenchError> {
    let failed = |message: String| BenchError::Metadata {
        model: model.name.clone(),
        message,
    };
    let request = GetModelMetadataRequest {
        model_spec: Some(model_spec(model, "")),
        metadata_field: vec!["signature_def".to_string()],
    };
    let response = unlimited(channel)
        .get_model_metadata(request)
        .await
        .map_err(|status| failed(RequestError::from(status).to_string()))?
        .into_inner();
    let any = response
        .metadata
        .get("signature_def")
        .ok_or_else(|| failed("the answer has no signature_def".to_string()))?;
    let map = SignatureDefMap::decode(any.value.clone())
        .map_err(|e| failed(format!("signature_def is not a SignatureDefMap: {e}")))?;
    let signatures = &map.signature_def;
    let only = || signatures.iter().next().filter(|_| signatures.len() == 1);
    let Some((signature_name, signature)) =
        signatures.get_key_value(DEFAULT_SIGNATURE).or_else(only)
    else {
        let mut names: Vec<&String> = signatures.keys().collect();
        names.sort();
        return Err(failed(format!(
            "no {DEFAULT_SIGNATURE} signature among {names:?}"
        )));
    };
    let mut inputs = signature
        .inputs
        .iter()
        .map(|(name, info)| model_input(name, info))
        .collect::<Result<Vec<_>, _>>()?;
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    let signature_name = if signature_name == DEFAULT_SIGNATURE {
        String::new()
    } else {
        signature_name.clone()
    };
    Ok(ModelInfo {
        inputs,
        signature_name,
    })
}

fn model_input(name: &str, info: &TensorInfo) -> Result<ModelInput, BenchError> {
    let tf_name = TfDataType::try_from(info.dtype).map_or("an unknown dtype", |d| d.as_str_name());
    let kserve_name = DataType::ALL
        .into_iter()
        .find(|d| d.tf_name() == tf_name)
        .map_or(tf_name, DataType::name);
    let dims = info
        .tensor_shape
        .as_ref()
        .filter(|shape| !shape.unknown_rank)
        .map(|shape| shape.dim.iter().map(|d| d.size).collect());
    Ok(ModelInput {
        name: name.to_string(),
        datatype: parse_datatype(name, kserve_name)?,
        dims,
    })
}
