use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use inferd_tensor::{DataType, Signature, Tensor, TensorData};

use inferd_backend::LoadedModel;
use inferd_backend::saved_model::{DEFAULT_SIGNATURE, SavedSignature};

use crate::executor::SequenceError;
use crate::executor::{Answer, DirectExecutor, Executor, ExecutorFuture, Job, SchedulerOptions};
use crate::telemetry::{Api, Interface, RequestTracker, StatsSnapshot, VersionTelemetry};
use crate::{
    CoreError, InferInput, InferRequest, InferResponse, InputPlan, ParamValue, RequestOptions,
    SequenceControl, SequenceId, ValidationError, validate,
};

/// What is left of a servable once its last handle is gone: its executors
/// (its own, then those of its other signatures), which own the engine's
/// models, to be freed off the async threads.
pub(crate) type Remains = Vec<Box<dyn Executor>>;

/// Called once, with the remains, when a retired servable's last handle drops.
pub(crate) type ReleaseHook = Box<dyn FnOnce(Remains) + Send>;

/// One loaded model version. Requests hold it through an `Arc` (the servable
/// handle); it is released when the last request drops its handle.
pub struct Servable {
    name: String,
    version: u64,
    platform: &'static str,
    /// The engine that runs it (`onnxruntime`, `openvino`, `tract`; empty
    /// for a pipeline).
    engine: &'static str,
    /// Images, pre-processing and layouts between the wire and the engine.
    plan: Arc<InputPlan>,
    executor: Box<dyn Executor>,
    telemetry: Arc<VersionTelemetry>,
    /// A SavedModel's signatures, when it was read from one.
    saved: Option<Box<SavedModelSignatures>>,
    on_release: Mutex<Option<ReleaseHook>>,
}

/// The signatures of a SavedModel: the servable runs `primary`, and owns
/// what runs the others.
struct SavedModelSignatures {
    all: Vec<SavedSignature>,
    primary: String,
    others: BTreeMap<String, OtherSignature>,
}

/// How a SavedModel signature other than the primary one is served.
pub enum OtherSignature {
    /// By a servable of its own.
    Served(Servable),
    /// By the servable of the signature named, which computes the same.
    SameAs(String),
    /// Not at all: it could not be loaded (why).
    Failed(String),
}

impl Servable {
    /// Wraps a loaded model run by `executor`, which owns it, with its inputs
    /// prepared by `plan` (whose signature clients see); its statistics and
    /// metrics go to `telemetry`.
    pub fn new(
        name: &str,
        version: u64,
        platform: &'static str,
        plan: InputPlan,
        executor: Box<dyn Executor>,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        telemetry.set_slots(executor.slots());
        Servable {
            name: name.to_string(),
            version,
            platform,
            engine: "",
            plan: Arc::new(plan),
            executor,
            telemetry,
            saved: None,
            on_release: Mutex::new(None),
        }
    }

    /// A servable of `model` whose requests run through the direct executor
    /// (see [`DirectExecutor`]).
    pub fn direct(
        name: &str,
        version: u64,
        platform: &'static str,
        model: Arc<dyn LoadedModel>,
        options: SchedulerOptions,
        telemetry: Arc<VersionTelemetry>,
    ) -> Self {
        let signature = model.signature().clone();
        let executor = DirectExecutor::new(name, version, model, options, telemetry.clone());
        Servable::new(
            name,
            version,
            platform,
            InputPlan::identity(signature),
            Box::new(executor),
            telemetry,
        )
    }

    /// Starts timing one request from a frontend; see [`RequestTracker`].
    pub fn track(&self, api: Api, interface: Interface) -> RequestTracker {
        RequestTracker::start(self.telemetry.clone(), api, interface)
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

    /// Names the engine that runs it.
    pub fn with_engine(mut self, engine: &'static str) -> Self {
        self.engine = engine;
        self
    }

    /// The engine that runs it; empty for a pipeline.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// Platform string of the backend that loaded it.
    pub fn platform(&self) -> &'static str {
        self.platform
    }

