//! [`FakeTwilio`]: the Messages and Calls resources of a Twilio-compatible
//! API, and a caller that answers calls.
//!
//! What it models of Twilio, in the vendor's words where they matter (the
//! v2010 OpenAPI definition, `twilio_api_v2010.yaml` of twilio/twilio-oai):
//!
//! * **No replay of a repeated create.** "Send a message" (`POST
//!   …/Messages.json`) and "Create a new outgoing call to phones,
//!   SIP-enabled endpoints or Twilio Client connections" (`POST
//!   …/Calls.json`) declare one parameter besides the form body, the
//!   `AccountSid` path, and no header parameters at all. The definition's
//!   only idempotency field is `IdempotencyKey` of Payments (and of
//!   user-defined messages): "A unique token that will be used to ensure
//!   that multiple API calls with the same information do not result in
//!   multiple transactions". Nothing of the kind exists for texts or calls,
//!   so two identical creates make two messages here, as there.
//! * **Lists.** "Retrieve a list of Message resources associated with a
//!   Twilio Account" and "Retrieves a collection of calls made to and from
//!   your account" (`GET …/Messages.json`, `GET …/Calls.json`), with the
//!   filters `To` ("Filter by recipient"; "Only show calls made to this
//!   phone number…"), `From` ("Filter by sender"; "Only include calls from
//!   this phone number…") and `PageSize` ("The default is 50, and the
//!   maximum is 1000"), `Page`, and the answer `{"messages": […]}` or
//!   `{"calls": […]}` with `page`, `page_size`, `next_page_uri`, …. The
//!   definition states no order; the fake answers newest first, as Twilio
//!   does.
//! * **Dates.** `date_created`: "The RFC 2822 timestamp (in GMT) of when
//!   the Message resource was created" (`Tue, 06 Dec 2026 07:30:00 +0000`),
//!   from the fake's clock ([`FakeTwilio::set_clock`]). `date_sent`: "For an
//!   outgoing message, this is when Twilio sent the message", so `null` for
//!   a message still `queued`; a call's `start_time` is "Empty if the call
//!   has not yet been dialed".
//! * **Accepted, then no answer.** [`FakeTwilio::set_stall_after_accept`]
//!   and [`FakeTwilio::set_drop_after_accept`]: the create is recorded (the
//!   text is sent) and only then does the answer stall past the client's
//!   timeout or the connection break, as when a network or proxy fails
//!   after Twilio acted.

mod caller;
mod lists;
mod resources;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use gatehouse_domain::{Clock, SystemClock, Timestamp};
use tokio::task::JoinHandle;

use self::lists::{list_calls, list_messages};
use self::resources::{create_call, create_message};
use super::{lock, random_hex, serve};
use crate::twilio::{API_VERSION, TwilioConfig, TwilioGateway};

pub use self::caller::{AnsweredCall, FakeCallError, GatherAction};

/// A text message the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMessage {
    /// `SM…`
    pub sid: String,
    pub to: String,
    /// `From`, when sent from a number.
    pub from: Option<String>,
    /// `MessagingServiceSid`, when sent through a messaging service.
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
    /// `queued` when created; the last status reported with
    /// [`FakeTwilio::report_message_status`].
    pub status: String,
    /// When it was created, by the fake's clock.
    pub date_created: Timestamp,
    /// Every form parameter, in the order sent.
    pub params: Vec<(String, String)>,
}

/// A call the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCall {
    /// `CA…`
    pub sid: String,
    pub to: String,
    pub from: String,
    /// `Url`: where the call's instructions (TwiML) are fetched.
    pub url: String,
    /// `Method` for `Url` (default POST).
    pub method: Option<String>,
    pub status_callback: Option<String>,
    /// `queued` when created; the last status reported with
    /// [`FakeTwilio::report_call_status`].
    pub status: String,
    /// When it was created, by the fake's clock.
    pub date_created: Timestamp,
    pub params: Vec<(String, String)>,
}

struct Shared {
    account_sid: String,
    auth_token: String,
    state: Mutex<FakeState>,
}

struct FakeState {
    messages: Vec<FakeMessage>,
    calls: Vec<FakeCall>,
    /// Number -> (HTTP status, Twilio code, message).
    number_errors: std::collections::HashMap<String, (u16, i64, String)>,
    failure: Option<u16>,
    stall_after_accept: Option<Duration>,
    drop_after_accept: bool,
    request_count: usize,
    list_count: usize,
    clock: Arc<dyn Clock>,
}

