//! Prometheus metrics with OVMS's names and labels, kept by
//! `metrics-exporter-prometheus` (a local recorder, not the global one) and
//! rendered in the Prometheus text format.

use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::tfs_metrics::TfsVersionMetrics;
use super::triton_metrics::TritonVersionMetrics;
use super::{Api, Interface, Method};

/// Every metric the server can report, by OVMS name.
pub const METRIC_NAMES: [&str; 12] = [
    STREAMS,
    CURRENT_REQUESTS,
    REQUESTS_SUCCESS,
    REQUESTS_FAIL,
    REQUEST_TIME,
    INFERENCE_TIME,
    WAIT_TIME,
    QUEUE_SIZE,
    ACTIVE,
    REFUSED,
    BATCH_SIZE,
    SEQUENCES,
];

const STREAMS: &str = "ovms_streams";
const CURRENT_REQUESTS: &str = "ovms_current_requests";
const REQUESTS_SUCCESS: &str = "ovms_requests_success";
const REQUESTS_FAIL: &str = "ovms_requests_fail";
const REQUEST_TIME: &str = "ovms_request_time_us";
const INFERENCE_TIME: &str = "ovms_inference_time_us";
const WAIT_TIME: &str = "ovms_wait_for_infer_req_time_us";
const QUEUE_SIZE: &str = "ovms_infer_req_queue_size";
const ACTIVE: &str = "ovms_infer_req_active";
const REFUSED: &str = "inferd_requests_refused";
const BATCH_SIZE: &str = "inferd_batch_size";
const SEQUENCES: &str = "inferd_sequences";

/// Reported when `--metrics_enable` is given without `--metrics_list` (OVMS's default set).
const DEFAULT_METRICS: [&str; 10] = [
    STREAMS,
    CURRENT_REQUESTS,
    REQUESTS_SUCCESS,
    REQUESTS_FAIL,
    REQUEST_TIME,
    INFERENCE_TIME,
    WAIT_TIME,
    REFUSED,
    BATCH_SIZE,
    SEQUENCES,
];

const HELP: [(&str, &str); 12] = [
    (
        STREAMS,
        "Execution slots (infer requests) of the model version.",
    ),
    (SEQUENCES, "Live sequences of a stateful model version."),
    (
        CURRENT_REQUESTS,
        "Requests the model version is processing now.",
    ),
    (
        REQUESTS_SUCCESS,
        "Requests to the model answered successfully.",
    ),
    (REQUESTS_FAIL, "Requests to the model that failed."),
    (
        REQUEST_TIME,
        "Time a request spent in the server, in microseconds.",
    ),
    (
        INFERENCE_TIME,
        "Time the engine spent on one inference, in microseconds.",
    ),
    (
        WAIT_TIME,
        "Time a request waited for a free execution slot, in microseconds.",
    ),
    (
        QUEUE_SIZE,
        "Execution slots (infer requests) the model version can use at once.",
    ),
    (ACTIVE, "Execution slots in use now."),
    (
        REFUSED,
        "Requests refused for missing or wrong credentials, or a disabled endpoint.",
    ),
    (
        BATCH_SIZE,
        "Rows in each engine execution (requests joined by dynamic batching).",
    ),
];

/// Bucket bounds of the batch-size histogram: powers of two.
fn batch_buckets() -> Vec<f64> {
    (0..11).map(|i| f64::from(1u32 << i)).collect()
}

/// Histogram bucket bounds in microseconds: 10 µs growing by 1.8 per bucket
/// up to about 30 minutes, as OVMS's.
fn buckets() -> Vec<f64> {
    (0..33).map(|i| (10.0 * 1.8f64.powi(i)).round()).collect()
}

/// A metric list that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A name in `metrics_list` is not one this server reports.
    #[error("unknown metric name in metrics_list: {name}; known names: {known}")]
    Unknown {
        /// The name given.
        name: String,
        /// The names accepted.
        known: String,
    },
}

/// The server's Prometheus metrics.
pub struct Metrics {
    recorder: std::sync::Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    enabled: Vec<&'static str>,
    /// TF Serving's names too (`--monitoring_config_file`).
    tensorflow_names: bool,
    /// Triton's names too (a Triton deployment).
    triton_names: bool,
}

