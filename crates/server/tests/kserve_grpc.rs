//! KServe v2 gRPC (and grpc.health.v1) against the `inferd` binary serving `models/config.json`.

mod common;

use bytes::Bytes;
use common::{
    TestServer, add_inputs, expected_diff, expected_sum, f32_bytes, f32_values, length_prefixed,
    split_length_prefixed,
};
use inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use inferd_server::proto::kserve::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use inferd_server::proto::kserve::*;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

type Client = GrpcInferenceServiceClient<Channel>;

async fn connect() -> (TestServer, Client) {
    let server = TestServer::with_models().await;
    let client = server.grpc_client().await;
    (server, client)
}

fn input(
    name: &str,
    datatype: &str,
    shape: &[i64],
    contents: Option<InferTensorContents>,
) -> InferInputTensor {
    InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape: shape.to_vec(),
        parameters: Default::default(),
        contents,
    }
}

fn fp32(values: &[f32]) -> Option<InferTensorContents> {
    Some(InferTensorContents {
        fp32_contents: values.to_vec(),
        ..Default::default()
    })
}

/// `add` with typed FP32 contents for [`add_inputs`].
fn add_typed() -> ModelInferRequest {
    let (a, b) = add_inputs();
    ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![
            input("a", "FP32", &[1, 16], fp32(&a)),
            input("b", "FP32", &[1, 16], fp32(&b)),
        ],
        ..Default::default()
    }
}

/// `add` with raw_input_contents for [`add_inputs`].
fn add_raw() -> ModelInferRequest {
    let (a, b) = add_inputs();
    ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![
            input("a", "FP32", &[1, 16], None),
            input("b", "FP32", &[1, 16], None),
        ],
        raw_input_contents: vec![Bytes::from(f32_bytes(&a)), Bytes::from(f32_bytes(&b))],
        ..Default::default()
    }
}

fn versioned(version: &str, values: &[f32], shape: &[i64]) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "versioned".into(),
        model_version: version.into(),
        inputs: vec![input("x", "FP32", shape, fp32(values))],
        ..Default::default()
    }
}

async fn infer(client: &mut Client, request: ModelInferRequest) -> ModelInferResponse {
    client
        .model_infer(request)
        .await
        .unwrap_or_else(|s| panic!("ModelInfer failed: {s:?}"))
        .into_inner()
}

/// Sends `request` and expects an error status `code` whose message starts with `prefix`.
async fn refused(client: &mut Client, request: ModelInferRequest, code: Code, prefix: &str) {
    let status = client
        .model_infer(request)
        .await
        .expect_err("an error status");
    assert_eq!(status.code(), code, "{status:?}");
    let message = status.message();
    assert!(
        message.starts_with(prefix),
        "message {message:?} should start with {prefix:?}"
    );
}

/// The typed contents of an output.
#[track_caller]
fn typed(output: &model_infer_response::InferOutputTensor) -> &InferTensorContents {
    output
        .contents
        .as_ref()
        .unwrap_or_else(|| panic!("no typed contents in {output:?}"))
}

fn wanted(name: &str) -> Vec<InferRequestedOutputTensor> {
    vec![InferRequestedOutputTensor {
        name: name.into(),
        parameters: Default::default(),
    }]
}

/// A valid request still succeeds (after an error case).
async fn assert_still_serves(client: &mut Client) {
    let response = infer(client, add_typed()).await;
    let (sum, diff) = (expected_sum(), expected_diff());
    assert_eq!(typed(&response.outputs[0]).fp32_contents, sum);
    assert_eq!(typed(&response.outputs[1]).fp32_contents, diff);
}

#[tokio::test]
async fn server_live_and_ready() {
    let (_server, mut client) = connect().await;
    let answer = client.server_live(ServerLiveRequest {}).await.unwrap();
    assert!(answer.into_inner().live);
    let answer = client.server_ready(ServerReadyRequest {}).await.unwrap();
    assert!(answer.into_inner().ready);
}

