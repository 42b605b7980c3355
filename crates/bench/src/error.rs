//! Errors: `BenchError` stops the run before or after measuring;
//! `RequestError` is one failed request, counted and measured on.

use std::path::PathBuf;

/// A failure that ends the run with a non-zero exit status.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Flags that contradict each other or the model.
    #[error("{0}")]
    Usage(String),
    /// A target that is not loopback, without `--allow-remote`.
    #[error(
        "refusing target {target}: {reason}; only loopback targets (127.0.0.0/8, ::1, \
         localhost) are allowed unless --allow-remote is given"
    )]
    RemoteTarget {
        /// The `--url` value.
        target: String,
        /// What is not loopback about it.
        reason: String,
    },
    /// The target's host name did not resolve.
    #[error("cannot resolve {target}: {message}")]
    Resolve {
        /// The `--url` value.
        target: String,
        /// The resolver's message.
        message: String,
    },
    /// No connection could be made to the server.
    #[error("cannot connect to {target} ({protocol}): {message}; is the server running there?")]
    Connect {
        /// The address tried.
        target: String,
        /// The protocol name.
        protocol: &'static str,
        /// The transport's message.
        message: String,
    },
    /// The server answered the metadata query with an error.
    #[error("cannot get the metadata of model '{model}': {message}")]
    Metadata {
        /// The model name.
        model: String,
        /// The server's message.
        message: String,
    },
    /// The model's inputs cannot be shaped or typed as needed.
    #[error("{0}")]
    Model(String),
    /// The `--input-data` file is missing, unreadable or does not fit.
    #[error("input data {path}: {message}")]
    InputData {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The request checked before measuring failed.
    #[error("the first request failed, so nothing was measured: {0}")]
    Probe(RequestError),
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Report {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One request that failed; counted as an error, not a latency sample.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    /// A gRPC status other than OK.
    #[error("gRPC {code:?}: {message}")]
    Grpc {
        /// The status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// An HTTP status outside 2xx.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Transport(String),
    /// No answer within `--request-timeout-ms`.
    #[error("no answer within {0} ms")]
    Timeout(u64),
}

impl From<tonic::Status> for RequestError {
    fn from(status: tonic::Status) -> Self {
        RequestError::Grpc {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}
