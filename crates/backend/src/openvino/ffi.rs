//! The slice of OpenVINO's C API (`libopenvino_c`) this backend calls, bound at
//! run time with `dlopen`/`dlsym`.
//!
//! Why not `openvino-sys`: it is not a direct dependency of this crate (only
//! the high-level `openvino` crate is, which does not re-export it), so its
//! `library::load_from` cannot be reached, and the high-level crate's own
//! finder only looks for an unversioned `libopenvino_c.so`, which the wheel
//! does not ship. Declarations below follow openvino-sys 0.11.1's generated
//! bindings (OpenVINO ≥ 2025.1 element-type numbering), with C enums taken as
//! plain integers so that an unexpected value from the library is never UB.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;

/// `ov_status_e`; 0 is OK.
pub type Status = c_int;
/// `ov_element_type_e`, numbered as in OpenVINO ≥ 2025.1.
pub type ElementType = u32;

macro_rules! opaque {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("Opaque OpenVINO handle `", stringify!($name), "`.")]
            #[repr(C)]
            pub struct $name {
                _private: [u8; 0],
            }
        )*
    };
}

opaque!(
    Core,
    Model,
    CompiledModel,
    InferRequest,
    Tensor,
    Port,
    Layout,
    PrePostProcessor,
    InputInfo,
    InputTensorInfo,
    InputModelInfo,
    PreprocessSteps,
);

/// `ov_dimension_t` (also `ov_rank_t`): an inclusive interval; -1 as `max` is unbounded.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension {
    pub min: i64,
    pub max: i64,
}

/// `ov_shape_t`: a static shape; `dims` points at `rank` values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub rank: i64,
    pub dims: *mut i64,
}

/// `ov_partial_shape_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PartialShape {
    pub rank: Dimension,
    pub dims: *mut Dimension,
}

/// `ov_version_t`.
#[repr(C)]
pub struct Version {
    pub build_number: *const c_char,
    pub description: *const c_char,
}

/// `ov_property_t` (OpenVINO ≥ 2026.4): a key and, for plain settings, a C string value.
#[repr(C)]
pub struct Property {
    pub key: *const c_char,
    pub value: *const c_void,
}

/// `ov_core_compile_model`, whose properties are C variadic arguments.
pub type CompileVariadic = unsafe extern "C" fn(
    *const Core,
    *const Model,
    *const c_char,
    usize,
    *mut *mut CompiledModel,
    ...
) -> Status;

/// `ov_core_set_property`: a device name (NULL: the core itself) then
/// key/value C string pairs as C variadic arguments.
pub type SetPropertyVariadic = unsafe extern "C" fn(*const Core, *const c_char, ...) -> Status;

/// `ov_core_compile_model_props`: the array form, absent before OpenVINO 2026.4.
pub type CompileProps = unsafe extern "C" fn(
    *const Core,
    *const Model,
    *const c_char,
    usize,
    *const Property,
    *mut *mut CompiledModel,
) -> Status;

macro_rules! api {
    ($( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )*) => {
        /// Entry points of `libopenvino_c`, resolved once when it is loaded.
        pub struct Api {
            $( pub $name: unsafe extern "C" fn($($ty),*) $(-> $ret)?, )*
            pub ov_core_compile_model: CompileVariadic,
            /// Absent in the oldest releases.
            pub ov_core_set_property: Option<SetPropertyVariadic>,
            /// Absent before OpenVINO 2026.4.
            pub ov_core_compile_model_props: Option<CompileProps>,
            /// Absent in older releases.
            pub ov_get_error_info: Option<unsafe extern "C" fn(Status) -> *const c_char>,
        }

        impl Api {
            /// Resolves every entry point in `handle`.
            ///
            /// # Safety
            /// `handle` must come from `dlopen` of an OpenVINO C library whose
            /// functions have the signatures declared here (checked by the
            /// caller through the version number) and must stay open forever.
            unsafe fn resolve(handle: *mut c_void) -> Result<Api, String> {
                Ok(Api {
                    $(
                        // SAFETY: the symbol is the C function of that name,
                        // declared with its C signature; function and data
                        // pointers have the same size on supported platforms.
                        $name: unsafe {
                            std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*) $(-> $ret)?>(
                                required(handle, stringify!($name))?,
                            )
                        },
                    )*
                    // SAFETY: as above.
                    ov_core_compile_model: unsafe {
                        std::mem::transmute::<*mut c_void, CompileVariadic>(
                            required(handle, "ov_core_compile_model")?,
                        )
                    },
                    // SAFETY: as above; a missing symbol stays `None`.
                    ov_core_set_property: optional(handle, "ov_core_set_property")
                        .map(|p| unsafe { std::mem::transmute::<*mut c_void, SetPropertyVariadic>(p) }),
                    // SAFETY: as above; a missing symbol stays `None`.
                    ov_core_compile_model_props: optional(handle, "ov_core_compile_model_props")
                        .map(|p| unsafe { std::mem::transmute::<*mut c_void, CompileProps>(p) }),
                    // SAFETY: as above.
                    ov_get_error_info: optional(handle, "ov_get_error_info").map(|p| unsafe {
                        std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Status) -> *const c_char>(p)
                    }),
                })
            }
        }
    };
}

