//! inferd-bench: a load generator for KServe v2 (gRPC, REST JSON, REST
//! binary) and TensorFlow Serving gRPC model servers.
//!
//! Setup checks everything it can before sending load: the target must be
//! loopback (unless `--allow-remote`), the input file must read, the model's
//! metadata must answer, and one request must succeed. Then each level is
//! measured in windows (`run`) and reported (`report`).

pub mod args;
pub mod client;
pub mod data;
pub mod error;
pub mod model;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod run;
pub mod stats;
pub mod target;

use std::time::Duration;

use args::Args;
use client::{Client, ClientConfig, ModelRef, Payload};
use data::InputSource;
use error::BenchError;
use progress::Progress;
use report::{Report, ReportHeader};
use run::{Load, RunSettings};

/// Default `--url` for the gRPC protocols (inferd's and OVMS's `--port`).
const DEFAULT_GRPC_URL: &str = "localhost:9178";
/// Default `--url` for REST.
const DEFAULT_REST_URL: &str = "localhost:8000";

/// Runs the benchmark `args` describe: prints the table on stdout, writes
/// the files asked for, and returns the report.
pub async fn bench(args: Args) -> Result<Report, BenchError> {
    let settings = run_settings(&args)?;
    let url = args.url.clone().unwrap_or_else(|| {
        let default = if args.protocol.is_grpc() {
            DEFAULT_GRPC_URL
        } else {
            DEFAULT_REST_URL
        };
        default.to_string()
    });
    let target = target::resolve(&url, args.allow_remote)?;
    let source = InputSource::parse(&args.input_data)?;
    let tls_files = client::TlsFiles {
        ca: args.tls_ca.clone(),
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
    };
    let mut clients = ClientConfig::new(
        args.protocol,
        target,
        Duration::from_millis(args.request_timeout_ms),
        &tls_files,
    )?;
    let model = ModelRef {
        name: args.model.clone(),
        version: args.model_version,
    };
    if let Some(then) = &args.then {
        if args.protocol != args::Protocol::KserveGrpc {
            return Err(BenchError::Usage(
                "--then needs --protocol kserve-grpc".into(),
            ));
        }
        let next = ModelRef {
            name: then.clone(),
            version: None,
        };
        let info = client::fetch_model_info(&clients, &next).await?;
        clients.then = Some(client::Chain {
            model: then.clone(),
            inputs: info.inputs.into_iter().map(|i| i.name).collect(),
        });
    }

    let info = client::fetch_model_info(&clients, &model).await?;
    let numeric: Vec<_> = info
        .inputs
        .iter()
        .filter(|i| !args.images.iter().any(|image| image.name == i.name))
        .cloned()
        .collect();
    let mut specs = model::fix_shapes(
        &numeric,
        &source.shape_overrides(&args.shapes),
        args.batch_size,
    )?;
    let mut tensors = source.build(&specs)?;
    for image in &args.images {
        let tensor = data::image_tensor(image, &info.inputs, args.batch_size, args.protocol)?;
        specs.push(tensor.spec.clone());
        tensors.push(tensor);
    }
    let payload = Payload::build(&clients, &model, &info, &tensors)?;
    probe(&clients, &payload).await?;

    let mut progress = Progress::new();
    let inputs: Vec<String> = specs
        .iter()
        .map(|s| format!("{} {} {:?}", s.name, s.datatype, s.shape))
        .collect();
    progress.note(&format!(
        "inferd-bench: {} {} model {} (inputs: {})",
        args.protocol.name(),
        clients.target.addr,
        model.name,
        inputs.join(", ")
    ));
    let header = ReportHeader {
        model: model.name,
        model_version: model.version,
        protocol: args.protocol.name(),
        url,
        batch_size: settings.batch_size,
        measurement_interval_ms: args.measurement_interval_ms,
        stability_percentage: args.stability_percentage,
    };
    let result = run::run(clients, payload, settings, &mut progress).await;
    let report = Report::new(header, &result);
    if !report.skipped.is_empty() {
        progress.note(&format!(
            "--max-duration-s {} reached; not measured: {}",
            args.max_duration_s,
            report.skipped.join(", ")
        ));
    }
    progress.clear();
    print!("{}", report.table());
    report.write_files(args.csv.as_deref(), args.json.as_deref())?;
    Ok(report)
}

/// Checks the flags against each other and gathers the run settings.
fn run_settings(args: &Args) -> Result<RunSettings, BenchError> {
    let percentage = args.stability_percentage;
    if !(percentage.is_finite() && percentage > 0.0) {
        return Err(BenchError::Usage(format!(
            "--stability-percentage {percentage} is not a percentage above 0"
        )));
    }
    let loads = match (&args.concurrency, &args.rate) {
        (_, Some(rates)) => rates.0.iter().map(|&r| Load::Rate(r)).collect(),
        (Some(levels), None) => levels.0.iter().map(|&c| Load::Concurrency(c)).collect(),
        (None, None) => vec![Load::Concurrency(1)],
    };
    Ok(RunSettings {
        loads,
        warmup: Duration::from_millis(args.warmup_ms),
        interval: Duration::from_millis(args.measurement_interval_ms),
        stability_percentage: percentage,
        max_trials: args.max_trials as usize,
        max_duration: Duration::from_secs(args.max_duration_s),
        max_requests: args.max_requests,
        max_outstanding: args.max_outstanding as usize,
        batch_size: args.batch_size.unwrap_or(1),
    })
}

/// Sends one request, so that a request the server refuses stops the run
/// before any measuring.
async fn probe(clients: &ClientConfig, payload: &Payload) -> Result<(), BenchError> {
    let mut client = Client::connect(clients, payload)
        .await
        .map_err(|e| BenchError::Connect {
            target: clients.target.addr.to_string(),
            protocol: clients.protocol.name(),
            message: e.to_string(),
        })?;
    client.infer().await.map_err(BenchError::Probe)
}
