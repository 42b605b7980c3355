use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    ChannelValues, ColorFormat, DynamicBatching, InputSetting, ShapeSetting, VersionPolicy,
    parse_layout,
};

/// Base-path prefixes of object stores (refused until a source reads them).
pub(crate) const REMOTE_SCHEMES: [&str; 4] = ["s3://", "gs://", "az://", "azfs://"];

/// Why a model configuration was refused. Each message is one line that names the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File that was read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The text is not valid JSON or does not follow the schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File that was parsed.
        path: PathBuf,
        /// What serde found wrong (names unknown keys and wrong types).
        message: String,
    },
    /// The schema is followed but a value is not acceptable.
    #[error("invalid model configuration: {0}")]
    Invalid(String),
}

/// Per-input setting: a map from input name to value.
pub type PerInput<T> = BTreeMap<String, T>;

/// The OVMS `config.json` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerModelsConfig {
    /// Models to serve.
    #[serde(default)]
    pub model_config_list: Vec<ModelConfigEntry>,
    /// DAG pipelines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipeline_config_list: Vec<crate::PipelineConfig>,
    /// Custom node libraries (not supported yet; must be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_node_library_config_list: Vec<CustomNodeLibraryConfig>,
    /// Metrics settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringConfig>,
}

/// One `{"config": {...}}` item of `model_config_list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfigEntry {
    /// The model's settings.
    pub config: ModelConfig,
}

/// A custom node library (`custom_node_library_config_list` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomNodeLibraryConfig {
    /// Name pipelines refer to.
    pub name: String,
    /// Path of the shared library.
    pub base_path: String,
}

/// The `monitoring` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Prometheus metrics settings.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `monitoring.metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`.
    #[serde(default)]
    pub enable: bool,
    /// Metric families to expose (OVMS's default set when empty).
    #[serde(default)]
    pub metrics_list: Vec<String>,
}

/// `batch_size`: a positive number, or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// The first dimension of every input takes each request's batch (the
    /// model is reshaped to it).
    Auto,
    /// Fix the first dimension of every input to this size.
    Fixed(u64),
}

impl BatchSize {
    /// Parses `"auto"` or a positive integer.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "auto" => Ok(BatchSize::Auto),
            t => match t.parse::<u64>() {
                Ok(n) if n > 0 => Ok(BatchSize::Fixed(n)),
                _ => Err(format!(
                    "batch_size must be a positive integer or \"auto\", not {text:?}"
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => BatchSize::parse(&s),
            serde_json::Value::Number(n) => BatchSize::parse(&n.to_string()),
            other => Err(format!(
                "batch_size must be a positive integer or \"auto\", not {other}"
            )),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Serialize for BatchSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BatchSize::Auto => serializer.serialize_str("auto"),
            BatchSize::Fixed(n) => serializer.serialize_u64(*n),
        }
    }
}

/// `layout`: one layout for the only input, or one per input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayoutSetting {
    /// `"NHWC:NCHW"`.
    All(String),
    /// `{"input": "NHWC:NCHW"}`.
    PerInput(PerInput<String>),
}

