//! KServe v2 REST against the `inferd` binary serving `models/config.json`.

mod common;

use std::io::Write;

use common::{
    TestServer, add_body, add_inputs, assert_error, assert_ok, expected_diff, expected_sum,
    f32_bytes, f32_data, f32_values, length_prefixed, output, split_json, split_length_prefixed,
};
use serde_json::{Value, json};

const INFER_ADD: &str = "/v2/models/add/infer";
const INFER_VERSIONED: &str = "/v2/models/versioned/infer";
const HEADER_LENGTH: &str = "Inference-Header-Content-Length";
const NO_MODEL: &str = "Model with requested name is not found";
const NO_VERSION: &str = "Model with requested version is not found";

/// A JSON body for `versioned` (input `x`).
fn x_body(shape: [usize; 2], data: Value) -> Value {
    json!({"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "data": data}]})
}

/// A binary-extension header for `add` with both inputs as 64 bytes of binary data.
fn binary_add_header() -> Value {
    let binary = |name: &str| {
        json!({"name": name, "shape": [1, 16], "datatype": "FP32",
               "parameters": {"binary_data_size": 64}})
    };
    json!({"inputs": [binary("a"), binary("b")]})
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Checks a full `add` answer for [`add_inputs`].
#[track_caller]
fn assert_add_answer(body: &Value) {
    assert_eq!(body["model_name"], "add");
    assert_eq!(body["model_version"], "1");
    let sum = output(body, "sum");
    assert_eq!(sum["datatype"], "FP32");
    assert_eq!(sum["shape"], json!([1, 16]));
    assert_eq!(f32_data(sum), expected_sum());
    assert_eq!(f32_data(output(body, "diff")), expected_diff());
}

/// A valid request still succeeds (after an error case).
async fn assert_still_serves(server: &TestServer) {
    assert_add_answer(&assert_ok(server.post_json(INFER_ADD, &add_body()).await));
}

/// Sends a binary-extension request: JSON header followed by `binary`.
async fn post_binary(
    server: &TestServer,
    path: &str,
    header: &Value,
    binary: &[u8],
) -> reqwest::Response {
    let mut body = serde_json::to_vec(header).unwrap();
    let length = body.len();
    body.extend_from_slice(binary);
    server
        .post_raw(path, &[(HEADER_LENGTH, length.to_string())], body)
        .await
}

/// Splits a binary-extension response into its JSON header and binary tail.
async fn read_binary_response(response: reqwest::Response) -> (Value, Vec<u8>) {
    assert_eq!(response.status(), 200);
    let length = response
        .headers()
        .get(HEADER_LENGTH)
        .expect("Inference-Header-Content-Length");
    let length: usize = length.to_str().unwrap().parse().unwrap();
    // The header and the output buffers go out as separate chunks of a
    // known total: the answer still carries Content-Length.
    let declared = response.content_length().expect("Content-Length");
    let body = response.bytes().await.unwrap();
    assert_eq!(declared, body.len() as u64);
    assert!(
        length <= body.len(),
        "header length {length} > body {}",
        body.len()
    );
    (
        serde_json::from_slice(&body[..length]).expect("JSON header"),
        body[length..].to_vec(),
    )
}

#[tokio::test]
async fn health_live_and_ready() {
    let server = TestServer::with_models().await;
    assert_eq!(server.get("/v2/health/live").await.0, 200);
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
}

#[tokio::test]
async fn server_metadata_names_inferd_and_the_binary_extension() {
    let server = TestServer::with_models().await;
    let body = assert_ok(server.get("/v2").await);
    assert_eq!(body["name"], "inferd");
    assert!(
        body["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{body}"
    );
    let extensions = body["extensions"].as_array().unwrap();
    assert!(extensions.contains(&json!("binary_tensor_data")), "{body}");
}

#[tokio::test]
async fn model_metadata_with_and_without_version() {
    let server = TestServer::with_models().await;
    let add = assert_ok(server.get("/v2/models/add").await);
    assert_eq!(add["name"], "add");
    assert_eq!(add["versions"], json!(["1"]));
    let tensor = |name: &str| json!({"name": name, "datatype": "FP32", "shape": [-1, 16]});
    assert_eq!(add["inputs"], json!([tensor("a"), tensor("b")]));
    assert_eq!(add["outputs"], json!([tensor("sum"), tensor("diff")]));
    assert_eq!(server.get("/v2/models/add/versions/1").await, (200, add));

    let versioned = assert_ok(server.get("/v2/models/versioned/versions/2").await);
    assert_eq!(versioned["name"], "versioned");
    assert_eq!(versioned["versions"], json!(["1", "2", "3"]));
    let tensor = |name: &str| json!([{"name": name, "datatype": "FP32", "shape": [1, 4]}]);
    assert_eq!(versioned["inputs"], tensor("x"));
    assert_eq!(versioned["outputs"], tensor("y"));
    assert_error(
        &server.get("/v2/models/versioned/versions/7").await,
        404,
        NO_VERSION,
    );
}

#[tokio::test]
async fn model_ready_with_and_without_version() {
    let server = TestServer::with_models().await;
    assert_eq!(server.get("/v2/models/add/ready").await.0, 200);
    assert_eq!(server.get("/v2/models/add/versions/1/ready").await.0, 200);
    for version in 1..=3 {
        let path = format!("/v2/models/versioned/versions/{version}/ready");
        assert_eq!(server.get(&path).await.0, 200, "{path}");
    }
    assert_error(&server.get("/v2/models/nope/ready").await, 404, NO_MODEL);
    assert_error(
        &server.get("/v2/models/add/versions/2/ready").await,
        404,
        NO_VERSION,
    );
}

#[tokio::test]
async fn infer_json_flat_and_nested_data() {
    let server = TestServer::with_models().await;
    assert_add_answer(&assert_ok(server.post_json(INFER_ADD, &add_body()).await));
    let (a, b) = add_inputs();
    let nested = json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": [a]},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": [b[..8], b[8..]]},
    ]});
    assert_add_answer(&assert_ok(server.post_json(INFER_ADD, &nested).await));
}

