//! A scriptable engine for tests: reads `model.fake` files of `key=value` lines.
//!
//! Keys: `offset` (added to every input value, default 0), `load` (`ok`, `fail`
//! or `panic`), `load_ms` and `run_ms` (sleeps), `gate` (the load waits at
//! the named gate until a test calls [`open_gate`]). A key suffixed with
//! `@<engine name>` applies to that engine only (`load@first=fail`), so that
//! several fakes in one registry can behave differently. The model takes `x`
//! FP32 [-1] and returns `y` FP32 [-1].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use inferd_tensor::{DataType, Dim, Signature, Tensor, TensorData, TensorSpec};

use crate::{Backend, BackendError, LoadedModel, ModelFiles, ModelOptions};

/// The fake backend.
#[derive(Debug)]
pub struct FakeBackend {
    name: &'static str,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend::named("fake")
    }
}

impl FakeBackend {
    /// A fake engine with this name (keys suffixed `@name` apply to it).
    pub fn named(name: &'static str) -> Self {
        FakeBackend { name }
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    fn platform(&self) -> &'static str {
        "fake"
    }

    fn is_available(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "fake engine for tests".to_string()
    }

    fn can_load(&self, files: &ModelFiles) -> bool {
        files.with_extension("fake").next().is_some()
    }

    fn load(
        &self,
        files: &ModelFiles,
        _options: &ModelOptions,
    ) -> Result<Arc<dyn LoadedModel>, BackendError> {
        let path = files
            .with_extension("fake")
            .next()
            .ok_or_else(|| BackendError::Unsupported("no .fake file".into()))?;
        let text = std::fs::read_to_string(path).map_err(|e| BackendError::Load(e.to_string()))?;
        let script: HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let own_key = |key: &str| format!("{key}@{}", self.name);
        let value = |key: &str| {
            script
                .get(own_key(key).as_str())
                .or_else(|| script.get(key))
                .copied()
        };
        let number = |key: &str| {
            value(key)
                .and_then(|v| v.parse::<f32>().ok())
                .unwrap_or(0.0)
        };
        std::thread::sleep(Duration::from_millis(number("load_ms") as u64));
        if let Some(gate) = value("gate") {
            pass_gate(gate);
        }
        match value("load").unwrap_or("ok") {
            "fail" => return Err(BackendError::Load("fake load failure".into())),
            "panic" => panic!("fake load panic"),
            _ => {}
        }
        let spec = |name: &str| TensorSpec {
            name: name.into(),
            dtype: DataType::F32,
            shape: vec![Dim::Any],
        };
        Ok(Arc::new(FakeModel {
            signature: Signature {
                inputs: vec![spec("x")],
                outputs: vec![spec("y")],
            },
            offset: number("offset"),
            run: Duration::from_secs_f32(number("run_ms") / 1000.0),
        }))
    }
}

struct FakeModel {
    signature: Signature,
    offset: f32,
    run: Duration,
}

impl LoadedModel for FakeModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        std::thread::sleep(self.run);
        let input = inputs
            .first()
            .ok_or_else(|| BackendError::Execution("no input".into()))?;
        let TensorData::Raw(bytes) = input.data() else {
            return Err(BackendError::Execution("fake model takes FP32".into()));
        };
        let out: Vec<u8> = bytes
            .chunks_exact(4)
            .flat_map(|c| {
                (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) + self.offset).to_le_bytes()
            })
            .collect();
        let tensor = Tensor::new(
            DataType::F32,
            input.shape().to_vec(),
            TensorData::Raw(Bytes::from(out)),
        )
        .map_err(|e| BackendError::Execution(e.to_string()))?;
        Ok(vec![tensor])
    }
}

#[derive(Default)]
struct Gate {
    open: bool,
    waiting: usize,
    peak: usize,
}

static GATES: std::sync::Mutex<std::collections::BTreeMap<String, Gate>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());
static GATE_OPENED: std::sync::Condvar = std::sync::Condvar::new();

fn gates() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<String, Gate>> {
    GATES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits at gate `name` until it is opened.
fn pass_gate(name: &str) {
    let mut all = gates();
    let gate = all.entry(name.to_string()).or_default();
    gate.waiting += 1;
    gate.peak = gate.peak.max(gate.waiting);
    while !all.get(name).is_some_and(|g| g.open) {
        all = GATE_OPENED.wait(all).unwrap_or_else(|p| p.into_inner());
    }
    if let Some(gate) = all.get_mut(name) {
        gate.waiting -= 1;
    }
}

/// Opens gate `name`: every load waiting there, and every later one, goes on.
pub fn open_gate(name: &str) {
    gates().entry(name.to_string()).or_default().open = true;
    GATE_OPENED.notify_all();
}

/// Loads waiting at gate `name` now.
pub fn waiting_at_gate(name: &str) -> usize {
    gates().get(name).map_or(0, |g| g.waiting)
}

/// The most loads that ever waited at gate `name` at once.
pub fn peak_at_gate(name: &str) -> usize {
    gates().get(name).map_or(0, |g| g.peak)
}
