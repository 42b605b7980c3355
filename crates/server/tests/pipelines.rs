//! DAG pipelines over the wire: a chain and a diamond of test models called
//! as one model over KServe REST/gRPC and TF Serving REST; refusals at
//! load; errors; a node model's new version under load; pipelines added
//! and removed by config edits.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, assert_error, assert_ok, f32_data, models_dir, output};
use serde_json::{Value, json};

/// Bound on every wait for the server to notice a change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Hard cap on requests per load client.
const MAX_REQUESTS: usize = 20_000;

fn model(name: &str, base: &Path, policy: Value) -> Value {
    json!({"config": {"name": name, "base_path": base, "model_version_policy": policy}})
}

fn node(name: &str, model: &str, inputs: Value, outputs: Value) -> Value {
    json!({"name": name, "model_name": model, "type": "DL model", "inputs": inputs, "outputs": outputs})
}

fn from(node: &str, item: &str) -> Value {
    json!({"node_name": node, "data_item": item})
}

/// in -> double (y = 2x) -> versioned (y = x + version): 2 in + version.
fn chain() -> Value {
    json!({
        "name": "chain",
        "inputs": ["in"],
        "nodes": [
            node("twice", "double", json!([{"x": from("request", "in")}]),
                 json!([{"data_item": "y", "alias": "doubled"}])),
            node("plus", "versioned", json!([{"x": from("twice", "doubled")}]),
                 json!([{"data_item": "y", "alias": "out"}])),
        ],
        "outputs": [{"result": from("plus", "out")}]
    })
}

/// a, b -> add (sum) and add (diff) side by side -> add again: 2a and 2b.
fn diamond() -> Value {
    let ab = json!([{"a": from("request", "a")}, {"b": from("request", "b")}]);
    json!({
        "name": "diamond",
        "inputs": ["a", "b"],
        "nodes": [
            node("left", "add", ab.clone(), json!([{"data_item": "sum", "alias": "s"}])),
            node("right", "add", ab, json!([{"data_item": "diff", "alias": "d"}])),
            node("join", "add", json!([{"a": from("left", "s")}, {"b": from("right", "d")}]),
                 json!([{"data_item": "sum", "alias": "a2"}, {"data_item": "diff", "alias": "b2"}])),
        ],
        "outputs": [{"twice_a": from("join", "a2")}, {"twice_b": from("join", "b2")}]
    })
}

