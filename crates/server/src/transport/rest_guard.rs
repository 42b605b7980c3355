//! Checks every REST request makes before a handler sees it: credentials
//! (see [`access`](super::access)), management calls that a web page could
//! forge (a simple-request content type, a foreign `Origin`), and a declared
//! body size over the limit (413 at once, before any byte is read).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inferd_core::telemetry::Interface;

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
}

/// What a REST path needs.
fn access_of(path: &str) -> Access {
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

    fn check_length(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
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

/// The middleware: refuses or passes the request on.
pub async fn guard(State(guard): State<RestGuard>, request: Request, next: Next) -> Response {
    let access = access_of(request.uri().path());
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if let Err(refusal) = guard.access.check(Interface::Rest, access, presented) {
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
        return answer;
    }
    let checked = match access {
        Access::Management => guard.check_management(headers),
        _ => Ok(()),
    }
    .and_then(|()| guard.check_length(headers));
    if let Err(error) = checked {
        return error.into_response();
    }
    next.run(request).await
}
