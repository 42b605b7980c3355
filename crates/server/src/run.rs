//! Start-up, serving and graceful shutdown.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use inferd_backend::Backends;
use inferd_core::telemetry::{Metrics, Telemetry};
use inferd_core::{Core, Manager, ManagerOptions};
use inferd_repository::ServerModelsConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::LogLevel;
use crate::config::ServerConfig;
use crate::reload::Reloader;
use crate::tls::{Alpn, ServerTls, TlsSource};
use crate::transport::RestGuard;
use crate::transport::access::AccessControl;
use crate::transport::grpc::{GrpcListener, GrpcSettings};
use crate::transport::rest::RestTimeouts;

/// Sets up `tracing` at `level`, to `path` when given, else to standard output.
pub fn init_logging(level: LogLevel, path: Option<&Path>) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level.filter())
        .with_target(false);
    match path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open --log_path {}", path.display()))?;
            builder.with_ansi(false).with_writer(Arc::new(file)).init();
        }
        None => {
            use std::io::IsTerminal;
            builder.with_ansi(std::io::stdout().is_terminal()).init();
        }
    }
    Ok(())
}

/// SIGTERM and SIGINT, caught from the first moment of [`run`]: as a
/// container's PID 1 the kernel drops signals that have no handler, so they
/// must be registered before the (possibly long) first model loads.
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
                interrupt: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    /// Resolves when SIGTERM or SIGINT arrives.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}

/// Listens on TF Serving's --grpc_socket_path; a socket file left by an
/// earlier run is replaced, any other file is not.
#[cfg(unix)]
fn bind_unix(path: &Path) -> anyhow::Result<(tokio::net::UnixListener, std::path::PathBuf)> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
    let listener = tokio::net::UnixListener::bind(path).with_context(|| {
        format!(
            "cannot listen for gRPC on the Unix domain socket {}",
            path.display()
        )
    })?;
    Ok((listener, path.to_path_buf()))
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// A listener's TLS, read at start-up (a file that cannot be used stops the
/// start); `None` for plain text or when the listener is off.
fn server_tls(
    name: &'static str,
    source: &Option<TlsSource>,
    alpn: Alpn,
    listening: bool,
) -> anyhow::Result<Option<Arc<ServerTls>>> {
    match source {
        Some(source) if listening => ServerTls::new(name, source.clone(), alpn)
            .map(Some)
            .with_context(|| format!("cannot start: {name} TLS")),
        _ => Ok(None),
    }
}

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Statistics always; Prometheus metrics as the command line or config.json
/// says. Metrics need the REST port, and only known names are accepted.
fn telemetry(config: &ServerConfig, models: &ServerModelsConfig) -> anyhow::Result<Arc<Telemetry>> {
    let setting = config.metrics.effective(models);
    let tensorflow_names = config.tfs.prometheus_path.is_some();
    if !setting.enable && !tensorflow_names {
        return Ok(Arc::new(Telemetry::disabled()));
    }
    if config.rest_addr.is_none() && config.metrics_addr.is_none() {
        anyhow::bail!(
            "cannot start: metrics are served on the REST port; set --rest_port (--rest_api_port)"
        );
    }
    let mut metrics = Metrics::new(setting.list.as_deref()).context("cannot start")?;
    if tensorflow_names {
        metrics = metrics.with_tensorflow_names();
    }
    if config.triton_metrics {
        metrics = metrics.with_triton_names();
    }
    Ok(Arc::new(Telemetry::with_metrics(metrics)))
}