/// Copies `models/versioned/<version>` (y = x + version) to `<base>/<version>`.
fn add_version(base: &Path, version: u64) {
    let dir = base.join(version.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let source = models_dir().join("versioned").join(version.to_string());
    std::fs::copy(source.join("model.onnx"), dir.join("model.onnx")).unwrap();
}

/// A repository in `dir`: `versioned` (its own copy, versions as given),
/// `double` and `add`, and `pipelines`.
fn write_config(dir: &Path, pipelines: &[Value]) -> std::path::PathBuf {
    let versioned = dir.join("versioned");
    if !versioned.exists() {
        add_version(&versioned, 1);
    }
    let latest = json!({"latest": {"num_versions": 1}});
    let config = json!({
        "model_config_list": [
            model("versioned", &versioned, latest.clone()),
            model("double", &models_dir().join("double"), latest.clone()),
            model("add", &models_dir().join("add"), latest),
        ],
        "pipeline_config_list": pipelines,
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

async fn start(config: &Path) -> TestServer {
    let config = config.to_string_lossy();
    TestServer::start(&[
        "--config_path",
        &config,
        "--file_system_poll_wait_seconds",
        "1",
    ])
    .await
}

fn chain_request(x: [f32; 4]) -> Value {
    json!({"inputs": [{"name": "in", "shape": [1, 4], "datatype": "FP32", "data": x}]})
}

#[tokio::test]
async fn a_chain_and_a_diamond_answer_as_models_over_kserve_and_tf_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&write_config(dir.path(), &[chain(), diamond()])).await;

    // KServe REST: metadata computed from the graph, then inference.
    let meta = assert_ok(server.get("/v2/models/chain").await);
    assert_eq!(meta["versions"], json!(["1"]));
    assert_eq!(
        meta["inputs"],
        json!([{"name": "in", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(meta["outputs"][0]["name"], "result");
    let (_, ready) = server.get("/v2/models/chain/ready").await;
    assert_eq!(ready, Value::Null);
    let answer = assert_ok(
        server
            .post_json(
                "/v2/models/chain/infer",
                &chain_request([1.0, 2.0, 3.0, 4.0]),
            )
            .await,
    );
    assert_eq!(answer["model_name"], "chain");
    assert_eq!(f32_data(output(&answer, "result")), [3.0, 5.0, 7.0, 9.0]);

    let a: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..16).map(|i| 100.0 - i as f32).collect();
    let body = json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": b},
    ]});
    let answer = assert_ok(server.post_json("/v2/models/diamond/infer", &body).await);
    let doubled = |v: &[f32]| v.iter().map(|x| 2.0 * x).collect::<Vec<f32>>();
    assert_eq!(f32_data(output(&answer, "twice_a")), doubled(&a));
    assert_eq!(f32_data(output(&answer, "twice_b")), doubled(&b));

    // TF Serving REST: predict, status and metadata.
    let (status, answer) = server
        .post_json(
            "/v1/models/chain:predict",
            &json!({"instances": [[1.0, 1.0, 1.0, 1.0]]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"], json!([[3.0, 3.0, 3.0, 3.0]]));
    let status = assert_ok(server.get("/v1/models/diamond").await);
    assert_eq!(status["model_version_status"][0]["state"], "AVAILABLE");
    let meta = assert_ok(server.get("/v1/models/diamond/metadata").await);
    let inputs = &meta["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"];
    assert!(inputs["a"].is_object() && inputs["b"].is_object(), "{meta}");

    // KServe gRPC.
    let mut grpc = server.grpc_client().await;
    let request = inferd_server::proto::kserve::ModelInferRequest {
        model_name: "chain".into(),
        inputs: vec![
            inferd_server::proto::kserve::model_infer_request::InferInputTensor {
                name: "in".into(),
                datatype: "FP32".into(),
                shape: vec![1, 4],
                contents: Some(inferd_server::proto::kserve::InferTensorContents {
                    fp32_contents: vec![0.5; 4],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let answer = grpc.model_infer(request).await.unwrap().into_inner();
    assert_eq!(answer.model_name, "chain");
    let values = match answer.raw_output_contents.first() {
        Some(raw) => common::f32_values(raw),
        None => answer.outputs[0].contents.clone().unwrap().fp32_contents,
    };
    assert_eq!(values, [2.0; 4]);

    // Statistics per pipeline.
    let stats = assert_ok(server.get("/v2/models/chain/stats").await);
    assert!(
        stats["model_stats"][0]["inference_count"].as_u64().unwrap() >= 2,
        "{stats}"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_affect_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&write_config(dir.path(), &[chain()])).await;
    let missing = json!({"inputs": [{"name": "other", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 0.0, 0.0, 0.0]}]});
    let answer = server.post_json("/v2/models/chain/infer", &missing).await;
    assert_error(&answer, 400, "Missing input with specific name");
    let wrong = json!({"inputs": [{"name": "in", "shape": [1, 3], "datatype": "FP32", "data": [0.0, 0.0, 0.0]}]});
    let answer = server.post_json("/v2/models/chain/infer", &wrong).await;
    assert_error(&answer, 400, "Invalid input shape");
    // Two rows pass the pipeline's input but not the second node's [1, 4]:
    // the node's error ends the request.
    let rows = json!({"inputs": [{"name": "in", "shape": [2, 4], "datatype": "FP32", "data": vec![0.0f32; 8]}]});
    let answer = server.post_json("/v2/models/chain/infer", &rows).await;
    assert_error(
        &answer,
        400,
        "Invalid input batch size - Expected: 1; Actual: 2; input name: x",
    );
    let answer = server
        .post_json(
            "/v2/models/chain/versions/2/infer",
            &chain_request([0.0; 4]),
        )
        .await;
    assert_error(&answer, 404, "Model with requested version is not found");
    let answer = assert_ok(
        server
            .post_json("/v2/models/chain/infer", &chain_request([0.0; 4]))
            .await,
    );
    assert_eq!(f32_data(output(&answer, "result")), [1.0; 4]);
}

#[test]
fn graphs_that_cannot_work_are_refused_at_start_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut cyclic = chain();
    cyclic["nodes"][0]["inputs"] = json!([{"x": from("plus", "out")}]);
    let mut unknown = chain();
    unknown["nodes"][1]["model_name"] = json!("nope");
    let mut mismatched = chain();
    // double's y is [?, 4]; add's a is [?, 16].
    mismatched["nodes"][1] = node(
        "plus",
        "add",
        json!([{"a": from("twice", "doubled")}, {"b": from("twice", "doubled")}]),
        json!([{"data_item": "sum", "alias": "out"}]),
    );
    for (pipeline, words) in [
        (cyclic, "is on a cycle"),
        (unknown, "model \"nope\", which is not in model_config_list"),
    ] {
        let config = write_config(dir.path(), &[pipeline]);
        let finished = common::run_binary(
            &["--config_path", &config.to_string_lossy()],
            Duration::from_secs(30),
        );
        assert_ne!(finished.code, Some(0));
        assert!(finished.stderr.contains(words), "{}", finished.stderr);
    }
    // Shapes are known once the models load: the pipeline is reported, not served.
    let config = write_config(dir.path(), &[mismatched]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = start(&config).await;
        let status = assert_ok(server.get("/v1/models/chain").await);
        let version = &status["model_version_status"][0];
        assert_eq!(version["state"], "LOADING");
        let message = version["status"]["error_message"].as_str().unwrap();
        assert!(
            message
                .contains("node \"plus\" input \"a\" takes FP32 (-1,16), but is fed FP32 (-1,4)"),
            "{message}"
        );
        let answer = server
            .post_json("/v2/models/chain/infer", &chain_request([0.0; 4]))
            .await;
        assert_error(&answer, 404, "Pipeline is not ready");
    });
}

/// KServe REST inference on `chain` until told to stop; (requests, failures).
async fn chain_client(server: Arc<TestServer>, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && sent < MAX_REQUESTS {
        sent += 1;
        let answer = server
            .post_json("/v2/models/chain/infer", &chain_request([0.0; 4]))
            .await;
        match answer {
            (200, body) => {
                let y = f32_data(output(&body, "result"));
                if !(y == [1.0; 4] || y == [2.0; 4]) {
                    failures.push(format!("answered {y:?}"));
                }
            }
            (status, body) => failures.push(format!("{status}: {body}")),
        }
    }
    (sent, failures)
}

async fn chain_answer(server: &TestServer) -> Vec<f32> {
    let answer = assert_ok(
        server
            .post_json("/v2/models/chain/infer", &chain_request([0.0; 4]))
            .await,
    );
    f32_data(output(&answer, "result"))
}

#[tokio::test]
async fn a_node_models_new_version_is_used_under_load_and_config_edits_add_and_remove_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[]);
    let server = Arc::new(start(&config).await);
    let (status, _) = server.get("/v2/models/chain").await;
    assert_eq!(status, 404);

    // Added by a config edit.
    write_config(dir.path(), &[chain()]);
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while server.get("/v2/models/chain/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chain_answer(&server).await, [1.0; 4]);

    // Version 2 of the node model appears under load: no request fails,
    // and the pipeline answers with it once it serves.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(chain_client(server.clone(), stop.clone())))
        .collect();
    add_version(&dir.path().join("versioned"), 2);
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while chain_answer(&server).await != [2.0; 4] {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let (sent, failures) = client.await.unwrap();
        assert_eq!(failures, Vec::<String>::new());
        total += sent;
    }
    assert!(total > 0);

    // Removed by a config edit.
    write_config(dir.path(), &[]);
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    while server.get("/v2/models/chain").await.0 != 404 {
        assert!(Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
