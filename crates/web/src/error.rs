//! The web layer's one mapping of the application's errors to HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use gatehouse_app::AppError;

/// An [`AppError`] on its way out as an HTTP response: the status, the JSON
/// error body of SPEC §11 (`{"error", "field"?}`), `Retry-After` for 429.
/// 5xx details are logged once here and never sent to the client.
#[derive(Debug)]
pub struct HttpError(pub AppError);

impl<E: Into<AppError>> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The HTTP status of an application error.
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
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

/// `.status()` on an application error, for pages that render it.
pub trait AppErrorExt {
    fn status(&self) -> StatusCode;
    /// As a response, like a handler's error.
    fn into_response(self) -> Response;
}

impl AppErrorExt for AppError {
    fn status(&self) -> StatusCode {
        status_of(self)
    }
    fn into_response(self) -> Response {
        HttpError(self).into_response()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let e = self.0;
        if let AppError::Internal(cause) = &e {
            tracing::error!(%cause, "request failed");
        }
        let status = status_of(&e);
        let mut body = serde_json::json!({ "error": e.message() });
        if let Some(f) = e.field() {
            body["field"] = f.into();
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1: a 401 names the scheme that would work here
            // (a session cookie also does, but cookies have no scheme).
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        if let AppError::TooManyRequests { retry_after, .. } = e
            && let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type Result<T, E = HttpError> = std::result::Result<T, E>;
