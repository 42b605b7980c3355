//! What statistics and Prometheus metrics cost per request, without the
//! network in the way: the fake engine (no work) through `Servable::infer`
//! and a `RequestTracker`, with metrics off and with every metric on,
//! alternated over several rounds so that machine drift hits both alike;
//! then the tracking alone, in nanoseconds per request.
//!
//! `cargo bench -p inferd-core --bench telemetry [-- REQUESTS [ROUNDS]]`
//! (default 50 000 requests per round and setting, 3 rounds; bounded by them).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use inferd_backend::fake::FakeBackend;
use inferd_backend::{Backend, ModelFiles, ModelOptions};
use inferd_core::telemetry::{Api, Interface, METRIC_NAMES, Metrics, Telemetry};
use inferd_core::{ContentEncoding, InferInput, InferRequest, SchedulerOptions, Servable};
use inferd_tensor::{DataType, TensorData};

fn servable(telemetry: &Telemetry) -> Arc<Servable> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("model.fake");
    std::fs::write(&file, "offset=1\n").expect("model file");
    let files = ModelFiles {
        dir: dir.path().to_path_buf(),
        files: vec![file],
    };
    let model = FakeBackend::default()
        .load(&files, &ModelOptions::default())
        .expect("fake model");
    Arc::new(Servable::direct(
        "m",
        1,
        "fake",
        model,
        SchedulerOptions::with_nireq(None),
        telemetry.for_version("m", 1),
    ))
}

fn request() -> InferRequest {
    let bytes: Vec<u8> = [1.0f32; 16].iter().flat_map(|v| v.to_le_bytes()).collect();
    InferRequest {
        inputs: vec![InferInput {
            name: "x".into(),
            dtype: DataType::F32,
            shape: vec![16],
            data: TensorData::Raw(Bytes::from(bytes)),
            encoding: ContentEncoding::Raw,
            parameters: Default::default(),
        }],
        outputs: vec![],
        ..Default::default()
    }
}

/// Requests per second of `requests` calls, one at a time.
async fn rate(servable: &Arc<Servable>, requests: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..requests {
        let tracker = servable.track(Api::KServe, Interface::Grpc);
        servable.infer(request()).await.expect("infer");
        tracker.succeeded();
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

/// Nanoseconds per tracked request with nothing else done: the frontend's
/// share of the bookkeeping (counters, request-time histogram, gauge, stats).
fn tracking_ns(servable: &Servable, requests: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..requests {
        servable.track(Api::KServe, Interface::Grpc).succeeded();
    }
    started.elapsed().as_nanos() as f64 / requests as f64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let requests: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let all: Vec<String> = METRIC_NAMES.iter().map(|n| n.to_string()).collect();
    let on = Telemetry::with_metrics(Metrics::new(Some(&all)).expect("metrics"));
    let off = Telemetry::disabled();
    let (with, without) = (servable(&on), servable(&off));
    rate(&with, requests / 10).await;
    rate(&without, requests / 10).await;
    let (mut sum_on, mut sum_off) = (0.0, 0.0);
    for round in 1..=rounds {
        let a = rate(&without, requests).await;
        let b = rate(&with, requests).await;
        println!(
            "round {round}: metrics off {a:.0} req/s, on {b:.0} req/s, on/off {:.3}",
            b / a
        );
        sum_off += a;
        sum_on += b;
        if let Some(m) = on.metrics() {
            m.run_upkeep();
        }
    }
    let (off_ns, on_ns) = (
        tracking_ns(&without, requests * 10),
        tracking_ns(&with, requests * 10),
    );
    println!(
        "tracking alone: {off_ns:.0} ns per request with metrics off, {on_ns:.0} ns with every metric on"
    );
    let (off_rate, on_rate) = (sum_off / rounds as f64, sum_on / rounds as f64);
    println!(
        "mean: off {off_rate:.0} req/s ({:.2} us each), on {on_rate:.0} req/s ({:.2} us each); metrics add {:.2} us per request",
        1e6 / off_rate,
        1e6 / on_rate,
        1e6 / on_rate - 1e6 / off_rate
    );
}
