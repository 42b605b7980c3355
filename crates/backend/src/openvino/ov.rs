//! Owning, safe wrappers around the OpenVINO C handles used by the backend:
//! core, compiled model and infer request. Models live in `graph.rs`,
//! tensors in `tensor.rs`.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::path::Path;

use super::ffi::{self, Api, Status};
use super::graph::Model;
use super::tensor::Tensor;

/// Turns a status into a result carrying OpenVINO's own message.
pub fn check(api: &Api, status: Status, what: &str) -> Result<(), String> {
    if status == 0 {
        return Ok(());
    }
    Err(format!("{what}: {}", last_error(api, status)))
}

/// The library's last error message (a process-wide slot in the C API, so a
/// message from a concurrent failure may occasionally show up instead).
fn last_error(api: &Api, status: Status) -> String {
    // SAFETY: returns null or a heap copy that the caller frees with ov_free.
    let msg = unsafe { (api.ov_get_last_err_msg)() };
    let text = if msg.is_null() {
        String::new()
    } else {
        // SAFETY: non-null NUL-terminated copy, freed once right after reading.
        let text = unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: `msg` came from ov_get_last_err_msg and is freed once.
        unsafe { (api.ov_free)(msg) };
        text
    };
    let text = tidy(&text);
    if !text.is_empty() {
        return text;
    }
    match api.ov_get_error_info {
        // SAFETY: returns a static NUL-terminated string (never freed).
        Some(info) => match unsafe { info(status) } {
            p if p.is_null() => format!("status {status}"),
            // SAFETY: non-null static C string.
            p => unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned(),
        },
        None => format!("status {status}"),
    }
}

/// Drops the `Exception from src/...:` source-location lines OpenVINO stacks
/// in front of the real message.
fn tidy(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Exception from "))
        .collect();
    if lines.is_empty() {
        text.trim().to_string()
    } else {
        lines.join(" ")
    }
}

/// A C string argument, with a clear error for interior NUL bytes.
pub fn c_string(what: &str, value: &str) -> Result<CString, String> {
    CString::new(value).map_err(|_| format!("{what} {value:?} contains a NUL byte"))
}

