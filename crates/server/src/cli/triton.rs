//! Triton Inference Server's flags, in its spelling, beside OVMS's. Its
//! port and address flags are aliases of OVMS's (`--http-port` is
//! `--rest_port`, `--grpc-port` is `--port`, ...); these are the rest.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

/// How models are loaded (`--model-control-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ControlMode {
    /// Every model of the repositories at start-up; no changes after.
    #[default]
    None,
    /// Every model, and the repositories polled every --repository-poll-secs.
    Poll,
    /// Only the --load-model models; others through the repository API.
    Explicit,
}

/// Triton's own flags.
#[derive(Debug, Clone, Args)]
pub struct TritonFlags {
    /// Triton: a model repository (<repo>/<model>/[config.pbtxt], <repo>/<model>/<version>/model.onnx|model.xml|...); repeatable. Gives Triton's default ports (HTTP 8000, gRPC 8001).
    #[arg(long = "model-repository", alias = "model-store")]
    pub model_repository: Vec<PathBuf>,

    /// Triton: none (load every model once), poll (and poll the repositories), explicit (only --load-model models).
    #[arg(long = "model-control-mode", value_enum)]
    pub model_control_mode: Option<ControlMode>,

    /// Triton: seconds between repository polls in poll mode.
    #[arg(long = "repository-poll-secs", default_value_t = 15)]
    pub repository_poll_secs: u64,

    /// Triton: a model to load at start in explicit mode ('*': all); repeatable.
    #[arg(long = "load-model")]
    pub load_model: Vec<String>,

    /// Triton: every model needs its config.pbtxt (no completion from the model).
    #[arg(long = "strict-model-config", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub strict_model_config: bool,

    /// Triton: the same as --strict-model-config=true.
    #[arg(long = "disable-auto-complete-config")]
    pub disable_auto_complete_config: bool,

    /// Triton: a model configuration that cannot be read stops the start (true, the default); false leaves that model out and serves the others. A model that fails to load never stops the server: its status says why.
    #[arg(long = "exit-on-error", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub exit_on_error: bool,

    /// Triton: log verbosity; above 0 logs at DEBUG.
    #[arg(long = "log-verbose")]
    pub log_verbose: Option<u32>,

    /// Triton: serve HTTP/REST (false: --rest_port 0).
    #[arg(long = "allow-http", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub allow_http: bool,

    /// Triton: serve gRPC (false: --port 0).
    #[arg(long = "allow-grpc", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub allow_grpc: bool,

    /// Triton: a port of its own for GET /metrics (0: only on the HTTP port) [default under the name tritonserver: 8002].
    #[arg(long = "metrics-port")]
    pub metrics_port: Option<u16>,

    /// Triton: the address the metrics port listens on.
    #[arg(long = "metrics-address", default_value = "0.0.0.0")]
    pub metrics_address: IpAddr,

    /// Triton: Prometheus metrics, with Triton's nv_* names beside OVMS's (with --model-repository on by default, at /metrics on the HTTP port and on --metrics-port).
    #[arg(long = "allow-metrics", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub allow_metrics: Option<bool>,
}
