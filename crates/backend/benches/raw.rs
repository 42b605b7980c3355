//! Raw in-process throughput of one engine on one model at several
//! concurrencies: the baseline the serving-overhead script
//! (scripts/overhead.sh) divides the server's throughput by.
//!
//! `cargo bench -p inferd-backend --bench raw -- MODEL_VERSION_DIR BACKEND [CONCURRENCIES [SECONDS]]`
//! e.g. `target/bench-models/resnet50/1 openvino 1,2,4,8 10`. Each level runs
//! CONCURRENCIES threads calling `execute` in a closed loop, as the server's
//! scheduler does (the engine gets the same default options as in the
//! server), on zero-filled inputs shaped from the model's signature (dynamic
//! dimensions as 1), after a warm-up at the same concurrency. Prints one JSON
//! object per level on standard output, with the process's CPU time per run
//! (Linux), to set beside the server's CPU time per request.
//! Bounded by SECONDS per level (default 10) and a million runs per thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inferd_backend::{Backends, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch, zero_inputs};
use inferd_tensor::Tensor;

const MAX_RUNS_PER_THREAD: usize = 1_000_000;
const WARM_UP_SECONDS: f64 = 2.0;
/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Runs `threads` closed loops for `seconds`; returns the runs, their sorted
/// latencies and the time they took.
fn measure(
    model: &Arc<dyn LoadedModel>,
    inputs: &[Tensor],
    threads: usize,
    seconds: f64,
) -> (usize, Vec<Duration>, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (model, inputs, stop) = (model.clone(), inputs.to_vec(), stop.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) && latencies.len() < MAX_RUNS_PER_THREAD {
                    let t = Instant::now();
                    model.execute(inputs.clone()).expect("execute");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let deadline = started + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline && !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let elapsed = started.elapsed();
    all.sort();
    (all.len(), all, elapsed)
}

/// CPU time (user + system) this process has used so far, in seconds; `None`
/// where /proc is not available.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let usage = "usage: raw MODEL_VERSION_DIR BACKEND [CONCURRENCIES [SECONDS]]";
    let (Some(dir), Some(backend)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let levels: Vec<usize> = args
        .get(2)
        .map_or("1,2,4,8", String::as_str)
        .split(',')
        .map(|c| c.trim().parse().expect("concurrency list like 1,2,4,8"))
        .collect();
    let seconds: f64 = args.get(3).map_or(10.0, |s| s.parse().expect("seconds"));
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let dir = repo.join(dir);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let search = RuntimeSearch {
        runtimes_dirs: vec![repo.join("runtimes")],
        ..Default::default()
    };
    let model = Backends::discover(&search)
        .load(
            &ModelFiles { dir, files },
            Some(backend),
            &ModelOptions::default(),
        )
        .unwrap_or_else(|e| panic!("cannot load with {backend}: {e}"))
        .model;
    let inputs = zero_inputs(model.signature()).expect("zero inputs fit the signature");
    for threads in levels {
        measure(&model, &inputs, threads, WARM_UP_SECONDS);
        let cpu_before = process_cpu_seconds();
        let (runs, latencies, elapsed) = measure(&model, &inputs, threads, seconds);
        let cpu_us_per_run = match (cpu_before, process_cpu_seconds()) {
            (Some(before), Some(after)) => format!("{:.1}", (after - before) * 1e6 / runs as f64),
            _ => "null".to_string(),
        };
        println!(
            "{{\"backend\":\"{backend}\",\"concurrency\":{threads},\"throughput\":{:.2},\"p50_us\":{:.1},\"p99_us\":{:.1},\"runs\":{runs},\"slots\":{},\"cpu_us_per_run\":{cpu_us_per_run}}}",
            runs as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            model.max_concurrency().unwrap_or(0)
        );
    }
}
