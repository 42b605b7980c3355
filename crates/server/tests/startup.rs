//! Start-up refusals, model-loading failures that must not stop the server,
//! and graceful shutdown of the `inferd` binary.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    Finished, TestServer, add_body, add_inputs, config_path, expected_sum, f32_bytes, f32_data,
    f32_values, free_ports, models_dir, output, run_binary,
};
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::{ModelInferRequest, ModelReadyRequest};
use serde_json::{Value, json};

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the binary on loopback with two free ports plus `args`.
fn run_on_free_ports(args: &[&str]) -> Finished {
    let (grpc, rest) = free_ports();
    let (grpc, rest) = (grpc.to_string(), rest.to_string());
    let mut all = vec![
        "--grpc_bind_address",
        "127.0.0.1",
        "--rest_bind_address",
        "127.0.0.1",
    ];
    all.extend(["--port", &grpc, "--rest_port", &rest]);
    all.extend(args);
    run_binary(&all, RUN_TIMEOUT)
}

/// The process failed, and its standard error is one line containing every `needle`.
#[track_caller]
fn assert_refused(finished: &Finished, needles: &[&str]) {
    assert_ne!(
        finished.code,
        Some(0),
        "expected a failure exit; stderr:\n{}",
        finished.stderr
    );
    assert!(
        finished.code.is_some(),
        "killed by a signal; stderr:\n{}",
        finished.stderr
    );
    let lines: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{}",
        finished.stderr
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr line {:?} should name {needle:?}",
            lines[0]
        );
    }
}

fn write_config(dir: &Path, config: &Value) -> String {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn add_path() -> String {
    models_dir().join("add").to_string_lossy().into_owned()
}

#[test]
fn config_path_and_model_name_together_are_refused() {
    let finished = run_on_free_ports(&[
        "--config_path",
        &config_path(),
        "--model_name",
        "add",
        "--model_path",
        &add_path(),
    ]);
    assert_refused(&finished, &["--config_path", "--model_name"]);
}

#[test]
fn same_port_for_grpc_and_rest_is_refused() {
    let args = [
        "--grpc_bind_address",
        "127.0.0.1",
        "--rest_bind_address",
        "127.0.0.1",
        "--port",
        "9555",
        "--rest_port",
        "9555",
    ];
    let finished = run_binary(
        &[&args[..], &["--config_path", &config_path()]].concat(),
        RUN_TIMEOUT,
    );
    assert_refused(&finished, &["--port", "--rest_port", "9555"]);
}

#[test]
fn both_ports_zero_is_refused() {
    let finished = run_binary(
        &[
            "--port",
            "0",
            "--rest_port",
            "0",
            "--config_path",
            &config_path(),
        ],
        RUN_TIMEOUT,
    );
    assert_refused(&finished, &["--port", "--rest_port", "0"]);
}

#[test]
fn config_with_unknown_key_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [{"config": {"name": "add", "base_path": add_path(), "bogus_setting": 1}}]});
    let finished = run_on_free_ports(&["--config_path", &write_config(dir.path(), &config)]);
    assert_refused(&finished, &["bogus_setting"]);
    let top_level = json!({"model_config_list": [], "extra_section": {}});
    let finished = run_on_free_ports(&["--config_path", &write_config(dir.path(), &top_level)]);
    assert_refused(&finished, &["extra_section"]);
}

#[test]
fn version_label_on_a_missing_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let versioned = models_dir()
        .join("versioned")
        .to_string_lossy()
        .into_owned();
    let config = json!({"model_config_list": [{"config": {"name": "versioned", "base_path": versioned,
        "model_version_policy": {"specific": {"versions": [1, 2]}}, "version_labels": {"stable": 1, "next": 3}}}]});
    let finished = run_on_free_ports(&["--config_path", &write_config(dir.path(), &config)]);
    assert_refused(
        &finished,
        &[
            "version label \"next\" points at version 3, which is not available (versions served: 1, 2)",
        ],
    );
}

#[test]
fn config_with_wrong_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [{"config": {"name": 5, "base_path": add_path()}}]});
    let finished = run_on_free_ports(&["--config_path", &write_config(dir.path(), &config)]);
    assert_refused(&finished, &["invalid config file", "invalid type"]);
}

#[test]
fn missing_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir
        .path()
        .join("absent.json")
        .to_string_lossy()
        .into_owned();
    let finished = run_on_free_ports(&["--config_path", &missing]);
    assert_refused(&finished, &["cannot read config file", "absent.json"]);
}

