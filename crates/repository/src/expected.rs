//! The inputs and outputs a model configuration declares (Triton's
//! `config.pbtxt`), checked against the model once it is loaded.

/// One declared tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    /// Its name in the model.
    pub name: String,
    /// Element type, by KServe name (`FP32`, `BYTES`, ...).
    pub datatype: String,
    /// Full shape, the batch dimension (-1) first when the model batches:
    /// what clients send or get.
    pub shape: Vec<i64>,
    /// The model's own full shape when it differs from `shape` (Triton's
    /// `reshape`): the same elements, laid out as the model takes or gives them.
    pub model_shape: Option<Vec<i64>>,
}

impl ExpectedTensor {
    /// The shape the model itself has.
    pub fn model_shape(&self) -> &[i64] {
        self.model_shape.as_deref().unwrap_or(&self.shape)
    }
}

/// What a configuration says the model takes and gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedSignature {
    /// Declared inputs (all of them need not be declared: Triton completes them).
    pub inputs: Vec<ExpectedTensor>,
    /// Declared outputs.
    pub outputs: Vec<ExpectedTensor>,
}
