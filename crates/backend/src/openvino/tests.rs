//! Tests against the installed OpenVINO runtime and the committed models.
//! Without a runtime they print a note and pass, unless
//! `INFERD_REQUIRE_BACKENDS` contains `openvino`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use inferd_tensor::{DataType, Dim, Tensor, TensorData};

use super::OpenVinoBackend;
use crate::{Backend, BackendError, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch};

pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../"))
}

/// The backend over `<repo>/runtimes`, or `None` (with a note) when absent.
pub fn backend() -> Option<OpenVinoBackend> {
    let search = RuntimeSearch {
        runtimes_dirs: vec![repo().join("runtimes")],
        ..Default::default()
    };
    let backend = OpenVinoBackend::discover(&search);
    if backend.is_available() {
        return Some(backend);
    }
    let required = std::env::var("INFERD_REQUIRE_BACKENDS").is_ok_and(|v| v.contains("openvino"));
    assert!(
        !required,
        "OpenVINO is required but unavailable: {}",
        backend.describe()
    );
    eprintln!("note: skipping an OpenVINO test: {}", backend.describe());
    None
}

/// Every file under `dir`, like the repository layer lists them.
pub fn files_in(dir: &Path) -> ModelFiles {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    ModelFiles {
        dir: dir.to_path_buf(),
        files,
    }
}

pub fn model_dir(name: &str, version: u32) -> ModelFiles {
    files_in(&repo().join("models").join(name).join(version.to_string()))
}

/// Options with exact f32 arithmetic.
pub fn exact() -> ModelOptions {
    let mut options = ModelOptions::default();
    options
        .plugin_config
        .insert("INFERENCE_PRECISION_HINT".into(), "f32".into());
    options
}

pub fn load(backend: &OpenVinoBackend, name: &str, options: &ModelOptions) -> Arc<dyn LoadedModel> {
    backend
        .load(&model_dir(name, 1), options)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::new(DataType::F32, shape.to_vec(), TensorData::Raw(raw.into())).unwrap()
}

pub fn to_f32s(tensor: &Tensor) -> Vec<f32> {
    let TensorData::Raw(raw) = tensor.data() else {
        panic!("expected raw data")
    };
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn run_add(model: &dyn LoadedModel, rows: usize, seed: f32) {
    let a: Vec<f32> = (0..rows * 16).map(|i| seed + i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..rows * 16).map(|i| seed * 2.0 - i as f32).collect();
    let out = model
        .execute(vec![f32s(&[rows, 16], &a), f32s(&[rows, 16], &b)])
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].shape(), &[rows, 16]);
    let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_eq!(to_f32s(&out[0]), sum);
    assert_eq!(to_f32s(&out[1]), diff);
}

#[test]
fn discovers_the_runtime_and_its_version() {
    let Some(backend) = backend() else { return };
    let version = backend.version().unwrap();
    assert!(version.starts_with("20"), "{version}");
    let path = backend.library_path().unwrap();
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("libopenvino_c.so")
    );
    assert_eq!(
        backend.describe(),
        format!("OpenVINO {version} from {}", path.display())
    );
    assert_eq!(
        (backend.name(), backend.platform()),
        ("openvino", "OpenVINO")
    );
    // Discovering again reuses the runtime loaded once per process.
    let again = self::backend().unwrap();
    assert_eq!(again.version(), Some(version));
}

#[test]
fn missing_library_is_reported_with_an_install_hint() {
    let search = RuntimeSearch {
        openvino_lib: Some("/no/such/libopenvino_c.so".into()),
        ..Default::default()
    };
    let backend = OpenVinoBackend::discover(&search);
    assert!(!backend.is_available());
    assert_eq!(backend.version(), None);
    let text = backend.describe();
    assert!(text.contains("/no/such/libopenvino_c.so"), "{text}");
    assert!(text.contains("scripts/install-runtimes.sh"), "{text}");
    assert!(
        text.contains("--openvino_lib") && text.contains("INFERD_OPENVINO_LIB"),
        "{text}"
    );
    let err = backend
        .load(&model_dir("add", 1), &ModelOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, BackendError::Unsupported(_)), "{err:?}");
}

