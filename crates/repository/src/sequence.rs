//! Stateful (sequence) models: OVMS's keys (`stateful`,
//! `max_sequence_number`, `idle_sequence_cleanup`) and, in Triton's words,
//! a `sequence_batching` section with the idle limit and the implicit
//! state pairs (a model input fed, per sequence, from a model output of the
//! previous request).

use serde::{Deserialize, Serialize};

/// OVMS's default bound on live sequences per model version.
pub const DEFAULT_MAX_SEQUENCE_NUMBER: u32 = 500;

/// `sequence_batching` (Triton's name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceBatching {
    /// A sequence idle this long is dropped (with `idle_sequence_cleanup`,
    /// on by default); without it, OVMS's cleaner period: 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sequence_idle_microseconds: Option<u64>,
    /// Implicit state pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateConfig>,
    /// Model inputs the server fills with the sequence's signals (Triton's
    /// `control_input`; not a config.json key).
    #[serde(skip)]
    pub control_inputs: Vec<ControlInput>,
}

/// A model input that receives a sequence signal on every request.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlInput {
    /// The model input.
    pub name: String,
    /// Which signal.
    pub kind: ControlKind,
    /// The input's element type, by KServe name (`FP32`, `UINT64`, `BYTES`...).
    pub datatype: String,
    /// Its value when the signal is off, then when it is on (unused for
    /// the correlation id, which is the sequence's id).
    pub false_true: [f64; 2],
}

/// The sequence signals a model input can carry (Triton's control kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// On for a sequence's first request.
    Start,
    /// On for its last request.
    End,
    /// On for every request that carries data (all of them here).
    Ready,
    /// The sequence's id.
    CorrelationId,
}

/// One implicit state: `input_name` receives what `output_name` produced
/// for the sequence's previous request (at the start: `initial_value` in
/// every element, 0 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The model input the state feeds.
    pub input_name: String,
    /// The model output the state comes from.
    pub output_name: String,
    /// The state's shape, where the model's input has dynamic dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<Vec<u64>>,
    /// The value of every element at a sequence's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_value: Option<f64>,
}

impl SequenceBatching {
    /// Checks names and sizes; one line naming the problem.
    pub fn check(&self) -> Result<(), String> {
        if self.max_sequence_idle_microseconds == Some(0) {
            return Err("sequence_batching.max_sequence_idle_microseconds must be positive".into());
        }
        for state in &self.state {
            if state.input_name.trim().is_empty() || state.output_name.trim().is_empty() {
                return Err("sequence_batching.state needs input_name and output_name".into());
            }
            if state
                .dims
                .as_ref()
                .is_some_and(|d| d.is_empty() || d.contains(&0))
            {
                return Err(format!(
                    "sequence_batching.state {:?}: dims must be positive",
                    state.input_name
                ));
            }
        }
        Ok(())
    }
}
