//! Prometheus metrics (`GET /metrics`) and Triton's statistics extension
//! (`/v2/models/.../stats`, gRPC ModelStatistics) against the `inferd`
//! binary: counters move for successes and failures on both APIs and both
//! interfaces, and the statistics agree with them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestServer, add_body, add_inputs, assert_ok, config_path, f32_bytes, models_dir, run_binary,
};
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::{
    ModelInferRequest, ModelMetadataRequest, ModelStatisticsRequest,
};
use inferd_server::proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_server::proto::tensorflow::serving::{ModelSpec, PredictRequest};
use serde_json::json;

const ALL: &str = "ovms_requests_success,ovms_requests_fail,ovms_request_time_us,ovms_inference_time_us,ovms_wait_for_infer_req_time_us,ovms_current_requests,ovms_streams,ovms_infer_req_queue_size,ovms_infer_req_active";

async fn scrape(server: &TestServer) -> String {
    let response = server
        .client()
        .get(server.rest_url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.expect("metrics text")
}

/// The value of sample `name` with exactly the labels `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let found: BTreeMap<&str, &str> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                Some((k, v.trim_matches('"')))
            })
            .collect();
        (found == wanted).then(|| value.parse().expect("sample value"))
    })
}

fn requests(text: &str, outcome: &str, api: &str, interface: &str, method: &str) -> f64 {
    let labels = [
        ("api", api),
        ("interface", interface),
        ("method", method),
        ("name", "add"),
        ("version", "1"),
    ];
    sample(text, &format!("ovms_requests_{outcome}"), &labels).unwrap_or_else(|| {
        panic!("no ovms_requests_{outcome} for {api}/{interface}/{method}:\n{text}")
    })
}

fn kserve_grpc_request(b_len: usize) -> ModelInferRequest {
    let (a, b) = add_inputs();
    let input = |name: &str, len: usize| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, len as i64],
        ..Default::default()
    };
    ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![input("a", 16), input("b", b_len)],
        raw_input_contents: vec![f32_bytes(&a).into(), f32_bytes(&b[..b_len]).into()],
        ..Default::default()
    }
}

fn tfs_grpc_request(with_b: bool) -> PredictRequest {
    let (a, b) = add_inputs();
    let tensor = common::tf_float_row;
    let mut inputs = BTreeMap::from([("a".to_string(), tensor(&a))]);
    if with_b {
        inputs.insert("b".to_string(), tensor(&b));
    }
    PredictRequest {
        model_spec: Some(ModelSpec {
            name: "add".into(),
            ..Default::default()
        }),
        inputs,
        ..Default::default()
    }
}

/// Two good requests and one bad one over each API and interface.
async fn traffic(server: &TestServer) {
    let good = add_body();
    let mut bad = add_body();
    bad["inputs"].as_array_mut().unwrap().pop();
    for body in [&good, &good, &bad] {
        server.post_json("/v2/models/add/infer", body).await;
    }
    let (a, b) = add_inputs();
    let good_tfs = json!({"inputs": {"a": [a], "b": [b]}});
    let bad_tfs = json!({"inputs": {"a": [a]}});
    for body in [&good_tfs, &good_tfs, &bad_tfs] {
        server.post_json("/v1/models/add:predict", body).await;
    }
    let mut kserve = server.grpc_client().await;
    for b_len in [16, 16, 3] {
        let _ = kserve.model_infer(kserve_grpc_request(b_len)).await;
    }
    let mut tfs = PredictionServiceClient::new(server.grpc_channel().await);
    for with_b in [true, true, false] {
        let _ = tfs.predict(tfs_grpc_request(with_b)).await;
    }
}

