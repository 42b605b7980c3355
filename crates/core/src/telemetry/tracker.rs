//! One request's passage through a model version, from the frontend's point
//! of view: counted as failed unless the frontend says it succeeded.

use std::sync::Arc;
use std::time::Instant;

use super::{Api, Interface, VersionTelemetry};

/// Times one request to a model version and records its outcome when
/// finished; dropped without [`RequestTracker::succeeded`], it counts as a
/// failure (early returns with `?` included).
pub struct RequestTracker {
    telemetry: Arc<VersionTelemetry>,
    api: Api,
    interface: Interface,
    started: Instant,
    ok: bool,
    /// The canonical code of the error that ended the request, when known.
    failure: std::sync::OnceLock<&'static str>,
}

impl RequestTracker {
    pub(crate) fn start(telemetry: Arc<VersionTelemetry>, api: Api, interface: Interface) -> Self {
        if let Some(m) = &telemetry.metrics {
            m.started();
        }
        RequestTracker {
            telemetry,
            api,
            interface,
            started: Instant::now(),
            ok: false,
            failure: std::sync::OnceLock::new(),
        }
    }

    /// The request failed with this canonical code (the first one given counts).
    pub fn failed_with(&self, code: &'static str) {
        let _ = self.failure.set(code);
    }

    /// The request was answered.
    pub fn succeeded(mut self) {
        self.ok = true;
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        let spent = self.started.elapsed();
        self.telemetry.stats.finished(self.ok, spent);
        if let Some(m) = &self.telemetry.metrics {
            // A failure before inference ran (the frontend could not decode
            // the request) is the client's: INVALID_ARGUMENT.
            let failure =
                (!self.ok).then(|| self.failure.get().copied().unwrap_or("INVALID_ARGUMENT"));
            m.finished(self.api, self.interface, failure, spent);
        }
    }
}
