//! Remote validation of Symantec VIP credentials: security codes that only
//! the vendor's cloud can check, because only it holds the credential's
//! secret.
//!
//! * [`CredentialValidator`]: the seam the web crate depends on (object-safe,
//!   use it as `Arc<dyn CredentialValidator>`).
//! * [`VipSoapValidator`] (cargo feature `http`): the adapter for the VIP
//!   Web Services SOAP `Validate(TokenId, OTP)` call over mutual TLS. The
//!   wire format is in [`soap`], with every name in a constant.
//! * `fake` (cargo feature `fake`, which implies `http`): a local fake of the
//!   service that speaks the same wire format, over plain HTTP or mutual TLS,
//!   for tests.
//!
//! # Cargo features
//!
//! * `http` (off by default): [`VipSoapValidator`] and its configuration
//!   ([`VipSoapConfig`], [`TlsPem`], [`VipConfigError`]), the [`soap`] wire
//!   format, and with them `reqwest`. Without it the crate is the
//!   [`CredentialValidator`] trait, [`RemoteVerdict`] and [`RemoteError`]:
//!   what code that only *uses* a validator needs (the application layer).
//!   Whoever builds the validator from configuration (the binary) enables
//!   it.
//! * `fake`: the local fake, for tests; implies `http`.
//!
//! # Constructing the validator from configuration
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use gatehouse_vip::{CredentialValidator, VipSoapConfig, VipSoapValidator};
//!
//! # fn main() -> Result<(), gatehouse_vip::VipConfigError> {
//! let config = VipSoapConfig {
//!     // VIP Web Services' validation endpoint: take the exact URL from the
//!     // vendor's onboarding material (host per DOMAIN.md §1; `/val/soap` is
//!     // the path public clients use). https is required except on loopback.
//!     endpoint: "https://services-auth.vip.symantec.com/val/soap".into(),
//!     // The VIP RA certificate (chain, PEM) and its private key (PEM:
//!     // PKCS#8, PKCS#1 or SEC1). Both or neither.
//!     client_cert: Some("/etc/gatehouse/vip-cert.pem".into()),
//!     client_key: Some("/etc/gatehouse/vip-key.pem".into()),
//!     // None: trust the system's roots. Some: trust ONLY these CAs.
//!     ca_bundle: None,
//!     // Whole-call limit: connect + TLS + request + response.
//!     timeout: Duration::from_secs(10),
//! };
//! let validator: Arc<dyn CredentialValidator> = Arc::new(VipSoapValidator::from_config(&config)?);
//! # Ok(()) }
//! ```
//!
//! The files are read once, at construction; a bad file, key or URL is a
//! [`VipConfigError`] at start-up rather than a failure at the first sign-in.
//! [`VipSoapValidator::from_pem`] takes the PEM bytes directly (secrets that
//! come from the environment, or test certificates).
//!
//! Then, in a handler:
//!
//! ```no_run
//! # use gatehouse_vip::{CredentialValidator, RemoteVerdict};
//! # async fn f(validator: &dyn CredentialValidator) {
//! match validator.validate("SYMC26070843", "123456").await {
//!     Ok(RemoteVerdict::Valid) => { /* accept; record the success */ }
//!     Ok(RemoteVerdict::Invalid | RemoteVerdict::UnknownCredential) => { /* "wrong code" */ }
//!     Ok(RemoteVerdict::Locked | RemoteVerdict::Disabled) => { /* tell the user to contact support */ }
//!     Err(e) => { /* log `e` for operators; tell the user to try again later */ }
//! }
//! # }
//! ```
//!
//! The adapter never logs the security code. It logs (with `tracing`) the
//! credential id, the request id, the vendor's reason code and the verdict.
//! One-time use and lockout are the vendor's business for these credentials;
//! Gatehouse may still count failures on its side.
//!
//! # Using the fake in tests
//!
//! In another crate: `gatehouse-vip = { workspace = true, features = ["fake"] }`
//! under `[dev-dependencies]`, then (inside a tokio runtime):
//!
//! ```ignore
//! use gatehouse_vip::fake::{FakeVip, FakeCredentialState};
//!
//! let vip = FakeVip::start().await;                // plain HTTP on 127.0.0.1:0
//! vip.add_credential("SYMC26070843", ["123456"]);   // each code is accepted once
//! let validator = vip.validator(Duration::from_secs(2));
//! assert_eq!(validator.validate("SYMC26070843", "123456").await?, RemoteVerdict::Valid);
//! vip.set_state("SYMC26070843", FakeCredentialState::Locked);
//! let sent = vip.requests();                        // bodies and headers, to assert on
//!
//! let vip = FakeVip::start_mutual_tls().await;      // throwaway CA, server and client certs
//! let validator = vip.validator(Duration::from_secs(2)); // https + client identity + CA
//! ```
//!
//! `FakeVip::url()` gives the endpoint to put in a `VipSoapConfig`;
//! `FakeVip::pki()` gives the PEM material of the mutual-TLS fake (write it
//! to files to test configuration loading). The fake answers with the
//! vendor's reason codes (each with its public source in the `fake` module's
//! docs and in [`soap::reason`]), locks a credential after 10 consecutive
//! failures (`set_max_failures`), and `set_behaviour` makes it slow,
//! malformed, fail with an HTTP status, answer a SOAP fault or answer any
//! reason code.

