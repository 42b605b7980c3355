//! `tensorflow.serving.PredictionService` over the core: Predict (on the
//! signature a request names) and GetModelMetadata (every signature).

use std::collections::BTreeMap;
use std::sync::Arc;

use inferd_core::telemetry::{Api, Interface, Method};
use inferd_core::{Core, InferRequest, Servable};
use prost::Message;
use tonic::{Request, Response, Status};

use super::grpc_spec::{requested, served};
use super::grpc_tensor::{decode_input, encode_output};
use super::signature_defs;
use crate::proto::google::protobuf::Any;
use crate::proto::tensorflow::serving::prediction_service_server::PredictionService;
use crate::proto::tensorflow::serving::*;
use crate::transport::status_from_core;

/// The one kind of metadata there is.
const SIGNATURE_DEF: &str = "signature_def";
/// The type URL of the packed metadata value.
const SIGNATURE_DEF_MAP_URL: &str = "type.googleapis.com/tensorflow.serving.SignatureDefMap";

/// The TensorFlow Serving prediction service.
pub struct TfsPrediction {
    core: Arc<Core>,
}

impl TfsPrediction {
    /// A service over `core`.
    pub fn new(core: Arc<Core>) -> Self {
        TfsPrediction { core }
    }

    fn servable(&self, spec: Option<ModelSpec>) -> Result<Arc<Servable>, Status> {
        let (name, version) = requested(spec)?;
        self.core
            .manager()
            .handle(&name, version)
            .map_err(status_from_core)
    }
}

/// A Predict request's tensors as a core request.
pub(crate) fn infer_request(
    inputs: BTreeMap<String, crate::proto::tensorflow::TensorProto>,
    outputs: Vec<String>,
) -> Result<InferRequest, Status> {
    let inputs = inputs
        .into_iter()
        .map(|(name, tensor)| decode_input(name, tensor))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InferRequest {
        inputs,
        outputs,
        ..InferRequest::default()
    })
}

/// Checks `metadata_field` as TensorFlow Serving does: at least one, and only
/// `signature_def`.
fn check_fields(fields: &[String]) -> Result<(), Status> {
    if fields.is_empty() {
        return Err(Status::invalid_argument(
            "Metadata field signature_def is required",
        ));
    }
    match fields.iter().find(|f| *f != SIGNATURE_DEF) {
        Some(other) => Err(Status::invalid_argument(format!(
            "Metadata field {other} is not supported; only signature_def is"
        ))),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl PredictionService for TfsPrediction {
    async fn predict(
        &self,
        request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        let request = request.into_inner();
        let signature = request
            .model_spec
            .as_ref()
            .map(|s| s.signature_name.clone())
            .unwrap_or_default();
        let (name, version) = requested(request.model_spec)?;
        let call = self
            .core
            .call(Api::TensorFlowServing, Interface::Grpc, &name, version)
            .and_then(|call| call.with_signature(&signature))
            .map_err(status_from_core)?;
        let infer = infer_request(request.inputs, request.output_filter)?;
        let response = call.infer(infer).await.map_err(status_from_core)?;
        let outputs = response
            .outputs
            .iter()
            .map(|(name, tensor)| (name.clone(), encode_output(tensor)))
            .collect();
        let mut spec = served(&response.model_name, response.model_version);
        if let Some(used) = call.signature_name() {
            spec.signature_name = used.to_string();
        }
        let answer = PredictResponse {
            outputs,
            model_spec: Some(spec),
        };
        call.succeeded();
        Ok(Response::new(answer))
    }

    async fn classify(
        &self,
        _request: Request<ClassificationRequest>,
    ) -> Result<Response<ClassificationResponse>, Status> {
        Err(Status::unimplemented(super::unsupported_method("Classify")))
    }

    async fn regress(
        &self,
        _request: Request<RegressionRequest>,
    ) -> Result<Response<RegressionResponse>, Status> {
        Err(Status::unimplemented(super::unsupported_method("Regress")))
    }

    async fn multi_inference(
        &self,
        _request: Request<MultiInferenceRequest>,
    ) -> Result<Response<MultiInferenceResponse>, Status> {
        Err(Status::unimplemented(super::unsupported_method(
            "MultiInference",
        )))
    }

    async fn get_model_metadata(
        &self,
        request: Request<GetModelMetadataRequest>,
    ) -> Result<Response<GetModelMetadataResponse>, Status> {
        let request = request.into_inner();
        check_fields(&request.metadata_field)?;
        let name = request.model_spec.as_ref().map(|s| s.name.clone());
        let servable = self.servable(request.model_spec);
        if let Some(name) = name {
            self.core.manager().count_request(
                Api::TensorFlowServing,
                Interface::Grpc,
                Method::GetModelMetadata,
                &name,
                servable.as_ref().ok().map(|s| s.version()),
                servable.is_ok(),
            );
        }
        let servable = servable?;
        let map = signature_defs::to_proto(&signature_defs::of(&servable));
        let packed = Any {
            type_url: SIGNATURE_DEF_MAP_URL.to_string(),
            value: map.encode_to_vec().into(),
        };
        Ok(Response::new(GetModelMetadataResponse {
            model_spec: Some(served(servable.name(), servable.version())),
            metadata: BTreeMap::from([(SIGNATURE_DEF.to_string(), packed)]),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_fields() {
        assert!(check_fields(&["signature_def".into()]).is_ok());
        let err = check_fields(&[]).unwrap_err();
        assert_eq!(err.message(), "Metadata field signature_def is required");
        let err = check_fields(&["signature_def".into(), "x".into()]).unwrap_err();
        assert!(
            err.message()
                .starts_with("Metadata field x is not supported")
        );
    }
}
