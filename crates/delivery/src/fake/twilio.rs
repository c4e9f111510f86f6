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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use gatehouse_domain::{Clock, SystemClock, Timestamp};
use quick_xml::events::Event;
use serde_json::json;
use tokio::task::JoinHandle;

use super::{lock, random_hex, serve};
use crate::http::is_e164;
use crate::twilio::signature::{SIGNATURE_HEADER, form_pairs, twilio_signature};
use crate::twilio::{API_VERSION, TwilioConfig, TwilioGateway};

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

/// What happened when the fake answered a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsweredCall {
    /// HTTP status of the instructions request.
    pub instructions_status: u16,
    /// The TwiML it answered.
    pub instructions: String,
    /// The Gather action request, if the keys led to one (no keys before
    /// the timeout, or TwiML without a `<Gather>`, means none).
    pub action: Option<GatherAction>,
    /// When the Gather ended without an action request: the text of the
    /// `<Say>` verbs after it, which Twilio goes on to ("By default, if
    /// `<Gather>` times out while waiting for DTMF input, it will continue on
    /// to the next TwiML instruction").
    pub fell_through_to: Vec<String>,
}

impl AnsweredCall {
    /// The status of the last request the fake made for the call: the
    /// Gather action's if there was one, else the instructions'.
    pub fn status(&self) -> u16 {
        self.action
            .as_ref()
            .map_or(self.instructions_status, |a| a.status)
    }
}

/// The Gather action request of an answered call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherAction {
    /// The absolute URL posted to.
    pub url: String,
    /// The `Digits` posted (without the finish key, if one ended the input).
    pub digits: String,
    /// The `FinishedOnKey` posted (`""` when input ended otherwise).
    pub finished_on_key: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Its body (TwiML).
    pub body: String,
}

