//! The sequence executor: stateful models. Each request names its sequence
//! (Triton's `sequence_id`/`sequence_start`/`sequence_end` parameters, or
//! OVMS's `sequence_id`/`sequence_control_input` inputs, both read into
//! [`SequenceControl`](crate::SequenceControl) before the request gets
//! here); the sequence's implicit states are added to its inputs and taken
//! from its outputs; its requests run in order, one at a time; different
//! sequences run concurrently through the inner executor.

mod state;
mod table;

use std::sync::{Arc, Weak};
use std::time::Duration;

use inferd_backend::LoadedModel;

use super::{Answer, Executor, ExecutorFuture, Job};
use crate::telemetry::VersionTelemetry;
use crate::{CoreError, ParamValue, SequenceId};

pub use state::{Signals, StatePlan};
pub use table::SequenceError;
use table::{SequenceState, Sequences};

/// How a stateful version keeps its sequences.
pub struct SequenceSettings {
    /// Live sequences at most.
    pub max: usize,
    /// Sequences idle this long are dropped (`None`: never).
    pub idle: Option<Duration>,
    /// The model, when each sequence runs on a session of its own (the
    /// engine keeps the model's state).
    pub sessions: Option<Arc<dyn LoadedModel>>,
}

/// Runs the requests of sequences through `inner`, or through each
/// sequence's own engine session for models that keep their own state.
pub struct SequenceExecutor {
    // Before `inner` and `sessions`: sessions go before their model.
    sequences: Arc<Sequences>,
    inner: Box<dyn Executor>,
    /// The model, when each sequence runs on a session of its own.
    sessions: Option<Arc<dyn LoadedModel>>,
    plan: Arc<StatePlan>,
    telemetry: Arc<VersionTelemetry>,
    name: String,
    version: u64,
}

impl SequenceExecutor {
    /// Version `version` of model `name`: its sequences over `inner` with
    /// `plan`'s states and `settings`; the live count goes to `telemetry`.
    pub fn new(
        (name, version): (&str, u64),
        inner: Box<dyn Executor>,
        plan: StatePlan,
        settings: SequenceSettings,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        let SequenceSettings {
            max,
            idle,
            sessions,
        } = settings;
        let sequences = Arc::new(Sequences::new(max));
        if let (Some(idle), Ok(runtime)) = (idle, tokio::runtime::Handle::try_current()) {
            runtime.spawn(clean(Arc::downgrade(&sequences), idle, telemetry.clone()));
        }
        telemetry.sequences_live(0);
        SequenceExecutor {
            sequences,
            inner,
            sessions,
            plan: Arc::new(plan),
            telemetry,
            name: name.to_string(),
            version,
        }
    }

    fn counted(&self) {
        self.telemetry.sequences_live(self.sequences.count());
    }

    async fn run(&self, mut job: Job) -> Result<Answer, CoreError> {
        let control = job.options.sequence.take().ok_or(SequenceError::NoId)?;
        let (id, sequence) = if control.start {
            let id = match control.id {
                SequenceId::Number(0) => None,
                id => Some(id),
            };
            let session = match &self.sessions {
                Some(model) => Some(
                    model
                        .session()
                        .ok_or(CoreError::Internal)?
                        .map_err(|e| CoreError::from_execution(&self.name, self.version, e))?,
                ),
                None => None,
            };
            let state = SequenceState {
                tensors: self.plan.initial(),
                session,
            };
            let started = self.sequences.start(id, state)?;
            self.counted();
            started
        } else {
            if control.id == SequenceId::Number(0) {
                return Err(SequenceError::NoId.into());
            }
            let sequence = self.sequences.get(&control.id)?;
            (control.id, sequence)
        };
        let mut state = sequence.state.lock().await;
        let Some(current) = state.as_mut() else {
            return Err(SequenceError::Missing.into());
        };
        sequence.touch();
        let signals = Signals {
            start: control.start,
            end: control.end,
            id: &id,
        };
        job.inputs = self
            .plan
            .inputs(std::mem::take(&mut job.inputs), &current.tensors, signals);
        let answer = match current.session.take() {
            None => self.inner.execute(job).await,
            Some(mut session) => {
                let inputs = std::mem::take(&mut job.inputs);
                let (session, outputs) = tokio::task::spawn_blocking(move || {
                    let outputs = session.execute(inputs);
                    (session, outputs)
                })
                .await
                .map_err(|_| CoreError::Internal)?;
                current.session = Some(session);
                outputs
                    .map(|outputs| Answer::Outputs(outputs, Default::default()))
                    .map_err(|e| CoreError::from_execution(&self.name, self.version, e))
            }
        };
        let (outputs, mut parameters) = match answer {
            Ok(Answer::Outputs(outputs, parameters)) => (outputs, parameters),
            Ok(Answer::Stream(_)) => return Err(CoreError::StreamNotSupported),
            Err(error) => {
                if control.start {
                    *state = None;
                    self.sequences.remove(&id);
                    self.counted();
                }
                return Err(error);
            }
        };
        let (outputs, next) = self.plan.outputs(outputs);
        sequence.touch();
        if control.end {
            *state = None;
            self.sequences.remove(&id);
            self.counted();
        } else if let Some(current) = state.as_mut() {
            current.tensors = next;
        }
        let id = match id {
            SequenceId::Number(n) => ParamValue::UInt(n),
            SequenceId::Text(text) => ParamValue::String(text),
        };
        parameters.insert("sequence_id".into(), id);
        Ok(Answer::Outputs(outputs, parameters))
    }
}

/// Drops idle sequences while the table lives.
async fn clean(sequences: Weak<Sequences>, idle: Duration, telemetry: Arc<VersionTelemetry>) {
    let period = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
    loop {
        tokio::time::sleep(period).await;
        let Some(sequences) = sequences.upgrade() else {
            return;
        };
        let dropped = sequences.drop_idle(idle);
        if dropped > 0 {
            telemetry.sequences_live(sequences.count());
            tracing::info!(dropped, "idle sequences dropped");
        }
    }
}

impl Executor for SequenceExecutor {
    fn execute(&self, job: Job) -> ExecutorFuture<'_> {
        Box::pin(self.run(job))
    }

    fn slots(&self) -> usize {
        self.inner.slots()
    }

    fn takes_sequences(&self) -> bool {
        true
    }
}
