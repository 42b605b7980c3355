//! A TensorFlow Serving command line with `inferd` in place of
//! `tensorflow_model_server`: the program name's defaults, a text-format
//! `--model_config_file` (policies, labels, live edits), the
//! `--monitoring_config_file` metric names, gRPC on `--grpc_socket_path`,
//! and its flags that have no meaning here refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    TestServer, add_body, assert_ok, expected_sum, f32_data, models_dir, output, run_binary,
};
use inferd_server::proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_server::proto::tensorflow::serving::{ModelSpec, PredictRequest};
use serde_json::{Value, json};

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// A link called `tensorflow_model_server` to the binary, in `dir`.
fn tfs_program(dir: &Path) -> PathBuf {
    let link = dir.join("tensorflow_model_server");
    std::os::unix::fs::symlink(common::BIN, &link).expect("link the binary");
    link
}

fn model_list(dir: &Path, text: &str) -> String {
    let path = dir.join("models.config");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn two_models() -> String {
    let models = models_dir();
    format!(
        r#"# two models, as TF Serving reads them
model_config_list {{
  config {{
    name: 'add'
    base_path: '{add}'
    model_platform: 'tensorflow'
  }}
  config {{
    name: "versioned"
    base_path: "{versioned}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: 'stable' value: 1 }}
    version_labels {{ key: 'canary' value: 2 }}
  }}
}}
"#,
        add = models.join("add").display(),
        versioned = models.join("versioned").display(),
    )
}

fn versions_available(body: &Value) -> Vec<String> {
    body["model_version_status"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["state"] == "AVAILABLE")
        .map(|s| s["version"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Polls `GET path` until `done` holds (bounded).
async fn eventually(server: &TestServer, path: &str, done: impl Fn(u16, &Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = server.get(path).await;
        if done(status, &body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path}: {status} {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_tensorflow_serving_command_line_serves_its_text_format_model_list() {
    let dir = tempfile::tempdir().unwrap();
    let program = tfs_program(dir.path());
    let config = model_list(dir.path(), &two_models());
    let server = TestServer::start_as(
        &program,
        &[
            &format!("--model_config_file={config}"),
            "--model_config_file_poll_wait_seconds=1",
            "--file_system_poll_wait_seconds=1",
            "--enable_batching=false",
            "--rest_api_timeout_in_ms=30000",
            "--rest_api_num_threads=8",
            "--tensorflow_intra_op_parallelism=1",
            "--tensorflow_inter_op_parallelism=1",
            "--flush_filesystem_caches=true",
            "--enable_grpc_healthcheck_service",
            "--saved_model_tags=serve",
        ],
    )
    .await;
    let (status, body) = server.get("/v1/models/versioned").await;
    assert_eq!(status, 200, "{body}");
    let mut versions = versions_available(&body);
    versions.sort();
    assert_eq!(versions, ["1", "2"]);
    let (status, body) = server.get("/v1/models/versioned/labels/canary").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(versions_available(&body), ["2"]);
    let answer = assert_ok(server.post_json("/v2/models/add/infer", &add_body()).await);
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());

    // Editing the file changes the models at the next config poll.
    let edited = two_models()
        .replace("name: 'add'", "name: 'renamed'")
        .replace("versions: 1 versions: 2", "versions: 2")
        .replace("version_labels { key: 'stable' value: 1 }", "");
    std::fs::write(&config, edited).unwrap();
    eventually(&server, "/v1/models/renamed", |status, body| {
        status == 200 && versions_available(body) == ["1"]
    })
    .await;
    eventually(&server, "/v1/models/versioned", |status, body| {
        status == 200 && versions_available(body) == ["2"]
    })
    .await;
    // The model left the list: its version ended (OVMS and TF Serving keep
    // answering its status, with state END).
    let (_, body) = server.get("/v1/models/add").await;
    assert!(versions_available(&body).is_empty(), "{body}");
}

#[tokio::test]
async fn the_program_name_gives_tensorflow_servings_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let program = tfs_program(dir.path());
    let program = program.to_string_lossy();
    let help = run_binary_as(&program, &["--help"]);
    assert!(help.contains("[default: 8500]"), "{help}");
    // --model_base_path alone serves the model as "default".
    let add = format!("--model_base_path={}", models_dir().join("add").display());
    let server = TestServer::start_as(Path::new(&*program), &[&add]).await;
    let (status, body) = server.get("/v1/models/default").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(versions_available(&body), ["1"]);
    // Under its own name the binary keeps OVMS's defaults.
    let help = run_binary(&["--help"], RUN_TIMEOUT).stdout;
    assert!(help.contains("[default: 9178]"), "{help}");
}

fn run_binary_as(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .expect("run the link");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tensorflow_serving_flags_without_a_meaning_are_refused_by_name() {
    let refused = run_binary(
        &["--port=0", "--per_process_gpu_memory_fraction=0.5"],
        RUN_TIMEOUT,
    );
    assert_eq!(refused.code, Some(2));
    assert!(
        refused
            .stderr
            .contains("--per_process_gpu_memory_fraction (a TensorFlow Serving flag) is not supported: inferd serves on the CPU"),
        "{}",
        refused.stderr
    );
    let tags = run_binary(
        &[
            "--saved_model_tags=serve,tpu",
            "--model_name=a",
            "--model_path=/m",
        ],
        RUN_TIMEOUT,
    );
    assert_eq!(tags.code, Some(2));
    assert!(
        tags.stderr.contains("only the \"serve\" tag set"),
        "{}",
        tags.stderr
    );
    let unknown = run_binary(&["--no_such_flag=1"], RUN_TIMEOUT);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.stderr.contains("--no_such_flag"),
        "{}",
        unknown.stderr
    );
}

/// One float in `a` and `b` of `add`, over the TF Serving API.
fn predict_add() -> PredictRequest {
    let tensor = common::tf_float_row(&[1.0; 16]);
    PredictRequest {
        model_spec: Some(ModelSpec {
            name: "add".into(),
            ..Default::default()
        }),
        inputs: [("a".to_string(), tensor.clone()), ("b".to_string(), tensor)].into(),
        output_filter: vec![],
    }
}

#[tokio::test]
async fn grpc_is_served_on_the_unix_domain_socket_too() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("inferd.sock");
    let add = models_dir().join("add");
    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", add.display()),
        &format!("--grpc_socket_path={}", socket.display()),
    ])
    .await;
    let path = socket.clone();
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}\n{}", socket.display(), server.log()));
    let mut client = PredictionServiceClient::new(channel);
    let answer = client
        .predict(predict_add())
        .await
        .expect("Predict")
        .into_inner();
    let sum = &answer.outputs["sum"];
    assert_eq!(common::f32_values(&sum.tensor_content), vec![2.0; 16]);
    // The TCP port still answers.
    let mut tcp = PredictionServiceClient::new(server.grpc_channel().await);
    assert!(tcp.predict(predict_add()).await.is_ok());
}

#[tokio::test]
async fn the_monitoring_config_serves_tensorflow_servings_metric_names() {
    let dir = tempfile::tempdir().unwrap();
    let monitoring = dir.path().join("monitoring.config");
    std::fs::write(
        &monitoring,
        "prometheus_config {\n  enable: true,\n  path: \"/monitoring/prometheus/metrics\"\n}\n",
    )
    .unwrap();
    let add = models_dir().join("add");
    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", add.display()),
        &format!("--monitoring_config_file={}", monitoring.display()),
    ])
    .await;
    let mut grpc = PredictionServiceClient::new(server.grpc_channel().await);
    grpc.predict(predict_add()).await.expect("Predict");
    let row = vec![1.0f32; 16];
    let predict = json!({"inputs": {"a": [row], "b": [row]}});
    assert_eq!(
        server.post_json("/v1/models/add:predict", &predict).await.0,
        200
    );
    let wrong = json!({"inputs": {"a": [row]}});
    assert_eq!(
        server.post_json("/v1/models/add:predict", &wrong).await.0,
        400
    );
    assert_eq!(
        server
            .post_json("/v1/models/ghost:predict", &predict)
            .await
            .0,
        404
    );

    let text = server.get_text("/monitoring/prometheus/metrics").await;
    for line in [
        r#":tensorflow:serving:request_count{model_name="add",status="OK"} 2"#,
        r#":tensorflow:serving:request_count{model_name="add",status="INVALID_ARGUMENT"} 1"#,
        r#":tensorflow:serving:request_latency_count{model_name="add",API="predict",entrypoint="GRPC"} 1"#,
        r#":tensorflow:serving:request_latency_count{model_name="add",API="predict",entrypoint="REST"} 2"#,
        "# TYPE :tensorflow:serving:request_latency histogram",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    if let Some(promtool) = common::promtool() {
        let findings = common::promtool_findings(&promtool, &text);
        assert!(
            findings.parsed,
            "promtool could not parse:\n{}",
            findings.text
        );
    }
}

