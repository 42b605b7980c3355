//! KServe v2 gRPC: `ModelMetadata` and `ModelInfer` with `raw_input_contents`.

use std::time::Duration;

use inferd_proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use inferd_proto::kserve::model_infer_request::InferInputTensor;
use inferd_proto::kserve::{ModelInferRequest, ModelMetadataRequest};
use tonic::transport::Channel;

use super::{Chain, ModelInfo, ModelRef, limited};
use crate::data::InputTensor;
use crate::error::{BenchError, RequestError};
use crate::model::{ModelInput, parse_datatype};

/// A `ModelInfer` client over its own channel.
#[derive(Debug)]
pub struct KserveGrpcClient {
    client: GrpcInferenceServiceClient<Channel>,
    request: ModelInferRequest,
    timeout: Duration,
    then: Option<Chain>,
}

impl KserveGrpcClient {
    /// A client that will send `request` over `channel`.
    pub fn new(channel: Channel, request: ModelInferRequest, timeout: Duration) -> Self {
        KserveGrpcClient {
            client: unlimited(channel),
            request,
            timeout,
            then: None,
        }
    }

    /// Also sends each answer on to `chain`'s model (`--then`).
    pub fn then(mut self, chain: Option<Chain>) -> Self {
        self.then = chain;
        self
    }

    /// Sends the request once (and its follow-up, for a chain).
    pub async fn infer(&mut self) -> Result<(), RequestError> {
        let request = self.request.clone(); // tensor bytes are shared, not copied
        limited(self.timeout, async {
            let answer = self.client.model_infer(request).await?.into_inner();
            if let Some(chain) = &self.then {
                if answer.raw_output_contents.len() != answer.outputs.len() {
                    return Err(RequestError::Transport(
                        "--then needs answers with raw_output_contents".into(),
                    ));
                }
                let next = ModelInferRequest {
                    model_name: chain.model.clone(),
                    inputs: chain
                        .inputs
                        .iter()
                        .zip(&answer.outputs)
                        .map(|(name, output)| InferInputTensor {
                            name: name.clone(),
                            datatype: output.datatype.clone(),
                            shape: output.shape.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    raw_input_contents: answer.raw_output_contents,
                    ..Default::default()
                };
                self.client.model_infer(next).await?;
            }
            Ok(())
        })
        .await
    }
}

fn unlimited(channel: Channel) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

/// The `ModelInfer` request carrying `tensors` as raw contents.
pub fn request(model: &ModelRef, tensors: &[InputTensor]) -> ModelInferRequest {
    ModelInferRequest {
        model_name: model.name.clone(),
        model_version: model.version.map(|v| v.to_string()).unwrap_or_default(),
        inputs: tensors
            .iter()
            .map(|t| InferInputTensor {
                name: t.spec.name.clone(),
                datatype: t.spec.datatype.name().to_string(),
                shape: t.spec.shape.iter().map(|&d| d as i64).collect(),
                ..Default::default()
            })
            .collect(),
        raw_input_contents: tensors.iter().map(|t| t.raw.clone()).collect(),
        ..Default::default()
    }
}

/// The model's inputs from `ModelMetadata`.
pub async fn metadata(channel: Channel, model: &ModelRef) -> Result<ModelInfo, BenchError> {
    let request = ModelMetadataRequest {
        name: model.name.clone(),
        version: model.version.map(|v| v.to_string()).unwrap_or_default(),
    };
    let response = unlimited(channel)
        .model_metadata(request)
        .await
        .map_err(|status| BenchError::Metadata {
            model: model.name.clone(),
            message: RequestError::from(status).to_string(),
        })?
        .into_inner();
    let inputs = response
        .inputs
        .into_iter()
        .map(|t| {
            Ok(ModelInput {
                datatype: parse_datatype(&t.name, &t.datatype)?,
                dims: Some(t.shape),
                name: t.name,
            })
        })
        .collect::<Result<_, BenchError>>()?;
    Ok(ModelInfo {
        inputs,
        signature_name: String::new(),
    })
}
