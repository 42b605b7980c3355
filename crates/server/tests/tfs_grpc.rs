//! TensorFlow Serving gRPC (`tensorflow.serving.PredictionService` and
//! `ModelService`) against the `inferd` binary, on the KServe gRPC port.

mod common;

use bytes::Bytes;
use common::{TestServer, add_inputs, expected_diff, expected_sum, f32_bytes, f32_values};
use inferd_server::proto::google::protobuf::Int64Value;
use inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::{InferTensorContents, ModelInferRequest};
use inferd_server::proto::tensorflow::serving::file_system_storage_path_source_config as source_config;
use inferd_server::proto::tensorflow::serving::model_server_config::Config;
use inferd_server::proto::tensorflow::serving::model_service_client::ModelServiceClient;
use inferd_server::proto::tensorflow::serving::model_spec::VersionChoice;
use inferd_server::proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_server::proto::tensorflow::serving::*;
use inferd_server::proto::tensorflow::tensor_shape_proto::Dim;
use inferd_server::proto::tensorflow::{DataType, SignatureDef, TensorProto, TensorShapeProto};
use prost::Message;
use serde_json::json;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

type Predictions = PredictionServiceClient<Channel>;
type Models = ModelServiceClient<Channel>;

async fn clients(server: &TestServer) -> (Predictions, Models) {
    let channel = server.grpc_channel().await;
    (
        PredictionServiceClient::new(channel.clone()),
        ModelServiceClient::new(channel),
    )
}

fn spec(name: &str, version: Option<VersionChoice>) -> Option<ModelSpec> {
    Some(ModelSpec {
        name: name.into(),
        version_choice: version,
        signature_name: String::new(),
    })
}

fn version(value: i64) -> Option<VersionChoice> {
    Some(VersionChoice::Version(Int64Value { value }))
}

fn label(name: &str) -> Option<VersionChoice> {
    Some(VersionChoice::VersionLabel(name.into()))
}

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    })
}

fn tensor(dtype: DataType, dims: &[i64]) -> TensorProto {
    TensorProto {
        dtype: dtype as i32,
        tensor_shape: shape(dims),
        ..Default::default()
    }
}

fn floats(dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        float_val: values.to_vec(),
        ..tensor(DataType::DtFloat, dims)
    }
}

fn content(dtype: DataType, dims: &[i64], bytes: Vec<u8>) -> TensorProto {
    TensorProto {
        tensor_content: Bytes::from(bytes),
        ..tensor(dtype, dims)
    }
}

fn predict_request(model: Option<ModelSpec>, inputs: Vec<(&str, TensorProto)>) -> PredictRequest {
    PredictRequest {
        model_spec: model,
        inputs: inputs
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect(),
        output_filter: vec![],
    }
}

/// `add` with [`add_inputs`] packed in `tensor_content`.
fn add_content() -> PredictRequest {
    let (a, b) = add_inputs();
    predict_request(
        spec("add", None),
        vec![
            ("a", content(DataType::DtFloat, &[1, 16], f32_bytes(&a))),
            ("b", content(DataType::DtFloat, &[1, 16], f32_bytes(&b))),
        ],
    )
}

async fn predict(client: &mut Predictions, request: PredictRequest) -> PredictResponse {
    match client.predict(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("Predict failed: {status:?}"),
    }
}

/// Asserts an error status with `code` whose message starts with `prefix`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(answer: Result<T, Status>, code: Code, prefix: &str) {
    let status = answer.expect_err("an error status");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(prefix),
        "message {:?} should start with {prefix:?}",
        status.message()
    );
}

/// The f32 values of an output answered in `tensor_content`.
#[track_caller]
fn output_f32(response: &PredictResponse, name: &str) -> Vec<f32> {
    let output = &response.outputs[name];
    assert_eq!(output.dtype, DataType::DtFloat as i32);
    assert!(output.float_val.is_empty(), "numeric outputs travel packed");
    f32_values(&output.tensor_content)
}