#[tokio::test]
async fn counters_move_for_successes_and_failures_and_statistics_agree() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--metrics_enable",
        "--metrics_list",
        ALL,
    ])
    .await;
    let before = scrape(&server).await;
    assert_eq!(
        requests(&before, "success", "KServe", "REST", "ModelInfer"),
        0.0
    );
    traffic(&server).await;
    let text = scrape(&server).await;
    for (api, method) in [("KServe", "ModelInfer"), ("TensorFlowServing", "Predict")] {
        for interface in ["REST", "gRPC"] {
            assert_eq!(
                requests(&text, "success", api, interface, method),
                2.0,
                "{api} {interface}"
            );
            assert_eq!(
                requests(&text, "fail", api, interface, method),
                1.0,
                "{api} {interface}"
            );
        }
    }
    let model = [("name", "add"), ("version", "1")];
    for interface in ["REST", "gRPC"] {
        let labels = [("interface", interface), model[0], model[1]];
        assert_eq!(
            sample(&text, "ovms_request_time_us_count", &labels),
            Some(6.0)
        );
    }
    assert_eq!(
        sample(&text, "ovms_inference_time_us_count", &model),
        Some(8.0)
    );
    assert_eq!(
        sample(&text, "ovms_wait_for_infer_req_time_us_count", &model),
        Some(8.0)
    );
    assert_eq!(sample(&text, "ovms_current_requests", &model), Some(0.0));
    assert_eq!(sample(&text, "ovms_infer_req_active", &model), Some(0.0));
    let slots = sample(&text, "ovms_infer_req_queue_size", &model).expect("queue size");
    assert!(slots >= 1.0);
    assert_eq!(sample(&text, "ovms_streams", &model), Some(slots));

    let stats = assert_ok(server.get("/v2/models/add/stats").await);
    let entry = &stats["model_stats"][0];
    assert_eq!(
        (entry["name"].as_str(), entry["version"].as_str()),
        (Some("add"), Some("1"))
    );
    let infer = &entry["inference_stats"];
    assert_eq!(infer["success"]["count"], 8);
    assert_eq!(infer["fail"]["count"], 4);
    assert_eq!(infer["compute_infer"]["count"], 8);
    assert_eq!(infer["queue"]["count"], 8);
    assert_eq!(entry["inference_count"], 8);
    assert_eq!(entry["execution_count"], 8);
    assert!(
        infer["success"]["ns"].as_u64().unwrap() >= infer["compute_infer"]["ns"].as_u64().unwrap()
    );
    assert!(entry["last_inference"].as_u64().unwrap() > 0);

    let mut grpc = server.grpc_client().await;
    let answer = grpc
        .model_statistics(ModelStatisticsRequest {
            name: "add".into(),
            version: "1".into(),
        })
        .await
        .expect("ModelStatistics")
        .into_inner();
    let proto = &answer.model_stats[0];
    let infer = proto.inference_stats.as_ref().unwrap();
    assert_eq!(
        (infer.success.unwrap().count, infer.fail.unwrap().count),
        (8, 4)
    );
    assert_eq!(proto.execution_count, 8);
}

#[tokio::test]
async fn metadata_readiness_and_status_are_counted_per_model() {
    let server = TestServer::start(&["--config_path", &config_path(), "--metrics_enable"]).await;
    assert_ok(server.get("/v2/models/add").await);
    server.get("/v2/models/add/versions/9").await;
    server
        .client()
        .get(server.rest_url("/v2/models/add/ready"))
        .send()
        .await
        .unwrap();
    assert_ok(server.get("/v1/models/add").await);
    server.get("/v2/models/no_such_model").await;
    let mut grpc = server.grpc_client().await;
    grpc.model_metadata(ModelMetadataRequest {
        name: "add".into(),
        version: String::new(),
    })
    .await
    .expect("metadata");
    let text = scrape(&server).await;
    let labels = |api, interface, method, version: Option<&'static str>| {
        let mut l = vec![
            ("api", api),
            ("interface", interface),
            ("method", method),
            ("name", "add"),
        ];
        l.extend(version.map(|v| ("version", v)));
        l
    };
    let value = |outcome: &str, l: Vec<(&str, &str)>| {
        sample(&text, &format!("ovms_requests_{outcome}"), &l)
    };
    assert_eq!(
        value(
            "success",
            labels("KServe", "REST", "ModelMetadata", Some("1"))
        ),
        Some(1.0)
    );
    assert_eq!(
        value("fail", labels("KServe", "REST", "ModelMetadata", None)),
        Some(1.0)
    );
    assert_eq!(
        value("success", labels("KServe", "REST", "ModelReady", None)),
        Some(1.0)
    );
    assert_eq!(
        value(
            "success",
            labels("TensorFlowServing", "REST", "GetModelStatus", None)
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "success",
            labels("KServe", "gRPC", "ModelMetadata", Some("1"))
        ),
        Some(1.0)
    );
    assert!(
        !text.contains("no_such_model"),
        "unknown models must not create series"
    );
    // Not in the default list.
    assert!(!text.contains("ovms_infer_req_active"), "{text}");
}

