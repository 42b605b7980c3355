//! Credentials on the gRPC listener: a tower layer in front of every
//! service that reads the `authorization` metadata and the method's path,
//! and answers UNAUTHENTICATED or PERMISSION_DENIED itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use inferd_core::telemetry::Interface;
use tower::{Layer, Service};

use super::access::{Access, AccessControl};

/// What a gRPC method (by its `/package.Service/Method` path) needs.
fn access_of(path: &str) -> Access {
    match path {
        "/inference.GRPCInferenceService/ServerLive"
        | "/inference.GRPCInferenceService/ServerReady" => Access::Health,
        p if p.starts_with("/grpc.health.v1.Health/") => Access::Health,
        p if p.starts_with("/inference.GRPCInferenceService/Repository") => Access::Management,
        "/tensorflow.serving.ModelService/HandleReloadConfigRequest" => Access::Management,
        _ => Access::Serving,
    }
}

/// tonic refuses a message over `--max_request_bytes` with OUT_OF_RANGE;
/// gRPC's convention (and grpc-go's, grpc-java's) for a message over the
/// receiver's limit is RESOURCE_EXHAUSTED.
fn size_limit_is_resource_exhausted(headers: &mut http::HeaderMap) {
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == b"11");
    let too_large = headers.get("grpc-message").is_some_and(|message| {
        let message = message.as_bytes();
        message.windows(11).any(|w| w == b"too%20large")
            || message.windows(9).any(|w| w == b"too large")
    });
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
}

/// Wraps the gRPC services with the credential check.
#[derive(Clone)]
pub struct GrpcGuardLayer {
    access: AccessControl,
}

impl GrpcGuardLayer {
    /// A layer checking with `access`.
    pub fn new(access: AccessControl) -> Self {
        GrpcGuardLayer { access }
    }
}

impl<S> Layer<S> for GrpcGuardLayer {
    type Service = GrpcGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcGuard {
            inner,
            access: self.access.clone(),
        }
    }
}

/// The service [`GrpcGuardLayer`] makes.
#[derive(Clone)]
pub struct GrpcGuard<S> {
    inner: S,
    access: AccessControl,
}

type Answer<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> Service<http::Request<B>> for GrpcGuard<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Answer<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let access = access_of(request.uri().path());
        let presented = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        match self.access.check(Interface::Grpc, access, presented) {
            Ok(()) => {
                let answer = self.inner.call(request);
                Box::pin(async move {
                    let mut response = answer.await?;
                    size_limit_is_resource_exhausted(response.headers_mut());
                    Ok(response)
                })
            }
            Err(refusal) => {
                let status = if refusal.unauthenticated() {
                    tonic::Status::unauthenticated(refusal.message())
                } else {
                    tonic::Status::permission_denied(refusal.message())
                };
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
