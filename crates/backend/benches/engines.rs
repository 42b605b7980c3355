//! Raw in-process throughput of every available engine on a ResNet-50-sized
//! ONNX model, at batch 1 and 8, side by side (ratios against tract, measured
//! in the same run).
//!
//! Generate the model first (random weights, never committed):
//!   .venv/bin/python scripts/gen_resnet50.py
//! then: scripts/install-runtimes.sh && cargo bench -p inferd-backend --bench engines
//! Each cell runs at most `SECONDS` seconds and `MAX_RUNS` inferences.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use inferd_backend::{Backends, ModelFiles, ModelOptions, RuntimeSearch};
use inferd_tensor::{DataType, Tensor, TensorData};

const SECONDS: f64 = 8.0;
const MAX_RUNS: usize = 200;
const BATCHES: [usize; 2] = [1, 8];

fn main() {
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let dir = std::env::var_os("INFERD_BENCH_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/bench-models/resnet50/1"));
    let file = dir.join("model.onnx");
    if !file.is_file() {
        eprintln!(
            "{} is missing: run `.venv/bin/python scripts/gen_resnet50.py` first",
            file.display()
        );
        std::process::exit(1);
    }
    let files = ModelFiles {
        dir: dir.clone(),
        files: vec![file],
    };
    let search = RuntimeSearch {
        runtimes_dirs: vec![repo.join("runtimes")],
        ..Default::default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ResNet-50-sized ONNX (random weights), one caller, {cores} cores, up to {SECONDS} s per cell"
    );
    println!(
        "{:<12} {:>5} {:>10} {:>12} {:>10}",
        "engine", "batch", "ms/batch", "images/s", "÷ tract"
    );
    let mut rows = Vec::new();
    for engine in Backends::discover(&search).all() {
        if !engine.is_available() {
            println!("{:<12} not available: {}", engine.name(), engine.describe());
            continue;
        }
        let started = Instant::now();
        let model = match engine.load(&files, &ModelOptions::default()) {
            Ok(model) => model,
            Err(e) => {
                println!("{:<12} cannot load: {e}", engine.name());
                continue;
            }
        };
        let load_ms = started.elapsed().as_millis();
        for batch in BATCHES {
            let count = batch * 3 * 224 * 224;
            let bytes: Vec<u8> = (0..count)
                .flat_map(|i| ((i % 255) as f32 / 255.0).to_le_bytes())
                .collect();
            let input = Tensor::new(
                DataType::F32,
                vec![batch, 3, 224, 224],
                TensorData::Raw(Bytes::from(bytes)),
            )
            .expect("input");
            model.execute(vec![input.clone()]).expect("warm-up");
            let start = Instant::now();
            let mut runs = 0;
            while runs < 2
                || (start.elapsed() < Duration::from_secs_f64(SECONDS) && runs < MAX_RUNS)
            {
                model.execute(vec![input.clone()]).expect("execute");
                runs += 1;
            }
            let per_batch = start.elapsed().as_secs_f64() / runs as f64;
            rows.push((engine.name(), batch, per_batch, load_ms));
        }
    }
    for &(name, batch, per_batch, load_ms) in &rows {
        let tract = rows
            .iter()
            .find(|r| r.0 == "tract" && r.1 == batch)
            .map(|r| r.2);
        let ratio = tract.map_or("-".to_string(), |t| format!("{:.2}", t / per_batch));
        println!(
            "{name:<12} {batch:>5} {:>10.1} {:>12.1} {ratio:>10}   (load {load_ms} ms)",
            per_batch * 1000.0,
            batch as f64 / per_batch
        );
    }
}
