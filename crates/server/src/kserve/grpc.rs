//! `inference.GRPCInferenceService` over the core.

use std::collections::BTreeMap;
use std::sync::Arc;

use inferd_core::telemetry::{Api, Interface, Method};
use inferd_core::{Core, InferRequest, InferResponse, Servable, VersionRequest};
use inferd_tensor::TensorSpec;
use tonic::{Request, Response, Status};

use super::grpc_repository as repository;
use super::grpc_tensor::{decode_input, encode_contents};
use super::parameters::{from_proto, to_proto};
use crate::proto::kserve::grpc_inference_service_server::GrpcInferenceService;
use crate::proto::kserve::model_infer_response::InferOutputTensor;
use crate::proto::kserve::model_metadata_response::TensorMetadata;
use crate::proto::kserve::*;
use crate::reload::Reloader;
use crate::transport::status_from_core;

/// The KServe v2 gRPC service.
pub struct KServeGrpc {
    core: Arc<Core>,
    reloader: Arc<Reloader>,
}

impl KServeGrpc {
    /// A service over `core`; `reloader` loads and unloads models for the
    /// repository extension.
    pub fn new(core: Arc<Core>, reloader: Arc<Reloader>) -> Self {
        KServeGrpc { core, reloader }
    }

    fn servable(&self, name: &str, version: &str) -> Result<Arc<Servable>, Status> {
        let version = VersionRequest::parse(version).map_err(status_from_core)?;
        self.core
            .manager()
            .handle(name, version)
            .map_err(status_from_core)
    }

    fn count(&self, method: Method, name: &str, version: Option<u64>, ok: bool) {
        self.core
            .manager()
            .count_request(Api::KServe, Interface::Grpc, method, name, version, ok);
    }
}

fn metadata(specs: &[TensorSpec]) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|s| TensorMetadata {
            name: s.name.clone(),
            datatype: s.dtype.name().to_string(),
            shape: s.shape_i64(),
        })
        .collect()
}

pub(crate) fn decode_request(request: ModelInferRequest) -> Result<(InferRequest, bool), Status> {
    let use_raw = !request.raw_input_contents.is_empty();
    if use_raw && request.raw_input_contents.len() != request.inputs.len() {
        return Err(Status::invalid_argument(format!(
            "raw_input_contents has {} entries for {} inputs; send one per input",
            request.raw_input_contents.len(),
            request.inputs.len()
        )));
    }
    let mut raw = request.raw_input_contents.into_iter();
    let inputs = request
        .inputs
        .into_iter()
        .map(|tensor| decode_input(tensor, if use_raw { raw.next() } else { None }))
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = Vec::with_capacity(request.outputs.len());
    let mut output_parameters = BTreeMap::new();
    for output in request.outputs {
        if !output.parameters.is_empty() {
            output_parameters.insert(output.name.clone(), from_proto(output.parameters));
        }
        outputs.push(output.name);
    }
    let infer = InferRequest {
        id: (!request.id.is_empty()).then_some(request.id),
        parameters: from_proto(request.parameters),
        inputs,
        outputs,
        output_parameters,
    };
    Ok((infer, use_raw))
}

/// The gRPC answer: outputs in the form the request used (raw when it sent
/// raw inputs, or when an output's type has no typed contents).
fn encode_response(response: InferResponse, id: String, use_raw: bool) -> ModelInferResponse {
    let mut outputs = Vec::with_capacity(response.outputs.len());
    let mut raw_output_contents = Vec::new();
    // Typed contents cannot carry FP16/BF16: those force the raw form.
    let typed: Option<Vec<_>> = if use_raw {
        None
    } else {
        response
            .outputs
            .iter()
            .map(|(_, t)| encode_contents(t))
            .collect()
    };
    let mut typed = typed.map(Vec::into_iter);
    for (name, tensor) in &response.outputs {
        let contents = match typed.as_mut() {
            Some(contents) => contents.next(),
            None => {
                raw_output_contents.push(tensor.to_wire());
                None
            }
        };
        outputs.push(InferOutputTensor {
            name: name.clone(),
            datatype: tensor.dtype().name().to_string(),
            shape: tensor.shape().iter().map(|&d| d as i64).collect(),
            parameters: Default::default(),
            contents,
        });
    }
    ModelInferResponse {
        model_name: response.model_name,
        model_version: response.model_version.to_string(),
        id,
        parameters: to_proto(&response.parameters),
        outputs,
        raw_output_contents,
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for KServeGrpc {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.core.manager().is_ready(),
        }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let ready = match self.servable(&request.name, &request.version) {
            Ok(_) => Ok(true),
            Err(status) if status.code() == tonic::Code::Unavailable => Ok(false),
            // A known model with no live version (e.g. unloaded through the
            // repository extension) is not ready, as Triton answers.
            Err(status)
                if status.code() == tonic::Code::NotFound
                    && request.version.is_empty()
                    && self.core.manager().model_status(&request.name).is_some() =>
            {
                Ok(false)
            }
            Err(status) => Err(status),
        };
        self.count(Method::ModelReady, &request.name, None, ready.is_ok());
        Ok(Response::new(ModelReadyResponse { ready: ready? }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: crate::SERVER_NAME.to_string(),
            version: crate::SERVER_VERSION.to_string(),
            extensions: super::EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let servable = self.servable(&request.name, &request.version);
        let version = servable.as_ref().ok().map(|s| s.version());
        self.count(
            Method::ModelMetadata,
            &request.name,
            version,
            servable.is_ok(),
        );
        let servable = servable?;
        let versions = self.core.manager().available_versions(&request.name);
        let signature = servable.signature();
        Ok(Response::new(ModelMetadataResponse {
            name: servable.name().to_string(),
            versions,
            platform: servable.platform().to_string(),
            inputs: metadata(&signature.inputs),
            outputs: metadata(&signature.outputs),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let request = request.into_inner();
        let version = VersionRequest::parse(&request.model_version).map_err(status_from_core)?;
        let call = self
            .core
            .call(Api::KServe, Interface::Grpc, &request.model_name, version)
            .map_err(status_from_core)?;
        let (infer, use_raw) = decode_request(request)?;
        let id = infer.id.clone().unwrap_or_default();
        let response = call.infer(infer).await.map_err(status_from_core)?;
        let answer = encode_response(response, id, use_raw);
        call.succeeded();
        Ok(Response::new(answer))
    }

    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        let request = request.into_inner();
        let selected = super::statistics::select(&self.core, &request.name, &request.version)
            .map_err(status_from_core)?;
        Ok(Response::new(super::statistics::to_proto(&selected)))
    }

    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        let request = request.into_inner();
        let servable = self.servable(&request.name, &request.version)?;
        let settings = self.reloader.model_config(&request.name).await;
        Ok(Response::new(ModelConfigResponse {
            config: Some(super::model_config::model_config(
                &servable,
                settings.as_ref(),
            )),
        }))
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        Ok(Response::new(repository::repository_index(
            &self.reloader,
            request.into_inner(),
        )))
    }

    async fn repository_model_load(
        &self,
        request: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        repository::load(&self.reloader, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn repository_model_unload(
        &self,
        request: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        repository::unload(&self.reloader, request.into_inner())
            .await
            .map(Response::new)
    }
}
