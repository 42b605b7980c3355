//! The core's one entry for inference, used by every protocol frontend:
//! resolve the version, track the request, then validate and execute.

use std::sync::Arc;

use inferd_tensor::Signature;

use crate::telemetry::{Api, Interface, RequestTracker};
use crate::{Core, CoreError, InferRequest, InferResponse, Servable, VersionRequest};

/// One inference call to a resolved model version, timed and counted from
/// the moment it was resolved: dropped without [`Call::succeeded`] it counts
/// as a failure, so a frontend's decode or encode error is counted too.
pub struct Call {
    servable: Arc<Servable>,
    /// The SavedModel signature the request named.
    signature: Option<String>,
    tracker: RequestTracker,
}

impl Core {
    /// Starts an inference call from `api` over `interface` to `model` at
    /// `version`: the version is resolved now and held until the call ends.
    pub fn call(
        &self,
        api: Api,
        interface: Interface,
        model: &str,
        version: VersionRequest,
    ) -> Result<Call, CoreError> {
        let servable = self.manager().handle(model, version)?;
        let tracker = servable.track(api, interface);
        Ok(Call {
            servable,
            signature: None,
            tracker,
        })
    }
}

impl Call {
    /// Runs SavedModel signature `name` (TF Serving's `signature_name`;
    /// `""` is `serving_default`) instead of the model's primary one.
    pub fn with_signature(mut self, name: &str) -> Result<Call, CoreError> {
        self.servable.for_signature(name)?;
        if !name.is_empty() && !self.servable.saved_signatures().is_empty() {
            self.signature = Some(name.to_string());
        }
        Ok(self)
    }

    /// The model's inputs and outputs (frontends that decode by the model's
    /// types read them).
    pub fn signature(&self) -> &Signature {
        self.servable().signature()
    }

    /// The version being called (the servable of its chosen signature).
    pub fn servable(&self) -> &Servable {
        self.signature
            .as_deref()
            .and_then(|name| self.servable.for_signature(name).ok())
            .unwrap_or(&self.servable)
    }

    /// The name of the SavedModel signature that runs, if it was read from one.
    pub fn signature_name(&self) -> Option<&str> {
        self.signature
            .as_deref()
            .or_else(|| self.servable.signature_name())
    }

    /// Reads the request's parameters, validates it against the signature,
    /// runs it and returns the requested outputs.
    pub async fn infer(&self, request: InferRequest) -> Result<InferResponse, CoreError> {
        let answer = self.servable().infer(request).await;
        if let Err(e) = &answer {
            self.tracker.failed_with(e.canonical_code().name());
        }
        answer
    }

    /// The answer reached the client's transport: count the call as a success.
    pub fn succeeded(self) {
        self.tracker.succeeded();
    }
}
