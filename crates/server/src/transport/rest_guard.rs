//! Checks every REST request makes before a handler sees it: credentials
//! (see [`access`](super::access)), management calls that a web page could
//! forge (a simple-request content type, a foreign `Origin`), and a declared
//! body size over the limit (413 at once, before any byte is read).

use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use http_body_util::Limited;
use inferd_core::telemetry::Interface;
use tower::{Layer, Service};

use super::ApiError;
use super::access::{Access, AccessControl};

/// What the REST guard needs.
#[derive(Clone)]
pub struct RestGuard {
    /// Credentials and refusal counting.
    pub access: AccessControl,
    /// `--max_request_bytes`.
    pub max_request_bytes: usize,
    /// `--allowed_origins` (`*` allows any).
    pub allowed_origins: Vec<String>,
    /// `--max_decompression_ratio`: a compressed body may expand to at most
    /// this many times its declared length.
    pub max_decompression_ratio: u64,
    /// TF Serving's Prometheus path (`--monitoring_config_file`), open like `/metrics`.
    pub tfs_metrics_path: Option<String>,
}

/// The most bytes a compressed request body may expand to, set by the
/// guard from its declared length and read after decompression.
#[derive(Debug, Clone, Copy)]
struct DecompressedLimit(usize);

/// What a REST path needs.
fn access_of(path: &str, tfs_metrics_path: Option<&str>) -> Access {
    if tfs_metrics_path == Some(path) {
        return Access::Health;
    }
    match path {
        "/v2/health/live" | "/v2/health/ready" | "/metrics" => Access::Health,
        "/v1/config/reload" => Access::Management,
        p if p.starts_with("/v2/repository/") => Access::Management,
        _ => Access::Serving,
    }
}

impl RestGuard {
    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.as_bytes() == origin.as_bytes())
    }

    /// Refuses management calls a browser could send from another site
    /// without a CORS preflight: a body typed text/plain or as a form, or an
    /// `Origin` that is not allowed.
    fn check_management(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(kind) = headers.get(header::CONTENT_TYPE) {
            let json = kind.to_str().is_ok_and(|k| {
                k.trim()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Management requests take a JSON body (Content-Type: application/json) or none",
                ));
            }
        }
        match headers.get(header::ORIGIN) {
            Some(origin) if !self.origin_allowed(origin) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Management requests from another origin are refused (see --allowed_origins)",
            )),
            _ => Ok(()),
        }
    }

    /// For a compressed body with a declared length: the most it may
    /// expand to (the ratio times its length, never above the body limit).
    fn decompressed_limit(&self, headers: &HeaderMap, declared: Option<u64>) -> Option<usize> {
        headers.get(header::CONTENT_ENCODING)?;
        let limit = declared?.saturating_mul(self.max_decompression_ratio);
        Some(
            usize::try_from(limit)
                .map_or(self.max_request_bytes, |l| l.min(self.max_request_bytes)),
        )
    }

    fn check_length(&self, declared: Option<u64>) -> Result<(), ApiError> {
        match declared {
            Some(length) if length > self.max_request_bytes as u64 => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body exceeds the limit of {} bytes (--max_request_bytes)",
                    self.max_request_bytes
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The body length a request declares (`Content-Length`), if readable.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl RestGuard {
    /// The answer refusing `request`, or `None` to let it through (noting
    /// its decompression limit).
    fn refusal<B>(&self, request: &mut http::Request<B>) -> Option<Response> {
        let access = access_of(request.uri().path(), self.tfs_metrics_path.as_deref());
        let headers = request.headers();
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if let Err(refusal) = self.access.check(Interface::Rest, access, presented) {
            let status = if refusal.unauthenticated() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            let mut answer = ApiError::new(status, refusal.message()).into_response();
            if refusal.unauthenticated() {
                answer
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return Some(answer);
        }
        let declared = declared_length(headers);
        let checked = match access {
            Access::Management => self.check_management(headers),
            _ => Ok(()),
        }
        .and_then(|()| self.check_length(declared));
        if let Err(error) = checked {
            return Some(error.into_response());
        }
        if let Some(limit) = self.decompressed_limit(request.headers(), declared) {
            request.extensions_mut().insert(DecompressedLimit(limit));
        }
        None
    }
}

/// The guard as a tower layer (a plain service, not `axum::middleware`,
/// which boxes and clones the rest of the stack on every request).
#[derive(Clone)]
pub struct RestGuardLayer(Arc<RestGuard>);

impl RestGuardLayer {
    /// A layer that checks every request with `guard`.
    pub fn new(guard: RestGuard) -> Self {
        RestGuardLayer(Arc::new(guard))
    }
}

impl<S> Layer<S> for RestGuardLayer {
    type Service = RestGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RestGuardService {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// See [`RestGuardLayer`].
#[derive(Clone)]
pub struct RestGuardService<S> {
    inner: S,
    guard: Arc<RestGuard>,
}

impl<S, B> Service<http::Request<B>> for RestGuardService<S>
where
    S: Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.guard.refusal(&mut request) {
            None => Either::Right(self.inner.call(request)),
            Some(refusal) => Either::Left(ready(Ok(refusal))),
        }
    }
}

/// Inside decompression: stops reading a decompressed body once it passes
/// the limit the guard set (413), as it streams, so that a small compressed
/// body cannot make the server allocate gigabytes. Also gives the routes the
/// body type they take.
pub fn limit_decompressed<B>(request: http::Request<B>) -> Request
where
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    match request.extensions().get::<DecompressedLimit>().copied() {
        Some(DecompressedLimit(limit)) => request.map(|body| Body::new(Limited::new(body, limit))),
        None => request.map(Body::new),
    }
}