/// Why [`FakeTwilio::answer_call`] could not play the call through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fake call: {0}")]
pub struct FakeCallError(pub String);

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

    /// Plays a person answering the call `call_sid` and pressing `keys`, as
    /// Twilio's `<Gather>` reference describes it:
    ///
    /// 1. POSTs the call's instructions URL with the parameters Twilio sends
    ///    (`CallSid`, `From`, `To`, `CallStatus=in-progress`, …), signed with
    ///    `X-Twilio-Signature`;
    /// 2. reads the first `<Gather>` of the TwiML answer (attributes
    ///    `action`, `method`, `finishOnKey` default `#`, `numDigits`,
    ///    `actionOnEmptyResult`);
    /// 3. types `keys`, e.g. `"#"` or `"0#"`, then stays silent:
    ///    * the finish key ends the input and is left out of `Digits` — but
    ///      "finishOnKey only works when a digit sequence precedes it. It
    ///      cannot be used as a mechanism to stop a `<Gather>` without
    ///      previous digit input": pressed first, it is ignored;
    ///    * with `finishOnKey=""` "no key will end the `<Gather>`": every
    ///      key, `#` included, is collected;
    ///    * after `numDigits` keys the input is submitted at once;
    ///    * the silence after the last key is the timeout: what was
    ///      collected is submitted; with nothing collected there is no
    ///      action request ("if `<Gather>` times out while waiting for DTMF
    ///      input, it will continue on to the next TwiML instruction") unless
    ///      `actionOnEmptyResult="true"`;
    /// 4. POSTs the Gather action (relative URLs resolved against the
    ///    instructions URL; default: the instructions URL) with `Digits` and
    ///    `FinishedOnKey`, signed.
    pub async fn answer_call(
        &self,
        call_sid: &str,
        keys: &str,
    ) -> Result<AnsweredCall, FakeCallError> {
        let call = self
            .calls()
            .into_iter()
            .find(|c| c.sid == call_sid)
            .ok_or_else(|| FakeCallError(format!("no call {call_sid}")))?;
        if call
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        {
            return Err(FakeCallError(
                "the fake fetches call instructions with POST only".to_owned(),
            ));
        }
        let base = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("CallSid".to_owned(), call.sid.clone()),
            ("CallStatus".to_owned(), "in-progress".to_owned()),
            ("Called".to_owned(), call.to.clone()),
            ("Caller".to_owned(), call.from.clone()),
            ("Direction".to_owned(), "outbound-api".to_owned()),
            ("From".to_owned(), call.from.clone()),
            ("To".to_owned(), call.to.clone()),
        ];
        let (instructions_status, instructions) = self.signed_post(&call.url, &base).await?;
        let mut answered = AnsweredCall {
            instructions_status,
            instructions,
            action: None,
            fell_through_to: Vec::new(),
        };
        if !(200..300).contains(&instructions_status) {
            return Ok(answered);
        }
        let Some(gather) = first_gather(&answered.instructions)? else {
            return Ok(answered);
        };
        if gather
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        {
            return Err(FakeCallError(
                "the fake posts Gather actions with POST only".to_owned(),
            ));
        }
        let (digits, finished_on_key) = gather.collect(keys)?;
        if digits.is_empty() && !gather.action_on_empty_result {
            answered.fell_through_to = says_after_gather(&answered.instructions)?;
            return Ok(answered);
        }
        let instructions_url = reqwest::Url::parse(&call.url)
            .map_err(|e| FakeCallError(format!("instructions URL {}: {e}", call.url)))?;
        let action_url = match gather.action.as_deref() {
            Some(a) if !a.is_empty() => instructions_url
                .join(a)
                .map_err(|e| FakeCallError(format!("Gather action {a:?}: {e}")))?
                .to_string(),
            _ => call.url.clone(),
        };
        let mut params = base;
        params.push(("Digits".to_owned(), digits.clone()));
        params.push(("FinishedOnKey".to_owned(), finished_on_key.clone()));
        let (status, body) = self.signed_post(&action_url, &params).await?;
        answered.action = Some(GatherAction {
            url: action_url,
            digits,
            finished_on_key,
            status,
            body,
        });
        Ok(answered)
    }

    /// POSTs the message's status callback (`MessageSid`, `MessageStatus`,
    /// e.g. `delivered`, `undelivered`), signed. Answers the HTTP status.
    pub async fn report_message_status(
        &self,
        message_sid: &str,
        status: &str,
    ) -> Result<u16, FakeCallError> {
        let m = self
            .messages()
            .into_iter()
            .find(|m| m.sid == message_sid)
            .ok_or_else(|| FakeCallError(format!("no message {message_sid}")))?;
        let url = m
            .status_callback
            .ok_or_else(|| FakeCallError(format!("message {message_sid} has no StatusCallback")))?;
        if let Some(stored) = lock(&self.shared.state)
            .messages
            .iter_mut()
            .find(|x| x.sid == message_sid)
        {
            stored.status = status.to_owned();
        }
        let params = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("From".to_owned(), m.from.unwrap_or_default()),
            ("MessageSid".to_owned(), m.sid.clone()),
            ("MessageStatus".to_owned(), status.to_owned()),
            ("SmsSid".to_owned(), m.sid),
            ("SmsStatus".to_owned(), status.to_owned()),
            ("To".to_owned(), m.to),
        ];
        Ok(self.signed_post(&url, &params).await?.0)
    }

    /// POSTs the call's status callback (`CallSid`, `CallStatus`, e.g.
    /// `completed`, `no-answer`, `busy`), signed. Answers the HTTP status.
    pub async fn report_call_status(
        &self,
        call_sid: &str,
        status: &str,
    ) -> Result<u16, FakeCallError> {
        let c = self
            .calls()
            .into_iter()
            .find(|c| c.sid == call_sid)
            .ok_or_else(|| FakeCallError(format!("no call {call_sid}")))?;
        let url = c
            .status_callback
            .ok_or_else(|| FakeCallError(format!("call {call_sid} has no StatusCallback")))?;
        if let Some(stored) = lock(&self.shared.state)
            .calls
            .iter_mut()
            .find(|x| x.sid == call_sid)
        {
            stored.status = status.to_owned();
        }
        let params = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("CallSid".to_owned(), c.sid),
            ("CallStatus".to_owned(), status.to_owned()),
            ("Direction".to_owned(), "outbound-api".to_owned()),
            ("From".to_owned(), c.from),
            ("To".to_owned(), c.to),
        ];
        Ok(self.signed_post(&url, &params).await?.0)
    }

    async fn signed_post(
        &self,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), FakeCallError> {
        let signature = twilio_signature(&self.shared.auth_token, url, params);
        let response = self
            .http
            .post(url)
            .header(SIGNATURE_HEADER, signature)
            .form(params)
            .send()
            .await
            .map_err(|e| FakeCallError(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| FakeCallError(format!("POST {url}: {e}")))?;
        Ok((status, body))
    }
}

struct Gather {
    action: Option<String>,
    method: Option<String>,
    /// `finishOnKey` as written; `None` when absent (Twilio's default `#`).
    finish_on_key: Option<String>,
    num_digits: Option<usize>,
    action_on_empty_result: bool,
}

