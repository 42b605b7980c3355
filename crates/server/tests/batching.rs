//! Dynamic batching over the wire: concurrent requests share engine calls
//! and each gets its own rows; timeouts, cancelled callers, a full queue and
//! priorities behave as Triton's batcher; inputs that disagree on the batch
//! size are refused; TF Serving's batching flags are read or refused.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, assert_error, assert_ok, f32_data, output, run_binary};
use inferd_server::proto::kserve::infer_parameter::ParameterChoice;
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::*;
use serde_json::{Value, json};
use tonic::Code;

/// A config.json serving `models/identity_fp32` (FP32 [rows, cols]) once
/// per `(name, dynamic_batching)` entry, and `add` without batching.
fn config(entries: &[(&str, Value)]) -> tempfile::NamedTempFile {
    let on_any: Vec<(&str, Value, Option<&str>)> =
        entries.iter().map(|(n, b)| (*n, b.clone(), None)).collect();
    config_on(&on_any)
}

/// Like [`config`], each entry on the engine it names (or the fastest).
fn config_on(entries: &[(&str, Value, Option<&str>)]) -> tempfile::NamedTempFile {
    let base = common::models_dir().join("identity_fp32");
    let mut list: Vec<Value> = entries
        .iter()
        .map(|(name, batching, backend)| {
            let mut model = json!({"name": name, "base_path": base, "dynamic_batching": batching});
            if let Some(backend) = backend {
                model["backend"] = json!(backend);
            }
            json!({ "config": model })
        })
        .collect();
    let add = common::models_dir().join("add");
    list.push(json!({"config": {"name": "add", "base_path": add}}));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        json!({ "model_config_list": list }).to_string(),
    )
    .unwrap();
    file
}

async fn serve(entries: &[(&str, Value)]) -> (TestServer, tempfile::NamedTempFile) {
    let file = config(entries);
    let server = TestServer::start(&["--config_path", file.path().to_str().unwrap()]).await;
    (server, file)
}

/// A request of `rows` rows of `cols` columns; row i holds `first + i`.
fn body(first: f32, rows: usize, cols: usize) -> Value {
    let data: Vec<f32> = (0..rows)
        .flat_map(|r| std::iter::repeat_n(first + r as f32, cols))
        .collect();
    json!({"inputs": [{"name": "input", "shape": [rows, cols], "datatype": "FP32", "data": data}]})
}

/// A gRPC request of one row of two zeros to `model`.
fn one_row(model: &str) -> ModelInferRequest {
    ModelInferRequest {
        model_name: model.into(),
        inputs: vec![InferInputTensor {
            name: "input".into(),
            datatype: "FP32".into(),
            shape: vec![1, 2],
            ..Default::default()
        }],
        raw_input_contents: vec![bytes::Bytes::from(vec![0u8; 8])],
        ..Default::default()
    }
}

fn with_parameters(mut body: Value, parameters: Value) -> Value {
    body["parameters"] = parameters;
    body
}

