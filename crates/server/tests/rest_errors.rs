//! REST requests a careless or hostile client sends: duplicate outputs, deep
//! JSON, malformed bodies. Each gets a `{"error": ...}` answer and nothing
//! else is affected.

mod common;

use common::{TestServer, add_body, assert_error, assert_ok};
use inferd_server::proto::kserve::ModelInferRequest;
use inferd_server::proto::kserve::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use serde_json::{Value, json};

const INFER_ADD: &str = "/v2/models/add/infer";
const TOO_DEEP: &str = "JSON nesting exceeds the limit of 100 levels";

/// `levels` nested JSON arrays around one number, as text.
fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// A body whose text is `text` (not re-encoded as a JSON string).
async fn post_text(server: &TestServer, path: &str, text: String) -> (u16, Value) {
    server
        .post_bytes(
            path,
            &[("Content-Type", "application/json".into())],
            text.into_bytes(),
        )
        .await
}

async fn assert_still_serves(server: &TestServer) {
    assert_ok(server.post_json(INFER_ADD, &add_body()).await);
}

#[tokio::test]
async fn an_output_asked_for_twice_is_refused_by_name() {
    let server = TestServer::with_models().await;
    let mut body = add_body();
    body["outputs"] = json!([{"name": "diff"}, {"name": "sum"}, {"name": "diff"}]);
    let answer = server.post_json(INFER_ADD, &body).await;
    assert_error(
        &answer,
        400,
        "Invalid output name - Requested output: diff is requested more than once",
    );

    // The same over gRPC.
    let mut client = server.grpc_client().await;
    let input = |name: &str| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        ..Default::default()
    };
    let output = |name: &str| InferRequestedOutputTensor {
        name: name.into(),
        ..Default::default()
    };
    let request = ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![input("a"), input("b")],
        outputs: vec![output("sum"), output("sum")],
        raw_input_contents: vec![vec![0u8; 64].into(), vec![0u8; 64].into()],
        ..Default::default()
    };
    let status = client.model_infer(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "Invalid output name - Requested output: sum is requested more than once"
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn json_nested_past_the_limit_is_refused_on_every_json_route() {
    let server = TestServer::with_models().await;
    let deep = nested(150);
    let kserve = format!(
        r#"{{"inputs": [{{"name": "a", "shape": [1], "datatype": "FP32", "data": {deep}}}]}}"#
    );
    assert_error(&post_text(&server, INFER_ADD, kserve).await, 400, TOO_DEEP);
    let tfs = format!(r#"{{"instances": {deep}}}"#);
    assert_error(
        &post_text(&server, "/v1/models/add:predict", tfs).await,
        400,
        TOO_DEEP,
    );
    let index = format!(r#"{{"ready": {deep}}}"#);
    assert_error(
        &post_text(&server, "/v2/repository/index", index).await,
        400,
        TOO_DEEP,
    );
    // Within the limit, the nesting is read as the shape it describes.
    let ok = nested(90);
    let within = format!(
        r#"{{"inputs": [{{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": {ok}}}]}}"#
    );
    let answer = post_text(&server, "/v2/models/versioned/infer", within).await;
    assert_error(
        &answer,
        400,
        "Invalid number of values in tensor proto container",
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn malformed_bodies_get_json_errors() {
    let server = TestServer::with_models().await;
    for (path, body) in [
        ("/v2/repository/index", "{"),
        ("/v2/repository/index", "[1, 2]"),
        ("/v2/repository/index", "{\"ready\": \"yes\"}"),
        ("/v2/repository/models/add/load", "{\"parameters\": 7}"),
        (INFER_ADD, "not json"),
    ] {
        let answer = post_text(&server, path, body.to_string()).await;
        assert_eq!(answer.0, 400, "{path} {body}: {}", answer.1);
        assert!(answer.1["error"].is_string(), "{path} {body}: {}", answer.1);
    }
    // A body that says it is gzip but is not: the decompression layer's
    // refusal is answered as JSON too.
    let answer = server
        .post_bytes(
            "/v2/repository/index",
            &[("Content-Encoding", "gzip".into())],
            b"definitely not gzip".to_vec(),
        )
        .await;
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert!(answer.1["error"].is_string(), "{}", answer.1);
    assert_still_serves(&server).await;
}
