//! Transport code every API shares: the gRPC server and the REST router
//! they are mounted on, error mapping per transport, JSON limits and
//! tensor-to-JSON codecs, and the streaming body of binary REST answers.

pub mod access;
pub mod grpc;
mod grpc_guard;
mod grpc_status;
pub mod json_data;
pub mod json_depth;
pub mod rest;
pub mod rest_body;
mod rest_error;
mod rest_guard;
pub mod rest_serve;

pub use grpc_guard::GrpcGuardLayer;
pub use grpc_status::status_from_core;
pub use rest::{ApiError, RestState};
pub use rest_guard::{RestGuard, RestGuardLayer};
