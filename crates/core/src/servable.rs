use std::sync::Arc;

use inferd_backend::LoadedModel;
use inferd_tensor::Signature;

use crate::scheduler::Scheduler;
use crate::{CoreError, InferRequest, InferResponse, SchedulerOptions, validate};

/// One loaded model version. Requests hold it through an `Arc` (the servable
/// handle); it is released when the last request drops its handle.
pub struct Servable {
    name: String,
    version: u64,
    platform: &'static str,
    model: Arc<dyn LoadedModel>,
    scheduler: Scheduler,
}

impl Servable {
    /// Wraps a loaded model.
    pub fn new(
        name: &str,
        version: u64,
        platform: &'static str,
        model: Arc<dyn LoadedModel>,
        options: SchedulerOptions,
    ) -> Self {
        Servable {
            name: name.to_string(),
            version,
            platform,
            model,
            scheduler: Scheduler::new(name, options),
        }
    }

    /// Model name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Version number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Platform string of the backend that loaded it.
    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// Inputs and outputs.
    pub fn signature(&self) -> &Signature {
        self.model.signature()
    }

    /// Validates, schedules and runs one request.
    pub async fn infer(&self, request: InferRequest) -> Result<InferResponse, CoreError> {
        let valid = validate(self.model.signature(), request)?;
        let model = self.model.clone();
        let outputs = self
            .scheduler
            .run(move || model.execute(valid.inputs))
            .await?
            .map_err(|e| CoreError::from_execution(&self.name, self.version, e))?;
        let specs = &self.model.signature().outputs;
        if outputs.len() != specs.len() {
            tracing::error!(model = %self.name, version = self.version, "backend returned {} outputs, expected {}", outputs.len(), specs.len());
            return Err(CoreError::Internal);
        }
        let mut outputs: Vec<Option<_>> = outputs.into_iter().map(Some).collect();
        let selected = valid
            .outputs
            .iter()
            .filter_map(|&i| outputs[i].take().map(|t| (specs[i].name.clone(), t)))
            .collect();
        Ok(InferResponse {
            model_name: self.name.clone(),
            model_version: self.version,
            outputs: selected,
        })
    }
}
