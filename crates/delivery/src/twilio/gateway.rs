//! The REST client of [`TwilioGateway`] (cargo feature `http`): creating
//! Messages and Calls, and reading their lists back ([`lookup`]) when the
//! outcome of a create is unknown.

mod lookup;

use std::fmt;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::signature::{self, WebhookBody, WebhookVerifier};
use crate::http::{self, is_e164};
use crate::{
    BoxFuture, CallRequest, ConfigError, DeliveryError, Gateway, Lookup, Sent, SmsRequest,
};

/// Twilio's API base.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The REST API version in every path.
pub const API_VERSION: &str = "2010-04-01";
/// Resources per list page asked for in a lookup (Twilio's default; "the
/// maximum is 1000").
pub const LOOKUP_PAGE_SIZE: u32 = 50;

/// Settings of a [`TwilioGateway`], e.g. from the `[delivery.twilio]` table
/// of the configuration file. Unknown keys are an error.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// API base URL, without the `/2010-04-01` part. Default
    /// `https://api.twilio.com`. Must be https, except on a loopback address
    /// (the test fake). May carry a path prefix for compatible providers.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The account SID, user name of HTTP Basic auth and part of every
    /// path: `AC` followed by 32 hexadecimal digits (`^AC[0-9a-fA-F]{32}$`).
    pub account_sid: String,
    /// The account's auth token: password of HTTP Basic auth and key of the
    /// request signatures (unless a webhook says it was signed with one of
    /// [`webhook_keys`](Self::webhook_keys)). Never logged.
    pub auth_token: SecretString,
    /// Sender of text messages: an E.164 number (`+1…`) or a messaging
    /// service SID, `MG` followed by 32 hexadecimal digits
    /// (`^MG[0-9a-fA-F]{32}$`). When it is an E.164 number it also places
    /// calls.
    pub from: String,
    /// Caller id of calls, E.164, when `from` is a messaging service (which
    /// cannot call) or calls should come from another number.
    #[serde(default)]
    pub call_from: Option<String>,
    /// Limit for one API request, seconds. Default 15.
    /// The delivery worker reserves a message for this long plus 30 s, so
    /// a request still running is never taken for one whose worker died.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The SharedKeys Twilio may sign webhooks with instead of the auth
    /// token (a Webhook Setting with a signing key): such a webhook carries
    /// `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=…`, and is
    /// accepted only if `<id>` is listed here. Several keys may be listed
    /// while one replaces another. Default none.
    #[serde(default)]
    pub webhook_keys: Vec<TwilioWebhookKey>,
}

/// A SharedKey for webhook signatures: `{ id = "…", secret = "…" }` in
/// `webhook_keys`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioWebhookKey {
    /// The key's id, as the `key=` of the signature settings header names
    /// it.
    pub id: String,
    /// The key's secret, shown once when the key was created. Never logged.
    pub secret: SecretString,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_timeout_secs() -> u64 {
    15
}

impl TwilioConfig {
    /// A configuration with the defaults for the optional settings.
    pub fn new(account_sid: &str, auth_token: &str, from: &str) -> Self {
        Self {
            base_url: default_base_url(),
            account_sid: account_sid.to_owned(),
            auth_token: SecretString::from(auth_token.to_owned()),
            from: from.to_owned(),
            call_from: None,
            timeout_secs: default_timeout_secs(),
            webhook_keys: Vec::new(),
        }
    }
}

/// Whether `s` is a Twilio SID with this two-letter prefix: the prefix and
/// 32 hexadecimal digits, as the patterns of Twilio's OpenAPI description
/// (`^AC[0-9a-fA-F]{32}$`) have it.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

