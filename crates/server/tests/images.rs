//! Encoded images (JPEG, PNG) as inputs over every API and transport, layout
//! conversion and pre-processing on every engine, `shape: "auto"` and
//! `--cpu_extension`, against the `inferd` binary serving
//! `models/image_config.json` and the images of `tests/data/images`
//! (both written by committed scripts).

mod common;

use base64::Engine;
use bytes::Bytes;
use common::{
    TestServer, assert_error, assert_ok, f32_data, f32_values, length_prefixed, models_dir, output,
    repo_root, required_backends, run_binary,
};
use inferd_server::proto::kserve::model_infer_request::InferInputTensor;
use inferd_server::proto::kserve::{InferTensorContents, ModelInferRequest};
use inferd_server::proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use inferd_server::proto::tensorflow::serving::{ModelSpec, PredictRequest};
use inferd_server::proto::tensorflow::tensor_shape_proto::Dim;
use inferd_server::proto::tensorflow::{DataType, TensorProto, TensorShapeProto};
use serde_json::{Value, json};

const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

fn image(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/data/images").join(name)).expect("test image")
}

async fn serve_images() -> TestServer {
    let config = models_dir().join("image_config.json");
    TestServer::start(&["--config_path", config.to_str().unwrap()]).await
}

/// The picture `scripts/gen_test_images.py` draws, as BGR values of
/// `height × width` pixels.
fn drawn_bgr(height: usize, width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(height * width * 3);
    for y in 0..height {
        for x in 0..width {
            let r = x * 255 / (width - 1);
            let g = y * 255 / (height - 1);
            let b = ((x / 4 + y / 4) % 2) * 160 + 40;
            out.extend([b as f32, g as f32, r as f32]);
        }
    }
    out
}

/// A KServe REST binary-extension request: the JSON header, then `binary`.
async fn post_binary(
    server: &TestServer,
    model: &str,
    header: Value,
    binary: &[u8],
) -> (u16, Value) {
    let header = serde_json::to_vec(&header).unwrap();
    let mut body = header.clone();
    body.extend_from_slice(binary);
    server
        .post_bytes(
            &format!("/v2/models/{model}/infer"),
            &[(HEADER_LENGTH, header.len().to_string())],
            body,
        )
        .await
}

/// `images` as one BYTES input of the binary extension, length-prefixed
/// with `binary_data_size` (as tritonclient sends them).
async fn post_images(server: &TestServer, model: &str, images: &[&[u8]]) -> (u16, Value) {
    let batch = length_prefixed(images);
    let header = images_input(images.len(), json!({"binary_data_size": batch.len()}));
    post_binary(server, model, header, &batch).await
}

/// One image as the whole binary part of a request with one input and no
/// `binary_data_size` (OVMS's form).
async fn post_image(server: &TestServer, model: &str, image: &[u8]) -> (u16, Value) {
    post_binary(server, model, images_input(1, json!({})), image).await
}

