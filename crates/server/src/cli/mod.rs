//! Command-line flags, named as OpenVINO Model Server names them.

use std::net::IpAddr;
use std::path::PathBuf;

pub mod foreign;
pub mod tfs;
pub mod triton;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};

/// inferd: serve ONNX models over KServe v2 gRPC and REST.
///
/// Single-model mode: --model_name and --model_path. Multi-model mode:
/// --config_path with an OVMS config.json. Not both. A flag given twice
/// takes its last value (so a container entrypoint's defaults can be overridden).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "inferd",
    version,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    /// gRPC port (KServe v2 GRPCInferenceService and grpc.health.v1); 0 turns gRPC off.
    #[arg(long = "port", alias = "grpc-port", default_value_t = 9178)]
    pub port: u16,

    /// REST port (KServe v2 /v2/...); 0 turns REST off.
    #[arg(long = "rest_port", aliases = ["rest_api_port", "http-port"], default_value_t = 0)]
    pub rest_port: u16,

    /// Address the gRPC server listens on.
    #[arg(
        long = "grpc_bind_address",
        alias = "grpc-address",
        default_value = "0.0.0.0"
    )]
    pub grpc_bind_address: IpAddr,

    /// Address the REST server listens on.
    #[arg(
        long = "rest_bind_address",
        alias = "http-address",
        default_value = "0.0.0.0"
    )]
    pub rest_bind_address: IpAddr,

    /// Multi-model mode: path of an OVMS-format config.json.
    #[arg(long = "config_path", alias = "model_config_file")]
    pub config_path: Option<PathBuf>,

    /// Single-model mode: name clients use for the model.
    #[arg(long = "model_name")]
    pub model_name: Option<String>,

    /// Single-model mode: folder holding numbered version folders (<path>/1/model.onnx).
    #[arg(long = "model_path", alias = "model_base_path")]
    pub model_path: Option<String>,

    /// Single-model mode: version policy as JSON, e.g. '{"all": {}}' [default: latest 1].
    #[arg(long = "model_version_policy")]
    pub model_version_policy: Option<String>,

    /// Single-model mode: batch size set on every input at load time.
    #[arg(long = "batch_size")]
    pub batch_size: Option<String>,

    /// Single-model mode: input shape(s), e.g. "(1,3,224,224)" or '{"input": "(1,-1)"}'.
    #[arg(long = "shape")]
    pub shape: Option<String>,

    /// Single-model mode: input layout(s), e.g. "NCHW" or '{"input": "NHWC"}'.
    #[arg(long = "layout")]
    pub layout: Option<String>,

    /// Single-model mode: inferences of the model that may run at once [default: one per core].
    #[arg(long = "nireq")]
    pub nireq: Option<u32>,

    /// Single-model mode: device to run on [default: CPU].
    #[arg(long = "target_device")]
    pub target_device: Option<String>,

    /// Single-model mode: backend settings as JSON, e.g. '{"INFERENCE_NUM_THREADS": 2}'.
    #[arg(long = "plugin_config")]
    pub plugin_config: Option<String>,

    /// Single-model mode: engine to use (openvino, onnxruntime, tract) [default: the fastest available that reads the files].
    #[arg(long = "backend")]
    pub backend: Option<String>,

    /// Folder that model versions from object stores (s3://) are downloaded to [default: <temp dir>/inferd-model-cache].
    #[arg(long = "model_cache_dir")]
    pub model_cache_dir: Option<PathBuf>,

    /// Library of custom OpenVINO operations, added before any model loads (OVMS's flag).
    #[arg(long = "cpu_extension")]
    pub cpu_extension: Option<PathBuf>,

    /// Single-model mode: value(s) subtracted from each input channel, e.g. "[123.675,116.28,103.53]".
    #[arg(long = "mean")]
    pub mean: Option<String>,

    /// Single-model mode: value(s) each input channel is divided by (after --mean).
    #[arg(long = "scale")]
    pub scale: Option<String>,

    /// Single-model mode: colour order of requests and of the model, e.g. "BGR:RGB".
    #[arg(long = "color_format")]
    pub color_format: Option<String>,

    /// Path of OpenVINO's libopenvino_c.so (also: env INFERD_OPENVINO_LIB) [default: searched in the runtimes folders].
    #[arg(long = "openvino_lib")]
    pub openvino_lib: Option<PathBuf>,

    /// Path of ONNX Runtime's libonnxruntime.so (also: env INFERD_ONNXRUNTIME_LIB, ORT_DYLIB_PATH) [default: searched in the runtimes folders].
    #[arg(long = "onnxruntime_lib")]
    pub onnxruntime_lib: Option<PathBuf>,

    /// Folder that scripts/install-runtimes.sh filled [default: $INFERD_RUNTIMES_DIR, ./runtimes, runtimes beside the binary].
    #[arg(long = "runtimes_dir")]
    pub runtimes_dir: Option<PathBuf>,

    /// Folder for OpenVINO's compiled-model cache; later starts of the same model are faster [default: no cache].
    #[arg(long = "cache_dir")]
    pub cache_dir: Option<PathBuf>,

    /// Model versions that may load at once, over all models (TF Serving's flag); a slow load of one model never delays another's changes [default: 0, the number of cores but at least 2].
    #[arg(
        long = "num_load_threads",
        alias = "model-load-thread-count",
        default_value_t = 0
    )]
    pub num_load_threads: usize,

    /// A gzip/deflate REST body may expand to at most this many times its Content-Length (413 beyond, as it streams), and never beyond --max_request_bytes.
    #[arg(long = "max_decompression_ratio", default_value_t = 32)]
    pub max_decompression_ratio: u64,

    /// Open REST connections at most; one over the cap is closed at once.
    #[arg(long = "rest_max_connections", default_value_t = 1000)]
    pub rest_max_connections: usize,

    /// Time a REST client has to send a request's headers, and at most between two parts of its body, in seconds; a slower client is disconnected.
    #[arg(long = "rest_read_timeout_seconds", default_value_t = 30)]
    pub rest_read_timeout_seconds: u64,

    /// TF Serving's flag: longest a REST request may take, in milliseconds (504 after it); 0 for no limit.
    #[arg(long = "rest_api_timeout_in_ms", default_value_t = 0)]
    pub rest_api_timeout_in_ms: u64,

    /// Largest request head (request line and headers) on either port, in bytes; a larger one gets 431 (REST) or is refused by HTTP/2.
    #[arg(long = "max_header_bytes", default_value_t = 409_600)]
    pub max_header_bytes: usize,

    /// Concurrent HTTP/2 streams per connection, gRPC and REST.
    #[arg(long = "http2_max_streams", default_value_t = 1024)]
    pub http2_max_streams: u32,

    /// File holding the API key that inference and metadata requests must send as `authorization: Bearer <key>` (REST header or gRPC metadata) [default: $API_KEY, else no key].
    #[arg(long = "api_key_file")]
    pub api_key_file: Option<PathBuf>,

    /// File holding the admin key that management calls (config reload, repository load/unload/index, TF Serving's HandleReloadConfigRequest) must send; without it they take the API key, and with neither key they are open.
    #[arg(long = "admin_key_file")]
    pub admin_key_file: Option<PathBuf>,

    /// Refuse every management call (403 / PERMISSION_DENIED).
    #[arg(long = "disable_management_endpoints", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub disable_management_endpoints: bool,

    /// Health and metrics endpoints need the API key too (they are open by default).
    #[arg(long = "restrict_health_and_metrics", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub restrict_health_and_metrics: bool,

    /// PEM certificate chain both ports serve over TLS, with --tls_key [default: plain text]; re-read when it changes.
    #[arg(long = "tls_cert")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls_cert.
    #[arg(long = "tls_key")]
    pub tls_key: Option<PathBuf>,

    /// PEM bundle of CAs: both ports then require a client certificate signed by one of them (mutual TLS).
    #[arg(long = "tls_client_ca")]
    pub tls_client_ca: Option<PathBuf>,

    /// Like --tls_cert, for the gRPC port only.
    #[arg(long = "grpc_tls_cert")]
    pub grpc_tls_cert: Option<PathBuf>,

    /// Like --tls_key, for the gRPC port only.
    #[arg(long = "grpc_tls_key")]
    pub grpc_tls_key: Option<PathBuf>,

    /// Like --tls_client_ca, for the gRPC port only.
    #[arg(long = "grpc_tls_client_ca")]
    pub grpc_tls_client_ca: Option<PathBuf>,

    /// Like --tls_cert, for the REST port only.
    #[arg(long = "rest_tls_cert")]
    pub rest_tls_cert: Option<PathBuf>,

    /// Like --tls_key, for the REST port only.
    #[arg(long = "rest_tls_key")]
    pub rest_tls_key: Option<PathBuf>,

    /// Like --tls_client_ca, for the REST port only.
    #[arg(long = "rest_tls_client_ca")]
    pub rest_tls_client_ca: Option<PathBuf>,

    /// TF Serving's flag: text-format SSLConfig (server_key, server_cert, custom_ca, client_verify) for the gRPC port.
    #[arg(long = "ssl_config_file")]
    pub ssl_config_file: Option<PathBuf>,

    /// CORS on the REST port: comma-separated origins allowed to call it from a browser, or `*` [default: none, no CORS headers].
    #[arg(long = "allowed_origins")]
    pub allowed_origins: Option<String>,

    /// CORS: comma-separated methods allowed [default: GET,POST,OPTIONS].
    #[arg(long = "allowed_methods")]
    pub allowed_methods: Option<String>,

    /// CORS: comma-separated request headers allowed, or `*` [default: content-type,authorization,inference-header-content-length].
    #[arg(long = "allowed_headers")]
    pub allowed_headers: Option<String>,

    /// CORS: allow credentials (cookies, authorization) in cross-origin requests; needs explicit origins and headers.
    #[arg(long = "allow_credentials", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub allow_credentials: bool,

    /// TF Serving: batch concurrent requests of every model whose config has no dynamic_batching of its own (settings from --batching_parameters_file, else no delay and batches of up to 64).
    #[arg(long = "enable_batching", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub enable_batching: bool,

    /// TF Serving: a text-format BatchingParameters file (max_batch_size, batch_timeout_micros, max_enqueued_batches, num_batch_threads, allowed_batch_sizes, pad_variable_length_inputs); needs --enable_batching.
    #[arg(long = "batching_parameters_file")]
    pub batching_parameters_file: Option<PathBuf>,

    /// TF Serving: read a model's own batching_params.pbtxt (in its version folder, or its base path) instead of --batching_parameters_file; needs --enable_batching.
    #[arg(long = "enable_per_model_batching_parameters", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub enable_per_model_batching_parameters: bool,

    /// Serve Prometheus metrics on `GET /metrics` (REST port); with --config_path, config.json's `monitoring` section can enable them too.
    #[arg(long = "metrics_enable", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value_t = false)]
    pub metrics_enable: bool,

    /// Comma-separated metrics to report instead of the default set, e.g. ovms_requests_success,ovms_infer_req_active; needs --metrics_enable.
    #[arg(long = "metrics_list")]
    pub metrics_list: Option<String>,

    /// Largest accepted request body (REST) or message (gRPC), in bytes.
    #[arg(long = "max_request_bytes", default_value_t = 1 << 30)]
    pub max_request_bytes: usize,

    /// How often to look for new or removed version folders and config.json edits, in seconds; 0 turns watching off.
    #[arg(long = "file_system_poll_wait_seconds", default_value_t = 1)]
    pub file_system_poll_wait_seconds: u64,

    /// After SIGTERM/SIGINT, how long in-flight requests may take before the server exits anyway.
    #[arg(
        long = "exit_timeout_seconds",
        alias = "exit-timeout-secs",
        default_value_t = 30
    )]
    pub exit_timeout_seconds: u64,

    /// Log verbosity.
    #[arg(long = "log_level", value_enum, default_value_t = LogLevel::Info, ignore_case = true)]
    pub log_level: LogLevel,

    /// Write logs to this file instead of standard output.
    #[arg(long = "log_path", alias = "log-file")]
    pub log_path: Option<PathBuf>,

    /// Probe mode, for container health checks: GET this http:// URL (e.g.
    /// http://127.0.0.1:8000/v2/health/ready), exit 0 on 200, else 1. Serves nothing.
    #[arg(long = "health_probe", value_name = "URL")]
    pub health_probe: Option<String>,

    /// TensorFlow Serving's own flags.
    #[command(flatten)]
    pub tfs: tfs::TfsFlags,

    /// Triton Inference Server's own flags.
    #[command(flatten)]
    pub triton: triton::TritonFlags,
}

