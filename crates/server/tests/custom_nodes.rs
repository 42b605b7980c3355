//! Custom pipeline nodes over the wire: the C example (compiled here with the
//! system C compiler against our header only) and the Rust example (a
//! `cdylib` of this workspace), in pipelines with models; demultiplexing
//! with a dynamic and a fixed count, then gathering; a node's error and a
//! missing library reported with OVMS's words.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestServer, assert_error, assert_ok, f32_data, models_dir, output, repo_root};
use serde_json::{Value, json};

/// Compiles C `source` into the shared library `library` with the system
/// C compiler, `include` on the header path if given.
fn compile_c(source: &Path, library: &Path, include: Option<&Path>) {
    let mut command = Command::new("cc");
    command.args([
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-O2",
    ]);
    if let Some(include) = include {
        command.arg("-I").arg(include);
    }
    let status = command
        .arg(source)
        .arg("-o")
        .arg(library)
        .arg("-lm")
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "cc failed on {}", source.display());
}

/// Compiles `examples/custom_nodes/normalize/normalize.c` into `dir`.
fn build_c_node(dir: &Path) -> PathBuf {
    let examples = repo_root().join("examples/custom_nodes");
    let library = dir.join("libnormalize.so");
    compile_c(
        &examples.join("normalize/normalize.c"),
        &library,
        Some(&examples.join("include")),
    );
    library
}

/// The Rust example, built with the workspace (`cargo test --workspace`).
fn rust_node() -> PathBuf {
    let library = repo_root().join("target/release/libinferd_example_argmax.so");
    assert!(
        library.is_file(),
        "{} is missing: build the workspace (cargo build --release --workspace)",
        library.display()
    );
    library
}

fn from(node: &str, item: &str) -> Value {
    json!({"node_name": node, "data_item": item})
}

/// in -> normalize (C) -> double: 2 (in - mean) / std, per row.
fn normalized(name: &str, params: Value) -> Value {
    json!({
        "name": name,
        "inputs": ["in"],
        "nodes": [
            {"name": "norm", "type": "custom", "library_name": "normalize", "params": params,
             "inputs": [{"image": from("request", "in")}],
             "outputs": [{"data_item": "normalized", "alias": "n"}]},
            {"name": "twice", "type": "DL model", "model_name": "double",
             "inputs": [{"x": from("norm", "n")}],
             "outputs": [{"data_item": "y", "alias": "y"}]},
        ],
        "outputs": [{"out": from("twice", "y")}]
    })
}

/// in -> double -> argmax (Rust): each row's largest index.
fn argmax() -> Value {
    json!({
        "name": "argmax",
        "inputs": ["in"],
        "nodes": [
            {"name": "twice", "type": "DL model", "model_name": "double",
             "inputs": [{"x": from("request", "in")}],
             "outputs": [{"data_item": "y", "alias": "y"}]},
            {"name": "pick", "type": "custom", "library_name": "argmax",
             "inputs": [{"scores": from("twice", "y")}],
             "outputs": [{"data_item": "label", "alias": "label"}]},
        ],
        "outputs": [{"label": from("pick", "label")}]
    })
}