fn dims(proto: &TensorProto) -> Vec<i64> {
    let shape = proto.tensor_shape.as_ref().expect("a shape");
    shape.dim.iter().map(|d| d.size).collect()
}

/// A config.json in a fresh folder: `versioned` (all versions) with
/// `labels`, and `add`; base paths point at the committed models.
fn labelled_config(labels: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let models = common::models_dir();
    let config = json!({"model_config_list": [
        {"config": {"name": "versioned", "base_path": models.join("versioned"),
            "model_version_policy": {"all": {}}, "version_labels": labels}},
        {"config": {"name": "add", "base_path": models.join("add")}},
    ]});
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write config");
    dir
}

async fn start_in(dir: &tempfile::TempDir) -> TestServer {
    let config = dir.path().join("config.json");
    TestServer::start(&["--config_path", config.to_str().unwrap()]).await
}

#[tokio::test]
async fn predict_with_tensor_content() {
    let server = TestServer::with_models().await;
    let (mut client, _) = clients(&server).await;
    let response = predict(&mut client, add_content()).await;
    assert_eq!(output_f32(&response, "sum"), expected_sum());
    assert_eq!(output_f32(&response, "diff"), expected_diff());
    assert_eq!(dims(&response.outputs["sum"]), vec![1, 16]);
    assert_eq!(
        response.model_spec,
        Some(ModelSpec {
            name: "add".into(),
            version_choice: version(1),
            signature_name: "serving_default".into(),
        })
    );
}

#[tokio::test]
async fn predict_with_typed_values() {
    let server = TestServer::with_models().await;
    let (mut client, _) = clients(&server).await;
    let (a, b) = add_inputs();
    let request = predict_request(
        spec("add", None),
        vec![("a", floats(&[1, 16], &a)), ("b", floats(&[1, 16], &b))],
    );
    let response = predict(&mut client, request).await;
    assert_eq!(output_f32(&response, "sum"), expected_sum());

    let cases: Vec<(&str, TensorProto, Vec<u8>)> = vec![
        (
            "identity_int32",
            TensorProto {
                int_val: vec![-7, 1 << 30],
                ..tensor(DataType::DtInt32, &[1, 2])
            },
            [(-7i32).to_le_bytes(), (1i32 << 30).to_le_bytes()].concat(),
        ),
        (
            "identity_int8",
            TensorProto {
                int_val: vec![-128, 127],
                ..tensor(DataType::DtInt8, &[1, 2])
            },
            vec![0x80, 0x7f],
        ),
        (
            "identity_int64",
            TensorProto {
                int64_val: vec![i64::MIN, 3],
                ..tensor(DataType::DtInt64, &[1, 2])
            },
            [i64::MIN.to_le_bytes(), 3i64.to_le_bytes()].concat(),
        ),
        (
            "identity_bool",
            TensorProto {
                bool_val: vec![true, false],
                ..tensor(DataType::DtBool, &[1, 2])
            },
            vec![1, 0],
        ),
        (
            "identity_fp16",
            TensorProto {
                half_val: vec![0x3800, 0xc000],
                ..tensor(DataType::DtHalf, &[1, 2])
            },
            vec![0x00, 0x38, 0x00, 0xc0],
        ),
        (
            "identity_uint64",
            TensorProto {
                uint64_val: vec![u64::MAX, 1],
                ..tensor(DataType::DtUint64, &[1, 2])
            },
            [u64::MAX.to_le_bytes(), 1u64.to_le_bytes()].concat(),
        ),
    ];
    for (model, input, expected) in cases {
        let dtype = input.dtype;
        let request = predict_request(spec(model, None), vec![("input", input)]);
        let response = predict(&mut client, request).await;
        let output = response.outputs.values().next().expect("one output");
        assert_eq!(output.dtype, dtype, "{model}");
        assert_eq!(dims(output), vec![1, 2], "{model}");
        assert_eq!(
            output.tensor_content.as_ref(),
            expected.as_slice(),
            "{model}"
        );
    }

    let items = vec![
        Bytes::from_static(b"abc"),
        Bytes::new(),
        Bytes::from("żółw"),
    ];
    let strings = TensorProto {
        string_val: items.clone(),
        ..tensor(DataType::DtString, &[3, 1])
    };
    let request = predict_request(spec("identity_bytes", None), vec![("input", strings)]);
    let response = predict(&mut client, request).await;
    let output = response.outputs.values().next().expect("one output");
    assert_eq!(output.dtype, DataType::DtString as i32);
    assert_eq!(dims(output), vec![3, 1]);
    assert!(output.tensor_content.is_empty());
    assert_eq!(output.string_val, items);
}