/// Serves until SIGTERM/SIGINT, then stops accepting, lets in-flight requests
/// finish, and returns.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::register()?;
    if let Some(dir) = &config.model_cache_dir {
        inferd_repository::set_cache_root(dir.clone());
    }
    let models = config.models.load().context("cannot start")?;
    let telemetry = telemetry(&config, &models)?;
    let grpc_listener = match config.grpc_addr {
        Some(addr) => Some(bind(addr, "gRPC").await?),
        None => None,
    };
    #[cfg(unix)]
    let grpc_socket = match &config.tfs.grpc_socket_path {
        Some(path) => Some(bind_unix(path)?),
        None => None,
    };
    let rest_listener = match config.rest_addr {
        Some(addr) => Some(bind(addr, "REST").await?),
        None => None,
    };
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(bind(addr, "metrics").await?),
        None => None,
    };

    let backends = Backends::discover(&config.runtimes);
    for backend in backends.all() {
        if backend.is_available() {
            tracing::info!(
                backend = backend.name(),
                "backend available: {}",
                backend.describe()
            );
        } else {
            tracing::warn!(
                backend = backend.name(),
                "backend not available: {}",
                backend.describe()
            );
        }
    }
    if let Some(path) = &config.cpu_extension {
        backends
            .add_cpu_extension(path)
            .map_err(|e| anyhow::anyhow!("cannot start: {e}"))?;
        tracing::info!(path = %path.display(), "OpenVINO extension added");
    }
    let options = ManagerOptions {
        cache_dir: config.cache_dir.clone(),
        num_load_threads: config.num_load_threads,
        batching: config.batching.default.clone(),
        batching_file: config.batching.file_parser(),
        default_plugin_config: config
            .tfs
            .intra_op_threads
            .map(|n| ("INFERENCE_NUM_THREADS".to_string(), n.to_string()))
            .into_iter()
            .collect(),
        warmup: config
            .tfs
            .warmup
            .then_some(crate::tfs::warmup::read_warmup as inferd_core::WarmupReader),
        warmup_iterations: config.tfs.warmup_iterations,
    };
    let manager =
        Arc::new(Manager::with_options(backends, options).with_telemetry(telemetry.clone()));
    if let Some(metrics) = telemetry.metrics() {
        tracing::info!(metrics = ?metrics.enabled(), "Prometheus metrics on GET /metrics");
    }
    let core = Arc::new(Core::new(manager.clone()));
    if let Some(loads) = &config.explicit_loads
        && let Some(missing) = loads
            .iter()
            .find(|l| *l != "*" && !models.models().any(|m| &m.name == *l))
    {
        anyhow::bail!(
            "cannot start: --load-model {missing}: no such model in the model repositories"
        );
    }
    let unloaded: Vec<String> = match &config.explicit_loads {
        Some(loads) if !loads.iter().any(|l| l == "*") => models
            .models()
            .map(|m| m.name.clone())
            .filter(|name| !loads.contains(name))
            .collect(),
        _ => Vec::new(),
    };
    let reloader = Arc::new(
        Reloader::new(manager.clone(), config.models.clone(), models)
            .with_config_file_poll(config.tfs.config_file_poll)
            .with_unloaded(unloaded),
    );
    let access = AccessControl::new(config.access.clone(), telemetry.clone());
    let grpc_tls = server_tls(
        "gRPC",
        &config.tls.grpc,
        Alpn::Grpc,
        grpc_listener.is_some(),
    )?;
    let rest_tls = server_tls(
        "REST",
        &config.tls.rest,
        Alpn::Rest,
        rest_listener.is_some(),
    )?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut servers = tokio::task::JoinSet::new();
    let (health, health_service) = tonic_health::server::health_reporter();
    crate::transport::grpc::set_serving(&health, false).await;
    let mut grpc_listeners = Vec::new();
    if let Some(listener) = grpc_listener {
        tracing::info!(address = %listener.local_addr()?, tls = grpc_tls.is_some(), "gRPC server listening");
        grpc_listeners.push(GrpcListener::Tcp(listener));
    }
    #[cfg(unix)]
    if let Some((listener, path)) = grpc_socket {
        tracing::info!(socket = %path.display(), "gRPC server listening on a Unix domain socket");
        grpc_listeners.push(GrpcListener::Unix(listener));
    }
    for listener in grpc_listeners {
        let server = crate::transport::grpc::serve(
            core.clone(),
            reloader.clone(),
            health_service.clone(),
            GrpcSettings {
                max_message_bytes: config.max_request_bytes,
                max_streams: config.rest_limits.http2_max_streams,
                max_header_bytes: u32::try_from(config.rest_limits.max_header_bytes)
                    .unwrap_or(u32::MAX),
                access: access.clone(),
                tls: grpc_tls.clone(),
                handshake_timeout: config.rest_limits.header_read_timeout,
            },
            listener,
            stopped(stop_rx.clone()),
        );
        servers.spawn(async move { server.await.context("gRPC server failed") });
    }
    if let Some(listener) = rest_listener {
        tracing::info!(address = %listener.local_addr()?, tls = rest_tls.is_some(), "REST server listening");
        let guard = RestGuard {
            access: access.clone(),
            max_request_bytes: config.max_request_bytes,
            allowed_origins: config.cors.origins.clone(),
            max_decompression_ratio: config.max_decompression_ratio,
            tfs_metrics_path: config.tfs.prometheus_path.clone(),
        };
        let timeouts = RestTimeouts {
            body: config.rest_body_timeout,
            request: config.rest_request_timeout,
        };
        let app = crate::transport::rest::router(
            core.clone(),
            reloader.clone(),
            guard,
            timeouts,
            config.cors.layer(),
        );
        let stop = stopped(stop_rx.clone());
        let limits = config.rest_limits;
        let tls = rest_tls.clone();
        servers.spawn(async move {
            crate::transport::rest_serve::serve(listener, app, limits, tls, stop)
                .await
                .context("REST server failed")
        });
    }

    if let Some(listener) = metrics_listener {
        tracing::info!(address = %listener.local_addr()?, "metrics listening (GET /metrics)");
        let app = crate::transport::rest::metrics_router(core.clone(), reloader.clone());
        let stop = stopped(stop_rx.clone());
        let limits = config.rest_limits;
        servers.spawn(async move {
            crate::transport::rest_serve::serve(listener, app, limits, None, stop)
                .await
                .context("metrics server failed")
        });
    }
    for tls in [&grpc_tls, &rest_tls].into_iter().flatten() {
        tokio::spawn(tls.clone().watch(stopped(stop_rx.clone())));
    }
    tokio::select! {
        () = reloader.start() => {}
        () = signals.recv() => {
            tracing::info!("stopping before the first models finished loading");
            return drain(&stop_tx, servers, config.exit_timeout_seconds).await;
        }
    }
    // TF Serving's config-file poll runs even with version polling off.
    let config_poll = match config.tfs.config_file_poll {
        crate::tfs::settings::ConfigFilePoll::Every(wait) => Some(wait),
        _ => None,
    };
    if let Some(interval) = config.poll_interval.or(config_poll) {
        let reloader = reloader.clone();
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(interval) => reloader.poll().await,
                }
            }
        });
    }
    if telemetry.metrics().is_some() {
        let telemetry = telemetry.clone();
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(METRICS_UPKEEP) => {
                        if let Some(m) = telemetry.metrics() {
                            m.run_upkeep();
                        }
                    }
                }
            }
        });
    }
    for name in manager.model_names() {
        let status = manager.model_status(&name).unwrap_or_default();
        let available: Vec<u64> = status
            .iter()
            .filter(|s| s.state == inferd_core::ServableState::Available)
            .map(|s| s.version)
            .collect();
        tracing::info!(model = %name, versions = ?available, "model ready");
    }
    crate::transport::grpc::set_serving(&health, true).await;
    tracing::info!("server ready");

    tokio::select! {
        () = signals.recv() => {}
        Some(result) = servers.join_next() => {
            // A server stopped on its own: that is an error worth exiting on.
            let _ = stop_tx.send(true);
            return result.context("server task panicked")?.and(Err(anyhow::anyhow!("a server stopped unexpectedly")));
        }
    }
    drain(&stop_tx, servers, config.exit_timeout_seconds).await
}

/// Stops accepting, lets in-flight requests finish for at most
/// `exit_timeout_seconds`, and returns.
async fn drain(
    stop_tx: &watch::Sender<bool>,
    mut servers: tokio::task::JoinSet<anyhow::Result<()>>,
    exit_timeout_seconds: u64,
) -> anyhow::Result<()> {
    let _ = stop_tx.send(true);
    let drained = async {
        while let Some(result) = servers.join_next().await {
            result.context("server task panicked")??;
        }
        anyhow::Ok(())
    };
    let grace = std::time::Duration::from_secs(exit_timeout_seconds);
    match tokio::time::timeout(grace, drained).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!(
            "requests still in flight {exit_timeout_seconds} s after the shutdown signal (--exit_timeout_seconds); exiting"
        ),
    }
    tracing::info!("shutdown complete");
    Ok(())
}