#[test]
fn a_file_that_is_not_a_library_leaves_the_backend_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libopenvino_c.so.1");
    std::fs::write(&fake, "not a library").unwrap();
    let backend = OpenVinoBackend::discover(&RuntimeSearch {
        openvino_lib: Some(fake.clone()),
        ..Default::default()
    });
    assert!(!backend.is_available());
    assert!(
        backend.describe().contains(&fake.display().to_string()),
        "{}",
        backend.describe()
    );
}

#[test]
fn recognises_the_model_formats_ovms_reads() {
    let backend = OpenVinoBackend::discover(&RuntimeSearch {
        openvino_lib: Some("/nowhere".into()),
        ..Default::default()
    });
    let files = |names: &[&str]| ModelFiles {
        dir: PathBuf::from("/m/1"),
        files: names
            .iter()
            .map(|n| PathBuf::from("/m/1").join(n))
            .collect(),
    };
    for yes in [
        &["model.bin", "model.xml"][..],
        &["x.onnx"],
        &["saved_model.pb", "variables/variables.index"],
        &["graph.pb"],
        &["m.tflite"],
        &["m.pdiparams", "m.pdmodel"],
    ] {
        assert!(backend.can_load(&files(yes)), "{yes:?}");
    }
    for no in [&["model.xml"][..], &["model.bin"], &["notes.txt"], &[]] {
        assert!(!backend.can_load(&files(no)), "{no:?}");
    }
    let pick = |names: &[&str]| {
        super::load::model_file(&files(names)).map(|f| f.map(|f| (f.path, f.weights)))
    };
    let p = |n: &str| PathBuf::from("/m/1").join(n);
    assert_eq!(
        pick(&["a.bin", "a.xml", "b.onnx"]).unwrap(),
        Some((p("a.xml"), Some(p("a.bin"))))
    );
    assert_eq!(
        pick(&["saved_model.pb", "variables/v.index"]).unwrap(),
        Some((p(""), None))
    );
    assert_eq!(
        pick(&["a.onnx", "model.onnx"]).unwrap(),
        Some((p("model.onnx"), None))
    );
    assert!(matches!(
        pick(&["a.onnx", "b.onnx"]),
        Err(BackendError::Load(_))
    ));
}

#[test]
fn adds_numbers_exactly_at_any_batch_size() {
    let Some(backend) = backend() else { return };
    let model = load(&backend, "add", &exact());
    run_add(model.as_ref(), 1, 1.25);
    run_add(model.as_ref(), 3, -7.0);
}

#[test]
fn signatures_follow_the_models() {
    let Some(backend) = backend() else { return };
    let add = load(&backend, "add", &exact());
    let sig = add.signature();
    let names = |specs: &[inferd_tensor::TensorSpec]| {
        specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&sig.inputs), ["a", "b"]);
    assert_eq!(names(&sig.outputs), ["sum", "diff"]);
    for spec in sig.inputs.iter().chain(&sig.outputs) {
        assert_eq!(
            (spec.dtype, spec.shape.as_slice()),
            (DataType::F32, &[Dim::Any, Dim::Fixed(16)][..])
        );
    }
    for version in 1..=3u32 {
        let model = backend
            .load(&model_dir("versioned", version), &exact())
            .unwrap();
        let sig = model.signature();
        assert_eq!((sig.inputs.len(), sig.outputs.len()), (1, 1));
        assert_eq!(sig.inputs[0].name, "x");
        assert_eq!(sig.outputs[0].name, "y");
        assert_eq!(sig.inputs[0].shape, [Dim::Fixed(1), Dim::Fixed(4)]);
        let x = [1.0f32, -2.0, 3.5, 0.0];
        let out = model.execute(vec![f32s(&[1, 4], &x)]).unwrap();
        let want: Vec<f32> = x.iter().map(|v| v + version as f32).collect();
        assert_eq!(to_f32s(&out[0]), want, "version {version}");
    }
}

#[test]
fn string_models_are_refused_clearly() {
    let Some(backend) = backend() else { return };
    let err = backend
        .load(&model_dir("identity_bytes", 1), &ModelOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, BackendError::Unsupported(m) if m.contains("input") && m.contains("BYTES")),
        "{err:?}"
    );
}
