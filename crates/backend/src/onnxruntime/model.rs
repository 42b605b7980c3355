//! A loaded ONNX Runtime session.

use inferd_tensor::{Signature, Tensor};

use super::convert;
use super::run::SharedSession;
use crate::{BackendError, LoadedModel};

/// One session, shared by every caller: ONNX Runtime runs concurrent
/// requests on it in parallel, each using the session's intra-op threads.
pub struct OrtModel {
    session: SharedSession,
    signature: Signature,
    max_concurrency: Option<usize>,
}

impl OrtModel {
    pub fn new(
        session: SharedSession,
        signature: Signature,
        max_concurrency: Option<usize>,
    ) -> Self {
        OrtModel {
            session,
            signature,
            max_concurrency,
        }
    }
}

impl LoadedModel for OrtModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        let values = inputs
            .iter()
            .zip(&self.signature.inputs)
            .map(|(tensor, spec)| convert::to_ort(&spec.name, tensor))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = self.session.run(&values)?;
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
