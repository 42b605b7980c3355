//! Backend selection through the real server: the `backend` key and
//! `--backend` flag, the fallback to tract when no native runtime is found,
//! and the same answers from every available engine and model format.

mod common;

use common::{TestServer, models_dir, required_backends as required};
use serde_json::{Value, json};

fn model(name: &str, base: &str, backend: Option<&str>) -> Value {
    let mut config = json!({"name": name, "base_path": models_dir().join(base)});
    if let Some(backend) = backend {
        config["backend"] = json!(backend);
        // Make OpenVINO compute in f32 like the others, for exact comparisons.
        config["plugin_config"] = json!({"INFERENCE_PRECISION_HINT": "f32"});
    }
    json!({"config": config})
}

fn write_config(dir: &tempfile::TempDir, models: Vec<Value>) -> String {
    let path = dir.path().join("config.json");
    std::fs::write(&path, json!({"model_config_list": models}).to_string()).expect("write config");
    path.to_string_lossy().into_owned()
}

/// Inputs in, (sorted) output vectors out, whatever the output names are.
async fn add_outputs(server: &TestServer, model: &str) -> Result<Vec<Vec<f32>>, (u16, Value)> {
    let (_, meta) = server.get(&format!("/v2/models/{model}")).await;
    let names: Vec<String> = meta["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let a: Vec<f32> = (0..32).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..32).map(|i| 10.0 - i as f32).collect();
    // Each format names the inputs its own way: `b`, `b:0`, `serving_default_b:0`.
    let value_for = |name: &str| {
        if name == "b" || name.ends_with("b:0") {
            &b
        } else {
            &a
        }
    };
    let inputs: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "shape": [2, 16], "datatype": "FP32", "data": value_for(n)}))
        .collect();
    let (status, body) = server
        .post_json(
            &format!("/v2/models/{model}/infer"),
            &json!({"inputs": inputs}),
        )
        .await;
    if status != 200 {
        return Err((status, body));
    }
    let mut outputs: Vec<Vec<f32>> = body["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            o["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    outputs.sort_by(|x, y| x.partial_cmp(y).unwrap());
    Ok(outputs)
}

fn expected_add() -> Vec<Vec<f32>> {
    let a: Vec<f32> = (0..32).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..32).map(|i| 10.0 - i as f32).collect();
    let mut want = vec![
        a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<f32>>(),
        a.iter().zip(&b).map(|(x, y)| x - y).collect(),
    ];
    want.sort_by(|x, y| x.partial_cmp(y).unwrap());
    want
}

#[tokio::test]
async fn without_native_runtimes_everything_falls_back_to_tract() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        vec![
            model("add", "add", None),
            model("add_ov", "add", Some("openvino")),
            model("add_ir", "add_ir", None),
        ],
    );
    let server = TestServer::start(&[
        "--config_path",
        &config,
        "--runtimes_dir",
        "/nonexistent/inferd-runtimes",
        "--openvino_lib",
        "/nonexistent/libopenvino_c.so",
    ])
    .await;
    let (status, meta) = server.get("/v2/models/add").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], "tract_onnx");
    assert_eq!(add_outputs(&server, "add").await.unwrap(), expected_add());
    // A model that asks for a missing engine, or whose format only a native engine reads, fails alone.
    let (status, body) = server
        .post_json("/v2/models/add_ov/infer", &common::add_body())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("Model with requested version is not loaded yet"))
    );
    assert_ne!(server.get("/v2/models/add_ir/ready").await.0, 200);
    let log = server.log();
    assert!(
        log.contains("backend not available") && log.contains("install-runtimes.sh"),
        "{log}"
    );
}

