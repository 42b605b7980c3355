//! Tests against the real runtime and the committed models; they print a note
//! and pass when the runtime is missing, unless `INFERD_REQUIRE_BACKENDS`
//! names `onnxruntime`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use inferd_tensor::{DataType, Dim, Tensor, TensorData};

use super::OrtBackend;
use crate::{
    Backend, BackendError, InputShapes, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(super) fn backend() -> Option<OrtBackend> {
    let search = RuntimeSearch {
        runtimes_dirs: vec![repo().join("runtimes")],
        ..Default::default()
    };
    let backend = OrtBackend::discover(&search);
    if backend.is_available() {
        return Some(backend);
    }
    let required =
        std::env::var("INFERD_REQUIRE_BACKENDS").is_ok_and(|v| v.contains("onnxruntime"));
    assert!(
        !required,
        "ONNX Runtime is required but unavailable: {}",
        backend.describe()
    );
    eprintln!(
        "note: skipping, ONNX Runtime is not available: {}",
        backend.describe()
    );
    None
}

fn files_in(dir: &Path) -> ModelFiles {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    ModelFiles {
        dir: dir.to_path_buf(),
        files,
    }
}

fn model_files(name: &str, version: u32) -> ModelFiles {
    files_in(&repo().join("models").join(name).join(version.to_string()))
}

pub(super) fn load(
    backend: &OrtBackend,
    name: &str,
    version: u32,
    options: &ModelOptions,
) -> Result<Arc<dyn LoadedModel>, BackendError> {
    backend.load(&model_files(name, version), options)
}

fn f32_tensor(shape: Vec<usize>, values: &[f32]) -> Tensor {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::new(DataType::F32, shape, TensorData::Raw(Bytes::from(bytes))).unwrap()
}

fn f32_values(tensor: &Tensor) -> Vec<f32> {
    let TensorData::Raw(bytes) = tensor.data() else {
        panic!("not raw")
    };
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn check_add(model: &dyn LoadedModel, batch: usize, seed: f32) {
    let a: Vec<f32> = (0..batch * 16).map(|i| seed + i as f32).collect();
    let b: Vec<f32> = (0..batch * 16)
        .map(|i| seed * 0.5 - i as f32 * 2.0)
        .collect();
    let out = model
        .execute(vec![
            f32_tensor(vec![batch, 16], &a),
            f32_tensor(vec![batch, 16], &b),
        ])
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].shape(), &[batch, 16]);
    let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_eq!(f32_values(&out[0]), sum);
    assert_eq!(f32_values(&out[1]), diff);
}

#[test]
fn discovery_finds_the_runtime_and_its_version() {
    let Some(backend) = backend() else { return };
    assert_eq!(backend.name(), "onnxruntime");
    assert_eq!(backend.platform(), "onnxruntime_onnx");
    let version = backend.version().unwrap();
    assert!(version.starts_with("1."), "{version}");
    let describe = backend.describe();
    eprintln!("{describe}");
    assert!(
        describe.starts_with(&format!("ONNX Runtime {version} from ")),
        "{describe}"
    );
    assert!(describe.contains("libonnxruntime.so"), "{describe}");
    // The version comes from the runtime itself, not only from its file name.
    assert_eq!(
        super::version::from_loader(backend.library().unwrap()).as_deref(),
        Some(version)
    );
    // A second discovery reuses the loaded library.
    assert_eq!(
        super::OrtBackend::discover(&RuntimeSearch {
            runtimes_dirs: vec![repo().join("runtimes")],
            ..Default::default()
        })
        .version(),
        Some(version)
    );
}

#[test]
fn a_bogus_explicit_path_leaves_the_backend_unavailable() {
    let search = RuntimeSearch {
        onnxruntime_lib: Some(PathBuf::from("/no/such/dir/libonnxruntime.so")),
        runtimes_dirs: vec![repo().join("runtimes")],
        ..Default::default()
    };
    let backend = OrtBackend::discover(&search);
    assert!(!backend.is_available());
    assert_eq!(backend.version(), None);
    let describe = backend.describe();
    assert!(
        describe.contains("/no/such/dir/libonnxruntime.so"),
        "{describe}"
    );
    assert!(
        describe.contains("scripts/install-runtimes.sh"),
        "{describe}"
    );
    assert!(describe.contains("--onnxruntime_lib"), "{describe}");
    assert!(backend.can_load(&model_files("add", 1)));
    let err = backend
        .load(&model_files("add", 1), &ModelOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, BackendError::Unsupported(_)), "{err}");
}

#[test]
fn add_runs_at_batch_one_and_three() {
    let Some(backend) = backend() else { return };
    let model = load(&backend, "add", 1, &ModelOptions::default()).unwrap();
    let sig = model.signature();
    let names = |specs: &[inferd_tensor::TensorSpec]| {
        specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&sig.inputs), ["a", "b"]);
    assert_eq!(names(&sig.outputs), ["sum", "diff"]);
    for spec in sig.inputs.iter().chain(&sig.outputs) {
        assert_eq!(spec.dtype, DataType::F32);
        assert_eq!(spec.shape, vec![Dim::Any, Dim::Fixed(16)], "{}", spec.name);
    }
    assert_eq!(model.max_concurrency(), None);
    check_add(model.as_ref(), 1, 1.5);
    check_add(model.as_ref(), 3, -7.0);
}