impl Default for FakeState {
    fn default() -> Self {
        Self {
            messages: Vec::new(),
            calls: Vec::new(),
            number_errors: std::collections::HashMap::new(),
            failure: None,
            stall_after_accept: None,
            drop_after_accept: false,
            request_count: 0,
            list_count: 0,
            clock: Arc::new(SystemClock),
        }
    }
}

/// A local fake of a Twilio-compatible API. See the [module docs](super).
pub struct FakeTwilio {
    base_url: String,
    shared: Arc<Shared>,
    http: reqwest::Client,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for FakeTwilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTwilio")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.shared.account_sid)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTwilio {
    /// Starts the fake with a random account SID and auth token. Needs a
    /// tokio runtime.
    pub async fn start() -> Self {
        Self::start_with(&format!("AC{}", random_hex(16)), &random_hex(16)).await
    }

    /// Starts the fake with these credentials.
    pub async fn start_with(account_sid: &str, auth_token: &str) -> Self {
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            state: Mutex::default(),
        });
        let router = Router::new()
            .route(
                &format!("/{API_VERSION}/Accounts/{{sid}}/Messages.json"),
                post(create_message).get(list_messages),
            )
            .route(
                &format!("/{API_VERSION}/Accounts/{{sid}}/Calls.json"),
                post(create_call).get(list_calls),
            )
            .with_state(shared.clone());
        let (addr, server) = serve(router).await;
        Self {
            base_url: format!("http://{addr}"),
            shared,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            server,
        }
    }

    /// The API base URL (`http://127.0.0.1:PORT`), for `TwilioConfig::base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    /// The auth token: the portal needs it to check the signatures of the
    /// requests [`Self::answer_call`] makes.
    pub fn auth_token(&self) -> &str {
        &self.shared.auth_token
    }

    /// A configuration aimed at this fake, sending from `from`.
    pub fn config(&self, from: &str) -> TwilioConfig {
        let mut c = TwilioConfig::new(self.account_sid(), self.auth_token(), from);
        c.base_url = self.base_url.clone();
        c.timeout_secs = 5;
        c
    }

    /// A gateway aimed at this fake. Panics on a bad `from` (a test bug).
    pub fn gateway(&self, from: &str) -> TwilioGateway {
        match TwilioGateway::new(&self.config(from)) {
            Ok(g) => g,
            Err(e) => panic!("fake Twilio gateway: {e}"),
        }
    }

    /// Messages and calls to `number` fail with Twilio's 21211 "not a
    /// valid phone number" (HTTP 400).
    pub fn set_bad_number(&self, number: &str) {
        self.set_number_error(
            number,
            400,
            21211,
            &format!("The 'To' number {number} is not a valid phone number."),
        );
    }

    /// Messages and calls to `number` fail with this status, code and
    /// message (e.g. 400, 21610, "Attempt to send to unsubscribed recipient").
    pub fn set_number_error(&self, number: &str, status: u16, code: i64, message: &str) {
        lock(&self.shared.state)
            .number_errors
            .insert(number.to_owned(), (status, code, message.to_owned()));
    }

    /// Every create request answers this HTTP status with a Twilio error
    /// body (e.g. 503), until set back to `None`.
    pub fn set_failure(&self, status: Option<u16>) {
        lock(&self.shared.state).failure = status;
    }

    /// Create requests are accepted (the text is sent, the call placed) and
    /// only then answered, after this long: longer than the client's
    /// timeout, it gives up without knowing. `None` answers at once.
    pub fn set_stall_after_accept(&self, stall: Option<Duration>) {
        lock(&self.shared.state).stall_after_accept = stall;
    }

    /// Create requests are accepted and then the connection breaks before
    /// the answer is complete.
    pub fn set_drop_after_accept(&self, drop: bool) {
        lock(&self.shared.state).drop_after_accept = drop;
    }

    /// The clock of `date_created` (default: the system clock), e.g. the
    /// portal's test clock so that lookups and records agree.
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        lock(&self.shared.state).clock = clock;
    }

    /// The messages accepted, in order. Every accepted create adds one,
    /// repeats included.
    pub fn messages(&self) -> Vec<FakeMessage> {
        lock(&self.shared.state).messages.clone()
    }

    /// The calls accepted, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.shared.state).calls.clone()
    }

    /// How many create requests arrived (refused ones included).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.state).request_count
    }

    /// How many list requests (lookups) arrived.
    pub fn list_count(&self) -> usize {
        lock(&self.shared.state).list_count
    }
}