api! {
    fn ov_get_openvino_version(version: *mut Version) -> Status;
    fn ov_version_free(version: *mut Version);
    fn ov_get_last_err_msg() -> *const c_char;
    fn ov_free(content: *const c_char);

    fn ov_core_create(core: *mut *mut Core) -> Status;
    fn ov_core_free(core: *mut Core);
    fn ov_core_add_extension(core: *const Core, path: *const c_char) -> Status;
    fn ov_core_read_model(core: *const Core, model_path: *const c_char, bin_path: *const c_char, model: *mut *mut Model) -> Status;

    fn ov_model_free(model: *mut Model);
    fn ov_model_inputs_size(model: *const Model, size: *mut usize) -> Status;
    fn ov_model_outputs_size(model: *const Model, size: *mut usize) -> Status;
    fn ov_model_const_input_by_index(model: *const Model, index: usize, port: *mut *mut Port) -> Status;
    fn ov_model_const_output_by_index(model: *const Model, index: usize, port: *mut *mut Port) -> Status;
    fn ov_model_reshape_by_port_indexes(model: *const Model, indexes: *const usize, shapes: *const PartialShape, size: usize) -> Status;

    fn ov_output_const_port_free(port: *mut Port);
    fn ov_port_get_any_name(port: *const Port, name: *mut *mut c_char) -> Status;
    fn ov_port_get_element_type(port: *const Port, element_type: *mut ElementType) -> Status;
    fn ov_port_get_partial_shape(port: *const Port, shape: *mut PartialShape) -> Status;
    fn ov_partial_shape_create(rank: i64, dims: *const Dimension, shape: *mut PartialShape) -> Status;
    fn ov_partial_shape_free(shape: *mut PartialShape);
    fn ov_shape_free(shape: *mut Shape) -> Status;

    fn ov_layout_create(desc: *const c_char, layout: *mut *mut Layout) -> Status;
    fn ov_layout_free(layout: *mut Layout);
    fn ov_preprocess_prepostprocessor_create(model: *const Model, ppp: *mut *mut PrePostProcessor) -> Status;
    fn ov_preprocess_prepostprocessor_free(ppp: *mut PrePostProcessor);
    fn ov_preprocess_prepostprocessor_get_input_info_by_index(ppp: *const PrePostProcessor, index: usize, info: *mut *mut InputInfo) -> Status;
    fn ov_preprocess_prepostprocessor_build(ppp: *const PrePostProcessor, model: *mut *mut Model) -> Status;
    fn ov_preprocess_input_info_free(info: *mut InputInfo);
    fn ov_preprocess_input_info_get_tensor_info(info: *const InputInfo, tensor: *mut *mut InputTensorInfo) -> Status;
    fn ov_preprocess_input_info_get_model_info(info: *const InputInfo, model: *mut *mut InputModelInfo) -> Status;
    fn ov_preprocess_input_tensor_info_free(info: *mut InputTensorInfo);
    fn ov_preprocess_input_tensor_info_set_layout(info: *mut InputTensorInfo, layout: *mut Layout) -> Status;
    fn ov_preprocess_input_info_get_preprocess_steps(info: *const InputInfo, steps: *mut *mut PreprocessSteps) -> Status;
    fn ov_preprocess_preprocess_steps_free(steps: *mut PreprocessSteps);
    fn ov_preprocess_preprocess_steps_reverse_channels(steps: *mut PreprocessSteps) -> Status;
    fn ov_preprocess_preprocess_steps_mean_multi_channels(steps: *mut PreprocessSteps, values: *const f32, size: i32) -> Status;
    fn ov_preprocess_preprocess_steps_scale_multi_channels(steps: *mut PreprocessSteps, values: *const f32, size: i32) -> Status;
    fn ov_preprocess_preprocess_steps_mean(steps: *mut PreprocessSteps, value: f32) -> Status;
    fn ov_preprocess_preprocess_steps_scale(steps: *mut PreprocessSteps, value: f32) -> Status;
    fn ov_preprocess_input_model_info_free(info: *mut InputModelInfo);
    fn ov_preprocess_input_model_info_set_layout(info: *mut InputModelInfo, layout: *mut Layout) -> Status;

    fn ov_compiled_model_free(model: *mut CompiledModel);
    fn ov_compiled_model_get_property(model: *const CompiledModel, key: *const c_char, value: *mut *mut c_char) -> Status;
    fn ov_compiled_model_create_infer_request(model: *const CompiledModel, request: *mut *mut InferRequest) -> Status;

    fn ov_infer_request_free(request: *mut InferRequest);
    fn ov_infer_request_set_input_tensor_by_index(request: *mut InferRequest, index: usize, tensor: *const Tensor) -> Status;
    fn ov_infer_request_get_output_tensor_by_index(request: *const InferRequest, index: usize, tensor: *mut *mut Tensor) -> Status;
    fn ov_infer_request_infer(request: *mut InferRequest) -> Status;

    fn ov_tensor_create(element_type: ElementType, shape: Shape, tensor: *mut *mut Tensor) -> Status;
    fn ov_tensor_free(tensor: *mut Tensor);
    fn ov_tensor_data(tensor: *const Tensor, data: *mut *mut c_void) -> Status;
    fn ov_tensor_get_shape(tensor: *const Tensor, shape: *mut Shape) -> Status;
    fn ov_tensor_get_element_type(tensor: *const Tensor, element_type: *mut ElementType) -> Status;
    fn ov_tensor_get_byte_size(tensor: *const Tensor, size: *mut usize) -> Status;
    fn ov_tensor_get_size(tensor: *const Tensor, size: *mut usize) -> Status;
}

