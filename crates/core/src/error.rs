use inferd_backend::BackendError;

/// A request that does not fit the model's signature. Messages follow OVMS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Wrong number of inputs.
    #[error("Invalid number of inputs - Expected: {expected}; Actual: {actual}")]
    InputCount {
        /// Inputs the model takes.
        expected: usize,
        /// Inputs sent.
        actual: usize,
    },
    /// A model input is missing from the request.
    #[error("Missing input with specific name - Required input: {0}")]
    MissingInput(String),
    /// Data type differs from the model's.
    #[error("Invalid input precision - Expected: {expected}; Actual: {actual}; input name: {name}")]
    Precision {
        /// Input name.
        name: String,
        /// Model's type.
        expected: String,
        /// Request's type.
        actual: String,
    },
    /// Only the first dimension differs.
    #[error(
        "Invalid input batch size - Expected: {expected}; Actual: {actual}; input name: {name}"
    )]
    BatchSize {
        /// Input name.
        name: String,
        /// Model's first dimension.
        expected: String,
        /// Request's first dimension.
        actual: String,
    },
    /// Two inputs disagree on the batch (first) dimension.
    #[error(
        "Invalid input batch size - Expected: {expected} as in input {first}; Actual: {actual}; input name: {name}"
    )]
    BatchMismatch {
        /// The first batched input.
        first: String,
        /// Its batch size.
        expected: usize,
        /// The input that disagrees.
        name: String,
        /// Its batch size.
        actual: usize,
    },
    /// A batching model's request is larger than its largest batch (Triton's message).
    #[error("inference request batch-size must be <= {max} for '{model}'")]
    BatchLimit {
        /// Model name.
        model: String,
        /// `max_batch_size`.
        max: usize,
    },
    /// Rank or a non-batch dimension differs.
    #[error("Invalid input shape - Expected: {expected}; Actual: {actual}; input name: {name}")]
    Shape {
        /// Input name.
        name: String,
        /// Model's shape.
        expected: String,
        /// Request's shape.
        actual: String,
    },
    /// Content does not hold what the shape calls for.
    #[error(
        "Invalid number of values in tensor proto container - Expected: {expected}; Actual: {actual}; input name: {name}"
    )]
    ValueCount {
        /// Input name.
        name: String,
        /// Values the shape calls for.
        expected: usize,
        /// Values sent.
        actual: usize,
    },
    /// Raw content length does not match the shape.
    #[error(
        "Invalid content size of tensor proto - Expected: {expected} bytes; Actual: {actual} bytes; input name: {name}"
    )]
    ContentSize {
        /// Input name.
        name: String,
        /// Bytes the shape calls for.
        expected: usize,
        /// Bytes sent.
        actual: usize,
    },
    /// Other malformed content (bad BYTES framing, overflowing shape).
    #[error("Invalid content of input {name}: {message}")]
    Content {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An encoded image could not become the input's tensor.
    #[error("Image parsing failed - input {name}, image {index}: {message}")]
    Image {
        /// Input name.
        name: String,
        /// Position of the image in the batch, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Encoded images sent to an input that cannot take them, or sent wrongly.
    #[error("Invalid binary input {name}: {message}")]
    BinaryInput {
        /// Input name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An output was asked for that the model does not have.
    #[error("Invalid output name - Requested output: {0} is not an output of the model")]
    UnknownOutput(String),
    /// A request parameter the core reads has a malformed value.
    #[error("Invalid parameter '{name}' - {message}")]
    Parameter {
        /// Parameter name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A SavedModel signature the model does not have (TF Serving's message).
    #[error("Serving signature name: \"{0}\" not found in signature def")]
    UnknownSignature(String),
    /// A SavedModel signature the engine could not load.
    #[error("Serving signature name: \"{name}\" is not served: {why}")]
    UnservedSignature {
        /// The signature.
        name: String,
        /// Why it could not be loaded.
        why: String,
    },
    /// The same output was asked for twice.
    #[error("Invalid output name - Requested output: {0} is requested more than once")]
    DuplicateOutput(String),
}

/// Why the core could not serve a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    /// No model of that name.
    #[error("Model with requested name is not found")]
    ModelNotFound,
    /// The model has no such version.
    #[error("Model with requested version is not found")]
    VersionNotFound,
    /// The model has no version because its storage could not be listed.
    #[error("Could not find any versions of model {model}: {message}")]
    StorageFault {
        /// The model.
        model: String,
        /// The storage's error.
        message: String,
    },
    /// The model's config has no such version label.
    #[error("Model with requested version label is not found")]
    LabelNotFound(String),
    /// The version exists but is not serving (loading, failed or retired).
    #[error("Model with requested version is not loaded yet")]
    VersionNotLoaded,
    /// A pipeline cannot run: a node model is not available, or the graph
    /// does not fit the models' signatures.
    #[error("Pipeline is not ready: {0}")]
    PipelineNotReady(String),
    /// A pipeline node failed: a custom node reported an error, or its
    /// outputs could not be split or gathered (OVMS's words).
    #[error("{0}")]
    NodeFailed(String),
    /// A stateful model refused the request's sequence controls.
    #[error(transparent)]
    Sequence(#[from] crate::executor::SequenceError),
    /// The request does not fit the model.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Too many requests are queued for this model version.
    #[error("Too many requests queued for model {0}; retry later")]
    Overloaded(String),
    /// The request waited in the batch queue past its timeout and was not run.
    #[error("Request timeout expired")]
    TimedOut,
    /// The backend refused a value (e.g. non-UTF-8 text for tract).
    #[error("{0}")]
    BackendInput(String),
    /// The model answers with a stream, which this API cannot carry.
    #[error("The model answers with a stream of responses; use a streaming API")]
    StreamNotSupported,
    /// The backend failed; details are logged, not sent.
    #[error("Internal inference error")]
    Internal,
}

/// The gRPC canonical status a request error maps to, on every API (gRPC
/// codes, TF Serving's `status` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanonicalCode {
    /// `INVALID_ARGUMENT`.
    InvalidArgument,
    /// `NOT_FOUND`.
    NotFound,
    /// `ALREADY_EXISTS`.
    AlreadyExists,
    /// `RESOURCE_EXHAUSTED`.
    ResourceExhausted,
    /// `UNIMPLEMENTED`.
    Unimplemented,
    /// `INTERNAL`.
    Internal,
    /// `UNAVAILABLE`.
    Unavailable,
}

impl CanonicalCode {
    /// The code's upper-case name, as gRPC and TensorFlow spell it.
    pub fn name(self) -> &'static str {
        match self {
            CanonicalCode::InvalidArgument => "INVALID_ARGUMENT",
            CanonicalCode::NotFound => "NOT_FOUND",
            CanonicalCode::AlreadyExists => "ALREADY_EXISTS",
            CanonicalCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            CanonicalCode::Unimplemented => "UNIMPLEMENTED",
            CanonicalCode::Internal => "INTERNAL",
            CanonicalCode::Unavailable => "UNAVAILABLE",
        }
    }
}

impl CoreError {
    /// The canonical status of this error.
    pub fn canonical_code(&self) -> CanonicalCode {
        use crate::executor::SequenceError;
        match self {
            CoreError::ModelNotFound
            | CoreError::VersionNotFound
            | CoreError::StorageFault { .. }
            | CoreError::LabelNotFound(_) => CanonicalCode::NotFound,
            // Triton answers a request that timed out in its queue UNAVAILABLE.
            CoreError::VersionNotLoaded | CoreError::PipelineNotReady(_) | CoreError::TimedOut => {
                CanonicalCode::Unavailable
            }
            CoreError::Invalid(_) | CoreError::BackendInput(_) => CanonicalCode::InvalidArgument,
            CoreError::Overloaded(_) => CanonicalCode::ResourceExhausted,
            CoreError::StreamNotSupported => CanonicalCode::Unimplemented,
            CoreError::Internal | CoreError::NodeFailed(_) => CanonicalCode::Internal,
            CoreError::Sequence(error) => match error {
                SequenceError::Missing => CanonicalCode::NotFound,
                SequenceError::Exists => CanonicalCode::AlreadyExists,
                SequenceError::TooMany => CanonicalCode::Unavailable,
                _ => CanonicalCode::InvalidArgument,
            },
        }
    }

    /// A stable short name for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            CoreError::ModelNotFound => "model_not_found",
            CoreError::VersionNotFound => "version_not_found",
            CoreError::StorageFault { .. } => "storage_fault",
            CoreError::LabelNotFound(_) => "label_not_found",
            CoreError::VersionNotLoaded => "version_not_loaded",
            CoreError::PipelineNotReady(_) => "pipeline_not_ready",
            CoreError::NodeFailed(_) => "node_failed",
            CoreError::Sequence(_) => "sequence",
            CoreError::Invalid(_) => "invalid_argument",
            CoreError::Overloaded(_) => "overloaded",
            CoreError::TimedOut => "timed_out",
            CoreError::BackendInput(_) => "invalid_argument",
            CoreError::StreamNotSupported => "unsupported",
            CoreError::Internal => "internal",
        }
    }

    /// Maps a backend error met while running a request.
    pub fn from_execution(model: &str, version: u64, err: BackendError) -> Self {
        match err {
            BackendError::InvalidInput(message) => CoreError::BackendInput(message),
            other => {
                tracing::error!(model, version, error = %other, "inference failed");
                CoreError::Internal
            }
        }
    }
}