/// Pixels and shape of `pixels` in a KServe JSON answer.
fn pixels(body: &Value) -> (Vec<f32>, Vec<u64>) {
    let out = output(body, "pixels");
    let shape = out["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    (f32_data(out), shape)
}

fn images_input(count: usize, parameters: Value) -> Value {
    json!({"inputs": [{"name": "image", "shape": [count], "datatype": "BYTES",
                       "parameters": parameters}]})
}

#[tokio::test]
async fn images_decode_to_the_same_pixels_over_every_api_and_transport() {
    let server = serve_images().await;
    let (jpeg, png) = (image("photo.jpg"), image("rgb.png"));
    let both = length_prefixed(&[&jpeg, &png]);

    // KServe REST, binary extension, two length-prefixed images.
    let answer = post_images(&server, "image_nhwc", &[&jpeg, &png]).await;
    let (reference, shape) = pixels(&assert_ok(answer));
    assert_eq!(shape, [2, 30, 40, 3]);
    // The PNG is lossless: exactly the drawn picture, in BGR order.
    let half = reference.len() / 2;
    assert_eq!(reference[half..], drawn_bgr(30, 40)[..]);
    // (The JPEG's pixels are checked against Pillow's decoding by
    // tests/interop/test_images.py.)

    // KServe REST JSON: base64 strings.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = json!({"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES",
                                  "data": [b64(&jpeg), b64(&png)]}]});
    let answer = server.post_json("/v2/models/image_nhwc/infer", &body).await;
    assert_eq!(pixels(&assert_ok(answer)).0, reference);

    // KServe REST, the only input taking the whole binary part as one image.
    let answer = post_image(&server, "image_nhwc", &jpeg).await;
    assert_eq!(pixels(&assert_ok(answer)).0, reference[..half]);

    // Triton's raw request: the body is the JPEG file.
    let response = server
        .post_raw(
            "/v2/models/image_nhwc/infer",
            &[(HEADER_LENGTH, "0".to_string())],
            jpeg.clone(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()[HEADER_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let raw = response.bytes().await.unwrap();
    assert_eq!(f32_values(&raw[length..]), reference[..half]);

    // KServe gRPC: bytes_contents, then raw_input_contents length-prefixed.
    let mut client = server.grpc_client().await;
    let request = |contents, raw: Vec<Bytes>| ModelInferRequest {
        model_name: "image_nhwc".into(),
        inputs: vec![InferInputTensor {
            name: "image".into(),
            datatype: "BYTES".into(),
            shape: vec![2],
            parameters: Default::default(),
            contents,
        }],
        raw_input_contents: raw,
        ..Default::default()
    };
    let typed = Some(InferTensorContents {
        bytes_contents: vec![Bytes::from(jpeg.clone()), Bytes::from(png.clone())],
        ..Default::default()
    });
    for request in [
        request(typed, vec![]),
        request(None, vec![Bytes::from(both.clone())]),
    ] {
        let answer = client.model_infer(request).await.unwrap().into_inner();
        assert_eq!(answer.outputs[0].shape, [2, 30, 40, 3]);
        let values = match answer.raw_output_contents.first() {
            Some(raw) => f32_values(raw),
            None => answer.outputs[0].contents.clone().unwrap().fp32_contents,
        };
        assert_eq!(values, reference);
    }

    // TF Serving REST: {"b64": ...} instances.
    let body = json!({"instances": [{"b64": b64(&jpeg)}, {"b64": b64(&png)}]});
    let (status, answer) = server
        .post_json("/v1/models/image_nhwc:predict", &body)
        .await;
    assert_eq!(status, 200, "{answer}");
    let predictions: Vec<f32> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p.as_array().unwrap().iter().flatten_arrays())
        .collect();
    assert_eq!(predictions, reference);

    // TF Serving gRPC: string_val.
    let mut predict = PredictionServiceClient::new(server.grpc_channel().await);
    let tensor = TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: vec![Dim {
                size: 2,
                name: String::new(),
            }],
            unknown_rank: false,
        }),
        string_val: vec![Bytes::from(jpeg), Bytes::from(png)],
        ..Default::default()
    };
    let answer = predict
        .predict(PredictRequest {
            model_spec: Some(ModelSpec {
                name: "image_nhwc".into(),
                ..Default::default()
            }),
            inputs: [("image".to_string(), tensor)].into(),
            output_filter: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let out = &answer.outputs["pixels"];
    assert_eq!(f32_values(&out.tensor_content), reference);
}

/// Flattens nested JSON number arrays.
trait FlattenArrays<'a> {
    fn flatten_arrays(self) -> Box<dyn Iterator<Item = f32> + 'a>;
}

impl<'a, I: Iterator<Item = &'a Value> + 'a> FlattenArrays<'a> for I {
    fn flatten_arrays(self) -> Box<dyn Iterator<Item = f32> + 'a> {
        Box::new(self.flat_map(|v| -> Box<dyn Iterator<Item = f32> + 'a> {
            match v {
                Value::Array(items) => items.iter().flatten_arrays(),
                other => Box::new(std::iter::once(other.as_f64().unwrap() as f32)),
            }
        }))
    }
}

#[tokio::test]
async fn images_are_resized_to_fixed_sizes_and_batches_share_one_size() {
    let server = serve_images().await;
    // A fixed 8x8 input: the 40x30 picture is resized.
    let jpeg = image("photo.jpg");
    let answer = post_image(&server, "image_fixed", &jpeg).await;
    assert_eq!(pixels(&assert_ok(answer)).1, [1, 8, 8, 3]);
    // Dynamic sizes: the first image (40x30) sets the batch's size; the
    // second (32x24) is resized to it.
    let answer = post_images(&server, "image_nhwc", &[&jpeg, &image("small.jpg")]).await;
    assert_eq!(pixels(&assert_ok(answer)).1, [2, 30, 40, 3]);
    // Every supported file of the set decodes; grey files repeat into BGR,
    // and a one-channel input takes a grey image as it is.
    for name in [
        "progressive.jpg",
        "photo_444.jpg",
        "grey.jpg",
        "grey.png",
        "rgba.png",
        "rgb16.png",
    ] {
        let answer = post_image(&server, "image_nhwc", &image(name)).await;
        assert_eq!(pixels(&assert_ok(answer)).1, [1, 30, 40, 3], "{name}");
    }
    let answer = post_image(&server, "image_grey", &image("grey.png")).await;
    assert_eq!(pixels(&assert_ok(answer)).1, [1, 30, 40, 1]);
    // 16-bit values keep their high byte: the same picture as the 8-bit PNG.
    let answer = post_image(&server, "image_nhwc", &image("rgb16.png")).await;
    assert_eq!(pixels(&assert_ok(answer)).0, drawn_bgr(30, 40));
}

