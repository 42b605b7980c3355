use std::sync::Arc;
use std::time::Duration;

use crate::trial::{time_inference, zero_inputs};
use crate::{Backend, BackendError, LoadedModel, ModelFiles, ModelOptions, RuntimeSearch};

/// A loaded model, the engine that loaded it, and why that engine.
pub struct Loaded {
    /// The engine.
    pub engine: Arc<dyn Backend>,
    /// The model, ready to run.
    pub model: Arc<dyn LoadedModel>,
    /// How the engine was chosen, for the line that announces the version.
    pub choice: String,
}

/// The `backend` value (and the default) that lets the registry choose.
pub const AUTO: &str = "auto";

/// The engines built into this binary, in order of preference.
#[derive(Clone)]
pub struct Backends {
    engines: Vec<Arc<dyn Backend>>,
}

impl Backends {
    /// The engines compiled in, fastest first, with native runtimes looked
    /// for in the default places.
    pub fn builtin() -> Self {
        Backends::discover(&RuntimeSearch {
            runtimes_dirs: RuntimeSearch::default_dirs(),
            ..Default::default()
        })
    }

    /// The engines compiled in, fastest first: OpenVINO, ONNX Runtime, tract.
    /// Native ones are available only when `search` finds their library.
    pub fn discover(search: &RuntimeSearch) -> Self {
        let _ = search;
        let engines: Vec<Arc<dyn Backend>> = vec![
            #[cfg(feature = "openvino")]
            Arc::new(crate::openvino::OpenVinoBackend::discover(search)),
            #[cfg(feature = "onnxruntime")]
            Arc::new(crate::onnxruntime::OrtBackend::discover(search)),
            #[cfg(feature = "tract")]
            Arc::new(crate::tract::TractBackend::new()),
        ];
        Backends { engines }
    }

    /// Adds OVMS's `--cpu_extension` library to OpenVINO, before any model
    /// loads; refused when OpenVINO is not available.
    pub fn add_cpu_extension(&self, path: &std::path::Path) -> Result<(), String> {
        let openvino = self
            .engines
            .iter()
            .find(|e| e.name() == "openvino")
            .ok_or("--cpu_extension needs the OpenVINO backend, which this build leaves out")?;
        if !openvino.is_available() {
            return Err(format!(
                "--cpu_extension needs the OpenVINO backend: {}",
                openvino.describe()
            ));
        }
        if !path.is_file() {
            return Err(format!("--cpu_extension {}: no such file", path.display()));
        }
        openvino
            .add_extension(path)
            .map_err(|e| format!("--cpu_extension: {e}"))
    }

    /// A registry of exactly these engines (tests use fakes).
    pub fn from_engines(engines: Vec<Arc<dyn Backend>>) -> Self {
        Backends { engines }
    }

    /// Every engine, available or not.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Backend>> {
        self.engines.iter()
    }

    /// Loads `files` with the engine named by `preferred`; with none (or
    /// [`AUTO`]), with the fastest available engine that loads them: each
    /// engine that reads the files loads the model and times a few runs on
    /// zeros, and the fastest is kept. An engine that fails to load the model
    /// passes it to the next; when all fail, the error names each engine's.
    pub fn load(
        &self,
        files: &ModelFiles,
        preferred: Option<&str>,
        options: &ModelOptions,
    ) -> Result<Loaded, BackendError> {
        if let Some(name) = preferred.filter(|p| *p != AUTO) {
            let engine = self.select(files, Some(name))?;
            let model = engine
                .load(files, options)
                .map_err(|e| prefixed(&engine, e))?;
            return Ok(Loaded {
                engine,
                model,
                choice: "named by the backend setting".into(),
            });
        }
        let candidates: Vec<&Arc<dyn Backend>> = self
            .engines
            .iter()
            .filter(|e| e.is_available() && e.can_load(files))
            .collect();
        if candidates.is_empty() {
            return Err(self
                .select(files, None)
                .err()
                .unwrap_or_else(|| BackendError::Unsupported("no backend".into())));
        }
        let mut race = Race::new(candidates.len() > 1);
        // Least preferred first: the native engines leave thread pools that
        // keep spinning for a while after they ran (OpenVINO's TBB workers),
        // which would slow every engine timed after them.
        for (rank, engine) in candidates.into_iter().enumerate().rev() {
            match engine.load(files, options) {
                Ok(model) => race.enter(rank, engine, model),
                Err(e) => {
                    tracing::warn!(
                        backend = engine.name(),
                        model = %files.dir.display(),
                        error = %e,
                        "backend could not load the model; trying the next one"
                    );
                    race.failed(engine, e);
                }
            }
        }
        race.finish()
    }

    /// Picks the engine for `files`: the one named by `preferred`, or else the
    /// first available engine that reads them.
    pub fn select(
        &self,
        files: &ModelFiles,
        preferred: Option<&str>,
    ) -> Result<Arc<dyn Backend>, BackendError> {
        if let Some(name) = preferred {
            let engine = self
                .engines
                .iter()
                .find(|e| e.name() == name)
                .ok_or_else(|| BackendError::Unsupported(format!("unknown backend {name:?}")))?;
            if !engine.is_available() {
                return Err(BackendError::Unsupported(format!(
                    "backend {name:?} is not available on this machine"
                )));
            }
            return Ok(engine.clone());
        }
        self.engines
            .iter()
            .find(|e| e.is_available() && e.can_load(files))
            .cloned()
            .ok_or_else(|| {
                BackendError::Unsupported(format!(
                    "no available backend reads the files in {} (found: {}){}",
                    files.dir.display(),
                    describe(files),
                    foreign_format(files).unwrap_or_default()
                ))
            })
    }
}

