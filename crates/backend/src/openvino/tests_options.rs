//! Tests of the load-time options, errors, IR models and concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;

use inferd_tensor::{DataType, Dim, Tensor, TensorData};

use super::tests::{backend, exact, f32s, files_in, load, model_dir, repo, run_add, to_f32s};
use crate::{Backend, BackendError, InputShapes, ModelOptions};

fn load_err(options: &ModelOptions) -> Option<BackendError> {
    let backend = backend()?;
    Some(
        backend
            .load(&model_dir("add", 1), options)
            .err()
            .expect("the load should fail"),
    )
}

#[test]
fn shape_option_fixes_the_inputs() {
    let Some(backend) = backend() else { return };
    let mut options = exact();
    let fixed = vec![Dim::Fixed(2), Dim::Fixed(16)];
    options.shapes = InputShapes::PerInput(BTreeMap::from([
        ("a".into(), fixed.clone()),
        ("b".into(), fixed.clone()),
    ]));
    let model = load(&backend, "add", &options);
    for spec in model
        .signature()
        .inputs
        .iter()
        .chain(&model.signature().outputs)
    {
        assert_eq!(spec.shape, fixed, "{}", spec.name);
    }
    run_add(model.as_ref(), 2, 0.5);
    let three = f32s(&[3, 16], &[0.0; 48]);
    assert!(model.execute(vec![three.clone(), three]).is_err());
    // A single shape needs a single input.
    options.shapes = InputShapes::Single(fixed);
    assert!(matches!(
        backend.load(&model_dir("add", 1), &options),
        Err(BackendError::Load(_))
    ));
}

#[test]
fn shape_ranges_become_interval_dimensions() {
    let Some(backend) = backend() else { return };
    let mut options = exact();
    let ranged = vec![Dim::Range(1, 8), Dim::Fixed(16)];
    options.shapes = InputShapes::PerInput(BTreeMap::from([
        ("a".into(), ranged.clone()),
        ("b".into(), ranged.clone()),
    ]));
    let model = load(&backend, "add", &options);
    assert_eq!(model.signature().inputs[0].shape, ranged);
    run_add(model.as_ref(), 8, 3.0);
    // Dim::Any turns a fixed dimension dynamic.
    options.shapes = InputShapes::Single(vec![Dim::Any, Dim::Any]);
    let model = load(&backend, "identity_fp32", &options);
    assert_eq!(model.signature().inputs[0].shape, [Dim::Any, Dim::Any]);
}

#[test]
fn batch_size_option_sets_the_first_dimension() {
    let Some(backend) = backend() else { return };
    let options = ModelOptions {
        batch_size: Some(4),
        ..exact()
    };
    let model = load(&backend, "add", &options);
    for spec in &model.signature().inputs {
        assert_eq!(spec.shape, [Dim::Fixed(4), Dim::Fixed(16)]);
    }
    run_add(model.as_ref(), 4, 9.0);
}

#[test]
fn bad_plugin_config_is_a_load_error() {
    let mut options = exact();
    options
        .plugin_config
        .insert("NO_SUCH_SETTING".into(), "1".into());
    let Some(err) = load_err(&options) else {
        return;
    };
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("NO_SUCH_SETTING")),
        "{err:?}"
    );
    let mut options = exact();
    options
        .plugin_config
        .insert("PERFORMANCE_HINT".into(), "WARP_SPEED".into());
    let err = load_err(&options).unwrap();
    assert!(
        matches!(&err, BackendError::Load(m) if m.contains("WARP_SPEED")),
        "{err:?}"
    );
}

#[test]
fn accepted_plugin_config_and_cache_dir() {
    let Some(backend) = backend() else { return };
    let cache = tempfile::tempdir().unwrap();
    let mut options = exact();
    for (k, v) in [
        ("PERFORMANCE_HINT", "THROUGHPUT"),
        ("NUM_STREAMS", "2"),
        ("INFERENCE_NUM_THREADS", "2"),
    ] {
        options.plugin_config.insert(k.into(), v.into());
    }
    options.cache_dir = Some(cache.path().to_path_buf());
    let model = load(&backend, "add", &options);
    run_add(model.as_ref(), 2, 1.0);
    assert!(
        std::fs::read_dir(cache.path()).unwrap().next().is_some(),
        "CACHE_DIR stays empty"
    );
}

