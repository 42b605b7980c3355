//! Triton's raw binary request over KServe REST: `Inference-Header-Content-Length: 0`
//! and the raw bytes of the model's only input as the whole body.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{TestServer, assert_error, f32_bytes, f32_values, split_length_prefixed};
use serde_json::{Value, json};

const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

fn raw_header() -> [(&'static str, String); 1] {
    [(HEADER_LENGTH, "0".to_string())]
}

/// Splits a binary-extension answer into its JSON header and binary tail.
async fn binary_answer(response: reqwest::Response) -> (Value, Vec<u8>) {
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let length: usize = response.headers()[HEADER_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.bytes().await.unwrap();
    (
        serde_json::from_slice(&body[..length]).expect("JSON header"),
        body[length..].to_vec(),
    )
}

#[tokio::test]
async fn fp32_input_takes_its_shape_from_the_model_and_the_body_size() {
    let server = TestServer::with_models().await;
    let x: Vec<f32> = (0..12).map(|i| i as f32 - 3.5).collect();
    let response = server
        .post_raw("/v2/models/double/infer", &raw_header(), f32_bytes(&x))
        .await;
    let (header, binary) = binary_answer(response).await;
    assert_eq!(header["model_name"], "double");
    assert_eq!(
        header["outputs"],
        json!([{"name": "y", "datatype": "FP32", "shape": [3, 4],
                "parameters": {"binary_data_size": 48}}])
    );
    let doubled: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
    assert_eq!(f32_values(&binary), doubled);

    // A model without a variable dimension takes exactly its size
    // (version 1 of `versioned` adds 1).
    let response = server
        .post_raw(
            "/v2/models/versioned/versions/1/infer",
            &raw_header(),
            f32_bytes(&[1.0, 2.0, 3.0, 4.0]),
        )
        .await;
    let (header, binary) = binary_answer(response).await;
    assert_eq!(header["outputs"][0]["shape"], json!([1, 4]));
    assert_eq!(f32_values(&binary), [2.0, 3.0, 4.0, 5.0]);
}

#[tokio::test]
async fn bytes_input_of_shape_one_is_the_whole_body() {
    let server = TestServer::with_models().await;
    let text = b"raw \x00 body\n".to_vec();
    let response = server
        .post_raw("/v2/models/echo_bytes/infer", &raw_header(), text.clone())
        .await;
    let (header, binary) = binary_answer(response).await;
    let output = &header["outputs"][0];
    assert_eq!(output["name"], "echo");
    assert_eq!(output["datatype"], "BYTES");
    assert_eq!(output["shape"], json!([1]));
    assert_eq!(split_length_prefixed(&binary), vec![text]);
}

#[tokio::test]
async fn ambiguous_raw_requests_are_refused_with_the_reason() {
    let server = TestServer::with_models().await;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "add",
            f32_bytes(&[0.0; 16]),
            "Raw request must only have 1 input to be deduced, but model 'add' has 2 inputs",
        ),
        (
            "identity_fp32",
            f32_bytes(&[0.0; 4]),
            "The shape of the raw input 'input' can not be deduced because there are more than one variable-sized dimension",
        ),
        (
            "identity_bytes",
            b"text".to_vec(),
            "For BYTES datatype raw input 'input', the model must have input shape [1]",
        ),
        (
            "double",
            vec![0; 10],
            "The raw input 'x' has 10 bytes, which is not a whole number of FP32 elements of shape (-1,4)",
        ),
        (
            "versioned",
            f32_bytes(&[0.0; 5]),
            "Invalid content size of tensor proto - Expected: 16 bytes; Actual: 20 bytes; input name: x",
        ),
    ];
    for (model, body, message) in cases {
        let answer = server
            .post_bytes(&format!("/v2/models/{model}/infer"), &raw_header(), body)
            .await;
        assert_error(&answer, 400, message);
    }
    // Nothing else is affected.
    let response = server
        .post_raw(
            "/v2/models/double/infer",
            &raw_header(),
            f32_bytes(&[1.0; 4]),
        )
        .await;
    assert_eq!(binary_answer(response).await.1, f32_bytes(&[2.0; 4]));
}

/// A raw binary request sent with chunked transfer encoding, written by hand
/// on a TCP socket (so nothing but the encoding differs).
#[tokio::test]
async fn chunked_raw_request_is_read_whole() {
    let server = TestServer::with_models().await;
    let port = server.rest_port;
    let x: Vec<f32> = (0..8).map(|i| i as f32).collect();
    let reply = tokio::task::spawn_blocking(move || {
        let body = f32_bytes(&x);
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!(
            "POST /v2/models/double/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             {HEADER_LENGTH}: 0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for chunk in body.chunks(12) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        stream.write_all(&request).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        reply
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let doubled: Vec<f32> = (0..8).map(|i| i as f32 * 2.0).collect();
    assert!(
        reply.ends_with(&f32_bytes(&doubled)),
        "the answer should end with the doubled values: {text}"
    );
    assert!(text.contains(r#""shape":[2,4]"#), "{text}");
}
