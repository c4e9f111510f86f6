//! Twilio-compatible providers: the pieces the portal needs to serve a call,
//! request [`signature`]s (and [`WebhookVerifier`](signature::WebhookVerifier))
//! and [`twiml`], which have no HTTP client; and, with the cargo feature
//! `http`, `TwilioGateway`: text messages and calls through a
//! Twilio-compatible REST API (Twilio itself, or a provider that speaks the
//! same `2010-04-01/Accounts/{sid}/Messages.json` and `Calls.json` API).
//!
//! The account SID and a messaging service SID are checked against the
//! formats Twilio publishes (`^AC[0-9a-fA-F]{32}$`, `^MG[0-9a-fA-F]{32}$`)
//! when the gateway is built, so a mistyped SID stops start-up.
//!
//! # Repeats and lookups
//!
//! Twilio does not recognise a repeated create: the v2010 OpenAPI
//! definition (`twilio_api_v2010.yaml`) declares no header parameters for
//! creating a Message or a Call, and its only idempotency field,
//! `IdempotencyKey`, belongs to Payments and user-defined messages. Two
//! identical creates send two texts. So a create that times out or breaks
//! off after the request went out answers
//! [`DeliveryError::Unknown`](crate::DeliveryError::Unknown), and
//! [`Gateway::find_sent`](crate::Gateway::find_sent) reads the Messages or
//! Calls list to find out whether Twilio created it (see `TwilioGateway`'s
//! implementation notes).

#[cfg(feature = "http")]
mod gateway;
pub mod signature;
pub mod twiml;

#[cfg(feature = "http")]
pub use self::gateway::{
    API_VERSION, DEFAULT_BASE_URL, LOOKUP_PAGE_SIZE, TwilioConfig, TwilioGateway, TwilioWebhookKey,
};
