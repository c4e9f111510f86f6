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
        // An internal error's message logs its cause under the reference
        // it names.
        let mut resp = error_response(status_of(&e), &e.message(), e.field());
        if let AppError::TooManyRequests { retry_after, .. } = e
            && let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// The error answer of SPEC §11 with `status`: `{"error": message,
/// "field": name}` (`field` only when the error is about one), as JSON. A
/// 401 carries `WWW-Authenticate`.
pub fn error_response(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut body = serde_json::json!({ "error": message });
    if let Some(f) = field {
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
    resp
}

/// Gives the framework's own refusals — a wrong method (405), a body over
/// the limit (413, answered by the limit layer before any handler), a path
/// or query parameter that does not parse (400), any other rejection that
/// answers plain text — the form every other error has: under `/api/` the
/// JSON of SPEC §11, elsewhere the portal's error page. Answers that are
/// already JSON, HTML or XML (TwiML), successes, and the operations
/// endpoints' plain answers for probes and scrapers pass unchanged.
pub async fn uniform_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let api = path.starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
        || content_type.starts_with("text/xml")
    {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // The framework's texts are short; anything long is not one of them.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = match text {
        Some(t) if parts.extensions.get::<Logged>().is_some() => t,
        _ => framework_message(status, text.as_deref()),
    };
    let mut out = if api {
        error_response(status, &message, None)
    } else {
        crate::pages::status_page(status, &message)
    };
    // Keep every header of the refusal but those of the body it replaces
    // (`Allow` of a 405, `Retry-After`, cookies, `Vary`).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// The answer of a handler that panicked: logged once, a plain 500 (made
/// uniform by [`uniform_errors`]).
pub fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let message = gatehouse_app::error::internal_message(&format!("handler panicked: {what}"));
    let mut resp = (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
    resp.extensions_mut().insert(Logged);
    resp
}

/// Marks a plain-text 5xx whose body is an internal error's message,
/// already logged under its reference ([`panicked`]); any other one is
/// logged by [`uniform_errors`].
#[derive(Clone, Copy)]
struct Logged;

/// The refusal of a body over the limit (`RequestBodyLimitLayer` in `app`).
pub const TOO_LARGE: &str = "The request body is larger than 1 MiB.";

/// A sentence for a refusal the framework answered with `text` (or nothing).
fn framework_message(status: StatusCode, text: Option<&str>) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "This address does not take that method; see the Allow header.".to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => TOO_LARGE.to_owned(),
        StatusCode::NOT_FOUND => "Not found.".to_owned(),
        // A server error the framework made: logged under a reference of
        // its own (a panic's answer, already logged, does not come here).
        _ if status.is_server_error() => gatehouse_app::error::internal_message(&format!(
            "{status} from the framework: {}",
            text.unwrap_or("(no body)")
        )),
        _ => match text {
            Some(t) => t.to_owned(),
            None => status.canonical_reason().unwrap_or("Refused").to_owned() + ".",
        },
    }
}

/// The headers an error's answer carries beside its status — `Retry-After`
/// of a 429 — for pages that show an error inside a page of their own:
/// `(e.status(), RetryAfter::of(&e), page)`.
pub struct RetryAfter(Option<HeaderValue>);

impl RetryAfter {
    pub fn of(e: &AppError) -> Self {
        Self(match e {
            AppError::TooManyRequests { retry_after, .. } => {
                HeaderValue::from_str(&retry_after.max(&1).to_string()).ok()
            }
            _ => None,
        })
    }
}

impl axum::response::IntoResponseParts for RetryAfter {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum::response::ResponseParts,
    ) -> Result<axum::response::ResponseParts, Self::Error> {
        if let Some(v) = self.0 {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        Ok(res)
    }
}

pub type Result<T, E = HttpError> = std::result::Result<T, E>;
