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
        }
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
            m.finished(self.api, self.interface, self.ok, spent);
        }
    }
}