/// One model's settings, with the OVMS key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Name clients use.
    pub name: String,
    /// Folder holding numbered version folders; relative paths are resolved
    /// against the config file's folder.
    pub base_path: String,
    /// Which versions to serve (default: latest 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version_policy: Option<VersionPolicy>,
    /// Fixed batch size for every input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<BatchSize>,
    /// Input shapes to set at load time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeSetting>,
    /// Input layouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutSetting>,
    /// Pre-processing: value(s) subtracted from each channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<InputSetting<ChannelValues>>,
    /// Pre-processing: value(s) each channel is divided by (after `mean`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<InputSetting<ChannelValues>>,
    /// Pre-processing: colour order of requests and of the model, e.g. `BGR:RGB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_format: Option<InputSetting<ColorFormat>>,
    /// How many inferences of this model may run at once (0 or absent: one per core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nireq: Option<u32>,
    /// Device to run on (`CPU` for the built-in backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_device: Option<String>,
    /// Backend settings such as `INFERENCE_NUM_THREADS`; values are strings or numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_config: Option<serde_json::Map<String, serde_json::Value>>,
    /// Sequence (stateful) model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
    /// Stateful models: idle limit and implicit state (Triton's section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_batching: Option<crate::SequenceBatching>,
    /// Stateful models: most concurrent sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sequence_number: Option<u32>,
    /// Stateful models: drop idle sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_sequence_cleanup: Option<bool>,
    /// Stateful models: low-latency transformation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_latency_transformation: Option<bool>,
    /// inferd addition: the engine to use (`openvino`, `onnxruntime`, `tract`);
    /// absent: the fastest available engine that reads the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Names for versions (`{"stable": 1, "canary": 2}`), usable wherever a
    /// TensorFlow Serving client may give `version_label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_labels: Option<BTreeMap<String, u64>>,
    /// Merge concurrent requests into one engine call (Triton's section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_batching: Option<DynamicBatching>,
    /// Inputs and outputs a Triton `config.pbtxt` declares, checked against
    /// the model when it loads (not a config.json key).
    #[serde(skip)]
    pub expected_signature: Option<crate::ExpectedSignature>,
    /// Warm-up samples (Triton's `model_warmup`; not a config.json key).
    #[serde(skip)]
    pub warmup_samples: Vec<crate::WarmupSample>,
    /// Triton's `max_batch_size` as a `config.pbtxt` declares it (reported
    /// by the configuration extension; not a config.json key).
    #[serde(skip)]
    pub declared_max_batch_size: Option<u32>,
    /// The file (or folder, for a SavedModel) of each version folder that
    /// holds the model (Triton's `default_model_filename`; not a config.json
    /// key): the others are not considered.
    #[serde(skip)]
    pub model_filename: Option<String>,
}

/// Values the `backend` key accepts (`auto`, the default: the fastest engine
/// that loads the model, measured at load time).
pub const BACKEND_NAMES: [&str; 4] = ["auto", "openvino", "onnxruntime", "tract"];

impl ModelConfig {
    /// A model with every optional setting at its default.
    pub fn new(name: impl Into<String>, base_path: impl Into<String>) -> Self {
        ModelConfig {
            name: name.into(),
            base_path: base_path.into(),
            model_version_policy: None,
            batch_size: None,
            shape: None,
            layout: None,
            mean: None,
            scale: None,
            color_format: None,
            nireq: None,
            target_device: None,
            plugin_config: None,
            stateful: None,
            sequence_batching: None,
            max_sequence_number: None,
            idle_sequence_cleanup: None,
            low_latency_transformation: None,
            backend: None,
            version_labels: None,
            dynamic_batching: None,
            expected_signature: None,
            warmup_samples: Vec::new(),
            declared_max_batch_size: None,
            model_filename: None,
        }
    }

    /// The version policy, defaulting to latest 1.
    pub fn version_policy(&self) -> VersionPolicy {
        self.model_version_policy.clone().unwrap_or_default()
    }