#[test]
fn other_load_errors_are_errors_not_panics() {
    let Some(backend) = backend() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), "garbage").unwrap();
    let err = backend
        .load(&files_in(dir.path()), &ModelOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, BackendError::Load(_)), "{err:?}");
    let options = ModelOptions {
        target_device: Some("NO_SUCH_DEVICE".into()),
        ..Default::default()
    };
    assert!(matches!(
        backend.load(&model_dir("add", 1), &options),
        Err(BackendError::Load(_))
    ));
    let mut options = ModelOptions::default();
    options.layouts.insert("nope".into(), "NC".into());
    assert!(matches!(
        backend.load(&model_dir("add", 1), &options),
        Err(BackendError::Load(_))
    ));
    let mut options = ModelOptions::default();
    options.layouts.insert("a".into(), "NOT A LAYOUT".into());
    assert!(matches!(
        backend.load(&model_dir("add", 1), &options),
        Err(BackendError::Load(_))
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        backend.load(&files_in(empty.path()), &ModelOptions::default()),
        Err(BackendError::Unsupported(_))
    ));
}

#[test]
fn concurrent_execute_shares_a_small_pool() {
    let Some(backend) = backend() else { return };
    let model = load(
        &backend,
        "add",
        &ModelOptions {
            nireq: Some(2),
            ..exact()
        },
    );
    assert_eq!(model.max_concurrency(), Some(2));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                for i in 0..25 {
                    run_add(model.as_ref(), 1 + (t + i) % 4, t as f32 * 100.0 + i as f32);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let default = load(&backend, "add", &exact());
    assert!(default.max_concurrency().unwrap() >= 1);
}

#[test]
fn the_variadic_compile_path_passes_properties_too() {
    let Some(backend) = backend() else { return };
    let rt = backend.runtime().unwrap();
    let core = rt.core();
    let path = repo().join("models/add/1/model.onnx");
    let model = core.read_model(&path, None).unwrap();
    let props = [
        ("INFERENCE_PRECISION_HINT".to_string(), "f32".to_string()),
        ("NUM_STREAMS".into(), "1".into()),
    ];
    assert!(core.compile(&model, "CPU", &props, true).is_ok());
    let bad = [("NO_SUCH_SETTING".to_string(), "1".to_string())];
    let err = core.compile(&model, "CPU", &bad, true).err().unwrap();
    assert!(err.contains("NO_SUCH_SETTING"), "{err}");
}

/// An IR network: `out = x + x` over one input of the given shape.
fn write_ir(dir: &std::path::Path, dims: &[i64]) {
    let port = |id: u32, names: &str| {
        let dims: String = dims.iter().map(|d| format!("<dim>{d}</dim>")).collect();
        format!(r#"<port id="{id}" precision="FP32"{names}>{dims}</port>"#)
    };
    let shape = dims
        .iter()
        .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
        .collect::<Vec<_>>()
        .join(",");
    let xml = format!(
        r#"<?xml version="1.0"?>
<net name="double" version="11"><layers>
<layer id="0" name="x" type="Parameter" version="opset1"><data shape="{shape}" element_type="f32"/><output>{}</output></layer>
<layer id="1" name="add" type="Add" version="opset1"><data auto_broadcast="numpy"/><input>{}{}</input><output>{}</output></layer>
<layer id="2" name="out" type="Result" version="opset1"><input>{}</input></layer>
</layers><edges>
<edge from-layer="0" from-port="0" to-layer="1" to-port="0"/><edge from-layer="0" from-port="0" to-layer="1" to-port="1"/>
<edge from-layer="1" from-port="2" to-layer="2" to-port="0"/>
</edges></net>"#,
        port(0, r#" names="x""#),
        port(0, ""),
        port(1, ""),
        port(2, r#" names="out""#),
        port(0, ""),
    );
    std::fs::write(dir.join("model.xml"), xml).unwrap();
    std::fs::write(dir.join("model.bin"), b"").unwrap();
}

#[test]
fn reads_ir_and_converts_layouts() {
    let Some(backend) = backend() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_ir(dir.path(), &[-1, 4]);
    let model = backend.load(&files_in(dir.path()), &exact()).unwrap();
    assert_eq!(model.signature().inputs[0].shape, [Dim::Any, Dim::Fixed(4)]);
    let out = model
        .execute(vec![f32s(
            &[2, 4],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        )])
        .unwrap();
    assert_eq!(
        to_f32s(&out[0]),
        [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    );

    // NCHW model served to NHWC clients: OpenVINO adds the transpose.
    let dir = tempfile::tempdir().unwrap();
    write_ir(dir.path(), &[1, 3, 2, 2]);
    let mut options = exact();
    options.layouts.insert(String::new(), "NHWC:NCHW".into());
    let model = backend.load(&files_in(dir.path()), &options).unwrap();
    let sig = model.signature();
    let fixed = |d: &[u64]| d.iter().map(|n| Dim::Fixed(*n)).collect::<Vec<_>>();
    assert_eq!(sig.inputs[0].shape, fixed(&[1, 2, 2, 3]));
    assert_eq!(sig.outputs[0].shape, fixed(&[1, 3, 2, 2]));
    let nhwc: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let out = model.execute(vec![f32s(&[1, 2, 2, 3], &nhwc)]).unwrap();
    // out[c][h][w] = 2 * in[h][w][c]
    let want: Vec<f32> = (0..3)
        .flat_map(|c| (0..4).map(move |hw| 2.0 * (hw * 3 + c) as f32))
        .collect();
    assert_eq!(to_f32s(&out[0]), want);

    // A plain layout only names the model's dimensions.
    let mut options = exact();
    options.layouts.insert("x".into(), "NCHW".into());
    let model = backend.load(&files_in(dir.path()), &options).unwrap();
    assert_eq!(model.signature().inputs[0].shape, fixed(&[1, 3, 2, 2]));
}

#[test]
fn reads_ir_written_by_openvino_python_when_available() {
    let Some(backend) = backend() else { return };
    let python = repo().join(".venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "import openvino as ov, openvino.opset13 as ops\n\
         x = ops.parameter([-1, 3], ov.Type.i32, name='x'); x.output(0).set_names({{'x'}})\n\
         y = ops.multiply(x, ops.constant([[1, 2, 3]], ov.Type.i32)); y.output(0).set_names({{'y'}})\n\
         ov.save_model(ov.Model([y], [x], 'scale'), r'{}')\n",
        dir.path().join("model.xml").display()
    );
    let ran = std::process::Command::new(&python)
        .args(["-c", &script])
        .output();
    if !ran.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: skipping the Python IR test: {} has no openvino module",
            python.display()
        );
        return;
    }
    let model = backend
        .load(&files_in(dir.path()), &ModelOptions::default())
        .unwrap();
    assert_eq!(model.signature().inputs[0].dtype, DataType::I32);
    let raw: Vec<u8> = [5i32, 6, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let input = Tensor::new(DataType::I32, vec![1, 3], TensorData::Raw(raw.into())).unwrap();
    let out = model.execute(vec![input]).unwrap();
    let want: Vec<u8> = [5i32, 12, 21]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(out[0].data(), &TensorData::Raw(want.into()));
}

#[test]
fn reads_the_other_formats_ovms_serves() {
    let Some(backend) = backend() else { return };
    for format in ["add_ir", "add_savedmodel", "add_frozen", "add_tflite"] {
        let dir = repo().join("models").join(format).join("1");
        if !dir.exists() {
            eprintln!("note: skipping {format}: not committed");
            continue;
        }
        let files = files_in(&dir);
        assert!(backend.can_load(&files), "{format}");
        let model = backend
            .load(&files, &exact())
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        let sig = model.signature();
        assert_eq!((sig.inputs.len(), sig.outputs.len()), (2, 2), "{format}");
        for spec in sig.inputs.iter().chain(&sig.outputs) {
            assert_eq!(
                (spec.dtype, spec.shape.as_slice()),
                (DataType::F32, &[Dim::Any, Dim::Fixed(16)][..]),
                "{format}"
            );
        }
        // Input names differ by format (`a`, `a:0`, `serving_default_a:0`).
        let is_a = |name: &str| name.trim_end_matches(":0").ends_with('a');
        let a: Vec<f32> = (0..32).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..32).map(|i| 10.0 - i as f32).collect();
        let inputs = sig
            .inputs
            .iter()
            .map(|s| f32s(&[2, 16], if is_a(&s.name) { &a } else { &b }))
            .collect();
        let out = model
            .execute(inputs)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let mut got: Vec<Vec<f32>> = out.iter().map(to_f32s).collect();
        got.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let mut want = vec![sum, diff];
        want.sort_by(|x, y| x.partial_cmp(y).unwrap());
        assert_eq!(got, want, "{format}");
    }
}