/// TensorFlow's TFRecord framing of `data` (masked CRC-32C).
fn tf_record(data: &[u8]) -> Vec<u8> {
    fn masked(bytes: &[u8]) -> u32 {
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32;
        crc.rotate_right(15).wrapping_add(0xa282_ead8)
    }
    let length = (data.len() as u64).to_le_bytes();
    let mut out = length.to_vec();
    out.extend(masked(&length).to_le_bytes());
    out.extend(data);
    out.extend(masked(data).to_le_bytes());
    out
}

/// A copy of the `add` model whose version 1 has the warm-up file `records`.
fn add_with_warmup(dir: &Path, records: &[Vec<u8>]) -> PathBuf {
    let base = dir.join("add");
    let version = base.join("1");
    std::fs::create_dir_all(version.join("assets.extra")).unwrap();
    std::fs::copy(
        models_dir().join("add/1/model.onnx"),
        version.join("model.onnx"),
    )
    .unwrap();
    let file: Vec<u8> = records.iter().flat_map(|r| tf_record(r)).collect();
    std::fs::write(
        version.join("assets.extra/tf_serving_warmup_requests"),
        file,
    )
    .unwrap();
    base
}

fn predict_log(request: PredictRequest) -> Vec<u8> {
    use inferd_server::proto::tensorflow::serving::prediction_log::LogType;
    use inferd_server::proto::tensorflow::serving::{PredictLog, PredictionLog};
    use prost::Message;
    PredictionLog {
        log_metadata: None,
        log_type: Some(LogType::PredictLog(PredictLog {
            request: Some(request),
            response: None,
        })),
    }
    .encode_to_vec()
}