const RTLD_NOW: c_int = 2;

// SAFETY: these are the POSIX dynamic-loader functions with their C
// signatures; the Rust standard library already links the library that
// provides them on Unix targets.
unsafe extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string that stays valid
    // until the next dl* call on this thread; it is copied at once.
    let msg = unsafe { dlerror() };
    if msg.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: non-null, NUL-terminated (see above).
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    }
}

fn optional(handle: *mut c_void, name: &str) -> Option<*mut c_void> {
    let symbol = CString::new(name).ok()?;
    // SAFETY: `handle` is a live dlopen handle and `symbol` a C string.
    let address = unsafe { dlsym(handle, symbol.as_ptr()) };
    (!address.is_null()).then_some(address)
}

fn required(handle: *mut c_void, name: &str) -> Result<*mut c_void, String> {
    optional(handle, name).ok_or_else(|| format!("the library has no function {name}"))
}

/// Why [`open`] failed.
pub enum OpenError {
    /// `dlopen` failed: nothing was loaded.
    NotOpened(String),
    /// The library is loaded (for good) but cannot be used.
    Unusable(String),
}

/// Opens the library at `path` for the rest of the process (it is never
/// closed) and resolves the API.
pub fn open(path: &Path) -> Result<&'static Api, OpenError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| OpenError::NotOpened(format!("{} contains a NUL byte", path.display())))?;
    // SAFETY: dlopen with a valid C string; running the library's initialisers
    // is what loading OpenVINO means. The handle is never closed.
    let handle = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW) };
    if handle.is_null() {
        return Err(OpenError::NotOpened(format!(
            "cannot open {}: {}",
            path.display(),
            last_dl_error()
        )));
    }
    let api = check_version_then_resolve(handle)
        .map_err(|e| OpenError::Unusable(format!("cannot use {}: {e}", path.display())))?;
    Ok(Box::leak(Box::new(api)))
}

fn check_version_then_resolve(handle: *mut c_void) -> Result<Api, String> {
    let get = required(handle, "ov_get_openvino_version")?;
    let free = required(handle, "ov_version_free")?;
    // SAFETY: both symbols are the OpenVINO C functions of those names, with
    // the signatures below in every OpenVINO 2.0 C API release.
    let (get, free) = unsafe {
        (
            std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut Version) -> Status>(get),
            std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut Version)>(free),
        )
    };
    let version = read_version(get, free)?;
    if !supported_version(&version) {
        return Err(format!(
            "OpenVINO {version} is too old: this backend needs 2025.1 or newer"
        ));
    }
    // SAFETY: the handle is open for good, and the version (≥ 2025.1) has the
    // signatures and element-type numbering declared in this module.
    unsafe { Api::resolve(handle) }
}

/// Reads `ov_get_openvino_version`'s build number.
pub fn read_version(
    get: unsafe extern "C" fn(*mut Version) -> Status,
    free: unsafe extern "C" fn(*mut Version),
) -> Result<String, String> {
    let mut version = Version {
        build_number: std::ptr::null(),
        description: std::ptr::null(),
    };
    // SAFETY: `version` is a valid out-parameter.
    let status = unsafe { get(&mut version) };
    if status != 0 || version.build_number.is_null() {
        return Err(format!(
            "ov_get_openvino_version failed with status {status}"
        ));
    }
    // SAFETY: on success build_number is a NUL-terminated string owned by
    // `version` until ov_version_free, which is called right after the copy.
    let text = unsafe { CStr::from_ptr(version.build_number) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: frees what ov_get_openvino_version filled in, once.
    unsafe { free(&mut version) };
    Ok(text)
}

/// Whether a build number (`2026.4.1-22982-...`) is 2025.1 or newer.
pub fn supported_version(build: &str) -> bool {
    let mut parts = build.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(year), Some(minor)) => (year, minor) >= (2025, 1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_from_2025_1_are_supported() {
        assert!(super::supported_version(
            "2026.4.1-22982-e213a147257-releases/2026/4"
        ));
        assert!(super::supported_version(
            "2025.1.0-18503-6fec06580ab-releases/2025/1"
        ));
        assert!(!super::supported_version(
            "2024.6.0-17404-4c0f47d2335-releases/2024/6"
        ));
        assert!(!super::supported_version("custom"));
    }
}
