//! Session settings read from a model's `plugin_config`.

use std::collections::BTreeMap;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use crate::BackendError;

/// OpenVINO keys that configs written for OVMS often carry; they mean nothing
/// to ONNX Runtime, so they are ignored with a warning rather than refused.
const OPENVINO_ONLY_KEYS: &[&str] = &[
    "PERFORMANCE_HINT",
    "NUM_STREAMS",
    "INFERENCE_PRECISION_HINT",
    "ENABLE_CPU_PINNING",
    "CPU_THROUGHPUT_STREAMS",
    "CPU_BIND_THREAD",
];

/// How the session runs its graph (`EXECUTION_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionMode {
    /// One node after another (ONNX Runtime's default).
    Sequential,
    /// Independent branches at once, on the inter-op pool.
    Parallel,
}

/// Settings for one ONNX Runtime session, parsed from `plugin_config`.
///
/// Keys (values are case-insensitive):
///
/// | key | values | default |
/// |-----|--------|---------|
/// | `INTRA_OP_NUM_THREADS` | threads inside one operator; `0` = ONNX Runtime's default (one per physical core) | `0` |
/// | `INFERENCE_NUM_THREADS` | OpenVINO's name, accepted as a synonym of `INTRA_OP_NUM_THREADS` (both given: they must agree) | |
/// | `INTER_OP_NUM_THREADS` | threads running independent nodes at once (with `EXECUTION_MODE` `PARALLEL`); `0` = default | `0` |
/// | `GRAPH_OPTIMIZATION_LEVEL` | `DISABLE_ALL`, `BASIC`, `EXTENDED` or `ALL` | `ALL` |
/// | `EXECUTION_MODE` | `SEQUENTIAL` or `PARALLEL` | `SEQUENTIAL` |
/// | `ALLOW_SPINNING` | `YES` or `NO`: whether idle pool threads spin for work (ONNX Runtime's `session.intra_op.allow_spinning` and `session.inter_op.allow_spinning`) | `NO` |
///
/// Spinning is off by default (ONNX Runtime's own default is on): a server
/// runs requests concurrently on one session and shares the cores with its
/// network threads, where spinning threads only take CPU time from them.
///
/// OpenVINO-only keys (`PERFORMANCE_HINT`, `NUM_STREAMS`,
/// `INFERENCE_PRECISION_HINT`, `ENABLE_CPU_PINNING`, `CPU_THROUGHPUT_STREAMS`,
/// `CPU_BIND_THREAD`) are ignored with a warning; any other key, or a value
/// outside those listed, fails the load with a message naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// `INTRA_OP_NUM_THREADS`; `None` keeps ONNX Runtime's default.
    pub intra_op_threads: Option<usize>,
    /// `INTER_OP_NUM_THREADS`; `None` keeps ONNX Runtime's default.
    pub inter_op_threads: Option<usize>,
    /// `GRAPH_OPTIMIZATION_LEVEL`.
    pub optimization_level: GraphOptimizationLevel,
    /// `EXECUTION_MODE`; `None` keeps ONNX Runtime's default (sequential).
    pub execution_mode: Option<ExecutionMode>,
    /// `ALLOW_SPINNING`.
    pub allow_spinning: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            intra_op_threads: None,
            inter_op_threads: None,
            optimization_level: GraphOptimizationLevel::All,
            execution_mode: None,
            allow_spinning: false,
        }
    }
}

fn bad_value(key: &str, value: &str, accepted: &str) -> BackendError {
    BackendError::Load(format!(
        "plugin_config {key} must be {accepted} for the ONNX Runtime backend, not {value:?}"
    ))
}

fn threads(key: &str, value: &str) -> Result<Option<usize>, BackendError> {
    match value.trim().parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(bad_value(key, value, "a non-negative integer (0: default)")),
    }
}