#[tokio::test]
async fn requested_outputs_are_filtered() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["outputs"] = json!([{"name": "diff"}]);
    let body = assert_ok(server.post_json(INFER_ADD, &request).await);
    let outputs = body["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{body}");
    assert_eq!(outputs[0]["name"], "diff");
    assert_eq!(f32_data(&outputs[0]), expected_diff());
}

#[tokio::test]
async fn request_id_is_echoed_and_absent_when_not_sent() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["id"] = json!("request-42");
    assert_eq!(
        assert_ok(server.post_json(INFER_ADD, &request).await)["id"],
        "request-42"
    );
    let body = assert_ok(server.post_json(INFER_ADD, &add_body()).await);
    assert!(body.get("id").is_none(), "no id was sent: {body}");
}

#[tokio::test]
async fn versioned_routing_adds_the_version() {
    let server = TestServer::with_models().await;
    let request = x_body([1, 4], json!([1, 2, 3, 4]));
    let base = "/v2/models/versioned";
    for (path, version) in [
        ("/versions/1", 1),
        ("/versions/2", 2),
        ("/versions/3", 3),
        ("", 3),
    ] {
        let body = assert_ok(
            server
                .post_json(&format!("{base}{path}/infer"), &request)
                .await,
        );
        assert_eq!(body["model_version"], version.to_string(), "{path}");
        let expected: Vec<f32> = (1..=4).map(|x| (x + version) as f32).collect();
        assert_eq!(f32_data(output(&body, "y")), expected, "{path}");
    }
}

#[tokio::test]
async fn binary_inputs_with_header_length() {
    let server = TestServer::with_models().await;
    let (a, b) = add_inputs();
    let binary = [f32_bytes(&a), f32_bytes(&b)].concat();
    let response = post_binary(&server, INFER_ADD, &binary_add_header(), &binary).await;
    assert!(
        response.headers().get(HEADER_LENGTH).is_none(),
        "JSON answer expected"
    );
    assert_add_answer(&assert_ok(split_json(response).await));
}

#[tokio::test]
async fn binary_output_asked_per_output() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["outputs"] =
        json!([{"name": "sum", "parameters": {"binary_data": true}}, {"name": "diff"}]);
    let response = server
        .post_raw(INFER_ADD, &[], serde_json::to_vec(&request).unwrap())
        .await;
    let (header, binary) = read_binary_response(response).await;
    let sum = output(&header, "sum");
    assert_eq!(sum["parameters"]["binary_data_size"], 64, "{header}");
    assert!(sum.get("data").is_none(), "{header}");
    assert_eq!(f32_values(&binary), expected_sum());
    assert_eq!(f32_data(output(&header, "diff")), expected_diff());
}

