//! API and admin keys, protected management endpoints, CORS and the
//! declared-size limit, over the wire on both transports.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{TestServer, add_body, assert_error, assert_ok, config_path};
use inferd_server::proto::kserve::*;
use inferd_server::proto::tensorflow::serving::ReloadConfigRequest;
use inferd_server::proto::tensorflow::serving::model_service_client::ModelServiceClient;
use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataValue;

const INFER_ADD: &str = "/v2/models/add/infer";
const UNLOAD_ADD: &str = "/v2/repository/models/add/unload";

/// A server over the committed models with an API key `api-secret` and,
/// when `admin`, an admin key `admin-secret`; `extra` flags too.
async fn keyed_server(admin: bool, extra: &[&str]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api.key");
    std::fs::write(&api, "api-secret\n").unwrap();
    let admin_path = dir.path().join("admin.key");
    std::fs::write(&admin_path, "admin-secret").unwrap();
    let config = config_path();
    let (api, admin_path) = (api.to_string_lossy(), admin_path.to_string_lossy());
    let mut args = vec!["--config_path", &config, "--api_key_file", &api];
    if admin {
        args.extend(["--admin_key_file", &admin_path]);
    }
    args.extend(extra);
    (TestServer::start(&args).await, dir)
}

async fn post_with(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let headers: Vec<(&str, String)> = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
    server
        .post_bytes(path, &headers, serde_json::to_vec(body).unwrap())
        .await
}

