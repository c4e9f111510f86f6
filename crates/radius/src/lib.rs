//! RADIUS front end: Access-Requests over UDP (RFC 2865) with the
//! Message-Authenticator of RFC 3579 §3.2, so that a VPN concentrator or
//! any other NAS can ask for the second factor.
//!
//! The crate speaks the protocol and decides nothing: every decision goes
//! to a [`Handler`], which says which [`Client`] (NAS) a source address is
//! and what to answer to each [`Request`]. [`serve`] runs the UDP loop:
//!
//! * datagrams from an address without a client, malformed packets, codes
//!   other than Access-Request, and packets whose Message-Authenticator is
//!   wrong (a wrong shared secret) or missing where the client requires it
//!   are dropped without an answer, each counted by reason in
//!   `gatehouse_radius_dropped_total{reason}`;
//! * each request is decided in its own task, and the handler may take as
//!   long as [`Client::timeout`] (a phone call); after that nothing is sent
//!   and the NAS times out;
//! * retransmissions (same source, Identifier and Request Authenticator)
//!   never reach the handler twice: dropped while the first is decided,
//!   answered with the same bytes once it is (RFC 5080 §2.2.2);
//! * every reply carries a Message-Authenticator, first among its
//!   attributes (the BlastRADIUS advice, CVE-2024-3596), and the
//!   Proxy-States of the request (RFC 2865 §5.33).
//!
//! Only PAP (User-Password) is unhidden; CHAP and EAP requests reach the
//! handler without a password.
//!
//! [`decode_request`] is the server's reading of one datagram (every check
//! above that needs no state) and [`encode_reply`] its writing of the
//! answer; they are public so that the fuzz targets (`fuzz/`) drive the
//! server's own code.
//!
//! [`client`] is a small RADIUS client for tests and benchmarks.
//!
//! # Cargo features
//!
//! * `app` (default): [`AppHandler`], the [`Handler`] that hands every
//!   decision to the application layer (`gatehouse-app`, and through it
//!   the store). Without it the crate is the protocol alone.
//!
//! # Metrics
//!
//! | name | labels | what |
//! |---|---|---|
//! | `gatehouse_radius_dropped_total` | `reason` | requests not answered: `unknown_client`, `malformed`, `unsupported_code`, `bad_authenticator`, `missing_message_authenticator`, `retransmission_in_progress`, `overloaded`, `timeout`, `reply_error`, `handler_failed` |
//! | `gatehouse_radius_replies_total` | `code` (`accept`, `reject`, `challenge`) | replies sent (first answers, not replays) |
//! | `gatehouse_radius_replayed_replies_total` | | cached replies sent again to a retransmission |
//! | `gatehouse_radius_handler_duration_seconds` | | how long the handler took to decide (answered requests) |

#[cfg(feature = "app")]
mod app;
mod authenticators;
mod cache;
pub mod client;
mod reply;
mod request;
mod server;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{SecretSlice, SecretString};

#[cfg(feature = "app")]
pub use app::AppHandler;
pub use reply::{ReplyError, encode_reply};
pub use request::{Discard, Incoming, ReplyTo, decode_request};
pub use server::serve;

/// A registered RADIUS client (NAS), as the application knows it.
pub struct Client {
    /// The application's id for it (for logs).
    pub id: i64,
    /// Its name (for logs).
    pub name: String,
    /// The shared secret (RFC 2865 §3). Never printed.
    pub secret: SecretSlice<u8>,
    /// Access-Requests without a valid Message-Authenticator are dropped
    /// (default true). Only old gear that cannot send one should have it
    /// false: without it a request is not authenticated at all.
    pub require_message_authenticator: bool,
    /// How long a held request (e.g. waiting for a phone call) may take
    /// before the server gives up answering. Set it below the NAS's own
    /// timeout, retries included, or nobody is left to read the answer.
    pub timeout: Duration,
    /// Class (RFC 2865 §5.25), added to every Access-Accept; 1 to 253 octets.
    pub class: Option<Vec<u8>>,
    /// Filter-Id (RFC 2865 §5.11), added to every Access-Accept; 1 to 253 octets.
    pub filter_id: Option<String>,
}

impl Client {
    /// How long a request may be held when nothing else is said.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A client with the defaults: Message-Authenticator required, a
    /// timeout of [`Client::DEFAULT_TIMEOUT`], no Class, no Filter-Id.
    pub fn new(id: i64, name: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            id,
            name: name.into(),
            secret: SecretSlice::from(secret.into()),
            require_message_authenticator: true,
            timeout: Self::DEFAULT_TIMEOUT,
            class: None,
            filter_id: None,
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("timeout", &self.timeout)
            .field("class", &self.class)
            .field("filter_id", &self.filter_id)
            .finish_non_exhaustive()
    }
}

/// An Access-Request, authenticated and decoded.
#[derive(Debug)]
pub struct Request {
    /// Where it came from (the NAS; the client was found by its address).
    pub source: SocketAddr,
    /// User-Name (RFC 2865 §5.1).
    pub user_name: String,
    /// PAP User-Password, unhidden with the client's secret (RFC 2865
    /// §5.2); `None` if absent. Octets that are not UTF-8 are replaced by
    /// U+FFFD, so a password garbled by a wrong secret (possible only when
    /// the client does not require a Message-Authenticator) fails to match
    /// instead of being dropped. Its `Debug` output is redacted.
    pub password: Option<SecretString>,
    /// State (RFC 2865 §5.24), as sent back from a previous Access-Challenge.
    pub state: Option<Vec<u8>>,
    /// NAS-IP-Address (RFC 2865 §5.4), else NAS-IPv6-Address (RFC 3162 §2.1).
    pub nas_ip_address: Option<IpAddr>,
    /// NAS-Identifier (RFC 2865 §5.32); octets that are not UTF-8 are
    /// replaced by U+FFFD.
    pub nas_identifier: Option<String>,
    /// Calling-Station-Id (RFC 2865 §5.31), e.g. the VPN user's address;
    /// octets that are not UTF-8 are replaced by U+FFFD.
    pub calling_station_id: Option<String>,
}

/// The decision on an Access-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Access-Accept; the client's Class and Filter-Id are added.
    Accept { message: String },
    /// Access-Reject.
    Reject { message: String },
    /// Access-Challenge: the NAS shows `message` and sends the user's
    /// answer back in a new Access-Request carrying `state` (1 to 253
    /// octets).
    Challenge { state: Vec<u8>, message: String },
}

/// The future of a decision: boxed, `Send`, owning what it uses.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

/// Decides for the server: which client a source address is, and what to
/// answer to each Access-Request.
pub trait Handler: Send + Sync + 'static {
    /// The client registered for this source address, if any (an in-memory
    /// lookup: it is called for every datagram, before anything else).
    fn client(&self, source: IpAddr) -> Option<Arc<Client>>;

    /// Decides an Access-Request. May take long (a phone call); the server
    /// stops waiting after `client.timeout` and then sends nothing (the
    /// future is dropped).
    fn access(&self, client: Arc<Client>, request: Request) -> ReplyFuture;
}
