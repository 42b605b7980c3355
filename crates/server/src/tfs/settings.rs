//! TensorFlow Serving's own flags (`cli::tfs::TfsFlags`), checked and turned
//! into what the server uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use inferd_proto::text_format;

use crate::cli::tfs::TfsFlags;
use crate::proto::tensorflow::serving::MonitoringConfig;

/// TF Serving's default Prometheus path.
pub const DEFAULT_PROMETHEUS_PATH: &str = "/monitoring/prometheus/metrics";

/// When the model config file is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigFilePoll {
    /// At every file-system poll (OVMS; no --model_config_file_poll_wait_seconds).
    #[default]
    EveryPoll,
    /// Never after start-up (`--model_config_file_poll_wait_seconds=0`).
    Never,
    /// At most this often.
    Every(Duration),
}

/// The checked TensorFlow Serving settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TfsSettings {
    /// Compute threads per inference for every engine (INFERENCE_NUM_THREADS).
    pub intra_op_threads: Option<u32>,
    /// When --model_config_file is read again.
    pub config_file_poll: ConfigFilePoll,
    /// A Unix domain socket gRPC is served on too.
    pub grpc_socket_path: Option<PathBuf>,
    /// The path TF Serving-named Prometheus metrics are served on.
    pub prometheus_path: Option<String>,
    /// Run each version's warm-up requests before it serves.
    pub warmup: bool,
    /// Runs of each warm-up request.
    pub warmup_iterations: u32,
}

impl TfsSettings {
    /// Checks the flags (and reads --monitoring_config_file).
    pub fn from_flags(flags: &TfsFlags) -> Result<Self, String> {
        if flags
            .saved_model_tags
            .split(',')
            .map(str::trim)
            .ne(["serve"])
        {
            return Err(format!(
                "--saved_model_tags={}: only the \"serve\" tag set is served",
                flags.saved_model_tags
            ));
        }
        let config_file_poll = match flags.model_config_file_poll_wait_seconds {
            None => ConfigFilePoll::EveryPoll,
            Some(0) => ConfigFilePoll::Never,
            Some(seconds) => ConfigFilePoll::Every(Duration::from_secs(seconds)),
        };
        let prometheus_path = flags
            .monitoring_config_file
            .as_deref()
            .map(prometheus_path)
            .transpose()?
            .flatten();
        Ok(TfsSettings {
            intra_op_threads: flags.intra_op_threads(),
            config_file_poll,
            grpc_socket_path: flags.grpc_socket_path.clone(),
            prometheus_path,
            warmup: flags.enable_model_warmup,
            warmup_iterations: flags.num_request_iterations_for_warmup.max(1),
        })
    }
}

/// The Prometheus path a MonitoringConfig file enables, `None` when it
/// does not enable Prometheus.
fn prometheus_path(file: &Path) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read --monitoring_config_file {}: {e}",
            file.display()
        )
    })?;
    let config: MonitoringConfig = text_format::parse("tensorflow.serving.MonitoringConfig", &text)
        .map_err(|e| format!("--monitoring_config_file {}: {e}", file.display()))?;
    let Some(prometheus) = config.prometheus_config.filter(|p| p.enable) else {
        return Ok(None);
    };
    let path = if prometheus.path.is_empty() {
        DEFAULT_PROMETHEUS_PATH.to_string()
    } else {
        prometheus.path
    };
    if !path.starts_with('/') || path.starts_with("/v1/") || path.starts_with("/v2/") {
        return Err(format!(
            "--monitoring_config_file {}: prometheus_config path {path:?} must start with / and not be an API path",
            file.display()
        ));
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<TfsSettings, String> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("inferd").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        TfsSettings::from_flags(&cli.tfs)
    }

    #[test]
    fn threads_and_polls_follow_the_flags() {
        let s = settings(&["--tensorflow_session_parallelism=3"]).unwrap();
        assert_eq!(s.intra_op_threads, Some(3));
        let s = settings(&[
            "--tensorflow_intra_op_parallelism=2",
            "--tensorflow_session_parallelism=3",
        ])
        .unwrap();
        assert_eq!(s.intra_op_threads, Some(2));
        assert_eq!(
            settings(&[]).unwrap().config_file_poll,
            ConfigFilePoll::EveryPoll
        );
        let s = settings(&["--model_config_file_poll_wait_seconds=0"]).unwrap();
        assert_eq!(s.config_file_poll, ConfigFilePoll::Never);
        let s = settings(&["--model_config_file_poll_wait_seconds=7"]).unwrap();
        assert_eq!(
            s.config_file_poll,
            ConfigFilePoll::Every(Duration::from_secs(7))
        );
    }

    #[test]
    fn only_the_serve_tag_set_is_accepted() {
        assert!(settings(&["--saved_model_tags=serve"]).is_ok());
        let e = settings(&["--saved_model_tags=serve,gpu"]).unwrap_err();
        assert!(e.contains("only the \"serve\" tag set"), "{e}");
    }

    #[test]
    fn monitoring_config_enables_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("monitoring.config");
        let flag = format!("--monitoring_config_file={}", file.display());
        std::fs::write(&file, "prometheus_config { enable: true }").unwrap();
        assert_eq!(
            settings(&[&flag]).unwrap().prometheus_path.as_deref(),
            Some(DEFAULT_PROMETHEUS_PATH)
        );
        std::fs::write(
            &file,
            "prometheus_config {\n  enable: true,\n  path: \"/metrics/tf\"\n}\n",
        )
        .unwrap();
        assert_eq!(
            settings(&[&flag]).unwrap().prometheus_path.as_deref(),
            Some("/metrics/tf")
        );
        std::fs::write(&file, "prometheus_config { enable: false }").unwrap();
        assert_eq!(settings(&[&flag]).unwrap().prometheus_path, None);
        std::fs::write(&file, "prometheus_config { enabled: true }").unwrap();
        assert!(settings(&[&flag]).unwrap_err().contains("enabled"));
    }
}
