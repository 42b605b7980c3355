/// Why a backend could not load or run a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// No engine reads these files, or the chosen engine cannot.
    #[error("{0}")]
    Unsupported(String),
    /// The engine failed to read or compile the model.
    #[error("{0}")]
    Load(String),
    /// A request carried a value the engine cannot take (e.g. non-UTF-8 text).
    #[error("{0}")]
    InvalidInput(String),
    /// The engine failed while running.
    #[error("{0}")]
    Execution(String),
}
