//! Turns the command line into a checked [`ServerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use inferd_backend::RuntimeSearch;
use inferd_repository::{
    BatchSize, ChannelValues, ColorFormat, ConfigError, InputSetting, LayoutSetting, ModelConfig,
    ServerModelsConfig, ShapeSetting, VersionPolicy,
};

use crate::cli::Cli;
use crate::cli::triton::ControlMode;
use crate::security::CorsSettings;
use crate::tls::TlsSettings;
use crate::transport::access::AccessRules;
use crate::transport::rest_serve::ConnectionLimits;

/// Why the command line was refused; one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Flags that contradict each other or have bad values.
    #[error("{0}")]
    Flags(String),
    /// config.json (or the single-model settings) refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Where the models come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// `--config_path`.
    ConfigFile(PathBuf),
    /// `--model_name` + `--model_path`.
    Single(ServerModelsConfig),
    /// Triton's `--model-repository` folders.
    Triton(crate::triton::TritonRepositories),
}

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// gRPC listen address; `None` when off.
    pub grpc_addr: Option<SocketAddr>,
    /// REST listen address; `None` when off.
    pub rest_addr: Option<SocketAddr>,
    /// Largest request body or gRPC message, in bytes.
    pub max_request_bytes: usize,
    /// Grace period for in-flight requests at shutdown, in seconds.
    pub exit_timeout_seconds: u64,
    /// Interval between file-system polls; `None` when watching is off.
    pub poll_interval: Option<std::time::Duration>,
    /// Where to look for native runtimes.
    pub runtimes: RuntimeSearch,
    /// Compiled-model cache folder.
    pub cache_dir: Option<PathBuf>,
    /// `--model_cache_dir`: where object-store versions are downloaded.
    pub model_cache_dir: Option<PathBuf>,
    /// `--cpu_extension`: custom OpenVINO operations to add before loading.
    pub cpu_extension: Option<PathBuf>,
    /// Version loads that may run at once (0: the default).
    pub num_load_threads: usize,
    /// TensorFlow Serving's batching flags.
    pub batching: crate::batching::BatchingFlags,
    /// The models to serve.
    pub models: ModelSource,
    /// Prometheus metrics from the command line.
    pub metrics: MetricsSetting,
    /// API and admin keys, and which endpoints need them.
    pub access: AccessRules,
    /// CORS on the REST port.
    pub cors: CorsSettings,
    /// TLS of each port (plain text where `None`).
    pub tls: TlsSettings,
    /// REST connection cap, header read timeout, HTTP/2 streams.
    pub rest_limits: ConnectionLimits,
    /// Longest a REST request's body may pause between parts.
    pub rest_body_timeout: std::time::Duration,
    /// Longest a REST request may take (`None`: no limit).
    pub rest_request_timeout: Option<std::time::Duration>,
    /// How far a compressed REST body may expand, times its length.
    pub max_decompression_ratio: u64,
    /// TensorFlow Serving's own flags, checked.
    pub tfs: crate::tfs::TfsSettings,
    /// Triton's explicit control mode: the models loaded at start (`None`:
    /// every configured model).
    pub explicit_loads: Option<Vec<String>>,
    /// Triton's `--metrics-port`: a listener of its own for `GET /metrics`.
    pub metrics_addr: Option<SocketAddr>,
    /// Triton's `nv_*` metric names too (a Triton deployment).
    pub triton_metrics: bool,
}

/// Whether to serve Prometheus metrics, and which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSetting {
    /// Serve `/metrics`.
    pub enable: bool,
    /// Metric names to report; `None` for the default set.
    pub list: Option<Vec<String>>,
}

impl MetricsSetting {
    /// The setting in effect: the command line's when it enables metrics,
    /// else config.json's `monitoring` section.
    pub fn effective(&self, models: &ServerModelsConfig) -> MetricsSetting {
        if self.enable {
            return self.clone();
        }
        match &models.monitoring {
            Some(m) if m.metrics.enable => MetricsSetting {
                enable: true,
                list: (!m.metrics.metrics_list.is_empty()).then(|| m.metrics.metrics_list.clone()),
            },
            _ => MetricsSetting::default(),
        }
    }
}

