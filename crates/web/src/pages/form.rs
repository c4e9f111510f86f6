//! What pages read from a request — a form body, an upload, the query
//! string, the path's parameters — with refusals that render the portal's
//! error page instead of the framework's plain-text answer, each with a
//! status that says what was wrong:
//!
//! - 413: the body is over the limit;
//! - 415: the body is not a web form (or not an upload, for uploads);
//! - 400: bytes that are not UTF-8 text, or a NUL character (no field takes
//!   one, and PostgreSQL cannot store one), in any field or parameter;
//!   query or path parameters that cannot be read;
//! - 422: a form field missing, or of the wrong kind (a number expected).
//!
//! The framework's own decoders replace bytes that are not UTF-8 with U+FFFD
//! and pass NUL characters on; both are refused here before decoding.

use super::status_page;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;

/// The error page with `status`.
fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    status_page(status, &message.into())
}

/// Whether the request's media type (parameters aside) is `essence`.
fn content_type_is(headers: &HeaderMap, essence: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(essence))
}

/// The whole body, or the page that says why it could not be read.
async fn body_of<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Response> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than the portal accepts (1 MiB). Nothing was saved.",
            )
        } else {
            refused(
                StatusCode::BAD_REQUEST,
                "The form did not arrive whole. Nothing was saved; please send it again.",
            )
        }
    })
}

/// `application/x-www-form-urlencoded` percent-decoding of one name or
/// value, `+` as a space; a `%` not followed by two hex digits stays as is
/// (as browsers and the framework's decoder do).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Why an url-encoded text (a form body, a query string) cannot be taken:
/// a name or value that is not UTF-8 once decoded, or holds a NUL.
fn encoding_problem(encoded: &[u8]) -> Option<&'static str> {
    for part in encoded.split(|b| *b == b'&') {
        let decoded = percent_decode(part);
        let Ok(text) = std::str::from_utf8(&decoded) else {
            return Some("contains bytes that are not UTF-8 text");
        };
        if text.contains('\0') {
            return Some("contains a NUL character, which no field accepts");
        }
    }
    None
}

/// What serde said, with the field it was about (if any).
fn field_problem<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> String {
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        format!("{}", e.inner())
    } else {
        format!("the field “{path}”: {}", e.inner())
    }
}

/// A web form's fields (`application/x-www-form-urlencoded`).
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
            return Err(refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This address takes a web form (application/x-www-form-urlencoded), as the \
                 portal's pages send it. Nothing was saved.",
            ));
        }
        let body = body_of(req, state).await?;
        if let Some(problem) = encoding_problem(&body) {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("The form {problem}. Nothing was saved."),
            ));
        }
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(&body));
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Form(v)),
            Err(e) => Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "The form could not be read ({}). Nothing was saved.",
                    field_problem(&e)
                ),
            )),
        }
    }
}

/// The query string's parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let query = parts.uri.query().unwrap_or("");
        if let Some(problem) = encoding_problem(query.as_bytes()) {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("The address {problem}."),
            ));
        }
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Query(v)),
            Err(e) => Err(refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "The address has a parameter this page cannot read ({}).",
                    field_problem(&e)
                ),
            )),
        }
    }
}

/// The path's parameters (a user's id, an order's number).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        if let Some(problem) = encoding_problem(parts.uri.path().as_bytes()) {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                format!("The address {problem}."),
            ));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(refused(
                StatusCode::BAD_REQUEST,
                "The address is not valid: a part of it that names something (a user, an \
                 order) is not in the form the portal gives it.",
            )),
        }
    }
}

/// One part of an upload: its name, its file name (for files) and its bytes.
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub bytes: Bytes,
}

impl Part {
    /// A text field's value (checked as UTF-8 without NUL when read).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// An upload (`multipart/form-data`), read whole: its text fields are
/// UTF-8 without NUL, like a form's, and so are file names; file contents
/// are bytes, for their own parser.
pub struct Upload(pub Vec<Part>);

impl Upload {
    pub fn get(&self, name: &str) -> Option<&Part> {
        self.0.iter().find(|p| p.name == name)
    }

    /// A text field's value, empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", Part::text)
    }
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        if !content_type_is(req.headers(), "multipart/form-data") {
            return Err(refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "This address takes an upload (multipart/form-data), as the portal's page \
                 sends it. Nothing was imported.",
            ));
        }
        let unreadable = |status: StatusCode| {
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                refused(
                    status,
                    "The upload is larger than the portal accepts (1 MiB). Nothing was imported.",
                )
            } else {
                refused(
                    StatusCode::BAD_REQUEST,
                    "The upload could not be read (it is not well-formed multipart/form-data). \
                     Nothing was imported.",
                )
            }
        };
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| unreadable(e.status()))?;
        let mut parts = Vec::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| unreadable(e.status()))?
        {
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| unreadable(e.status()))?;
            let bad_text = |s: &str| s.contains('\0');
            let is_text = file_name.is_none();
            let text_problem = if is_text {
                match std::str::from_utf8(&bytes) {
                    Ok(t) if bad_text(t) => Some("contains a NUL character"),
                    Ok(_) => None,
                    Err(_) => Some("contains bytes that are not UTF-8 text"),
                }
            } else {
                None
            };
            if bad_text(&name) || file_name.as_deref().is_some_and(bad_text) {
                return Err(refused(
                    StatusCode::BAD_REQUEST,
                    "The upload names a field or file with a NUL character. Nothing was imported.",
                ));
            }
            if let Some(problem) = text_problem {
                return Err(refused(
                    StatusCode::BAD_REQUEST,
                    format!("The upload's field “{name}” {problem}. Nothing was imported."),
                ));
            }
            parts.push(Part {
                name,
                file_name,
                bytes,
            });
        }
        Ok(Upload(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_finds_bad_bytes_and_nul_wherever_they_are() {
        assert_eq!(encoding_problem(b"a=1&b=caf%C3%A9+x"), None);
        assert_eq!(encoding_problem(b""), None);
        // A lone `%` is text, as browsers send it.
        assert_eq!(encoding_problem(b"q=100%&r=%"), None);
        assert!(encoding_problem(b"a=1&b=%FF").is_some());
        assert!(encoding_problem(b"a=1&b=\xff").is_some());
        assert!(encoding_problem(b"%C3=1").is_some());
        assert!(encoding_problem(b"a=x%00y").is_some());
        assert!(encoding_problem(b"a%00=1").is_some());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a+b%20c%2"), b"a b c%2");
        assert_eq!(percent_decode(b"%41%4a%zz"), b"AJ%zz");
        assert_eq!(percent_decode(b"%"), b"%");
        assert_eq!(percent_decode(b"%4"), b"%4");
    }
}
