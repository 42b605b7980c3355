//! Custom nodes: C libraries with OVMS's ABI ([`abi`]), loaded with
//! `libloading`. A [`CustomNode`] is one node of a configured pipeline: its
//! library, its `params`, and the state `initialize` made for them (freed by
//! `deinitialize` when the configuration drops the node). Outputs stay in
//! the library's memory (no copy) and go back through its `release` when
//! the last tensor over them is dropped. Every error a library reports is
//! an error of the request, with OVMS's words; a library that crashes the
//! process cannot be contained in-process.

#![allow(unsafe_code)]

mod abi;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use inferd_tensor::{Dim, Signature, Tensor, TensorData, TensorSpec};

use crate::CoreError;
use abi::{
    CustomNodeParam, CustomNodeTensor, CustomNodeTensorInfo, DeinitializeFn, ExecuteFn, InfoFn,
    InitializeFn, ReleaseFn,
};

/// Outputs a node may return at most (more means a corrupted count).
const MAX_OUTPUTS: c_int = 4096;

/// A loaded custom node library.
pub struct CustomLibrary {
    path: String,
    execute: ExecuteFn,
    inputs_info: InfoFn,
    outputs_info: InfoFn,
    release: ReleaseFn,
    initialize: InitializeFn,
    deinitialize: DeinitializeFn,
    /// Kept open while any node of it exists.
    _library: libloading::Library,
}

impl std::fmt::Debug for CustomLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomLibrary")
            .field("path", &self.path)
            .finish()
    }
}

impl CustomLibrary {
    /// Opens the library at `path` and finds its six functions.
    pub fn open(path: &Path) -> Result<Arc<Self>, String> {
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(format!("Custom node library not found: {shown}"));
        }
        // SAFETY: loading a library runs its initialisers; custom node
        // libraries are trusted code the operator configured.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("Custom node library failed to open: {shown}: {e}"))?;
        fn symbol<T: Copy>(
            library: &libloading::Library,
            name: &str,
            path: &str,
        ) -> Result<T, String> {
            // SAFETY: the symbol is declared with the ABI's signature (abi.rs).
            unsafe { library.get::<T>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| {
                    format!("Custom node library failed to load symbol {name}: {path}: {e}")
                })
        }
        Ok(Arc::new(CustomLibrary {
            execute: symbol(&library, "execute", &shown)?,
            inputs_info: symbol(&library, "getInputsInfo", &shown)?,
            outputs_info: symbol(&library, "getOutputsInfo", &shown)?,
            release: symbol(&library, "release", &shown)?,
            initialize: symbol(&library, "initialize", &shown)?,
            deinitialize: symbol(&library, "deinitialize", &shown)?,
            path: shown,
            _library: library,
        }))
    }
}

/// One custom node: library, parameters, and the library's state for them.
pub struct CustomNode {
    library: Arc<CustomLibrary>,
    /// Owns the strings `params` points into.
    _strings: Vec<(CString, CString)>,
    params: Vec<CustomNodeParam>,
    /// What `initialize` made (may be null).
    state: *mut c_void,
    signature: Signature,
}

// SAFETY: OVMS calls a library's functions from many threads at once, so
// libraries are written to be thread-safe; the pointers here are the
// library's state and strings this node owns and never changes.
unsafe impl Send for CustomNode {}
// SAFETY: see `Send`.
unsafe impl Sync for CustomNode {}

impl std::fmt::Debug for CustomNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomNode")
            .field("library", &self.library.path)
            .finish()
    }
}

