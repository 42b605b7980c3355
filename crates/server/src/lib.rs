//! The inferd server: command line, protocol frontends and the run loop.
//!
//! One folder per API surface (`kserve/`, `tfs/`, `ovms/`), each with its
//! REST and gRPC adapters together, over the shared `transport/` code.
//! Adapters decode the wire into core requests and encode core responses;
//! they keep no state of their own. See ARCHITECTURE.md.

pub mod batching;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod kserve;
mod ovms;
pub mod probe;
pub mod reload;
mod run;
pub mod security;
pub mod tfs;
pub mod tls;
pub mod transport;
pub mod triton;
mod values;

pub use inferd_proto as proto;
pub use run::{init_logging, run};

/// Server name reported by server metadata.
pub const SERVER_NAME: &str = "inferd";
/// Server version reported by server metadata.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
