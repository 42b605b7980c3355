//! A loaded ONNX Runtime session.

use std::sync::Mutex;

use inferd_tensor::{Signature, Tensor};
use ort::session::{Session, SessionInputValue};
use ort::value::DynValue;

use super::convert;
use crate::{BackendError, LoadedModel};

/// One session, shared by every caller.
///
/// ort 2.0.0-rc.15 runs sessions through `&mut Session` only (its authors do
/// not trust ONNX Runtime's concurrent `Run`), so runs take turns on a mutex;
/// each run still uses the session's intra-op threads. Converting inputs and
/// copying outputs happen outside the lock.
pub struct OrtModel {
    session: Mutex<Session>,
    signature: Signature,
    max_concurrency: Option<usize>,
}

impl OrtModel {
    pub fn new(session: Session, signature: Signature, max_concurrency: Option<usize>) -> Self {
        OrtModel {
            session: Mutex::new(session),
            signature,
            max_concurrency,
        }
    }

    fn run(&self, values: &[SessionInputValue<'_>]) -> Result<Vec<DynValue>, BackendError> {
        // A panic in an earlier run leaves the session itself intact.
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(values)
            .map_err(|e| BackendError::Execution(e.to_string()))?;
        Ok(outputs.into_iter().map(|(_, value)| value).collect())
    }
}

impl LoadedModel for OrtModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        if inputs.len() != self.signature.inputs.len() {
            return Err(BackendError::InvalidInput(format!(
                "the model takes {} inputs, not {}",
                self.signature.inputs.len(),
                inputs.len()
            )));
        }
        let values = inputs
            .iter()
            .zip(&self.signature.inputs)
            .map(|(tensor, spec)| convert::to_ort(&spec.name, tensor).map(SessionInputValue::from))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = self.run(&values)?;
        drop(values);
        if outputs.len() != self.signature.outputs.len() {
            return Err(BackendError::Execution(format!(
                "ONNX Runtime returned {} outputs; the model declares {}",
                outputs.len(),
                self.signature.outputs.len()
            )));
        }
        outputs
            .into_iter()
            .zip(&self.signature.outputs)
            .map(|(value, spec)| convert::from_ort(&spec.name, value))
            .collect()
    }

    fn max_concurrency(&self) -> Option<usize> {
        self.max_concurrency
    }
}
