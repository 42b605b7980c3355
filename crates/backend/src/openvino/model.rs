//! A compiled model with its pool of infer requests, and the conversions
//! between inferd tensors and OpenVINO tensors.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};

use inferd_tensor::{DataType, Signature, Tensor as InferdTensor, TensorData};

use super::ffi::{Api, ElementType};
use super::ov::{CompiledModel, InferRequest};
use super::tensor::Tensor;
use super::types::{data_type, element_type};
use crate::saved_model::SavedSignature;
use crate::{BackendError, LoadedModel, ModelSession};

/// A model compiled by OpenVINO, run through a fixed pool of infer requests.
pub struct OvModel {
    // Declared before `compiled` so that requests are released first.
    pool: Pool,
    signature: Signature,
    /// The SavedModel's signatures, when it was read from one.
    saved: Vec<SavedSignature>,
    api: &'static Api,
    _compiled: CompiledModel,
}

impl OvModel {
    /// Creates `size` infer requests (at least one).
    pub fn new(
        api: &'static Api,
        compiled: CompiledModel,
        signature: Signature,
        size: usize,
    ) -> Result<OvModel, BackendError> {
        let requests = (0..size.max(1))
            .map(|_| compiled.create_request())
            .collect::<Result<Vec<_>, _>>()
            .map_err(BackendError::Load)?;
        Ok(OvModel {
            pool: Pool::new(requests),
            signature,
            saved: Vec::new(),
            api,
            _compiled: compiled,
        })
    }

    /// Records the signatures of the SavedModel it was read from.
    pub fn with_saved_signatures(mut self, saved: Vec<SavedSignature>) -> Self {
        self.saved = saved;
        self
    }
}

impl LoadedModel for OvModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn applies_preprocessing(&self) -> bool {
        true
    }

    fn execute(&self, inputs: Vec<InferdTensor>) -> Result<Vec<InferdTensor>, BackendError> {
        // Convert before taking a request, so that requests are held only
        // while OpenVINO works.
        let tensors = convert_inputs(self.api, &self.signature, &inputs)?;
        let mut request = self.pool.take();
        run(&mut request, &tensors, &self.signature)
    }

    fn session(&self) -> Option<Result<Box<dyn ModelSession>, BackendError>> {
        Some(
            self._compiled
                .create_request()
                .map(|request| {
                    Box::new(OvSession {
                        request,
                        signature: self.signature.clone(),
                        api: self.api,
                    }) as Box<dyn ModelSession>
                })
                .map_err(BackendError::Load),
        )
    }

    fn max_concurrency(&self) -> Option<usize> {
        Some(self.pool.size)
    }

    fn saved_signatures(&self) -> &[SavedSignature] {
        &self.saved
    }
}

/// A sequence's own infer request: OpenVINO keeps the model's variables in
/// it (a fresh request starts from their initial values).
struct OvSession {
    request: InferRequest,
    signature: Signature,
    api: &'static Api,
}

impl ModelSession for OvSession {
    fn execute(&mut self, inputs: Vec<InferdTensor>) -> Result<Vec<InferdTensor>, BackendError> {
        let tensors = convert_inputs(self.api, &self.signature, &inputs)?;
        run(&mut self.request, &tensors, &self.signature)
    }
}

/// Checks the inputs' count and types and copies them into OpenVINO tensors.
fn convert_inputs(
    api: &'static Api,
    signature: &Signature,
    inputs: &[InferdTensor],
) -> Result<Vec<Tensor>, BackendError> {
    if inputs.len() != signature.inputs.len() {
        return Err(BackendError::InvalidInput(format!(
            "the model takes {} inputs, not {}",
            signature.inputs.len(),
            inputs.len()
        )));
    }
    inputs
        .iter()
        .zip(&signature.inputs)
        .map(|(t, spec)| {
            if t.dtype() != spec.dtype {
                return Err(BackendError::InvalidInput(format!(
                    "input {} is {}, not {}",
                    spec.name,
                    spec.dtype,
                    t.dtype()
                )));
            }
            to_openvino(api, t, &spec.name)
        })
        .collect()
}

/// One inference on `request`: inputs set, run, outputs copied out.
fn run(
    request: &mut InferRequest,
    tensors: &[Tensor],
    signature: &Signature,
) -> Result<Vec<InferdTensor>, BackendError> {
    for (index, tensor) in tensors.iter().enumerate() {
        request
            .set_input(index, tensor)
            .map_err(BackendError::Execution)?;
    }
    request.infer().map_err(BackendError::Execution)?;
    (0..signature.outputs.len())
        .map(|index| {
            let tensor = request.output(index).map_err(BackendError::Execution)?;
            from_openvino(&tensor).map_err(BackendError::Execution)
        })
        .collect()
}

/// Copies a validated request tensor into a new OpenVINO tensor.
fn to_openvino(
    api: &'static Api,
    tensor: &InferdTensor,
    name: &str,
) -> Result<Tensor, BackendError> {
    let element: ElementType = element_type(tensor.dtype());
    match tensor.data() {
        TensorData::Strings(_) => Err(BackendError::InvalidInput(format!(
            "input {name}: the OpenVINO backend does not take BYTES tensors"
        ))),
        TensorData::Raw(bytes) => {
            let mut out =
                Tensor::new(api, element, tensor.shape()).map_err(BackendError::Execution)?;
            let dst = out.data_mut().map_err(BackendError::Execution)?;
            if dst.len() != bytes.len() {
                return Err(BackendError::InvalidInput(format!(
                    "input {name}: {} bytes for a tensor of {} bytes",
                    bytes.len(),
                    dst.len()
                )));
            }
            if tensor.dtype() == DataType::Bool {
                // Any non-zero byte is true; OpenVINO's boolean is 0 or 1.
                for (d, s) in dst.iter_mut().zip(bytes.iter()) {
                    *d = u8::from(*s != 0);
                }
            } else {
                dst.copy_from_slice(bytes);
            }
            Ok(out)
        }
    }
}

/// Copies an OpenVINO output into an inferd tensor.
fn from_openvino(tensor: &Tensor) -> Result<InferdTensor, String> {
    let element = tensor.element_type()?;
    let dtype = data_type(element)
        .ok_or_else(|| format!("the model produced unsupported element type #{element}"))?;
    let shape = tensor.shape()?;
    InferdTensor::new(dtype, shape, TensorData::Raw(tensor.to_bytes()?)).map_err(|e| e.to_string())
}

/// Infer requests not in use; `take` waits for one.
struct Pool {
    free: Mutex<Vec<InferRequest>>,
    available: Condvar,
    size: usize,
}

impl Pool {
    fn new(requests: Vec<InferRequest>) -> Pool {
        Pool {
            size: requests.len(),
            free: Mutex::new(requests),
            available: Condvar::new(),
        }
    }

    fn take(&self) -> Lease<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(request) = free.pop() {
                return Lease {
                    pool: self,
                    request: Some(request),
                };
            }
            free = self.available.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A request taken from the pool; goes back when dropped (errors and panics included).
struct Lease<'a> {
    pool: &'a Pool,
    request: Option<InferRequest>,
}

impl Deref for Lease<'_> {
    type Target = InferRequest;
    fn deref(&self) -> &InferRequest {
        self.request
            .as_ref()
            .expect("a lease holds its request until dropped")
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut InferRequest {
        self.request
            .as_mut()
            .expect("a lease holds its request until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(request) = self.request.take() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(request);
            self.pool.available.notify_one();
        }
    }
}
