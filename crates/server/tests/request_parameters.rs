//! Request parameters reach the core on every KServe transport: a malformed
//! value of a parameter the core reads is refused with a message naming it,
//! well-formed ones (understood or not) are accepted, as Triton does.

mod common;

use std::collections::HashMap;

use common::{TestServer, add_body, assert_error, assert_ok, expected_sum, f32_data, output};
use inferd_server::proto::kserve::infer_parameter::ParameterChoice;
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::*;
use serde_json::json;
use tonic::Code;

const INFER_ADD: &str = "/v2/models/add/infer";

#[tokio::test]
async fn rest_refuses_a_malformed_priority_by_name() {
    let server = TestServer::with_models().await;
    for bad in [json!("high"), json!(-1), json!(1.5), json!(true)] {
        let mut body = add_body();
        body["parameters"] = json!({"priority": bad});
        let answer = server.post_json(INFER_ADD, &body).await;
        assert_error(&answer, 400, "Invalid parameter 'priority'");
    }
    let mut body = add_body();
    body["parameters"] = json!({"timeout": "soon"});
    assert_error(
        &server.post_json(INFER_ADD, &body).await,
        400,
        "Invalid parameter 'timeout'",
    );
    body["parameters"] = json!({"sequence_start": true});
    assert_error(
        &server.post_json(INFER_ADD, &body).await,
        400,
        "Invalid parameter 'sequence_start'",
    );
    body["parameters"] = json!({"priority": [1]});
    assert_error(
        &server.post_json(INFER_ADD, &body).await,
        400,
        "Invalid parameter 'priority'",
    );
}

#[tokio::test]
async fn rest_accepts_well_formed_parameters() {
    let server = TestServer::with_models().await;
    let mut body = add_body();
    body["parameters"] = json!({
        "priority": 1, "timeout": 100000, "sequence_id": "s1", "sequence_start": true,
        "custom": "anything", "scale": 0.5
    });
    body["inputs"][0]["parameters"] = json!({"note": "first"});
    let answer = assert_ok(server.post_json(INFER_ADD, &body).await);
    assert_eq!(f32_data(output(&answer, "sum")), expected_sum());
}

fn parameter(choice: ParameterChoice) -> InferParameter {
    InferParameter {
        parameter_choice: Some(choice),
    }
}

fn grpc_add(parameters: HashMap<String, InferParameter>) -> ModelInferRequest {
    let (a, b) = common::add_inputs();
    let tensor = |name: &str, values: Vec<f32>| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        parameters: Default::default(),
        contents: Some(InferTensorContents {
            fp32_contents: values,
            ..Default::default()
        }),
    };
    ModelInferRequest {
        model_name: "add".into(),
        parameters,
        inputs: vec![tensor("a", a), tensor("b", b)],
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_refuses_a_malformed_priority_by_name() {
    let server = TestServer::with_models().await;
    let mut client = server.grpc_client().await;
    let bad = [
        ParameterChoice::StringParam("high".into()),
        ParameterChoice::Int64Param(-1),
        ParameterChoice::DoubleParam(1.5),
        ParameterChoice::BoolParam(true),
    ];
    for choice in bad {
        let parameters = HashMap::from([("priority".to_string(), parameter(choice))]);
        let status = client.model_infer(grpc_add(parameters)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("Invalid parameter 'priority'"),
            "{}",
            status.message()
        );
    }
    let parameters = HashMap::from([(
        "sequence_id".to_string(),
        parameter(ParameterChoice::DoubleParam(2.0)),
    )]);
    let status = client.model_infer(grpc_add(parameters)).await.unwrap_err();
    assert!(
        status.message().contains("'sequence_id'"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn grpc_accepts_well_formed_parameters() {
    let server = TestServer::with_models().await;
    let mut client = server.grpc_client().await;
    let parameters = HashMap::from([
        (
            "priority".to_string(),
            parameter(ParameterChoice::Uint64Param(2)),
        ),
        (
            "timeout".to_string(),
            parameter(ParameterChoice::Int64Param(5000)),
        ),
        (
            "sequence_id".to_string(),
            parameter(ParameterChoice::Uint64Param(7)),
        ),
        (
            "custom".to_string(),
            parameter(ParameterChoice::StringParam("x".into())),
        ),
    ]);
    let answer = client
        .model_infer(grpc_add(parameters))
        .await
        .unwrap()
        .into_inner();
    let sum = answer.outputs.iter().find(|o| o.name == "sum").unwrap();
    assert_eq!(sum.contents.as_ref().unwrap().fp32_contents, expected_sum());
}
