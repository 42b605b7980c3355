//! `inferd`: parse flags, check them, run until SIGTERM/SIGINT.

use std::process::ExitCode;

use inferd_server::config::ServerConfig;

/// How long the exit waits for a model load that a signal interrupted.
const LOADS_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = inferd_server::cli::parse(std::env::args_os());
    if let Some(url) = &cli.health_probe {
        return health_probe(url);
    }
    let config = match ServerConfig::from_cli(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("inferd: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = inferd_server::init_logging(cli.log_level, cli.log_path.as_deref()) {
        eprintln!("inferd: error: {e}");
        return ExitCode::from(2);
    }
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    let outcome = runtime.block_on(inferd_server::run(config));
    // In-flight requests have drained. The runtime's tasks must be dropped
    // before the process exits (engines' libraries are torn down at exit),
    // but a model load still running on a blocking thread (a signal during
    // start-up) holds the exit for at most this long.
    runtime.shutdown_timeout(LOADS_AT_EXIT);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("inferd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--health_probe URL`: 0 when the URL answers 200, else 1 with the reason.
fn health_probe(url: &str) -> ExitCode {
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(inferd_server::probe::probe(url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inferd: health probe failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The tokio runtime from `builder`, or `None` after saying why it failed.
fn async_runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    match builder.enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("inferd: error: cannot start the async runtime: {e}");
            None
        }
    }
}
