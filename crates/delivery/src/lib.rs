//! Delivery of out-of-band messages: text messages and phone calls through a
//! [`Gateway`], e-mail through a [`Mailer`].
//!
//! The portal never calls a gateway from a request handler: it writes the
//! message to a queue table in the same transaction as the challenge it
//! belongs to, and a worker hands it to the gateway (SPEC §3.2).
//!
//! # At most one text or call per queued message
//!
//! No provider here promises to recognise a repeated request: Twilio's REST
//! API takes no idempotency token when a Message or Call is created (its
//! OpenAPI definition, `twilio_api_v2010.yaml`, declares no header
//! parameters for either create). A request that times out after the
//! provider accepted it has sent the text or placed the call, and sending it
//! again sends a second one. So a gateway says what it knows:
//!
//! * `Ok(Sent)`: accepted;
//! * [`DeliveryError::Rejected`]: refused for good, nothing was sent;
//! * [`DeliveryError::Unavailable`]: not sent; safe to try again later;
//! * [`DeliveryError::Unknown`]: the request may have reached the provider
//!   and nobody knows whether it acted. The worker does not send again
//!   blindly: it asks [`Gateway::find_sent`] first, and gives up (for a
//!   second factor, at most once beats at least once) when the gateway
//!   cannot look up what it sent.
//!
//! Each request carries our own reference for the message
//! ([`SmsRequest::idempotency_key`], the same on every attempt), for logs
//! and for gateways configured to pass it on; it is not a promise that the
//! provider ignores a repeat.

//!
//! # Adapters
//!
//! * [`TwilioGateway`] ([`twilio`], cargo feature `http`): text messages and
//!   calls through a Twilio-compatible REST API. The same module has, without
//!   the feature, what the portal needs to serve the call: [`WebhookVerifier`]
//!   (also [`TwilioGateway::verify_webhook`]) for the `X-Twilio-Signature` of
//!   webhooks, checked exactly as Twilio's official libraries check it (the
//!   URL with and without its port, `bodySHA256` for JSON bodies, SharedKey
//!   signatures in `HMAC_SHA1` or `HMAC_SHA256`; see
//!   [`twilio::signature`]), [`twilio_signature`] /
//!   [`verify_twilio_signature`] for the auth token alone, and
//!   [`gather_twiml`] / [`say_twiml`] to answer them (the keys pressed are
//!   read by the domain's `phonefactor::classify_keys`, as the virtual
//!   phone's are).
//! * [`HttpSmsGateway`] ([`http_sms`], cargo feature `http`): text messages
//!   through a generic HTTP SMS gateway, described by configuration (it
//!   cannot call).
//! * [`SmtpMailer`] and [`OutboxMailer`] ([`mail`]): e-mail through an SMTP
//!   relay, or as `.eml` files in a directory.
//! * `fake` (cargo feature `fake`, which implies `http`): local fakes of a
//!   Twilio-compatible API (which can also answer a call and press keys), of
//!   a generic SMS gateway and of an SMTP server, for tests.
//!
//! # Cargo features
//!
//! * `http` (off by default): the adapters that speak HTTP, [`TwilioGateway`]
//!   and [`HttpSmsGateway`], and with them `reqwest`. Without it the crate is
//!   the traits, the message and error types, webhook signatures, TwiML and
//!   the mailers: what code that only *uses* a [`Gateway`] needs (the
//!   application layer, the web front end). Whoever builds the gateways
//!   from configuration (the binary) enables it.
//! * `mail` (on by default): the mailers, [`SmtpMailer`] and
//!   [`OutboxMailer`], and with them `lettre` and its TLS stack. Without
//!   it (`default-features = false`, as the fuzz targets build the crate)
//!   the [`Mailer`] trait and [`Mail`] remain.
//! * `fake`: the local fakes, for tests; implies `http` and `mail`.
//!
//! # Configuration
//!
//! Each adapter has a `serde` configuration struct with
//! `deny_unknown_fields`, meant to be a table of the portal's TOML file; the
//! constructor checks it and answers a [`ConfigError`] naming the setting, so
//! a mistake stops start-up instead of the first sign-in. Secrets are
//! [`secrecy::SecretString`]s: they never appear in `Debug` output or logs.
//!
//! ```toml
//! [twilio]                           # -> TwilioConfig -> TwilioGateway::new
//! account_sid = "AC0123456789abcdef0123456789abcdef"  # AC + 32 hex digits
//! auth_token = "…"                   # also checks webhook signatures
//! from = "+14155550100"              # or a messaging service SID, MG + 32 hex digits
//! # call_from = "+14155550100"       # needed for calls when `from` is "MG…"
//! # base_url = "https://api.twilio.com"   # https, or http on loopback only
//! # timeout_secs = 15
//! # SharedKeys that webhooks may be signed with instead of the auth token
//! # (X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=…):
//! # webhook_keys = [{ id = "…", secret = "…" }]
//!
//! [http_sms]                         # -> HttpSmsConfig -> HttpSmsGateway::new
//! url = "https://sms.example.net/send"
//! method = "GET"
//! params = [{ name = "to", value = "{to_digits}" }, { name = "text", value = "{body}" }]
//! # see the `http_sms` module for encodings, auth and placeholders
//!
//! [smtp]                             # -> SmtpConfig -> SmtpMailer::new
//! host = "smtp.example.com"
//! from = "Gatehouse <no-reply@example.com>"
//! tls = "starttls"                   # "none" | "starttls" (default) | "tls"
//! # port = 587                       # default by `tls`: 25, 587, 465
//! # username = "gatehouse"
//! # password = "…"
//! # timeout_secs = 30
//! ```
//!
//! Without an SMTP table, use [`OutboxMailer::new`] with a directory (for
//! example `{data_dir}/outbox`) and [`DEFAULT_OUTBOX_FROM`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use gatehouse_delivery::{Gateway, TwilioConfig, TwilioGateway};
//!
//! # fn main() -> Result<(), gatehouse_delivery::ConfigError> {
//! let config = TwilioConfig::new("AC0123456789abcdef0123456789abcdef", "token", "+14155550100");
//! let gateway: Arc<dyn Gateway> = Arc::new(TwilioGateway::new(&config)?);
//! # Ok(()) }
//! ```
//!
//! # What is logged
//!
//! Gateways log (with `tracing`) the gateway, the kind, the destination
//! number with its middle digits masked, our reference for the message, the
//! provider's reference and the time taken; never a message text (only its
//! length), an auth token or a password.

