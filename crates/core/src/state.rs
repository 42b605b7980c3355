use std::fmt;

/// Lifecycle state of one model version, as OVMS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServableState {
    /// Known, nothing done yet.
    Start,
    /// Being loaded (or failed to load, with an error status).
    Loading,
    /// Serving requests.
    Available,
    /// Draining before release.
    Unloading,
    /// Released.
    End,
}

impl ServableState {
    /// The OVMS name (`AVAILABLE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ServableState::Start => "START",
            ServableState::Loading => "LOADING",
            ServableState::Available => "AVAILABLE",
            ServableState::Unloading => "UNLOADING",
            ServableState::End => "END",
        }
    }
}

impl fmt::Display for ServableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// State of one version plus its error, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// Version number.
    pub version: u64,
    /// Lifecycle state.
    pub state: ServableState,
    /// Why the last transition failed; `None` when all is well.
    pub error: Option<String>,
}

impl VersionStatus {
    /// OVMS `error_code`: `OK`, or `UNKNOWN` with a message.
    pub fn error_code(&self) -> &'static str {
        if self.error.is_some() {
            "UNKNOWN"
        } else {
            "OK"
        }
    }
}
