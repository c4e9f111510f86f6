//! A local fake of the VIP validation service, speaking the same wire format
//! as [`VipSoapValidator`] (see [`crate::soap`]).
//!
//! It binds `127.0.0.1:0`, serves HTTP/1.1 (plain, or TLS with a required
//! client certificate), answers `Validate` from a table of credentials, and
//! records every request so that tests can assert on what was sent.
//!
//! It models the vendor's service as the vendor and public clients describe
//! it, not this crate's adapter: each behaviour below has its source next to
//! it (the source keys, such as \[CM\] or \[PAM\], are listed in
//! [`crate::soap::reason`]; the knowledge articles are linked where used).
//! Where nothing is published, the comment says so and says what was chosen.
//!
//! | the request | the fake's answer | source |
//! |---|---|---|
//! | a right, unused code | `0000` "Success" | \[US\], \[KM\] |
//! | a wrong or already used code | `49B5` "Failed with an invalid OTP"; counts a failure | \[KM\]; one-time use: \[KB159646\] |
//! | the failure that reaches the limit (default 10) | `49B5`, then the credential is locked | \[KB273344\], \[KB164551\] |
//! | a locked credential | `4994` | \[CM\] lists the code, \[PAM\] |
//! | a disabled credential | `4997` | \[PAM\] |
//! | a new / an inactive credential | `4995` / `4996` | \[PAM\] |
//! | an unknown credential id | `49F2` | \[PAM\] |
//! | a body that is not a SOAP `Validate` | HTTP 500, SOAP 1.1 `Client` fault | SOAP 1.1 §4.4.1, §6.2 (vendor's answer unpublished) |
//! | no `SOAPAction`, or `""` | answered | WSDL `soapAction=""`; \[KM\], \[PAM\] send none |
//! | another `SOAPAction` | HTTP 500, SOAP 1.1 `Client` fault | unpublished; chosen |
//!
//! \[KB159646\]: "VIP Security codes are one-time use only."
//! <https://knowledge.broadcom.com/external/article/159646/how-to-reset-vip-access-after-error-inv.html>
//!
//! Any other reason code (`4990`, `4993`, `4923`, `4879`, `4E03`, codes
//! nobody published) can be forced with [`FakeBehaviour::Status`].
//!
//! Not modelled: temporary security codes for disabled credentials, time
//! windows and resynchronisation, automatic unlocking, the `Version`
//! attribute (recorded, not checked).
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

/// VIP's default "Maximum Validation Failures": a credential locks after
/// this many consecutive invalid codes.
///
/// \[KB273344\]: "The credential ID is locked after 10* consecutive
/// attempts to use an invalid security code. The credential invalid
/// security code counter resets back to 0 when a valid code is used before
/// the credential is locked." (*adjustable by an administrator).
/// <https://knowledge.broadcom.com/external/article/273344/unused-vip-credential-token-ids-are-loc.html>
///
/// \[KB164551\]: "How to lower the number of incorrect login attempts in VIP
/// Manager from the default level of ten?"
/// <https://knowledge.broadcom.com/external/article/164551/how-to-lower-the-number-of-incorrect-log.html>
pub const DEFAULT_MAX_FAILURES: u32 = 10;

