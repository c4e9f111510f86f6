//! Delivery of out-of-band messages: text messages and phone calls through a
//! [`Gateway`], e-mail through a [`Mailer`].
//!
//! The portal never calls a gateway from a request handler: it writes the
//! message to a queue table in the same transaction as the challenge it
//! belongs to, and a worker hands it to the gateway (SPEC §3.2). A gateway
//! therefore gets an `idempotency_key` that stays the same if the worker
//! retries after a crash, and should pass it on where the provider supports
//! one.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that the traits stay object-safe (`Arc<dyn Gateway>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRequest {
    /// E.164, e.g. `+14155550123`.
    pub to: String,
    pub body: String,
    /// The same for every attempt at this message.
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
    /// capability): retrying will not help.
    #[error("refused: {0}")]
    Rejected(String),
    /// The provider could not be reached or failed for now: retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A text-message and voice provider.
pub trait Gateway: Send + Sync {
    /// A short name for logs and metrics (`twilio`, `http-sms`).
    fn name(&self) -> &'static str;
    fn send_sms<'a>(&'a self, req: &'a SmsRequest) -> BoxFuture<'a, Result<Sent, DeliveryError>>;
    /// Gateways that cannot call answer `Rejected`.
    fn place_call<'a>(&'a self, req: &'a CallRequest)
    -> BoxFuture<'a, Result<Sent, DeliveryError>>;
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