/// POSTs every body to `path` at once; the answers in order.
async fn post_all(server: &TestServer, path: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let request = server.client().post(server.rest_url(path)).json(&body);
            tokio::spawn(async move { common::split_json(request.send().await.unwrap()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Sends a request per `(first, rows, cols)` at once; each answer must be
/// its own request's rows.
async fn send_together_and_check_rows(
    server: &TestServer,
    path: &str,
    requests: &[(f32, usize, usize)],
) {
    let bodies = requests
        .iter()
        .map(|&(first, rows, cols)| body(first, rows, cols))
        .collect();
    let answers = post_all(server, path, bodies).await;
    for (&(first, rows, cols), answer) in requests.iter().zip(answers) {
        let answer = assert_ok(answer);
        let out = output(&answer, "output");
        assert_eq!(out["shape"], json!([rows, cols]), "{path}");
        let expected = f32_data(&body(first, rows, cols)["inputs"][0]);
        assert_eq!(f32_data(out), expected, "{path}");
    }
}

async fn stats(server: &TestServer, model: &str) -> (u64, u64, Value) {
    let answer = assert_ok(server.get(&format!("/v2/models/{model}/stats")).await);
    let s = &answer["model_stats"][0];
    (
        s["inference_count"].as_u64().unwrap(),
        s["execution_count"].as_u64().unwrap(),
        s["batch_stats"].clone(),
    )
}

#[tokio::test]
async fn concurrent_requests_share_engine_calls_and_get_their_own_rows() {
    let (server, _config) = serve(&[(
        "batched",
        json!({"max_batch_size": 8, "max_queue_delay_microseconds": 500000}),
    )])
    .await;
    let path = "/v2/models/batched/infer";
    // 1 + 2 + 3 + 2 rows fill a batch of 8; a 3-column request never joins them.
    let requests = [
        (0.0, 1, 4),
        (10.0, 2, 4),
        (20.0, 3, 4),
        (30.0, 2, 4),
        (40.0, 2, 3),
    ];
    send_together_and_check_rows(&server, path, &requests).await;
    let (inferences, executions, batch_stats) = stats(&server, "batched").await;
    assert_eq!(inferences, 10);
    assert!(executions < 5, "{executions} executions for 5 requests");
    let sizes: Vec<u64> = batch_stats
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_size"].as_u64().unwrap())
        .collect();
    assert!(sizes.iter().any(|&s| s > 3), "batch sizes {sizes:?}");
}

/// Engines the environment says must be present (CI installs them), and
/// tract, which is built in.
fn engines() -> Vec<String> {
    let mut engines = common::required_backends();
    if !engines.iter().any(|e| e == "tract") {
        engines.push("tract".into());
    }
    engines
}

#[tokio::test]
async fn every_engine_batches() {
    let engines = engines();
    let settings = json!({"max_batch_size": 8, "max_queue_delay_microseconds": 500000});
    let entries: Vec<(&str, Value, Option<&str>)> = engines
        .iter()
        .map(|e| (e.as_str(), settings.clone(), Some(e.as_str())))
        .collect();
    let file = config_on(&entries);
    let server = TestServer::start(&["--config_path", file.path().to_str().unwrap()]).await;
    for engine in &engines {
        let path = format!("/v2/models/{engine}/infer");
        let requests = [(0.0, 1, 5), (10.0, 2, 5), (20.0, 3, 5), (30.0, 2, 5)];
        send_together_and_check_rows(&server, &path, &requests).await;
        let (inferences, executions, _) = stats(&server, engine).await;
        assert_eq!(inferences, 8, "{engine}");
        assert!(executions < 4, "{engine}: {executions} executions");
    }
}

#[tokio::test]
async fn inputs_must_agree_on_the_batch_size_with_or_without_batching() {
    let (server, _config) = serve(&[]).await;
    let a: Vec<f32> = vec![1.0; 16];
    let b: Vec<f32> = vec![1.0; 32];
    let request = json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [2, 16], "datatype": "FP32", "data": b},
    ]});
    assert_error(
        &server.post_json("/v2/models/add/infer", &request).await,
        400,
        "Invalid input batch size - Expected: 1 as in input a; Actual: 2; input name: b",
    );
    let tensor = |name: &str, rows: i64| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![rows, 16],
        ..Default::default()
    };
    let raw = |rows: usize| bytes::Bytes::from(vec![0u8; rows * 64]);
    let status = server
        .grpc_client()
        .await
        .model_infer(ModelInferRequest {
            model_name: "add".into(),
            inputs: vec![tensor("a", 2), tensor("b", 1)],
            raw_input_contents: vec![raw(2), raw(1)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("input a"), "{}", status.message());
}

#[tokio::test]
async fn a_request_past_its_timeout_is_refused_and_never_run() {
    let (server, _config) = serve(&[(
        "slow_queue",
        json!({"max_batch_size": 8, "max_queue_delay_microseconds": 5000000}),
    )])
    .await;
    let path = "/v2/models/slow_queue/infer";
    let started = Instant::now();
    let answer = server
        .post_json(
            path,
            &with_parameters(body(1.0, 1, 2), json!({"timeout": 1000})),
        )
        .await;
    assert_error(&answer, 503, "Request timeout expired");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered at the timeout, not the delay"
    );
    let mut grpc = server.grpc_client().await;
    let status = grpc
        .model_infer(ModelInferRequest {
            parameters: [(
                "timeout".to_string(),
                InferParameter {
                    parameter_choice: Some(ParameterChoice::Int64Param(1000)),
                },
            )]
            .into(),
            ..one_row("slow_queue")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "Request timeout expired");
    let (inferences, executions, _) = stats(&server, "slow_queue").await;
    assert_eq!((inferences, executions), (0, 0));
}

#[tokio::test]
async fn a_cancelled_request_leaves_the_queue_and_a_full_queue_refuses() {
    let (server, _config) = serve(&[(
        "one_place",
        json!({"max_batch_size": 8, "max_queue_delay_microseconds": 1000000, "max_queue_size": 1}),
    )])
    .await;
    let path = "/v2/models/one_place/infer";
    // The client gives up after 100 ms, long before the 1 s delay ends.
    let mut grpc = server.grpc_client().await;
    let mut request = tonic::Request::new(one_row("one_place"));
    request.set_timeout(Duration::from_millis(100));
    let status = grpc.model_infer(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
    // Its place is free again: one request waits, the next is refused at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = body(1.0, 1, 2);
    let waiting = server.post_json(path, &first);
    let refuse = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answer = server.post_json(path, &body(2.0, 1, 2)).await;
        assert_error(&answer, 429, "Too many requests queued for model one_place");
    };
    let (answer, ()) = tokio::join!(waiting, refuse);
    assert_eq!(f32_data(output(&assert_ok(answer), "output")), [1.0, 1.0]);
    // The cancelled request never ran: one execution, one inference.
    let (inferences, executions, _) = stats(&server, "one_place").await;
    assert_eq!((inferences, executions), (1, 1));
}

#[tokio::test]
async fn higher_priority_requests_go_first() {
    // Batches of at most 2 rows; a lone row waits up to 1 s for company.
    let (server, _config) = serve(&[(
        "prioritised",
        json!({"max_batch_size": 2, "max_queue_delay_microseconds": 1000000,
               "priority_levels": 2, "default_priority_level": 2}),
    )])
    .await;
    let path = "/v2/models/prioritised/infer";
    let low = async {
        let answer = server.post_json(path, &body(1.0, 1, 2)).await;
        (assert_ok(answer), Instant::now())
    };
    let high = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let request = with_parameters(body(5.0, 2, 2), json!({"priority": 1}));
        let answer = server.post_json(path, &request).await;
        (assert_ok(answer), Instant::now())
    };
    let ((_, low_done), (high_answer, high_done)) = tokio::join!(low, high);
    assert_eq!(
        f32_data(output(&high_answer, "output")),
        [5.0, 5.0, 6.0, 6.0]
    );
    // The 2-row high-priority request ran at once, ahead of the queued
    // low-priority row, which then waited out its delay alone.
    assert!(high_done < low_done);
    assert!(low_done - high_done > Duration::from_millis(300));
}

