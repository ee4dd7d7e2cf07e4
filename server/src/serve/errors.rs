//! JSON error responses: every error the server returns is `{"error": "...", …}` with the
//! matching status code.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use reco_core::RecoError;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong.
    pub error: &'a str,
    /// The HTTP status code.
    pub status: u16,
}

/// An error answer: status, message and optional extra fields merged into the JSON object.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message (the `error` field).
    pub message: String,
    /// Extra fields (an object) added next to `error`.
    pub extra: Option<Value>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            extra: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Adds extra fields (must be a JSON object) to the body.
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

/// Builds the JSON error body for `status` and `message`, merging `extra`'s fields.
pub fn error_body(status: StatusCode, message: &str, extra: Option<Value>) -> Vec<u8> {
    let mut body = serde_json::to_value(ErrorBody {
        error: message,
        status: status.as_u16(),
    })
    .unwrap_or_else(|_| json!({ "error": message }));
    if let (Some(Value::Object(extra)), Value::Object(obj)) = (extra, &mut body) {
        obj.extend(extra);
    }
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = error_body(self.status, &self.message, self.extra);
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl From<RecoError> for ApiError {
    fn from(e: RecoError) -> Self {
        let status = match &e {
            RecoError::UnknownItem(_) | RecoError::UnknownUser(_) => StatusCode::NOT_FOUND,
            RecoError::InvalidN { .. } | RecoError::InvalidData(_) | RecoError::InvalidParameter { .. } => {
                StatusCode::BAD_REQUEST
            }
            RecoError::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}