/// Sends text messages and places calls through a Twilio-compatible API.
///
/// Cheap to share: hold one in an `Arc<dyn Gateway>` for the whole process
/// (it keeps a connection pool).
#[derive(Clone)]
pub struct TwilioGateway {
    http: reqwest::Client,
    /// The configured timeout of one request.
    timeout: Duration,
    /// The base URL with its path prefix, without a trailing `/`: list
    /// pages' `next_page_uri` is a path below it.
    api_base: String,
    messages_url: reqwest::Url,
    calls_url: reqwest::Url,
    account_sid: String,
    auth_token: SecretString,
    webhooks: WebhookVerifier,
    sender: Sender,
    call_from: Option<String>,
}

#[derive(Clone, Debug)]
enum Sender {
    Number(String),
    MessagingService(String),
}

impl fmt::Debug for TwilioGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioGateway")
            .field("messages_url", &self.messages_url.as_str())
            .field("account_sid", &self.account_sid)
            .field("sender", &self.sender)
            .field("call_from", &self.call_from)
            .finish_non_exhaustive()
    }
}

impl TwilioGateway {
    /// Checks the settings and builds the gateway.
    pub fn new(config: &TwilioConfig) -> Result<Self, ConfigError> {
        let base = reqwest::Url::parse(config.base_url.trim_end_matches('/'))
            .map_err(|e| ConfigError::new("twilio.base_url", format!("not a URL: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" if http::is_loopback(&base) => {}
            _ => {
                return Err(ConfigError::new(
                    "twilio.base_url",
                    "must be an https URL (http only on a loopback address)",
                ));
            }
        }
        let sid = config.account_sid.trim();
        if !is_sid(sid, "AC") {
            return Err(ConfigError::new(
                "twilio.account_sid",
                "must be the account SID: `AC` followed by 32 hexadecimal digits \
                 (^AC[0-9a-fA-F]{32}$)",
            ));
        }
        if config.auth_token.expose_secret().trim().is_empty() {
            return Err(ConfigError::new("twilio.auth_token", "must not be empty"));
        }
        let from = config.from.trim();
        let sender = if is_e164(from) {
            Sender::Number(from.to_owned())
        } else if is_sid(from, "MG") {
            Sender::MessagingService(from.to_owned())
        } else {
            return Err(ConfigError::new(
                "twilio.from",
                "must be an E.164 number (+14155550123) or a messaging service SID: \
                 `MG` followed by 32 hexadecimal digits (^MG[0-9a-fA-F]{32}$)",
            ));
        };
        let mut webhooks = WebhookVerifier::new(config.auth_token.clone());
        for (i, key) in config.webhook_keys.iter().enumerate() {
            let id = key.id.as_str();
            // The settings header is split on `,` and its values stripped of
            // whitespace: an id with either could never be named by it.
            if id.is_empty() || signature::py_strip(id) != id || id.contains(',') {
                return Err(ConfigError::new(
                    "twilio.webhook_keys",
                    format!(
                        "key {}: `id` must be the SharedKey's id, not empty, \
                         without commas or surrounding spaces",
                        i + 1
                    ),
                ));
            }
            if webhooks.shared_key_ids().any(|known| known == id) {
                return Err(ConfigError::new(
                    "twilio.webhook_keys",
                    format!("key {id} is listed twice"),
                ));
            }
            if key.secret.expose_secret().is_empty() {
                return Err(ConfigError::new(
                    "twilio.webhook_keys",
                    format!("key {id}: `secret` must not be empty"),
                ));
            }
            webhooks = webhooks.with_shared_key(id, key.secret.clone());
        }
        let call_from = match (&config.call_from, &sender) {
            (Some(n), _) if is_e164(n.trim()) => Some(n.trim().to_owned()),
            (Some(_), _) => {
                return Err(ConfigError::new(
                    "twilio.call_from",
                    "must be an E.164 number (+14155550123)",
                ));
            }
            (None, Sender::Number(n)) => Some(n.clone()),
            (None, Sender::MessagingService(_)) => None,
        };
        if config.timeout_secs == 0 {
            return Err(ConfigError::new(
                "twilio.timeout_secs",
                "must be more than 0",
            ));
        }
        let account_base = format!(
            "{}/{API_VERSION}/Accounts/{sid}/",
            base.as_str().trim_end_matches('/')
        );
        let join = |leaf: &str| {
            reqwest::Url::parse(&format!("{account_base}{leaf}"))
                .map_err(|e| ConfigError::new("twilio.base_url", e.to_string()))
        };
        let http = http::client(
            Duration::from_secs(config.timeout_secs),
            concat!("gatehouse-delivery/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| ConfigError::new("twilio", format!("cannot build the HTTPS client: {e}")))?;
        Ok(Self {
            timeout: Duration::from_secs(config.timeout_secs),
            http,
            api_base: base.as_str().trim_end_matches('/').to_owned(),
            messages_url: join("Messages.json")?,
            calls_url: join("Calls.json")?,
            account_sid: sid.to_owned(),
            auth_token: config.auth_token.clone(),
            webhooks,
            sender,
            call_from,
        })
    }

    /// Whether a form webhook request (call instructions, Gather action,
    /// status callback) carries the auth token's signature (`header`, the
    /// `X-Twilio-Signature`); see [`signature::validate_signature`] for what
    /// `url` must be. For a request that may be signed with one of the
    /// `webhook_keys`, or has a JSON body, use
    /// [`verify_webhook`](Self::verify_webhook).
    pub fn verify_request(&self, url: &str, params: &[(String, String)], header: &str) -> bool {
        self.webhooks
            .verify(url, WebhookBody::Form(params), header, None)
    }

    /// Whether a webhook request carries a valid signature, by the auth
    /// token or a configured SharedKey as the
    /// `X-Twilio-Webhooks-Signature-Settings` header (`settings_header`)
    /// says; see [`WebhookVerifier::verify`].
    pub fn verify_webhook(
        &self,
        url: &str,
        body: WebhookBody<'_>,
        signature: &str,
        settings_header: Option<&str>,
    ) -> bool {
        self.webhooks.verify(url, body, signature, settings_header)
    }

    /// The signature checker of this account (auth token and
    /// `webhook_keys`), for handlers that hold it apart from the gateway.
    pub fn webhook_verifier(&self) -> &WebhookVerifier {
        &self.webhooks
    }

    async fn create(
        &self,
        kind: &'static str,
        url: &reqwest::Url,
        to: &str,
        form: Vec<(&'static str, String)>,
        reference: &str,
    ) -> Result<Sent, DeliveryError> {
        let started = Instant::now();
        let masked = crate::mask_number(to);
        // Twilio's messages name the number ("The 'To' number +1… is not a
        // valid phone number"): the error is logged here and by the worker,
        // so the number in it is masked as everywhere else.
        let result = self
            .exchange(url, form)
            .await
            .map_err(|e| mask_in_error(e, to, &masked));
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let to = masked;
        match &result {
            Ok(sent) => tracing::info!(
                gateway = "twilio",
                kind,
                to,
                reference,
                sid = sent.provider_ref,
                elapsed_ms,
                "accepted"
            ),
            Err(error) => tracing::warn!(
                gateway = "twilio",
                kind,
                to,
                reference,
                elapsed_ms,
                %error,
                "not accepted"
            ),
        }
        result
    }

    /// One create request. No idempotency header: Twilio defines none for
    /// creating Messages or Calls, and a repeat creates again.
    async fn exchange(
        &self,
        url: &reqwest::Url,
        form: Vec<(&'static str, String)>,
    ) -> Result<Sent, DeliveryError> {
        let response = self
            .http
            .post(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| http::transport_error("Twilio", &e))?;
        let status = response.status();
        let body = match http::read_body("Twilio", response).await {
            Ok(body) => body,
            // A 2xx whose body broke off: created, but we cannot tell the sid.
            Err(e) if status.is_success() => {
                return Err(DeliveryError::Unknown(format!(
                    "Twilio accepted the request (HTTP {}) but its answer could not be read: {e}",
                    status.as_u16()
                )));
            }
            Err(e) => {
                return Err(http::status_error(
                    status,
                    format!("Twilio answered HTTP {} ({e})", status.as_u16()),
                ));
            }
        };
        if status.is_success() {
            return match serde_json::from_slice::<Created>(&body) {
                Ok(Created { sid }) if !sid.is_empty() => Ok(Sent { provider_ref: sid }),
                // Accepted something we cannot name: it may well be sent.
                _ => Err(DeliveryError::Unknown(format!(
                    "Twilio answered HTTP {} without a sid",
                    status.as_u16()
                ))),
            };
        }
        Err(http::status_error(status, describe_error(status, &body)))
    }

    async fn sms(&self, req: &SmsRequest) -> Result<Sent, DeliveryError> {
        let to = req.to.trim();
        if !is_e164(to) {
            return Err(DeliveryError::Rejected(format!(
                "{} is not an E.164 number",
                crate::mask_number(to)
            )));
        }
        let mut form = vec![("To", to.to_owned())];
        match &self.sender {
            Sender::Number(n) => form.push(("From", n.clone())),
            Sender::MessagingService(s) => form.push(("MessagingServiceSid", s.clone())),
        }
        form.push(("Body", req.body.clone()));
        if let Some(cb) = &req.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        self.create("sms", &self.messages_url, to, form, &req.idempotency_key)
            .await
    }

    async fn call(&self, req: &CallRequest) -> Result<Sent, DeliveryError> {
        let to = req.to.trim();
        if !is_e164(to) {
            return Err(DeliveryError::Rejected(format!(
                "{} is not an E.164 number",
                crate::mask_number(to)
            )));
        }
        let Some(from) = &self.call_from else {
            return Err(DeliveryError::Rejected(
                "calls need a caller number: set twilio.call_from (a messaging service cannot call)"
                    .to_owned(),
            ));
        };
        let mut form = vec![
            ("To", to.to_owned()),
            ("From", from.clone()),
            ("Url", req.instructions_url.clone()),
            ("Method", "POST".to_owned()),
        ];
        if let Some(cb) = &req.status_callback {
            form.push(("StatusCallback", cb.clone()));
            form.push(("StatusCallbackMethod", "POST".to_owned()));
        }
        self.create("call", &self.calls_url, to, form, &req.idempotency_key)
            .await
    }
}

/// `error` with every `number` in its text replaced by `masked`.
fn mask_in_error(error: DeliveryError, number: &str, masked: &str) -> DeliveryError {
    let mask = |text: String| {
        if number.is_empty() {
            text
        } else {
            text.replace(number, masked)
        }
    };
    match error {
        DeliveryError::Rejected(why) => DeliveryError::Rejected(mask(why)),
        DeliveryError::Unavailable(why) => DeliveryError::Unavailable(mask(why)),
        DeliveryError::Unknown(why) => DeliveryError::Unknown(mask(why)),
    }
}

fn describe_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<TwilioError>(body) {
        Ok(e) => format!(
            "Twilio error {} (HTTP {}): {}",
            e.code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            status.as_u16(),
            e.message.unwrap_or_default()
        ),
        Err(_) => format!(
            "Twilio answered HTTP {}: {}",
            status.as_u16(),
            http::snippet(&String::from_utf8_lossy(body), 120)
        ),
    }
}

impl Gateway for TwilioGateway {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn request_timeout(&self) -> Duration {
        self.timeout
    }

    fn send_sms<'a>(&'a self, req: &'a SmsRequest) -> BoxFuture<'a, Result<Sent, DeliveryError>> {
        Box::pin(self.sms(req))
    }

    fn place_call<'a>(
        &'a self,
        req: &'a CallRequest,
    ) -> BoxFuture<'a, Result<Sent, DeliveryError>> {
        Box::pin(self.call(req))
    }

    fn find_sent<'a>(
        &'a self,
        lookup: &'a Lookup,
    ) -> BoxFuture<'a, Result<Option<Sent>, DeliveryError>> {
        Box::pin(self.find(lookup))
    }
}

/// The part of a created Message or Call resource we use.
#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}
