//! Loading the ONNX Runtime library, once per process.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

/// The loaded library and the environment every session is created in.
pub struct Runtime {
    /// The process-wide ONNX Runtime environment (ort allows only one).
    pub env: Environment,
    /// The library file loaded.
    pub library: PathBuf,
    /// The library's version, e.g. `1.31.1`.
    pub version: String,
}

/// Set once the library is loaded; a process cannot load a second one.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises load attempts. Failures are not remembered, so a later call
/// may try another path.
static LOADING: Mutex<()> = Mutex::new(());

/// The runtime loaded from `library`, loading it on first use. When the
/// process already loaded ONNX Runtime from elsewhere, that one is returned
/// (a process holds only one); callers compare [`Runtime::library`].
pub fn load(library: &Path) -> Result<&'static Runtime, String> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let _guard = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    // ort would resolve a relative path against the executable's folder first.
    let library = std::path::absolute(library).unwrap_or_else(|_| library.to_path_buf());
    let library = library.as_path();
    // ort panics on a few unexpected conditions (e.g. a library without the
    // API version it was built for); treat those as "unavailable" too.
    let runtime = std::panic::catch_unwind(|| init(library))
        .unwrap_or_else(|_| Err(format!("loading {} panicked", library.display())))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

fn init(library: &Path) -> Result<Runtime, String> {
    // Checks that the library exports the C API at the version ort needs
    // (`api-31`: ONNX Runtime 1.31 or newer) before any other ort call.
    let builder = ort::init_from(library).map_err(|e| e.to_string())?;
    let env = builder
        .with_name("inferd")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))?;
    let version = super::version::read(library).unwrap_or_else(|| "(unknown version)".to_string());
    Ok(Runtime {
        env,
        library: library.to_path_buf(),
        version,
    })
}
