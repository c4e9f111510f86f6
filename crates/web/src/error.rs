//! One error type for the web layer and its single mapping to HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::ParseError;
use gatehouse_store::StoreError;

/// Errors as the outside world sees them. 5xx details are logged once here
/// and never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// Malformed request (unparseable JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: i64 },
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Conflict { field, .. } => *field,
            _ => None,
        }
    }

    /// The message for a person; generic for internal errors.
    pub fn message(&self) -> String {
        match self {
            AppError::NotFound => "Not found.".into(),
            AppError::Internal(_) => "Something went wrong on our side; please try again.".into(),
            other => other.to_string(),
        }
    }
}

impl From<ParseError> for AppError {
    fn from(e: ParseError) -> Self {
        AppError::Invalid {
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict { field } => AppError::Conflict {
                field: Some(field),
                message: match field {
                    "username" => "This username is already taken.".into(),
                    "number" => "This account number is already taken.".into(),
                    other => format!("This {other} is already taken."),
                },
            },
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let status = self.status();
        let mut body = serde_json::json!({ "error": self.message() });
        if let Some(f) = self.field() {
            body["field"] = f.into();
        }
        let mut resp = (status, Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after, .. } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl From<gatehouse_store::DbError> for AppError {
    fn from(e: gatehouse_store::DbError) -> Self {
        StoreError::from(e).into()
    }
}