impl Gather {
    /// The keys Twilio would post for a person who types `keys` and then
    /// stays silent: (`Digits`, `FinishedOnKey`). See
    /// [`FakeTwilio::answer_call`].
    fn collect(&self, keys: &str) -> Result<(String, String), FakeCallError> {
        // "finishOnKey: 0-9, #, *, and '' (the empty string)"; default "#".
        let finish = match self.finish_on_key.as_deref() {
            None => Some('#'),
            Some("") => None,
            Some(k) => {
                let mut chars = k.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_digit() || c == '#' || c == '*' => Some(c),
                    // Twilio warning 13310: "The value of the finishOnKey
                    // attribute must be one of the following characters
                    // \"0123456789#*\"".
                    _ => {
                        return Err(FakeCallError(format!(
                            "Gather: invalid finishOnKey value {k:?} (Twilio warning 13310)"
                        )));
                    }
                }
            }
        };
        let mut digits = String::new();
        for c in keys.chars() {
            if Some(c) == finish {
                if digits.is_empty() {
                    // "finishOnKey only works when a digit sequence precedes
                    // it": ignored, the Gather goes on waiting.
                    continue;
                }
                return Ok((digits, c.to_string()));
            }
            digits.push(c);
            if self.num_digits.is_some_and(|n| digits.chars().count() >= n) {
                break;
            }
        }
        Ok((digits, String::new()))
    }
}

fn first_gather(twiml: &str) -> Result<Option<Gather>, FakeCallError> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| FakeCallError(format!("the instructions are not XML: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Gather" => {
                let mut gather = Gather {
                    action: None,
                    method: None,
                    finish_on_key: None,
                    num_digits: None,
                    action_on_empty_result: false,
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| FakeCallError(format!("bad attribute: {e}")))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| FakeCallError(format!("bad attribute: {e}")))?
                        .into_owned();
                    match a.key.local_name().as_ref() {
                        "action" => gather.action = Some(value),
                        "method" => gather.method = Some(value),
                        "finishOnKey" => gather.finish_on_key = Some(value),
                        "numDigits" => gather.num_digits = value.parse().ok(),
                        "actionOnEmptyResult" => {
                            gather.action_on_empty_result = value.eq_ignore_ascii_case("true");
                        }
                        _ => {}
                    }
                }
                return Ok(Some(gather));
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// The text of the `<Say>` verbs that follow the first `<Gather>` (what the
/// call goes on to when the Gather ends without an action request).
fn says_after_gather(twiml: &str) -> Result<Vec<String>, FakeCallError> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut depth_in_gather = 0usize;
    let mut after = false;
    let mut in_say = false;
    let mut said = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| FakeCallError(format!("the instructions are not XML: {e}")))?;
        match event {
            Event::Start(e) if e.local_name().as_ref() == "Gather" => depth_in_gather += 1,
            Event::End(e) if e.local_name().as_ref() == "Gather" => {
                depth_in_gather = depth_in_gather.saturating_sub(1);
                after = true;
            }
            Event::Empty(e) if e.local_name().as_ref() == "Gather" => after = true,
            Event::Start(e)
                if after && depth_in_gather == 0 && e.local_name().as_ref() == "Say" =>
            {
                in_say = true;
                said.push(String::new());
            }
            Event::End(e) if e.local_name().as_ref() == "Say" => in_say = false,
            Event::Text(t) if in_say => {
                if let Some(last) = said.last_mut() {
                    last.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_say => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|e| FakeCallError(format!("bad reference: {e}")))?
                {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| FakeCallError(format!("unknown entity &{};", &*r)))?
                        .to_owned(),
                };
                if let Some(last) = said.last_mut() {
                    last.push_str(&resolved);
                }
            }
            Event::Eof => return Ok(said),
            _ => {}
        }
    }
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn authorized(shared: &Shared, sid: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = BASE64.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", shared.account_sid, shared.auth_token);
    sid == shared.account_sid && decoded == expected.as_bytes()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A create request that passed the checks both resources share: its form
/// parameters and the time of creation.
type Admitted = (Vec<(String, String)>, Timestamp);

/// The checks both resources share; `Err` is the answer to send.
fn admit(
    shared: &Shared,
    sid: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Admitted, Box<Response>> {
    let mut state = lock(&shared.state);
    state.request_count += 1;
    if !authorized(shared, sid, headers) {
        return Err(Box::new(twilio_error(401, 20003, "Authenticate")));
    }
    if let Some(status) = state.failure {
        return Err(Box::new(twilio_error(
            status,
            20500,
            "Internal Server Error",
        )));
    }
    // No idempotency header is read: Twilio defines none for these creates
    // (see the module docs), so a repeat is a new message.
    let params = form_pairs(body);
    let to = param(&params, "To").unwrap_or_default();
    if to.is_empty() {
        return Err(Box::new(twilio_error(
            400,
            21604,
            "A 'To' phone number is required.",
        )));
    }
    if let Some((status, code, message)) = state.number_errors.get(to) {
        return Err(Box::new(twilio_error(*status, *code, message)));
    }
    if !is_e164(to) {
        return Err(Box::new(twilio_error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        )));
    }
    Ok((params, state.clock.now()))
}

/// `date_created` and friends: RFC 2822 with a two-digit day and `+0000`,
/// as Twilio writes them (`Tue, 06 Dec 2026 07:30:00 +0000`).
fn rfc2822(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.millis()) {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        Err(_) => String::new(),
    }
}

