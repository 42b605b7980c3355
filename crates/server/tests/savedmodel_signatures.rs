//! SavedModels as TF Serving serves them: every signature of
//! `saved_model.pb`, chosen by `signature_name` on REST and gRPC, listed in
//! metadata with TensorFlow's tensor names (one OpenVINO cannot run, tf.Example
//! parsing, is refused alone); a Keras `model.export`.
//! OpenVINO reads SavedModels: skipped where it is not required.

mod common;

use common::{
    TestServer, assert_error, assert_ok, f32_data, f32_values, models_dir, output, tf_float_row,
};
use inferd_server::proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_server::proto::tensorflow::serving::{
    GetModelMetadataRequest, ModelSpec, PredictRequest, SignatureDefMap,
};
use prost::Message;
use serde_json::json;

fn openvino_required() -> bool {
    let required = common::required_backends().iter().any(|b| b == "openvino");
    if !required {
        eprintln!("OpenVINO not required here: skipped");
    }
    required
}

async fn serve(model: &str) -> TestServer {
    let path = models_dir().join(model);
    TestServer::start(&[
        &format!("--model_name={model}"),
        &format!("--model_base_path={}", path.display()),
    ])
    .await
}

fn ramp() -> Vec<f32> {
    (1..=16).map(|v| v as f32).collect()
}