// The crate docs link the `http` adapters and the mailers, which exist only
// with their features.
#![cfg_attr(
    not(all(feature = "http", feature = "mail")),
    allow(rustdoc::broken_intra_doc_links)
)]

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "http")]
pub mod http_sms;
#[cfg(feature = "mail")]
pub mod mail;
pub mod twilio;

#[cfg(feature = "http")]
mod http;

#[cfg(feature = "fake")]
pub mod fake;

#[cfg(feature = "http")]
pub use http_sms::{
    HttpSmsAuth, HttpSmsConfig, HttpSmsEncoding, HttpSmsGateway, HttpSmsMethod, HttpSmsParam,
};
#[cfg(feature = "mail")]
pub use mail::{DEFAULT_OUTBOX_FROM, OutboxMailer, SmtpConfig, SmtpMailer, SmtpTls};
pub use twilio::signature::{
    SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureAlgorithm, WebhookBody, WebhookVerifier,
    compute_signature, twilio_signature, validate_signature, verify_twilio_signature,
};
pub use twilio::twiml::{GatherOptions, TWIML_CONTENT_TYPE, gather_twiml, say_twiml};
#[cfg(feature = "http")]
pub use twilio::{TwilioConfig, TwilioGateway, TwilioWebhookKey};

/// A boxed future, so that the traits stay object-safe (`Arc<dyn Gateway>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRequest {
    /// E.164, e.g. `+14155550123`.
    pub to: String,
    pub body: String,
    /// Our reference for this message, the same on every attempt (for logs,
    /// and the `{id}` placeholder of the HTTP SMS gateway). Providers are
    /// not assumed to recognise a repeat by it: see the [crate docs](crate).
    pub idempotency_key: String,
    /// Where the provider should report the delivery status, if anywhere.
    pub status_callback: Option<String>,
}