#[test]
fn help_mentions_every_flag() {
    let finished = run_binary(&["--help"], RUN_TIMEOUT);
    assert_eq!(finished.code, Some(0), "stderr:\n{}", finished.stderr);
    let flags = [
        "--port",
        "--rest_port",
        "--config_path",
        "--model_name",
        "--model_path",
        "--model_version_policy",
        "--batch_size",
        "--shape",
        "--layout",
        "--nireq",
        "--target_device",
        "--plugin_config",
        "--log_level",
        "--max_request_bytes",
    ];
    for flag in flags {
        let mentioned = finished
            .stdout
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .any(|w| w == flag);
        assert!(
            mentioned,
            "--help does not mention {flag}:\n{}",
            finished.stdout
        );
    }
}

#[tokio::test]
async fn single_model_mode_serves_add() {
    let server = TestServer::start(&["--model_name", "add", "--model_path", &add_path()]).await;
    let (status, body) = server.post_json("/v2/models/add/infer", &add_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(f32_data(output(&body, "sum")), expected_sum());
    assert_eq!(
        server.get("/v2/models/versioned/ready").await.0,
        404,
        "only add is served"
    );
}

#[tokio::test]
async fn broken_model_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("broken/1")).unwrap();
    std::fs::write(dir.path().join("broken/1/model.onnx"), "not a model").unwrap();
    let config = json!({"model_config_list": [
        {"config": {"name": "broken", "base_path": "broken"}},
        {"config": {"name": "add", "base_path": add_path()}},
    ]});
    let server = TestServer::start(&["--config_path", &write_config(dir.path(), &config)]).await;
    let (status, body) = server.post_json("/v2/models/add/infer", &add_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(f32_data(output(&body, "sum")), expected_sum());
    assert_ne!(server.get("/v2/models/broken/ready").await.0, 200);
    assert_ne!(
        server.get("/v2/models/broken/versions/1/ready").await.0,
        200
    );
    let answer = server
        .post_json("/v2/models/broken/infer", &add_body())
        .await;
    common::assert_error(
        &answer,
        404,
        "Model with requested version is not loaded yet",
    );

    let mut grpc = server.grpc_client().await;
    let ready = ModelReadyRequest {
        name: "broken".into(),
        version: String::new(),
    };
    assert!(
        !grpc
            .model_ready(ready)
            .await
            .expect("ModelReady answers")
            .into_inner()
            .ready
    );
    let request = ModelInferRequest {
        model_name: "broken".into(),
        ..Default::default()
    };
    let status = grpc
        .model_infer(request)
        .await
        .expect_err("broken model cannot infer");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(
        status.message(),
        "Model with requested version is not loaded yet"
    );
    let ready = ModelReadyRequest {
        name: "add".into(),
        version: String::new(),
    };
    assert!(grpc.model_ready(ready).await.unwrap().into_inner().ready);
}

#[tokio::test]
async fn missing_base_path_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [
        {"config": {"name": "ghost", "base_path": "does/not/exist"}},
        {"config": {"name": "add", "base_path": add_path()}},
    ]});
    let server = TestServer::start(&["--config_path", &write_config(dir.path(), &config)]).await;
    let (status, body) = server.post_json("/v2/models/add/infer", &add_body()).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(server.get("/v2/models/ghost/ready").await.0, 200);
    assert_eq!(
        server
            .post_json("/v2/models/ghost/infer", &add_body())
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn sigterm_exits_zero() {
    let server = TestServer::with_models().await;
    assert_eq!(server.get("/v2/health/live").await.0, 200);
    let (status, log) = server.stop_with_log().await;
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("shutdown complete"), "log:\n{log}");
}

/// One client loop: requests until the first transport error, the `done`
/// flag, or a bound; every answer received must be correct. Returns the
/// number of correct answers.
async fn rest_loop(server_url: String, done: Arc<AtomicBool>) -> usize {
    let client = common::http_client();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answered = 0;
    for _ in 0..100_000 {
        if done.load(Ordering::Acquire) || Instant::now() > deadline {
            break;
        }
        match client.post(&server_url).json(&add_body()).send().await {
            Ok(response) => {
                let status = response.status();
                let Ok(bytes) = response.bytes().await else {
                    break;
                };
                let body: Value = serde_json::from_slice(&bytes).expect("JSON answer");
                assert_eq!(status, 200, "{body}");
                assert_eq!(f32_data(output(&body, "sum")), expected_sum());
                answered += 1;
            }
            Err(_) => break,
        }
    }
    answered
}