fn spec(model: &str, signature: &str) -> Option<ModelSpec> {
    Some(ModelSpec {
        name: model.into(),
        signature_name: signature.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn each_signature_is_served_by_its_name() {
    if !openvino_required() {
        return;
    }
    let server = serve("add_signatures").await;
    let doubled: Vec<f32> = ramp().iter().map(|v| v * 2.0).collect();
    let path = "/v1/models/add_signatures:predict";
    // No signature_name: serving_default, the add.
    let answer = assert_ok(
        server
            .post_json(path, &json!({"inputs": {"a": [ramp()], "b": [ramp()]}}))
            .await,
    );
    assert_eq!(answer["outputs"]["sum"], json!([doubled]));
    let scaled = assert_ok(
        server
            .post_json(
                path,
                &json!({"signature_name": "scale", "instances": [ramp()]}),
            )
            .await,
    );
    assert_eq!(scaled["predictions"], json!([doubled]));
    let unknown = server
        .post_json(
            path,
            &json!({"signature_name": "nope", "instances": [ramp()]}),
        )
        .await;
    assert_error(
        &unknown,
        400,
        "Serving signature name: \"nope\" not found in signature def",
    );
    // OpenVINO cannot run tf.Example parsing: that signature alone is not served.
    let unserved = server
        .post_json(
            path,
            &json!({"signature_name": "parse_examples", "instances": [{"b64": "AA=="}]}),
        )
        .await;
    assert_error(
        &unserved,
        400,
        "Serving signature name: \"parse_examples\" is not served: ",
    );
    // The scale signature's input is x, not a: the wrong one is refused by name.
    let wrong = server
        .post_json(
            path,
            &json!({"signature_name": "scale", "inputs": {"a": [ramp()]}}),
        )
        .await;
    assert_eq!(wrong.0, 400, "{}", wrong.1);

    let mut client = PredictionServiceClient::new(server.grpc_channel().await);
    let request = PredictRequest {
        model_spec: spec("add_signatures", "scale"),
        inputs: [("x".to_string(), tf_float_row(&ramp()))].into(),
        output_filter: vec![],
    };
    let answer = client.predict(request).await.unwrap().into_inner();
    assert_eq!(answer.model_spec.unwrap().signature_name, "scale");
    assert_eq!(
        f32_values(&answer.outputs["scaled"].tensor_content),
        doubled
    );
    let request = PredictRequest {
        model_spec: spec("add_signatures", "nope"),
        inputs: [("x".to_string(), tf_float_row(&ramp()))].into(),
        output_filter: vec![],
    };
    let status = client.predict(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "Serving signature name: \"nope\" not found in signature def"
    );

    // KServe has no signatures: the model's primary one (serving_default).
    let kserve = assert_ok(
        server
            .post_json(
                "/v2/models/add_signatures/infer",
                &json!({"inputs": [
                    {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": ramp()},
                    {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": ramp()}]}),
            )
            .await,
    );
    assert_eq!(f32_data(output(&kserve, "sum")), doubled);
}

#[tokio::test]
async fn metadata_lists_every_signature_with_tensorflows_names() {
    if !openvino_required() {
        return;
    }
    let server = serve("add_signatures").await;
    let (status, body) = server.get("/v1/models/add_signatures/metadata").await;
    assert_eq!(status, 200, "{body}");
    let defs = &body["metadata"]["signature_def"]["signatureDef"];
    let names: Vec<&String> = defs.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "__saved_model_init_op",
            "parse_examples",
            "scale",
            "serving_default"
        ],
        "{defs}"
    );
    assert_eq!(
        defs["parse_examples"]["inputs"]["examples"]["dtype"],
        "DT_STRING"
    );
    assert_eq!(
        defs["serving_default"]["inputs"]["a"]["name"],
        "serving_default_a:0"
    );
    assert_eq!(defs["scale"]["inputs"]["x"]["name"], "scale_x:0");
    assert_eq!(defs["scale"]["inputs"]["x"]["dtype"], "DT_FLOAT");
    assert_eq!(defs["scale"]["methodName"], "tensorflow/serving/predict");

    let mut client = PredictionServiceClient::new(server.grpc_channel().await);
    let answer = client
        .get_model_metadata(GetModelMetadataRequest {
            model_spec: spec("add_signatures", ""),
            metadata_field: vec!["signature_def".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let map = SignatureDefMap::decode(answer.metadata["signature_def"].value.as_ref()).unwrap();
    let scale = &map.signature_def["scale"];
    assert_eq!(scale.outputs.keys().collect::<Vec<_>>(), ["scaled"]);
    let shape = scale.inputs["x"].tensor_shape.as_ref().unwrap();
    let dims: Vec<i64> = shape.dim.iter().map(|d| d.size).collect();
    assert_eq!(dims, [-1, 16]);
    assert!(map.signature_def.contains_key("serving_default"));
}

#[tokio::test]
async fn a_keras_export_is_served() {
    if !openvino_required() {
        return;
    }
    let server = serve("keras_dense").await;
    for signature in ["serving_default", "serve"] {
        let answer = assert_ok(
            server
                .post_json(
                    "/v1/models/keras_dense:predict",
                    &json!({"signature_name": signature, "instances": [vec![1.0; 16]]}),
                )
                .await,
        );
        assert_eq!(
            answer["predictions"],
            json!([[1.0, 3.0, 5.0]]),
            "{signature}"
        );
    }
    // Keras exports `serve` and `serving_default` as two wrappers of one
    // function: compiled once, served under both names.
    let log = server.log();
    assert!(
        log.contains("signature serving_default (also serve as serving_default)"),
        "{log}"
    );
    let mut client = PredictionServiceClient::new(server.grpc_channel().await);
    let request = PredictRequest {
        model_spec: spec("keras_dense", "serve"),
        inputs: [("features".to_string(), tf_float_row(&[1.0; 16]))].into(),
        output_filter: vec![],
    };
    let answer = client.predict(request).await.unwrap().into_inner();
    assert_eq!(answer.model_spec.unwrap().signature_name, "serve");
    assert_eq!(
        f32_values(&answer.outputs["output_0"].tensor_content),
        [1.0, 3.0, 5.0]
    );
    let (_, body) = server.get("/v1/models/keras_dense/metadata").await;
    let input =
        &body["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"]["features"];
    assert_eq!(input["name"], "serving_default_features:0", "{body}");
}
