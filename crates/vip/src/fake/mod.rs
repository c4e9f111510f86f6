//! A local fake of the VIP validation service, speaking the same wire format
//! as [`VipSoapValidator`](crate::VipSoapValidator) (see [`crate::soap`]).
//!
//! It binds `127.0.0.1:0`, serves HTTP/1.1 (plain, or TLS with a required
//! client certificate), answers `Validate` from a table of credentials, and
//! records every request so that tests can assert on what was sent.
//!
//! The fake is a test tool: it compares codes with `==` and keeps them in
//! memory. Do not deploy it.

mod pki;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use pki::TestPki;

use crate::soap::{self, reason};
use crate::{TlsPem, VipSoapValidator};

/// The path the fake serves `Validate` on (any path is answered).
pub const FAKE_PATH: &str = "/val/soap";

/// VIP's default: a credential locks after this many consecutive failures.
pub const DEFAULT_MAX_FAILURES: u32 = 10;

/// A credential's state in the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeCredentialState {
    /// Codes are checked.
    Enabled,
    /// Answers `4994 Operation not allowed on locked token`.
    Locked,
    /// Answers `4993 Operation not allowed on a disabled token`.
    Disabled,
}

/// How the fake answers, whatever the request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum FakeBehaviour {
    /// Answer `Validate` from the credential table.
    #[default]
    Normal,
    /// Wait this long, then answer normally (to test timeouts).
    Delay(Duration),
    /// Answer HTTP 200 `text/xml` with a body that is not a SOAP envelope.
    Malformed,
    /// Answer this HTTP status with a plain-text body.
    HttpStatus(u16),
    /// Answer HTTP 500 with a SOAP `Server` fault.
    Fault,
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The `SOAPAction` header, as sent (quotes included).
    pub soap_action: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The raw body (it contains the security code).
    pub body: String,
    /// The `Id` attribute of `Validate`, if the body parsed.
    pub request_id: Option<String>,
    /// `TokenId`, if the body parsed.
    pub token_id: Option<String>,
    /// `OTP`, if the body parsed.
    pub otp: Option<String>,
}

#[derive(Debug)]
struct Credential {
    state: FakeCredentialState,
    /// Codes that are still unused: VIP codes are one-time.
    codes: HashSet<String>,
    failures: u32,
}

#[derive(Debug)]
struct State {
    credentials: HashMap<String, Credential>,
    max_failures: u32,
    behaviour: FakeBehaviour,
    requests: Vec<RecordedRequest>,
}

/// The running fake. Dropping it stops accepting connections.
pub struct FakeVip {
    url: String,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    pki: Option<TestPki>,
    failed_handshakes: Arc<AtomicUsize>,
    accept_loop: JoinHandle<()>,
}