#[test]
fn bad_batching_settings_are_refused_naming_the_key() {
    let port = common::free_ports().0.to_string();
    let bad = config(&[(
        "m",
        json!({"max_batch_size": 4, "preferred_batch_size": [8]}),
    )]);
    let finished = run_binary(
        &[
            "--config_path",
            bad.path().to_str().unwrap(),
            "--port",
            &port,
        ],
        Duration::from_secs(20),
    );
    assert_ne!(finished.code, Some(0));
    assert!(
        finished
            .stderr
            .contains("dynamic_batching.preferred_batch_size"),
        "{}",
        finished.stderr
    );
    let params = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        params.path(),
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: -1 }\n",
    )
    .unwrap();
    let model = common::models_dir().join("identity_fp32");
    let finished = run_binary(
        &[
            "--model_name",
            "m",
            "--model_path",
            model.to_str().unwrap(),
            "--port",
            &port,
            "--enable_batching",
            "--batching_parameters_file",
            params.path().to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert_ne!(finished.code, Some(0));
    assert!(
        finished
            .stderr
            .contains("batch_timeout_micros must not be negative"),
        "{}",
        finished.stderr
    );
    let finished = run_binary(
        &[
            "--model_name",
            "m",
            "--model_path",
            model.to_str().unwrap(),
            "--batching_parameters_file",
            params.path().to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(
        finished.stderr.contains("needs --enable_batching"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn tf_serving_flags_batch_every_model_and_per_model_files_win() {
    // A copy of identity_fp32 with its own batching_params.pbtxt.
    let own = tempfile::tempdir().unwrap();
    let version = own.path().join("1");
    std::fs::create_dir(&version).unwrap();
    std::fs::copy(
        common::models_dir().join("identity_fp32/1/model.onnx"),
        version.join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        version.join("batching_params.pbtxt"),
        "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 1000 }\n",
    )
    .unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    let shared = common::models_dir().join("identity_fp32");
    std::fs::write(
        config.path(),
        json!({"model_config_list": [
            {"config": {"name": "shared", "base_path": shared}},
            {"config": {"name": "own", "base_path": own.path()}},
            {"config": {"name": "fixed", "base_path": common::models_dir().join("versioned")}},
        ]})
        .to_string(),
    )
    .unwrap();
    let params = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        params.path(),
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 200000 }\n",
    )
    .unwrap();
    let server = TestServer::start(&[
        "--config_path",
        config.path().to_str().unwrap(),
        "--enable_batching",
        "--batching_parameters_file",
        params.path().to_str().unwrap(),
        "--enable_per_model_batching_parameters",
        "--metrics_enable",
    ])
    .await;
    // TF Serving's REST predict, four at once: they wait for each other.
    let predict = json!({"instances": [[1.0, 2.0]]});
    let answers = post_all(&server, "/v1/models/shared:predict", vec![predict; 4]).await;
    for answer in answers {
        assert_eq!(assert_ok(answer)["predictions"], json!([[1.0, 2.0]]));
    }
    let (inferences, executions, _) = stats(&server, "shared").await;
    assert_eq!(inferences, 4);
    assert!(executions < 4, "{executions} executions");
    // A request larger than the model's own file allows (4) is refused.
    let answer = server
        .post_json("/v2/models/own/infer", &body(0.0, 5, 2))
        .await;
    assert_error(
        &answer,
        400,
        "inference request batch-size must be <= 4 for 'own'",
    );
    assert_ok(
        server
            .post_json("/v2/models/shared/infer", &body(0.0, 5, 2))
            .await,
    );
    // A model whose first dimension is fixed is served unbatched.
    assert_eq!(server.get("/v2/models/fixed/ready").await.0, 200);
    let text = server.get_text("/metrics").await;
    assert!(
        text.contains(r#"inferd_batch_size_count{name="shared",version="1"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn padding_to_allowed_sizes_and_variable_lengths_over_the_wire() {
    let (server, _config) = serve(&[
        (
            "padded",
            json!({"max_batch_size": 4, "allowed_batch_sizes": [4]}),
        ),
        (
            "ragged",
            json!({"max_batch_size": 8, "max_queue_delay_microseconds": 500000,
                   "preferred_batch_size": [2], "pad_variable_length_inputs": true}),
        ),
    ])
    .await;
    // The engine sees 4 rows; the answer has the request's one.
    let answer = assert_ok(
        server
            .post_json("/v2/models/padded/infer", &body(7.0, 1, 3))
            .await,
    );
    let out = output(&answer, "output");
    assert_eq!(out["shape"], json!([1, 3]));
    assert_eq!(f32_data(out), [7.0, 7.0, 7.0]);
    // Two and three columns share one call, the shorter zero-padded (its
    // answer keeps the padded width, as TF Serving's does).
    let answers = post_all(
        &server,
        "/v2/models/ragged/infer",
        vec![body(1.0, 1, 2), body(2.0, 1, 3)],
    )
    .await;
    let short = assert_ok(answers[0].clone());
    assert_eq!(f32_data(output(&short, "output")), [1.0, 1.0, 0.0]);
    let long = assert_ok(answers[1].clone());
    assert_eq!(f32_data(output(&long, "output")), [2.0, 2.0, 2.0]);
    let (inferences, executions, _) = stats(&server, "ragged").await;
    assert_eq!((inferences, executions), (2, 1));
}
