//! Load/unload soak: applies a config with and without one model a few
//! hundred times through `POST /v1/config/reload` (one inference per load)
//! and reports the server's resident memory before and after.
//!
//! Run: `cargo bench -p inferd-server --bench soak [-- CYCLES [BACKEND]]`
//! (default 300 cycles, backend `tract`; `openvino` and `onnxruntime` need
//! `scripts/install-runtimes.sh`). Bounded by CYCLES and by the server's own
//! request timeouts.

mod support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use support::Server;

const WARM_UP_CYCLES: usize = 20;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Resident set size of process `pid`, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn write_config(path: &Path, with_model: bool, backend: &str) {
    let models = if with_model {
        json!([{"config": {"name": "add", "base_path": repo().join("models/add"), "backend": backend}}])
    } else {
        json!([])
    };
    std::fs::write(path, json!({"model_config_list": models}).to_string()).expect("write config");
}

async fn cycle(client: &reqwest::Client, server: &Server, config: &Path, backend: &str) {
    let reload = || async {
        let status = client
            .post(server.url("/v1/config/reload"))
            .send()
            .await
            .expect("reload")
            .status();
        assert!(status.is_success(), "reload answered {status}");
    };
    write_config(config, false, backend);
    reload().await;
    write_config(config, true, backend);
    reload().await;
    let body = json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": vec![1.0f32; 16]},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": vec![2.0f32; 16]}]});
    let status = client
        .post(server.url("/v2/models/add/infer"))
        .json(&body)
        .send()
        .await
        .expect("infer")
        .status();
    assert!(status.is_success(), "infer answered {status}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let cycles: usize = args.first().and_then(|c| c.parse().ok()).unwrap_or(300);
    let backend = args.get(1).cloned().unwrap_or_else(|| "tract".to_string());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.json");
    write_config(&config, true, &backend);
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(&[
        "--config_path",
        &config_arg,
        "--file_system_poll_wait_seconds",
        "0",
    ])
    .await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let at_start = rss_kib(server.pid());
    for _ in 0..WARM_UP_CYCLES {
        cycle(&client, &server, &config, &backend).await;
    }
    let warm = rss_kib(server.pid());
    let started = Instant::now();
    for _ in 0..cycles {
        cycle(&client, &server, &config, &backend).await;
    }
    let elapsed = started.elapsed();
    let end = rss_kib(server.pid());
    println!(
        "backend {backend}: {cycles} unload+load cycles in {:.1} s ({:.1} ms each)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / cycles as f64
    );
    println!(
        "RSS: {at_start} KiB at start, {warm} KiB after {WARM_UP_CYCLES} warm-up cycles, {end} KiB after {cycles} more"
    );
    println!(
        "growth after warm-up: {} KiB total, {:.2} KiB per cycle",
        end as i64 - warm as i64,
        (end as f64 - warm as f64) / cycles as f64
    );
}