    /// Checks values that the schema alone cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |what: String| {
            Err(ConfigError::Invalid(format!(
                "model {:?}: {what}",
                self.name
            )))
        };
        if self.name.trim().is_empty() {
            return Err(ConfigError::Invalid("a model has an empty name".into()));
        }
        if self.name.contains('/') {
            return invalid("name must not contain '/'".into());
        }
        if self.base_path.trim().is_empty() {
            return invalid("base_path is empty".into());
        }
        if let Some(scheme) = REMOTE_SCHEMES
            .iter()
            .filter(|s| **s == "azfs://")
            .find(|s| self.base_path.starts_with(**s))
        {
            return invalid(format!(
                "{scheme} (Azure Files shares) base paths are not supported; \
                 put the models in a Blob container (az://container/path)"
            ));
        }
        if let Err(e) = self.version_policy().check() {
            return invalid(e);
        }
        if self.batch_size.is_some() && self.shape.is_some() {
            return invalid("set either batch_size or shape, not both".into());
        }
        match &self.layout {
            Some(LayoutSetting::All(l)) => parse_layout(l).map(drop).or_else(invalid)?,
            Some(LayoutSetting::PerInput(map)) => {
                for l in map.values() {
                    parse_layout(l).map(drop).or_else(invalid)?;
                }
            }
            None => {}
        }
        for (key, setting) in [("mean", &self.mean), ("scale", &self.scale)] {
            for (input, values) in setting.iter().flat_map(InputSetting::by_input) {
                let of = if input.is_empty() {
                    String::new()
                } else {
                    format!(" of input {input:?}")
                };
                if values.0.is_empty() {
                    return invalid(format!("{key}{of} has no values"));
                }
                if key == "scale" && values.0.contains(&0.0) {
                    return invalid(format!("scale{of} must not be 0"));
                }
            }
        }
        for (key, value) in self.plugin_config.iter().flatten() {
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                return invalid(format!("plugin_config.{key} must be a string or a number"));
            }
        }
        if let Some(backend) = self
            .backend
            .as_deref()
            .filter(|b| !BACKEND_NAMES.contains(b))
        {
            return invalid(format!(
                "backend {backend:?} is not one of {}",
                BACKEND_NAMES.join(", ")
            ));
        }
        if let Some(batching) = &self.dynamic_batching {
            batching.check().or_else(invalid)?;
        }
        if self.stateful == Some(true) {
            if self.max_sequence_number == Some(0) {
                return invalid("max_sequence_number must be positive".into());
            }
            if self.dynamic_batching.is_some() {
                return invalid("a stateful model cannot take dynamic_batching".into());
            }
            if self.low_latency_transformation == Some(true) {
                return invalid(
                    "low_latency_transformation is not supported (OpenVINO's C API has no \
                     LowLatency2 pass); save the model with its state as ReadValue/Assign"
                        .into(),
                );
            }
            if let Some(sequences) = &self.sequence_batching {
                sequences.check().or_else(invalid)?;
            }
        } else if self.max_sequence_number.is_some()
            || self.idle_sequence_cleanup.is_some()
            || self.low_latency_transformation.is_some()
            || self.sequence_batching.is_some()
        {
            return invalid(
                "Stateful model config parameter used for non stateful model (set \"stateful\": true)"
                    .into(),
            );
        }
        for (label, version) in self.version_labels.iter().flatten() {
            if label.trim().is_empty() || label.bytes().all(|b| b.is_ascii_digit()) {
                return invalid(format!(
                    "version label {label:?} must be a name, not empty or a number"
                ));
            }
            if *version == 0 {
                return invalid(format!("version label {label:?} points at version 0"));
            }
        }
        Ok(())
    }

    /// Whether a loaded version of `self` must be reloaded to serve `other`:
    /// true when any setting other than the version policy and the labels differs.
    pub fn needs_reload_for(&self, other: &ModelConfig) -> bool {
        let routing_only = |m: &ModelConfig| ModelConfig {
            model_version_policy: None,
            version_labels: None,
            ..m.clone()
        };
        routing_only(self) != routing_only(other)
    }

    /// Checks that every version label points at a version the policy serves
    /// among the version folders in `on_disk`.
    pub fn check_labels(&self, on_disk: &[u64]) -> Result<(), ConfigError> {
        let served = self.version_policy().select(on_disk);
        for (label, version) in self.version_labels.iter().flatten() {
            if !served.contains(version) {
                let served: Vec<String> = served.iter().map(u64::to_string).collect();
                return Err(ConfigError::Invalid(format!(
                    "model {:?}: version label {label:?} points at version {version}, which is not available (versions served: {})",
                    self.name,
                    if served.is_empty() {
                        "none".to_string()
                    } else {
                        served.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    /// Resolves a relative `base_path` against `dir` (object-store URLs
    /// stay as they are).
    pub fn resolve_base_path(&mut self, dir: &Path) {
        let path = Path::new(&self.base_path);
        if path.is_relative() && !self.base_path.contains("://") {
            self.base_path = dir.join(path).to_string_lossy().into_owned();
        }
    }
}

impl ServerModelsConfig {
    /// Parses and checks a config.json text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: ServerModelsConfig =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        config.check()?;
        Ok(config)
    }

    /// Reads, parses and checks a config.json; relative base paths are
    /// resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for entry in &mut config.model_config_list {
            entry.config.resolve_base_path(dir);
        }
        for library in &mut config.custom_node_library_config_list {
            if Path::new(&library.base_path).is_relative() {
                library.base_path = dir.join(&library.base_path).to_string_lossy().into_owned();
            }
        }
        Ok(config)
    }

    /// A config holding one model (single-model CLI mode).
    pub fn single(model: ModelConfig) -> Result<Self, ConfigError> {
        let config = ServerModelsConfig {
            model_config_list: vec![ModelConfigEntry { config: model }],
            ..Default::default()
        };
        config.check()?;
        Ok(config)
    }

    /// The models, without their `{"config": ...}` wrappers.
    pub fn models(&self) -> impl Iterator<Item = &ModelConfig> {
        self.model_config_list.iter().map(|e| &e.config)
    }

    /// Checks every model, and that names are unique.
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for model in self.models() {
            model.check()?;
            if !names.insert(model.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "model name {:?} is used twice",
                    model.name
                )));
            }
        }
        let models: HashSet<&str> = self.models().map(|m| m.name.as_str()).collect();
        let mut libraries = HashSet::new();
        for library in &self.custom_node_library_config_list {
            if library.base_path.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "custom node library {:?}: base_path is empty",
                    library.name
                )));
            }
            if !libraries.insert(library.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "custom node library name {:?} is used twice",
                    library.name
                )));
            }
        }
        let mut pipelines = HashSet::new();
        for pipeline in &self.pipeline_config_list {
            pipeline.check(&models, &libraries)?;
            if !pipelines.insert(pipeline.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "pipeline name {:?} is used twice",
                    pipeline.name
                )));
            }
        }
        Ok(())
    }

    /// Checks every model's version labels against its version folders on disk.
    pub fn check_labels_on_disk(&self) -> Result<(), ConfigError> {
        for model in self.models().filter(|m| m.version_labels.is_some()) {
            let on_disk = crate::open_source(&model.name, &model.base_path)
                .and_then(|source| source.list_versions())
                .unwrap_or_default();
            model.check_labels(&on_disk)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServerModelsConfig, ConfigError> {
        ServerModelsConfig::parse(text, Path::new("config.json"))
    }

    #[test]
    fn full_ovms_model_entry_parses() {
        let c = parse(
            r#"{"model_config_list": [{"config": {
                "name": "resnet", "base_path": "/models/resnet",
                "model_version_policy": {"latest": {"num_versions": 2}},
                "shape": {"data": "(1,3,224,224)"}, "layout": "NHWC:NCHW", "nireq": 4,
                "target_device": "CPU", "plugin_config": {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2}
            }}]}"#,
        )
        .unwrap();
        let m = c.models().next().unwrap();
        assert_eq!(m.version_policy(), VersionPolicy::latest(2));
        assert_eq!(m.nireq, Some(4));
        assert_eq!(m.layout, Some(LayoutSetting::All("NHWC:NCHW".into())));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse(
            r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "nirek": 1}}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `nirek`"), "{err}");
        let err = parse(r#"{"model_config_lst": []}"#).unwrap_err();
        assert!(err.to_string().contains("model_config_lst"), "{err}");
    }

    #[test]
    fn wrong_types_are_refused() {
        let err = parse(r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "nireq": "four"}}]}"#).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = parse(r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "batch_size": 0}}]}"#).unwrap_err();
        assert!(err.to_string().contains("batch_size"), "{err}");
    }

    #[test]
    fn semantic_checks() {
        let dup = r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m"}}, {"config": {"name": "a", "base_path": "/n"}}]}"#;
        assert!(parse(dup).unwrap_err().to_string().contains("used twice"));
        let zero = r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "model_version_policy": {"latest": {"num_versions": 0}}}}]}"#;
        assert!(
            parse(zero)
                .unwrap_err()
                .to_string()
                .contains("num_versions")
        );
        let s3 = r#"{"model_config_list": [{"config": {"name": "a", "base_path": "s3://b/m"}}]}"#;
        assert!(parse(s3).is_ok());
        let files =
            r#"{"model_config_list": [{"config": {"name": "a", "base_path": "azfs://share/m"}}]}"#;
        assert!(parse(files).unwrap_err().to_string().contains("azfs://"));
    }

    #[test]
    fn backend_key_is_checked() {
        let ok = r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "backend": "onnxruntime"}}]}"#;
        assert_eq!(
            parse(ok)
                .unwrap()
                .models()
                .next()
                .unwrap()
                .backend
                .as_deref(),
            Some("onnxruntime")
        );
        let bad = r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m", "backend": "tensorrt"}}]}"#;
        assert!(
            parse(bad)
                .unwrap_err()
                .to_string()
                .contains("\"tensorrt\" is not one of auto, openvino, onnxruntime, tract")
        );
    }

    #[test]
    fn batch_size_forms() {
        assert_eq!(BatchSize::parse("4"), Ok(BatchSize::Fixed(4)));
        assert_eq!(BatchSize::parse("auto"), Ok(BatchSize::Auto));
        assert!(BatchSize::parse("-1").is_err());
    }

    #[test]
    fn relative_base_path_is_resolved() {
        let mut m = ModelConfig::new("a", "models/a");
        m.resolve_base_path(Path::new("/etc/inferd"));
        assert_eq!(m.base_path, "/etc/inferd/models/a");
        let mut abs = ModelConfig::new("a", "/models/a");
        abs.resolve_base_path(Path::new("/etc/inferd"));
        assert_eq!(abs.base_path, "/models/a");
    }

    #[test]
    fn version_labels_parse_and_are_checked() {
        let c = parse(
            r#"{"model_config_list": [{"config": {"name": "a", "base_path": "/m",
                "model_version_policy": {"all": {}}, "version_labels": {"stable": 1, "canary": 2}}}]}"#,
        )
        .unwrap();
        let model = c.models().next().unwrap();
        assert_eq!(model.version_labels.as_ref().unwrap()["canary"], 2);
        assert!(model.check_labels(&[1, 2, 3]).is_ok());
        let err = model.check_labels(&[1]).unwrap_err().to_string();
        assert!(
            err.contains("version label \"canary\" points at version 2, which is not available (versions served: 1)"),
            "{err}"
        );
        let mut latest = model.clone();
        latest.model_version_policy = None;
        assert!(
            latest
                .check_labels(&[1, 2])
                .unwrap_err()
                .to_string()
                .contains("\"stable\" points at version 1")
        );
        for bad in [r#"{"": 1}"#, r#"{"7": 1}"#, r#"{"x": 0}"#] {
            let text = format!(
                r#"{{"model_config_list": [{{"config": {{"name": "a", "base_path": "/m", "version_labels": {bad}}}}}]}}"#
            );
            assert!(parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_and_labels_do_not_force_a_reload() {
        let base = ModelConfig::new("a", "/m");
        let mut routed = base.clone();
        routed.model_version_policy = Some(VersionPolicy::all());
        routed.version_labels = Some([("x".to_string(), 1)].into());
        assert!(!base.needs_reload_for(&routed));
        let mut resized = base.clone();
        resized.nireq = Some(2);
        assert!(base.needs_reload_for(&resized));
    }
}
