//! Triton's model repository extension over the wire, REST and gRPC:
//! index, load and unload against a config of committed models.

mod common;

use common::{TestServer, assert_error, assert_ok, models_dir};
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::model_repository_parameter::ParameterChoice;
use inferd_server::proto::kserve::repository_index_response::ModelIndex;
use inferd_server::proto::kserve::*;
use serde_json::{Value, json};
use tonic::Code;

/// A server for `add` and `versioned` from a config file in a temp folder
/// (kept alive with the server).
async fn start() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    let models: Vec<Value> = ["add", "versioned"]
        .iter()
        .map(|n| json!({"config": {"name": n, "base_path": models_dir().join(n), "model_version_policy": {"all": {}}}}))
        .collect();
    std::fs::write(&path, json!({"model_config_list": models}).to_string()).expect("config");
    let server = TestServer::start(&[
        "--config_path",
        path.to_str().unwrap(),
        "--file_system_poll_wait_seconds",
        "0",
    ])
    .await;
    (server, dir)
}

fn entry(name: &str, version: &str, state: &str) -> Value {
    json!({"name": name, "version": version, "state": state, "reason": ""})
}

fn add_infer_body() -> Value {
    let a: Vec<f32> = (0..16).map(|i| i as f32).collect();
    json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": a},
    ]})
}

async fn post(server: &TestServer, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = server.client().post(server.rest_url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::split_json(request.send().await.expect("POST")).await
}

#[tokio::test]
async fn rest_index_lists_every_version_ready() {
    let (server, _dir) = start().await;
    let index = assert_ok(post(&server, "/v2/repository/index", None).await);
    assert_eq!(
        index,
        json!([
            entry("add", "1", "READY"),
            entry("versioned", "1", "READY"),
            entry("versioned", "2", "READY"),
            entry("versioned", "3", "READY"),
        ])
    );
    let ready = assert_ok(
        post(
            &server,
            "/v2/repository/index",
            Some(json!({"ready": true})),
        )
        .await,
    );
    assert_eq!(ready, index);
    let (_, metadata) = server.get("/v2").await;
    assert!(
        metadata["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("model_repository")),
        "{metadata}"
    );
}

#[tokio::test]
async fn rest_unload_then_load_again() {
    let (server, _dir) = start().await;
    let unload = post(
        &server,
        "/v2/repository/models/add/unload",
        Some(json!({"parameters": {"unload_dependents": false}})),
    )
    .await;
    assert_eq!(unload, (200, json!({})));

    let index = assert_ok(post(&server, "/v2/repository/index", Some(json!({}))).await);
    assert_eq!(index[0], entry("add", "1", "UNAVAILABLE"), "{index}");
    let ready = assert_ok(
        post(
            &server,
            "/v2/repository/index",
            Some(json!({"ready": true})),
        )
        .await,
    );
    assert!(
        ready
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] == "versioned"),
        "{ready}"
    );
    let (status, _) = server.get("/v2/models/add/ready").await;
    assert_ne!(status, 200);
    let (status, body) = server
        .post_json("/v2/models/add/infer", &add_infer_body())
        .await;
    assert_eq!(status, 404, "{body}");
    // The other model keeps serving.
    assert_eq!(server.get("/v2/models/versioned/ready").await.0, 200);

    assert_eq!(
        post(&server, "/v2/repository/models/add/load", None).await,
        (200, json!({}))
    );
    let index = assert_ok(post(&server, "/v2/repository/index", None).await);
    assert_eq!(index[0], entry("add", "1", "READY"), "{index}");
    assert_eq!(server.get("/v2/models/add/ready").await.0, 200);
    let answer = assert_ok(
        server
            .post_json("/v2/models/add/infer", &add_infer_body())
            .await,
    );
    let expected: Vec<f32> = (0..16).map(|i| 2.0 * i as f32).collect();
    assert_eq!(answer["outputs"][0]["data"], json!(expected), "{answer}");
}

