//! Short real runs against the `inferd` binary serving `models/config.json`
//! (model `add`: FP32 inputs `a` and `b` of shape [-1, 16]).

mod common;

use std::time::Duration;

use common::{Server, run_bench, stderr};
use serde_json::Value;

/// A short run: small windows, few of them, bounded overall.
const SHORT: [&str; 10] = [
    "--measurement-interval-ms",
    "200",
    "--warmup-ms",
    "100",
    "--max-trials",
    "5",
    "--max-duration-s",
    "20",
    "--request-timeout-ms",
    "5000",
];
/// Far above what a short run takes.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs inferd-bench with `args` and the short-run flags, expects success,
/// and returns the JSON report.
fn bench_json(server: &Server, args: &[&str]) -> Value {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let path = json.path().to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.extend(SHORT);
    all.extend(["--json", &path]);
    let output = run_bench(&all, LIMIT);
    assert!(
        output.status.success(),
        "{all:?} failed: {}\nserver log:\n{}",
        stderr(&output),
        server.log()
    );
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        table.starts_with("Concurrency") || table.starts_with("Rate"),
        "{table}"
    );
    let text = std::fs::read_to_string(json.path()).expect("JSON report");
    serde_json::from_str(&text).expect("a JSON report")
}

/// Asserts one row per level, in order, each with throughput and no errors.
#[track_caller]
fn assert_levels(report: &Value, key: &str, expected: &[f64]) {
    let levels = report["levels"].as_array().expect("levels");
    let loads: Vec<f64> = levels.iter().filter_map(|l| l[key].as_f64()).collect();
    assert_eq!(loads, expected, "{report:#}");
    for level in levels {
        assert!(
            level["throughput_infer_per_s"].as_f64() > Some(0.0),
            "{level:#}"
        );
        assert!(level["latency_p50_us"].as_f64() > Some(0.0), "{level:#}");
        assert!(level["latency_p99_us"].as_f64() >= level["latency_p50_us"].as_f64());
        assert_eq!(level["errors"], 0, "{level:#}");
    }
}

#[test]
fn every_protocol_measures_add_at_two_concurrencies() {
    let server = Server::start();
    for (protocol, url) in [
        ("kserve-grpc", server.grpc()),
        ("kserve-rest", server.rest()),
        ("kserve-rest-binary", server.rest()),
        ("tfs-grpc", server.grpc()),
    ] {
        let args = ["--protocol", protocol, "-u", &url, "-m", "add", "-c", "1,2"];
        let report = bench_json(&server, &args);
        assert_eq!(report["protocol"], protocol);
        assert_levels(&report, "concurrency", &[1.0, 2.0]);
    }
}

#[test]
fn fixed_rate_with_values_from_a_file_and_a_request_budget() {
    let server = Server::start();
    let values: Vec<f32> = (0..32).map(|i| i as f32).collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let document = serde_json::json!({"data": [{"a": [&values[..16]], "b": {"content": &values[16..], "shape": [1, 16]}}]});
    std::fs::write(file.path(), document.to_string()).expect("write");
    let path = file.path().to_string_lossy().into_owned();
    let url = server.grpc();
    let args = [
        "-u",
        &url,
        "-m",
        "add",
        "--rate",
        "100,200",
        "--input-data",
        &path,
    ];
    let report = bench_json(&server, &args);
    assert_levels(&report, "rate", &[100.0, 200.0]);

    let budget = ["-u", &url, "-m", "add", "-c", "2", "--max-requests", "40"];
    let report = bench_json(&server, &budget);
    assert_levels(&report, "concurrency", &[2.0]);
    let level = &report["levels"][0];
    assert!(level["requests"].as_u64() <= Some(42), "{level:#}");
}

#[test]
fn unknown_models_and_refused_requests_fail_before_measuring() {
    let server = Server::start();
    let (grpc, rest) = (server.grpc(), server.rest());
    for (protocol, url) in [
        ("kserve-grpc", &grpc),
        ("kserve-rest", &rest),
        ("tfs-grpc", &grpc),
    ] {
        let output = run_bench(&["--protocol", protocol, "-u", url, "-m", "nope"], LIMIT);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{protocol}: {text}");
        assert!(
            text.contains("cannot get the metadata of model 'nope'"),
            "{protocol}: {text}"
        );
        assert!(
            text.contains("Model with requested name is not found"),
            "{protocol}: {text}"
        );
        assert!(output.stdout.is_empty(), "{protocol}");
    }
    let bytes = run_bench(&["-u", &grpc, "-m", "identity_bytes"], LIMIT);
    assert_eq!(bytes.status.code(), Some(1));
    assert!(stderr(&bytes).contains("is BYTES"), "{}", stderr(&bytes));
    let too_big = run_bench(&["-u", &grpc, "-m", "add", "--shape", "a:1,17"], LIMIT);
    assert!(stderr(&too_big).contains("does not fit the model's shape [-1, 16]"));
    // Shapes the metadata allows but the model cannot add: the probe fails.
    let mismatched = ["-u", &rest, "--protocol", "kserve-rest", "-m", "add"];
    let mismatched = [&mismatched[..], &["--shape", "a:3,16", "--shape", "b:2,16"]].concat();
    let probe = run_bench(&mismatched, LIMIT);
    assert_eq!(probe.status.code(), Some(1), "{}", stderr(&probe));
    assert!(stderr(&probe).contains("the first request failed, so nothing was measured: HTTP "));
}