fn one_of<T: Copy>(key: &str, value: &str, choices: &[(&str, T)]) -> Result<T, BackendError> {
    let wanted = value.trim();
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            bad_value(key, value, &format!("one of {}", names.join(", ")))
        })
}

impl SessionSettings {
    /// The keys this backend honours.
    pub const KEYS: &'static [&'static str] = &[
        "INTRA_OP_NUM_THREADS",
        "INFERENCE_NUM_THREADS",
        "INTER_OP_NUM_THREADS",
        "GRAPH_OPTIMIZATION_LEVEL",
        "EXECUTION_MODE",
        "ALLOW_SPINNING",
    ];

    /// Parses `plugin_config` (see the table on [`SessionSettings`]).
    pub fn parse(config: &BTreeMap<String, String>) -> Result<Self, BackendError> {
        let mut settings = SessionSettings::default();
        let mut ignored = Vec::new();
        let mut intra_synonym = None;
        for (key, value) in config {
            match key.as_str() {
                "INTRA_OP_NUM_THREADS" => settings.intra_op_threads = threads(key, value)?,
                "INFERENCE_NUM_THREADS" => intra_synonym = Some(threads(key, value)?),
                "INTER_OP_NUM_THREADS" => settings.inter_op_threads = threads(key, value)?,
                "GRAPH_OPTIMIZATION_LEVEL" => {
                    settings.optimization_level = one_of(
                        key,
                        value,
                        &[
                            ("DISABLE_ALL", GraphOptimizationLevel::Disable),
                            ("BASIC", GraphOptimizationLevel::Level1),
                            ("EXTENDED", GraphOptimizationLevel::Level2),
                            ("ALL", GraphOptimizationLevel::All),
                        ],
                    )?;
                }
                "EXECUTION_MODE" => {
                    settings.execution_mode = Some(one_of(
                        key,
                        value,
                        &[
                            ("SEQUENTIAL", ExecutionMode::Sequential),
                            ("PARALLEL", ExecutionMode::Parallel),
                        ],
                    )?);
                }
                "ALLOW_SPINNING" => {
                    settings.allow_spinning = one_of(key, value, &[("YES", true), ("NO", false)])?;
                }
                k if OPENVINO_ONLY_KEYS.contains(&k) => ignored.push(k),
                other => {
                    return Err(BackendError::Load(format!(
                        "plugin_config key {other:?} is not known to the ONNX Runtime backend; it accepts {} \
                         (and ignores the OpenVINO keys {})",
                        Self::KEYS.join(", "),
                        OPENVINO_ONLY_KEYS.join(", ")
                    )));
                }
            }
        }
        if let Some(synonym) = intra_synonym {
            if config.contains_key("INTRA_OP_NUM_THREADS") && synonym != settings.intra_op_threads {
                return Err(BackendError::Load(
                    "plugin_config INTRA_OP_NUM_THREADS and INFERENCE_NUM_THREADS disagree; give one of them"
                        .into(),
                ));
            }
            settings.intra_op_threads = synonym;
        }
        if !ignored.is_empty() {
            tracing::warn!(keys = ?ignored, "plugin_config keys for OpenVINO are ignored by the ONNX Runtime backend");
        }
        Ok(settings)
    }

    /// Applies the settings to a session builder.
    pub(crate) fn apply(&self, builder: SessionBuilder) -> Result<SessionBuilder, BackendError> {
        let err = |what: &str| {
            let what = what.to_string();
            move |e: ort::Error<SessionBuilder>| {
                BackendError::Load(format!("cannot set {what}: {e}"))
            }
        };
        let mut builder = builder
            .with_optimization_level(self.optimization_level)
            .map_err(err("GRAPH_OPTIMIZATION_LEVEL"))?;
        if let Some(n) = self.intra_op_threads {
            builder = builder
                .with_intra_threads(n)
                .map_err(err("INTRA_OP_NUM_THREADS"))?;
        }
        if let Some(n) = self.inter_op_threads {
            builder = builder
                .with_inter_threads(n)
                .map_err(err("INTER_OP_NUM_THREADS"))?;
        }
        if let Some(mode) = self.execution_mode {
            builder = builder
                .with_parallel_execution(mode == ExecutionMode::Parallel)
                .map_err(err("EXECUTION_MODE"))?;
        }
        let spinning = if self.allow_spinning { "1" } else { "0" };
        for pool in ["intra_op", "inter_op"] {
            builder = builder
                .with_config_entry(format!("session.{pool}.allow_spinning"), spinning)
                .map_err(err("ALLOW_SPINNING"))?;
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<SessionSettings, BackendError> {
        SessionSettings::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn good_keys_are_read() {
        assert_eq!(parse(&[]).unwrap(), SessionSettings::default());
        let s = parse(&[
            ("INTRA_OP_NUM_THREADS", "3"),
            ("INTER_OP_NUM_THREADS", "0"),
            ("GRAPH_OPTIMIZATION_LEVEL", "extended"),
            ("EXECUTION_MODE", "PARALLEL"),
            ("ALLOW_SPINNING", "yes"),
        ])
        .unwrap();
        assert!(s.allow_spinning);
        assert!(!SessionSettings::default().allow_spinning);
        assert!(parse(&[("ALLOW_SPINNING", "sometimes")]).is_err());
        assert_eq!(s.intra_op_threads, Some(3));
        assert_eq!(s.inter_op_threads, None);
        assert_eq!(s.optimization_level, GraphOptimizationLevel::Level2);
        assert_eq!(s.execution_mode, Some(ExecutionMode::Parallel));
        assert_eq!(
            parse(&[("INFERENCE_NUM_THREADS", "2")])
                .unwrap()
                .intra_op_threads,
            Some(2)
        );
        let both = parse(&[
            ("INFERENCE_NUM_THREADS", "2"),
            ("INTRA_OP_NUM_THREADS", "2"),
        ])
        .unwrap();
        assert_eq!(both.intra_op_threads, Some(2));
        assert!(
            parse(&[
                ("INFERENCE_NUM_THREADS", "2"),
                ("INTRA_OP_NUM_THREADS", "4")
            ])
            .is_err()
        );
        let level = |v| {
            parse(&[("GRAPH_OPTIMIZATION_LEVEL", v)])
                .unwrap()
                .optimization_level
        };
        assert_eq!(level("DISABLE_ALL"), GraphOptimizationLevel::Disable);
        assert_eq!(level("BASIC"), GraphOptimizationLevel::Level1);
        assert_eq!(level("ALL"), GraphOptimizationLevel::All);
    }

    #[test]
    fn openvino_keys_are_ignored() {
        let s = parse(&[
            ("PERFORMANCE_HINT", "THROUGHPUT"),
            ("NUM_STREAMS", "4"),
            ("CPU_BIND_THREAD", "YES"),
        ])
        .unwrap();
        assert_eq!(s, SessionSettings::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_load_errors() {
        let err = parse(&[("CACHE_SIZE", "1")]).unwrap_err();
        assert!(
            matches!(&err, BackendError::Load(m) if m.contains("CACHE_SIZE") && m.contains("INTRA_OP_NUM_THREADS")),
            "{err}"
        );
        let err = parse(&[("GRAPH_OPTIMIZATION_LEVEL", "99")]).unwrap_err();
        assert!(
            matches!(&err, BackendError::Load(m) if m.contains("GRAPH_OPTIMIZATION_LEVEL") && m.contains("DISABLE_ALL, BASIC, EXTENDED, ALL")),
            "{err}"
        );
        let err = parse(&[("EXECUTION_MODE", "FAST")]).unwrap_err();
        assert!(err.to_string().contains("SEQUENTIAL, PARALLEL"), "{err}");
        let err = parse(&[("INTRA_OP_NUM_THREADS", "-1")]).unwrap_err();
        assert!(err.to_string().contains("INTRA_OP_NUM_THREADS"), "{err}");
    }
}