#[test]
fn each_version_adds_its_number() {
    let Some(backend) = backend() else { return };
    for v in 1..=3u32 {
        let model = load(&backend, "versioned", v, &ModelOptions::default()).unwrap();
        let sig = model.signature();
        assert_eq!(sig.inputs[0].name, "x");
        assert_eq!(sig.inputs[0].shape, vec![Dim::Fixed(1), Dim::Fixed(4)]);
        assert_eq!(sig.outputs[0].name, "y");
        let out = model
            .execute(vec![f32_tensor(vec![1, 4], &[0.0, 1.0, 2.0, 3.5])])
            .unwrap();
        let v = v as f32;
        assert_eq!(f32_values(&out[0]), vec![v, 1.0 + v, 2.0 + v, 3.5 + v]);
    }
}

#[test]
fn shapes_restrict_the_signature() {
    let Some(backend) = backend() else { return };
    let two = vec![Dim::Fixed(2), Dim::Fixed(16)];
    let per_input = ModelOptions {
        shapes: InputShapes::PerInput(BTreeMap::from([
            ("a".to_string(), two.clone()),
            ("b".to_string(), two.clone()),
        ])),
        ..Default::default()
    };
    let batch = ModelOptions {
        batch_size: Some(2),
        ..Default::default()
    };
    for options in [per_input, batch] {
        let model = load(&backend, "add", 1, &options).unwrap();
        for input in &model.signature().inputs {
            assert_eq!(input.shape, two, "{}", input.name);
        }
        check_add(model.as_ref(), 2, 3.0);
    }
    let contradicting = ModelOptions {
        shapes: InputShapes::Single(vec![Dim::Fixed(2), Dim::Fixed(4)]),
        ..Default::default()
    };
    let err = load(&backend, "versioned", 1, &contradicting)
        .err()
        .unwrap();
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("(2,4)") && m.contains("(1,4)")),
        "{err}"
    );
}

#[test]
fn plugin_config_is_applied_or_refused() {
    let Some(backend) = backend() else { return };
    let config = |pairs: &[(&str, &str)]| ModelOptions {
        plugin_config: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        nireq: Some(4),
        ..Default::default()
    };
    let good = config(&[
        ("INTRA_OP_NUM_THREADS", "1"),
        ("INTER_OP_NUM_THREADS", "2"),
        ("GRAPH_OPTIMIZATION_LEVEL", "BASIC"),
        ("EXECUTION_MODE", "PARALLEL"),
        ("PERFORMANCE_HINT", "LATENCY"),
    ]);
    let model = load(&backend, "add", 1, &good).unwrap();
    assert_eq!(model.max_concurrency(), Some(4));
    check_add(model.as_ref(), 2, 0.25);
    let err = load(&backend, "add", 1, &config(&[("NO_SUCH_KEY", "1")]))
        .err()
        .unwrap();
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("NO_SUCH_KEY")),
        "{err}"
    );
    let err = load(
        &backend,
        "add",
        1,
        &config(&[("GRAPH_OPTIMIZATION_LEVEL", "MAX")]),
    )
    .err()
    .unwrap();
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("GRAPH_OPTIMIZATION_LEVEL") && m.contains("EXTENDED")),
        "{err}"
    );
}

#[test]
fn other_devices_are_unsupported_and_layout_conversions_left_to_the_server() {
    let Some(backend) = backend() else { return };
    let gpu = ModelOptions {
        target_device: Some("GPU".into()),
        ..Default::default()
    };
    assert!(matches!(
        load(&backend, "add", 1, &gpu),
        Err(BackendError::Unsupported(_))
    ));
    let cpu = ModelOptions {
        target_device: Some("cpu".into()),
        layouts: BTreeMap::from([("a".to_string(), "NC".to_string())]),
        ..Default::default()
    };
    assert!(load(&backend, "add", 1, &cpu).is_ok());
    let convert = ModelOptions {
        layouts: BTreeMap::from([("a".to_string(), "NHWC:NCHW".to_string())]),
        ..Default::default()
    };
    let loaded = load(&backend, "add", 1, &convert).unwrap();
    assert!(!loaded.applies_preprocessing());
}

#[test]
fn a_corrupt_model_is_a_load_error() {
    let Some(backend) = backend() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), b"garbage").unwrap();
    let files = files_in(dir.path());
    assert!(backend.can_load(&files));
    let err = backend
        .load(&files, &ModelOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("model.onnx")),
        "{err}"
    );
    assert!(!backend.can_load(&ModelFiles {
        dir: dir.path().into(),
        files: vec![]
    }));
}

#[test]
fn concurrent_executions_are_all_correct() {
    let Some(backend) = backend() else { return };
    let model = load(&backend, "add", 1, &ModelOptions::default()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let model = &model;
            s.spawn(move || {
                for i in 0..20 {
                    check_add(model.as_ref(), 1 + (t + i) % 4, (t * 100 + i) as f32);
                }
            });
        }
    });
}