impl Metrics {
    /// Metrics for the names in `list`, or OVMS's default set when `None`.
    pub fn new(list: Option<&[String]>) -> Result<Self, MetricsError> {
        let enabled = match list {
            None => DEFAULT_METRICS.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    METRIC_NAMES
                        .iter()
                        .copied()
                        .find(|known| known == name)
                        .ok_or_else(|| MetricsError::Unknown {
                            name: name.clone(),
                            known: METRIC_NAMES.join(", "),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets())
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(BATCH_SIZE.into()),
                    &batch_buckets(),
                )
            })
            .expect("non-empty bucket lists")
            .build_recorder();
        for (name, help) in HELP.iter().filter(|(n, _)| enabled.contains(n)) {
            let (key, help) = (KeyName::from(*name), SharedString::from(*help));
            if [REQUESTS_SUCCESS, REQUESTS_FAIL, REFUSED].contains(name) {
                recorder.describe_counter(key, None, help);
            } else if [REQUEST_TIME, INFERENCE_TIME, WAIT_TIME, BATCH_SIZE].contains(name) {
                recorder.describe_histogram(key, None, help);
            } else {
                recorder.describe_gauge(key, None, help);
            }
        }
        let handle = recorder.handle();
        Ok(Metrics {
            recorder: std::sync::Arc::new(recorder),
            handle,
            enabled,
            tensorflow_names: false,
            triton_names: false,
        })
    }

    /// Reports Triton's `nv_*` names beside OVMS's.
    pub fn with_triton_names(mut self) -> Self {
        super::triton_metrics::describe(&self.recorder);
        self.triton_names = true;
        self
    }

    /// Reports TF Serving's names beside OVMS's, for requests through its API.
    pub fn with_tensorflow_names(mut self) -> Self {
        super::tfs_metrics::describe(&self.recorder);
        self.tensorflow_names = true;
        self
    }

    /// The names being reported.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds recorded histogram samples into their buckets; call every few
    /// seconds so that memory stays bounded when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Counts a request refused before it reached a handler, by transport
    /// (`interface`: REST or gRPC) and `reason`.
    pub fn refused(&self, interface: Interface, reason: &'static str) {
        let labels = vec![
            Label::new("interface", interface.label()),
            Label::new("reason", reason),
        ];
        if let Some(counter) = self.counter(REFUSED, labels) {
            counter.increment(1);
        }
    }

    fn on(&self, name: &str) -> bool {
        self.enabled.contains(&name)
    }

    fn key(name: &'static str, labels: Vec<Label>) -> Key {
        Key::from_parts(name, labels)
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Option<Counter> {
        self.on(name).then(|| {
            self.recorder
                .register_counter(&Self::key(name, labels), &METADATA)
        })
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Option<Gauge> {
        self.on(name).then(|| {
            self.recorder
                .register_gauge(&Self::key(name, labels), &METADATA)
        })
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Option<Histogram> {
        self.on(name).then(|| {
            self.recorder
                .register_histogram(&Self::key(name, labels), &METADATA)
        })
    }

    fn request_labels(
        api: Api,
        interface: Interface,
        method: Method,
        name: &str,
        version: Option<u64>,
    ) -> Vec<Label> {
        let mut labels = vec![
            Label::new("api", api.label()),
            Label::new("interface", interface.label()),
            Label::new("method", method.label()),
            Label::new("name", name.to_string()),
        ];
        labels.extend(version.map(|v| Label::new("version", v.to_string())));
        labels
    }

    /// Handles for one model version, resolved once.
    pub(super) fn for_version(&self, name: &str, version: u64) -> VersionMetrics {
        let model = || {
            vec![
                Label::new("name", name.to_string()),
                Label::new("version", version.to_string()),
            ]
        };
        let outcome = |counter: &'static str| {
            [Api::KServe, Api::TensorFlowServing].map(|api| {
                [Interface::Grpc, Interface::Rest].map(|interface| {
                    let labels = Self::request_labels(
                        api,
                        interface,
                        api.infer_method(),
                        name,
                        Some(version),
                    );
                    self.counter(counter, labels)
                })
            })
        };
        let request_time = [Interface::Grpc, Interface::Rest].map(|interface| {
            let mut labels = vec![Label::new("interface", interface.label())];
            labels.extend(model());
            self.histogram(REQUEST_TIME, labels)
        });
        VersionMetrics {
            success: outcome(REQUESTS_SUCCESS),
            fail: outcome(REQUESTS_FAIL),
            request_time,
            inference_time: self.histogram(INFERENCE_TIME, model()),
            wait_time: self.histogram(WAIT_TIME, model()),
            batch_size: self.histogram(BATCH_SIZE, model()),
            current: self.gauge(CURRENT_REQUESTS, model()),
            streams: self.gauge(STREAMS, model()),
            queue_size: self.gauge(QUEUE_SIZE, model()),
            active: self.gauge(ACTIVE, model()),
            sequences: self.gauge(SEQUENCES, model()),
            tfs: self
                .tensorflow_names
                .then(|| TfsVersionMetrics::new(self.recorder.clone(), name)),
            triton: self
                .triton_names
                .then(|| TritonVersionMetrics::new(self.recorder.clone(), name, version)),
        }
    }

    pub(super) fn count(
        &self,
        api: Api,
        interface: Interface,
        method: Method,
        name: &str,
        version: Option<u64>,
        ok: bool,
    ) {
        let counter = if ok { REQUESTS_SUCCESS } else { REQUESTS_FAIL };
        let labels = Self::request_labels(api, interface, method, name, version);
        if let Some(c) = self.counter(counter, labels) {
            c.increment(1);
        }
    }
}

pub(super) static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// One version's metric handles; a disabled metric has none.
pub(super) struct VersionMetrics {
    /// Inference requests per [api][interface].
    success: [[Option<Counter>; 2]; 2],
    fail: [[Option<Counter>; 2]; 2],
    /// Per interface.
    request_time: [Option<Histogram>; 2],
    inference_time: Option<Histogram>,
    wait_time: Option<Histogram>,
    batch_size: Option<Histogram>,
    current: Option<Gauge>,
    streams: Option<Gauge>,
    queue_size: Option<Gauge>,
    active: Option<Gauge>,
    sequences: Option<Gauge>,
    tfs: Option<TfsVersionMetrics>,
    triton: Option<TritonVersionMetrics>,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

impl VersionMetrics {
    pub(super) fn set_slots(&self, slots: usize) {
        for gauge in [&self.streams, &self.queue_size].into_iter().flatten() {
            gauge.set(slots as f64);
        }
    }

    pub(super) fn set_sequences(&self, live: usize) {
        if let Some(g) = &self.sequences {
            g.set(live as f64);
        }
    }

    pub(super) fn started(&self) {
        if let Some(g) = &self.current {
            g.increment(1.0);
        }
    }

    /// A request ended; `failure` is its canonical code when it failed.
    pub(super) fn finished(
        &self,
        api: Api,
        interface: Interface,
        failure: Option<&'static str>,
        spent: Duration,
    ) {
        if let Some(g) = &self.current {
            g.decrement(1.0);
        }
        if let Some(tfs) = &self.tfs
            && api == Api::TensorFlowServing
        {
            tfs.finished(interface, failure, spent);
        }
        if let Some(triton) = &self.triton {
            triton.finished(failure, spent);
        }
        let outcome = if failure.is_none() {
            &self.success
        } else {
            &self.fail
        };
        if let Some(c) = &outcome[api.index()][interface.index()] {
            c.increment(1);
        }
        if let Some(h) = &self.request_time[interface.index()] {
            h.record(micros(spent));
        }
    }

    pub(super) fn executed(&self, wait: Duration, infer: Duration) {
        if let Some(triton) = &self.triton {
            triton.request_ran(wait, infer);
        }
        if let Some(h) = &self.wait_time {
            h.record(micros(wait));
        }
        if let Some(h) = &self.inference_time {
            h.record(micros(infer));
        }
    }

    pub(super) fn batch_ran(&self, rows: usize, input: Duration, output: Duration) {
        if let Some(triton) = &self.triton {
            triton.batch_ran(rows, input, output);
        }
        if let Some(h) = &self.batch_size {
            h.record(rows as f64);
        }
    }

    pub(super) fn slot_taken(&self, taken: bool) {
        if let Some(g) = &self.active {
            if taken {
                g.increment(1.0);
            } else {
                g.decrement(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_refused() {
        let err = Metrics::new(Some(&["ovms_streams".into(), "bogus".into()]))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn only_listed_metrics_are_rendered() {
        let metrics = Metrics::new(Some(&[REQUESTS_SUCCESS.into()])).unwrap();
        let version = metrics.for_version("m", 3);
        version.finished(Api::KServe, Interface::Rest, None, Duration::from_micros(5));
        version.executed(Duration::ZERO, Duration::from_micros(5));
        let text = metrics.render();
        assert!(
            text.contains(
                r#"ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="3"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains(INFERENCE_TIME), "{text}");
        assert!(!text.contains(REQUESTS_FAIL), "{text}");
    }

    #[test]
    fn histograms_have_ovms_buckets() {
        let metrics = Metrics::new(None).unwrap();
        let version = metrics.for_version("m", 1);
        version.executed(Duration::from_micros(15), Duration::from_micros(700));
        let text = metrics.render();
        assert!(
            text.contains(r#"ovms_inference_time_us_bucket{name="m",version="1",le="1102"} 1"#)
                || text.contains(
                    r#"ovms_inference_time_us_bucket{name="m",version="1",le="1102.0"} 1"#
                ),
            "{text}"
        );
        assert!(
            text.contains(r#"ovms_inference_time_us_count{name="m",version="1"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ovms_wait_for_infer_req_time_us histogram"),
            "{text}"
        );
    }
}