// The crate docs link the `http` adapter, which exists only with the feature.
#![cfg_attr(not(feature = "http"), allow(rustdoc::broken_intra_doc_links))]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

#[cfg(feature = "http")]
mod client;
#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "http")]
pub mod soap;

#[cfg(feature = "http")]
pub use client::{TlsPem, VipConfigError, VipSoapConfig, VipSoapValidator};

/// Asks a remote service whether a security code is right for a credential.
///
/// Object-safe: hold it as `Arc<dyn CredentialValidator>` in application
/// state and swap in a test double.
pub trait CredentialValidator: Send + Sync + 'static {
    /// Asks the validation service whether `code` is right for `credential_id` now.
    ///
    /// A verdict is the service's answer; an error means there is no answer
    /// (the service is unreachable, slow, or said something unexpected).
    fn validate<'a>(
        &'a self,
        credential_id: &'a str,
        code: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<RemoteVerdict, RemoteError>> + Send + 'a>>;
}

/// The service's answer about one security code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemoteVerdict {
    /// The code is right, now. (The vendor consumes it: it will not be
    /// accepted again.)
    Valid,
    /// The code is wrong, already used, or outside the validation window.
    Invalid,
    /// The credential is locked (too many failures); an administrator must
    /// unlock it.
    Locked,
    /// The credential cannot be used now: disabled (reported lost or
    /// stolen, or expired; a temporary security code may still work), new,
    /// inactive or otherwise in a bad state. An administrator must act.
    Disabled,
    /// The service does not know this credential id. Show the user the same
    /// message as for [`RemoteVerdict::Invalid`].
    UnknownCredential,
}

impl RemoteVerdict {
    /// A short lower-case name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::UnknownCredential => "unknown_credential",
        }
    }
}

impl std::fmt::Display for RemoteVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why there is no verdict. The `Display` text is for operators (logs); do
/// not show it to end users.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No connection (refused, unreachable, DNS).
    #[error("cannot connect to the validation service at {endpoint}: {detail}")]
    Connect {
        /// The configured endpoint.
        endpoint: String,
        /// The underlying error chain.
        detail: String,
    },
    /// The TLS handshake or session failed: the server's certificate is not
    /// trusted, or the server refused our client certificate.
    #[error(
        "TLS with the validation service at {endpoint} failed: {detail} \
         (check the client certificate and key, and the CA bundle)"
    )]
    Tls {
        /// The configured endpoint.
        endpoint: String,
        /// The TLS error.
        detail: String,
    },
    /// No complete answer within the configured timeout.
    #[error("the validation service at {endpoint} did not answer within {} ms", after.as_millis())]
    Timeout {
        /// The configured endpoint.
        endpoint: String,
        /// The configured timeout.
        after: Duration,
    },
    /// Another transport failure (connection reset, bad HTTP).
    #[error("the request to the validation service at {endpoint} failed: {detail}")]
    Transport {
        /// The configured endpoint.
        endpoint: String,
        /// The underlying error chain.
        detail: String,
    },
    /// An HTTP status other than 200 (and not a SOAP fault).
    #[error(
        "the validation service answered HTTP {status}, expected 200 with a SOAP ValidateResponse"
    )]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// The service answered with a SOAP fault (it could not process the call).
    #[error("the validation service returned a SOAP fault: {code}: {message}")]
    SoapFault {
        /// `faultcode`.
        code: String,
        /// `faultstring`.
        message: String,
    },
    /// The service answered with a reason code that is not a verdict about
    /// the code (unavailable, not authorised, unknown code); see
    /// [`soap::reason`].
    #[error("the validation service refused the request with reason code {code}: {message}")]
    Refused {
        /// The vendor's reason code, upper-case.
        code: String,
        /// The vendor's status message and detail.
        message: String,
    },
    /// The answer is not a `ValidateResponse` we can read.
    #[error("unexpected response from the validation service: {detail}")]
    UnexpectedResponse {
        /// What was wrong with it.
        detail: String,
    },
}
