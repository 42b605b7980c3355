//! The direct executor: each request runs alone, once one of `nireq`
//! execution slots is free, in place or on a blocking thread by its
//! expected run time (see [`scheduler`](super::scheduler)).

use std::sync::Arc;

use inferd_backend::LoadedModel;

use super::scheduler::Scheduler;
use super::{Answer, Executor, ExecutorFuture, Job, SchedulerOptions};
use crate::CoreError;
use crate::telemetry::VersionTelemetry;

/// Runs every request on its own through the version's scheduler.
pub struct DirectExecutor {
    name: String,
    version: u64,
    model: Arc<dyn LoadedModel>,
    scheduler: Scheduler,
    slots: usize,
    telemetry: Arc<VersionTelemetry>,
}

impl DirectExecutor {
    /// An executor of `model` (version `version` of `name`) with `options`.
    pub fn new(
        name: &str,
        version: u64,
        model: Arc<dyn LoadedModel>,
        options: SchedulerOptions,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        DirectExecutor {
            name: name.to_string(),
            version,
            model,
            scheduler: Scheduler::new(name, options),
            slots: options.nireq,
            telemetry,
        }
    }

    async fn run(&self, job: Job) -> Result<Answer, CoreError> {
        let elements = job.elements();
        let job_rows = job.rows;
        let (model, telemetry) = (self.model.clone(), self.telemetry.clone());
        let inputs = job.inputs;
        let quick = model.runs_quickly(&inputs);
        let executed = self
            .scheduler
            .run(elements, quick, move || {
                telemetry.slot_taken(true);
                let outputs = model.execute(inputs);
                telemetry.slot_taken(false);
                outputs
            })
            .await?;
        self.telemetry.request_ran(executed.wait, executed.run);
        let zero = std::time::Duration::ZERO;
        self.telemetry.batch_ran(job_rows, zero, executed.run, zero);
        let outputs = executed
            .value
            .map_err(|e| CoreError::from_execution(&self.name, self.version, e))?;
        Ok(Answer::Outputs(outputs, Default::default()))
    }
}

impl Executor for DirectExecutor {
    fn execute(&self, job: Job) -> ExecutorFuture<'_> {
        Box::pin(self.run(job))
    }

    fn slots(&self) -> usize {
        self.slots
    }
}