#[tokio::test]
async fn every_available_backend_and_format_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("add_tract", "add", Some("tract"), "tract", "tract_onnx"),
        (
            "add_onnxruntime",
            "add",
            Some("onnxruntime"),
            "onnxruntime",
            "onnxruntime_onnx",
        ),
        (
            "add_openvino",
            "add",
            Some("openvino"),
            "openvino",
            "OpenVINO",
        ),
        ("add_ir", "add_ir", None, "openvino", "OpenVINO"),
        (
            "add_savedmodel",
            "add_savedmodel",
            None,
            "openvino",
            "OpenVINO",
        ),
        ("add_frozen", "add_frozen", None, "openvino", "OpenVINO"),
        ("add_tflite", "add_tflite", None, "openvino", "OpenVINO"),
        ("add_paddle", "add_paddle", None, "openvino", "OpenVINO"),
    ];
    let models = cases
        .iter()
        .map(|(name, base, backend, _, _)| model(name, base, *backend))
        .collect();
    let config = write_config(&dir, models);
    let server = TestServer::start(&["--config_path", &config]).await;
    let required = required();
    let mut served = 0;
    for (name, _, _, engine, platform) in cases {
        if server.get(&format!("/v2/models/{name}/ready")).await.0 != 200 {
            assert!(
                !required.iter().any(|r| r == engine),
                "{name} needs {engine}, which is required; log:\n{}",
                server.log()
            );
            eprintln!("note: {name} not served ({engine} not available here)");
            continue;
        }
        let (_, meta) = server.get(&format!("/v2/models/{name}")).await;
        assert_eq!(meta["platform"], platform, "{name}");
        let outputs = add_outputs(&server, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(outputs, expected_add(), "{name}");
        served += 1;
    }
    assert!(served >= 1, "at least tract serves");
}

#[tokio::test]
async fn backend_flag_picks_the_engine_in_single_model_mode() {
    let add = models_dir().join("add");
    let server = TestServer::start(&[
        "--model_name",
        "add",
        "--model_path",
        add.to_str().unwrap(),
        "--backend",
        "tract",
    ])
    .await;
    assert_eq!(
        server.get("/v2/models/add").await.1["platform"],
        "tract_onnx"
    );
    let refused = common::run_binary(
        &[
            "--model_name",
            "add",
            "--model_path",
            "/m",
            "--backend",
            "tensorrt",
            "--port",
            "0",
            "--rest_port",
            "1",
        ],
        std::time::Duration::from_secs(20),
    );
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("tensorrt"), "{}", refused.stderr);
}

#[tokio::test]
async fn cache_dir_holds_openvino_compiled_models() {
    let cache = tempfile::tempdir().unwrap();
    let add = models_dir().join("add");
    let server = TestServer::start(&[
        "--model_name",
        "add",
        "--model_path",
        add.to_str().unwrap(),
        "--cache_dir",
        cache.path().to_str().unwrap(),
        "--backend",
        "openvino",
    ])
    .await;
    let platform = server.get("/v2/models/add").await.1["platform"].clone();
    if platform != "OpenVINO" {
        assert!(
            !required().iter().any(|r| r == "openvino"),
            "openvino is required; log:\n{}",
            server.log()
        );
        eprintln!("note: OpenVINO not available here; cache_dir not exercised");
        return;
    }
    assert_eq!(add_outputs(&server, "add").await.unwrap(), expected_add());
    let cached = std::fs::read_dir(cache.path()).unwrap().count();
    assert!(cached > 0, "OpenVINO wrote nothing to --cache_dir");
}

/// With no backend named, every available engine that reads the model loads
/// it and is timed; the fastest serves, and the line announcing the version
/// says which and why.
#[tokio::test]
async fn without_a_named_backend_the_fastest_engine_serves() {
    let add = models_dir().join("add");
    let server =
        TestServer::start(&["--model_name", "add", "--model_path", add.to_str().unwrap()]).await;
    assert_eq!(add_outputs(&server, "add").await.unwrap(), expected_add());
    let log = server.log();
    let available: Vec<String> = ["openvino", "onnxruntime", "tract"]
        .into_iter()
        .filter(|e| *e == "tract" || required().iter().any(|r| r == e))
        .map(String::from)
        .collect();
    let announced = log
        .lines()
        .find(|l| l.contains("AVAILABLE"))
        .unwrap_or_else(|| panic!("no AVAILABLE line in:\n{log}"));
    if available.len() > 1 {
        assert!(announced.contains("fastest on a trial run"), "{announced}");
        for engine in &available {
            assert!(
                announced.contains(&format!("{engine} ")),
                "{engine}: {announced}"
            );
        }
    } else {
        eprintln!("note: only tract here; the trial is not exercised over the wire");
    }
    let platform = server.get("/v2/models/add").await.1["platform"].clone();
    let engine = match platform.as_str() {
        Some("OpenVINO") => "openvino",
        Some("onnxruntime_onnx") => "onnxruntime",
        Some("tract_onnx") => "tract",
        other => panic!("unexpected platform {other:?}"),
    };
    assert!(
        announced.contains(&format!("backend={engine}: ")),
        "the announced engine should be the serving one ({engine}): {announced}"
    );
}
