//! Live model lifecycle over the wire: version folders and config.json edits
//! picked up by the file-system poll while clients keep sending requests.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, models_dir};
use serde_json::{Value, json};

/// Bound on every wait for the server to notice a change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent clients in the load test.
const CLIENTS: usize = 4;
/// Hard cap on requests per client, whatever the machine's speed.
const MAX_REQUESTS_PER_CLIENT: usize = 20_000;

/// Copies `models/versioned/<version>` (y = x + version) to `<base>/<version>`.
fn add_version(base: &Path, version: u64) {
    let dir = base.join(version.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let source = models_dir().join("versioned").join(version.to_string());
    std::fs::copy(source.join("model.onnx"), dir.join("model.onnx")).unwrap();
}

fn write_config(path: &Path, models: &[(&str, &Path, Value)]) {
    let list: Vec<Value> = models
        .iter()
        .map(|(name, base, policy)| {
            json!({"config": {"name": name, "base_path": base, "model_version_policy": policy}})
        })
        .collect();
    // Written whole in one go; a poll may still read a torn file, which must be ignored.
    std::fs::write(path, json!({"model_config_list": list}).to_string()).unwrap();
}

fn states(body: &Value) -> Vec<(String, String)> {
    body["model_version_status"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| {
                    (
                        s["version"].as_str().unwrap_or_default().to_string(),
                        s["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `GET /v1/models/{model}` lists exactly `want` (version, state), newest first.
async fn wait_for(server: &TestServer, model: &str, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(v, s)| (v.to_string(), s.to_string()))
        .collect();
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    loop {
        let (_, body) = server.get(&format!("/v1/models/{model}")).await;
        if states(&body) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{model}: states {:?}, want {want:?}\n{}",
            states(&body),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_args(config: &Path) -> Vec<String> {
    vec![
        "--config_path".into(),
        config.to_string_lossy().into_owned(),
        "--file_system_poll_wait_seconds".into(),
        "1".into(),
    ]
}

async fn start(config: &Path) -> TestServer {
    let args = start_args(config);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start(&args).await
}

#[tokio::test]
async fn new_and_removed_version_folders_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("m");
    add_version(&base, 1);
    let config = dir.path().join("config.json");
    write_config(
        &config,
        &[("m", &base, json!({"latest": {"num_versions": 1}}))],
    );
    let server = start(&config).await;
    wait_for(&server, "m", &[("1", "AVAILABLE")]).await;

    add_version(&base, 2);
    wait_for(&server, "m", &[("2", "AVAILABLE"), ("1", "END")]).await;
    std::fs::remove_dir_all(base.join("2")).unwrap();
    // Version 1 is back in the policy's window once 2 is gone.
    wait_for(&server, "m", &[("2", "END"), ("1", "AVAILABLE")]).await;
}

#[tokio::test]
async fn config_edits_are_applied_and_invalid_ones_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (m, n) = (dir.path().join("m"), dir.path().join("n"));
    add_version(&m, 1);
    add_version(&n, 2);
    let config = dir.path().join("config.json");
    write_config(&config, &[("m", &m, json!({"all": {}}))]);
    let server = start(&config).await;

    write_config(
        &config,
        &[("m", &m, json!({"all": {}})), ("n", &n, json!({"all": {}}))],
    );
    wait_for(&server, "n", &[("2", "AVAILABLE")]).await;

    std::fs::write(&config, b"{\"model_config_list\": [").unwrap();
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while !server.log().contains("configuration file rejected") {
        assert!(
            Instant::now() < deadline,
            "no rejection logged\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = server.get("/v2/models/n/ready").await;
    assert_eq!(status, 200, "the last good configuration keeps serving");

    write_config(&config, &[("n", &n, json!({"all": {}}))]);
    wait_for(&server, "m", &[("1", "END")]).await;
    wait_for(&server, "n", &[("2", "AVAILABLE")]).await;
}

/// One client: KServe REST infer on model `m` (latest) until told to stop.
/// Returns (requests, failures as messages).
async fn client_loop(
    server: Arc<TestServer>,
    stop: Arc<AtomicBool>,
    allowed: Vec<f32>,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut sent = 0;
    let x = [0.25f32, 1.0, 2.0, 3.0];
    let body = json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": x}]});
    while !stop.load(Ordering::Relaxed) && sent < MAX_REQUESTS_PER_CLIENT {
        sent += 1;
        let (status, answer) = server.post_json("/v2/models/m/infer", &body).await;
        if status != 200 {
            failures.push(format!("{status}: {answer}"));
            continue;
        }
        let y = common::f32_data(&answer["outputs"][0]);
        let offsets: Vec<f32> = y.iter().zip(x).map(|(y, x)| y - x).collect();
        let version: f32 = answer["model_version"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0);
        if !allowed.contains(&offsets[0]) || offsets.iter().any(|o| *o != version) {
            failures.push(format!("version {version} answered offsets {offsets:?}"));
        }
    }
    (sent, failures)
}

#[tokio::test]
async fn versions_and_config_change_under_load_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (m, n) = (dir.path().join("m"), dir.path().join("n"));
    add_version(&m, 1);
    add_version(&n, 1);
    let config = dir.path().join("config.json");
    let all = json!({"all": {}});
    let latest = json!({"latest": {"num_versions": 1}});
    write_config(&config, &[("m", &m, all.clone())]);
    let server = Arc::new(start(&config).await);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                server.clone(),
                stop.clone(),
                vec![1.0, 2.0, 3.0],
            ))
        })
        .collect();

    // Each step waits for the server to reach the state it implies.
    add_version(&m, 2);
    wait_for(&server, "m", &[("2", "AVAILABLE"), ("1", "AVAILABLE")]).await;
    write_config(
        &config,
        &[("m", &m, latest.clone()), ("n", &n, all.clone())],
    );
    wait_for(&server, "m", &[("2", "AVAILABLE"), ("1", "END")]).await;
    add_version(&m, 3);
    wait_for(
        &server,
        "m",
        &[("3", "AVAILABLE"), ("2", "END"), ("1", "END")],
    )
    .await;
    std::fs::remove_dir_all(m.join("3")).unwrap();
    wait_for(
        &server,
        "m",
        &[("3", "END"), ("2", "AVAILABLE"), ("1", "END")],
    )
    .await;
    for round in 0..4 {
        let policy = if round % 2 == 0 {
            all.clone()
        } else {
            latest.clone()
        };
        write_config(&config, &[("m", &m, policy), ("n", &n, all.clone())]);
        let want: &[(&str, &str)] = if round % 2 == 0 {
            &[("3", "END"), ("2", "AVAILABLE"), ("1", "AVAILABLE")]
        } else {
            &[("3", "END"), ("2", "AVAILABLE"), ("1", "END")]
        };
        wait_for(&server, "m", want).await;
    }
    write_config(&config, &[("m", &m, latest)]);
    wait_for(&server, "n", &[("1", "END")]).await;

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut failures = Vec::new();
    for client in clients {
        let (sent, failed) = client.await.unwrap();
        total += sent;
        failures.extend(failed);
    }
    assert!(total > CLIENTS, "the clients ran: {total} requests");
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
