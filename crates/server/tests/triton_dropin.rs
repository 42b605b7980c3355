//! A Triton command line with `inferd` in place of `tritonserver`: model
//! repositories with and without `config.pbtxt`, its flags, its control
//! modes, and configurations that contradict the model.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    TestServer, add_body, assert_ok, expected_sum, f32_data, models_dir, output, run_binary,
};
use serde_json::{Value, json};

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

const ADD_CONFIG: &str = r#"
name: "add"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "a", data_type: TYPE_FP32, dims: [ 16 ] },
  { name: "b", data_type: TYPE_FP32, dims: [ 16 ] }
]
output [ { name: "sum", data_type: TYPE_FP32, dims: [ 16 ] } ]
instance_group [ { count: 2, kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
"#;

/// A Triton-layout repository: `add` (config.pbtxt with batching), `plain`
/// (no config.pbtxt) and `versioned` (a version policy only).
fn repository(dir: &Path, add_config: &str) -> PathBuf {
    let repo = dir.join("repo");
    for model in ["add", "plain"] {
        std::fs::create_dir_all(repo.join(model).join("1")).unwrap();
        std::fs::copy(
            models_dir().join("add/1/model.onnx"),
            repo.join(model).join("1/model.onnx"),
        )
        .unwrap();
    }
    std::fs::write(repo.join("add/config.pbtxt"), add_config).unwrap();
    for version in ["1", "2", "3"] {
        let folder = repo.join("versioned").join(version);
        std::fs::create_dir_all(&folder).unwrap();
        let model = models_dir()
            .join("versioned")
            .join(version)
            .join("model.onnx");
        std::fs::copy(model, folder.join("model.onnx")).unwrap();
    }
    std::fs::write(
        repo.join("versioned/config.pbtxt"),
        "version_policy: { specific: { versions: [ 1, 3 ] } }\n",
    )
    .unwrap();
    repo
}

/// A link called `tritonserver` to the binary, in `dir`.
fn triton_program(dir: &Path) -> PathBuf {
    let link = dir.join("tritonserver");
    std::os::unix::fs::symlink(common::BIN, &link).expect("link the binary");
    link
}

async fn index(server: &TestServer) -> Vec<Value> {
    let response = server
        .client()
        .post(server.rest_url("/v2/repository/index"))
        .json(&json!({}))
        .send()
        .await
        .expect("index");
    response
        .json::<Value>()
        .await
        .expect("JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(index: &'a [Value], name: &str, version: &str) -> Option<&'a Value> {
    index
        .iter()
        .find(|e| e["name"] == name && e["version"] == version)
}

#[tokio::test]
async fn a_triton_repository_serves_with_tritons_flags_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    let program = triton_program(dir.path());
    let (metrics_port, _) = common::free_ports();
    let server = TestServer::start_as(
        &program,
        &[
            &format!("--model-repository={}", repo.display()),
            &format!("--metrics-port={metrics_port}"),
            "--metrics-address=127.0.0.1",
            "--model-control-mode=none",
            "--strict-model-config=false",
            "--log-verbose=0",
            "--exit-timeout-secs=10",
            "--allow-metrics=true",
            "--allow-grpc=true",
        ],
    )
    .await;
    let listed = index(&server).await;
    for (name, version) in [
        ("add", "1"),
        ("plain", "1"),
        ("versioned", "1"),
        ("versioned", "3"),
    ] {
        let found =
            entry(&listed, name, version).unwrap_or_else(|| panic!("{name} {version}: {listed:?}"));
        assert_eq!(found["state"], "READY", "{found}");
    }
    assert!(entry(&listed, "versioned", "2").is_none_or(|e| e["state"] != "READY"));
    let (_, config) = server.get("/v2/models/add/config").await;
    assert_eq!(config["max_batch_size"], 8, "{config}");
    assert_eq!(config["instance_group"][0]["count"], 2);
    assert_eq!(config["backend"], "onnxruntime");
    assert_eq!(
        config["dynamic_batching"]["max_queue_delay_microseconds"],
        "100"
    );
    let answer = assert_ok(server.post_json("/v2/models/add/infer", &add_body()).await);
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());
    assert_eq!(server.get("/v2/models/plain/ready").await.0, 200);
    // Triton serves its metrics without being asked.
    assert!(
        server
            .get_text("/metrics")
            .await
            .contains("ovms_requests_success")
    );
}

#[tokio::test]
async fn a_config_that_contradicts_the_model_is_refused_with_tritons_message() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = ADD_CONFIG.replacen("dims: [ 16 ]", "dims: [ 4 ]", 1);
    let repo = repository(dir.path(), &wrong);
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let listed = index(&server).await;
    let add = entry(&listed, "add", "1").expect("add listed");
    assert_ne!(add["state"], "READY");
    let reason = add["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(
            "model 'add', tensor 'a': the model expects 2 dimensions (shape [-1,16]) but the model configuration specifies 2 dimensions (shape [-1,4])"
        ),
        "{add}"
    );
    assert_eq!(entry(&listed, "plain", "1").unwrap()["state"], "READY");
}

