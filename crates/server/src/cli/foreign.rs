//! Flags of TensorFlow Serving and Triton that have no meaning here: refused
//! by name, with the reason, rather than with clap's bare "unexpected
//! argument".

/// Triton flags inferd does not take, and why.
const TRITON: &[(&str, &str)] = &[
    (
        "backend-directory",
        "the engines are built in or loaded from --runtimes_dir",
    ),
    (
        "backend-config",
        "engine settings go in config.pbtxt parameters",
    ),
    ("repoagent-directory", "repository agents are not supported"),
    ("cuda-memory-pool-byte-size", "inferd serves on the CPU"),
    ("pinned-memory-pool-byte-size", "inferd serves on the CPU"),
    (
        "strict-readiness",
        "the server is ready once the models are applied; each model has /v2/models/{m}/ready",
    ),
    ("response-cache-byte-size", "there is no response cache"),
    ("cache-config", "there is no response cache"),
    ("rate-limit", "use instance_group counts"),
    ("trace-config", "request tracing is not supported"),
    ("trace-file", "request tracing is not supported"),
    ("grpc-use-ssl", "use --grpc_tls_cert and --grpc_tls_key"),
];

/// TensorFlow Serving flags inferd does not take, and why.
const TENSORFLOW_SERVING: &[(&str, &str)] = &[
    (
        "per_process_gpu_memory_fraction",
        "inferd serves on the CPU",
    ),
    (
        "platform_config_file",
        "it holds TensorFlow session settings; use config.json's plugin_config",
    ),
    (
        "tensorflow_session_config_file",
        "it holds TensorFlow session settings; use config.json's plugin_config",
    ),
    (
        "use_alts_credentials",
        "ALTS is Google-internal; use --ssl_config_file or --grpc_tls_cert",
    ),
    (
        "prefer_tflite_model",
        "TensorFlow Lite models are served by OpenVINO from model.tflite",
    ),
    (
        "use_tflite_model",
        "TensorFlow Lite models are served by OpenVINO from model.tflite",
    ),
    (
        "num_tflite_pools",
        "TensorFlow Lite models are served by OpenVINO; use nireq",
    ),
    (
        "num_tflite_interpreters",
        "TensorFlow Lite models are served by OpenVINO; use nireq",
    ),
    (
        "num_tflite_interpreters_per_pool",
        "TensorFlow Lite models are served by OpenVINO; use nireq",
    ),
    (
        "xla_cpu_compilation_enabled",
        "models are compiled by OpenVINO, ONNX Runtime or tract, not XLA",
    ),
    (
        "enable_profiler",
        "there is no TensorFlow profiler to enable",
    ),
    (
        "thread_pool_factory_config_file",
        "it configures TensorFlow's thread pools",
    ),
    (
        "mixed_precision",
        "use plugin_config INFERENCE_PRECISION_HINT (OpenVINO)",
    ),
    ("skip_initialize_tpu", "inferd serves on the CPU"),
    (
        "remove_unused_fields_from_bundle_metagraph",
        "no TensorFlow metagraph is kept in memory",
    ),
    (
        "grpc_channel_arguments",
        "use --max_request_bytes and --http2_max_streams",
    ),
    (
        "max_num_load_retries",
        "a failed load is tried again when the model's files change",
    ),
    (
        "load_retry_interval_micros",
        "a failed load is tried again when the model's files change",
    ),
    (
        "allow_version_labels_for_unavailable_models",
        "a label must name a version that is on disk",
    ),
    (
        "enable_signature_method_name_check",
        "signature method names are not checked",
    ),
];

/// The first argument naming an unsupported TensorFlow Serving or Triton
/// flag, as a one-line refusal.
pub fn refusal<S: AsRef<str>>(args: &[S]) -> Option<String> {
    args.iter().find_map(|arg| {
        let name = arg.as_ref().strip_prefix("--")?;
        let name = name.split_once('=').map_or(name, |(n, _)| n);
        [
            ("TensorFlow Serving", TENSORFLOW_SERVING),
            ("Triton", TRITON),
        ]
        .iter()
        .find_map(|(server, table)| {
            let (flag, why) = table.iter().find(|(flag, _)| *flag == name)?;
            Some(format!(
                "--{flag} (a {server} flag) is not supported: {why}"
            ))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_flag_and_the_reason() {
        let text = refusal(&["--port=1", "--per_process_gpu_memory_fraction=0.5"]).unwrap();
        assert!(text.starts_with("--per_process_gpu_memory_fraction (a TensorFlow Serving flag)"));
        assert!(text.contains("CPU"), "{text}");
        assert_eq!(refusal(&["--port", "9000", "--model_name=a"]), None);
        let text = refusal(&["--model-repository=/m", "--backend-directory", "/b"]).unwrap();
        assert!(
            text.starts_with("--backend-directory (a Triton flag) is not supported: the engines")
        );
    }
}
