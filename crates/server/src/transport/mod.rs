//! Transport code every API shares: the gRPC server and the REST router
//! they are mounted on, error mapping per transport, JSON limits and
//! tensor-to-JSON codecs, and the streaming body of binary REST answers.

pub mod grpc;
mod grpc_status;
pub mod json_data;
pub mod json_depth;
pub mod rest;
pub mod rest_body;
mod rest_error;

pub use grpc_status::status_from_core;
pub use rest::{ApiError, RestState};