#[tokio::test]
async fn explicit_mode_loads_only_the_named_models() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    let server = TestServer::start(&[
        &format!("--model-repository={}", repo.display()),
        "--model-control-mode=explicit",
        "--load-model=plain",
    ])
    .await;
    assert_eq!(server.get("/v2/models/plain/ready").await.0, 200);
    assert_ne!(server.get("/v2/models/add/ready").await.0, 200);
    let loaded = server
        .client()
        .post(server.rest_url("/v2/repository/models/add/load"))
        .json(&json!({}))
        .send()
        .await
        .expect("load");
    assert_eq!(loaded.status(), 200);
    assert_eq!(server.get("/v2/models/add/ready").await.0, 200);

    let missing = run_binary(
        &[
            &format!("--model-repository={}", repo.display()),
            "--model-control-mode=explicit",
            "--load-model=ghost",
            &format!("--http-port={}", common::free_ports().1),
            "--allow-grpc=false",
        ],
        RUN_TIMEOUT,
    );
    assert_ne!(missing.code, Some(0));
    assert!(
        missing.stderr.contains("--load-model ghost: no such model"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn poll_mode_picks_up_a_new_model_beside_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    let server = TestServer::start(&[
        &format!("--model-repository={}", repo.display()),
        "--model-control-mode=poll",
        "--repository-poll-secs=1",
    ])
    .await;
    // add's configuration breaks in the same poll that brings a new model:
    // add keeps its last good configuration, the new model loads.
    std::fs::write(
        repo.join("add/config.pbtxt"),
        format!(
            "{ADD_CONFIG}
bogus_field: 1
"
        ),
    )
    .unwrap();
    let late = repo.join("late/1");
    std::fs::create_dir_all(&late).unwrap();
    std::fs::copy(
        models_dir().join("add/1/model.onnx"),
        late.join("model.onnx"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.get("/v2/models/late/ready").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "late never ready\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = assert_ok(server.post_json("/v2/models/add/infer", &add_body()).await);
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());
    let log = server.log();
    assert!(
        log.contains("the model's last good configuration keeps serving")
            && log.contains("bogus_field"),
        "{log}"
    );
}

#[test]
fn what_has_no_meaning_here_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    let flag = run_binary(
        &[
            &format!("--model-repository={}", repo.display()),
            "--backend-directory=/opt/tritonserver/backends",
        ],
        RUN_TIMEOUT,
    );
    assert_eq!(flag.code, Some(2));
    assert!(
        flag.stderr
            .contains("--backend-directory (a Triton flag) is not supported"),
        "{}",
        flag.stderr
    );
    std::fs::write(repo.join("plain/config.pbtxt"), "backend: \"python\"\n").unwrap();
    let (grpc, http) = common::free_ports();
    let backend = run_binary(
        &[
            &format!("--model-repository={}", repo.display()),
            &format!("--http-port={http}"),
            &format!("--grpc-port={grpc}"),
        ],
        RUN_TIMEOUT,
    );
    assert_ne!(backend.code, Some(0));
    assert!(
        backend
            .stderr
            .contains("model 'plain': backend 'python' is not supported"),
        "{}",
        backend.stderr
    );
}

#[tokio::test]
async fn model_warmup_samples_run_before_the_version_is_available() {
    let dir = tempfile::tempdir().unwrap();
    let warmup = r#"
model_warmup [
  {
    name: "zeros_and_random"
    batch_size: 2
    count: 3
    inputs { key: "a" value: { data_type: TYPE_FP32 dims: [ 16 ] zero_data: true } }
    inputs { key: "b" value: { data_type: TYPE_FP32 dims: [ 16 ] random_data: true } }
  },
  {
    name: "from_files"
    batch_size: 1
    inputs { key: "a" value: { data_type: TYPE_FP32 dims: [ 16 ] input_data_file: "row" } }
    inputs { key: "b" value: { data_type: TYPE_FP32 dims: [ 16 ] input_data_file: "row" } }
  }
]
"#;
    let repo = repository(dir.path(), &format!("{ADD_CONFIG}{warmup}"));
    std::fs::create_dir_all(repo.join("add/warmup")).unwrap();
    std::fs::write(repo.join("add/warmup/row"), common::f32_bytes(&[1.0; 16])).unwrap();
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let (status, stats) = server.get("/v2/models/add/versions/1/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["model_stats"][0]["execution_count"], 4, "{stats}");
    assert!(
        server.log().contains("warmed up with 2 requests"),
        "{}",
        server.log()
    );

    // A sample whose file is missing keeps the version from serving.
    std::fs::remove_file(repo.join("add/warmup/row")).unwrap();
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let listed = index(&server).await;
    let add = entry(&listed, "add", "1").expect("add listed");
    assert_ne!(add["state"], "READY");
    let reason = add["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("model_warmup 'from_files': input"), "{add}");
}

#[tokio::test]
async fn a_load_with_a_config_parameter_serves_that_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    let server = TestServer::start(&[
        &format!("--model-repository={}", repo.display()),
        "--model-control-mode=explicit",
    ])
    .await;
    let load = |config: Value| {
        let body = json!({"parameters": {"config": config.to_string()}});
        let url = server.rest_url("/v2/repository/models/plain/load");
        let client = server.client().clone();
        async move {
            let answer = client.post(url).json(&body).send().await.expect("load");
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let batched = json!({
        "backend": "onnxruntime",
        "max_batch_size": 4,
        "input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [16]}],
        "dynamic_batching": {"max_queue_delay_microseconds": 50},
        "instance_group": [{"count": 3}]
    });
    let (status, body) = load(batched).await;
    assert_eq!(status, 200, "{body}");
    let (_, config) = server.get("/v2/models/plain/config").await;
    assert_eq!(config["max_batch_size"], 4, "{config}");
    assert_eq!(config["backend"], "onnxruntime");
    assert_eq!(config["instance_group"][0]["count"], 3);

    let (status, body) =
        load(json!({"input": [{"name": "a", "data_type": "TYPE_INT64", "dims": [-1, 16]}]})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("configuration expects datatype TYPE_INT64 for input 'a'"),
        "{body}"
    );
    // The failed load kept the version serving its earlier configuration.
    let (_, config) = server.get("/v2/models/plain/config").await;
    assert_eq!(config["max_batch_size"], 4, "{config}");
    let (status, body) = load(json!({"bogus_field": 1})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("bogus_field"),
        "{body}"
    );
}

/// Copies `from` into `to`, folders included.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A Triton repository in `dir` with one model, `name`: version 1 is the
/// ONNX model `source` of models/, with `config` as its config.pbtxt.
fn one_model_repository(dir: &Path, name: &str, source: &str, config: &str) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join(name).join("1")).unwrap();
    std::fs::copy(
        models_dir().join(source).join("1/model.onnx"),
        repo.join(name).join("1/model.onnx"),
    )
    .unwrap();
    std::fs::write(repo.join(name).join("config.pbtxt"), config).unwrap();
    repo
}

#[tokio::test]
async fn a_savedmodel_in_tritons_layout_is_served_through_openvino() {
    if !common::required_backends().iter().any(|b| b == "openvino") {
        eprintln!("OpenVINO not required here: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_tree(
        &models_dir().join("add_savedmodel/1"),
        &repo.join("tfadd/1/model.savedmodel"),
    );
    std::fs::write(
        repo.join("tfadd/config.pbtxt"),
        "platform: \"tensorflow_savedmodel\"\nmax_batch_size: 0\n",
    )
    .unwrap();
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let answer = assert_ok(
        server
            .post_json("/v2/models/tfadd/infer", &add_body())
            .await,
    );
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());
    let (_, config) = server.get("/v2/models/tfadd/config").await;
    assert_eq!(config["backend"], "openvino", "{config}");
}

#[tokio::test]
async fn sequence_batching_keeps_each_sequences_implicit_state() {
    let dir = tempfile::tempdir().unwrap();
    let repo = one_model_repository(
        dir.path(),
        "acc",
        "accumulator",
        r#"
max_batch_size: 0
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  direct { }
  state [ { input_name: "state_in" output_name: "state_out" data_type: TYPE_FP32 dims: [ 1, 4 ]
            initial_state: [ { data_type: TYPE_FP32 dims: [ 1, 4 ] zero_data: true name: "zeros" } ] } ]
}
"#,
    );
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let step = |value: f32, parameters: Value| {
        json!({"parameters": parameters,
               "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": vec![value; 4]}]})
    };
    let sum = |answer: &Value| f32_data(output(answer, "y"))[0];
    let first = assert_ok(
        server
            .post_json(
                "/v2/models/acc/infer",
                &step(1.0, json!({"sequence_id": 42, "sequence_start": true})),
            )
            .await,
    );
    assert_eq!(sum(&first), 1.0);
    let other = assert_ok(
        server
            .post_json(
                "/v2/models/acc/infer",
                &step(10.0, json!({"sequence_id": 43, "sequence_start": true})),
            )
            .await,
    );
    assert_eq!(sum(&other), 10.0);
    let second = assert_ok(
        server
            .post_json(
                "/v2/models/acc/infer",
                &step(2.0, json!({"sequence_id": 42, "sequence_end": true})),
            )
            .await,
    );
    assert_eq!(sum(&second), 3.0);
    let (_, config) = server.get("/v2/models/acc/config").await;
    let sequences = &config["sequence_batching"];
    assert_eq!(
        sequences["max_sequence_idle_microseconds"], "5000000",
        "{config}"
    );
    assert_eq!(sequences["state"][0]["input_name"], "state_in");
    // The sequence ended: its id is unknown now.
    let (status, _) = server
        .post_json(
            "/v2/models/acc/infer",
            &step(2.0, json!({"sequence_id": 42})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn reshape_and_default_model_filename_serve_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let version = repo.join("shaped/1");
    std::fs::create_dir_all(&version).unwrap();
    std::fs::copy(
        models_dir().join("add/1/model.onnx"),
        version.join("adder.onnx"),
    )
    .unwrap();
    // A second ONNX file: without default_model_filename the folder is ambiguous.
    std::fs::copy(
        models_dir().join("versioned/1/model.onnx"),
        version.join("other.onnx"),
    )
    .unwrap();
    std::fs::write(
        repo.join("shaped/config.pbtxt"),
        r#"
max_batch_size: 8
default_model_filename: "adder.onnx"
input [
  { name: "a", data_type: TYPE_FP32, dims: [ 4, 4 ], reshape: { shape: [ 16 ] } },
  { name: "b", data_type: TYPE_FP32, dims: [ 16 ] }
]
output [ { name: "sum", data_type: TYPE_FP32, dims: [ 2, 8 ], reshape: { shape: [ 16 ] } } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
"#,
    )
    .unwrap();
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    let (a, b) = common::add_inputs();
    let body = json!({"inputs": [
        {"name": "a", "shape": [1, 4, 4], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": b}]});
    let answer = assert_ok(server.post_json("/v2/models/shaped/infer", &body).await);
    let sum = output(&answer, "sum");
    assert_eq!(sum["shape"], json!([1, 2, 8]), "{answer}");
    assert_eq!(f32_data(sum), expected_sum());
    // The model's own shape is no longer what clients send.
    let flat = json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": b}]});
    let refused = server.post_json("/v2/models/shaped/infer", &flat).await;
    common::assert_error(&refused, 400, "Invalid input shape");
    let (_, metadata) = server.get("/v2/models/shaped").await;
    let input = &metadata["inputs"].as_array().unwrap()[0];
    assert_eq!(input["shape"], json!([-1, 4, 4]), "{metadata}");
    let (_, config) = server.get("/v2/models/shaped/config").await;
    assert_eq!(config["input"][0]["dims"], json!(["4", "4"]), "{config}");
    assert_eq!(
        config["input"][0]["reshape"]["shape"],
        json!(["16"]),
        "{config}"
    );
    assert_eq!(config["output"][0]["dims"], json!(["2", "8"]), "{config}");
}

#[tokio::test]
async fn control_inputs_receive_the_sequences_signals() {
    let dir = tempfile::tempdir().unwrap();
    let repo = one_model_repository(
        dir.path(),
        "ctl",
        "sequence_controls",
        r#"
max_batch_size: 0
sequence_batching {
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] },
    { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 7 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
  state [ { input_name: "state_in" output_name: "state_out" data_type: TYPE_FP32 dims: [ 1, 4 ] } ]
}
"#,
    );
    let server = TestServer::start(&[&format!("--model-repository={}", repo.display())]).await;
    // Clients send x only: the state and the controls are the server's.
    let (_, metadata) = server.get("/v2/models/ctl").await;
    let inputs: Vec<&Value> = metadata["inputs"].as_array().unwrap().iter().collect();
    assert_eq!(inputs.len(), 1, "{metadata}");
    assert_eq!(inputs[0]["name"], "x");
    let step = |value: f32, parameters: Value| {
        json!({"parameters": parameters,
               "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": vec![value; 4]}]})
    };
    let mut seen = Vec::new();
    for (value, parameters) in [
        (
            1.0,
            json!({"sequence_id": 9000000000u64, "sequence_start": true}),
        ),
        (2.0, json!({"sequence_id": 9000000000u64})),
        (
            3.0,
            json!({"sequence_id": 9000000000u64, "sequence_end": true}),
        ),
    ] {
        let answer = assert_ok(
            server
                .post_json("/v2/models/ctl/infer", &step(value, parameters))
                .await,
        );
        seen.push((
            f32_data(output(&answer, "y"))[0],
            output(&answer, "start_seen")["data"][0].clone(),
            output(&answer, "end_seen")["data"][0].clone(),
            output(&answer, "corrid_seen")["data"][0].clone(),
        ));
    }
    let id = json!(9000000000u64);
    assert_eq!(
        seen,
        [
            (1.0, json!(1.0), json!(0), id.clone()),
            (3.0, json!(0.0), json!(0), id.clone()),
            (6.0, json!(0.0), json!(7), id),
        ]
    );
    let (_, config) = server.get("/v2/models/ctl/config").await;
    let controls = &config["sequence_batching"]["control_input"];
    assert_eq!(controls[1]["name"], "END", "{config}");
    assert_eq!(controls[1]["control"][0]["kind"], "CONTROL_SEQUENCE_END");
    assert_eq!(controls[1]["control"][0]["int32_false_true"], json!([0, 7]));
    assert_eq!(controls[2]["control"][0]["data_type"], "TYPE_UINT64");
}

#[tokio::test]
async fn exit_on_error_false_serves_the_models_that_read() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path(), ADD_CONFIG);
    std::fs::write(repo.join("plain/config.pbtxt"), "backend: \"python\"\n").unwrap();
    let server = TestServer::start(&[
        &format!("--model-repository={}", repo.display()),
        "--exit-on-error=false",
        "--disable-auto-complete-config",
    ])
    .await;
    let answer = assert_ok(server.post_json("/v2/models/add/infer", &add_body()).await);
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());
    let (status, _) = server.get("/v2/models/plain/ready").await;
    assert_eq!(status, 404);
    let log = server.log();
    assert!(
        log.contains("model left out (--exit-on-error=false)")
            && log.contains("backend 'python' is not supported"),
        "{log}"
    );
}
