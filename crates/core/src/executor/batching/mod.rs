//! The batching executor: requests of one model version queue, and each
//! free execution slot runs the compatible ones as one engine call.
//!
//! No thread or task sits in the middle. A request queues, then, if a slot
//! is free and the policy says run, takes the slot and runs the batch
//! itself: in place when the engine is quick (as the direct executor does),
//! else on a blocking thread that goes on running the next batch for as
//! long as the queue holds one. So a lone request runs at once, and while
//! the engine is busy requests gather into the next batch. A delay, when
//! set, is kept by a timer task armed only while a slot waits for it.

mod assemble;
mod options;
mod policy;
mod queue;
mod sizing;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use inferd_backend::{BackendError, LoadedModel};
use inferd_tensor::Tensor;
use tokio::sync::oneshot;

pub use options::BatchingOptions;
use policy::{Candidates, Decision};
use queue::{Claim, Pending, Queue, Reply};
use sizing::BatchSizing;

use super::run_estimate::RunEstimate;
use super::scheduler::INLINE_RUN_LIMIT;
use super::{Answer, Executor, ExecutorFuture, Job};
use crate::telemetry::VersionTelemetry;
use crate::{CoreError, ValidationError};

/// Runs a version's requests in batches (see the module documentation).
pub struct BatchingExecutor {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    version: u64,
    model: Arc<dyn LoadedModel>,
    options: BatchingOptions,
    telemetry: Arc<VersionTelemetry>,
    estimate: RunEstimate,
    sizing: BatchSizing,
    state: Mutex<State>,
}

struct State {
    queue: Queue,
    /// Execution slots not running a batch.
    idle: usize,
    /// When the armed delay timer fires, if one is.
    timer: Option<Instant>,
}

/// Requests taken from the queue to run as one engine call.
type Batch = Vec<Pending>;

/// Delay timers nearer than this sleep on a blocking thread (to tens of
/// microseconds) rather than on tokio's millisecond timer wheel.
const FINE_TIMER_LIMIT: Duration = Duration::from_millis(5);

impl BatchingExecutor {
    /// Batches requests to `model` (version `version` of `name`) as
    /// `options` say.
    pub fn new(
        name: &str,
        version: u64,
        model: Arc<dyn LoadedModel>,
        options: BatchingOptions,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        let state = State {
            queue: Queue::new(options.priority_levels),
            idle: options.concurrent_batches,
            timer: None,
        };
        BatchingExecutor {
            shared: Arc::new(Shared {
                name: name.to_string(),
                version,
                model,
                options,
                telemetry,
                estimate: RunEstimate::default(),
                sizing: BatchSizing::default(),
                state: Mutex::new(state),
            }),
        }
    }

    async fn run(&self, job: Job) -> Result<Answer, CoreError> {
        let shared = &self.shared;
        let rows = job.rows;
        let max = shared.options.max_batch_size();
        if rows > max {
            return Err(ValidationError::BatchLimit {
                model: shared.name.clone(),
                max,
            }
            .into());
        }
        // A `timeout` of 0 means none, as Triton reads it.
        let deadline = job
            .options
            .timeout
            .filter(|t| !t.is_zero())
            .or(shared.options.default_timeout)
            .map(|t| Instant::now() + t);
        let (reply, answer) = oneshot::channel();
        let claim = Arc::new(Claim::default());
        let pending = Pending {
            inputs: job.inputs,
            rows,
            enqueued: Instant::now(),
            claim: claim.clone(),
            reply,
        };
        let level = shared.options.level(job.options.priority);
        if let Some(batch) = shared.enqueue(level, pending)? {
            shared.clone().launch(batch);
        }
        let outputs = wait(answer, &claim, deadline).await?;
        Ok(Answer::Outputs(outputs, Default::default()))
    }
}

impl Executor for BatchingExecutor {
    fn execute(&self, job: Job) -> ExecutorFuture<'_> {
        Box::pin(self.run(job))
    }

    fn slots(&self) -> usize {
        self.shared.options.concurrent_batches
    }
}