impl ModelSource {
    /// What polls read again (a file or the Triton repositories), for logs;
    /// `None` for a model given on the command line.
    pub fn origin(&self) -> Option<String> {
        match self {
            ModelSource::ConfigFile(path) => Some(path.display().to_string()),
            ModelSource::Single(_) => None,
            ModelSource::Triton(repositories) => Some(
                repositories
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// Reads (for a file) and checks the models configuration, including
    /// that version labels point at versions that are on disk.
    pub fn load(&self) -> Result<ServerModelsConfig, ConfigError> {
        let config = match self {
            ModelSource::ConfigFile(path) => crate::tfs::load_models_file(path)?,
            ModelSource::Single(config) => config.clone(),
            ModelSource::Triton(repositories) => repositories.load()?,
        };
        config.check_labels_on_disk()?;
        Ok(config)
    }

    /// Reads the models configuration again after `previous`: as
    /// [`ModelSource::load`], except that a Triton repository refuses
    /// models one by one (each refused model keeps its entry of
    /// `previous`); returns those refusals too.
    pub fn reload(
        &self,
        previous: Option<&ServerModelsConfig>,
    ) -> Result<(ServerModelsConfig, Vec<ConfigError>), ConfigError> {
        match (self, previous) {
            (ModelSource::Triton(repositories), Some(previous)) => {
                let (config, refusals) = repositories.reload(previous)?;
                config.check_labels_on_disk()?;
                Ok((config, refusals))
            }
            _ => Ok((self.load()?, Vec::new())),
        }
    }
}

const SINGLE_MODEL_FLAGS: &str = "--model_version_policy, --batch_size, --shape, --layout, --mean, --scale, --color_format, --nireq, --target_device, --plugin_config";

impl ServerConfig {
    /// Checks the flags against each other and builds the configuration.
    pub fn from_cli(cli: &Cli) -> Result<Self, StartupError> {
        let flags = |m: &str| Err(StartupError::Flags(m.to_string()));
        let grpc_addr = (cli.port != 0 && cli.triton.allow_grpc)
            .then(|| SocketAddr::new(cli.grpc_bind_address, cli.port));
        let rest_addr = (cli.rest_port != 0 && cli.triton.allow_http)
            .then(|| SocketAddr::new(cli.rest_bind_address, cli.rest_port));
        let triton = !cli.triton.model_repository.is_empty();
        if grpc_addr.is_none() && rest_addr.is_none() {
            return flags("--port and --rest_port are both 0: there would be nothing to serve on");
        }
        if let (Some(g), Some(r)) = (grpc_addr, rest_addr)
            && g.port() == r.port()
            && (g.ip() == r.ip() || g.ip().is_unspecified() || r.ip().is_unspecified())
        {
            return Err(StartupError::Flags(format!(
                "--port and --rest_port are both {}: use two different ports",
                g.port()
            )));
        }
        if cli.metrics_list.is_some() && !cli.metrics_enable {
            return flags("--metrics_list needs --metrics_enable");
        }
        let metrics = MetricsSetting {
            // Triton serves its metrics unless told not to.
            enable: cli.metrics_enable
                || ((triton || cli.triton.metrics_port.is_some_and(|p| p != 0))
                    && cli.triton.allow_metrics != Some(false)),
            list: cli.metrics_list.as_ref().map(|l| {
                l.split(',')
                    .map(|name| name.trim().to_string())
                    .filter(|name| !name.is_empty())
                    .collect()
            }),
        };
        if cli.rest_max_connections == 0
            || cli.rest_read_timeout_seconds == 0
            || cli.http2_max_streams == 0
        {
            return flags(
                "--rest_max_connections, --rest_read_timeout_seconds and --http2_max_streams must be positive",
            );
        }
        if cli.max_request_bytes == 0 {
            return flags("--max_request_bytes must be positive");
        }
        let single = cli.model_name.is_some() || cli.model_path.is_some();
        if triton && (single || cli.config_path.is_some()) {
            return flags(
                "--model-repository cannot be used together with --config_path or --model_name/--model_path",
            );
        }
        let models = match (&cli.config_path, single) {
            _ if triton => ModelSource::Triton(crate::triton::TritonRepositories {
                paths: cli.triton.model_repository.clone(),
                strict: cli.triton.strict_model_config || cli.triton.disable_auto_complete_config,
                exit_on_error: cli.triton.exit_on_error,
            }),
            (Some(_), true) => {
                return flags(
                    "--config_path cannot be used together with --model_name/--model_path",
                );
            }
            (Some(path), false) => {
                if has_single_model_settings(cli) {
                    return Err(StartupError::Flags(format!(
                        "{SINGLE_MODEL_FLAGS} apply to single-model mode only; set them in config.json instead"
                    )));
                }
                ModelSource::ConfigFile(path.clone())
            }
            (None, true) => ModelSource::Single(ServerModelsConfig::single(single_model(cli)?)?),
            (None, false) => {
                return flags(
                    "no model to serve: give --model_name with --model_path, or --config_path",
                );
            }
        };
        Ok(ServerConfig {
            grpc_addr,
            rest_addr,
            max_request_bytes: cli.max_request_bytes,
            exit_timeout_seconds: cli.exit_timeout_seconds,
            poll_interval: poll_interval(cli),
            runtimes: RuntimeSearch {
                openvino_lib: cli.openvino_lib.clone(),
                onnxruntime_lib: cli.onnxruntime_lib.clone(),
                runtimes_dirs: match &cli.runtimes_dir {
                    Some(dir) => vec![dir.clone()],
                    None => RuntimeSearch::default_dirs(),
                },
            },
            cache_dir: cli.cache_dir.clone(),
            cpu_extension: cli.cpu_extension.clone(),
            model_cache_dir: cli.model_cache_dir.clone(),
            num_load_threads: cli.num_load_threads,
            batching: crate::batching::BatchingFlags::from_cli(cli).map_err(StartupError::Flags)?,
            models,
            metrics,
            access: crate::security::access_rules(cli)?,
            cors: crate::security::cors_settings(cli)?,
            tls: TlsSettings::from_cli(cli).map_err(StartupError::Flags)?,
            rest_limits: ConnectionLimits {
                max_connections: cli.rest_max_connections,
                header_read_timeout: std::time::Duration::from_secs(cli.rest_read_timeout_seconds),
                http2_max_streams: cli.http2_max_streams,
                max_header_bytes: cli.max_header_bytes,
            },
            rest_body_timeout: std::time::Duration::from_secs(cli.rest_read_timeout_seconds),
            max_decompression_ratio: cli.max_decompression_ratio.max(1),
            rest_request_timeout: (cli.rest_api_timeout_in_ms > 0)
                .then(|| std::time::Duration::from_millis(cli.rest_api_timeout_in_ms)),
            tfs: crate::tfs::TfsSettings::from_flags(&cli.tfs).map_err(StartupError::Flags)?,
            explicit_loads: (triton
                && cli.triton.model_control_mode == Some(ControlMode::Explicit))
            .then(|| cli.triton.load_model.clone()),
            metrics_addr: cli
                .triton
                .metrics_port
                .filter(|&port| port != 0 && cli.triton.allow_metrics != Some(false))
                .map(|port| SocketAddr::new(cli.triton.metrics_address, port)),
            triton_metrics: triton,
        })
    }
}

/// How often the models are looked at again: OVMS's and TF Serving's
/// --file_system_poll_wait_seconds, or Triton's poll control mode.
fn poll_interval(cli: &Cli) -> Option<std::time::Duration> {
    let seconds = if cli.triton.model_repository.is_empty() {
        cli.file_system_poll_wait_seconds
    } else {
        match cli.triton.model_control_mode {
            Some(ControlMode::Poll) => cli.triton.repository_poll_secs,
            _ => 0,
        }
    };
    (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
}

fn has_single_model_settings(cli: &Cli) -> bool {
    cli.model_version_policy.is_some()
        || cli.batch_size.is_some()
        || cli.shape.is_some()
        || cli.layout.is_some()
        || cli.mean.is_some()
        || cli.scale.is_some()
        || cli.color_format.is_some()
        || cli.nireq.is_some()
        || cli.target_device.is_some()
        || cli.plugin_config.is_some()
        || cli.backend.is_some()
}

/// A pre-processing flag: one value, or a JSON object of values per input.
fn input_setting<T: serde::de::DeserializeOwned>(
    flag: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<InputSetting<T>, StartupError> {
    let bad = |e: String| StartupError::Flags(format!("{flag}: {e}"));
    if text.trim_start().starts_with('{') {
        let map = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        Ok(InputSetting::PerInput(map))
    } else {
        parse(text).map(InputSetting::All).map_err(bad)
    }
}

fn single_model(cli: &Cli) -> Result<ModelConfig, StartupError> {
    let bad = |flag: &str, e: String| StartupError::Flags(format!("{flag}: {e}"));
    let (Some(name), Some(path)) = (&cli.model_name, &cli.model_path) else {
        return Err(StartupError::Flags(
            "--model_name and --model_path must be given together".into(),
        ));
    };
    let mut model = ModelConfig::new(name.clone(), path.clone());
    if let Some(text) = &cli.model_version_policy {
        let policy: VersionPolicy =
            serde_json::from_str(text).map_err(|e| bad("--model_version_policy", e.to_string()))?;
        model.model_version_policy = Some(policy);
    }
    if let Some(text) = &cli.batch_size {
        model.batch_size = Some(BatchSize::parse(text).map_err(|e| bad("--batch_size", e))?);
    }
    if let Some(text) = &cli.shape {
        model.shape = Some(ShapeSetting::parse(text).map_err(|e| bad("--shape", e))?);
    }
    if let Some(text) = &cli.layout {
        let layout = if text.trim_start().starts_with('{') {
            LayoutSetting::PerInput(
                serde_json::from_str(text).map_err(|e| bad("--layout", e.to_string()))?,
            )
        } else {
            LayoutSetting::All(text.clone())
        };
        model.layout = Some(layout);
    }
    if let Some(text) = &cli.mean {
        model.mean = Some(input_setting("--mean", text, ChannelValues::parse)?);
    }
    if let Some(text) = &cli.scale {
        model.scale = Some(input_setting("--scale", text, ChannelValues::parse)?);
    }
    if let Some(text) = &cli.color_format {
        model.color_format = Some(input_setting("--color_format", text, ColorFormat::parse)?);
    }
    model.nireq = cli.nireq;
    model.backend = cli.backend.clone();
    model.target_device = cli.target_device.clone();
    if let Some(text) = &cli.plugin_config {
        let map = serde_json::from_str(text)
            .map_err(|e| bad("--plugin_config", format!("expected a JSON object: {e}")))?;
        model.plugin_config = Some(map);
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<ServerConfig, String> {
        let cli = Cli::try_parse_from(std::iter::once("inferd").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        ServerConfig::from_cli(&cli).map_err(|e| e.to_string())
    }

    #[test]
    fn boolean_flags_take_tensorflow_servings_true_and_false() {
        let single = [
            "--model_name",
            "a",
            "--model_path",
            "/m",
            "--rest_port",
            "8000",
        ];
        let on = parse(&[&single[..], &["--enable_batching=true", "--metrics_enable"]].concat())
            .unwrap();
        assert!(on.batching.default.is_some());
        assert!(on.metrics.enable);
        let off = parse(
            &[
                &single[..],
                &["--enable_batching=false", "--metrics_enable=0"],
            ]
            .concat(),
        )
        .unwrap();
        assert!(off.batching.default.is_none());
        assert!(!off.metrics.enable);
        // A bare flag does not swallow the next argument.
        let next = parse(&[&["--metrics_enable"], &single[..]].concat()).unwrap();
        assert!(next.metrics.enable);
        assert!(parse(&[&single[..], &["--enable_batching=maybe"]].concat()).is_err());
    }

    #[test]
    fn single_model_mode() {
        let c = parse(&[
            "--model_name",
            "add",
            "--model_path",
            "/m/add",
            "--port",
            "9000",
            "--rest_port",
            "8000",
        ])
        .unwrap();
        assert_eq!(c.grpc_addr.unwrap().port(), 9000);
        assert_eq!(c.rest_addr.unwrap().port(), 8000);
        let ModelSource::Single(models) = c.models else {
            panic!("single mode expected")
        };
        assert_eq!(models.models().next().unwrap().name, "add");
    }

    #[test]
    fn zero_port_turns_a_listener_off() {
        let c = parse(&[
            "--config_path",
            "c.json",
            "--port",
            "0",
            "--rest_port",
            "8000",
        ])
        .unwrap();
        assert!(c.grpc_addr.is_none());
        assert!(
            parse(&["--config_path", "c.json", "--port", "0"])
                .unwrap_err()
                .contains("nothing to serve")
        );
    }

    #[test]
    fn conflicts_are_refused() {
        let both = parse(&[
            "--config_path",
            "c.json",
            "--model_name",
            "a",
            "--model_path",
            "/a",
        ])
        .unwrap_err();
        assert!(both.contains("cannot be used together"), "{both}");
        let clash = parse(&[
            "--config_path",
            "c.json",
            "--port",
            "8000",
            "--rest_port",
            "8000",
        ])
        .unwrap_err();
        assert!(clash.contains("both 8000"), "{clash}");
        let half = parse(&["--model_name", "a"]).unwrap_err();
        assert!(half.contains("together"), "{half}");
        let none = parse(&[]).unwrap_err();
        assert!(none.contains("no model to serve"), "{none}");
        let stray = parse(&["--config_path", "c.json", "--nireq", "2"]).unwrap_err();
        assert!(stray.contains("single-model mode only"), "{stray}");
    }

    #[test]
    fn bad_values_are_named() {
        let base = ["--model_name", "a", "--model_path", "/a"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat()).unwrap_err();
        assert!(
            with(&["--model_version_policy", "{\"newest\": {}}"])
                .contains("--model_version_policy")
        );
        assert!(with(&["--shape", "(1,x)"]).contains("--shape"));
        assert!(with(&["--plugin_config", "[1]"]).contains("--plugin_config"));
        assert!(with(&["--batch_size", "0"]).contains("--batch_size"));
        assert!(with(&["--port", "70000"]).contains("70000"));
    }

    #[test]
    fn ovms_and_tfs_aliases() {
        let c = parse(&["--model_config_file", "c.json", "--rest_api_port", "8500"]).unwrap();
        assert_eq!(c.models, ModelSource::ConfigFile("c.json".into()));
        assert_eq!(c.rest_addr.unwrap().port(), 8500);
    }
}
