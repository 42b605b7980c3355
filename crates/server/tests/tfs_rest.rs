//! TensorFlow Serving REST predict over the wire: row and columnar bodies,
//! named and unnamed inputs, b64 strings, errors, and agreement with KServe.

mod common;

use common::{TestServer, add_body, assert_error};
use serde_json::{Value, json};

const NO_FORMAT: &str = "Invalid JSON structure. Could not detect row or column format";

fn row(offset: f32) -> Vec<f32> {
    (0..16).map(|i| i as f32 + offset).collect()
}

#[tokio::test]
async fn row_format_unnamed_single_input() {
    let server = TestServer::with_models().await;
    let body = json!({"instances": [[1.0, 2.0, 3.0, 4.0]]});
    let (status, answer) = server
        .post_json("/v1/models/versioned/versions/1:predict", &body)
        .await;
    assert_eq!(
        (status, answer),
        (200, json!({"predictions": [[2.0, 3.0, 4.0, 5.0]]}))
    );
    let (status, answer) = server
        .post_json("/v1/models/versioned:predict", &body)
        .await;
    assert_eq!(
        (status, answer),
        (200, json!({"predictions": [[4.0, 5.0, 6.0, 7.0]]})),
        "latest is version 3"
    );
}

#[tokio::test]
async fn row_format_named_inputs_give_one_object_per_instance() {
    let server = TestServer::with_models().await;
    let body =
        json!({"instances": [{"a": row(0.0), "b": row(1.0)}, {"b": row(0.5), "a": row(2.0)}]});
    let (status, answer) = server.post_json("/v1/models/add:predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    let sum0: Vec<f32> = row(0.0).iter().zip(row(1.0)).map(|(a, b)| a + b).collect();
    assert_eq!(predictions[0]["sum"], json!(sum0));
    assert_eq!(predictions[1]["diff"], json!(vec![1.5f32; 16]));
}

#[tokio::test]
async fn columnar_format_named_and_unnamed() {
    let server = TestServer::with_models().await;
    let body = json!({"inputs": {"a": [row(0.0)], "b": [row(1.0)]}});
    let (status, answer) = server.post_json("/v1/models/add:predict", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outputs"]["diff"], json!([vec![-1.0f32; 16]]));
    let (status, answer) = server
        .post_json(
            "/v1/models/identity_fp32:predict",
            &json!({"inputs": [[1.5, -2]]}),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"outputs": [[1.5, -2.0]]})));
}

#[tokio::test]
async fn b64_values_are_bytes() {
    let server = TestServer::with_models().await;
    let body = json!({"instances": [[{"b64": "aGk="}, "yo"]]});
    let (status, answer) = server
        .post_json("/v1/models/identity_bytes:predict", &body)
        .await;
    assert_eq!(
        (status, answer),
        (200, json!({"predictions": [["hi", "yo"]]}))
    );
}

#[tokio::test]
async fn tfs_and_kserve_give_identical_numbers() {
    let server = TestServer::with_models().await;
    let (_, kserve) = server.post_json("/v2/models/add/infer", &add_body()).await;
    let request = add_body();
    let inputs: serde_json::Map<String, Value> = request["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                json!([i["data"].clone()]),
            )
        })
        .collect();
    let (status, tfs) = server
        .post_json("/v1/models/add:predict", &json!({"inputs": inputs}))
        .await;
    assert_eq!(status, 200, "{tfs}");
    for output in kserve["outputs"].as_array().unwrap() {
        let name = output["name"].as_str().unwrap();
        assert_eq!(tfs["outputs"][name][0], output["data"], "{name}");
    }
}

