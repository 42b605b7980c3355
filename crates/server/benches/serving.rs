//! Serving-overhead benchmark for the `add` model: the raw tract engine in
//! process versus inferd over gRPC, REST JSON and REST binary, at 1 and 8
//! concurrent clients. Prints requests/s, p50/p99 latency and the ratio of
//! each to the raw engine measured in the same run.
//!
//! Run: `cargo bench -p inferd-server --bench serving` (release profile).
//! Every load loop is bounded by `SECONDS` per cell and `MAX_REQUESTS`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use inferd_backend::tract::TractBackend;
use inferd_backend::{Backend, ModelFiles, ModelOptions};
use inferd_server::proto::kserve::ModelInferRequest;
use inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_tensor::{DataType, Tensor, TensorData};

mod support;

use support::Server;

const SECONDS: f64 = 3.0;
const MAX_REQUESTS: usize = 2_000_000;
const CONCURRENCY: [usize; 2] = [1, 8];

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> u64 {
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(i).copied().unwrap_or(0)
    }
}

fn merge(parts: Vec<(usize, Vec<u64>)>, elapsed: Duration) -> Stats {
    let requests = parts.iter().map(|p| p.0).sum();
    let latencies_us = parts.into_iter().flat_map(|p| p.1).collect();
    Stats {
        requests,
        elapsed,
        latencies_us,
    }
}

fn add_inputs() -> (Vec<f32>, Vec<f32>) {
    (
        (0..16).map(|i| i as f32).collect(),
        (0..16).map(|i| (i * 2) as f32).collect(),
    )
}

fn le_bytes(values: &[f32]) -> Bytes {
    Bytes::from(
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// The engine alone: `execute` on `clients` threads.
fn raw_engine(clients: usize) -> Stats {
    let dir = repo().join("models/add/1");
    let files = ModelFiles {
        dir: dir.clone(),
        files: vec![dir.join("model.onnx")],
    };
    let model = TractBackend::new()
        .load(&files, &ModelOptions::default())
        .expect("load add");
    let (a, b) = add_inputs();
    let inputs = vec![
        Tensor::new(DataType::F32, vec![1, 16], TensorData::Raw(le_bytes(&a))).expect("tensor"),
        Tensor::new(DataType::F32, vec![1, 16], TensorData::Raw(le_bytes(&b))).expect("tensor"),
    ];
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(SECONDS);
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (model, inputs) = (model.clone(), inputs.clone());
                s.spawn(move || {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline && lat.len() < MAX_REQUESTS / clients {
                        let t = Instant::now();
                        model.execute(inputs.clone()).expect("execute");
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    (lat.len(), lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    merge(parts, start.elapsed())
}

async fn start_server() -> Server {
    let model = repo().join("models/add");
    let model = model.to_string_lossy();
    Server::start(&[
        "--model_name",
        "add",
        "--backend",
        "tract",
        "--model_path",
        &model,
    ])
    .await
}

/// Runs `clients` closed-loop tasks calling `call` until the time or count bound.
async fn closed_loop<F, Fut>(clients: usize, call: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(SECONDS);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline && lat.len() < MAX_REQUESTS / clients {
                    let t = Instant::now();
                    call().await;
                    lat.push(t.elapsed().as_micros() as u64);
                }
                (lat.len(), lat)
            })
        })
        .collect();
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.expect("client task"));
    }
    merge(parts, start.elapsed())
}

async fn grpc_run(server: &Server, clients: usize) -> Stats {
    let channel =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", server.grpc))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
    let (a, b) = add_inputs();
    let input = |name: &str| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        parameters: Default::default(),
        contents: None,
    };
    let request = ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![input("a"), input("b")],
        raw_input_contents: vec![le_bytes(&a), le_bytes(&b)],
        ..Default::default()
    };
    closed_loop(clients, move || {
        let mut client = GrpcInferenceServiceClient::new(channel.clone());
        let request = request.clone();
        async move {
            let response = client.model_infer(request).await.expect("grpc infer");
            assert_eq!(response.get_ref().raw_output_contents.len(), 2);
        }
    })
    .await
}

async fn rest_run(server: &Server, clients: usize, binary: bool) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{}/v2/models/add/infer", server.rest);
    let (a, b) = add_inputs();
    let (body, header): (Bytes, Option<usize>) = if binary {
        let json = serde_json::json!({
            "inputs": [
                {"name": "a", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}},
                {"name": "b", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}}],
            "parameters": {"binary_data_output": true}
        })
        .to_string();
        let mut body = json.clone().into_bytes();
        body.extend_from_slice(&le_bytes(&a));
        body.extend_from_slice(&le_bytes(&b));
        (Bytes::from(body), Some(json.len()))
    } else {
        let json = serde_json::json!({"inputs": [
            {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
            {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": b}]});
        (Bytes::from(json.to_string()), None)
    };
    closed_loop(clients, move || {
        let mut request = client.post(&url).body(body.clone());
        if let Some(length) = header {
            request = request.header("Inference-Header-Content-Length", length);
        }
        async move {
            let response = request.send().await.expect("rest infer");
            assert!(response.status().is_success());
            response.bytes().await.expect("body");
        }
    })
    .await
}

fn row(path: &str, clients: usize, stats: &mut Stats, baseline: f64) {
    let (p50, p99) = (stats.percentile(0.50), stats.percentile(0.99));
    println!(
        "{path:<14} {clients:>3} {:>12.0} {p50:>9} {p99:>9} {:>10.3}",
        stats.rps(),
        stats.rps() / baseline
    );
}

#[tokio::main]
async fn main() {
    let server = start_server().await;
    println!(
        "add model, {SECONDS} s per cell, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<14} {:>3} {:>12} {:>9} {:>9} {:>10}",
        "path", "c", "requests/s", "p50 us", "p99 us", "÷ raw"
    );
    for clients in CONCURRENCY {
        let mut raw = tokio::task::spawn_blocking(move || raw_engine(clients))
            .await
            .expect("raw");
        let baseline = raw.rps();
        row("raw engine", clients, &mut raw, baseline);
        row(
            "gRPC",
            clients,
            &mut grpc_run(&server, clients).await,
            baseline,
        );
        row(
            "REST JSON",
            clients,
            &mut rest_run(&server, clients, false).await,
            baseline,
        );
        row(
            "REST binary",
            clients,
            &mut rest_run(&server, clients, true).await,
            baseline,
        );
    }
}
