//! Warm-up samples a model configuration declares (Triton's
//! `model_warmup`), run on each version before it is marked AVAILABLE.

use std::path::PathBuf;

/// Where a warm-up input's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarmupData {
    /// Zeros (empty strings for `BYTES`).
    Zero,
    /// Random values (floating point ones in [0, 1)).
    Random,
    /// The raw bytes of this file (for `BYTES`, 4-byte length-prefixed).
    File(PathBuf),
}

/// One input of a warm-up sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupInput {
    /// Input name.
    pub name: String,
    /// Element type, by KServe name.
    pub datatype: String,
    /// Shape without the batch dimension.
    pub dims: Vec<i64>,
    /// Content.
    pub data: WarmupData,
}

/// One warm-up request, run `count` times (at least once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupSample {
    /// The sample's name, for messages.
    pub name: String,
    /// Rows of the request; `None` when the model takes no batch dimension.
    pub batch_size: Option<u32>,
    /// The inputs.
    pub inputs: Vec<WarmupInput>,
    /// Runs.
    pub count: u32,
}