#[tokio::test]
async fn errors() {
    let server = TestServer::with_models().await;
    let both = json!({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]});
    assert_error(
        &server
            .post_json("/v1/models/versioned:predict", &both)
            .await,
        400,
        NO_FORMAT,
    );
    assert_error(
        &server
            .post_json(
                "/v1/models/versioned:predict",
                &json!({"signature_name": "x"}),
            )
            .await,
        400,
        NO_FORMAT,
    );
    assert_error(
        &server
            .post_json("/v1/models/nope:predict", &json!({"instances": [1]}))
            .await,
        404,
        "Model with requested name is not found",
    );
    let wrong_shape = json!({"instances": [[1, 2, 3]]});
    assert_error(
        &server
            .post_json("/v1/models/versioned:predict", &wrong_shape)
            .await,
        400,
        "Invalid input shape",
    );
    let ragged = json!({"inputs": [[1, 2], [3]]});
    assert_error(
        &server
            .post_json("/v1/models/identity_fp32:predict", &ragged)
            .await,
        400,
        "input input: lists of unequal lengths",
    );
    let response = server
        .client()
        .post(server.rest_url("/v1/models/add:predict"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_error(
        &common::split_json(response).await,
        400,
        "Invalid JSON in request body",
    );
    assert_error(
        &server
            .post_json("/v1/models/add:classify", &json!({}))
            .await,
        501,
        "Classify is not supported",
    );
    assert_error(
        &server.post_json("/v1/models/add:explain", &json!({})).await,
        404,
        "Invalid request URL",
    );
    let ok = json!({"instances": [[1.0, 2.0, 3.0, 4.0]]});
    assert_eq!(
        server
            .post_json("/v1/models/versioned:predict", &ok)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn metadata_is_a_serving_default_signature() {
    let server = TestServer::with_models().await;
    let (status, meta) = server.get("/v1/models/versioned/versions/2/metadata").await;
    assert_eq!(status, 200, "{meta}");
    // Protobuf JSON names, as OVMS answers and ovmsclient reads.
    assert_eq!(
        meta["modelSpec"],
        json!({"name": "versioned", "signatureName": "", "version": "2"})
    );
    let map = &meta["metadata"]["signature_def"];
    assert_eq!(
        map["@type"],
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    );
    let signature = &map["signatureDef"]["serving_default"];
    assert_eq!(signature["methodName"], "tensorflow/serving/predict");
    assert_eq!(
        signature["inputs"]["x"],
        json!({"dtype": "DT_FLOAT", "name": "x", "tensorShape": {"dim": [{"size": "1", "name": ""}, {"size": "4", "name": ""}], "unknownRank": false}})
    );
    let (_, latest) = server.get("/v1/models/add/metadata").await;
    let outputs =
        &latest["metadata"]["signature_def"]["signatureDef"]["serving_default"]["outputs"];
    assert_eq!(outputs["sum"]["tensorShape"]["dim"][0]["size"], "-1");
    assert_eq!(latest["modelSpec"]["version"], "1");
    assert_error(
        &server.get("/v1/models/add/versions/7/metadata").await,
        404,
        "Model with requested version is not found",
    );
}

#[tokio::test]
async fn version_labels_address_versions() {
    let server = TestServer::with_models().await;
    let body = json!({"instances": [[1.0, 2.0, 3.0, 4.0]]});
    for (label, offset) in [("stable", 1.0), ("canary", 2.0)] {
        let (status, answer) = server
            .post_json(
                &format!("/v1/models/versioned/labels/{label}:predict"),
                &body,
            )
            .await;
        let expected: Vec<f32> = [1.0, 2.0, 3.0, 4.0].iter().map(|v| v + offset).collect();
        assert_eq!(
            (status, answer),
            (200, json!({"predictions": [expected]})),
            "{label}"
        );
    }
    let (status, answer) = server.get("/v1/models/versioned/labels/canary").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model_version_status"][0]["version"], "2");
    assert_eq!(answer["model_version_status"].as_array().unwrap().len(), 1);
    let (status, answer) = server
        .get("/v1/models/versioned/labels/stable/metadata")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["modelSpec"]["version"], "1");

    let unknown = "Model with requested version label is not found";
    assert_error(
        &server
            .post_json("/v1/models/versioned/labels/beta:predict", &body)
            .await,
        404,
        unknown,
    );
    assert_error(
        &server.get("/v1/models/versioned/labels/beta").await,
        404,
        unknown,
    );
    assert_error(
        &server.get("/v1/models/add/labels/stable/metadata").await,
        404,
        unknown,
    );
}

#[tokio::test]
async fn non_finite_floats_travel_as_tokens() {
    let server = TestServer::with_models().await;
    let body = br#"{"inputs": [[NaN, Infinity, -Infinity, 0.5]]}"#.to_vec();
    let headers = [("content-type", "application/json".to_string())];
    let response = server
        .post_raw("/v1/models/identity_fp32:predict", &headers, body)
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(text, r#"{"outputs":[[NaN,Infinity,-Infinity,0.5]]}"#);
    let body = br#"{"instances": [[NaN, 1]]}"#.to_vec();
    let (status, answer) = server
        .post_bytes("/v1/models/identity_int32:predict", &headers, body)
        .await;
    assert_error(
        &(status, answer),
        400,
        "input input: value \"NaN\" is not a valid INT32",
    );
}