/// Owns a C handle freed with `free` (ports, layouts, pre-processing steps).
pub struct Owned<T> {
    pub ptr: *mut T,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Calls `create` with an out-pointer; owns the result on success.
    ///
    /// # Safety
    /// On success `create` must store a handle that `free` releases, and that
    /// nothing else frees.
    pub unsafe fn create(
        api: &Api,
        what: &str,
        free: unsafe extern "C" fn(*mut T),
        create: impl FnOnce(*mut *mut T) -> Status,
    ) -> Result<Self, String> {
        let mut ptr = std::ptr::null_mut();
        check(api, create(&mut ptr), what)?;
        if ptr.is_null() {
            return Err(format!("{what}: OpenVINO returned no object"));
        }
        Ok(Owned { ptr, free })
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` was produced by the matching create call and is freed once.
        unsafe { (self.free)(self.ptr) }
    }
}

/// `ov_core_t`.
pub struct Core {
    api: &'static Api,
    ptr: *mut ffi::Core,
}

// SAFETY: the core is a heap object with no thread affinity; the runtime keeps
// it behind a Mutex, so it is never used from two threads at once.
unsafe impl Send for Core {}

impl Core {
    pub fn new(api: &'static Api) -> Result<Core, String> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(
            api,
            unsafe { (api.ov_core_create)(&mut ptr) },
            "cannot create the OpenVINO core",
        )?;
        let core = Core { api, ptr };
        core.read_weights_into_memory();
        Ok(core)
    }

    /// Turns off OpenVINO's memory mapping of weight files (`ENABLE_MMAP`):
    /// a mapped `.bin` truncated or rewritten in place while served (as `cp`
    /// over it does) turns the next inference into SIGBUS and kills the
    /// process. Read into memory, a file change cannot reach a loaded model.
    fn read_weights_into_memory(&self) {
        let Some(set_property) = self.api.ov_core_set_property else {
            tracing::warn!(
                "this OpenVINO cannot turn off weight mapping (no ov_core_set_property)"
            );
            return;
        };
        let (key, value) = (c"ENABLE_MMAP", c"NO");
        // SAFETY: live core; a NULL device name sets a core property; one
        // key/value pair of NUL-terminated strings that outlive the call, as
        // the variadic C signature reads them.
        let status =
            unsafe { set_property(self.ptr, std::ptr::null(), key.as_ptr(), value.as_ptr()) };
        if let Err(error) = check(self.api, status, "cannot set ENABLE_MMAP") {
            tracing::warn!(%error, "OpenVINO keeps mapping weight files");
        }
    }

    /// Adds a library of custom operations (`--cpu_extension`) to the core;
    /// models read afterwards may use them.
    pub fn add_extension(&self, path: &Path) -> Result<(), String> {
        let text = path_c_string(path)?;
        // SAFETY: live core, C string outliving the call.
        let status = unsafe { (self.api.ov_core_add_extension)(self.ptr, text.as_ptr()) };
        check(
            self.api,
            status,
            &format!("cannot add the extension {}", path.display()),
        )
    }

    /// Reads a model file (IR with its weights, ONNX, TF, TFLite, Paddle).
    pub fn read_model(&self, path: &Path, weights: Option<&Path>) -> Result<Model, String> {
        let what = format!("cannot read {}", path.display());
        let model_path = path_c_string(path)?;
        let weights = weights.map(path_c_string).transpose()?.unwrap_or_default();
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live core, C strings outliving the call, valid out-pointer.
        let status = unsafe {
            (self.api.ov_core_read_model)(self.ptr, model_path.as_ptr(), weights.as_ptr(), &mut ptr)
        };
        check(self.api, status, &what)?;
        Ok(Model::from_raw(self.api, ptr))
    }

    /// Compiles for `device` with `properties` (key, value) for this model only.
    /// `variadic` forces the older C-variadic entry point (tests; runtimes before 2026.4).
    pub fn compile(
        &self,
        model: &Model,
        device: &str,
        properties: &[(String, String)],
        variadic: bool,
    ) -> Result<CompiledModel, String> {
        let what = format!("cannot compile the model for {device}");
        let device = c_string("target_device", device)?;
        let owned: Vec<(CString, CString)> = properties
            .iter()
            .map(|(k, v)| {
                Ok((
                    c_string("plugin_config key", k)?,
                    c_string("plugin_config value", v)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let mut ptr = std::ptr::null_mut();
        let status = match self.api.ov_core_compile_model_props {
            Some(compile) if !variadic => {
                let props: Vec<ffi::Property> = owned
                    .iter()
                    .map(|(k, v)| ffi::Property {
                        key: k.as_ptr(),
                        value: v.as_ptr().cast(),
                    })
                    .collect();
                // SAFETY: live core and model; `props` points at `props.len()`
                // key/value C strings that outlive the call.
                unsafe {
                    compile(
                        self.ptr,
                        model.as_ptr(),
                        device.as_ptr(),
                        props.len(),
                        props.as_ptr(),
                        &mut ptr,
                    )
                }
            }
            _ => {
                let pairs: Vec<(*const c_char, *const c_char)> = owned
                    .iter()
                    .map(|(k, v)| (k.as_ptr(), v.as_ptr()))
                    .collect();
                compile_variadic(
                    self.api,
                    self.ptr,
                    model.as_ptr(),
                    device.as_ptr(),
                    &pairs,
                    &mut ptr,
                )?
            }
        };
        check(self.api, status, &what)?;
        Ok(CompiledModel { api: self.api, ptr })
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: created by ov_core_create, freed once.
        unsafe { (self.api.ov_core_free)(self.ptr) }
    }
}

/// Calls `ov_core_compile_model` with up to 8 key/value pairs as C varargs.
fn compile_variadic(
    api: &Api,
    core: *const ffi::Core,
    model: *const ffi::Model,
    device: *const c_char,
    pairs: &[(*const c_char, *const c_char)],
    out: *mut *mut ffi::CompiledModel,
) -> Result<Status, String> {
    let f = api.ov_core_compile_model;
    macro_rules! call {
        ($($n:literal => [$($i:literal)*]),*) => {
            match pairs.len() {
                // SAFETY: live core/model, C strings outliving the call, valid
                // out-pointer; the count is the number of variadic arguments
                // that follow (two per pair), all `const char*`.
                $( $n => Ok(unsafe { f(core, model, device, 2 * $n, out $(, pairs[$i].0, pairs[$i].1)*) }), )*
                n => Err(format!(
                    "this OpenVINO runtime takes at most 8 compile properties, not {n} \
                     (OpenVINO 2026.4 and newer have no limit)"
                )),
            }
        };
    }
    call!(0 => [], 1 => [0], 2 => [0 1], 3 => [0 1 2], 4 => [0 1 2 3], 5 => [0 1 2 3 4],
          6 => [0 1 2 3 4 5], 7 => [0 1 2 3 4 5 6], 8 => [0 1 2 3 4 5 6 7])
}

fn path_c_string(path: &Path) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", path.display()))
}

/// `ov_compiled_model_t`.
pub struct CompiledModel {
    api: &'static Api,
    ptr: *mut ffi::CompiledModel,
}

// SAFETY: the compiled model has no thread affinity. Its `&self` methods are
// called only while loading, by the loading thread; afterwards it is merely
// kept alive next to its requests (and ov::CompiledModel is thread-safe).
unsafe impl Send for CompiledModel {}
// SAFETY: as above.
unsafe impl Sync for CompiledModel {}

impl CompiledModel {
    pub fn property(&self, key: &str) -> Result<String, String> {
        let what = format!("cannot read property {key}");
        let c_key = c_string("property", key)?;
        let mut value = std::ptr::null_mut();
        // SAFETY: live compiled model, C string, valid out-pointer.
        let status = unsafe {
            (self.api.ov_compiled_model_get_property)(self.ptr, c_key.as_ptr(), &mut value)
        };
        check(self.api, status, &what)?;
        if value.is_null() {
            return Err(what);
        }
        // SAFETY: a heap C string owned by us, read then freed once.
        let text = unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        unsafe { (self.api.ov_free)(value) };
        Ok(text)
    }

    pub fn create_request(&self) -> Result<InferRequest, String> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live compiled model, valid out-pointer.
        let status =
            unsafe { (self.api.ov_compiled_model_create_infer_request)(self.ptr, &mut ptr) };
        check(self.api, status, "cannot create an infer request")?;
        Ok(InferRequest { api: self.api, ptr })
    }
}

impl Drop for CompiledModel {
    fn drop(&mut self) {
        // SAFETY: created by compile, freed once (requests hold their own references).
        unsafe { (self.api.ov_compiled_model_free)(self.ptr) }
    }
}

/// `ov_infer_request_t`: used by one thread at a time (the pool hands it out).
pub struct InferRequest {
    api: &'static Api,
    ptr: *mut ffi::InferRequest,
}

// SAFETY: a request has no thread affinity; the pool gives it to one thread at
// a time (`&mut self` for every call that changes it).
unsafe impl Send for InferRequest {}

impl InferRequest {
    pub fn set_input(&mut self, index: usize, tensor: &Tensor) -> Result<(), String> {
        // SAFETY: live request and tensor; OpenVINO keeps its own reference.
        let status = unsafe {
            (self.api.ov_infer_request_set_input_tensor_by_index)(self.ptr, index, tensor.as_ptr())
        };
        check(self.api, status, &format!("cannot set input {index}"))
    }

    pub fn infer(&mut self) -> Result<(), String> {
        // SAFETY: live request, inputs set.
        check(
            self.api,
            unsafe { (self.api.ov_infer_request_infer)(self.ptr) },
            "inference failed",
        )
    }

    pub fn output(&self, index: usize) -> Result<Tensor, String> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live request, valid out-pointer; the new handle is ours.
        let status = unsafe {
            (self.api.ov_infer_request_get_output_tensor_by_index)(self.ptr, index, &mut ptr)
        };
        check(self.api, status, &format!("cannot get output {index}"))?;
        Tensor::from_raw(self.api, ptr)
    }
}

impl Drop for InferRequest {
    fn drop(&mut self) {
        // SAFETY: created by create_request, freed once.
        unsafe { (self.api.ov_infer_request_free)(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_lose_their_source_locations() {
        let raw = "Exception from src/inference/src/cpp/core.cpp:112:\nException from src/plugins/x.cpp:9:\nNotFound: Unsupported property FOO by CPU plugin.\n";
        assert_eq!(
            super::tidy(raw),
            "NotFound: Unsupported property FOO by CPU plugin."
        );
        assert_eq!(super::tidy("  plain  "), "plain");
    }
}
