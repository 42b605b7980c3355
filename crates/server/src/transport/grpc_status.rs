use inferd_core::{CanonicalCode, CoreError};
use tonic::{Code, Status};

/// The gRPC status for a core error (codes as OVMS uses them).
pub fn status_from_core(err: CoreError) -> Status {
    let code = match err.canonical_code() {
        CanonicalCode::InvalidArgument => Code::InvalidArgument,
        CanonicalCode::NotFound => Code::NotFound,
        CanonicalCode::AlreadyExists => Code::AlreadyExists,
        CanonicalCode::ResourceExhausted => Code::ResourceExhausted,
        CanonicalCode::Unimplemented => Code::Unimplemented,
        CanonicalCode::Internal => Code::Internal,
        CanonicalCode::Unavailable => Code::Unavailable,
    };
    Status::new(code, err.to_string())
}
