//! What the server reports about its requests: Triton-style per-version
//! statistics (always kept, a few atomics) and OVMS-named Prometheus metrics
//! (when enabled). Handles are resolved once per model version, so the
//! request path only touches atomics.

mod metrics;
mod stats;
mod tfs_metrics;
mod tracker;
mod triton_metrics;

use std::sync::Arc;
use std::time::Duration;

pub use metrics::{METRIC_NAMES, Metrics, MetricsError};
pub use stats::{BatchStats, Duration as StatDuration, StatsSnapshot, VersionStats};
pub use tracker::RequestTracker;

use metrics::VersionMetrics;

/// Which API a request came through (the `api` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// KServe v2.
    KServe,
    /// TensorFlow Serving.
    TensorFlowServing,
}

/// Which transport a request came through (the `interface` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// gRPC.
    Grpc,
    /// HTTP/REST.
    Rest,
}

/// Requests counted per model (the `method` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// KServe ModelInfer.
    ModelInfer,
    /// KServe ModelReady.
    ModelReady,
    /// KServe ModelMetadata.
    ModelMetadata,
    /// TFS Predict.
    Predict,
    /// TFS GetModelMetadata.
    GetModelMetadata,
    /// TFS GetModelStatus.
    GetModelStatus,
}

impl Api {
    fn label(self) -> &'static str {
        match self {
            Api::KServe => "KServe",
            Api::TensorFlowServing => "TensorFlowServing",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The inference method of this API.
    fn infer_method(self) -> Method {
        match self {
            Api::KServe => Method::ModelInfer,
            Api::TensorFlowServing => Method::Predict,
        }
    }
}

impl Interface {
    fn label(self) -> &'static str {
        match self {
            Interface::Grpc => "gRPC",
            Interface::Rest => "REST",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::ModelInfer => "ModelInfer",
            Method::ModelReady => "ModelReady",
            Method::ModelMetadata => "ModelMetadata",
            Method::Predict => "Predict",
            Method::GetModelMetadata => "GetModelMetadata",
            Method::GetModelStatus => "GetModelStatus",
        }
    }
}

/// Statistics and metric handles of one model version.
pub struct VersionTelemetry {
    stats: VersionStats,
    metrics: Option<VersionMetrics>,
}

impl VersionTelemetry {
    /// Triton-style statistics.
    pub fn stats(&self) -> &VersionStats {
        &self.stats
    }

    /// Publishes the execution slots (`nireq`) a loaded servable has.
    pub(crate) fn set_slots(&self, slots: usize) {
        if let Some(m) = &self.metrics {
            m.set_slots(slots);
        }
    }

    /// One request waited `wait` for a slot (or its batch) and ran `infer`
    /// in the engine.
    pub(crate) fn request_ran(&self, wait: Duration, infer: Duration) {
        self.stats.request_ran(wait, infer);
        if let Some(m) = &self.metrics {
            m.executed(wait, infer);
        }
    }

    /// One engine execution of `rows` rows: `input` to join the requests,
    /// `infer` in the engine, `output` to hand the results out.
    pub(crate) fn batch_ran(
        &self,
        rows: usize,
        input: Duration,
        infer: Duration,
        output: Duration,
    ) {
        self.stats.batch_ran(rows, input, infer, output);
        if let Some(m) = &self.metrics {
            m.batch_ran(rows, input, output);
        }
    }

    /// An execution slot was taken (`true`) or given back (`false`).
    /// Live sequences of a stateful version now.
    pub(crate) fn sequences_live(&self, live: usize) {
        if let Some(m) = &self.metrics {
            m.set_sequences(live);
        }
    }

    pub(crate) fn slot_taken(&self, taken: bool) {
        if let Some(m) = &self.metrics {
            m.slot_taken(taken);
        }
    }
}

/// Server-wide telemetry: makes each version's handles and renders metrics.
#[derive(Default)]
pub struct Telemetry {
    metrics: Option<Metrics>,
}

impl Telemetry {
    /// Statistics only, no Prometheus metrics.
    pub fn disabled() -> Self {
        Telemetry::default()
    }

    /// Statistics and the Prometheus metrics `metrics` selects.
    pub fn with_metrics(metrics: Metrics) -> Self {
        Telemetry {
            metrics: Some(metrics),
        }
    }

    /// The Prometheus metrics, when enabled.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Fresh statistics and metric handles for `name` version `version`.
    pub fn for_version(&self, name: &str, version: u64) -> Arc<VersionTelemetry> {
        Arc::new(VersionTelemetry {
            stats: VersionStats::default(),
            metrics: self.metrics.as_ref().map(|m| m.for_version(name, version)),
        })
    }

    /// Counts a non-inference request to a known model (metadata, readiness,
    /// status); `version` is `None` for the methods OVMS counts per model.
    pub fn count(
        &self,
        api: Api,
        interface: Interface,
        method: Method,
        name: &str,
        version: Option<u64>,
        ok: bool,
    ) {
        if let Some(m) = &self.metrics {
            m.count(api, interface, method, name, version, ok);
        }
    }
}
