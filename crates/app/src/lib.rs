//! Gatehouse's application layer: the flows of the portal and what they
//! run on, with no HTTP in it. Every front end — the web pages and JSON API
//! (`gatehouse-web`), the command line, and protocol servers — is a thin
//! adapter over this crate.
//!
//! - [`service`]: the flows (sign-in, user administration, orders,
//!   credentials, PhoneFactor, billing, audit) with their permission checks
//!   and audit entries, each write in one transaction.
//! - [`AppState`] / [`AppConfig`]: the store, the clock, the configuration,
//!   the password-hashing pool.
//! - [`AppError`]: the one error type; front ends map it to their protocol.
//! - [`background`]: the jobs that must run beside any front end.

pub mod background;
pub mod error;
pub mod service;
mod state;

pub use error::{AppError, Result};

/// The records the services answer with, for front ends to show. Front
/// ends read and write only through [`service`]; these are views.
pub mod model {
    pub use gatehouse_store::accounts::Account;
    pub use gatehouse_store::audit::StoredEntry;
    pub use gatehouse_store::billing::Line;
    pub use gatehouse_store::credentials::Credential;
    pub use gatehouse_store::radius_clients::RadiusClient;
    pub use gatehouse_store::tokens::ApiToken;
    pub use gatehouse_store::{Scope, User};
}
/// The database the application runs on: the binary opens it (SQLite or
/// PostgreSQL, migrations applied) and hands it to [`AppState::new`].
pub use gatehouse_store::{Durability, Store};
pub use state::{AppConfig, AppState, DELIVERY_NOT_CONFIGURED, Delivery, DeliveryMode, Inner};

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3)
/// and `/`, for values placed in URLs and query strings.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