fn message_json(account_sid: &str, m: &FakeMessage) -> serde_json::Value {
    let created = rfc2822(m.date_created);
    json!({
        "sid": m.sid,
        "account_sid": account_sid,
        "to": m.to,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "body": m.body,
        "status": m.status,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "num_segments": "1",
        "num_media": "0",
        "price": null,
        "price_unit": null,
        "error_code": null,
        "error_message": null,
        "date_created": created,
        "date_updated": created,
        // "For an outgoing message, this is when Twilio sent the message":
        // the fake never sends a queued one on its own.
        "date_sent": if m.status == "queued" { serde_json::Value::Null } else { json!(created) },
        "uri": format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{}.json", m.sid),
    })
}

fn call_json(account_sid: &str, c: &FakeCall) -> serde_json::Value {
    let created = rfc2822(c.date_created);
    json!({
        "sid": c.sid,
        "account_sid": account_sid,
        "to": c.to,
        "from": c.from,
        "status": c.status,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": created,
        "date_updated": created,
        // "Empty if the call has not yet been dialed."
        "start_time": null,
        "end_time": null,
        "uri": format!("/{API_VERSION}/Accounts/{account_sid}/Calls/{}.json", c.sid),
    })
}

/// The answer to an accepted create: at once, after the configured stall,
/// or a body that breaks off (the connection is cut after the headers).
async fn accepted(shared: &Shared, answer: serde_json::Value) -> Response {
    let (stall, drop) = {
        let state = lock(&shared.state);
        (state.stall_after_accept, state.drop_after_accept)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    if drop {
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the fake cut the connection after accepting",
            ))
        });
        return (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            axum::body::Body::from_stream(broken),
        )
            .into_response();
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, now) = match admit(&shared, &sid, &headers, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let from = param(&params, "From").map(str::to_owned);
    let service = param(&params, "MessagingServiceSid").map(str::to_owned);
    if from.is_none() && service.is_none() {
        return twilio_error(
            400,
            21603,
            "A 'From' phone number or a MessagingServiceSid is required.",
        );
    }
    let Some(text) = param(&params, "Body").map(str::to_owned) else {
        return twilio_error(400, 21602, "Message body is required.");
    };
    let message = FakeMessage {
        sid: format!("SM{}", random_hex(16)),
        to: param(&params, "To").unwrap_or_default().to_owned(),
        from,
        messaging_service_sid: service,
        body: text,
        status_callback: param(&params, "StatusCallback").map(str::to_owned),
        status: "queued".to_owned(),
        date_created: now,
        params: params.clone(),
    };
    let answer = message_json(&shared.account_sid, &message);
    lock(&shared.state).messages.push(message);
    accepted(&shared, answer).await
}

async fn create_call(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, now) = match admit(&shared, &sid, &headers, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(from) = param(&params, "From").map(str::to_owned) else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let Some(url) = param(&params, "Url").map(str::to_owned) else {
        return twilio_error(400, 21205, "Url parameter is required.");
    };
    if reqwest::Url::parse(&url).is_err() {
        return twilio_error(400, 21205, "Url is not a valid URL.");
    }
    let call = FakeCall {
        sid: format!("CA{}", random_hex(16)),
        to: param(&params, "To").unwrap_or_default().to_owned(),
        from,
        url,
        method: param(&params, "Method").map(str::to_owned),
        status_callback: param(&params, "StatusCallback").map(str::to_owned),
        status: "queued".to_owned(),
        date_created: now,
        params: params.clone(),
    };
    let answer = call_json(&shared.account_sid, &call);
    lock(&shared.state).calls.push(call);
    accepted(&shared, answer).await
}

/// A list request: `To`, `From`, `PageSize` (default 50, at most 1000) and
/// `Page` (from 0); newest first.
struct ListQuery {
    to: Option<String>,
    from: Option<String>,
    page_size: usize,
    page: usize,
}