#[tokio::test]
async fn rest_api_key_guards_inference_but_not_health() {
    let (server, _keys) = keyed_server(false, &[]).await;
    let body = add_body();
    assert_error(
        &post_with(&server, INFER_ADD, &[], &body).await,
        401,
        "Missing credentials",
    );
    assert_error(
        &post_with(
            &server,
            INFER_ADD,
            &[("authorization", "Bearer nope")],
            &body,
        )
        .await,
        401,
        "Invalid credentials",
    );
    assert_error(
        &post_with(
            &server,
            INFER_ADD,
            &[("authorization", "api-secret")],
            &body,
        )
        .await,
        401,
        "Missing credentials",
    );
    let ok = post_with(
        &server,
        INFER_ADD,
        &[("authorization", "Bearer api-secret")],
        &body,
    )
    .await;
    assert_ok(ok);
    assert_eq!(server.get("/v2/models/add").await.0, 401);
    assert_eq!(server.get("/v2/health/live").await.0, 200);
    assert_eq!(server.get("/v2/health/ready").await.0, 200);
    let refused = server
        .client()
        .get(server.rest_url("/v2/models/add"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers().get("www-authenticate").unwrap(), "Bearer");
    assert!(!server.log().contains("api-secret"), "the key was logged");
}

fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {key}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn grpc_add() -> ModelInferRequest {
    let tensor = |name: &str| model_infer_request::InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        parameters: Default::default(),
        contents: Some(InferTensorContents {
            fp32_contents: vec![1.0; 16],
            ..Default::default()
        }),
    };
    ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![tensor("a"), tensor("b")],
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_api_key_guards_inference_but_not_health() {
    let (server, _keys) = keyed_server(false, &[]).await;
    let mut client = server.grpc_client().await;
    let status = client.model_infer(grpc_add()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().starts_with("Missing credentials"));
    let status = client
        .model_infer(with_key(grpc_add(), "wrong"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    client
        .model_infer(with_key(grpc_add(), "api-secret"))
        .await
        .unwrap();
    let metadata = client
        .model_metadata(ModelMetadataRequest {
            name: "add".into(),
            version: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(metadata.code(), Code::Unauthenticated);
    assert!(
        client
            .server_live(ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
}

#[tokio::test]
async fn management_needs_the_admin_key_on_both_transports() {
    let (server, _keys) = keyed_server(true, &[]).await;
    let api = [("authorization", "Bearer api-secret")];
    let admin = [("authorization", "Bearer admin-secret")];
    for path in ["/v1/config/reload", UNLOAD_ADD, "/v2/repository/index"] {
        assert_error(
            &post_with(&server, path, &[], &json!({})).await,
            401,
            "Missing",
        );
        assert_error(
            &post_with(&server, path, &api, &json!({})).await,
            403,
            "This endpoint needs the admin key",
        );
    }
    // The admin key may also infer.
    assert_ok(post_with(&server, INFER_ADD, &admin, &add_body()).await);
    let mut client = server.grpc_client().await;
    let status = client
        .repository_model_unload(with_key(
            RepositoryModelUnloadRequest {
                model_name: "add".into(),
                ..Default::default()
            },
            "api-secret",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut models = ModelServiceClient::new(server.grpc_channel().await);
    let status = models
        .handle_reload_config_request(ReloadConfigRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Nothing was unloaded by the refused calls; the admin key unloads.
    assert_ok(post_with(&server, INFER_ADD, &api, &add_body()).await);
    client
        .repository_model_unload(with_key(
            RepositoryModelUnloadRequest {
                model_name: "add".into(),
                ..Default::default()
            },
            "admin-secret",
        ))
        .await
        .unwrap();
    assert_eq!(
        post_with(&server, INFER_ADD, &api, &add_body()).await.0,
        404
    );
}

#[tokio::test]
async fn management_can_be_turned_off() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--disable_management_endpoints",
    ])
    .await;
    assert_error(
        &post_with(&server, UNLOAD_ADD, &[], &json!({})).await,
        403,
        "Management endpoints are disabled",
    );
    let mut client = server.grpc_client().await;
    let status = client
        .repository_index(RepositoryIndexRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_ok(server.post_json(INFER_ADD, &add_body()).await);
}

/// Without keys, management stays open, but not to what a web page on
/// another site could send.
#[tokio::test]
async fn management_refuses_what_a_web_page_could_forge() {
    let server = TestServer::with_models().await;
    let (status, _) = server
        .post_bytes(
            UNLOAD_ADD,
            &[("content-type", "text/plain".into())],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 415);
    let (status, _) = server
        .post_bytes(
            UNLOAD_ADD,
            &[
                ("content-type", "application/json".into()),
                ("origin", "http://evil.example".into()),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 403);
    assert_ok(server.post_json(INFER_ADD, &add_body()).await);
}

#[tokio::test]
async fn cors_preflight_and_headers_for_allowed_origins_only() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--allowed_origins",
        "http://app.example",
    ])
    .await;
    let preflight = server
        .client()
        .request(reqwest::Method::OPTIONS, server.rest_url(INFER_ADD))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let headers = preflight.headers();
    assert_eq!(
        headers.get("access-control-allow-origin").unwrap(),
        "http://app.example"
    );
    let methods = headers
        .get("access-control-allow-methods")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let answer = server
        .client()
        .post(server.rest_url(INFER_ADD))
        .header("origin", "http://other.example")
        .json(&add_body())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_arrives() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--max_request_bytes",
        "4096",
    ])
    .await;
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.rest_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Headers only: the promised gigabyte never comes.
    socket
        .write_all(
            b"POST /v2/models/add/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n",
        )
        .unwrap();
    let mut answer = vec![0u8; 512];
    let read = socket.read(&mut answer).expect("answered without the body");
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn refusals_are_counted_in_metrics() {
    let (server, _keys) = keyed_server(false, &["--metrics_enable"]).await;
    assert_eq!(server.post_json(INFER_ADD, &add_body()).await.0, 401);
    let mut client = server.grpc_client().await;
    let _ = client.model_infer(with_key(grpc_add(), "wrong")).await;
    let text = server.get_text("/metrics").await;
    assert!(
        text.contains(
            r#"inferd_requests_refused{interface="REST",reason="missing_credentials"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"inferd_requests_refused{interface="gRPC",reason="invalid_credentials"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn tfs_reload_with_an_empty_list_needs_explicit_metadata() {
    use inferd_server::proto::tensorflow::serving::model_server_config::Config;
    use inferd_server::proto::tensorflow::serving::{ModelConfigList, ModelServerConfig};
    let server = TestServer::with_models().await;
    let empty = || ReloadConfigRequest {
        config: Some(ModelServerConfig {
            config: Some(Config::ModelConfigList(ModelConfigList { config: vec![] })),
        }),
        ..Default::default()
    };
    let mut models = ModelServiceClient::new(server.grpc_channel().await);
    let status = models
        .handle_reload_config_request(empty())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("inferd-allow-empty-model-list"),
        "{status:?}"
    );
    assert_ok(server.post_json(INFER_ADD, &add_body()).await);
    let mut explicit = tonic::Request::new(empty());
    explicit
        .metadata_mut()
        .insert("inferd-allow-empty-model-list", "true".parse().unwrap());
    models.handle_reload_config_request(explicit).await.unwrap();
    assert_eq!(server.post_json(INFER_ADD, &add_body()).await.0, 404);
}

#[tokio::test]
async fn tfs_rest_refuses_a_signature_name_that_is_not_a_string() {
    let server = TestServer::with_models().await;
    let row = vec![1.0f32; 16];
    let body = json!({"signature_name": 7, "instances": [{"a": row, "b": row}]});
    assert_error(
        &server.post_json("/v1/models/add:predict", &body).await,
        400,
        "signature_name must be a string",
    );
}
