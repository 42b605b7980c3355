//! Decode (and decode + resize to a 224x224 FP32 NHWC input) speed on one
//! thread, for `scripts/image-bench.sh`: one JSON line per file and task.
//!
//! `cargo bench -p inferd-image --bench decode -- FILE...`

use std::time::{Duration, Instant};

use inferd_image::{Channels, ImageTarget, decode, decode_batch};
use inferd_tensor::{DataType, Dim};

/// Runs `work` repeatedly for about `budget`; images per second.
fn rate(budget: Duration, mut work: impl FnMut()) -> f64 {
    work();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget || count < 5 {
        work();
        count += 1;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    );
    let target = ImageTarget {
        height: Dim::Fixed(224),
        width: Dim::Fixed(224),
        channels: Channels::Bgr,
        dtype: DataType::F32,
    };
    for file in files {
        let bytes = std::fs::read(&file).expect("readable image");
        let decode_only = rate(budget, || {
            std::hint::black_box(decode(&bytes, Channels::Bgr).expect("decodes"));
        });
        let images = [bytes.as_slice()];
        let to_input = rate(budget, || {
            std::hint::black_box(decode_batch(&images, &target, 1).expect("decodes"));
        });
        println!(
            "{{\"file\": \"{file}\", \"decode_per_s\": {decode_only:.1}, \"to_input_per_s\": {to_input:.1}}}"
        );
    }
}
