//! The serving core: the [`Manager`] that owns loaded model versions, request
//! validation, and the per-version scheduler. Every protocol frontend calls
//! [`Core::infer`] and the lookup methods here; none keeps state of its own.

mod error;
mod manager;
mod options;
mod release;
mod request;
mod run_estimate;
mod scheduler;
mod servable;
mod state;
pub mod telemetry;
mod validate;

use std::sync::Arc;

pub use error::{CoreError, ValidationError};
pub use manager::{LoadTiming, Manager, ManagerOptions, VersionStatistics};
pub use options::model_options;
pub use request::{ContentEncoding, InferInput, InferRequest, InferResponse, VersionRequest};
pub use scheduler::SchedulerOptions;
pub use servable::Servable;
pub use state::{ServableState, VersionStatus};
pub use validate::{ValidRequest, validate};

/// Shared entry point of every frontend.
pub struct Core {
    manager: Arc<Manager>,
}

impl Core {
    /// A core over `manager`.
    pub fn new(manager: Arc<Manager>) -> Self {
        Core { manager }
    }

    /// The model manager.
    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    /// Resolves the model version, validates the request against its
    /// signature, schedules it and returns the requested outputs.
    pub async fn infer(
        &self,
        model: &str,
        version: VersionRequest,
        request: InferRequest,
    ) -> Result<InferResponse, CoreError> {
        let servable = self.manager.handle(model, version)?;
        servable.infer(request).await
    }
}
