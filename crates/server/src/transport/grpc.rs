//! The gRPC listener: KServe v2 `inference.GRPCInferenceService`,
//! TensorFlow Serving `tensorflow.serving.PredictionService` and
//! `ModelService`, and `grpc.health.v1.Health`, all on one port.

use std::future::Future;
use std::sync::Arc;

use inferd_core::Core;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};

use super::GrpcGuardLayer;
use super::access::AccessControl;
use crate::kserve::KServeGrpc;
use crate::tfs::{TfsModels, TfsPrediction};

use crate::proto::kserve::grpc_inference_service_server::GrpcInferenceServiceServer;
use crate::proto::tensorflow::serving::model_service_server::ModelServiceServer;
use crate::proto::tensorflow::serving::prediction_service_server::PredictionServiceServer;
use crate::reload::Reloader;
use crate::tls::{ServerTls, tls_incoming};

/// The service names health checks may ask about besides the whole server (`""`).
const SERVICES: [&str; 3] = [
    "inference.GRPCInferenceService",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
];

/// Largest HTTP/2 frame clients may send (HTTP/2's default: 16 KiB). Tensors
/// arrive in far fewer frames: a 600 KB input takes 1 frame instead of 37,
/// which cut the server's CPU time per such request by about a quarter.
const H2_MAX_FRAME_BYTES: u32 = 1 << 20;
/// Bytes a client may send on one stream before the server acknowledges them
/// (hyper's default: 1 MiB), so a large tensor does not wait for a window
/// update.
const H2_STREAM_WINDOW_BYTES: u32 = 4 << 20;
/// The same for all streams of one connection together (hyper's default:
/// 1 MiB), so that clients multiplexing requests on one channel (as
/// tritonclient's async gRPC API does) keep several large ones in flight.
const H2_CONNECTION_WINDOW_BYTES: u32 = 16 << 20;

/// How the gRPC listener admits requests.
#[derive(Clone)]
pub struct GrpcSettings {
    /// Largest request message (`--max_request_bytes`).
    pub max_message_bytes: usize,
    /// Concurrent HTTP/2 streams per connection (`--http2_max_streams`).
    pub max_streams: u32,
    /// Largest header list (`--max_header_bytes`).
    pub max_header_bytes: u32,
    /// Credentials.
    pub access: AccessControl,
    /// TLS; `None` for plain text.
    pub tls: Option<Arc<ServerTls>>,
    /// Longest a TLS handshake may take (`--rest_read_timeout_seconds`).
    pub handshake_timeout: std::time::Duration,
}

/// Marks the server and each service SERVING or NOT_SERVING for health checks.
pub async fn set_serving(reporter: &tonic_health::server::HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    for service in SERVICES {
        reporter.set_service_status(service, status).await;
    }
}

/// Serves the gRPC services on `listener` until `stop` resolves, then lets
/// in-flight calls finish. `reloader` applies model lists sent to
/// `HandleReloadConfigRequest` and the repository extension's loads and
/// unloads.
pub async fn serve<H: Health>(
    core: Arc<Core>,
    reloader: Arc<Reloader>,
    health: HealthServer<H>,
    settings: GrpcSettings,
    listener: GrpcListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let kserve = GrpcInferenceServiceServer::new(KServeGrpc::new(core.clone(), reloader.clone()))
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(usize::MAX);
    let tfs_prediction = PredictionServiceServer::new(TfsPrediction::new(core))
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(usize::MAX);
    let tfs_models = ModelServiceServer::new(TfsModels::new(reloader))
        .max_decoding_message_size(settings.max_message_bytes);
    let router = tonic::transport::Server::builder()
        .max_frame_size(H2_MAX_FRAME_BYTES)
        .initial_stream_window_size(H2_STREAM_WINDOW_BYTES)
        .initial_connection_window_size(H2_CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(settings.max_streams)
        .http2_max_header_list_size(settings.max_header_bytes)
        .layer(GrpcGuardLayer::new(settings.access))
        .add_service(health)
        .add_service(kserve)
        .add_service(tfs_prediction)
        .add_service(tfs_models);
    match (listener, settings.tls) {
        (GrpcListener::Tcp(listener), Some(tls)) => {
            let incoming = tls_incoming(listener, tls, settings.handshake_timeout);
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
        (GrpcListener::Tcp(listener), None) => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
        #[cfg(unix)]
        (GrpcListener::Unix(listener), _) => {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
    }
}

/// Where gRPC is served: a TCP port (with TLS when configured), or a Unix
/// domain socket (TF Serving's --grpc_socket_path; plain, local only).
pub enum GrpcListener {
    /// `--port`.
    Tcp(TcpListener),
    /// `--grpc_socket_path`.
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}