/// A phone call to place. What the call says and which keys it gathers is
/// served by the portal at `instructions_url` (TwiML for Twilio-compatible
/// providers); `prompt` is the same text for gateways and logs that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    pub to: String,
    pub prompt: String,
    pub instructions_url: String,
    /// Our reference for this call, as [`SmsRequest::idempotency_key`].
    pub idempotency_key: String,
    pub status_callback: Option<String>,
}

/// What the provider answered to an accepted message or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for it (Twilio's `SM…`/`CA…` sid), for status
    /// callbacks and support requests.
    pub provider_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The provider refused this message for good (bad number, no such
    /// capability): nothing was sent and retrying will not help.
    #[error("refused: {0}")]
    Rejected(String),
    /// Nothing was sent: the provider could not be reached (the connection
    /// was never made) or said "not now" (HTTP 503, 429). Retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request may have reached the provider and whether it sent the
    /// text or placed the call is not known: a timeout or a broken
    /// connection after the request went out, an HTTP 5xx other than 503, an
    /// acceptance without a readable answer. Sending again may send twice:
    /// look it up with [`Gateway::find_sent`] first.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Which resource a [`Lookup`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Sms,
    Call,
}

/// What is known about a message or call whose outcome is unknown, for
/// [`Gateway::find_sent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub kind: LookupKind,
    /// The number it was sent to (E.164).
    pub to: String,
    /// Texts: the exact text sent (a one-time code makes it unique). Calls:
    /// unused (a provider does not report what a call said).
    pub body: String,
    /// When the earliest attempt whose outcome is unknown started, on our
    /// clock. Gateways allow for a small skew between clocks.
    pub since: gatehouse_domain::Timestamp,
    /// Until when attempts may have been made (the time of the lookup).
    pub until: gatehouse_domain::Timestamp,
    /// Provider references already recorded for other queued messages to
    /// the same number: they are never the answer (two calls to one number
    /// look alike).
    pub exclude: Vec<String>,
}

/// A text-message and voice provider.
pub trait Gateway: Send + Sync {
    /// A short name for logs and metrics (`twilio`, `http-sms`).
    fn name(&self) -> &'static str;
    /// The longest one request to the provider may take (its configured
    /// timeout). The delivery worker reserves a message for longer than
    /// this, so a send still in flight is never looked up or taken over.
    fn request_timeout(&self) -> std::time::Duration;
    fn send_sms<'a>(&'a self, req: &'a SmsRequest) -> BoxFuture<'a, Result<Sent, DeliveryError>>;
    /// Gateways that cannot call answer `Rejected`.
    fn place_call<'a>(&'a self, req: &'a CallRequest)
    -> BoxFuture<'a, Result<Sent, DeliveryError>>;
    /// Looks for a message or call that an attempt with an unknown outcome
    /// may have created: `Ok(Some(_))` it exists (do not send again),
    /// `Ok(None)` it does not (sending is safe), `Unavailable`/`Unknown`
    /// the lookup failed for now (try again later), `Rejected` the gateway
    /// cannot look up, which is the default: the caller must then assume it
    /// may have been sent.
    fn find_sent<'a>(
        &'a self,
        _lookup: &'a Lookup,
    ) -> BoxFuture<'a, Result<Option<Sent>, DeliveryError>> {
        let name = self.name();
        Box::pin(async move {
            Err(DeliveryError::Rejected(format!(
                "the {name} gateway cannot look up what it sent"
            )))
        })
    }
}

/// An e-mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Sends e-mail (administrators' fraud notices, users' deactivation notices).
pub trait Mailer: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// A setting that an adapter cannot work with. The message names the
/// setting (`twilio.from`) and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery setting `{setting}`: {reason}")]
pub struct ConfigError {
    /// The setting, as `table.key`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// A phone number for logs: the first four and last two characters, the
/// rest masked (`+141******23`). Short values are masked entirely.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let (head, tail) = (4, 2);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= chars.len() - tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked() {
        assert_eq!(mask_number("+14155550123"), "+141******23");
        assert_eq!(mask_number("+1234"), "*****");
    }
}
