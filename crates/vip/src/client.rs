//! [`VipSoapValidator`]: `Validate` over HTTPS with a client certificate.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::soap::{self, SoapAnswer};
use crate::{CredentialValidator, RemoteError, RemoteVerdict};

/// Largest response body read; a `ValidateResponse` is well under 1 KiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Where the validator's settings come from (paths to PEM files).
///
/// See the crate docs for an example.
#[derive(Clone, Debug)]
pub struct VipSoapConfig {
    /// The validation endpoint URL. Must be `https`, except on a loopback
    /// address (the test fake).
    pub endpoint: String,
    /// Client certificate chain, PEM, leaf first. Needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
    /// CA certificates, PEM. When set, the server must chain to one of these
    /// and the system roots are NOT trusted.
    pub ca_bundle: Option<PathBuf>,
    /// Limit for the whole call (connect, TLS, request, response).
    pub timeout: Duration,
}

/// PEM material for [`VipSoapValidator::from_pem`]. `Debug` hides the key.
#[derive(Clone, Default)]
pub struct TlsPem {
    /// Client certificate chain, PEM, leaf first.
    pub client_cert: Option<Vec<u8>>,
    /// The client certificate's private key, PEM.
    pub client_key: Option<Vec<u8>>,
    /// CA certificates to trust instead of the system roots, PEM.
    pub ca_bundle: Option<Vec<u8>>,
}

impl fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPem")
            .field("client_cert", &self.client_cert.as_ref().map(|c| c.len()))
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_bundle", &self.ca_bundle.as_ref().map(|c| c.len()))
            .finish()
    }
}

/// Why a validator could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum VipConfigError {
    /// The endpoint is not a URL.
    #[error("the VIP endpoint {endpoint:?} is not a valid URL: {reason}")]
    InvalidEndpoint {
        /// As configured.
        endpoint: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The endpoint is not `https` (and not loopback `http`).
    #[error(
        "the VIP endpoint {0} must use https (plain http is accepted only on a loopback address, \
         for the test fake)"
    )]
    InsecureEndpoint(String),
    /// A configured file could not be read.
    #[error("cannot read the VIP {what} file {}: {source}", path.display())]
    ReadFile {
        /// Which setting.
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Only one of certificate and key was given.
    #[error("the VIP client certificate and private key must be configured together")]
    IncompleteIdentity,
    /// The certificate or key PEM is unusable.
    #[error("the VIP client certificate or key is not usable: {0}")]
    Identity(String),
    /// The CA bundle is unusable.
    #[error("the VIP CA bundle is not usable: {0}")]
    CaBundle(String),
    /// A zero timeout would fail every call.
    #[error("the VIP timeout must be more than zero")]
    ZeroTimeout,
    /// The HTTPS client could not be built (e.g. the key does not suit the
    /// TLS provider).
    #[error("cannot build the HTTPS client for VIP: {0}")]
    Client(String),
}

/// Validates security codes with the VIP Web Services `Validate` call.
///
/// Cheap to share: hold one in an `Arc` for the whole process (it keeps a
/// pool of TLS connections).
#[derive(Clone)]
pub struct VipSoapValidator {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    timeout: Duration,
}

