//! The inferd server: command line, protocol frontends and the run loop.
//!
//! Frontends decode the wire into core requests and encode core responses;
//! they keep no state of their own. See ARCHITECTURE.md.

pub mod cli;
pub mod config;
pub mod grpc;
pub mod reload;
pub mod repository_index;
pub mod rest;
mod run;
pub mod statistics;
mod values;

pub use inferd_proto as proto;
pub use run::{init_logging, run};

/// Server name reported by server metadata.
pub const SERVER_NAME: &str = "inferd";
/// Server version reported by server metadata.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