impl CustomNode {
    /// Initialises a node of `library` with `params` and reads its inputs
    /// and outputs.
    pub fn new(
        library: Arc<CustomLibrary>,
        params: &BTreeMap<String, String>,
    ) -> Result<Arc<Self>, String> {
        let strings: Vec<(CString, CString)> = params
            .iter()
            .map(|(k, v)| {
                let text =
                    |s: &str| CString::new(s).map_err(|_| format!("param {k:?} holds a NUL byte"));
                Ok((text(k)?, text(v)?))
            })
            .collect::<Result<_, String>>()?;
        let raw: Vec<CustomNodeParam> = strings
            .iter()
            .map(|(k, v)| CustomNodeParam {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: the ABI's initialize, with params valid for the call.
        let status = unsafe { (library.initialize)(&mut state, raw.as_ptr(), raw.len() as c_int) };
        if status != 0 {
            return Err(format!(
                "Custom node library failed to initialize ({}: status {status})",
                library.path
            ));
        }
        let mut node = CustomNode {
            library,
            _strings: strings,
            params: raw,
            state,
            signature: Signature::default(),
        };
        node.signature = Signature {
            inputs: node.info(node.library.inputs_info)?,
            outputs: node.info(node.library.outputs_info)?,
        };
        Ok(Arc::new(node))
    }

    /// The node's inputs and outputs as its library describes them
    /// (a dimension of 0 is any size).
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The library's path, for messages.
    pub fn library(&self) -> &str {
        &self.library.path
    }

    fn release(&self, ptr: *mut c_void) {
        if !ptr.is_null() {
            // SAFETY: `ptr` came from this library and is released once.
            unsafe { (self.library.release)(ptr, self.state) };
        }
    }

    fn info(&self, function: InfoFn) -> Result<Vec<TensorSpec>, String> {
        let failed = || {
            format!(
                "Custom node failed on metadata call ({})",
                self.library.path
            )
        };
        let mut info: *mut CustomNodeTensorInfo = std::ptr::null_mut();
        let mut count: c_int = 0;
        // SAFETY: the ABI's getInputsInfo/getOutputsInfo.
        let status = unsafe {
            function(
                &mut info,
                &mut count,
                self.params.as_ptr(),
                self.params.len() as c_int,
                self.state,
            )
        };
        if status != 0 || (info.is_null() && count > 0) || !(0..=MAX_OUTPUTS).contains(&count) {
            self.release(info.cast());
            return Err(failed());
        }
        let mut specs = Vec::with_capacity(count as usize);
        let mut problem = None;
        for i in 0..count as usize {
            // SAFETY: `info` holds `count` entries.
            let entry = unsafe { &*info.add(i) };
            let dims = copy_dims(entry.dims, entry.dims_count);
            self.release(entry.dims.cast());
            match (name_of(entry.name), abi::data_type(entry.precision)) {
                (Some(name), Some(dtype)) => {
                    let shape = dims
                        .into_iter()
                        .map(|d| if d == 0 { Dim::Any } else { Dim::Fixed(d) })
                        .collect();
                    specs.push(TensorSpec::new(name, dtype, shape));
                }
                _ => problem = Some(failed()),
            }
        }
        self.release(info.cast());
        problem.map_or(Ok(specs), Err)
    }

    /// Runs the node on `inputs` (name, tensor); answers the outputs named
    /// in `wanted`, in that order. Blocking: call off the async threads.
    pub fn run(
        self: &Arc<Self>,
        inputs: &[(String, Tensor)],
        wanted: &[String],
    ) -> Result<Vec<Tensor>, CoreError> {
        let names: Vec<CString> = inputs
            .iter()
            .map(|(n, _)| CString::new(n.as_str()).unwrap_or_default())
            .collect();
        let mut dims: Vec<Vec<u64>> = inputs
            .iter()
            .map(|(_, t)| t.shape().iter().map(|&d| d as u64).collect())
            .collect();
        let mut raw = Vec::with_capacity(inputs.len());
        for (((_, tensor), name), dims) in inputs.iter().zip(&names).zip(dims.iter_mut()) {
            let (TensorData::Raw(bytes), Some(precision)) =
                (tensor.data(), abi::precision(tensor.dtype()))
            else {
                return Err(CoreError::NodeFailed(format!(
                    "Custom node input {:?} has type {}, which custom nodes cannot take",
                    name,
                    tensor.dtype().name()
                )));
            };
            raw.push(CustomNodeTensor {
                name: name.as_ptr(),
                // The ABI's pointer is not const; libraries only read inputs.
                data: bytes.as_ptr().cast_mut(),
                data_bytes: bytes.len() as u64,
                dims: dims.as_mut_ptr(),
                dims_count: dims.len() as u64,
                precision,
            });
        }
        let mut outputs: *mut CustomNodeTensor = std::ptr::null_mut();
        let mut count: c_int = 0;
        // SAFETY: the ABI's execute; inputs and params live through the call.
        let status = unsafe {
            (self.library.execute)(
                raw.as_ptr(),
                raw.len() as c_int,
                &mut outputs,
                &mut count,
                self.params.as_ptr(),
                self.params.len() as c_int,
                self.state,
            )
        };
        let fail = |message: &str| CoreError::NodeFailed(message.to_string());
        if status != 0 {
            return Err(fail("Custom node failed during execution"));
        }
        if outputs.is_null() && count > 0 {
            return Err(fail(
                "Custom node library has returned corrupted outputs handle",
            ));
        }
        if !(0..=MAX_OUTPUTS).contains(&count) {
            self.release(outputs.cast());
            return Err(fail(
                "Custom node library has produced corrupted number of outputs",
            ));
        }
        // Take every output (so each is released once, here or by its
        // tensor), then check them.
        let mut taken: Vec<Result<(String, Tensor), CoreError>> =
            Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: `outputs` holds `count` entries.
            let output = unsafe { &*outputs.add(i) };
            taken.push(self.take(output));
        }
        self.release(outputs.cast());
        let mut produced = BTreeMap::new();
        for output in taken {
            let (name, tensor) = output?;
            produced.insert(name, tensor);
        }
        wanted
            .iter()
            .map(|name| {
                produced
                    .get(name)
                    .cloned()
                    .ok_or_else(|| fail("Custom node output is missing"))
            })
            .collect()
    }

    /// One output of `execute`: its dims copied and released, its data
    /// wrapped (released when the last tensor over it drops).
    fn take(self: &Arc<Self>, output: &CustomNodeTensor) -> Result<(String, Tensor), CoreError> {
        let fail = |message: &str| CoreError::NodeFailed(message.to_string());
        let dims = copy_dims(output.dims, output.dims_count);
        self.release(output.dims.cast());
        let data = NodeBuffer {
            ptr: output.data,
            len: output.data_bytes as usize,
            node: self.clone(),
        };
        let name =
            name_of(output.name).ok_or_else(|| fail("Custom node output is missing name"))?;
        let dtype = abi::data_type(output.precision)
            .ok_or_else(|| fail("Custom node has produced tensor with unspecified precision"))?;
        if output.data.is_null() && output.data_bytes > 0 {
            return Err(fail("Custom node output has invalid content size"));
        }
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let expected = inferd_tensor::element_count(&shape)
            .and_then(|n| n.checked_mul(dtype.size_bytes().unwrap_or(0)));
        if expected != Some(data.len) {
            return Err(fail("Custom node output has invalid content size"));
        }
        let bytes = Bytes::from_owner(data);
        let tensor = Tensor::new(dtype, shape, TensorData::Raw(bytes))
            .map_err(|_| fail("Custom node output has invalid content size"))?;
        Ok((name, tensor))
    }
}

impl Drop for CustomNode {
    fn drop(&mut self) {
        // SAFETY: the state `initialize` made, freed once, after every
        // buffer of this node (each holds the node) is gone.
        let status = unsafe { (self.library.deinitialize)(self.state) };
        if status != 0 {
            tracing::error!(library = %self.library.path, status, "custom node deinitialize failed");
        }
    }
}

/// Output memory of a node, given back through its `release` when dropped.
struct NodeBuffer {
    ptr: *mut u8,
    len: usize,
    node: Arc<CustomNode>,
}

// SAFETY: the buffer is the library's memory, read only once returned.
unsafe impl Send for NodeBuffer {}

impl AsRef<[u8]> for NodeBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: the library returned `len` bytes at `ptr`, valid until released.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for NodeBuffer {
    fn drop(&mut self) {
        self.node.release(self.ptr.cast());
    }
}

fn copy_dims(dims: *const u64, count: u64) -> Vec<u64> {
    if dims.is_null() || count == 0 || count > 64 {
        return Vec::new();
    }
    // SAFETY: the library declared `count` dims at `dims`.
    unsafe { std::slice::from_raw_parts(dims, count as usize) }.to_vec()
}

fn name_of(name: *const std::ffi::c_char) -> Option<String> {
    if name.is_null() {
        return None;
    }
    // SAFETY: the library's NUL-terminated name.
    Some(
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned(),
    )
}
