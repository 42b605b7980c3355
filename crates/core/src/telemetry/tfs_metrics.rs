//! TensorFlow Serving's metric names, reported beside OVMS's when its
//! `--monitoring_config_file` enables Prometheus: per model, for requests
//! through the TF Serving API, `:tensorflow:serving:request_count` (labels
//! `model_name`, `status`: the canonical code, `OK` on success) and the
//! `:tensorflow:serving:request_latency` histogram in microseconds (labels
//! `model_name`, `API`, `entrypoint`: `GRPC` or `REST`), with TF Serving's
//! buckets (10 µs growing by 1.8, as OVMS's).

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Histogram, Key, KeyName, Label, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::Interface;

/// Requests by model and status.
pub(super) const REQUEST_COUNT: &str = ":tensorflow:serving:request_count";
/// Request wall time by model, API and entry point.
pub(super) const REQUEST_LATENCY: &str = ":tensorflow:serving:request_latency";

/// The `API` label of inference requests.
const PREDICT: &str = "predict";

/// Describes the names (their HELP lines).
pub(super) fn describe(recorder: &PrometheusRecorder) {
    recorder.describe_counter(
        KeyName::from(REQUEST_COUNT),
        None,
        SharedString::from("The total number of requests."),
    );
    recorder.describe_histogram(
        KeyName::from(REQUEST_LATENCY),
        None,
        SharedString::from(
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
        ),
    );
}

/// One model version's TF Serving-named handles.
pub(super) struct TfsVersionMetrics {
    recorder: Arc<PrometheusRecorder>,
    model: String,
    ok: Counter,
    /// Per [`Interface::index`].
    latency: [Histogram; 2],
}

impl TfsVersionMetrics {
    pub(super) fn new(recorder: Arc<PrometheusRecorder>, model: &str) -> Self {
        let ok = recorder.register_counter(&count_key(model, "OK"), &super::metrics::METADATA);
        let latency = [Interface::Grpc, Interface::Rest].map(|interface| {
            let labels = vec![
                Label::new("model_name", model.to_string()),
                Label::new("API", PREDICT),
                Label::new("entrypoint", entrypoint(interface)),
            ];
            recorder.register_histogram(
                &Key::from_parts(REQUEST_LATENCY, labels),
                &super::metrics::METADATA,
            )
        });
        TfsVersionMetrics {
            recorder,
            model: model.to_string(),
            ok,
            latency,
        }
    }

    /// One TF Serving API request ended with `status` (`None`: success).
    pub(super) fn finished(
        &self,
        interface: Interface,
        status: Option<&'static str>,
        spent: Duration,
    ) {
        match status {
            None => self.ok.increment(1),
            Some(code) => self
                .recorder
                .register_counter(&count_key(&self.model, code), &super::metrics::METADATA)
                .increment(1),
        }
        self.latency[interface.index()].record(spent.as_secs_f64() * 1e6);
    }
}

fn count_key(model: &str, status: &'static str) -> Key {
    Key::from_parts(
        REQUEST_COUNT,
        vec![
            Label::new("model_name", model.to_string()),
            Label::new("status", status),
        ],
    )
}

fn entrypoint(interface: Interface) -> &'static str {
    match interface {
        Interface::Grpc => "GRPC",
        Interface::Rest => "REST",
    }
}
