//! Concurrent inference on one ONNX Runtime session.
//!
//! ONNX Runtime documents `OrtApi::Run` as safe to call from several threads
//! at once on one session (its own execution providers are written for it;
//! the CPU provider is the only one inferd uses). ort 2.0.0-rc.15 still takes
//! `&mut Session` for `run`, which would serialise every request of a model,
//! so this module calls `Run` through ort's API table with `&Session`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::ptr::{self, NonNull};

use ort::AsPointer;
use ort::session::Session;
use ort::value::DynValue;

use crate::BackendError;

/// A session with its input and output names as C strings, ready to run
/// from many threads at once.
pub struct SharedSession {
    session: Session,
    /// Kept alive for `input_ptrs`.
    _input_names: Vec<CString>,
    /// Kept alive for `output_ptrs`.
    _output_names: Vec<CString>,
    input_ptrs: Vec<*const c_char>,
    output_ptrs: Vec<*const c_char>,
}

// SAFETY: the raw pointers point into the `CString`s owned alongside them,
// which are never changed after construction; `Session` is Send + Sync.
unsafe impl Send for SharedSession {}
// SAFETY: as above; `run` only reads the name tables, and ONNX Runtime allows
// concurrent `Run` calls on one session.
unsafe impl Sync for SharedSession {}

impl SharedSession {
    /// Wraps `session`, naming its inputs and outputs in signature order.
    pub fn new(session: Session) -> Result<Self, BackendError> {
        let c_names = |names: Vec<&str>| {
            names
                .into_iter()
                .map(|n| {
                    CString::new(n).map_err(|_| {
                        BackendError::Load(format!("tensor name {n:?} contains a NUL byte"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let input_names = c_names(session.inputs().iter().map(|i| i.name()).collect())?;
        let output_names = c_names(session.outputs().iter().map(|o| o.name()).collect())?;
        Ok(SharedSession {
            input_ptrs: input_names.iter().map(|n| n.as_ptr()).collect(),
            output_ptrs: output_names.iter().map(|n| n.as_ptr()).collect(),
            _input_names: input_names,
            _output_names: output_names,
            session,
        })
    }

    /// Runs the model on `inputs` (one per model input, in order) and returns
    /// every output in order. May be called from many threads at once.
    pub fn run(&self, inputs: &[DynValue]) -> Result<Vec<DynValue>, BackendError> {
        if inputs.len() != self.input_ptrs.len() {
            return Err(BackendError::InvalidInput(format!(
                "the model takes {} inputs, not {}",
                self.input_ptrs.len(),
                inputs.len()
            )));
        }
        let values: Vec<*const ort::sys::OrtValue> = inputs.iter().map(|v| v.ptr()).collect();
        let mut outputs: Vec<*mut ort::sys::OrtValue> =
            vec![ptr::null_mut(); self.output_ptrs.len()];
        // SAFETY: the session pointer is valid for `self`'s lifetime; the name
        // tables and `values` hold exactly the counts passed; every input
        // value is a live tensor owned by the caller for the whole call;
        // `outputs` has room for one pointer per output name, which ONNX
        // Runtime fills with values we then own. ONNX Runtime allows
        // concurrent `Run` calls on one session.
        let status = unsafe {
            (ort::api().Run)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                self.input_ptrs.as_ptr(),
                values.as_ptr(),
                values.len(),
                self.output_ptrs.as_ptr(),
                self.output_ptrs.len(),
                outputs.as_mut_ptr(),
            )
        };
        // Take ownership of whatever was produced first, so that nothing
        // leaks on an error.
        let produced: Vec<Option<DynValue>> = outputs
            .into_iter()
            .map(|p| {
                NonNull::new(p).map(|p| {
                    // SAFETY: `p` is an OrtValue that `Run` created for us;
                    // tensors it makes on the CPU come from the session's
                    // allocator, which we pass along.
                    unsafe { DynValue::from_ptr(p, Some(self.session.allocator())) }
                })
            })
            .collect();
        check(status)?;
        produced
            .into_iter()
            .map(|v| {
                v.ok_or_else(|| {
                    BackendError::Execution("ONNX Runtime returned no value for an output".into())
                })
            })
            .collect()
    }
}

/// Turns an `OrtStatus` into a result, releasing it.
fn check(status: ort::sys::OrtStatusPtr) -> Result<(), BackendError> {
    let Some(status) = NonNull::new(status.0) else {
        return Ok(());
    };
    // SAFETY: `status` is a live OrtStatus that we own; its message is a
    // NUL-terminated string valid until the status is released, which happens
    // after the message has been copied.
    let message = unsafe {
        let text = (ort::api().GetErrorMessage)(status.as_ptr());
        let message = if text.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        };
        (ort::api().ReleaseStatus)(status.as_ptr());
        message
    };
    Err(BackendError::Execution(message))
}