/// A credential's state in the fake, and what `Validate` answers in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeCredentialState {
    /// Codes are checked: `0000` or `49B5`.
    Enabled,
    /// Answers `4994` (\[CM\] lists the code; \[PAM\]: "Operation not
    /// allowed on locked token"). Reached by failures or set by a test.
    Locked,
    /// Answers `4997` (\[PAM\]: "Unsuccessful validation of Disabled token";
    /// the vendor's text is unpublished).
    Disabled,
    /// Answers `4995` (\[PAM\]: "Operation not allowed on new token").
    New,
    /// Answers `4996` (\[PAM\]: "Operation not allowed on inactive token").
    Inactive,
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
    /// Answer every well-formed `Validate` with this `Status` (the request
    /// id is echoed), whatever the credential: for reason codes the
    /// credential table does not produce. Codes are not consumed and
    /// failures are not counted.
    Status {
        /// `ReasonCode`.
        reason_code: String,
        /// `StatusMessage`.
        status_message: String,
        /// `ErrorDetail`, if any.
        error_detail: Option<String>,
    },
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
    /// The `ReasonCode` the fake answered; `None` when it answered a SOAP
    /// fault, an HTTP error or a malformed body.
    pub answered: Option<String>,
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

    /// Sets a credential's state. Enabling (an administrator's unlock)
    /// resets its failure count: chosen. \[KB156899\] says that "If the
    /// credential locks, the user must contact your help desk and request
    /// that an administrator unlock the credential", and that the counter
    /// otherwise "will only reset on a successful authentication"; what an
    /// unlock does to it is unpublished.
    /// <https://knowledge.broadcom.com/external/article?legacyId=TECH19480>
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

    /// A credential's count of consecutive invalid codes, `None` if unknown.
    pub fn failures_of(&self, credential_id: &str) -> Option<u32> {
        self.lock()
            .credentials
            .get(credential_id)
            .map(|c| c.failures)
    }

    /// Consecutive failures after which a credential locks (default
    /// [`DEFAULT_MAX_FAILURES`]).
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
    let (behaviour, index) = {
        let mut state = lock(&state);
        let parsed = call.as_ref().ok();
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            soap_action: soap_action.clone(),
            content_type,
            body: body.clone(),
            request_id: parsed.and_then(|c| c.request_id.clone()),
            token_id: parsed.map(|c| c.token_id.clone()),
            otp: parsed.map(|c| c.otp.clone()),
            answered: None,
        });
        (state.behaviour.clone(), state.requests.len() - 1)
    };

    let forced = match behaviour {
        FakeBehaviour::Normal => None,
        FakeBehaviour::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
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
            return Ok(soap_fault("S:Server", "fake VIP: forced fault"));
        }
        FakeBehaviour::Status {
            reason_code,
            status_message,
            error_detail,
        } => Some((reason_code, status_message, error_detail)),
    };

    if method != Method::POST {
        let mut response = Response::new(Full::new(Bytes::from("use POST")));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return Ok(response);
    }
    // SOAPAction. The WSDL gives `Validate` `soapAction=""` (see
    // `soap::SOAP_ACTION_VALIDATE` for the source), and the public clients
    // [KM] and [PAM] send no header at all and get answers, so both are
    // accepted, as is an empty value. What the service does with another
    // action is unpublished; chosen: a SOAP 1.1 `Client` fault, so that a
    // wrong header shows up in tests.
    if let Some(action) = soap_action.as_deref()
        && !matches!(action.trim(), "" | "\"\"")
    {
        return Ok(soap_fault(
            "S:Client",
            &format!(
                "fake VIP: SOAPAction {action} is not Validate's ({})",
                soap::SOAP_ACTION_VALIDATE
            ),
        ));
    }
    // A body that is not a SOAP 1.1 `Validate` (not XML, not an Envelope, no
    // TokenId or OTP). The vendor's answer to this is unpublished ([PAM]
    // handles a reason code 4E00 that it calls a malformed request); chosen:
    // what SOAP 1.1 prescribes, a `Client` fault ("the message was
    // incorrectly formed or did not contain the appropriate information",
    // §4.4.1) with HTTP 500 (§6.2).
    let call = match call {
        Ok(call) => call,
        Err(why) => return Ok(soap_fault("S:Client", &why)),
    };
    let (code, message, detail) = match forced {
        Some(answer) => answer,
        None => {
            let (code, message) = decide(&mut lock(&state), &call.token_id, &call.otp);
            (code.to_owned(), message.to_owned(), None)
        }
    };
    if let Some(r) = lock(&state).requests.get_mut(index) {
        r.answered = Some(code.clone());
    }
    Ok(xml(
        StatusCode::OK,
        soap::validate_response(
            call.request_id.as_deref(),
            &code,
            &message,
            detail.as_deref(),
        ),
    ))
}

/// The answer for one `Validate` from the credential table: reason code
/// and status message. Sources in the module docs and [`reason`].
fn decide(state: &mut State, token_id: &str, otp: &str) -> (&'static str, &'static str) {
    let max_failures = state.max_failures;
    let Some(credential) = state.credentials.get_mut(token_id) else {
        // [PAM]: 49f2, "Token id <id> not found" (its words; the vendor's
        // text is unpublished).
        return (reason::TOKEN_NOT_FOUND, "Token id not found");
    };
    match credential.state {
        // [CM] lists 4994; [PAM]: "Operation not allowed on locked token".
        FakeCredentialState::Locked => (reason::LOCKED, "Operation not allowed on locked token"),
        // [PAM]: 4997, "Unsuccessful validation of Disabled token".
        FakeCredentialState::Disabled => (
            reason::VALIDATION_OF_DISABLED,
            "Unsuccessful validation of Disabled token",
        ),
        // [PAM]: 4995, "Operation not allowed on new token".
        FakeCredentialState::New => (reason::NEW_TOKEN, "Operation not allowed on new token"),
        // [PAM]: 4996, "Operation not allowed on inactive token".
        FakeCredentialState::Inactive => (
            reason::INACTIVE_TOKEN,
            "Operation not allowed on inactive token",
        ),
        FakeCredentialState::Enabled => {
            // [KB159646]: "VIP Security codes are one-time use only."
            if credential.codes.remove(otp) {
                // [KB273344]: "The credential invalid security code counter
                // resets back to 0 when a valid code is used before the
                // credential is locked."
                credential.failures = 0;
                // [US]: "0000 | Success."
                (reason::SUCCESS, "Success")
            } else {
                // [KB273344]: "The credential ID is locked after 10*
                // consecutive attempts to use an invalid security code."
                credential.failures += 1;
                if credential.failures >= max_failures {
                    credential.state = FakeCredentialState::Locked;
                }
                // [KM]: `<ReasonCode>49B5</ReasonCode>`,
                // `<StatusMessage>Failed with an invalid OTP</StatusMessage>`.
                (reason::INVALID_OTP, "Failed with an invalid OTP")
            }
        }
    }
}

/// HTTP 500 with a SOAP 1.1 fault (SOAP 1.1 §6.2: "In case of a SOAP error
/// while processing the request, the SOAP HTTP server MUST issue an HTTP 500
/// "Internal Server Error" response and include a SOAP message in the
/// response containing a SOAP Fault element").
fn soap_fault(code: &str, message: &str) -> FakeResponse {
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        soap::fault(code, message),
    )
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