#[tokio::test]
async fn bad_images_get_400_naming_the_input_and_the_image() {
    let server = serve_images().await;
    let good = image("photo.jpg");
    let cases = [
        ("corrupt.jpg", "cannot decode the JPEG image"),
        ("huge.png", "100000x100000 pixels is over the limit"),
    ];
    for (name, detail) in cases {
        let answer = post_images(&server, "image_nhwc", &[&good, &image(name)]).await;
        assert_error(
            &answer,
            400,
            &format!("Image parsing failed - input image, image 1: {detail}"),
        );
    }
    let answer = post_image(&server, "image_nhwc", b"not an image").await;
    assert_error(
        &answer,
        400,
        "Image parsing failed - input image, image 0: not a JPEG or PNG image",
    );
    // A colour picture for a one-channel input has the wrong channel count.
    let answer = post_image(&server, "image_grey", &good).await;
    assert_error(
        &answer,
        400,
        "Image parsing failed - input image, image 0: the image has 3 colour channels",
    );
    // Images must come as a list: shape [N].
    let body = json!({"inputs": [{"name": "image", "shape": [1, 1], "datatype": "BYTES",
                                  "data": ["aGk="]}]});
    let answer = server.post_json("/v2/models/image_nhwc/infer", &body).await;
    assert_error(
        &answer,
        400,
        "Invalid binary input image: send encoded images",
    );
    // Nothing else is affected: the next request is served.
    let answer = post_image(&server, "image_nhwc", &good).await;
    assert_eq!(pixels(&assert_ok(answer)).1, [1, 30, 40, 3]);
}

#[tokio::test]
async fn an_nchw_input_refuses_images_until_its_layout_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"model_config_list": [
        {"config": {"name": "nchw", "base_path": models_dir().join("image_nchw"),
                    "layout": "NCHW", "backend": "tract"}},
    ]});
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = TestServer::start(&["--config_path", path.to_str().unwrap()]).await;
    let answer = post_image(&server, "nchw", &image("photo.jpg")).await;
    assert_error(
        &answer,
        400,
        "Invalid binary input image: images need an N...HWC layout; this input's layout is NCHW",
    );
}

/// The FP32 NHWC tensor of one 2x2 picture, and what `image_nchw_*` must
/// answer for it: channels reversed (BGR:RGB), minus [10, 20, 30], divided
/// by [2, 4, 8], in NCHW order.
fn preprocessing_case() -> (Vec<f32>, Vec<f32>) {
    let nhwc: Vec<f32> = (0..12).map(|v| v as f32 * 10.0).collect();
    let (mean, scale) = ([10.0, 20.0, 30.0], [2.0, 4.0, 8.0]);
    let mut nchw = Vec::new();
    for c in 0..3 {
        for pixel in 0..4 {
            let value = nhwc[pixel * 3 + (2 - c)];
            nchw.push((value - mean[c]) / scale[c]);
        }
    }
    (nhwc, nchw)
}

#[tokio::test]
async fn layout_and_preprocessing_give_the_same_numbers_on_every_engine() {
    let server = serve_images().await;
    let (nhwc, expected) = preprocessing_case();
    let required = required_backends();
    let mut checked = Vec::new();
    for engine in ["openvino", "onnxruntime", "tract"] {
        let model = format!("image_nchw_{engine}");
        let (status, _) = server.get(&format!("/v2/models/{model}/ready")).await;
        if status != 200 {
            assert!(!required.contains(&engine.to_string()), "{model} not ready");
            continue;
        }
        // Metadata shows the layout clients send: NHWC.
        let (_, metadata) = server.get(&format!("/v2/models/{model}")).await;
        assert_eq!(
            metadata["inputs"][0]["shape"],
            json!([-1, -1, -1, 3]),
            "{model}"
        );
        let body = json!({"inputs": [{"name": "image", "shape": [1, 2, 2, 3],
                                      "datatype": "FP32", "data": nhwc}]});
        let answer = server
            .post_json(&format!("/v2/models/{model}/infer"), &body)
            .await;
        let (values, shape) = pixels(&assert_ok(answer));
        assert_eq!(shape, [1, 3, 2, 2], "{model}");
        for (got, want) in values.iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-5,
                "{model}: {values:?} != {expected:?}"
            );
        }
        // Images go through the same steps.
        let answer = post_image(&server, &model, &image("rgb.png")).await;
        let (values, shape) = pixels(&assert_ok(answer));
        assert_eq!(shape, [1, 3, 30, 40], "{model}");
        // Pixel (0, 0) of the drawn picture is r=0, g=0, b=40.
        let first = [values[0], values[1200], values[2400]];
        assert_eq!(first, [-5.0, -5.0, 1.25], "{model}");
        checked.push(engine);
    }
    assert!(!checked.is_empty());
}

