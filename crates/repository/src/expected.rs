//! The inputs and outputs a model configuration declares (Triton's
//! `config.pbtxt`), checked against the model once it is loaded.

/// One declared tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    /// Its name in the model.
    pub name: String,
    /// Element type, by KServe name (`FP32`, `BYTES`, ...).
    pub datatype: String,
    /// Full shape, the batch dimension (-1) first when the model batches.
    pub shape: Vec<i64>,
}

/// What a configuration says the model takes and gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedSignature {
    /// Declared inputs (all of them need not be declared: Triton completes them).
    pub inputs: Vec<ExpectedTensor>,
    /// Declared outputs.
    pub outputs: Vec<ExpectedTensor>,
}
