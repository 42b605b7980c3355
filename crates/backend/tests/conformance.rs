//! One conformance suite, run against every backend this machine has: the same
//! committed models and requests must give the same answers (within a
//! per-backend tolerance) and the same signatures.
//!
//! A native backend whose runtime is missing is skipped with a note, unless
//! `INFERD_REQUIRE_BACKENDS` names it (CI sets it after installing runtimes).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use inferd_backend::{Backend, Backends, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch};
use inferd_tensor::{DataType, Dim, Tensor, TensorData};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every backend compiled in whose runtime is found; fails for a required one that is not.
fn engines() -> Vec<Arc<dyn Backend>> {
    let search = RuntimeSearch {
        runtimes_dirs: vec![repo().join("runtimes")],
        ..Default::default()
    };
    let required = std::env::var("INFERD_REQUIRE_BACKENDS").unwrap_or_default();
    let mut out = Vec::new();
    for engine in Backends::discover(&search).all() {
        if engine.is_available() {
            out.push(engine.clone());
        } else if required.split(',').any(|r| r.trim() == engine.name()) {
            panic!(
                "backend {} is required but not available: {}",
                engine.name(),
                engine.describe()
            );
        } else {
            eprintln!(
                "note: skipping backend {}: {}",
                engine.name(),
                engine.describe()
            );
        }
    }
    out
}

/// Options that make every engine compute in the model's own precision.
fn exact_options() -> ModelOptions {
    let mut options = ModelOptions::default();
    options
        .plugin_config
        .insert("INFERENCE_PRECISION_HINT".into(), "f32".into());
    options
}

fn load(engine: &Arc<dyn Backend>, model: &str, version: u64) -> Arc<dyn LoadedModel> {
    let dir = repo().join("models").join(model).join(version.to_string());
    let files = ModelFiles {
        dir: dir.clone(),
        files: vec![dir.join("model.onnx")],
    };
    engine
        .load(&files, &exact_options())
        .unwrap_or_else(|e| panic!("{} cannot load {model}: {e}", engine.name()))
}

fn f32_tensor(shape: Vec<usize>, values: &[f32]) -> Tensor {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::new(DataType::F32, shape, TensorData::Raw(Bytes::from(bytes))).expect("tensor")
}

fn f32_values(tensor: &Tensor) -> Vec<f32> {
    let TensorData::Raw(bytes) = tensor.data() else {
        panic!("numeric output expected")
    };
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Largest absolute difference a backend may show on these small sums.
fn tolerance(engine: &str) -> f32 {
    match engine {
        "openvino" => 1e-5,
        _ => 1e-6,
    }
}

#[test]
fn add_gives_the_same_sums_on_every_backend() {
    for engine in engines() {
        let model = load(&engine, "add", 1);
        for batch in [1usize, 3] {
            let a: Vec<f32> = (0..batch * 16).map(|i| i as f32 * 0.25).collect();
            let b: Vec<f32> = (0..batch * 16).map(|i| 100.0 - i as f32).collect();
            let outputs = model
                .execute(vec![
                    f32_tensor(vec![batch, 16], &a),
                    f32_tensor(vec![batch, 16], &b),
                ])
                .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
            assert_eq!(outputs.len(), 2, "{}", engine.name());
            assert_eq!(outputs[0].shape(), &[batch, 16], "{}", engine.name());
            for (i, (sum, diff)) in f32_values(&outputs[0])
                .iter()
                .zip(f32_values(&outputs[1]))
                .enumerate()
            {
                assert!(
                    (sum - (a[i] + b[i])).abs() <= tolerance(engine.name()),
                    "{} sum[{i}]",
                    engine.name()
                );
                assert!(
                    (diff - (a[i] - b[i])).abs() <= tolerance(engine.name()),
                    "{} diff[{i}]",
                    engine.name()
                );
            }
        }
    }
}

#[test]
fn signatures_agree() {
    for engine in engines() {
        let add = load(&engine, "add", 1);
        let sig = add.signature();
        let names: Vec<&str> = sig
            .inputs
            .iter()
            .chain(&sig.outputs)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "sum", "diff"], "{}", engine.name());
        for spec in sig.inputs.iter().chain(&sig.outputs) {
            assert_eq!(spec.dtype, DataType::F32, "{}", engine.name());
            assert_eq!(
                spec.shape,
                vec![Dim::Any, Dim::Fixed(16)],
                "{} {}",
                engine.name(),
                spec.name
            );
        }
        let versioned = load(&engine, "versioned", 2);
        assert_eq!(
            versioned.signature().inputs[0].shape,
            vec![Dim::Fixed(1), Dim::Fixed(4)],
            "{}",
            engine.name()
        );
    }
}

#[test]
fn versions_answer_differently() {
    for engine in engines() {
        for version in 1..=3u64 {
            let model = load(&engine, "versioned", version);
            let out = model
                .execute(vec![f32_tensor(vec![1, 4], &[0.0, 1.0, 2.0, 3.0])])
                .expect("execute");
            let want: Vec<f32> = (0..4).map(|i| i as f32 + version as f32).collect();
            assert_eq!(f32_values(&out[0]), want, "{} v{version}", engine.name());
        }
    }
}