async fn grpc_loop(server: String, done: Arc<AtomicBool>) -> usize {
    let Ok(mut client) =
        inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient::connect(server).await
    else {
        return 0;
    };
    let (a, b) = add_inputs();
    let tensor = |name: &str| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        parameters: Default::default(),
        contents: None,
    };
    let request = ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![tensor("a"), tensor("b")],
        raw_input_contents: vec![Bytes::from(f32_bytes(&a)), Bytes::from(f32_bytes(&b))],
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answered = 0;
    for _ in 0..100_000 {
        if done.load(Ordering::Acquire) || Instant::now() > deadline {
            break;
        }
        match client.model_infer(request.clone()).await {
            Ok(response) => {
                let response = response.into_inner();
                assert_eq!(f32_values(&response.raw_output_contents[0]), expected_sum());
                answered += 1;
            }
            Err(status) => {
                use tonic::Code::{Cancelled, Unavailable, Unknown};
                assert!(
                    matches!(status.code(), Unavailable | Cancelled | Unknown),
                    "server-made error: {status:?}"
                );
                break;
            }
        }
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_with_correct_answers() {
    let server = TestServer::with_models().await;
    let done = Arc::new(AtomicBool::new(false));
    let rest_url = server.rest_url("/v2/models/add/infer");
    let grpc_url = format!("http://127.0.0.1:{}", server.grpc_port);
    let before_signal = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..4 {
        let done = done.clone();
        let counter = before_signal.clone();
        let (rest_url, grpc_url) = (rest_url.clone(), grpc_url.clone());
        tasks.spawn(async move {
            let answered = if i % 2 == 0 {
                rest_loop(rest_url, done).await
            } else {
                grpc_loop(grpc_url, done).await
            };
            counter.fetch_add(answered, Ordering::AcqRel);
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, log) = server.stop_with_log().await;
    done.store(true, Ordering::Release);
    while let Some(result) = tasks.join_next().await {
        result.expect("a client task failed");
    }
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM under load; log:\n{log}"
    );
    assert!(
        before_signal.load(Ordering::Acquire) > 0,
        "no request was answered before SIGTERM"
    );
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_still_exits() {
    use std::io::Write;
    let mut server = TestServer::start(&[
        "--config_path",
        &common::config_path(),
        "--exit_timeout_seconds",
        "2",
    ])
    .await;
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", server.rest_port)).unwrap();
    stalled
        .write_all(
            b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"in",
        )
        .unwrap();
    // Let the server read the partial request before the signal.
    assert_eq!(server.get("/v2/health/live").await.0, 200);
    let status = server.stop_within(common::STOP_TIMEOUT).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "no exit within {:?}; log:\n{}",
        common::STOP_TIMEOUT,
        server.log()
    );
    drop(stalled);
}

/// As a container's PID 1 a signal without a handler is dropped, so SIGTERM
/// must be caught from the start: here it arrives while the only model is
/// still being listed from a store that never answers, and the server exits
/// 0 at once instead of finishing (or being killed by) the start-up.
#[test]
fn sigterm_during_the_first_loads_exits_zero() {
    let store = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", store.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [
        {"config": {"name": "stalled", "base_path": "s3://bucket/stalled"}}
    ]});
    let config_path = write_config(dir.path(), &config);
    let cache = dir.path().join("cache");
    let (port, rest_port) = free_ports();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .args(["--config_path", &config_path, "--model_cache_dir"])
        .arg(&cache)
        .args([
            "--port",
            &port.to_string(),
            "--rest_port",
            &rest_port.to_string(),
        ])
        .args([
            "--grpc_bind_address",
            "127.0.0.1",
            "--rest_bind_address",
            "127.0.0.1",
        ])
        .env("S3_ENDPOINT", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn inferd");
    // The listing request connects and then waits for an answer that never comes.
    store.set_nonblocking(false).unwrap();
    let (_held, _) = store.accept().expect("the server lists the store");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "still running 10 s after SIGTERM:\n{}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{status}; log:\n{text}");
    assert!(
        text.contains("stopping before the first models finished loading"),
        "log:\n{text}"
    );
}

/// `--health_probe` (the container images' health check): 0 for a ready
/// server, 1 with the reason for a closed port, a non-200 answer or a bad URL.
#[tokio::test]
async fn health_probe_reports_readiness_in_its_exit_code() {
    let server = TestServer::with_models().await;
    let ready = server.rest_url("/v2/health/ready");
    let finished = run_binary(&["--health_probe", &ready], RUN_TIMEOUT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);

    let missing = server.rest_url("/v2/models/ghost/ready");
    let finished = run_binary(&["--health_probe", &missing], RUN_TIMEOUT);
    assert_eq!(finished.code, Some(1));
    assert!(
        finished.stderr.contains("answered 404"),
        "{}",
        finished.stderr
    );

    let (closed, _) = free_ports();
    let url = format!("http://127.0.0.1:{closed}/v2/health/ready");
    let finished = run_binary(&["--health_probe", &url], RUN_TIMEOUT);
    assert_eq!(finished.code, Some(1));
    assert!(finished.stderr.contains("refused"), "{}", finished.stderr);

    let finished = run_binary(&["--health_probe", "https://127.0.0.1/"], RUN_TIMEOUT);
    assert_eq!(finished.code, Some(1));
    assert!(
        finished.stderr.contains("http:// URL"),
        "{}",
        finished.stderr
    );
}