fn config(
    dir: &Path,
    c_node: &Path,
    libraries_extra: Vec<Value>,
    pipelines: Vec<Value>,
) -> PathBuf {
    let mut libraries = vec![
        json!({"name": "normalize", "base_path": c_node}),
        json!({"name": "argmax", "base_path": rust_node()}),
    ];
    libraries.extend(libraries_extra);
    let models: Vec<Value> = ["double", "versioned", "double_rows"]
        .iter()
        .map(|m| json!({"config": {"name": m, "base_path": models_dir().join(m)}}))
        .collect();
    let config = json!({
        "model_config_list": models,
        "custom_node_library_config_list": libraries,
        "pipeline_config_list": pipelines,
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// A server on a config with the C node (compiled into a fresh folder),
/// the Rust node, `extra` libraries and `pipelines`.
async fn serve(extra: Vec<Value>, pipelines: Vec<Value>) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let c_node = build_c_node(dir.path());
    let path = config(dir.path(), &c_node, extra, pipelines);
    let server = TestServer::start(&["--config_path", &path.to_string_lossy()]).await;
    (server, dir)
}

fn rows(values: &[[f32; 4]]) -> Value {
    json!({"inputs": [{"name": "in", "shape": [values.len(), 4], "datatype": "FP32", "data": values.concat()}]})
}

#[tokio::test]
async fn c_and_rust_custom_nodes_run_in_pipelines_with_models() {
    let (server, _dir) = serve(
        vec![],
        vec![
            normalized("normalized", json!({"epsilon": "0.000001"})),
            argmax(),
        ],
    )
    .await;

    // Metadata comes from the library's getInputsInfo (any size: -1).
    let meta = assert_ok(server.get("/v2/models/normalized").await);
    assert_eq!(
        meta["inputs"],
        json!([{"name": "in", "datatype": "FP32", "shape": [-1, -1]}])
    );

    // Row [1, 2, 3, 4]: mean 2.5, deviation sqrt(1.25); doubled.
    let answer = assert_ok(
        server
            .post_json(
                "/v2/models/normalized/infer",
                &rows(&[[1.0, 2.0, 3.0, 4.0], [5.0; 4]]),
            )
            .await,
    );
    let out = f32_data(output(&answer, "out"));
    let deviation = 1.25f32.sqrt();
    let expected: Vec<f32> = [-1.5f32, -0.5, 0.5, 1.5]
        .iter()
        .map(|v| 2.0 * v / deviation)
        .collect();
    for (got, want) in out[..4].iter().zip(&expected) {
        assert!((got - want).abs() < 1e-5, "{out:?} vs {expected:?}");
    }
    // A constant row has deviation 0: its values minus the mean are 0.
    assert_eq!(out[4..], [0.0; 4]);

    let answer = assert_ok(
        server
            .post_json(
                "/v2/models/argmax/infer",
                &rows(&[[0.0, 9.0, 1.0, 2.0], [7.0, 1.0, 1.0, 8.0]]),
            )
            .await,
    );
    let label = output(&answer, "label");
    assert_eq!(label["datatype"], "INT64");
    assert_eq!(label["shape"], json!([2, 1]));
    assert_eq!(label["data"], json!([1, 3]));

    // TF Serving predict through the same pipeline.
    let (status, answer) = server
        .post_json(
            "/v1/models/argmax:predict",
            &json!({"instances": [[1.0, 0.0, 0.0, 0.0]]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"], json!([[0]]));
}

#[tokio::test]
async fn node_errors_and_missing_libraries_are_reported_with_ovms_words() {
    let dir = tempfile::tempdir().unwrap();
    let c_node = build_c_node(dir.path());
    let missing = json!({"name": "gone", "base_path": dir.path().join("libgone.so")});
    let mut broken = normalized("broken", json!({}));
    broken["nodes"][0]["library_name"] = json!("gone");
    let path = config(
        dir.path(),
        &c_node,
        vec![missing],
        vec![
            normalized("failing", json!({"fail": "1"})),
            broken,
            argmax(),
        ],
    );
    let server = TestServer::start(&["--config_path", &path.to_string_lossy()]).await;

    let answer = server
        .post_json("/v2/models/failing/infer", &rows(&[[1.0; 4]]))
        .await;
    assert_error(&answer, 500, "Custom node failed during execution");
    // Nothing else is affected.
    let answer = assert_ok(
        server
            .post_json("/v2/models/argmax/infer", &rows(&[[0.0, 0.0, 3.0, 0.0]]))
            .await,
    );
    assert_eq!(output(&answer, "label")["data"], json!([2]));

    let status = assert_ok(server.get("/v1/models/broken").await);
    let version = &status["model_version_status"][0];
    assert_eq!(version["state"], "LOADING");
    let message = version["status"]["error_message"].as_str().unwrap();
    assert!(
        message.contains("Custom node library not found"),
        "{message}"
    );
    let answer = server
        .post_json("/v2/models/broken/infer", &rows(&[[1.0; 4]]))
        .await;
    assert_error(
        &answer,
        404,
        "Pipeline is not ready: Custom node library not found",
    );
}

/// in [N, 4] -> pick (Rust, demultiplies `row` into N branches of [1, 4])
/// -> versioned (latest: + 3) in each branch -> double_rows gathers them
/// ([N, 1, 4], doubled); the response gathers `label` too ([N, 1]).
fn demux(name: &str, count: i64) -> Value {
    json!({
        "name": name,
        "inputs": ["in"],
        "nodes": [
            {"name": "pick", "type": "custom", "library_name": "argmax", "demultiply_count": count,
             "inputs": [{"scores": from("request", "in")}],
             "outputs": [{"data_item": "label", "alias": "label"}, {"data_item": "row", "alias": "row"}]},
            {"name": "shift", "type": "DL model", "model_name": "versioned",
             "inputs": [{"x": from("pick", "row")}],
             "outputs": [{"data_item": "y", "alias": "shifted"}]},
            {"name": "join", "type": "DL model", "model_name": "double_rows", "gather_from_node": "pick",
             "inputs": [{"x": from("shift", "shifted")}],
             "outputs": [{"data_item": "y", "alias": "out"}]},
        ],
        "outputs": [{"out": from("join", "out")}, {"label": from("pick", "label")}]
    })
}

#[tokio::test]
async fn demultiplexed_branches_run_and_are_gathered_in_order() {
    let (server, _dir) = serve(vec![], vec![demux("dynamic", -1), demux("fixed", 2)]).await;

    let meta = assert_ok(server.get("/v2/models/dynamic").await);
    assert_eq!(meta["outputs"][0]["shape"], json!([-1, 1, 4]));
    assert_eq!(meta["outputs"][1]["shape"], json!([-1, 1]));
    let input = rows(&[
        [0.0, 9.0, 1.0, 2.0],
        [7.0, 1.0, 1.0, 8.0],
        [5.0, 0.0, 0.0, 0.0],
    ]);
    let answer = assert_ok(server.post_json("/v2/models/dynamic/infer", &input).await);
    assert_eq!(output(&answer, "out")["shape"], json!([3, 1, 4]));
    assert_eq!(
        f32_data(output(&answer, "out")),
        [
            6.0, 24.0, 8.0, 10.0, 20.0, 8.0, 8.0, 22.0, 16.0, 6.0, 6.0, 6.0
        ]
    );
    assert_eq!(output(&answer, "label")["data"], json!([1, 3, 0]));

    // A fixed count must match the rows.
    let answer = server.post_json("/v2/models/fixed/infer", &input).await;
    assert_error(
        &answer,
        500,
        "Demultiplication count does not match tensor first dimension",
    );
    let two = rows(&[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]);
    let answer = assert_ok(server.post_json("/v2/models/fixed/infer", &two).await);
    assert_eq!(output(&answer, "label")["data"], json!([0, 1]));

    // Nothing to split: OVMS's words.
    let none = json!({"inputs": [{"name": "in", "shape": [0, 4], "datatype": "FP32", "data": []}]});
    let answer = server.post_json("/v2/models/dynamic/infer", &none).await;
    assert_error(
        &answer,
        500,
        "Pipeline execution aborted due to no content from custom node",
    );
}

#[test]
fn a_gather_without_its_demultiplexer_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let c_node = build_c_node(dir.path());
    let mut wrong = demux("wrong", -1);
    wrong["nodes"][2]["gather_from_node"] = json!("shift");
    let path = config(dir.path(), &c_node, vec![], vec![wrong]);
    let finished = common::run_binary(
        &["--config_path", &path.to_string_lossy()],
        std::time::Duration::from_secs(30),
    );
    assert_ne!(finished.code, Some(0));
    assert!(
        finished
            .stderr
            .contains("node \"join\" gathers from node \"shift\", which does not demultiply"),
        "{}",
        finished.stderr
    );
}

/// A node written to OVMS's documented ABI with no header of ours: it
/// declares the structs itself (field order and types as documented) and
/// adds the param `add_value` to every FP32 value of its input.
const INDEPENDENT_NODE: &str = r#"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { UNSPECIFIED, FP32, FP16, U8, I8, I16, U16, I32, FP64, I64 } Precision;
struct CustomNodeTensor { const char* name; uint8_t* data; uint64_t dataBytes;
                          uint64_t* dims; uint64_t dimsCount; Precision precision; };
struct CustomNodeTensorInfo { const char* name; uint64_t* dims; uint64_t dimsCount;
                              Precision precision; };
struct CustomNodeParam { const char *key, *value; };

static float add_value(const struct CustomNodeParam* params, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(params[i].key, "add_value") == 0) return (float)atof(params[i].value);
    return 0.0f;
}
int initialize(void** state, const struct CustomNodeParam* params, int count) {
    float* value = malloc(sizeof(float));
    *value = add_value(params, count);
    *state = value;
    return 0;
}
int deinitialize(void* state) { free(state); return 0; }
static int info(struct CustomNodeTensorInfo** info, int* count, const char* name) {
    *info = malloc(sizeof(struct CustomNodeTensorInfo));
    (*info)->name = name;
    (*info)->dimsCount = 2;
    (*info)->dims = malloc(2 * sizeof(uint64_t));
    (*info)->dims[0] = 0;
    (*info)->dims[1] = 4;
    (*info)->precision = FP32;
    *count = 1;
    return 0;
}
int getInputsInfo(struct CustomNodeTensorInfo** i, int* c, const struct CustomNodeParam* p, int n, void* s) {
    (void)p; (void)n; (void)s; return info(i, c, "in");
}
int getOutputsInfo(struct CustomNodeTensorInfo** i, int* c, const struct CustomNodeParam* p, int n, void* s) {
    (void)p; (void)n; (void)s; return info(i, c, "out");
}
int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
            int* outputsCount, const struct CustomNodeParam* p, int n, void* state) {
    (void)p; (void)n;
    if (inputsCount != 1 || inputs[0].precision != FP32) return 1;
    struct CustomNodeTensor* out = malloc(sizeof(struct CustomNodeTensor));
    float* data = malloc(inputs[0].dataBytes);
    const float* in = (const float*)inputs[0].data;
    for (uint64_t i = 0; i < inputs[0].dataBytes / sizeof(float); i++) data[i] = in[i] + *(float*)state;
    out->name = "out";
    out->data = (uint8_t*)data;
    out->dataBytes = inputs[0].dataBytes;
    out->dimsCount = inputs[0].dimsCount;
    out->dims = malloc(out->dimsCount * sizeof(uint64_t));
    memcpy(out->dims, inputs[0].dims, out->dimsCount * sizeof(uint64_t));
    out->precision = FP32;
    *outputs = out;
    *outputsCount = 1;
    return 0;
}
int release(void* ptr, void* state) { (void)state; free(ptr); return 0; }
"#;

#[tokio::test]
async fn a_node_written_to_the_documented_abi_alone_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("add_one.c");
    std::fs::write(&source, INDEPENDENT_NODE).unwrap();
    let library = dir.path().join("libadd_one.so");
    compile_c(&source, &library, None);
    let c_node = build_c_node(dir.path());
    let add = json!({"name": "add_one", "base_path": library});
    let pipeline = json!({
        "name": "plus",
        "inputs": ["in"],
        "nodes": [{"name": "add", "type": "custom", "library_name": "add_one",
                   "params": {"add_value": "1.5"},
                   "inputs": [{"in": from("request", "in")}],
                   "outputs": [{"data_item": "out", "alias": "out"}]}],
        "outputs": [{"out": from("add", "out")}]
    });
    let path = config(dir.path(), &c_node, vec![add], vec![pipeline]);
    let server = TestServer::start(&["--config_path", &path.to_string_lossy()]).await;
    let meta = assert_ok(server.get("/v2/models/plus").await);
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 4]));
    let answer = assert_ok(
        server
            .post_json("/v2/models/plus/infer", &rows(&[[1.0, 2.0, 3.0, 4.0]]))
            .await,
    );
    assert_eq!(f32_data(output(&answer, "out")), [2.5, 3.5, 4.5, 5.5]);
}
