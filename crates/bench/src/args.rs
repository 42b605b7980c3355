//! Command-line flags and their parsers.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// inferd-bench: measure throughput and latency of a KServe v2 or TensorFlow
/// Serving model server under load.
///
/// Closed loop (`-c 1,2,4,8`): each of N workers sends its next request when
/// the previous answer arrives, for each N in turn. Fixed rate (`--rate 500`):
/// requests are sent on a schedule, at most `--max-outstanding` at once.
/// Each level is measured in windows until the last three agree.
#[derive(Debug, Clone, Parser)]
#[command(name = "inferd-bench", version, max_term_width = 100)]
pub struct Args {
    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Protocol::KserveGrpc)]
    pub protocol: Protocol,

    /// Server address, HOST:PORT (the gRPC or the REST port), https://HOST:PORT for TLS [default:
    /// localhost:9178 for gRPC, localhost:8000 for REST].
    #[arg(short = 'u', long)]
    pub url: Option<String>,

    /// Model name.
    #[arg(short = 'm', long)]
    pub model: String,

    /// Model version [default: the server's choice, usually the latest].
    #[arg(long)]
    pub model_version: Option<u64>,

    /// A client-side chain (KServe gRPC only): after each answer, send its
    /// outputs, in order, as the inputs of this model; the two calls are
    /// measured as one request (compare with a server-side pipeline).
    #[arg(long)]
    pub then: Option<String>,

    /// Concurrency levels to measure in turn, e.g. 1,2,4,8 [default: 1].
    #[arg(short = 'c', long, value_parser = parse_concurrency_list, conflicts_with = "rate")]
    pub concurrency: Option<ConcurrencyList>,

    /// Fixed request rates (requests/s) to measure in turn, e.g. 100,200.
    #[arg(long, value_parser = parse_rate_list)]
    pub rate: Option<RateList>,

    /// Fixed-rate mode: requests in flight at most. A request that leaves
    /// more than 2 ms after its due time (all slots busy, or the generator
    /// behind) is counted as delayed.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_outstanding: u32,

    /// Shape of an input with dynamic dimensions, NAME:D1,D2,... (repeatable).
    #[arg(long = "shape", value_parser = parse_shape_override)]
    pub shapes: Vec<ShapeOverride>,

    /// Send an encoded image (JPEG, PNG) to an image input, NAME:FILE
    /// (repeatable): BYTES of shape [batch size], one copy of the file per
    /// row, for the server to decode. Binary protocols only.
    #[arg(long = "image", value_parser = parse_image_file)]
    pub images: Vec<ImageFile>,

    /// Size of a dynamic first dimension (other dynamic dimensions become 1).
    #[arg(short = 'b', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,

    /// Input values: `random`, `zero`, or a JSON file
    /// `{"data":[{"INPUT":[values...], ...}]}` (the first entry is used).
    #[arg(long, default_value = "random")]
    pub input_data: String,

    /// Length of one measurement window, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..))]
    pub measurement_interval_ms: u64,

    /// Load applied before the first window of each level, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub warmup_ms: u64,

    /// Stable when the last 3 windows' throughput and p50 latency are within
    /// this percentage of their mean.
    #[arg(long, default_value_t = 10.0)]
    pub stability_percentage: f64,

    /// Windows per level at most; a level that has not settled by then is
    /// reported as not stable.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_trials: u32,

    /// Cap on the whole run, in seconds; levels not reached are skipped.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_duration_s: u64,

    /// Requests per level at most, counted after the warm-up.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,

    /// One request's time limit, in milliseconds; a late answer is an error.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Also write the results as CSV to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,

    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Allow targets that are not loopback addresses.
    #[arg(long)]
    pub allow_remote: bool,

    /// TLS (https:// --url): PEM file of the CAs the server's certificate must chain to.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,

    /// TLS: PEM client certificate chain to present (mutual TLS), with --tls-key.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,

    /// TLS: PEM private key of --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
}

