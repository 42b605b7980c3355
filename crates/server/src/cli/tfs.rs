//! TensorFlow Serving's flags beyond those OVMS shares with it, so that a
//! `tensorflow_model_server` command line starts inferd unchanged.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

/// The flags of `tensorflow_model_server --help` that have a meaning here.
#[derive(Debug, Clone, Default, Args)]
pub struct TfsFlags {
    /// TF Serving: re-read --model_config_file every N seconds (0: read it once) [default: every file-system poll].
    #[arg(long = "model_config_file_poll_wait_seconds")]
    pub model_config_file_poll_wait_seconds: Option<u64>,

    /// TF Serving: also serve gRPC on this Unix domain socket (e.g. /tmp/inferd.sock; clients use unix:/tmp/inferd.sock).
    #[arg(long = "grpc_socket_path")]
    pub grpc_socket_path: Option<PathBuf>,

    /// TF Serving: a text-format MonitoringConfig (prometheus_config { enable: true path: "..." }): Prometheus metrics with TF Serving's names on the REST port.
    #[arg(long = "monitoring_config_file")]
    pub monitoring_config_file: Option<PathBuf>,

    /// TF Serving: compute threads per inference, passed to every engine as INFERENCE_NUM_THREADS unless a model's plugin_config sets it [default: 0, the engine's choice].
    #[arg(long = "tensorflow_intra_op_parallelism", default_value_t = 0)]
    pub tensorflow_intra_op_parallelism: u32,

    /// TF Serving: accepted; no engine here runs a model's independent nodes at once by default (concurrent requests: nireq).
    #[arg(long = "tensorflow_inter_op_parallelism", default_value_t = 0)]
    pub tensorflow_inter_op_parallelism: u32,

    /// TF Serving: sets --tensorflow_intra_op_parallelism (and inter) when they are 0.
    #[arg(long = "tensorflow_session_parallelism", default_value_t = 0)]
    pub tensorflow_session_parallelism: u32,

    /// TF Serving: accepted; REST requests run on the shared async runtime, not a thread pool of their own.
    #[arg(long = "rest_api_num_threads")]
    pub rest_api_num_threads: Option<u32>,

    /// TF Serving: accepted; gRPC requests run on the shared async runtime.
    #[arg(long = "grpc_max_threads")]
    pub grpc_max_threads: Option<u32>,

    /// TF Serving: accepted; versions are unloaded at once, without a thread pool.
    #[arg(long = "num_unload_threads")]
    pub num_unload_threads: Option<u32>,

    /// TF Serving: accepted; model files are read once at load and not kept in memory.
    #[arg(long = "flush_filesystem_caches", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub flush_filesystem_caches: bool,

    /// TF Serving: CORS for any origin on the REST port (as --allowed_origins='*').
    #[arg(long = "rest_api_enable_cors_support", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub rest_api_enable_cors_support: bool,

    /// TF Serving: accepted; grpc.health.v1 is always served on the gRPC port.
    #[arg(long = "enable_grpc_healthcheck_service", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub enable_grpc_healthcheck_service: bool,

    /// TF Serving: run the Predict requests of a version's assets.extra/tf_serving_warmup_requests (TFRecord of PredictionLog) before it becomes AVAILABLE.
    #[arg(long = "enable_model_warmup", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = true)]
    pub enable_model_warmup: bool,

    /// TF Serving: how many times each warm-up request runs.
    #[arg(long = "num_request_iterations_for_warmup", default_value_t = 1)]
    pub num_request_iterations_for_warmup: u32,

    /// TF Serving: the SavedModel tag set to serve; only "serve" (the default) is.
    #[arg(long = "saved_model_tags", default_value = "serve")]
    pub saved_model_tags: String,
}

impl TfsFlags {
    /// Compute threads per inference: intra-op, else session parallelism.
    pub fn intra_op_threads(&self) -> Option<u32> {
        [
            self.tensorflow_intra_op_parallelism,
            self.tensorflow_session_parallelism,
        ]
        .into_iter()
        .find(|&n| n > 0)
    }
}
