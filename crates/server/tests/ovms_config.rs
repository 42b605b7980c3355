//! OVMS status endpoints over the wire: `GET /v1/config`,
//! `POST /v1/config/reload`, `GET /v1/models/{m}[/versions/{v}]`.

mod common;

use common::{TestServer, assert_error, models_dir};
use serde_json::{Value, json};

fn available(version: &str) -> Value {
    json!({"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}})
}

fn write_config(path: &std::path::Path, names: &[&str]) {
    let models: Vec<Value> = names
        .iter()
        .map(|n| json!({"config": {"name": n, "base_path": models_dir().join(n)}}))
        .collect();
    std::fs::write(path, json!({"model_config_list": models}).to_string()).expect("write config");
}

async fn post(server: &TestServer, path: &str) -> (u16, Value) {
    let response = server
        .client()
        .post(server.rest_url(path))
        .send()
        .await
        .expect("POST");
    common::split_json(response).await
}

#[tokio::test]
async fn config_lists_every_model_with_its_versions() {
    let server = TestServer::with_models().await;
    let (status, body) = server.get("/v1/config").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["add"],
        json!({"model_version_status": [available("1")]})
    );
    assert_eq!(
        body["versioned"],
        json!({"model_version_status": [available("3"), available("2"), available("1")]})
    );
    assert!(body["identity_bytes"].is_object(), "{body}");
}

#[tokio::test]
async fn model_status_with_and_without_version() {
    let server = TestServer::with_models().await;
    let (status, body) = server.get("/v1/models/versioned").await;
    assert_eq!(status, 200);
    assert_eq!(body["model_version_status"].as_array().unwrap().len(), 3);
    let (status, body) = server.get("/v1/models/versioned/versions/2").await;
    assert_eq!(
        (status, body),
        (200, json!({"model_version_status": [available("2")]}))
    );
    assert_error(
        &server.get("/v1/models/versioned/versions/9").await,
        404,
        "Model with requested version is not found",
    );
    assert_error(
        &server.get("/v1/models/nope").await,
        404,
        "Model with requested name is not found",
    );
}

#[tokio::test]
async fn broken_model_reports_its_load_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("broken/1")).unwrap();
    std::fs::write(dir.path().join("broken/1/model.onnx"), b"not a model").unwrap();
    let config = dir.path().join("config.json");
    let models = json!({"model_config_list": [{"config": {"name": "broken", "base_path": dir.path().join("broken")}}]});
    std::fs::write(&config, models.to_string()).unwrap();
    let server = TestServer::start(&[
        "--config_path",
        config.to_str().unwrap(),
        "--file_system_poll_wait_seconds",
        "0",
    ])
    .await;
    let (status, body) = server.get("/v1/models/broken").await;
    assert_eq!(status, 200);
    let entry = &body["model_version_status"][0];
    assert_eq!(entry["state"], "LOADING", "{body}");
    assert_eq!(entry["status"]["error_code"], "UNKNOWN", "{body}");
    assert!(
        !entry["status"]["error_message"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn reload_applies_config_edits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    write_config(&config, &["add"]);
    let server = TestServer::start(&[
        "--config_path",
        config.to_str().unwrap(),
        "--file_system_poll_wait_seconds",
        "0",
    ])
    .await;

    let (status, body) = post(&server, "/v1/config/reload").await;
    assert_eq!(status, 200, "nothing changed: {body}");
    assert_eq!(
        body["add"],
        json!({"model_version_status": [available("1")]})
    );

    write_config(&config, &["identity_fp32"]);
    let (status, body) = post(&server, "/v1/config/reload").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["identity_fp32"],
        json!({"model_version_status": [available("1")]})
    );
    assert_eq!(
        body["add"]["model_version_status"][0]["state"], "END",
        "{body}"
    );
    let request = json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1.5, -2]}]});
    let (status, answer) = server
        .post_json("/v2/models/identity_fp32/infer", &request)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outputs"][0]["data"], json!([1.5, -2.0]));
    let (status, _) = server
        .post_json("/v2/models/add/infer", &common::add_body())
        .await;
    assert_eq!(status, 404);

    std::fs::write(
        &config,
        b"{\"model_config_list\": [{\"config\": {\"name\": \"x\"}}]}",
    )
    .unwrap();
    let answer = post(&server, "/v1/config/reload").await;
    assert_error(
        &answer,
        400,
        "Config reload failed, the previous configuration is kept",
    );
    let (status, _) = server
        .post_json("/v2/models/identity_fp32/infer", &request)
        .await;
    assert_eq!(status, 200, "the last good config keeps serving");
}

#[tokio::test]
async fn reload_with_a_dangling_version_label_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let versioned = models_dir().join("versioned");
    let with_labels = |labels: Value| {
        json!({"model_config_list": [{"config": {"name": "versioned", "base_path": versioned,
            "model_version_policy": {"all": {}}, "version_labels": labels}}]})
        .to_string()
    };
    std::fs::write(&config, with_labels(json!({"stable": 1}))).unwrap();
    let server = TestServer::start(&[
        "--config_path",
        config.to_str().unwrap(),
        "--file_system_poll_wait_seconds",
        "0",
    ])
    .await;
    let (status, body) = server.get("/v1/models/versioned/labels/stable").await;
    assert_eq!(
        (status, &body["model_version_status"][0]["version"]),
        (200, &json!("1"))
    );

    std::fs::write(&config, with_labels(json!({"stable": 2, "gone": 9}))).unwrap();
    let answer = post(&server, "/v1/config/reload").await;
    assert_error(
        &answer,
        400,
        "Config reload failed, the previous configuration is kept",
    );
    assert!(
        answer.1["error"]
            .as_str()
            .unwrap()
            .contains("\"gone\" points at version 9")
    );
    let (status, body) = server.get("/v1/models/versioned/labels/stable").await;
    assert_eq!(
        (status, &body["model_version_status"][0]["version"]),
        (200, &json!("1")),
        "old labels still apply"
    );

    std::fs::write(&config, with_labels(json!({"stable": 2}))).unwrap();
    let (status, body) = post(&server, "/v1/config/reload").await;
    assert_eq!(status, 200, "labels alone change no version state: {body}");
    let (status, body) = server.get("/v1/models/versioned/labels/stable").await;
    assert_eq!(
        (status, &body["model_version_status"][0]["version"]),
        (200, &json!("2")),
        "new labels apply"
    );
}