/// Executions the version has run, from the statistics extension.
async fn executions(server: &TestServer) -> u64 {
    let (status, body) = server.get("/v2/models/add/versions/1/stats").await;
    assert_eq!(status, 200, "{body}");
    body["model_stats"][0]["execution_count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no execution_count: {body}"))
}

#[tokio::test]
async fn warmup_records_run_before_the_version_is_available() {
    let dir = tempfile::tempdir().unwrap();
    let base = add_with_warmup(
        dir.path(),
        &[predict_log(predict_add()), predict_log(predict_add())],
    );
    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", base.display()),
        "--num_request_iterations_for_warmup=3",
    ])
    .await;
    assert_eq!(executions(&server).await, 6, "{}", server.log());
    assert!(
        server.log().contains("warmed up with 2 requests"),
        "{}",
        server.log()
    );
    drop(server);

    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", base.display()),
        "--enable_model_warmup=false",
    ])
    .await;
    assert_eq!(executions(&server).await, 0);
}

#[tokio::test]
async fn a_failing_warmup_keeps_the_version_from_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = predict_add();
    wrong.inputs.remove("b");
    let base = add_with_warmup(
        dir.path(),
        &[predict_log(predict_add()), predict_log(wrong)],
    );
    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", base.display()),
    ])
    .await;
    let (status, body) = server.get("/v1/models/add").await;
    assert_eq!(status, 200, "{body}");
    let state = &body["model_version_status"][0];
    assert_eq!(state["state"], "LOADING", "{body}");
    let message = state["status"]["error_message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("warm-up request 2 of 2 failed"), "{body}");

    let corrupt = tempfile::tempdir().unwrap();
    let base = add_with_warmup(corrupt.path(), &[predict_log(predict_add())]);
    let file = base.join("1/assets.extra/tf_serving_warmup_requests");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let server = TestServer::start(&[
        "--model_name=add",
        &format!("--model_base_path={}", base.display()),
    ])
    .await;
    let (_, body) = server.get("/v1/models/add").await;
    let message = body["model_version_status"][0]["status"]["error_message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("record 1: the data's checksum does not match"),
        "{body}"
    );
}

#[tokio::test]
async fn classify_and_regress_are_refused_with_the_reason() {
    use inferd_server::proto::tensorflow::serving::{ClassificationRequest, RegressionRequest};
    let server = TestServer::with_models().await;
    let mut client = PredictionServiceClient::new(server.grpc_channel().await);
    let spec = Some(ModelSpec {
        name: "add".into(),
        ..Default::default()
    });
    let refused = client
        .classify(ClassificationRequest {
            model_spec: spec.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    assert!(
        refused
            .message()
            .starts_with("Classify is not supported: models are served by"),
        "{}",
        refused.message()
    );
    let refused = client
        .regress(RegressionRequest { model_spec: spec })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    let body = json!({"examples": [{"a": 1.0}]});
    let (status, answer) = server.post_json("/v1/models/add:classify", &body).await;
    assert_eq!(status, 501, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Classify is not supported"),
        "{answer}"
    );
    let (status, _) = server
        .post_json("/v1/models/add/versions/1:regress", &body)
        .await;
    assert_eq!(status, 501);
    assert_eq!(
        server.post_json("/v1/models/add:explain", &body).await.0,
        404
    );
}