#[tokio::test]
async fn metrics_are_off_unless_enabled_and_the_list_selects() {
    let off = TestServer::with_models().await;
    let (status, body) = off.get("/metrics").await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("--metrics_enable"),
        "{body}"
    );
    // Statistics are always kept.
    assert_ok(off.get("/v2/models/stats").await);
    drop(off);

    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "model_config_list": [{"config": {"name": "add", "base_path": models_dir().join("add")}}],
        "monitoring": {"metrics": {"enable": true, "metrics_list": ["ovms_requests_fail"]}},
    });
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = TestServer::start(&["--config_path", path.to_str().unwrap()]).await;
    server
        .post_json("/v2/models/add/infer", &json!({"inputs": []}))
        .await;
    let text = scrape(&server).await;
    assert_eq!(requests(&text, "fail", "KServe", "REST", "ModelInfer"), 1.0);
    assert!(!text.contains("ovms_requests_success"), "{text}");
    assert!(!text.contains("ovms_request_time_us"), "{text}");
}

#[test]
fn bad_metric_settings_refuse_to_start() {
    let config = config_path();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--metrics_list", "ovms_streams"],
            "--metrics_list needs --metrics_enable",
        ),
        (
            &["--metrics_enable", "--metrics_list", "ovms_streams,bogus"],
            "unknown metric name in metrics_list: bogus",
        ),
        (
            &["--metrics_enable", "--rest_port", "0"],
            "metrics are served on the REST port",
        ),
    ];
    for (flags, message) in cases {
        let (grpc, rest) = common::free_ports();
        let (grpc, rest) = (grpc.to_string(), rest.to_string());
        let mut args = vec!["--config_path", &config, "--port", &grpc];
        if !flags.contains(&"--rest_port") {
            args.extend(["--rest_port", &rest]);
        }
        args.extend(flags);
        let finished = run_binary(&args, Duration::from_secs(30));
        assert_ne!(finished.code, Some(0), "{flags:?} should refuse");
        let said = format!("{}{}", finished.stderr, finished.stdout);
        assert!(
            said.contains(message),
            "{flags:?}: expected {message:?} in\n{said}"
        );
    }
}

/// `promtool check metrics` (Debian package `prometheus`) finds no format
/// errors; its only findings are the naming lints that OVMS's metric names
/// themselves trigger (counters without `_total`, `_us` units), kept for
/// compatibility with OVMS dashboards. Runs `$INFERD_PROMTOOL` (default
/// `promtool`), which must exist when INFERD_REQUIRE_PROMTOOL is set
/// (scripts/test.sh sets both, from scripts/install-promtool.sh).
#[tokio::test]
async fn promtool_accepts_the_output() {
    let Some(promtool) = common::promtool() else {
        return;
    };
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--metrics_enable",
        "--metrics_list",
        ALL,
    ])
    .await;
    traffic(&server).await;
    let text = scrape(&server).await;
    let checked = common::promtool_findings(&promtool, &text);
    let findings = checked.text;
    assert!(checked.parsed, "promtool: {findings}");
    let inherited = [
        "ovms_requests_success counter metrics should have \"_total\" suffix",
        "ovms_requests_fail counter metrics should have \"_total\" suffix",
        "ovms_request_time_us metric names should not contain abbreviated units",
        "ovms_inference_time_us metric names should not contain abbreviated units",
        "ovms_wait_for_infer_req_time_us metric names should not contain abbreviated units",
    ];
    for finding in findings.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            inherited.contains(&finding.trim()),
            "unexpected promtool finding: {finding}"
        );
    }
}
