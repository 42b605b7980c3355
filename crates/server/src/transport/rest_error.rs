use axum::Json;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use inferd_core::CoreError;
use inferd_core::executor::SequenceError;

/// An error answered as `{"error": "<message>"}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the client.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        let status = match &err {
            CoreError::ModelNotFound
            | CoreError::VersionNotFound
            | CoreError::StorageFault { .. }
            | CoreError::LabelNotFound(_)
            | CoreError::VersionNotLoaded
            | CoreError::PipelineNotReady(_) => StatusCode::NOT_FOUND,
            CoreError::Invalid(_) | CoreError::BackendInput(_) => StatusCode::BAD_REQUEST,
            CoreError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            CoreError::StreamNotSupported => StatusCode::NOT_IMPLEMENTED,
            CoreError::Internal | CoreError::NodeFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            CoreError::Sequence(error) => match error {
                SequenceError::Missing => StatusCode::NOT_FOUND,
                SequenceError::Exists => StatusCode::CONFLICT,
                SequenceError::TooMany => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            },
        };
        ApiError::new(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// Largest plain-text error body rewritten as JSON; longer ones are cut.
const MAX_TEXT_ERROR_BYTES: usize = 4096;

/// Rewrites error answers that did not come from our handlers (axum's
/// extractor rejections, the decompression layer) from plain text into
/// `{"error": "<text>"}`, keeping their status and other headers. Answers
/// that are already JSON, successes and empty bodies pass unchanged.
pub async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if text.is_empty() {
        return Response::from_parts(parts, Body::empty());
    }
    let mut message = String::from_utf8_lossy(&text[..text.len().min(MAX_TEXT_ERROR_BYTES)])
        .trim()
        .to_string();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_string();
    }
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut answer = ApiError::new(status, message).into_response();
    answer.headers_mut().extend(parts.headers);
    answer
}
