//! `tensorflow.serving.ModelService`: version status (as `GET /v1/models/{m}`)
//! and HandleReloadConfigRequest, which applies a model list sent over gRPC.

use std::sync::Arc;

use inferd_core::telemetry::{Api, Interface, Method};
use inferd_core::{CoreError, VersionRequest, VersionStatus};
use tonic::{Request, Response, Status};

use super::grpc_reload::{RELOAD_FAILED, server_models};
use super::grpc_spec::requested;
use crate::proto::tensorflow::serving::model_service_server::ModelService;
use crate::proto::tensorflow::serving::model_version_status::State;
use crate::proto::tensorflow::serving::*;
use crate::reload::Reloader;

/// Request metadata that lets HandleReloadConfigRequest apply an empty model
/// list (unload every model), which is refused without it.
pub const ALLOW_EMPTY_LIST: &str = "inferd-allow-empty-model-list";
use crate::transport::status_from_core;

/// `error_code` numbers (tensorflow.error.Code, the gRPC codes) in answers.
const CODE_OK: i32 = 0;
const CODE_UNKNOWN: i32 = 2;

/// The TensorFlow Serving model service.
pub struct TfsModels {
    reloader: Arc<Reloader>,
}

impl TfsModels {
    /// A service that reports on, and applies model lists through, `reloader`.
    pub fn new(reloader: Arc<Reloader>) -> Self {
        TfsModels { reloader }
    }

    /// The statuses GetModelStatus answers for `name` and `version`.
    fn status(
        &self,
        name: &str,
        version: VersionRequest,
    ) -> Result<GetModelStatusResponse, Status> {
        let manager = self.reloader.manager();
        let statuses = manager
            .model_status(name)
            .ok_or(CoreError::ModelNotFound)
            .map_err(status_from_core)?;
        if statuses.is_empty()
            && let Some(message) = manager.storage_fault(name)
        {
            return Err(status_from_core(CoreError::StorageFault {
                model: name.to_string(),
                message,
            }));
        }
        let wanted = match version {
            VersionRequest::Latest => None,
            VersionRequest::Specific(v) => Some(v),
            VersionRequest::Label(label) => Some(
                manager
                    .label_version(name, &label)
                    .map_err(status_from_core)?,
            ),
        };
        // Newest first, as the REST status lists them.
        let model_version_status: Vec<_> = statuses
            .iter()
            .rev()
            .filter(|s| wanted.is_none_or(|v| s.version == v))
            .map(version_status)
            .collect();
        if wanted.is_some() && model_version_status.is_empty() {
            return Err(status_from_core(CoreError::VersionNotFound));
        }
        Ok(GetModelStatusResponse {
            model_version_status,
        })
    }
}

fn version_status(status: &VersionStatus) -> ModelVersionStatus {
    ModelVersionStatus {
        version: i64::try_from(status.version).unwrap_or(i64::MAX),
        // The core's state names are the proto's enum names.
        state: State::from_str_name(status.state.name()).unwrap_or(State::Unknown) as i32,
        status: Some(StatusProto {
            error_code: if status.error.is_some() {
                CODE_UNKNOWN
            } else {
                CODE_OK
            },
            error_message: status.error.clone().unwrap_or_default(),
        }),
    }
}

#[tonic::async_trait]
impl ModelService for TfsModels {
    async fn get_model_status(
        &self,
        request: Request<GetModelStatusRequest>,
    ) -> Result<Response<GetModelStatusResponse>, Status> {
        let (name, version) = requested(request.into_inner().model_spec)?;
        let answer = self.status(&name, version);
        self.reloader.manager().count_request(
            Api::TensorFlowServing,
            Interface::Grpc,
            Method::GetModelStatus,
            &name,
            None,
            answer.is_ok(),
        );
        Ok(Response::new(answer?))
    }

    async fn handle_reload_config_request(
        &self,
        request: Request<ReloadConfigRequest>,
    ) -> Result<Response<ReloadConfigResponse>, Status> {
        let allow_empty = request
            .metadata()
            .get(ALLOW_EMPTY_LIST)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let models = server_models(request.into_inner().config)?;
        if models.model_config_list.is_empty() && !allow_empty {
            return Err(Status::invalid_argument(format!(
                "{RELOAD_FAILED}: the model list is empty, which would unload every model; \
                 send the metadata '{ALLOW_EMPTY_LIST}: true' to mean it"
            )));
        }
        self.reloader
            .apply(&models)
            .await
            .map_err(|e| Status::invalid_argument(format!("{RELOAD_FAILED}: {e}")))?;
        Ok(Response::new(ReloadConfigResponse {
            status: Some(StatusProto {
                error_code: CODE_OK,
                error_message: String::new(),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use inferd_core::ServableState;

    use super::*;

    #[test]
    fn statuses_carry_state_numbers_and_error_codes() {
        let failed = VersionStatus {
            version: 2,
            state: ServableState::Loading,
            error: Some("bad file".into()),
        };
        let answer = version_status(&failed);
        assert_eq!((answer.version, answer.state), (2, 20));
        let status = answer.status.unwrap();
        assert_eq!(
            (status.error_code, status.error_message.as_str()),
            (2, "bad file")
        );
        for (state, number) in [
            (ServableState::Start, 10),
            (ServableState::Available, 30),
            (ServableState::Unloading, 40),
            (ServableState::End, 50),
        ] {
            let ok = version_status(&VersionStatus {
                version: 1,
                state,
                error: None,
            });
            assert_eq!((ok.state, ok.status.unwrap().error_code), (number, 0));
        }
    }
}
