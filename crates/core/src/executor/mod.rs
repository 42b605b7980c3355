//! How a model version runs the requests that passed validation. A servable
//! hands each request to the executor chosen when the version was built;
//! the executor sees the request itself (tensors and parameters), so that a
//! batching, sequence, pipeline or streaming executor is one more module
//! here, beside the direct one.

mod batching;
mod direct;
mod run_estimate;
mod scheduler;
mod sequence;

use std::future::Future;
use std::pin::Pin;

use inferd_tensor::Tensor;

use crate::{CoreError, Parameters, RequestOptions};

pub use batching::{BatchingExecutor, BatchingOptions};
pub use direct::DirectExecutor;
pub use scheduler::SchedulerOptions;
pub use sequence::{SequenceError, SequenceExecutor, SequenceSettings, StatePlan};

/// A future an executor returns, borrowing the executor.
pub type ExecutorFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, CoreError>> + Send + 'a>>;

/// One validated request, as an executor receives it.
#[derive(Debug)]
pub struct Job {
    /// One tensor per model input, in the signature's order, checked.
    pub inputs: Vec<Tensor>,
    /// The request's batch size (1 when the model has no batch dimension).
    pub rows: usize,
    /// What the core read from the request's parameters.
    pub options: RequestOptions,
    /// The request's parameters as sent (for executors with their own).
    pub parameters: Parameters,
}

impl Job {
    /// Input elements over all inputs (the measure of a request's work).
    pub fn elements(&self) -> usize {
        self.inputs.iter().map(Tensor::len).sum()
    }
}

/// What an executor answers.
#[derive(Debug)]
pub enum Answer {
    /// One response: every model output, in the signature's order, and
    /// response parameters.
    Outputs(Vec<Tensor>, Parameters),
    /// A stream of responses (decoupled models); each item is one response.
    Stream(tokio::sync::mpsc::Receiver<Result<(Vec<Tensor>, Parameters), CoreError>>),
}

/// Runs validated requests of one model version.
pub trait Executor: Send + Sync {
    /// Runs `job` and answers it. Admission (queue bounds, overload) is the
    /// executor's to decide.
    fn execute(&self, job: Job) -> ExecutorFuture<'_>;

    /// Inferences that may run at once (reported as execution slots).
    fn slots(&self) -> usize;

    /// Whether requests belong to sequences (a stateful model): the
    /// servable then reads OVMS's sequence inputs and answers `sequence_id`.
    fn takes_sequences(&self) -> bool {
        false
    }
}