/// `--log_level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// State changes and start-up (default).
    Info,
    /// Problems only.
    #[value(alias = "WARN")]
    Warning,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The `tracing` level filter.
    pub fn filter(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        match self {
            LogLevel::Trace => LevelFilter::TRACE,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warning => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// Names under which the binary takes another server's defaults.
const TFS_PROGRAM: &str = "tensorflow_model_server";
const TRITON_PROGRAM: &str = "tritonserver";

/// Parses `args` (program name first) as [`Cli::parse_from`] does, with
/// TensorFlow Serving's defaults when the program is called
/// `tensorflow_model_server` (gRPC port 8500, model name "default"); exits
/// with clap's message on bad flags, and with a reason on TensorFlow
/// Serving flags that have no meaning here.
pub fn parse<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(message) = foreign::refusal(&text[1.min(text.len())..]) {
        eprintln!("inferd: error: {message}");
        std::process::exit(2);
    }
    let program = text
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let tfs = program == TFS_PROGRAM;
    let triton = program == TRITON_PROGRAM
        || text.iter().any(|a| {
            ["--model-repository", "--model-store"]
                .iter()
                .any(|flag| a == flag || a.starts_with(&format!("{flag}=")))
        });
    let mut command = Cli::command();
    if tfs {
        command = command.mut_arg("port", |arg| arg.default_value("8500"));
    }
    if triton {
        command = command
            .mut_arg("port", |arg| arg.default_value("8001"))
            .mut_arg("rest_port", |arg| arg.default_value("8000"));
    }
    if program == TRITON_PROGRAM {
        command = command.mut_arg("metrics_port", |arg| arg.default_value("8002"));
    }
    let matches = command.get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if tfs && cli.model_name.is_none() && cli.model_path.is_some() {
        cli.model_name = Some("default".into());
    }
    if cli.triton.log_verbose.is_some_and(|v| v > 0) {
        cli.log_level = LogLevel::Debug;
    }
    cli
}