impl fmt::Debug for VipSoapValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VipSoapValidator")
            .field("endpoint", &self.endpoint.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VipSoapValidator {
    /// Reads the PEM files named in `config` and builds the validator.
    pub fn from_config(config: &VipSoapConfig) -> Result<Self, VipConfigError> {
        let read = |what: &'static str, path: &Option<PathBuf>| {
            path.as_deref().map(|p| read_file(what, p)).transpose()
        };
        let tls = TlsPem {
            client_cert: read("client certificate", &config.client_cert)?,
            client_key: read("client key", &config.client_key)?,
            ca_bundle: read("CA bundle", &config.ca_bundle)?,
        };
        Self::from_pem(&config.endpoint, &tls, config.timeout)
    }

    /// Builds the validator from PEM bytes.
    pub fn from_pem(
        endpoint: &str,
        tls: &TlsPem,
        timeout: Duration,
    ) -> Result<Self, VipConfigError> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| VipConfigError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(VipConfigError::InsecureEndpoint(endpoint.to_owned())),
            other => {
                return Err(VipConfigError::InvalidEndpoint {
                    endpoint: endpoint.to_owned(),
                    reason: format!("unsupported scheme {other:?}"),
                });
            }
        }
        if timeout.is_zero() {
            return Err(VipConfigError::ZeroTimeout);
        }

        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirected POST would carry the security code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse-vip/", env!("CARGO_PKG_VERSION")));

        match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => {
                // reqwest wants certificate(s) and key in one PEM buffer.
                let mut pem = Vec::with_capacity(cert.len() + key.len() + 1);
                pem.extend_from_slice(cert);
                pem.push(b'\n');
                pem.extend_from_slice(key);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| VipConfigError::Identity(error_chain(&e)))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => return Err(VipConfigError::IncompleteIdentity),
        }

        if let Some(bundle) = &tls.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(bundle)
                .map_err(|e| VipConfigError::CaBundle(error_chain(&e)))?;
            if certs.is_empty() {
                return Err(VipConfigError::CaBundle(
                    "it contains no certificate".to_owned(),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }

        let http = builder
            .build()
            .map_err(|e| VipConfigError::Client(error_chain(&e)))?;
        Ok(Self {
            http,
            endpoint: url,
            timeout,
        })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The whole-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn call(&self, credential_id: &str, code: &str) -> Result<RemoteVerdict, RemoteError> {
        let request_id = new_request_id();
        let started = Instant::now();
        // The body holds the security code: it is never logged.
        let body = soap::validate_request(&request_id, credential_id, code);
        tracing::debug!(credential_id, request_id, endpoint = %self.endpoint, "VIP Validate");

        let result = self.exchange(&request_id, body).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok((verdict, reason_code)) => tracing::info!(
                credential_id,
                request_id,
                reason_code = reason_code.as_str(),
                verdict = verdict.as_str(),
                elapsed_ms,
                "VIP Validate answered"
            ),
            Err(error) => tracing::warn!(
                credential_id,
                request_id,
                elapsed_ms,
                %error,
                "VIP Validate failed"
            ),
        }
        result.map(|(verdict, _)| verdict)
    }

    /// Sends the envelope and reads the answer: (verdict, reason code).
    async fn exchange(
        &self,
        request_id: &str,
        body: String,
    ) -> Result<(RemoteVerdict, String), RemoteError> {
        let mut response = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(soap::CONTENT_TYPE))
            .header(
                "SOAPAction",
                HeaderValue::from_static(soap::SOAP_ACTION_VALIDATE),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;

        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_owned();
        if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::INTERNAL_SERVER_ERROR
        {
            return Err(RemoteError::HttpStatus {
                status: status.as_u16(),
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(RemoteError::UnexpectedResponse {
                    detail: format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| RemoteError::UnexpectedResponse {
            detail: format!("the HTTP {} response is not UTF-8 text", status.as_u16()),
        })?;

        // SOAP 1.1 §6.2: a fault comes with HTTP 500.
        let answer = match soap::parse_validate_response(text) {
            Ok(answer) => answer,
            Err(_) if status != reqwest::StatusCode::OK => {
                return Err(RemoteError::HttpStatus {
                    status: status.as_u16(),
                });
            }
            Err(why) => {
                return Err(RemoteError::UnexpectedResponse {
                    detail: format!(
                        "the HTTP 200 body ({content_type}, {} bytes) is not a SOAP ValidateResponse: {why}",
                        bytes.len()
                    ),
                });
            }
        };
        match answer {
            SoapAnswer::Fault { code, message } => Err(RemoteError::SoapFault { code, message }),
            SoapAnswer::Validate(_) if status != reqwest::StatusCode::OK => {
                Err(RemoteError::HttpStatus {
                    status: status.as_u16(),
                })
            }
            SoapAnswer::Validate(s) => {
                if let Some(echoed) = &s.request_id
                    && echoed != request_id
                {
                    return Err(RemoteError::UnexpectedResponse {
                        detail: format!(
                            "the response is for request {echoed:?}, not {request_id:?}"
                        ),
                    });
                }
                let verdict = soap::classify(&s)?;
                Ok((verdict, s.reason_code))
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> RemoteError {
        let endpoint = self.endpoint.to_string();
        if e.is_timeout() {
            return RemoteError::Timeout {
                endpoint,
                after: self.timeout,
            };
        }
        if let Some(tls) = find_rustls_error(e) {
            return RemoteError::Tls {
                endpoint,
                detail: tls.to_string(),
            };
        }
        // reqwest's own top line repeats the URL that the message already has.
        let detail = error_chain(StdError::source(e).unwrap_or(e));
        if e.is_connect() {
            RemoteError::Connect { endpoint, detail }
        } else {
            RemoteError::Transport { endpoint, detail }
        }
    }
}

impl CredentialValidator for VipSoapValidator {
    fn validate<'a>(
        &'a self,
        credential_id: &'a str,
        code: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<RemoteVerdict, RemoteError>> + Send + 'a>> {
        Box::pin(self.call(credential_id, code))
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, VipConfigError> {
    std::fs::read(path).map_err(|source| VipConfigError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// 16 hex digits; the response echoes it, and it ties our log line to the
/// vendor's.
fn new_request_id() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Uniqueness, not secrecy, is what matters here.
        bytes = FALLBACK.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// "outer: inner: innermost", without the repeats that layered HTTP errors
/// produce.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// The `rustls::Error` somewhere in the chain. `io::Error::source` skips the
/// error it wraps, so look inside `io::Error`s explicitly.
fn find_rustls_error<'e>(e: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_hex_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn endpoint_rules() {
        let t = Duration::from_secs(1);
        let none = TlsPem::default();
        assert!(VipSoapValidator::from_pem("https://vip.example/val/soap", &none, t).is_ok());
        assert!(VipSoapValidator::from_pem("http://127.0.0.1:9/val/soap", &none, t).is_ok());
        assert!(VipSoapValidator::from_pem("http://[::1]:9/", &none, t).is_ok());
        assert!(VipSoapValidator::from_pem("http://localhost:9/", &none, t).is_ok());
        assert!(matches!(
            VipSoapValidator::from_pem("http://vip.example/val/soap", &none, t),
            Err(VipConfigError::InsecureEndpoint(_))
        ));
        assert!(matches!(
            VipSoapValidator::from_pem("ftp://vip.example/", &none, t),
            Err(VipConfigError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            VipSoapValidator::from_pem("not a url", &none, t),
            Err(VipConfigError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            VipSoapValidator::from_pem("https://vip.example/", &none, Duration::ZERO),
            Err(VipConfigError::ZeroTimeout)
        ));
    }

    #[test]
    fn identity_and_ca_problems_are_reported() {
        let t = Duration::from_secs(1);
        let url = "https://vip.example/";
        let half = TlsPem {
            client_cert: Some(b"x".to_vec()),
            ..TlsPem::default()
        };
        assert!(matches!(
            VipSoapValidator::from_pem(url, &half, t),
            Err(VipConfigError::IncompleteIdentity)
        ));
        let junk = TlsPem {
            client_cert: Some(b"not pem".to_vec()),
            client_key: Some(b"not pem either".to_vec()),
            ..TlsPem::default()
        };
        assert!(matches!(
            VipSoapValidator::from_pem(url, &junk, t),
            Err(VipConfigError::Identity(_))
        ));
        let empty_ca = TlsPem {
            ca_bundle: Some(b"# nothing here\n".to_vec()),
            ..TlsPem::default()
        };
        assert!(matches!(
            VipSoapValidator::from_pem(url, &empty_ca, t),
            Err(VipConfigError::CaBundle(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_key() {
        let pem = TlsPem {
            client_cert: Some(b"CERT".to_vec()),
            client_key: Some(b"-----BEGIN PRIVATE KEY-----SECRET".to_vec()),
            ca_bundle: None,
        };
        let shown = format!("{pem:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn missing_files_name_the_path() {
        let config = VipSoapConfig {
            endpoint: "https://vip.example/".into(),
            client_cert: Some("/nonexistent/vip-cert.pem".into()),
            client_key: Some("/nonexistent/vip-key.pem".into()),
            ca_bundle: None,
            timeout: Duration::from_secs(1),
        };
        let err = VipSoapValidator::from_config(&config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/vip-cert.pem"), "{err}");
        assert!(err.contains("client certificate"), "{err}");
    }
}