#[tokio::test]
async fn rest_load_refusals() {
    let (server, _dir) = start().await;
    assert_error(
        &post(&server, "/v2/repository/models/nope/load", None).await,
        400,
        "Model nope is not in the model configuration",
    );
    assert_error(
        &post(&server, "/v2/repository/models/nope/unload", None).await,
        400,
        "Model nope is not in the model configuration",
    );
    assert_error(
        &post(
            &server,
            "/v2/repository/models/add/load",
            Some(json!({"parameters": {"config": "{\"bogus\": 1}"}})),
        )
        .await,
        400,
        "parameter 'config' is not a model configuration",
    );
    assert_error(
        &post(
            &server,
            "/v2/repository/models/add/load",
            Some(json!({"parameters": {"file:1/model.onnx": "AAAA"}})),
        )
        .await,
        400,
        "parameter 'file:1/model.onnx' is not supported",
    );
    assert_error(
        &server
            .post_bytes("/v2/repository/index", &[], b"{not json".to_vec())
            .await,
        400,
        "invalid request body",
    );
    // Nothing was unloaded by the refused requests.
    assert_eq!(server.get("/v2/models/add/ready").await.0, 200);
}

fn index_entry(name: &str, version: &str, state: &str) -> ModelIndex {
    ModelIndex {
        name: name.into(),
        version: version.into(),
        state: state.into(),
        reason: String::new(),
    }
}

fn grpc_add_infer() -> ModelInferRequest {
    let values: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let input = |name: &str| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        contents: Some(InferTensorContents {
            fp32_contents: values.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![input("a"), input("b")],
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_index_unload_load() {
    let (server, _dir) = start().await;
    let mut client = server.grpc_client().await;
    let index = client
        .repository_index(RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        index.models,
        vec![
            index_entry("add", "1", "READY"),
            index_entry("versioned", "1", "READY"),
            index_entry("versioned", "2", "READY"),
            index_entry("versioned", "3", "READY"),
        ]
    );

    let mut parameters = std::collections::HashMap::new();
    parameters.insert(
        "unload_dependents".to_string(),
        ModelRepositoryParameter {
            parameter_choice: Some(ParameterChoice::BoolParam(true)),
        },
    );
    client
        .repository_model_unload(RepositoryModelUnloadRequest {
            model_name: "add".into(),
            parameters,
            ..Default::default()
        })
        .await
        .unwrap();
    let index = client
        .repository_index(RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(index.models[0], index_entry("add", "1", "UNAVAILABLE"));
    let ready = client
        .repository_index(RepositoryIndexRequest {
            ready: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ready.models.iter().all(|m| m.name == "versioned"));
    let answer = client
        .model_ready(ModelReadyRequest {
            name: "add".into(),
            version: String::new(),
        })
        .await
        .unwrap();
    assert!(!answer.into_inner().ready);
    let err = client.model_infer(grpc_add_infer()).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    client
        .repository_model_load(RepositoryModelLoadRequest {
            model_name: "add".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let index = client
        .repository_index(RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(index.models[0], index_entry("add", "1", "READY"));
    let answer = client
        .model_ready(ModelReadyRequest {
            name: "add".into(),
            version: String::new(),
        })
        .await
        .unwrap();
    assert!(answer.into_inner().ready);
    let answer = client
        .model_infer(grpc_add_infer())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model_name, "add");
    assert!(!answer.outputs.is_empty());
}

#[tokio::test]
async fn grpc_load_refusals() {
    let (server, _dir) = start().await;
    let mut client = server.grpc_client().await;
    let err = client
        .repository_model_load(RepositoryModelLoadRequest {
            model_name: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        err.message(),
        "Model nope is not in the model configuration"
    );
    let err = client
        .repository_model_unload(RepositoryModelUnloadRequest {
            model_name: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut parameters = std::collections::HashMap::new();
    parameters.insert(
        "config".to_string(),
        ModelRepositoryParameter {
            parameter_choice: Some(ParameterChoice::StringParam("{\"bogus\": 1}".into())),
        },
    );
    let err = client
        .repository_model_load(RepositoryModelLoadRequest {
            model_name: "add".into(),
            parameters,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("parameter 'config' is not a model configuration"),
        "{}",
        err.message()
    );
    let answer = client
        .model_ready(ModelReadyRequest {
            name: "add".into(),
            version: String::new(),
        })
        .await
        .unwrap();
    assert!(answer.into_inner().ready);
}