/// Serves `image_fixed` (`[N, 8, 8, 3]`) as model `auto` with `--shape auto`.
async fn serve_shape_auto(engine: &str) -> TestServer {
    let path = models_dir().join("image_fixed");
    TestServer::start(&[
        "--model_name",
        "auto",
        "--model_path",
        path.to_str().unwrap(),
        "--shape",
        "auto",
        "--backend",
        engine,
    ])
    .await
}

#[tokio::test]
async fn shape_auto_answers_every_shape_while_the_version_stays_available() {
    for engine in ["tract", "openvino"] {
        if engine == "openvino" && !required_backends().contains(&engine.to_string()) {
            continue;
        }
        let server = serve_shape_auto(engine).await;
        let (_, metadata) = server.get("/v2/models/auto").await;
        assert_eq!(metadata["inputs"][0]["shape"], json!([-1, -1, -1, -1]));
        let url = server.rest_url("/v2/models/auto/infer");
        let infer = |shape: [usize; 4]| {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = (0..count).map(|v| v as f32).collect();
            let body = json!({"inputs": [{"name": "image", "shape": shape,
                                          "datatype": "FP32", "data": values}]});
            let (client, url) = (server.client().clone(), url.clone());
            async move {
                let response = client.post(url).json(&body).send().await.unwrap();
                let answer = common::split_json(response).await;
                let (got, got_shape) = pixels(&assert_ok(answer));
                assert_eq!(got_shape, shape.map(|d| d as u64));
                assert_eq!(got, values);
            }
        };
        // Two shapes one after the other, then both at once.
        infer([1, 8, 8, 3]).await;
        infer([2, 5, 7, 3]).await;
        let mut mixed = tokio::task::JoinSet::new();
        for i in 0..24 {
            let shape = if i % 2 == 0 {
                [1, 8, 8, 3]
            } else {
                [2, 5, 7, 3]
            };
            mixed.spawn(infer(shape));
        }
        while let Some(done) = mixed.join_next().await {
            done.expect("a request of either shape succeeds");
        }
        let (status, _) = server.get("/v2/models/auto/ready").await;
        assert_eq!(status, 200, "{engine}");
        let (_, state) = server.get("/v1/models/auto").await;
        assert_eq!(state["model_version_status"][0]["state"], "AVAILABLE");
    }
}

#[tokio::test]
async fn shape_auto_on_onnx_runtime_with_fixed_dimensions_is_refused_at_load() {
    if !required_backends().contains(&"onnxruntime".to_string()) {
        return;
    }
    let server = serve_shape_auto("onnxruntime").await;
    let (_, state) = server.get("/v1/models/auto").await;
    let status = &state["model_version_status"][0]["status"];
    assert!(
        status["error_message"]
            .as_str()
            .unwrap()
            .contains("the onnxruntime backend cannot reshape a model"),
        "{state}"
    );
}

#[test]
fn cpu_extension_that_cannot_be_added_stops_the_start() {
    let model = models_dir().join("add");
    let model = model.to_str().unwrap();
    let missing = run_binary(
        &[
            "--model_name",
            "add",
            "--model_path",
            model,
            "--cpu_extension",
            "/nonexistent/libcustom.so",
        ],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("--cpu_extension"),
        "{}",
        missing.stderr
    );
    if !required_backends().contains(&"openvino".to_string()) {
        return;
    }
    assert!(
        missing.stderr.contains("no such file"),
        "{}",
        missing.stderr
    );
    // A file that is not an extension library: OpenVINO's refusal, named.
    let not_a_library = models_dir().join("add/1/model.onnx");
    let refused = run_binary(
        &[
            "--model_name",
            "add",
            "--model_path",
            model,
            "--cpu_extension",
            not_a_library.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("cannot add the extension"),
        "{}",
        refused.stderr
    );
}
