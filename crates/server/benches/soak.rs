//! Load/unload soak: applies a config with and without one model a few
//! hundred times through `POST /v1/config/reload` (one inference per load)
//! and reports the server's resident memory before and after.
//!
//! Run: `cargo bench -p inferd-server --bench soak [-- CYCLES [BACKEND [MODE [MODEL_DIR]]]]`
//! (default 300 cycles, backend `tract`; `openvino` and `onnxruntime` need
//! `scripts/install-runtimes.sh`). MODE splits where growth comes from:
//! `full` (default: unload, load, one inference), `reload` (unload and load
//! only) or `infer` (inferences only, the model stays loaded). MODEL_DIR is
//! a model base path (default `models/add`); its inputs are filled with
//! zeros from the model's metadata, e.g. `target/bench-models/resnet50` from
//! `scripts/gen_resnet50.py` shows whether a big model's memory is given
//! back after unloading. Bounded by CYCLES and by the server's own request
//! timeouts.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

const WARM_UP_CYCLES: usize = 20;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Resident memory of process `pid` (Linux), in KiB.
#[derive(Clone, Copy)]
struct Rss {
    /// All of it.
    total: u64,
    /// Anonymous pages: heap, stacks, allocator arenas.
    anon: u64,
    /// File-backed pages: the binary's and libraries' code and data.
    file: u64,
}

impl Rss {
    fn of(pid: u32) -> Rss {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Rss {
            total: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} KiB (anon {}, file {})",
            self.total, self.anon, self.file
        )
    }
}

/// What one soak cycle does.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Full,
    Reload,
    Infer,
}

impl Mode {
    fn parse(text: &str) -> Mode {
        match text {
            "full" => Mode::Full,
            "reload" => Mode::Reload,
            "infer" => Mode::Infer,
            other => panic!("unknown mode {other:?}: use full, reload or infer"),
        }
    }
}

/// One server, one model, cycled through config reloads.
struct Soak {
    server: Server,
    client: reqwest::Client,
    config: PathBuf,
    backend: String,
    model_dir: PathBuf,
    mode: Mode,
    request: Value,
}

impl Soak {
    fn write_config(&self, with_model: bool) {
        let models = if with_model {
            json!([{"config": {"name": "soak", "base_path": self.model_dir, "backend": self.backend}}])
        } else {
            json!([])
        };
        let text = json!({"model_config_list": models}).to_string();
        std::fs::write(&self.config, text).expect("write config");
    }

    async fn apply(&self, with_model: bool) {
        self.write_config(with_model);
        let status = self
            .client
            .post(self.server.url("/v1/config/reload"))
            .send()
            .await
            .expect("reload")
            .status();
        assert!(status.is_success(), "reload answered {status}");
    }

    /// A KServe request with zeros in every input, shaped from the metadata
    /// (dynamic dimensions as 1).
    async fn zero_request(&self) -> Value {
        let answer = self
            .client
            .get(self.server.url("/v2/models/soak"))
            .send()
            .await
            .expect("metadata");
        let status = answer.status();
        let metadata: Value = answer.json().await.expect("metadata JSON");
        assert!(status.is_success(), "model did not load: {metadata}");
        let inputs = metadata["inputs"].as_array().expect("inputs");
        let inputs: Vec<Value> = inputs
            .iter()
            .map(|input| {
                let shape: Vec<i64> = input["shape"]
                    .as_array()
                    .expect("shape")
                    .iter()
                    .map(|d| d.as_i64().unwrap_or(1).max(1))
                    .collect();
                let count = shape.iter().product::<i64>() as usize;
                let datatype = input["datatype"].as_str().expect("datatype");
                let data = if datatype == "BOOL" {
                    json!(vec![false; count])
                } else {
                    json!(vec![0; count])
                };
                json!({"name": input["name"], "shape": shape, "datatype": datatype, "data": data})
            })
            .collect();
        json!({ "inputs": inputs })
    }

    async fn infer(&self) {
        let status = self
            .client
            .post(self.server.url("/v2/models/soak/infer"))
            .json(&self.request)
            .send()
            .await
            .expect("infer")
            .status();
        assert!(status.is_success(), "infer answered {status}");
    }

    async fn cycle(&self) {
        if self.mode != Mode::Infer {
            self.apply(false).await;
            self.apply(true).await;
        }
        if self.mode != Mode::Reload {
            self.infer().await;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let cycles: usize = args.first().and_then(|c| c.parse().ok()).unwrap_or(300);
    let backend = args.get(1).cloned().unwrap_or_else(|| "tract".to_string());
    let mode_name = args.get(2).map_or("full", String::as_str);
    // Relative to the repository root (cargo runs benches in the crate's folder).
    let model_dir = repo().join(args.get(3).map_or("models/add", String::as_str));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"model_config_list": []}"#).expect("write config");
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
    let mut soak = Soak {
        server,
        client,
        config,
        backend,
        model_dir,
        mode: Mode::parse(mode_name),
        request: Value::Null,
    };
    let at_start = Rss::of(soak.server.pid());
    soak.apply(true).await;
    soak.request = soak.zero_request().await;
    let warm_up = WARM_UP_CYCLES.min(cycles);
    for _ in 0..warm_up {
        soak.cycle().await;
    }
    let warm = Rss::of(soak.server.pid());
    let started = Instant::now();
    for _ in 0..cycles {
        soak.cycle().await;
    }
    let elapsed = started.elapsed();
    let end = Rss::of(soak.server.pid());
    soak.apply(false).await;
    // The release runs on a blocking thread after the reload answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unloaded = Rss::of(soak.server.pid());
    println!(
        "backend {}, mode {mode_name}, model {}: {cycles} cycles in {:.1} s ({:.1} ms each)",
        soak.backend,
        soak.model_dir.display(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / cycles as f64
    );
    println!("RSS at start (no model): {at_start}");
    println!("RSS after {warm_up} warm-up cycles: {warm}");
    println!("RSS after {cycles} more cycles: {end}");
    println!("RSS after the last unload: {unloaded}");
    println!(
        "growth after warm-up: {} KiB total (anon {}, file {}), {:.2} KiB per cycle",
        end.total as i64 - warm.total as i64,
        end.anon as i64 - warm.anon as i64,
        end.file as i64 - warm.file as i64,
        (end.total as f64 - warm.total as f64) / cycles as f64
    );
}
