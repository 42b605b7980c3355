//! The serving core: the [`Manager`] that owns loaded model versions, request
//! validation, and the executors that run each version's requests. Every
//! protocol frontend enters through [`Core::call`] and the lookup methods
//! here; none keeps state of its own.

mod call;
mod error;
pub mod executor;
mod manager;
mod options;
mod parameters;
mod pipeline;
mod prepare;
mod release;
mod request;
mod reshaping;
mod servable;
mod state;
pub mod telemetry;
mod validate;

use std::sync::Arc;

pub use call::Call;
pub use error::{CanonicalCode, CoreError, ValidationError};
pub use executor::SchedulerOptions;
pub use manager::{
    BatchingFileParser, Detached, LoadTiming, Manager, ManagerOptions, PER_MODEL_BATCHING_FILE,
    Submitted, VersionStatistics, WarmupReader, WarmupRequest,
};
pub use options::model_options;
pub use parameters::{ParamValue, Parameters, RequestOptions, SequenceControl, SequenceId};
pub use pipeline::{CustomLibrary, CustomNode, NodeRunner, PIPELINE_VERSION, build_pipeline};
pub use prepare::InputPlan;
pub use request::{ContentEncoding, InferInput, InferRequest, InferResponse, VersionRequest};
pub use servable::{OtherSignature, Servable};
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
}
