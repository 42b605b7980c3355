use std::sync::Arc;
use std::time::Instant;

use inferd_backend::LoadedModel;
use inferd_tensor::Signature;

use crate::scheduler::Scheduler;
use crate::telemetry::{Api, Interface, RequestTracker, StatsSnapshot, VersionTelemetry};
use crate::{CoreError, InferRequest, InferResponse, SchedulerOptions, validate};

/// One loaded model version. Requests hold it through an `Arc` (the servable
/// handle); it is released when the last request drops its handle.
pub struct Servable {
    name: String,
    version: u64,
    platform: &'static str,
    model: Arc<dyn LoadedModel>,
    scheduler: Scheduler,
    telemetry: Arc<VersionTelemetry>,
}

impl Servable {
    /// Wraps a loaded model; its statistics and metrics go to `telemetry`.
    pub fn new(
        name: &str,
        version: u64,
        platform: &'static str,
        model: Arc<dyn LoadedModel>,
        options: SchedulerOptions,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        telemetry.set_slots(options.nireq);
        Servable {
            name: name.to_string(),
            version,
            platform,
            model,
            scheduler: Scheduler::new(name, options),
            telemetry,
        }
    }

    /// Starts timing one request from a frontend; see [`RequestTracker`].
    pub fn track(&self, api: Api, interface: Interface) -> RequestTracker<'_> {
        RequestTracker::start(&self.telemetry, api, interface)
    }

    /// Triton-style statistics of this version.
    pub fn stats(&self) -> StatsSnapshot {
        self.telemetry.stats().snapshot()
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
        let started = Instant::now();
        let valid = validate(self.model.signature(), request)?;
        self.telemetry.stats().input_prepared(started.elapsed());
        let (model, telemetry) = (self.model.clone(), self.telemetry.clone());
        let elements = valid.inputs.iter().map(|t| t.len()).sum();
        let executed = self
            .scheduler
            .run(elements, move || {
                telemetry.slot_taken(true);
                let outputs = model.execute(valid.inputs);
                telemetry.slot_taken(false);
                outputs
            })
            .await?;
        self.telemetry.executed(executed.wait, executed.run);
        let collecting = Instant::now();
        let outputs = executed
            .value
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
        self.telemetry
            .stats()
            .output_collected(collecting.elapsed());
        Ok(InferResponse {
            model_name: self.name.clone(),
            model_version: self.version,
            outputs: selected,
        })
    }
}