impl std::fmt::Debug for FakeVip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeVip")
            .field("url", &self.url)
            .field("mutual_tls", &self.pki.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeVip {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl FakeVip {
    /// Starts the fake over plain HTTP on `127.0.0.1:0`. Needs a tokio
    /// runtime; panics if it cannot bind (a test set-up failure).
    pub async fn start() -> FakeVip {
        Self::start_with(None).await
    }

    /// Starts the fake over TLS with a required client certificate, using a
    /// freshly generated throwaway [`TestPki`]: the server certificate is for
    /// `127.0.0.1` and `localhost`, and only client certificates issued by
    /// the same CA are accepted.
    pub async fn start_mutual_tls() -> FakeVip {
        Self::start_with(Some(TestPki::generate())).await
    }

    async fn start_with(pki: Option<TestPki>) -> FakeVip {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the VIP fake cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("the VIP fake's listener has no address");
        let scheme = if pki.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}{FAKE_PATH}");
        let acceptor = pki.as_ref().map(|p| TlsAcceptor::from(p.server_config()));
        let state = Arc::new(Mutex::new(State {
            credentials: HashMap::new(),
            max_failures: DEFAULT_MAX_FAILURES,
            behaviour: FakeBehaviour::Normal,
            requests: Vec::new(),
        }));
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            acceptor,
            Arc::clone(&state),
            Arc::clone(&failed_handshakes),
        ));
        FakeVip {
            url,
            addr,
            state,
            pki,
            failed_handshakes,
            accept_loop,
        }
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234/val/soap`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificates of a mutual-TLS fake; `None` for plain HTTP.
    pub fn pki(&self) -> Option<&TestPki> {
        self.pki.as_ref()
    }

    /// The client-side PEM material that this fake accepts: for a mutual-TLS
    /// fake the client certificate, key and CA; empty for plain HTTP.
    pub fn client_tls(&self) -> TlsPem {
        self.pki
            .as_ref()
            .map(TestPki::client_tls)
            .unwrap_or_default()
    }

    /// A validator pointed at this fake with [`FakeVip::client_tls`].
    pub fn validator(&self, timeout: Duration) -> VipSoapValidator {
        VipSoapValidator::from_pem(&self.url, &self.client_tls(), timeout)
            .expect("a validator for the VIP fake")
    }

    /// Adds (or replaces) an enabled credential that accepts each of `codes`
    /// once.
    pub fn add_credential<I, S>(&self, credential_id: &str, codes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.lock().credentials.insert(
            credential_id.to_owned(),
            Credential {
                state: FakeCredentialState::Enabled,
                codes: codes.into_iter().map(Into::into).collect(),
                failures: 0,
            },
        );
    }

    /// Makes more codes acceptable for an existing credential.
    pub fn add_codes<I, S>(&self, credential_id: &str, codes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Some(c) = self.lock().credentials.get_mut(credential_id) {
            c.codes.extend(codes.into_iter().map(Into::into));
        }
    }

    /// Sets a credential's state (unlocking resets its failure count).
    pub fn set_state(&self, credential_id: &str, state: FakeCredentialState) {
        if let Some(c) = self.lock().credentials.get_mut(credential_id) {
            c.state = state;
            if state == FakeCredentialState::Enabled {
                c.failures = 0;
            }
        }
    }

    /// A credential's current state, `None` if unknown.
    pub fn state_of(&self, credential_id: &str) -> Option<FakeCredentialState> {
        self.lock().credentials.get(credential_id).map(|c| c.state)
    }

    /// Consecutive failures after which a credential locks (default 10).
    pub fn set_max_failures(&self, max_failures: u32) {
        self.lock().max_failures = max_failures.max(1);
    }

    /// How the fake answers from now on.
    pub fn set_behaviour(&self, behaviour: FakeBehaviour) {
        self.lock().behaviour = behaviour;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// TLS handshakes that failed (e.g. no or untrusted client certificate).
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide the state from the others.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    state: Arc<Mutex<State>>,
    failed_handshakes: Arc<AtomicUsize>,
) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            // E.g. out of file descriptors: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = Arc::clone(&state);
        let acceptor = acceptor.clone();
        let failed_handshakes = Arc::clone(&failed_handshakes);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&state), req));
            let http = hyper::server::conn::http1::Builder::new();
            // A client that hangs up early is not the fake's problem.
            match acceptor {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), service).await;
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = http.serve_connection(TokioIo::new(tls), service).await;
                    }
                    Err(_) => {
                        failed_handshakes.fetch_add(1, Ordering::SeqCst);
                    }
                },
            }
        });
    }
}

type FakeResponse = Response<Full<Bytes>>;

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<FakeResponse, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let soap_action = header("soapaction");
    let content_type = header("content-type");
    let body = match req.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let call = soap::parse_validate_request(&body);
    let behaviour = {
        let mut state = lock(&state);
        let parsed = call.as_ref().ok();
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            soap_action,
            content_type,
            body: body.clone(),
            request_id: parsed.and_then(|c| c.request_id.clone()),
            token_id: parsed.map(|c| c.token_id.clone()),
            otp: parsed.map(|c| c.otp.clone()),
        });
        state.behaviour.clone()
    };

    match behaviour {
        FakeBehaviour::Normal => {}
        FakeBehaviour::Delay(d) => tokio::time::sleep(d).await,
        FakeBehaviour::Malformed => {
            return Ok(xml(
                StatusCode::OK,
                "<html><body>Service Unavailable".to_owned(),
            ));
        }
        FakeBehaviour::HttpStatus(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = Response::new(Full::new(Bytes::from("fake VIP: forced status")));
            *response.status_mut() = status;
            return Ok(response);
        }
        FakeBehaviour::Fault => {
            return Ok(xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                soap::fault("S:Server", "fake VIP: forced fault"),
            ));
        }
    }

    if method != Method::POST {
        let mut response = Response::new(Full::new(Bytes::from("use POST")));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return Ok(response);
    }
    let call = match call {
        Ok(call) => call,
        Err(why) => {
            return Ok(xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                soap::fault("S:Client", &why),
            ));
        }
    };
    let (code, message, detail) = decide(&mut lock(&state), &call.token_id, &call.otp);
    Ok(xml(
        StatusCode::OK,
        soap::validate_response(call.request_id.as_deref(), code, message, detail),
    ))
}

/// The answer for one `Validate`: reason code, message, detail.
fn decide(
    state: &mut State,
    token_id: &str,
    otp: &str,
) -> (&'static str, &'static str, Option<&'static str>) {
    let max_failures = state.max_failures;
    let Some(credential) = state.credentials.get_mut(token_id) else {
        return (
            reason::AUTHORIZATION_FAILED,
            "Authorization failed",
            Some(reason::CREDENTIAL_NOT_FOUND_MESSAGE),
        );
    };
    match credential.state {
        // VIP reason-code table: "4994 Operation not allowed on locked token".
        FakeCredentialState::Locked => (
            reason::LOCKED,
            "Operation not allowed on locked token",
            None,
        ),
        FakeCredentialState::Disabled => (
            reason::DISABLED,
            "Operation not allowed on a disabled token",
            None,
        ),
        FakeCredentialState::Enabled => {
            if credential.codes.remove(otp) {
                credential.failures = 0;
                (reason::SUCCESS, "Success", None)
            } else {
                credential.failures += 1;
                if credential.failures >= max_failures {
                    credential.state = FakeCredentialState::Locked;
                }
                (reason::INVALID_OTP, "Failed with an invalid OTP", None)
            }
        }
    }
}

fn xml(status: StatusCode, body: String) -> FakeResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}
