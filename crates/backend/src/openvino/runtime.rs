//! The OpenVINO runtime of this process: the C library, loaded once from one
//! path, and the one `ov::Core` every model is read and compiled with.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::ffi::{self, Api};
use super::ov::Core;

/// A loaded OpenVINO C library, alive for the rest of the process.
pub struct Runtime {
    pub api: &'static Api,
    /// The build number, e.g. `2026.4.1-22982-e213a147257-releases/2026/4`.
    pub version: String,
    core: Mutex<Core>,
}

impl Runtime {
    /// The shared core. Loads are serialised through it, which keeps the
    /// backend independent of how thread-safe a given runtime's core is.
    pub fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The library this process opened (canonical path) and what came of it.
/// Only one OpenVINO can live in a process, so later loads of another path fail.
type Loaded = (PathBuf, Result<&'static Runtime, String>);
static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// Loads the runtime at `path`, or returns the one already loaded from it.
pub fn load(path: &Path) -> Result<&'static Runtime, String> {
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut slot = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((loaded, result)) = slot.as_ref() {
        if *loaded == canonical {
            return result.clone();
        }
        return Err(format!(
            "OpenVINO from {} is already loaded in this process; cannot also load {}",
            loaded.display(),
            path.display()
        ));
    }
    let api = match ffi::open(&canonical) {
        Ok(api) => api,
        // Nothing stays loaded when dlopen fails: another path may be tried.
        Err(ffi::OpenError::NotOpened(e)) => return Err(e),
        Err(ffi::OpenError::Unusable(e)) => {
            *slot = Some((canonical, Err(e.clone())));
            return Err(e);
        }
    };
    let result = start(api).map(|rt| &*Box::leak(Box::new(rt)));
    *slot = Some((canonical, result.clone()));
    result
}

fn start(api: &'static Api) -> Result<Runtime, String> {
    let version = ffi::read_version(api.ov_get_openvino_version, api.ov_version_free)?;
    let core = Core::new(api)?;
    Ok(Runtime {
        api,
        version,
        core: Mutex::new(core),
    })
}
