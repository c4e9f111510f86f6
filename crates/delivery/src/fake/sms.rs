//! [`FakeSmsGateway`]: records what a generic HTTP SMS gateway receives.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

use super::{lock, serve};
use crate::twilio::signature::form_pairs;

/// Largest request body the fake reads.
const MAX_BODY: usize = 1024 * 1024;

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSmsRequest {
    /// `GET`, `POST`, …
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The query string decoded into ordered pairs.
    pub query_pairs: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// Every header, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// The body decoded as a form, when it is `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
    /// The body parsed, when it is JSON.
    pub json: Option<serde_json::Value>,
}

impl FakeSmsRequest {
    /// The first query or form parameter with this name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .chain(self.form.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct FakeState {
    requests: Vec<FakeSmsRequest>,
    status: u16,
    body: String,
}

/// A local fake of a generic HTTP SMS gateway: answers every method and
/// path with the configured status and body (default `200` and
/// `{"id":"fake-N"}`, N counting from 1) and records the request.
pub struct FakeSmsGateway {
    base_url: String,
    state: Arc<Mutex<FakeState>>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for FakeSmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmsGateway")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSmsGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSmsGateway {
    /// Starts the fake on `127.0.0.1:0`. Needs a tokio runtime.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            requests: Vec::new(),
            status: 200,
            body: String::new(),
        }));
        let router = Router::new().fallback(record).with_state(state.clone());
        let (addr, server) = serve(router).await;
        Self {
            base_url: format!("http://{addr}"),
            state,
            server,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Answer this status and body from now on (an empty body means the
    /// default `{"id":"fake-N"}`).
    pub fn set_response(&self, status: u16, body: &str) {
        let mut s = lock(&self.state);
        s.status = status;
        s.body = body.to_owned();
    }

    /// The requests received, in order.
    pub fn requests(&self) -> Vec<FakeSmsRequest> {
        lock(&self.state).requests.clone()
    }
}

async fn record(State(state): State<Arc<Mutex<FakeState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE);
    let query = parts.uri.query().map(str::to_owned);
    let is_form = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let recorded = FakeSmsRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query_pairs: query
            .as_deref()
            .map(|q| form_pairs(q.as_bytes()))
            .unwrap_or_default(),
        query,
        authorization: header(header::AUTHORIZATION),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        form: if is_form {
            form_pairs(&bytes)
        } else {
            Vec::new()
        },
        json: serde_json::from_slice(&bytes).ok(),
        content_type,
    };
    let mut s = lock(&state);
    s.requests.push(recorded);
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK);
    let body = if s.body.is_empty() {
        format!(r#"{{"id":"fake-{}"}}"#, s.requests.len())
    } else {
        s.body.clone()
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