/// Inputs whose first dimension is unnamed in the file (no `dim_value`, no
/// `dim_param`) load as dynamic on every engine, each such dimension on its
/// own, and run at any size.
#[test]
fn unnamed_dimensions_are_dynamic_on_every_backend() {
    for engine in engines() {
        let model = load(&engine, "unnamed_dims", 1);
        for spec in model
            .signature()
            .inputs
            .iter()
            .chain(&model.signature().outputs)
        {
            assert_eq!(
                spec.shape,
                vec![Dim::Any, Dim::Fixed(4)],
                "{} {}",
                engine.name(),
                spec.name
            );
        }
        for rows in [1usize, 5] {
            let a: Vec<f32> = (0..rows * 4).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..rows * 4).map(|i| 0.5 - i as f32 * 2.0).collect();
            let out = model
                .execute(vec![
                    f32_tensor(vec![rows, 4], &a),
                    f32_tensor(vec![rows, 4], &b),
                ])
                .unwrap_or_else(|e| panic!("{} rows={rows}: {e}", engine.name()));
            assert_eq!(out[0].shape(), &[rows, 4], "{}", engine.name());
            let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
            assert_eq!(f32_values(&out[0]), want, "{} rows={rows}", engine.name());
        }
        let double = load(&engine, "double", 1);
        let out = double
            .execute(vec![f32_tensor(vec![2, 4], &[1.0; 8])])
            .unwrap_or_else(|e| panic!("{} double: {e}", engine.name()));
        assert_eq!(f32_values(&out[0]), vec![2.0; 8], "{}", engine.name());
    }
}

/// A [2, 3] tensor of `dtype` with distinct, type-typical values.
fn sample(dtype: DataType) -> Tensor {
    let raw = |bytes: Vec<u8>| TensorData::Raw(Bytes::from(bytes));
    let data = match dtype {
        DataType::Bool => raw(vec![1, 0, 0, 1, 1, 0]),
        DataType::Bytes => TensorData::Strings(
            ["a", "", "héllo", "x y", "0", "zz"]
                .iter()
                .map(|s| Bytes::from(*s))
                .collect(),
        ),
        DataType::F16 => raw([1.0f32, -2.5, 0.0, 65504.0, 0.125, -0.0]
            .iter()
            .flat_map(|v| half_bits(*v))
            .collect()),
        // OpenVINO's CPU plugin computes 64-bit integers in 32 bits: keep the
        // samples within 32-bit range so every engine must give them back.
        DataType::I64 => raw([-5i64, 0, 7, i64::from(i32::MAX), i64::from(i32::MIN), 42]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()),
        DataType::U64 => raw([0u64, 1, 7, u64::from(u32::MAX >> 1), 99, 42]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()),
        other => {
            let size = other.size_bytes().expect("fixed size");
            raw((0..6 * size).map(|i| (i * 37 % 251) as u8).collect())
        }
    };
    Tensor::new(dtype, vec![2, 3], data).expect("sample")
}

fn half_bits(v: f32) -> [u8; 2] {
    // Exact for the sample values above (all representable in FP16).
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    let half = if exp == 0 {
        sign
    } else {
        sign | (((exp - 127 + 15) as u16) << 10) | (mantissa >> 13) as u16
    };
    half.to_le_bytes()
}

#[test]
fn identity_round_trips_every_dtype() {
    let types = [
        ("fp32", DataType::F32),
        ("fp64", DataType::F64),
        ("fp16", DataType::F16),
        ("int8", DataType::I8),
        ("int16", DataType::I16),
        ("int32", DataType::I32),
        ("int64", DataType::I64),
        ("uint8", DataType::U8),
        ("uint16", DataType::U16),
        ("uint32", DataType::U32),
        ("uint64", DataType::U64),
        ("bool", DataType::Bool),
        ("bytes", DataType::Bytes),
    ];
    for engine in engines() {
        for (suffix, dtype) in types {
            let dir = repo()
                .join("models")
                .join(format!("identity_{suffix}"))
                .join("1");
            let files = ModelFiles {
                dir: dir.clone(),
                files: vec![dir.join("model.onnx")],
            };
            let model = match engine.load(&files, &exact_options()) {
                Ok(model) => model,
                // OpenVINO has no string tensors in ONNX models: refusing them is correct.
                Err(e) if dtype == DataType::Bytes && engine.name() == "openvino" => {
                    eprintln!("note: openvino refuses BYTES identity: {e}");
                    continue;
                }
                Err(e) => panic!("{} cannot load identity_{suffix}: {e}", engine.name()),
            };
            assert_eq!(
                model.signature().inputs[0].dtype,
                dtype,
                "{} {suffix}",
                engine.name()
            );
            let input = sample(dtype);
            let out = model
                .execute(vec![input.clone()])
                .unwrap_or_else(|e| panic!("{} {suffix}: {e}", engine.name()));
            assert_eq!(out[0], input, "{} {suffix}", engine.name());
            // Empty tensors pass through too.
            let empty = match dtype {
                DataType::Bytes => TensorData::Strings(Vec::new()),
                _ => TensorData::Raw(Bytes::new()),
            };
            let empty = Tensor::new(dtype, vec![0, 3], empty).expect("empty");
            let out = model
                .execute(vec![empty])
                .unwrap_or_else(|e| panic!("{} {suffix} empty: {e}", engine.name()));
            assert_eq!(out[0].shape(), &[0, 3], "{} {suffix} empty", engine.name());
        }
    }
}

#[test]
fn broken_files_fail_to_load_without_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("model.onnx"), b"this is not an onnx model").expect("write");
    let files = ModelFiles {
        dir: dir.path().to_path_buf(),
        files: vec![dir.path().join("model.onnx")],
    };
    for engine in engines() {
        assert!(
            engine.load(&files, &ModelOptions::default()).is_err(),
            "{}",
            engine.name()
        );
    }
}
