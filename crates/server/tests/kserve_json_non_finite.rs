//! One rule for non-finite floats in KServe REST JSON, both ways: inferd
//! writes `NaN`, `Infinity` and `-Infinity` bare (as TensorFlow Serving and
//! Python's `json` do) and reads them back, bare or quoted, into float inputs.

mod common;

use common::TestServer;

const INFER_IDENTITY: &str = "/v2/models/identity_fp32/infer";

async fn echo(server: &TestServer, data: &str) -> (u16, String) {
    let body = format!(
        r#"{{"inputs": [{{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": {data}}}]}}"#
    );
    let response = server
        .post_raw(
            INFER_IDENTITY,
            &[("content-type", "application/json".into())],
            body.into_bytes(),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn bare_and_quoted_non_finite_tokens_round_trip() {
    let server = TestServer::with_models().await;
    for data in [
        "[NaN, Infinity, -Infinity, 1.5]",
        r#"["NaN", "Infinity", "-Infinity", 1.5]"#,
    ] {
        let (status, text) = echo(&server, data).await;
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains(r#""data":[NaN,Infinity,-Infinity,1.5]"#),
            "{text}"
        );
    }
}

#[tokio::test]
async fn other_words_are_still_refused() {
    let server = TestServer::with_models().await;
    let (status, text) = echo(&server, "[nan, 1, 2, 3]").await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = echo(&server, r#"["one", 1, 2, 3]"#).await;
    assert_eq!(status, 400, "{text}");
}