/// The engines that loaded a model so far, and the fastest of them.
struct Race {
    measure: bool,
    best: Option<Entrant>,
    timings: Vec<String>,
    failures: Vec<(BackendError, String)>,
}

struct Entrant {
    /// Place in the order of preference (0: most preferred).
    rank: usize,
    engine: Arc<dyn Backend>,
    model: Arc<dyn LoadedModel>,
    /// `None`: not timed (the only candidate), or its trial run failed.
    time: Option<Duration>,
}

impl Race {
    fn new(measure: bool) -> Self {
        Race {
            measure,
            best: None,
            timings: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn failed(&mut self, engine: &Arc<dyn Backend>, err: BackendError) {
        let line = format!("{} backend: {err}", engine.name());
        self.failures.push((err, line));
    }

    /// Times `model` and keeps it if it beats the best so far; the loser is
    /// dropped at once, so at most two copies of a model are held.
    fn enter(&mut self, rank: usize, engine: &Arc<dyn Backend>, model: Arc<dyn LoadedModel>) {
        let time = if self.measure {
            let best = self.best.as_ref().and_then(|b| b.time);
            let timed = zero_inputs(model.signature())
                .ok_or_else(|| "no trial input fits its signature".to_string())
                .and_then(|inputs| time_inference(model.as_ref(), &inputs, best));
            match timed {
                Ok(t) => {
                    self.timings
                        .push(format!("{} {:.1} µs", engine.name(), micros(t)));
                    Some(t)
                }
                Err(e) => {
                    tracing::warn!(backend = engine.name(), error = %e, "trial run failed");
                    self.timings
                        .push(format!("{} trial run failed", engine.name()));
                    None
                }
            }
        } else {
            None
        };
        let wins = match (&self.best, time) {
            (None, _) => true,
            // Neither timed (every trial failed): the more preferred engine.
            (Some(best), None) if best.time.is_none() => rank < best.rank,
            (Some(best), Some(t)) => best.time.is_none_or(|b| t < b),
            (Some(_), None) => false,
        };
        if wins {
            self.best = Some(Entrant {
                rank,
                engine: engine.clone(),
                model,
                time,
            });
        }
    }

    fn finish(mut self) -> Result<Loaded, BackendError> {
        // Engines ran least preferred first; report them in preference order.
        self.timings.reverse();
        self.failures.reverse();
        let failures: Vec<&str> = self.failures.iter().map(|(_, l)| l.as_str()).collect();
        let Some(best) = self.best else {
            let all_unsupported = self
                .failures
                .iter()
                .all(|(e, _)| matches!(e, BackendError::Unsupported(_)));
            let message = failures.join("; ");
            return Err(if all_unsupported {
                BackendError::Unsupported(message)
            } else {
                BackendError::Load(message)
            });
        };
        let mut choice = if self.timings.len() > 1 {
            format!("fastest on a trial run ({})", self.timings.join(", "))
        } else if failures.is_empty() {
            "the only available engine that reads these files".to_string()
        } else {
            "the only engine that loaded the model".to_string()
        };
        if !failures.is_empty() {
            choice.push_str(&format!("; not loaded by {}", failures.join("; ")));
        }
        Ok(Loaded {
            engine: best.engine,
            model: best.model,
            choice,
        })
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn prefixed(engine: &Arc<dyn Backend>, err: BackendError) -> BackendError {
    let message = format!("{} backend: {err}", engine.name());
    match err {
        BackendError::Unsupported(_) => BackendError::Unsupported(message),
        BackendError::Load(_) => BackendError::Load(message),
        BackendError::InvalidInput(_) => BackendError::InvalidInput(message),
        BackendError::Execution(_) => BackendError::Execution(message),
    }
}

/// Why a model format of another server is not read here, when the folder
/// holds one (Triton's other backends).
fn foreign_format(files: &ModelFiles) -> Option<String> {
    const FOREIGN: [(&str, &str); 4] = [
        ("plan", "TensorRT engine plans need NVIDIA GPUs"),
        ("pt", "TorchScript models need PyTorch; export them to ONNX"),
        (
            "py",
            "Python backend models run Python; serve the model they wrap",
        ),
        ("engine", "TensorRT engines need NVIDIA GPUs"),
    ];
    FOREIGN.iter().find_map(|(extension, why)| {
        files
            .with_extension(extension)
            .next()
            .map(|_| format!("; .{extension}: {why}"))
    })
}

fn describe(files: &ModelFiles) -> String {
    if files.files.is_empty() {
        return "no files".into();
    }
    files
        .files
        .iter()
        .filter_map(|f| f.strip_prefix(&files.dir).ok())
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeBackend;

    #[test]
    fn other_servers_formats_are_named_with_the_reason() {
        let files = |name: &str| ModelFiles {
            dir: "/m/1".into(),
            files: vec![std::path::Path::new("/m/1").join(name)],
        };
        let plan = foreign_format(&files("model.plan")).unwrap();
        assert_eq!(plan, "; .plan: TensorRT engine plans need NVIDIA GPUs");
        assert!(foreign_format(&files("model.pt")).unwrap().contains("ONNX"));
        assert_eq!(foreign_format(&files("model.onnx")), None);
    }

    fn registry(names: &[&'static str]) -> Backends {
        Backends::from_engines(
            names
                .iter()
                .map(|n| Arc::new(FakeBackend::named(n)) as Arc<dyn Backend>)
                .collect(),
        )
    }

    fn model_files(script: &str) -> (tempfile::TempDir, ModelFiles) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.fake");
        std::fs::write(&file, script).unwrap();
        let files = ModelFiles {
            dir: dir.path().to_path_buf(),
            files: vec![file],
        };
        (dir, files)
    }

    fn load(
        engines: &[&'static str],
        script: &str,
        preferred: Option<&str>,
    ) -> Result<Loaded, BackendError> {
        let (_dir, files) = model_files(script);
        registry(engines).load(&files, preferred, &ModelOptions::default())
    }

    #[test]
    fn a_load_failure_passes_the_model_to_the_next_engine() {
        let loaded = load(&["first", "second"], "load@first=fail", None).unwrap();
        assert_eq!(loaded.engine.name(), "second");
        assert!(
            loaded
                .choice
                .contains("not loaded by first backend: fake load failure"),
            "{}",
            loaded.choice
        );
    }

    #[test]
    fn when_every_engine_fails_each_error_is_kept() {
        let err = load(&["first", "second"], "load=fail", None)
            .err()
            .expect("every engine fails");
        assert!(matches!(err, BackendError::Load(_)));
        assert_eq!(
            err.to_string(),
            "first backend: fake load failure; second backend: fake load failure"
        );
    }

    #[test]
    fn the_fastest_engine_is_kept() {
        let loaded = load(
            &["slow", "fast", "slower"],
            "run_ms@slow=20\nrun_ms@slower=40",
            None,
        )
        .unwrap();
        assert_eq!(loaded.engine.name(), "fast");
        assert!(
            loaded.choice.starts_with("fastest on a trial run (slow "),
            "{}",
            loaded.choice
        );
        let auto = load(&["slow", "fast"], "run_ms@slow=20", Some(AUTO)).unwrap();
        assert_eq!(auto.engine.name(), "fast");
    }

    #[test]
    fn a_lone_engine_is_not_timed() {
        let loaded = load(&["only"], "run_ms=50", None).unwrap();
        assert_eq!(
            loaded.choice,
            "the only available engine that reads these files"
        );
    }

    #[test]
    fn a_named_engine_is_used_or_its_error_returned() {
        let loaded = load(&["first", "second"], "run_ms@first=3", Some("first")).unwrap();
        assert_eq!(loaded.engine.name(), "first");
        let err = load(&["first", "second"], "load@second=fail", Some("second"))
            .err()
            .expect("the named engine fails");
        assert_eq!(err.to_string(), "second backend: fake load failure");
    }
}
