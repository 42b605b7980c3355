//! Clients: one connection each, sending the same prebuilt request over
//! and over. The metadata query that shapes the request lives beside each.

mod kserve_grpc;
mod kserve_rest;
mod tfs_grpc;
mod tls;

use std::error::Error;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::args::Protocol;
use crate::data::InputTensor;
use crate::error::{BenchError, RequestError};
use crate::model::ModelInput;
use crate::target::Target;

pub use kserve_rest::RestRequest;
pub use tls::{TlsClient, TlsFiles};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how clients connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Wire protocol.
    pub protocol: Protocol,
    /// Server address.
    pub target: Target,
    /// One request's time limit.
    pub request_timeout: Duration,
    /// TLS, for `https://` targets.
    pub tls: Option<TlsClient>,
    /// `--then`: the model each answer is sent on to.
    pub then: Option<Chain>,
}

/// A client-side chain's second model and its input names, in order.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Model name.
    pub model: String,
    /// Its inputs, fed by the first answer's outputs in order.
    pub inputs: Vec<String>,
}

impl ClientConfig {
    /// Where clients connect, over TLS when the URL says `https://`.
    pub fn new(
        protocol: Protocol,
        target: Target,
        request_timeout: Duration,
        tls_files: &TlsFiles,
    ) -> Result<ClientConfig, BenchError> {
        let tls = if target.tls {
            // gRPC needs HTTP/2; the REST clients speak HTTP/1.1.
            let alpn: &[&[u8]] = if protocol.is_grpc() {
                &[b"h2"]
            } else {
                &[b"http/1.1"]
            };
            Some(TlsClient::new(tls_files, &target.host, alpn)?)
        } else if *tls_files != TlsFiles::default() {
            return Err(BenchError::Usage(
                "--tls-ca, --tls-cert and --tls-key need an https:// --url".into(),
            ));
        } else {
            None
        };
        Ok(ClientConfig {
            protocol,
            target,
            request_timeout,
            tls,
            then: None,
        })
    }
}

/// The model a run addresses.
#[derive(Debug, Clone)]
pub struct ModelRef {
    /// Model name.
    pub name: String,
    /// Version, or `None` for the server's default.
    pub version: Option<u64>,
}

/// What the metadata query found.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The inputs, in the order the server lists them.
    pub inputs: Vec<ModelInput>,
    /// TensorFlow Serving: the signature requests name ("" for the default).
    pub signature_name: String,
}

/// A request built once and cloned for every send.
#[derive(Debug, Clone)]
pub enum Payload {
    /// KServe gRPC `ModelInfer`.
    KserveGrpc(inferd_proto::kserve::ModelInferRequest),
    /// KServe REST, JSON or binary.
    KserveRest(RestRequest),
    /// TensorFlow Serving `Predict`.
    TfsGrpc(inferd_proto::tensorflow::serving::PredictRequest),
}

impl Payload {
    /// Builds the request for `protocol` from the encoded inputs.
    pub fn build(
        config: &ClientConfig,
        model: &ModelRef,
        info: &ModelInfo,
        tensors: &[InputTensor],
    ) -> Result<Payload, BenchError> {
        Ok(match config.protocol {
            Protocol::KserveGrpc => Payload::KserveGrpc(kserve_grpc::request(model, tensors)),
            Protocol::KserveRest | Protocol::KserveRestBinary => {
                let binary = config.protocol == Protocol::KserveRestBinary;
                let authority = &config.target.authority;
                Payload::KserveRest(RestRequest::build(binary, authority, model, tensors)?)
            }
            Protocol::TfsGrpc => Payload::TfsGrpc(tfs_grpc::request(model, info, tensors)),
        })
    }
}

/// One connection with its request.
#[derive(Debug)]
pub enum Client {
    /// KServe gRPC.
    KserveGrpc(kserve_grpc::KserveGrpcClient),
    /// KServe REST.
    KserveRest(kserve_rest::KserveRestClient),
    /// TensorFlow Serving gRPC.
    TfsGrpc(tfs_grpc::TfsClient),
}

impl Client {
    /// Opens a connection that will send `payload`.
    pub async fn connect(config: &ClientConfig, payload: &Payload) -> Result<Client, RequestError> {
        let timeout = config.request_timeout;
        Ok(match payload {
            Payload::KserveGrpc(request) => {
                let channel = grpc_channel(config).await?;
                let client = kserve_grpc::KserveGrpcClient::new(channel, request.clone(), timeout)
                    .then(config.then.clone());
                Client::KserveGrpc(client)
            }
            Payload::KserveRest(request) => {
                let connection = kserve_rest::RestConnection::open(config).await?;
                let client =
                    kserve_rest::KserveRestClient::new(connection, request.clone(), timeout);
                Client::KserveRest(client)
            }
            Payload::TfsGrpc(request) => {
                let channel = grpc_channel(config).await?;
                Client::TfsGrpc(tfs_grpc::TfsClient::new(channel, request.clone(), timeout))
            }
        })
    }

    /// Sends the request once and reads the whole answer.
    pub async fn infer(&mut self) -> Result<(), RequestError> {
        match self {
            Client::KserveGrpc(client) => client.infer().await,
            Client::KserveRest(client) => client.infer().await,
            Client::TfsGrpc(client) => client.infer().await,
        }
    }
}

/// Queries the model's inputs; a failure to connect or an unknown model is
/// a setup error.
pub async fn fetch_model_info(
    config: &ClientConfig,
    model: &ModelRef,
) -> Result<ModelInfo, BenchError> {
    let connect_error = |e: RequestError| BenchError::Connect {
        target: config.target.addr.to_string(),
        protocol: config.protocol.name(),
        message: e.to_string(),
    };
    match config.protocol {
        Protocol::KserveGrpc => {
            let channel = grpc_channel(config).await.map_err(connect_error)?;
            kserve_grpc::metadata(channel, model).await
        }
        Protocol::KserveRest | Protocol::KserveRestBinary => {
            let mut connection = kserve_rest::RestConnection::open(config)
                .await
                .map_err(connect_error)?;
            kserve_rest::metadata(&mut connection, &config.target.authority, model).await
        }
        Protocol::TfsGrpc => {
            let channel = grpc_channel(config).await.map_err(connect_error)?;
            tfs_grpc::metadata(channel, model).await
        }
    }
}

/// A connected HTTP/2 channel to the target, over TLS where configured.
async fn grpc_channel(config: &ClientConfig) -> Result<Channel, RequestError> {
    let endpoint = Endpoint::from_shared(format!("http://{}", config.target.addr))
        .map_err(|e| RequestError::Transport(describe(&e)))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    let channel = match config.tls.clone() {
        None => endpoint.connect().await,
        Some(tls) => {
            let addr = config.target.addr;
            let connector = tower::service_fn(move |_| {
                let tls = tls.clone();
                async move {
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls.connect(stream).await?))
                }
            });
            endpoint.connect_with_connector(connector).await
        }
    };
    channel.map_err(|e| RequestError::Transport(describe(&e)))
}

/// An error with its chain of sources, `outer: inner: ...`, each distinct
/// message once.
fn describe(error: &dyn Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `future` with a time limit, mapping expiry to [`RequestError::Timeout`].
async fn limited<T>(
    timeout: Duration,
    future: impl Future<Output = Result<T, RequestError>>,
) -> Result<T, RequestError> {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or(Err(RequestError::Timeout(millis(timeout))))
}