    /// Records the signatures of the SavedModel it was read from: it runs
    /// `primary`, `others` say how the other servable ones are served.
    pub fn with_saved_signatures(
        mut self,
        all: Vec<SavedSignature>,
        primary: String,
        others: BTreeMap<String, OtherSignature>,
    ) -> Self {
        self.saved = Some(Box::new(SavedModelSignatures {
            all,
            primary,
            others,
        }));
        self
    }

    /// The signatures of the SavedModel it was read from, in name order
    /// (empty for other formats).
    pub fn saved_signatures(&self) -> &[SavedSignature] {
        self.saved.as_ref().map_or(&[], |s| s.all.as_slice())
    }

    /// The servable that runs signature `name` (`""` is `serving_default`):
    /// this one, or one of its other signatures. A model not read from a
    /// SavedModel has no signatures to choose from and runs any name, as
    /// OVMS does. An unknown signature (TF Serving's answer), or one that
    /// could not be loaded, is INVALID_ARGUMENT.
    pub fn for_signature(&self, name: &str) -> Result<&Servable, CoreError> {
        let name = if name.is_empty() {
            DEFAULT_SIGNATURE
        } else {
            name
        };
        let Some(saved) = &self.saved else {
            return Ok(self);
        };
        let target = match saved.others.get(name) {
            Some(OtherSignature::SameAs(twin)) => twin.as_str(),
            _ => name,
        };
        if target == saved.primary {
            return Ok(self);
        }
        match saved.others.get(target) {
            Some(OtherSignature::Served(servable)) => Ok(servable),
            Some(OtherSignature::Failed(why)) => Err(ValidationError::UnservedSignature {
                name: name.to_string(),
                why: why.clone(),
            }
            .into()),
            _ => Err(ValidationError::UnknownSignature(name.to_string()).into()),
        }
    }

    /// The name of the signature it runs, for a SavedModel.
    pub fn signature_name(&self) -> Option<&str> {
        self.saved.as_ref().map(|s| s.primary.as_str())
    }

    /// Whether requests belong to sequences (a stateful model).
    pub fn is_stateful(&self) -> bool {
        self.executor.takes_sequences()
    }

    /// Inputs and outputs.
    pub fn signature(&self) -> &Signature {
        self.plan.signature()
    }

    /// Reads the request's parameters, validates it, runs it through the
    /// version's executor and picks the requested outputs.
    pub async fn infer(&self, mut request: InferRequest) -> Result<InferResponse, CoreError> {
        let started = Instant::now();
        let parameters = std::mem::take(&mut request.parameters);
        let mut options = RequestOptions::from_parameters(&parameters)?;
        if self.executor.takes_sequences()
            && let Some(control) = sequence_inputs(&mut request.inputs)?
        {
            options.sequence = Some(control);
        }
        let valid = match self.plan.work_for(&request) {
            Some(true) => {
                let plan = self.plan.clone();
                // Decoding and transposing take milliseconds: off the async threads.
                tokio::task::spawn_blocking(move || plan.prepare(request))
                    .await
                    .map_err(|_| CoreError::Internal)??
            }
            Some(false) => self.plan.prepare(request)?,
            None => validate(self.plan.signature(), request)?,
        };
        self.telemetry.stats().input_prepared(started.elapsed());
        let rows = valid.batch.unwrap_or(1);
        let job = Job {
            inputs: valid.inputs,
            rows,
            options,
            parameters,
        };
        let (outputs, parameters) = match self.executor.execute(job).await? {
            Answer::Outputs(outputs, parameters) => (outputs, parameters),
            Answer::Stream(_) => return Err(CoreError::StreamNotSupported),
        };
        let collecting = Instant::now();
        let specs = &self.plan.signature().outputs;
        if outputs.len() != specs.len() {
            tracing::error!(model = %self.name, version = self.version, "backend returned {} outputs, expected {}", outputs.len(), specs.len());
            return Err(CoreError::Internal);
        }
        let mut outputs: Vec<Option<_>> = outputs.into_iter().map(Some).collect();
        let mut selected = Vec::with_capacity(valid.outputs.len());
        for &i in &valid.outputs {
            if let Some(tensor) = outputs[i].take() {
                let tensor = self.plan.client_output(i, tensor).map_err(|e| {
                    tracing::error!(model = %self.name, version = self.version, "{e}");
                    CoreError::Internal
                })?;
                selected.push((specs[i].name.clone(), tensor));
            }
        }
        // Stateful models answer the sequence's id, as OVMS does.
        if let Some(ParamValue::UInt(id)) = parameters.get("sequence_id") {
            let id = Bytes::copy_from_slice(&id.to_le_bytes());
            if let Ok(tensor) = Tensor::new(DataType::U64, vec![1], TensorData::Raw(id)) {
                selected.push(("sequence_id".to_string(), tensor));
            }
        }
        let stats = self.telemetry.stats();
        stats.output_collected(collecting.elapsed());
        stats.inferred(rows);
        Ok(InferResponse {
            model_name: self.name.clone(),
            model_version: self.version,
            outputs: selected,
            parameters,
        })
    }