#[tokio::test]
async fn binary_output_asked_for_all_outputs() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["parameters"] = json!({"binary_data_output": true});
    let response = server
        .post_raw(INFER_ADD, &[], serde_json::to_vec(&request).unwrap())
        .await;
    let (header, binary) = read_binary_response(response).await;
    assert_eq!(binary.len(), 128);
    let mut offset = 0;
    let mut values = std::collections::HashMap::new();
    for tensor in header["outputs"].as_array().unwrap() {
        assert!(tensor.get("data").is_none(), "{header}");
        let size = tensor["parameters"]["binary_data_size"]
            .as_u64()
            .expect("binary_data_size");
        let blob = &binary[offset..offset + size as usize];
        values.insert(
            tensor["name"].as_str().unwrap().to_string(),
            f32_values(blob),
        );
        offset += size as usize;
    }
    assert_eq!(offset, binary.len());
    assert_eq!(values["sum"], expected_sum());
    assert_eq!(values["diff"], expected_diff());
}

#[tokio::test]
async fn mixed_json_and_binary_inputs() {
    let server = TestServer::with_models().await;
    let (a, b) = add_inputs();
    let mut header = binary_add_header();
    header["inputs"][0] = json!({"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a});
    let response = post_binary(&server, INFER_ADD, &header, &f32_bytes(&b)).await;
    assert_add_answer(&assert_ok(split_json(response).await));
}

#[tokio::test]
async fn bytes_identity_over_json() {
    let server = TestServer::with_models().await;
    let data = json!(["ab", "", "żółw"]);
    let input = json!({"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": data});
    let request = json!({"inputs": [input]});
    let body = assert_ok(
        server
            .post_json("/v2/models/identity_bytes/infer", &request)
            .await,
    );
    let out = output(&body, "output");
    assert_eq!(out["datatype"], "BYTES");
    assert_eq!(out["shape"], json!([1, 3]));
    assert_eq!(out["data"], data);
}

#[tokio::test]
async fn bytes_identity_over_binary() {
    let server = TestServer::with_models().await;
    let items: [&[u8]; 3] = [b"hello", b"", b"\x00\x01zz"];
    let wire = length_prefixed(&items);
    let size = json!({"binary_data_size": wire.len()});
    let header = json!({
        "inputs": [{"name": "input", "shape": [3, 1], "datatype": "BYTES", "parameters": size}],
        "outputs": [{"name": "output", "parameters": {"binary_data": true}}],
    });
    let response = post_binary(&server, "/v2/models/identity_bytes/infer", &header, &wire).await;
    let (header, binary) = read_binary_response(response).await;
    let out = output(&header, "output");
    assert_eq!(out["shape"], json!([3, 1]));
    assert_eq!(out["parameters"]["binary_data_size"], wire.len());
    assert_eq!(split_length_prefixed(&binary), items.map(<[u8]>::to_vec));
}

/// Sends `data` to `identity_<suffix>` as JSON and expects it back unchanged.
async fn json_identity(suffix: &str, datatype: &str, data: Value) {
    let server = TestServer::with_models().await;
    let count = data.as_array().unwrap().len();
    let input = json!({"name": "input", "shape": [1, count], "datatype": datatype, "data": data});
    let path = format!("/v2/models/identity_{suffix}/infer");
    let body = assert_ok(server.post_json(&path, &json!({"inputs": [input]})).await);
    let out = output(&body, "output");
    assert_eq!(out["datatype"], datatype);
    assert_eq!(out["shape"], json!([1, count]));
    assert_eq!(out["data"], data);
}

#[tokio::test]
async fn bool_identity_over_json() {
    json_identity("bool", "BOOL", json!([true, false, true])).await;
}

#[tokio::test]
async fn int64_identity_over_json() {
    json_identity("int64", "INT64", json!([i64::MIN, -1, 0, 1, i64::MAX])).await;
}

#[tokio::test]
async fn uint8_identity_over_json() {
    json_identity("uint8", "UINT8", json!([0, 1, 128, 255])).await;
}

#[tokio::test]
async fn fp64_identity_over_json() {
    json_identity("fp64", "FP64", json!([-1.5, 0.0, 1e300, 0.1])).await;
}

#[tokio::test]
async fn gzip_compressed_request_body() {
    let server = TestServer::with_models().await;
    let gzipped = gzip(&serde_json::to_vec(&add_body()).unwrap());
    let headers = [
        ("Content-Encoding", "gzip".to_string()),
        ("Content-Type", "application/json".to_string()),
    ];
    assert_add_answer(&assert_ok(
        server.post_bytes(INFER_ADD, &headers, gzipped).await,
    ));
}

// ---- errors: each checks status and message, then that the server still serves ----

#[tokio::test]
async fn unknown_model_is_404() {
    let server = TestServer::with_models().await;
    assert_error(
        &server.post_json("/v2/models/nope/infer", &add_body()).await,
        404,
        NO_MODEL,
    );
    assert_error(&server.get("/v2/models/nope").await, 404, NO_MODEL);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn unknown_version_is_404() {
    let server = TestServer::with_models().await;
    let answer = server
        .post_json("/v2/models/add/versions/5/infer", &add_body())
        .await;
    assert_error(&answer, 404, NO_VERSION);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn non_numeric_version_is_404() {
    let server = TestServer::with_models().await;
    let answer = server
        .post_json("/v2/models/add/versions/latest/infer", &add_body())
        .await;
    assert_error(&answer, 404, NO_VERSION);
    assert_error(
        &server.get("/v2/models/add/versions/abc").await,
        404,
        NO_VERSION,
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn wrong_shape_is_400() {
    let server = TestServer::with_models().await;
    let answer = server
        .post_json(INFER_VERSIONED, &x_body([1, 5], json!([1, 2, 3, 4, 5])))
        .await;
    let expected = "Invalid input shape - Expected: (1,4); Actual: (1,5); input name: x";
    assert_error(&answer, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn wrong_batch_is_400() {
    let server = TestServer::with_models().await;
    let answer = server
        .post_json(INFER_VERSIONED, &x_body([2, 4], json!(vec![0.0f32; 8])))
        .await;
    let expected = "Invalid input batch size - Expected: 1; Actual: 2; input name: x";
    assert_error(&answer, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn wrong_datatype_is_400() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["inputs"][0]["datatype"] = json!("INT32");
    request["inputs"][0]["data"] = json!((1..=16).collect::<Vec<i32>>());
    let expected = "Invalid input precision - Expected: FP32; Actual: INT32; input name: a";
    assert_error(&server.post_json(INFER_ADD, &request).await, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn missing_input_is_400() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["inputs"].as_array_mut().unwrap().pop();
    let expected = "Invalid number of inputs - Expected: 2; Actual: 1";
    assert_error(&server.post_json(INFER_ADD, &request).await, 400, expected);
    let mut renamed = add_body();
    renamed["inputs"][1]["name"] = json!("c");
    let expected = "Missing input with specific name - Required input: b";
    assert_error(&server.post_json(INFER_ADD, &renamed).await, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn json_value_count_mismatch_is_400() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["inputs"][0]["data"].as_array_mut().unwrap().pop();
    let expected = "Invalid number of values in tensor proto container - Expected: 16; Actual: 15; \
                    input name: a";
    assert_error(&server.post_json(INFER_ADD, &request).await, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let server = TestServer::with_models().await;
    for body in [&b"{\"inputs\": ["[..], b"{\"inputs\": 7}", b"not json"] {
        let answer = server.post_bytes(INFER_ADD, &[], body.to_vec()).await;
        assert_error(&answer, 400, "Invalid JSON in request body");
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn unknown_datatype_is_400() {
    let server = TestServer::with_models().await;
    let mut request = add_body();
    request["inputs"][0]["datatype"] = json!("FP99");
    let expected = "Invalid input precision - unknown datatype FP99; input name: a";
    assert_error(&server.post_json(INFER_ADD, &request).await, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn out_of_range_value_is_400() {
    let server = TestServer::with_models().await;
    let input = json!({"name": "input", "shape": [1, 2], "datatype": "UINT8", "data": [1, 300]});
    let request = json!({"inputs": [input]});
    let answer = server
        .post_json("/v2/models/identity_uint8/infer", &request)
        .await;
    assert_error(&answer, 400, "Invalid data of input input (UINT8)");
    assert!(
        answer.1["error"].as_str().unwrap().contains("300"),
        "{}",
        answer.1
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn binary_header_length_beyond_body_is_400() {
    let server = TestServer::with_models().await;
    let body = serde_json::to_vec(&add_body()).unwrap();
    let (length, claimed) = (body.len(), body.len() + 10);
    let answer = server
        .post_bytes(INFER_ADD, &[(HEADER_LENGTH, claimed.to_string())], body)
        .await;
    let expected = format!(
        "Inference-Header-Content-Length is {claimed} but the body has only {length} bytes"
    );
    assert_error(&answer, 400, &expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn binary_data_size_beyond_remaining_bytes_is_400() {
    let server = TestServer::with_models().await;
    let (a, b) = add_inputs();
    let short = [f32_bytes(&a), f32_bytes(&b[..15])].concat();
    let answer =
        split_json(post_binary(&server, INFER_ADD, &binary_add_header(), &short).await).await;
    let expected = "binary_data_size of input b is 64 but only 60 bytes remain in the body";
    assert_error(&answer, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn leftover_binary_bytes_are_400() {
    let server = TestServer::with_models().await;
    let (a, b) = add_inputs();
    let long = [f32_bytes(&a), f32_bytes(&b), vec![0; 8]].concat();
    let answer =
        split_json(post_binary(&server, INFER_ADD, &binary_add_header(), &long).await).await;
    let expected = "8 bytes of binary data follow the JSON header but no input claims them";
    assert_error(&answer, 400, expected);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn unknown_url_is_404() {
    let server = TestServer::with_models().await;
    for path in ["/v3", "/v2/models", "/v2/models/add/explain", "/"] {
        let answer = server.get(path).await;
        assert_eq!(
            answer,
            (404, json!({"error": "Invalid request URL"})),
            "{path}"
        );
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn wrong_method_is_405() {
    let server = TestServer::with_models().await;
    assert_error(&server.get(INFER_ADD).await, 405, "Unsupported method");
    let answer = server.post_bytes("/v2/health/ready", &[], Vec::new()).await;
    assert_error(&answer, 405, "Unsupported method");
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn body_over_limit_is_413_and_the_server_keeps_serving() {
    let config = common::config_path();
    let server =
        TestServer::start(&["--config_path", &config, "--max_request_bytes", "1000"]).await;
    let limit = "Request body exceeds the limit of 1000 bytes";
    assert_error(
        &server.post_bytes(INFER_ADD, &[], vec![b' '; 2000]).await,
        413,
        limit,
    );
    // The limit applies to the decompressed body too.
    let gzipped = gzip(&[b' '; 2000]);
    assert!(gzipped.len() < 1000);
    let headers = [("Content-Encoding", "gzip".to_string())];
    assert_error(
        &server.post_bytes(INFER_ADD, &headers, gzipped).await,
        413,
        limit,
    );
    let small = x_body([1, 4], json!([1, 2, 3, 4]));
    let body = assert_ok(
        server
            .post_json("/v2/models/versioned/versions/1/infer", &small)
            .await,
    );
    assert_eq!(f32_data(output(&body, "y")), vec![2.0, 3.0, 4.0, 5.0]);
}

#[tokio::test]
async fn fp32_value_beyond_range_is_400() {
    let server = TestServer::with_models().await;
    let input = json!({"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1e40]});
    let answer = server
        .post_json(
            "/v2/models/identity_fp32/infer",
            &json!({"inputs": [input]}),
        )
        .await;
    assert_error(&answer, 400, "Invalid data of input input (FP32)");
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn non_finite_json_outputs_use_tfs_tokens() {
    let server = TestServer::with_models().await;
    let big = |name: &str| json!({"name": name, "shape": [1, 16], "datatype": "FP32", "data": vec![3e38f32; 16]});
    let request =
        json!({"inputs": [big("a"), big("b")], "outputs": [{"name": "sum"}, {"name": "diff"}]});
    let response = server
        .client()
        .post(server.rest_url(INFER_ADD))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    // 3e38 + 3e38 overflows to +inf: written as Python's json and TFS write it, never null.
    let infinities = vec!["Infinity"; 16].join(",");
    assert!(text.contains(&format!("\"data\":[{infinities}]")), "{text}");
    assert!(!text.contains("null"), "{text}");
    assert!(
        text.contains(&format!("\"data\":[{}]", vec!["0.0"; 16].join(","))),
        "{text}"
    );
}