#[tokio::test]
async fn server_metadata_names_inferd() {
    let (_server, mut client) = connect().await;
    let metadata = client
        .server_metadata(ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.name, "inferd");
    assert!(!metadata.version.is_empty());
    assert!(
        metadata
            .extensions
            .iter()
            .any(|e| e == "binary_tensor_data"),
        "{metadata:?}"
    );
}

#[tokio::test]
async fn health_check_is_serving() {
    let server = TestServer::with_models().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    for service in ["", "inference.GRPCInferenceService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn model_ready_and_unknown_model_or_version() {
    let (_server, mut client) = connect().await;
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    let answer = client.model_ready(ready("add", "")).await.unwrap();
    assert!(answer.into_inner().ready);
    let answer = client.model_ready(ready("versioned", "2")).await.unwrap();
    assert!(answer.into_inner().ready);
    let unknown = client.model_ready(ready("nope", "")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(unknown.message(), "Model with requested name is not found");
    let unknown = client.model_ready(ready("add", "9")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(
        unknown.message(),
        "Model with requested version is not found"
    );
}

#[tokio::test]
async fn model_metadata_with_and_without_version() {
    let (_server, mut client) = connect().await;
    let request = |name: &str, version: &str| ModelMetadataRequest {
        name: name.into(),
        version: version.into(),
    };
    let add = client
        .model_metadata(request("add", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(add.name, "add");
    assert_eq!(add.versions, vec!["1"]);
    let described =
        |t: &[model_metadata_response::TensorMetadata]| -> Vec<(String, String, Vec<i64>)> {
            t.iter()
                .map(|t| (t.name.clone(), t.datatype.clone(), t.shape.clone()))
                .collect()
        };
    let fp32 = |name: &str| (name.to_string(), "FP32".to_string(), vec![-1, 16]);
    assert_eq!(described(&add.inputs), vec![fp32("a"), fp32("b")]);
    assert_eq!(described(&add.outputs), vec![fp32("sum"), fp32("diff")]);
    assert_eq!(
        client
            .model_metadata(request("add", "1"))
            .await
            .unwrap()
            .into_inner(),
        add
    );

    let versioned = client
        .model_metadata(request("versioned", "2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(versioned.name, "versioned");
    assert_eq!(versioned.versions, vec!["1", "2", "3"]);
    assert_eq!(
        described(&versioned.inputs),
        vec![("x".to_string(), "FP32".to_string(), vec![1, 4])]
    );
    let missing = client
        .model_metadata(request("versioned", "4"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn infer_raw_contents_answers_raw() {
    let (_server, mut client) = connect().await;
    let response = infer(&mut client, add_raw()).await;
    assert_eq!(response.model_name, "add");
    assert_eq!(response.model_version, "1");
    let names: Vec<&str> = response.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["sum", "diff"]);
    for out in &response.outputs {
        assert!(
            out.contents.is_none(),
            "raw request, typed contents set: {out:?}"
        );
        assert_eq!(out.datatype, "FP32");
        assert_eq!(out.shape, vec![1, 16]);
    }
    let (sum, diff) = (expected_sum(), expected_diff());
    assert_eq!(response.raw_output_contents.len(), 2);
    assert_eq!(f32_values(&response.raw_output_contents[0]), sum);
    assert_eq!(f32_values(&response.raw_output_contents[1]), diff);
}

#[tokio::test]
async fn infer_typed_contents_answers_typed() {
    let (_server, mut client) = connect().await;
    let response = infer(&mut client, add_typed()).await;
    assert!(
        response.raw_output_contents.is_empty(),
        "typed request, raw answer: {response:?}"
    );
    let (sum, diff) = (expected_sum(), expected_diff());
    assert_eq!(response.outputs[0].name, "sum");
    assert_eq!(typed(&response.outputs[0]).fp32_contents, sum);
    assert_eq!(response.outputs[1].name, "diff");
    assert_eq!(typed(&response.outputs[1]).fp32_contents, diff);
}

#[tokio::test]
async fn requested_outputs_are_filtered() {
    let (_server, mut client) = connect().await;
    for mut request in [add_typed(), add_raw()] {
        let raw = !request.raw_input_contents.is_empty();
        request.outputs = wanted("diff");
        let response = infer(&mut client, request).await;
        assert_eq!(response.outputs.len(), 1);
        assert_eq!(response.outputs[0].name, "diff");
        let values = if raw {
            assert_eq!(response.raw_output_contents.len(), 1);
            f32_values(&response.raw_output_contents[0])
        } else {
            typed(&response.outputs[0]).fp32_contents.clone()
        };
        assert_eq!(values, expected_diff());
    }
}

#[tokio::test]
async fn request_id_is_echoed() {
    let (_server, mut client) = connect().await;
    let mut request = add_typed();
    request.id = "grpc-7".into();
    assert_eq!(infer(&mut client, request).await.id, "grpc-7");
    assert_eq!(infer(&mut client, add_typed()).await.id, "");
}

#[tokio::test]
async fn versioned_routing_adds_the_version() {
    let (_server, mut client) = connect().await;
    for (version, expected) in [("1", 1), ("2", 2), ("3", 3), ("", 3)] {
        let response = infer(
            &mut client,
            versioned(version, &[1.0, 2.0, 3.0, 4.0], &[1, 4]),
        )
        .await;
        assert_eq!(
            response.model_version,
            expected.to_string(),
            "version {version:?}"
        );
        let offset = expected as f32;
        let want: Vec<f32> = [1.0, 2.0, 3.0, 4.0].iter().map(|x| x + offset).collect();
        assert_eq!(
            typed(&response.outputs[0]).fp32_contents,
            want,
            "version {version:?}"
        );
    }
}

#[tokio::test]
async fn bytes_identity_raw() {
    let (_server, mut client) = connect().await;
    // The tract backend takes UTF-8 text only in BYTES tensors.
    let items: [&[u8]; 3] = [b"abc", b"", "\u{0}ż".as_bytes()];
    let request = ModelInferRequest {
        model_name: "identity_bytes".into(),
        inputs: vec![input("input", "BYTES", &[1, 3], None)],
        raw_input_contents: vec![Bytes::from(length_prefixed(&items))],
        ..Default::default()
    };
    let response = infer(&mut client, request).await;
    assert_eq!(response.outputs[0].datatype, "BYTES");
    assert_eq!(response.outputs[0].shape, vec![1, 3]);
    assert!(response.outputs[0].contents.is_none());
    assert_eq!(
        split_length_prefixed(&response.raw_output_contents[0]),
        items.map(<[u8]>::to_vec).to_vec()
    );
}

#[tokio::test]
async fn bytes_identity_typed() {
    let (_server, mut client) = connect().await;
    let items = vec![
        Bytes::from_static(b"abc"),
        Bytes::new(),
        Bytes::from_static("żółw".as_bytes()),
    ];
    let contents = InferTensorContents {
        bytes_contents: items.clone(),
        ..Default::default()
    };
    let request = ModelInferRequest {
        model_name: "identity_bytes".into(),
        inputs: vec![input("input", "BYTES", &[3, 1], Some(contents))],
        ..Default::default()
    };
    let response = infer(&mut client, request).await;
    assert!(response.raw_output_contents.is_empty());
    assert_eq!(response.outputs[0].shape, vec![3, 1]);
    assert_eq!(typed(&response.outputs[0]).bytes_contents, items);
}

#[tokio::test]
async fn fp16_identity_raw() {
    let (_server, mut client) = connect().await;
    let values = [
        half::f16::from_f32(0.5),
        half::f16::from_f32(-2.0),
        half::f16::MAX,
    ];
    let wire: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let request = ModelInferRequest {
        model_name: "identity_fp16".into(),
        inputs: vec![input("input", "FP16", &[1, 3], None)],
        raw_input_contents: vec![Bytes::from(wire.clone())],
        ..Default::default()
    };
    let response = infer(&mut client, request).await;
    assert_eq!(response.outputs[0].datatype, "FP16");
    assert_eq!(response.raw_output_contents, vec![Bytes::from(wire)]);
}

#[tokio::test]
async fn fp16_typed_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let request = ModelInferRequest {
        model_name: "identity_fp16".into(),
        inputs: vec![input("input", "FP16", &[1, 2], fp32(&[0.5, 1.0]))],
        ..Default::default()
    };
    refused(
        &mut client,
        request,
        Code::InvalidArgument,
        "FP16 input input must be sent in raw_input_contents",
    )
    .await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn unknown_model_and_version_are_not_found() {
    let (_server, mut client) = connect().await;
    let mut request = add_typed();
    request.model_name = "nope".into();
    refused(
        &mut client,
        request,
        Code::NotFound,
        "Model with requested name is not found",
    )
    .await;
    let mut request = add_typed();
    request.model_version = "4".into();
    refused(
        &mut client,
        request,
        Code::NotFound,
        "Model with requested version is not found",
    )
    .await;
    let mut request = add_typed();
    request.model_version = "one".into();
    refused(
        &mut client,
        request,
        Code::NotFound,
        "Model with requested version is not found",
    )
    .await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn wrong_shape_and_batch_are_invalid_argument() {
    let (_server, mut client) = connect().await;
    let expected = "Invalid input shape - Expected: (1,4); Actual: (1,5); input name: x";
    refused(
        &mut client,
        versioned("", &[1.0; 5], &[1, 5]),
        Code::InvalidArgument,
        expected,
    )
    .await;
    let expected = "Invalid input batch size - Expected: 1; Actual: 2; input name: x";
    refused(
        &mut client,
        versioned("", &[1.0; 8], &[2, 4]),
        Code::InvalidArgument,
        expected,
    )
    .await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn wrong_datatype_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let mut request = add_typed();
    request.inputs[0].datatype = "INT32".into();
    request.inputs[0].contents = Some(InferTensorContents {
        int_contents: (1..=16).collect(),
        ..Default::default()
    });
    let expected = "Invalid input precision - Expected: FP32; Actual: INT32; input name: a";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    let mut request = add_typed();
    request.inputs[0].datatype = "FP99".into();
    let expected = "Invalid input precision - unknown datatype FP99; input name: a";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn wrong_input_count_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let mut request = add_typed();
    request.inputs.pop();
    let expected = "Invalid number of inputs - Expected: 2; Actual: 1";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    let mut request = add_typed();
    request.inputs[1].name = "c".into();
    let expected = "Missing input with specific name - Required input: b";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn content_size_mismatch_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let mut typed = add_typed();
    typed.inputs[0]
        .contents
        .as_mut()
        .unwrap()
        .fp32_contents
        .pop();
    let expected = "Invalid number of values in tensor proto container - Expected: 16; Actual: 15; input name: a";
    refused(&mut client, typed, Code::InvalidArgument, expected).await;
    let mut raw = add_raw();
    raw.raw_input_contents[0] = raw.raw_input_contents[0].slice(..60);
    let expected = "Invalid content size of tensor proto - Expected: 64 bytes; Actual: 60 bytes; input name: a";
    refused(&mut client, raw, Code::InvalidArgument, expected).await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn raw_input_contents_count_mismatch_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let mut request = add_raw();
    request.raw_input_contents.pop();
    let expected = "raw_input_contents has 1 entries for 2 inputs";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn unknown_requested_output_is_invalid_argument() {
    let (_server, mut client) = connect().await;
    let mut request = add_typed();
    request.outputs = wanted("product");
    let expected = "Invalid output name - Requested output: product is not an output of the model";
    refused(&mut client, request, Code::InvalidArgument, expected).await;
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn message_over_limit_is_refused_and_the_server_keeps_serving() {
    let config = common::config_path();
    let server =
        TestServer::start(&["--config_path", &config, "--max_request_bytes", "1000"]).await;
    let mut client = server.grpc_client().await;
    let request = ModelInferRequest {
        model_name: "identity_fp32".into(),
        inputs: vec![input("input", "FP32", &[1, 500], None)],
        raw_input_contents: vec![Bytes::from(vec![0u8; 2000])],
        ..Default::default()
    };
    let status = client
        .model_infer(request)
        .await
        .expect_err("a message over --max_request_bytes");
    // gRPC's code for a message over the receiver's limit.
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("1000"), "{status:?}");
    assert_still_serves(&mut client).await;
}
