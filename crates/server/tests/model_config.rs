//! Triton's model configuration extension (`GET /v2/models/{m}/config`, gRPC
//! `ModelConfig`): the configuration a version is served with, completed
//! from the model.

mod common;

use common::{TestServer, models_dir};
use inferd_server::proto::kserve::ModelConfigRequest;
use serde_json::{Value, json};
use tonic::Code;

async fn batching_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [
        {"config": {"name": "add", "base_path": models_dir().join("add"), "nireq": 3}},
        {"config": {
            "name": "batched", "base_path": models_dir().join("add"),
            "dynamic_batching": {"max_batch_size": 8, "preferred_batch_size": [4, 8],
                                 "max_queue_delay_microseconds": 100}}},
        {"config": {"name": "versioned", "base_path": models_dir().join("versioned"),
                    "model_version_policy": {"specific": {"versions": [1, 3]}}}}
    ]});
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = TestServer::start(&["--config_path", path.to_str().unwrap()]).await;
    (server, dir)
}

fn names(tensors: &Value) -> Vec<&str> {
    tensors
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_config_describes_the_served_model_as_triton_does() {
    let (server, _dir) = batching_server().await;
    let (status, config) = server.get("/v2/models/add/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["name"], "add");
    assert_eq!(config["max_batch_size"], 0);
    assert_eq!(names(&config["input"]), ["a", "b"]);
    assert_eq!(names(&config["output"]), ["sum", "diff"]);
    assert_eq!(config["input"][0]["data_type"], "TYPE_FP32");
    assert_eq!(config["input"][0]["dims"], json!(["-1", "16"]));
    assert_eq!(config["instance_group"][0]["kind"], "KIND_CPU");
    assert_eq!(config["instance_group"][0]["count"], 3);
    assert_eq!(
        config["version_policy"],
        json!({"latest": {"num_versions": 1}})
    );

    // With dynamic batching the first dimension is the batch: not in dims.
    let (_, batched) = server.get("/v2/models/batched/config").await;
    assert_eq!(batched["max_batch_size"], 8);
    assert_eq!(batched["input"][0]["dims"], json!(["16"]));
    assert_eq!(
        batched["dynamic_batching"]["preferred_batch_size"],
        json!([4, 8])
    );
    assert_eq!(
        batched["dynamic_batching"]["max_queue_delay_microseconds"],
        "100"
    );

    let (status, versioned) = server.get("/v2/models/versioned/versions/3/config").await;
    assert_eq!(status, 200, "{versioned}");
    assert_eq!(
        versioned["version_policy"],
        json!({"specific": {"versions": ["1", "3"]}})
    );
    assert_eq!(
        server.get("/v2/models/versioned/versions/2/config").await.0,
        404
    );
    assert_eq!(server.get("/v2/models/ghost/config").await.0, 404);

    let (_, metadata) = server.get("/v2").await;
    let extensions = metadata["extensions"].as_array().unwrap();
    assert!(
        extensions.contains(&json!("model_configuration")),
        "{metadata}"
    );
}

#[tokio::test]
async fn grpc_model_config_answers_the_same() {
    let (server, _dir) = batching_server().await;
    let mut client = server.grpc_client().await;
    let config = client
        .model_config(ModelConfigRequest {
            name: "batched".into(),
            version: String::new(),
        })
        .await
        .expect("ModelConfig")
        .into_inner()
        .config
        .expect("a config");
    assert_eq!(config.name, "batched");
    assert_eq!(config.max_batch_size, 8);
    assert_eq!(config.input[1].name, "b");
    assert_eq!(config.input[1].dims, [16]);
    let missing = client
        .model_config(ModelConfigRequest {
            name: "ghost".into(),
            version: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
