//! Argument and setup errors: exit status and message, no server needed.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, run_bench, stderr};

/// Argument errors and refusals come at once: nothing waits on the network.
const QUICK: Duration = Duration::from_secs(10);

/// Runs with `args`, expects exit status `code` and `message` on stderr.
#[track_caller]
fn assert_fails(args: &[&str], code: i32, message: &str) {
    let output = run_bench(args, QUICK);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {text}");
    assert!(
        text.contains(message),
        "{args:?}: expected {message:?} in:\n{text}"
    );
    assert!(output.stdout.is_empty(), "{args:?} printed a table");
}

#[test]
fn bad_concurrency_lists_are_argument_errors() {
    assert_fails(
        &["-m", "add", "-c", "0"],
        2,
        "concurrency 0 would send nothing",
    );
    assert_fails(
        &["-m", "add", "-c", "a,b"],
        2,
        "concurrency 'a' is not a positive integer",
    );
    assert_fails(
        &["-m", "add", "-c", "1,,2"],
        2,
        "is not a comma-separated list",
    );
}

#[test]
fn bad_protocols_rates_and_flag_mixes_are_argument_errors() {
    assert_fails(
        &["-m", "add", "--protocol", "http"],
        2,
        "invalid value 'http' for '--protocol",
    );
    assert_fails(
        &["-m", "add", "--rate", "0"],
        2,
        "rate '0' is not a number of requests/s above 0",
    );
    assert_fails(
        &["-m", "add", "-c", "1", "--rate", "5"],
        2,
        "cannot be used with",
    );
    assert_fails(&["-c", "1"], 2, "--model <MODEL>");
    assert_fails(
        &["-m", "add", "--shape", "a=1,2"],
        2,
        "is not NAME:D1,D2,...",
    );
    let args = [
        "-m",
        "add",
        "-u",
        "127.0.0.1:1",
        "--stability-percentage",
        "0",
    ];
    assert_fails(
        &args,
        1,
        "--stability-percentage 0 is not a percentage above 0",
    );
}

#[test]
fn remote_targets_are_refused_at_once() {
    for url in ["10.1.2.3:8001", "example.com:80", "[2001:db8::1]:8001"] {
        let started = Instant::now();
        assert_fails(&["-m", "add", "-u", url], 1, "--allow-remote");
        assert_fails(
            &["-m", "add", "-u", url],
            1,
            &format!("refusing target {url}"),
        );
        assert!(
            started.elapsed() < QUICK,
            "{url} took {:?}",
            started.elapsed()
        );
    }
    assert_fails(&["-m", "add", "-u", "127.0.0.1"], 1, "is not HOST:PORT");
}

#[test]
fn unreadable_or_malformed_input_files_are_refused_before_connecting() {
    // Port 1 on loopback: never reached, since the file is read first.
    let missing = [
        "-m",
        "add",
        "-u",
        "127.0.0.1:1",
        "--input-data",
        "/nonexistent/in.json",
    ];
    assert_fails(&missing, 1, "input data /nonexistent/in.json: ");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), "{\"data\": 3}").expect("write");
    let path = file.path().to_string_lossy().into_owned();
    let malformed = ["-m", "add", "-u", "127.0.0.1:1", "--input-data", &path];
    assert_fails(&malformed, 1, r#"expected {"data": [{"INPUT_NAME""#);
}

#[test]
fn an_unreachable_server_fails_before_the_run() {
    let url = format!("127.0.0.1:{}", free_port());
    for protocol in ["kserve-grpc", "kserve-rest", "tfs-grpc"] {
        let args = ["-m", "add", "-u", &url, "--protocol", protocol];
        assert_fails(&args, 1, &format!("cannot connect to {url} ({protocol})"));
    }
}
