//! gRPC frontends: KServe v2 `inference.GRPCInferenceService` and `grpc.health.v1.Health`.

mod kserve;
mod status;
mod tensor;

use std::future::Future;
use std::sync::Arc;

use inferd_core::Core;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};

pub use kserve::KServeGrpc;
pub use status::status_from_core;

use crate::proto::kserve::grpc_inference_service_server::GrpcInferenceServiceServer;

/// The service name health checks may ask about besides the whole server (`""`).
const KSERVE_SERVICE: &str = "inference.GRPCInferenceService";

/// Marks the server and the KServe service SERVING or NOT_SERVING for health checks.
pub async fn set_serving(reporter: &tonic_health::server::HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status("", status).await;
    reporter.set_service_status(KSERVE_SERVICE, status).await;
}

/// Serves the gRPC services on `listener` until `stop` resolves, then lets
/// in-flight calls finish.
pub fn serve<H: Health>(
    core: Arc<Core>,
    health: HealthServer<H>,
    max_message_bytes: usize,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = Result<(), tonic::transport::Error>> + Send {
    let kserve = GrpcInferenceServiceServer::new(KServeGrpc::new(core))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(usize::MAX);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(kserve)
        .serve_with_incoming_shutdown(incoming, stop)
}