    /// Asks for `hook` to be called with the remains once the last handle
    /// drops (the manager retires the version).
    pub(crate) fn on_release(&self, hook: ReleaseHook) {
        *self.on_release.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }
}

impl Drop for Servable {
    fn drop(&mut self) {
        let hook = self
            .on_release
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(hook) = hook {
            let mut remains = vec![std::mem::replace(&mut self.executor, Box::new(Released))];
            if let Some(saved) = &mut self.saved {
                for other in saved.others.values_mut() {
                    if let OtherSignature::Served(other) = other {
                        remains.push(std::mem::replace(&mut other.executor, Box::new(Released)));
                    }
                }
            }
            hook(remains);
        }
    }
}

/// Stands in for the executor of a servable being dropped.
struct Released;

impl Executor for Released {
    fn execute(&self, _job: Job) -> ExecutorFuture<'_> {
        Box::pin(async { Err(CoreError::Internal) })
    }

    fn slots(&self) -> usize {
        0
    }
}

/// OVMS's sequence inputs, taken out of `inputs`: `sequence_id` (a
/// non-negative integer; 0 or absent with a start: the server assigns one)
/// and `sequence_control_input` (0 none, 1 start, 2 end). `None` when the
/// request has neither (Triton's parameters may name the sequence).
fn sequence_inputs(inputs: &mut Vec<InferInput>) -> Result<Option<SequenceControl>, CoreError> {
    let mut take = |name: &str| {
        inputs
            .iter()
            .position(|i| i.name == name)
            .map(|at| inputs.remove(at))
    };
    let (id, control) = (take("sequence_id"), take("sequence_control_input"));
    if id.is_none() && control.is_none() {
        return Ok(None);
    }
    let id = match id {
        Some(input) => one_integer(&input).ok_or(SequenceError::BadIdType)?,
        None => 0,
    };
    let control = match control {
        Some(input) => one_integer(&input).ok_or(SequenceError::BadControlType)?,
        None => 0,
    };
    let (start, end) = match control {
        0 => (false, false),
        1 => (true, false),
        2 => (false, true),
        _ => return Err(SequenceError::BadControl.into()),
    };
    Ok(Some(SequenceControl {
        id: SequenceId::Number(id),
        start,
        end,
    }))
}

/// The value of a one-element, non-negative integer input.
fn one_integer(input: &InferInput) -> Option<u64> {
    let TensorData::Raw(bytes) = &input.data else {
        return None;
    };
    if input.shape.iter().product::<i64>() != 1 {
        return None;
    }
    let array = |n: usize| -> Option<[u8; 8]> {
        let mut out = [0u8; 8];
        out[..n].copy_from_slice(bytes.get(..n)?);
        Some(out)
    };
    match (input.dtype, bytes.len()) {
        (DataType::U64, 8) => Some(u64::from_le_bytes(array(8)?)),
        (DataType::I64, 8) => u64::try_from(i64::from_le_bytes(array(8)?)).ok(),
        (DataType::U32, 4) => Some(u64::from_le_bytes(array(4)?)),
        (DataType::I32, 4) => {
            let value = i32::from_le_bytes(array(4)?[..4].try_into().ok()?);
            u64::try_from(value).ok()
        }
        _ => None,
    }
}
