use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inferd_core::CoreError;

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
            | CoreError::LabelNotFound(_)
            | CoreError::VersionNotLoaded => StatusCode::NOT_FOUND,
            CoreError::Invalid(_) | CoreError::BackendInput(_) => StatusCode::BAD_REQUEST,
            CoreError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