fn list_query(query: Option<&str>) -> Result<ListQuery, Box<Response>> {
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let number = |name: &str, default: usize| -> Result<usize, Box<Response>> {
        match param(&pairs, name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Box::new(twilio_error(400, 20001, &format!("Invalid {name}: {v}")))),
        }
    };
    let page_size = number("PageSize", 50)?;
    if !(1..=1000).contains(&page_size) {
        return Err(Box::new(twilio_error(
            400,
            20001,
            "PageSize must be between 1 and 1000",
        )));
    }
    Ok(ListQuery {
        to: param(&pairs, "To").map(str::to_owned),
        from: param(&pairs, "From").map(str::to_owned),
        page_size,
        page: number("Page", 0)?,
    })
}

/// One page of `items` (already filtered, newest first) in Twilio's list
/// shape under `key`.
fn list_page(
    shared: &Shared,
    leaf: &str,
    key: &str,
    q: &ListQuery,
    items: Vec<serde_json::Value>,
) -> Response {
    let mut filter = form_urlencoded::Serializer::new(String::new());
    if let Some(to) = &q.to {
        filter.append_pair("To", to);
    }
    if let Some(from) = &q.from {
        filter.append_pair("From", from);
    }
    filter.append_pair("PageSize", &q.page_size.to_string());
    let filter = filter.finish();
    let path = format!("/{API_VERSION}/Accounts/{}/{leaf}", shared.account_sid);
    let start = q.page.saturating_mul(q.page_size);
    let total = items.len();
    let page: Vec<serde_json::Value> = items.into_iter().skip(start).take(q.page_size).collect();
    let page_uri = |n: usize| format!("{path}?{filter}&Page={n}");
    let next_page_uri = if start + page.len() < total {
        json!(format!(
            "{}&PageToken=PA{}",
            page_uri(q.page + 1),
            random_hex(8)
        ))
    } else {
        serde_json::Value::Null
    };
    let previous_page_uri = if q.page > 0 {
        json!(page_uri(q.page - 1))
    } else {
        serde_json::Value::Null
    };
    let end = (start + page.len()).saturating_sub(1);
    let mut answer = json!({
        "first_page_uri": page_uri(0),
        "next_page_uri": next_page_uri,
        "previous_page_uri": previous_page_uri,
        "page": q.page,
        "page_size": q.page_size,
        "start": start,
        "end": end,
        "uri": page_uri(q.page),
    });
    answer[key] = serde_json::Value::Array(page);
    (StatusCode::OK, axum::Json(answer)).into_response()
}

fn admit_list(shared: &Shared, sid: &str, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let mut state = lock(&shared.state);
    state.list_count += 1;
    if !authorized(shared, sid, headers) {
        return Err(Box::new(twilio_error(401, 20003, "Authenticate")));
    }
    if let Some(status) = state.failure {
        return Err(Box::new(twilio_error(
            status,
            20500,
            "Internal Server Error",
        )));
    }
    Ok(())
}

async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = admit_list(&shared, &sid, &headers) {
        return *response;
    }
    let q = match list_query(query.as_deref()) {
        Ok(q) => q,
        Err(response) => return *response,
    };
    let items: Vec<serde_json::Value> = {
        let state = lock(&shared.state);
        let mut found: Vec<&FakeMessage> = state
            .messages
            .iter()
            .filter(|m| q.to.as_deref().is_none_or(|t| m.to == t))
            .filter(|m| {
                q.from
                    .as_deref()
                    .is_none_or(|f| m.from.as_deref() == Some(f))
            })
            .collect();
        // Newest first; the later of two created in the same millisecond.
        found.reverse();
        found.sort_by_key(|x| std::cmp::Reverse(x.date_created));
        found
            .into_iter()
            .map(|m| message_json(&shared.account_sid, m))
            .collect()
    };
    list_page(&shared, "Messages.json", "messages", &q, items)
}

async fn list_calls(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(response) = admit_list(&shared, &sid, &headers) {
        return *response;
    }
    let q = match list_query(query.as_deref()) {
        Ok(q) => q,
        Err(response) => return *response,
    };
    let items: Vec<serde_json::Value> = {
        let state = lock(&shared.state);
        let mut found: Vec<&FakeCall> = state
            .calls
            .iter()
            .filter(|c| q.to.as_deref().is_none_or(|t| c.to == t))
            .filter(|c| q.from.as_deref().is_none_or(|f| c.from == f))
            .collect();
        found.reverse();
        found.sort_by_key(|x| std::cmp::Reverse(x.date_created));
        found
            .into_iter()
            .map(|c| call_json(&shared.account_sid, c))
            .collect()
    };
    list_page(&shared, "Calls.json", "calls", &q, items)
}
