//! Triton's metric names, reported beside OVMS's for a Triton deployment
//! (`--model-repository`), per model version (labels `model`, `version`):
//! `nv_inference_request_success`, `nv_inference_request_failure` (with
//! `reason`: `REJECTED` for refusals to queue, `BACKEND` for engine errors,
//! `OTHER` otherwise), `nv_inference_count` (rows inferred: batch sizes
//! added up), `nv_inference_exec_count` (engine executions), and the
//! cumulative microsecond counters `nv_inference_request_duration_us`
//! (successful requests, end to end), `nv_inference_queue_duration_us`,
//! `nv_inference_compute_input_duration_us`,
//! `nv_inference_compute_infer_duration_us` and
//! `nv_inference_compute_output_duration_us`.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Key, KeyName, Label, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::metrics::METADATA;

const SUCCESS: &str = "nv_inference_request_success";
const FAILURE: &str = "nv_inference_request_failure";
const COUNT: &str = "nv_inference_count";
const EXEC_COUNT: &str = "nv_inference_exec_count";
const REQUEST_DURATION: &str = "nv_inference_request_duration_us";
const QUEUE_DURATION: &str = "nv_inference_queue_duration_us";
const INPUT_DURATION: &str = "nv_inference_compute_input_duration_us";
const INFER_DURATION: &str = "nv_inference_compute_infer_duration_us";
const OUTPUT_DURATION: &str = "nv_inference_compute_output_duration_us";

const HELP: [(&str, &str); 9] = [
    (
        SUCCESS,
        "Number of successful inference requests, all batch sizes",
    ),
    (
        FAILURE,
        "Number of failed inference requests, all batch sizes",
    ),
    (
        COUNT,
        "Number of inferences performed (does not include cached requests)",
    ),
    (
        EXEC_COUNT,
        "Number of model executions performed (does not include cached requests)",
    ),
    (
        REQUEST_DURATION,
        "Cumulative inference request duration in microseconds",
    ),
    (
        QUEUE_DURATION,
        "Cumulative inference queuing duration in microseconds",
    ),
    (
        INPUT_DURATION,
        "Cumulative compute input duration in microseconds",
    ),
    (
        INFER_DURATION,
        "Cumulative compute inference duration in microseconds",
    ),
    (
        OUTPUT_DURATION,
        "Cumulative inference compute output duration in microseconds",
    ),
];

/// Describes the names (their HELP lines).
pub(super) fn describe(recorder: &PrometheusRecorder) {
    for (name, help) in HELP {
        recorder.describe_counter(KeyName::from(name), None, SharedString::from(help));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Triton's failure reason for a canonical code.
fn reason(code: &str) -> &'static str {
    match code {
        "RESOURCE_EXHAUSTED" | "UNAVAILABLE" => "REJECTED",
        "INTERNAL" => "BACKEND",
        _ => "OTHER",
    }
}

/// One model version's Triton-named counters.
pub(super) struct TritonVersionMetrics {
    recorder: Arc<PrometheusRecorder>,
    labels: Vec<Label>,
    success: Counter,
    count: Counter,
    exec_count: Counter,
    request_duration: Counter,
    queue_duration: Counter,
    input_duration: Counter,
    infer_duration: Counter,
    output_duration: Counter,
}

impl TritonVersionMetrics {
    pub(super) fn new(recorder: Arc<PrometheusRecorder>, model: &str, version: u64) -> Self {
        let labels = vec![
            Label::new("model", model.to_string()),
            Label::new("version", version.to_string()),
        ];
        let counter = |name: &'static str| {
            recorder.register_counter(&Key::from_parts(name, labels.clone()), &METADATA)
        };
        TritonVersionMetrics {
            success: counter(SUCCESS),
            count: counter(COUNT),
            exec_count: counter(EXEC_COUNT),
            request_duration: counter(REQUEST_DURATION),
            queue_duration: counter(QUEUE_DURATION),
            input_duration: counter(INPUT_DURATION),
            infer_duration: counter(INFER_DURATION),
            output_duration: counter(OUTPUT_DURATION),
            labels,
            recorder,
        }
    }

    /// An inference request ended (`failure`: its canonical code).
    pub(super) fn finished(&self, failure: Option<&'static str>, spent: Duration) {
        match failure {
            None => {
                self.success.increment(1);
                self.request_duration.increment(micros(spent));
            }
            Some(code) => {
                let mut labels = self.labels.clone();
                labels.push(Label::new("reason", reason(code)));
                self.recorder
                    .register_counter(&Key::from_parts(FAILURE, labels), &METADATA)
                    .increment(1);
            }
        }
    }

    /// A request waited `wait` and ran `infer` in the engine.
    pub(super) fn request_ran(&self, wait: Duration, infer: Duration) {
        self.queue_duration.increment(micros(wait));
        self.infer_duration.increment(micros(infer));
    }

    /// One engine execution of `rows` rows.
    pub(super) fn batch_ran(&self, rows: usize, input: Duration, output: Duration) {
        self.exec_count.increment(1);
        self.count.increment(rows as u64);
        self.input_duration.increment(micros(input));
        self.output_duration.increment(micros(output));
    }
}