/// Gives a queued request's place up if its caller goes away first.
struct AbandonOnDrop<'a>(&'a Claim);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// Waits for a queued request's answer; past `deadline` a request still
/// queued leaves the queue and is answered with a timeout, never run.
async fn wait(
    mut answer: oneshot::Receiver<Reply>,
    claim: &Claim,
    deadline: Option<Instant>,
) -> Reply {
    let _abandon = AbandonOnDrop(claim);
    if let Some(deadline) = deadline {
        tokio::select! {
            biased;
            reply = &mut answer => return reply.unwrap_or(Err(CoreError::Internal)),
            () = tokio::time::sleep_until(deadline.into()) => {
                if claim.abandon() {
                    return Err(CoreError::TimedOut);
                }
            }
        }
    }
    answer.await.unwrap_or(Err(CoreError::Internal))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `pending`; returns a batch to run now when a slot is free and
    /// the policy says so. A full queue refuses at once.
    fn enqueue(
        self: &Arc<Self>,
        level: usize,
        pending: Pending,
    ) -> Result<Option<Batch>, CoreError> {
        let mut state = self.lock();
        if state.queue.len() >= self.options.queue_capacity {
            state.queue.purge();
            if state.queue.len() >= self.options.queue_capacity {
                return Err(CoreError::Overloaded(self.name.clone()));
            }
        }
        state.queue.push(level, pending);
        Ok(self.start_if_idle(&mut state))
    }

    /// Takes an idle slot for the next batch, if there is one and the
    /// policy says run; arms the delay timer when it says wait.
    fn start_if_idle(self: &Arc<Self>, state: &mut State) -> Option<Batch> {
        if state.idle == 0 {
            return None;
        }
        let batch = self.next_batch(state)?;
        state.idle -= 1;
        Some(batch)
    }

    /// After a batch: the next one in the same slot, or the slot goes idle.
    fn continue_or_idle(self: &Arc<Self>) -> Option<Batch> {
        let mut state = self.lock();
        let next = self.next_batch(&mut state);
        if next.is_none() {
            state.idle += 1;
        }
        next
    }

    fn next_batch(self: &Arc<Self>, state: &mut State) -> Option<Batch> {
        let options = &self.options;
        let limit = self.sizing.limit(options.form.max_rows);
        let plan = state.queue.plan(limit, options.pad_variable);
        let now = Instant::now();
        let candidates = Candidates {
            rows: &plan.rows,
            oldest: plan.oldest.unwrap_or(now),
            full: plan.full,
            limit,
        };
        match options.form.decide(candidates, now) {
            Decision::Idle => None,
            Decision::Run(n) => {
                let batch = state.queue.take(&plan, n);
                if batch.is_empty() {
                    // Everything planned had been abandoned: look again.
                    state.queue.purge();
                    return self.next_batch(state);
                }
                Some(batch)
            }
            Decision::WaitUntil(at) => {
                self.arm_timer(state, at);
                None
            }
        }
    }

    /// Looks at the queue again at `at`. tokio's timers tick in whole
    /// milliseconds, too coarse for queue delays of a few hundred
    /// microseconds: a near deadline is kept by a blocking thread's sleep.
    fn arm_timer(self: &Arc<Self>, state: &mut State, at: Instant) {
        if state.timer.is_some_and(|armed| armed <= at) {
            return;
        }
        state.timer = Some(at);
        let shared = self.clone();
        let wait = at.saturating_duration_since(Instant::now());
        if wait < FINE_TIMER_LIMIT {
            tokio::task::spawn_blocking(move || {
                std::thread::sleep(wait);
                if let Some(batch) = shared.timer_fired(at) {
                    shared.run_here(batch);
                }
            });
        } else {
            tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                if let Some(batch) = shared.timer_fired(at) {
                    shared.launch(batch);
                }
            });
        }
    }

    /// The timer armed for `at` went off: a batch to run, if a slot is free.
    fn timer_fired(self: &Arc<Self>, at: Instant) -> Option<Batch> {
        let mut state = self.lock();
        if state.timer == Some(at) {
            state.timer = None;
        }
        self.start_if_idle(&mut state)
    }

    /// Runs `batch` in the slot it holds: in place when the engine is quick,
    /// else on a blocking thread that keeps the slot busy while batches queue.
    fn launch(self: Arc<Self>, batch: Batch) {
        let elements: usize = batch
            .iter()
            .flat_map(|p| p.inputs.iter())
            .map(Tensor::len)
            .sum();
        let short = self
            .estimate
            .predict(elements)
            .is_some_and(|t| t < INLINE_RUN_LIMIT);
        if short {
            self.execute_batch(batch);
            if let Some(next) = self.continue_or_idle() {
                tokio::spawn(async move { self.launch(next) });
            }
        } else {
            tokio::task::spawn_blocking(move || self.run_here(batch));
        }
    }

    /// Runs `batch`, then every next one while the queue holds one, on this
    /// (blocking) thread; the slot goes idle when the queue has none.
    fn run_here(self: &Arc<Self>, batch: Batch) {
        let mut batch = batch;
        loop {
            self.execute_batch(batch);
            match self.continue_or_idle() {
                Some(next) => batch = next,
                None => break,
            }
        }
    }

    /// One engine call for `batch`; each member gets its rows of the outputs.
    fn execute_batch(&self, batch: Batch) {
        let started = Instant::now();
        let rows: usize = batch.iter().map(|p| p.rows).sum();
        let padded = self.options.padded(rows);
        let inputs: Vec<Tensor> = {
            let members: Vec<&[Tensor]> = batch.iter().map(|p| p.inputs.as_slice()).collect();
            (0..members[0].len())
                .map(|i| assemble::join(&members, i, padded - rows))
                .collect()
        };
        let elements = inputs.iter().map(Tensor::len).sum();
        let assembled = started.elapsed();
        let (result, run) = self.engine_call(inputs);
        self.estimate.record(elements, run);
        if result.is_ok() {
            self.sizing.record(padded, run);
        }
        if matches!(result, Err(BackendError::InvalidInput(_))) && batch.len() > 1 {
            // One member's values were refused: run each alone, so that the
            // others do not fail with it.
            for pending in batch {
                self.execute_batch(vec![pending]);
            }
            return;
        }
        let collecting = Instant::now();
        let replies = self.split(result, &batch, padded);
        // Counted before anyone is answered, so that a client reading the
        // statistics after its answer sees its batch.
        self.telemetry
            .batch_ran(rows, assembled, run, collecting.elapsed());
        for (pending, reply) in batch.into_iter().zip(replies) {
            let waited = started.saturating_duration_since(pending.enqueued);
            self.telemetry.request_ran(waited, run);
            let _ = pending.reply.send(reply);
        }
    }

    fn engine_call(&self, inputs: Vec<Tensor>) -> (Result<Vec<Tensor>, BackendError>, Duration) {
        self.telemetry.slot_taken(true);
        let started = Instant::now();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.model.execute(inputs)))
                .unwrap_or_else(|_| Err(BackendError::Execution("the inference panicked".into())));
        let run = started.elapsed();
        self.telemetry.slot_taken(false);
        (result, run)
    }

    /// Each member's answer: its rows of the outputs of a batch of `padded`
    /// rows, or the batch's error.
    fn split(
        &self,
        result: Result<Vec<Tensor>, BackendError>,
        batch: &Batch,
        padded: usize,
    ) -> Vec<Reply> {
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(error) => {
                let error = CoreError::from_execution(&self.name, self.version, error);
                return batch.iter().map(|_| Err(error.clone())).collect();
            }
        };
        if let Some(bad) = outputs.iter().find(|t| t.shape().first() != Some(&padded)) {
            tracing::error!(model = %self.name, version = self.version, shape = ?bad.shape(), padded,
                "an output's first dimension is not the batch size; this model cannot be batched");
            return batch.iter().map(|_| Err(CoreError::Internal)).collect();
        }
        let mut start = 0;
        batch
            .iter()
            .map(|pending| {
                let mine = outputs
                    .iter()
                    .map(|t| assemble::rows(t, start, pending.rows))
                    .collect();
                start += pending.rows;
                Ok(mine)
            })
            .collect()
    }
}
