//! The version of the loaded ONNX Runtime library.
//!
//! ort reads `OrtApiBase::GetVersionString` to check the library but does not
//! expose it, so it is asked again here through the dynamic loader; where that
//! is not possible the version is taken from the library's file name
//! (`libonnxruntime.so.1.31.1`).
#![allow(unsafe_code)]

use std::path::Path;

/// The runtime's own version string, or one read from its file name.
pub fn read(library: &Path) -> Option<String> {
    from_loader(library)
        .or_else(|| from_file_name(library))
        .or_else(|| {
            library
                .canonicalize()
                .ok()
                .and_then(|real| from_file_name(&real))
        })
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub(super) fn from_loader(library: &Path) -> Option<String> {
    use std::ffi::{CStr, CString, c_char, c_int, c_void};
    use std::os::unix::ffi::OsStrExt;

    unsafe extern "C" {
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlclose(handle: *mut c_void) -> c_int;
    }
    // <dlfcn.h> values for glibc and musl on these architectures.
    const RTLD_LAZY: c_int = 0x1;
    const RTLD_NOLOAD: c_int = 0x4;

    let path = CString::new(library.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is NUL-terminated and outlives the call. With RTLD_NOLOAD
    // the loader only returns a new reference to a library this process has
    // already loaded (ort loaded it from this very path); it never maps a file
    // or runs initialisers, and returns null otherwise.
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_LAZY | RTLD_NOLOAD) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: `handle` came from a successful dlopen and is still open; the
    // symbol name is a NUL-terminated literal.
    let symbol = unsafe { dlsym(handle, c"OrtGetApiBase".as_ptr()) };
    let version = if symbol.is_null() {
        None
    } else {
        type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
        // SAFETY: `OrtGetApiBase` is declared in onnxruntime_c_api.h as
        // `const OrtApiBase* OrtGetApiBase(void)` (C calling convention on
        // these targets), so the non-null symbol address is that function.
        let get_api_base = unsafe { std::mem::transmute::<*mut c_void, GetApiBase>(symbol) };
        // SAFETY: the function takes no arguments and returns a pointer to a
        // static table, or null; ort already called it successfully.
        let base = unsafe { get_api_base() };
        if base.is_null() {
            None
        } else {
            // SAFETY: `base` points to the library's static OrtApiBase, whose
            // `GetVersionString` returns a static NUL-terminated string.
            let text = unsafe { ((*base).GetVersionString)() };
            // SAFETY: checked non-null; the string is static and NUL-terminated.
            (!text.is_null()).then(|| {
                unsafe { CStr::from_ptr(text) }
                    .to_string_lossy()
                    .into_owned()
            })
        }
    };
    // SAFETY: balances the dlopen above; ort keeps its own reference, so the
    // library stays loaded and the copied string does not point into it.
    unsafe { dlclose(handle) };
    version.filter(|v| !v.is_empty())
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub(super) fn from_loader(_library: &Path) -> Option<String> {
    None
}

/// The version in a versioned library name (`libonnxruntime.so.1.31.1`,
/// `libonnxruntime.1.31.1.dylib`).
fn from_file_name(library: &Path) -> Option<String> {
    let name = library.file_name()?.to_str()?;
    let rest = name.strip_prefix("libonnxruntime")?;
    let rest = rest
        .strip_prefix(".so.")
        .or_else(|| rest.strip_prefix('.'))?;
    let version = rest.strip_suffix(".dylib").unwrap_or(rest);
    is_version(version).then(|| version.to_string())
}

fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_file_names() {
        let path = Path::new("/x/onnxruntime/capi/libonnxruntime.so.1.31.1");
        assert_eq!(from_file_name(path).as_deref(), Some("1.31.1"));
        assert_eq!(
            from_file_name(Path::new("libonnxruntime.1.20.0.dylib")).as_deref(),
            Some("1.20.0")
        );
        assert_eq!(from_file_name(Path::new("libonnxruntime.so")), None);
        assert_eq!(from_file_name(Path::new("libonnxruntime.so.x")), None);
    }

    #[test]
    fn a_library_not_loaded_has_no_loader_version() {
        assert_eq!(from_loader(Path::new("/no/such/libonnxruntime.so")), None);
    }
}