/// Wire protocol of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// KServe v2 gRPC `ModelInfer` with `raw_input_contents`.
    KserveGrpc,
    /// KServe v2 REST with JSON `data`.
    KserveRest,
    /// KServe v2 REST with the binary tensor extension, both ways.
    KserveRestBinary,
    /// TensorFlow Serving gRPC `Predict` with `tensor_content`.
    TfsGrpc,
}

impl Protocol {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::KserveGrpc => "kserve-grpc",
            Protocol::KserveRest => "kserve-rest",
            Protocol::KserveRestBinary => "kserve-rest-binary",
            Protocol::TfsGrpc => "tfs-grpc",
        }
    }

    /// Whether this protocol speaks gRPC (else REST).
    pub fn is_grpc(self) -> bool {
        matches!(self, Protocol::KserveGrpc | Protocol::TfsGrpc)
    }
}

/// Concurrency levels, each at least 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyList(pub Vec<usize>);

/// Request rates in requests/s, each finite and above 0.
#[derive(Debug, Clone, PartialEq)]
pub struct RateList(pub Vec<f64>);

/// `--shape NAME:D1,D2,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeOverride {
    /// Input name.
    pub name: String,
    /// Every dimension; empty for a scalar.
    pub dims: Vec<u64>,
}

/// `--image NAME:FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Input name.
    pub name: String,
    /// The encoded image.
    pub path: PathBuf,
}

fn parse_image_file(text: &str) -> Result<ImageFile, String> {
    match text.split_once(':') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(ImageFile {
            name: name.to_string(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!(
            "image '{text}' is not NAME:FILE (e.g. image:cat.jpg)"
        )),
    }
}

/// Splits a comma-separated list, refusing empty items.
fn split_list(text: &str) -> Result<Vec<&str>, String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(format!("'{text}' is not a comma-separated list"));
    }
    Ok(items)
}

fn parse_concurrency_list(text: &str) -> Result<ConcurrencyList, String> {
    let levels = split_list(text)?
        .into_iter()
        .map(|item| match item.parse::<usize>() {
            Ok(0) => Err("concurrency 0 would send nothing; levels start at 1".to_string()),
            Ok(level) => Ok(level),
            Err(_) => Err(format!("concurrency '{item}' is not a positive integer")),
        })
        .collect::<Result<_, _>>()?;
    Ok(ConcurrencyList(levels))
}

fn parse_rate_list(text: &str) -> Result<RateList, String> {
    let rates = split_list(text)?
        .into_iter()
        .map(|item| match item.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
            _ => Err(format!(
                "rate '{item}' is not a number of requests/s above 0"
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok(RateList(rates))
}

fn parse_shape_override(text: &str) -> Result<ShapeOverride, String> {
    let expected = || format!("shape '{text}' is not NAME:D1,D2,... (e.g. input:1,16)");
    let (name, dims) = text.rsplit_once(':').ok_or_else(expected)?;
    if name.is_empty() {
        return Err(expected());
    }
    let dims = if dims.is_empty() {
        Vec::new() // a scalar
    } else {
        split_list(dims)
            .map_err(|_| expected())?
            .into_iter()
            .map(|d| d.parse::<u64>().map_err(|_| expected()))
            .collect::<Result<_, _>>()?
    };
    Ok(ShapeOverride {
        name: name.to_string(),
        dims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_lists() {
        assert_eq!(
            parse_concurrency_list("1, 2,8"),
            Ok(ConcurrencyList(vec![1, 2, 8]))
        );
        for bad in ["0", "a,b", "1,,2", "", "-1", "1.5"] {
            assert!(parse_concurrency_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_lists() {
        assert_eq!(parse_rate_list("10,2.5"), Ok(RateList(vec![10.0, 2.5])));
        for bad in ["0", "-3", "inf", "NaN", "x"] {
            assert!(parse_rate_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shape_overrides() {
        let parsed = parse_shape_override("in:0:1,16").expect("valid");
        assert_eq!((parsed.name.as_str(), parsed.dims), ("in:0", vec![1, 16]));
        assert!(parse_shape_override("s:").expect("scalar").dims.is_empty());
        for bad in ["noshape", ":1,2", "a:1,x", "a:1,,2"] {
            assert!(parse_shape_override(bad).is_err(), "{bad}");
        }
    }
}
