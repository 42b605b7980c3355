use inferd_core::CoreError;
use inferd_core::executor::SequenceError;
use tonic::{Code, Status};

/// The gRPC status for a core error (codes as OVMS uses them).
pub fn status_from_core(err: CoreError) -> Status {
    let code = match &err {
        CoreError::ModelNotFound
        | CoreError::VersionNotFound
        | CoreError::StorageFault { .. }
        | CoreError::LabelNotFound(_) => Code::NotFound,
        // Triton answers a request that timed out in its queue UNAVAILABLE.
        CoreError::VersionNotLoaded | CoreError::PipelineNotReady(_) | CoreError::TimedOut => {
            Code::Unavailable
        }
        CoreError::Invalid(_) | CoreError::BackendInput(_) => Code::InvalidArgument,
        CoreError::Overloaded(_) => Code::ResourceExhausted,
        CoreError::StreamNotSupported => Code::Unimplemented,
        CoreError::Internal | CoreError::NodeFailed(_) => Code::Internal,
        CoreError::Sequence(error) => match error {
            SequenceError::Missing => Code::NotFound,
            SequenceError::Exists => Code::AlreadyExists,
            SequenceError::TooMany => Code::Unavailable,
            _ => Code::InvalidArgument,
        },
    };
    Status::new(code, err.to_string())
}