#[tokio::test]
async fn output_filter_limits_the_outputs() {
    let server = TestServer::with_models().await;
    let (mut client, _) = clients(&server).await;
    let mut request = add_content();
    request.output_filter = vec!["diff".into()];
    let response = predict(&mut client, request).await;
    assert_eq!(response.outputs.keys().collect::<Vec<_>>(), vec!["diff"]);
    assert_eq!(output_f32(&response, "diff"), expected_diff());

    let mut request = add_content();
    request.output_filter = vec!["product".into()];
    let expected = "Invalid output name - Requested output: product is not an output of the model";
    assert_status(
        client.predict(request).await,
        Code::InvalidArgument,
        expected,
    );
}

#[tokio::test]
async fn versions_and_labels_pick_the_version() {
    let dir = labelled_config(json!({"stable": 1, "canary": 3}));
    let server = start_in(&dir).await;
    let (mut client, mut models) = clients(&server).await;
    let x = [1.0, 2.0, 3.0, 4.0];
    for (choice, served) in [
        (None, 3),
        (version(0), 3),
        (version(2), 2),
        (label("stable"), 1),
    ] {
        let request = predict_request(spec("versioned", choice), vec![("x", floats(&[1, 4], &x))]);
        let response = predict(&mut client, request).await;
        let want: Vec<f32> = x.iter().map(|v| v + served as f32).collect();
        assert_eq!(
            output_f32(&response, response.outputs.keys().next().unwrap()),
            want
        );
        let answered = response.model_spec.expect("a model_spec");
        assert_eq!(answered.version_choice, version(served));
    }

    let status = models
        .get_model_status(GetModelStatusRequest {
            model_spec: spec("versioned", label("canary")),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.model_version_status.len(), 1);
    assert_eq!(status.model_version_status[0].version, 3);

    let x_input = || vec![("x", floats(&[1, 4], &x))];
    for (choice, message) in [
        (version(9), "Model with requested version is not found"),
        (
            label("nightly"),
            "Model with requested version label is not found",
        ),
    ] {
        let request = predict_request(spec("versioned", choice.clone()), x_input());
        assert_status(client.predict(request).await, Code::NotFound, message);
        let request = GetModelStatusRequest {
            model_spec: spec("versioned", choice),
        };
        assert_status(
            models.get_model_status(request).await,
            Code::NotFound,
            message,
        );
    }
}

/// `add` with the usual `a` and the given `b`.
fn add_with_b(b: TensorProto) -> PredictRequest {
    let (a, _) = add_inputs();
    predict_request(
        spec("add", None),
        vec![("a", floats(&[1, 16], &a)), ("b", b)],
    )
}

#[tokio::test]
async fn predict_errors_use_ovms_messages() {
    let server = TestServer::with_models().await;
    let (mut client, _) = clients(&server).await;
    let (a, b) = add_inputs();
    let ints = |dtype| TensorProto {
        int_val: vec![1; 16],
        ..tensor(dtype, &[1, 16])
    };
    let mut both = floats(&[1, 16], &b);
    both.tensor_content = Bytes::from(f32_bytes(&b));
    let bad_b: Vec<(TensorProto, &str)> = vec![
        (
            floats(&[1, 8], &b[..8]),
            "Invalid input shape - Expected: (-1,16); Actual: (1,8); input name: b",
        ),
        (
            ints(DataType::DtInt32),
            "Invalid input precision - Expected: FP32; Actual: INT32; input name: b",
        ),
        (
            floats(&[1, 16], &b[..4]),
            "Invalid number of values in tensor proto container - Expected: 16; Actual: 4; input name: b",
        ),
        (
            content(DataType::DtFloat, &[1, 16], vec![0; 8]),
            "Invalid content size of tensor proto - Expected: 64 bytes; Actual: 8 bytes; input name: b",
        ),
        (
            ints(DataType::DtFloat),
            "input b: int_val cannot carry DT_FLOAT",
        ),
        (both, "input b has both tensor_content and float_val"),
        (
            tensor(DataType::DtInvalid, &[1]),
            "Invalid input precision - unsupported data type DT_INVALID; input name: b",
        ),
    ];
    for (b, message) in bad_b {
        let answer = client.predict(add_with_b(b)).await;
        assert_status(answer, Code::InvalidArgument, message);
    }

    let a16 = || ("a", floats(&[1, 16], &a));
    let c16 = ("c", floats(&[1, 16], &b));
    let cases: Vec<(PredictRequest, Code, &str)> = vec![
        (
            predict_request(spec("nope", None), vec![a16()]),
            Code::NotFound,
            "Model with requested name is not found",
        ),
        (
            predict_request(spec("add", version(7)), vec![a16()]),
            Code::NotFound,
            "Model with requested version is not found",
        ),
        (
            predict_request(spec("add", None), vec![a16()]),
            Code::InvalidArgument,
            "Invalid number of inputs - Expected: 2; Actual: 1",
        ),
        (
            predict_request(spec("add", None), vec![a16(), c16]),
            Code::InvalidArgument,
            "Missing input with specific name - Required input: b",
        ),
        (
            predict_request(None, vec![a16()]),
            Code::InvalidArgument,
            "Missing model_spec",
        ),
    ];
    for (request, code, message) in cases {
        assert_status(client.predict(request).await, code, message);
    }
    let response = predict(&mut client, add_content()).await;
    assert_eq!(
        output_f32(&response, "sum"),
        expected_sum(),
        "still serving"
    );
}

/// The `serving_default` signature of a metadata answer.
fn serving_default(response: &GetModelMetadataResponse) -> SignatureDef {
    let any = &response.metadata["signature_def"];
    assert_eq!(
        any.type_url,
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    );
    let map = SignatureDefMap::decode(any.value.clone()).expect("a SignatureDefMap");
    map.signature_def["serving_default"].clone()
}

#[tokio::test]
async fn metadata_is_the_serving_default_signature() {
    let server = TestServer::with_models().await;
    let (mut client, _) = clients(&server).await;
    let request = |name: &str, choice| GetModelMetadataRequest {
        model_spec: spec(name, choice),
        metadata_field: vec!["signature_def".into()],
    };
    let response = client
        .get_model_metadata(request("add", None))
        .await
        .unwrap();
    let response = response.into_inner();
    assert_eq!(
        response.model_spec.as_ref().unwrap().version_choice,
        version(1)
    );
    let signature = serving_default(&response);
    assert_eq!(signature.method_name, "tensorflow/serving/predict");
    assert_eq!(signature.inputs.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(
        signature.outputs.keys().collect::<Vec<_>>(),
        vec!["diff", "sum"]
    );
    let sum = &signature.outputs["sum"];
    assert_eq!(
        (sum.name.as_str(), sum.dtype),
        ("sum", DataType::DtFloat as i32)
    );
    assert_eq!(sum.tensor_shape, shape(&[-1, 16]));

    let response = client
        .get_model_metadata(request("versioned", version(2)))
        .await;
    let response = response.unwrap().into_inner();
    assert_eq!(
        response.model_spec.as_ref().unwrap().version_choice,
        version(2)
    );
    assert_eq!(
        serving_default(&response).inputs["x"].tensor_shape,
        shape(&[1, 4])
    );

    let response = client
        .get_model_metadata(request("identity_bytes", None))
        .await;
    let signature = serving_default(&response.unwrap().into_inner());
    assert_eq!(signature.inputs["input"].dtype, DataType::DtString as i32);

    let mut no_field = request("add", None);
    no_field.metadata_field.clear();
    let answer = client.get_model_metadata(no_field).await;
    assert_status(
        answer,
        Code::InvalidArgument,
        "Metadata field signature_def is required",
    );
    let answer = client.get_model_metadata(request("nope", None)).await;
    assert_status(
        answer,
        Code::NotFound,
        "Model with requested name is not found",
    );
    let answer = client.get_model_metadata(request("add", version(4))).await;
    assert_status(
        answer,
        Code::NotFound,
        "Model with requested version is not found",
    );
}

fn available(version: i64) -> ModelVersionStatus {
    ModelVersionStatus {
        version,
        state: model_version_status::State::Available as i32,
        status: Some(StatusProto {
            error_code: 0,
            error_message: String::new(),
        }),
    }
}

async fn status_of(
    models: &mut Models,
    name: &str,
    choice: Option<VersionChoice>,
) -> Vec<ModelVersionStatus> {
    let request = GetModelStatusRequest {
        model_spec: spec(name, choice),
    };
    let response = models.get_model_status(request).await;
    response
        .unwrap_or_else(|s| panic!("GetModelStatus {name} failed: {s:?}"))
        .into_inner()
        .model_version_status
}

#[tokio::test]
async fn model_status_all_versions_or_one() {
    let server = TestServer::with_models().await;
    let (_, mut models) = clients(&server).await;
    let all = status_of(&mut models, "versioned", None).await;
    assert_eq!(all, vec![available(3), available(2), available(1)]);
    assert_eq!(
        status_of(&mut models, "versioned", version(2)).await,
        vec![available(2)]
    );
    assert_eq!(
        status_of(&mut models, "add", None).await,
        vec![available(1)]
    );
    let request = |name: &str, choice| GetModelStatusRequest {
        model_spec: spec(name, choice),
    };
    let answer = models.get_model_status(request("nope", None)).await;
    assert_status(
        answer,
        Code::NotFound,
        "Model with requested name is not found",
    );
    let answer = models
        .get_model_status(request("versioned", version(9)))
        .await;
    assert_status(
        answer,
        Code::NotFound,
        "Model with requested version is not found",
    );
    let answer = models
        .get_model_status(GetModelStatusRequest { model_spec: None })
        .await;
    assert_status(answer, Code::InvalidArgument, "Missing model_spec");
}

fn model_config(name: &str, labels: &[(&str, i64)]) -> ModelConfig {
    ModelConfig {
        name: name.into(),
        base_path: common::models_dir()
            .join(name)
            .to_string_lossy()
            .into_owned(),
        model_platform: "openvino".into(),
        model_version_policy: Some(source_config::ServableVersionPolicy {
            policy_choice: Some(source_config::servable_version_policy::PolicyChoice::All(
                source_config::servable_version_policy::All {},
            )),
        }),
        version_labels: labels.iter().map(|(l, v)| (l.to_string(), *v)).collect(),
        ..Default::default()
    }
}

fn reload(models: Vec<ModelConfig>) -> ReloadConfigRequest {
    ReloadConfigRequest {
        config: Some(ModelServerConfig {
            config: Some(Config::ModelConfigList(ModelConfigList { config: models })),
        }),
        metric_names: vec![],
    }
}

/// A reload to `identity_fp32` and `versioned` with label "stable" → `stable`.
fn identity_and_versioned(stable: i64) -> ReloadConfigRequest {
    reload(vec![
        model_config("identity_fp32", &[]),
        model_config("versioned", &[("stable", stable)]),
    ])
}

#[tokio::test]
async fn reload_config_adds_and_removes_models() {
    let dir = labelled_config(json!({"stable": 1}));
    let server = start_in(&dir).await;
    let (mut client, mut models) = clients(&server).await;
    let request = identity_and_versioned(2);
    let response = models.handle_reload_config_request(request).await;
    let status = response.unwrap().into_inner().status.expect("a status");
    assert_eq!((status.error_code, status.error_message.as_str()), (0, ""));

    let input = TensorProto {
        float_val: vec![1.5, -2.0],
        ..tensor(DataType::DtFloat, &[1, 2])
    };
    let request = predict_request(spec("identity_fp32", None), vec![("input", input)]);
    let response = predict(&mut client, request).await;
    assert_eq!(
        f32_values(&response.outputs.values().next().unwrap().tensor_content),
        vec![1.5, -2.0]
    );

    let stable = status_of(&mut models, "versioned", label("stable")).await;
    assert_eq!(stable, vec![available(2)], "the label moved");
    let removed = status_of(&mut models, "add", None).await;
    assert_eq!(removed[0].state, model_version_status::State::End as i32);
    assert_status(
        client.predict(add_content()).await,
        Code::NotFound,
        "Model with requested version is not found",
    );
}

#[tokio::test]
async fn refused_reloads_change_nothing() {
    let dir = labelled_config(json!({"stable": 1}));
    let server = start_in(&dir).await;
    let (mut client, mut models) = clients(&server).await;
    let answer = models
        .handle_reload_config_request(identity_and_versioned(7))
        .await;
    assert_status(
        answer,
        Code::InvalidArgument,
        "Config reload failed, the previous configuration is kept: invalid model configuration: model \"versioned\": version label \"stable\" points at version 7",
    );
    let no_config = ReloadConfigRequest::default();
    let answer = models.handle_reload_config_request(no_config).await;
    assert_status(
        answer,
        Code::InvalidArgument,
        "ReloadConfigRequest has no model_config_list",
    );

    assert_eq!(
        status_of(&mut models, "versioned", label("stable")).await,
        vec![available(1)]
    );
    assert_eq!(
        status_of(&mut models, "add", None).await,
        vec![available(1)]
    );
    let answer = models
        .get_model_status(GetModelStatusRequest {
            model_spec: spec("identity_fp32", None),
        })
        .await;
    assert_status(
        answer,
        Code::NotFound,
        "Model with requested name is not found",
    );
    let response = predict(&mut client, add_content()).await;
    assert_eq!(output_f32(&response, "sum"), expected_sum());
}

#[tokio::test]
async fn kserve_and_tfs_give_identical_numbers() {
    let server = TestServer::with_models().await;
    let (mut tfs, _) = clients(&server).await;
    let mut kserve = GrpcInferenceServiceClient::new(server.grpc_channel().await);
    let (a, b) = add_inputs();
    let fp32 = |name: &str, values: &[f32]| InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape: vec![1, 16],
        parameters: Default::default(),
        contents: Some(InferTensorContents {
            fp32_contents: values.to_vec(),
            ..Default::default()
        }),
    };
    let request = ModelInferRequest {
        model_name: "add".into(),
        inputs: vec![fp32("a", &a), fp32("b", &b)],
        ..Default::default()
    };
    let kserve = kserve.model_infer(request).await.unwrap().into_inner();
    let tfs = predict(&mut tfs, add_content()).await;
    assert_eq!(kserve.outputs.len(), tfs.outputs.len());
    for output in &kserve.outputs {
        let contents = output.contents.as_ref().expect("typed contents");
        assert_eq!(
            contents.fp32_contents,
            output_f32(&tfs, &output.name),
            "{}",
            output.name
        );
        assert_eq!(output.shape, dims(&tfs.outputs[&output.name]));
    }
}

#[tokio::test]
async fn health_reports_the_tfs_services() {
    let server = TestServer::with_models().await;
    let mut health = HealthClient::new(server.grpc_channel().await);
    for service in [
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
    ] {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        let response = health.check(request).await.unwrap().into_inner();
        assert_eq!(response.status, ServingStatus::Serving as i32, "{service}");
    }
}
