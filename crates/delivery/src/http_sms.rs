//! [`HttpSmsGateway`]: text messages through a generic HTTP SMS gateway (the
//! kind of on-premises box or regional provider that takes the number and
//! the text as query, form or JSON parameters), described entirely by
//! configuration.
//!
//! ```toml
//! [delivery.http_sms]
//! url = "https://sms.example.net/api/send"
//! method = "POST"            # or "GET"
//! encoding = "json"          # "query", "form" or "json"; default: query for GET, form for POST
//! params = [
//!   { name = "to",        value = "{to_digits}" },
//!   { name = "text",      value = "{body}" },
//!   { name = "reference", value = "{id}" },
//!   { name = "key",       value = "{secret}" },
//! ]
//! secret = "…"               # fills {secret}; never logged
//! auth = { type = "bearer", token = "…" }   # or basic {username, password}, or header {name, value}
//! success_status = 202       # default: any 2xx
//! response_id_pointer = "/messages/0/id"    # JSON pointer to the provider's id, if any
//! timeout_secs = 15
//! ```
//!
//! Placeholders: `{to}` (E.164, `+14155550123`), `{to_digits}` (without the
//! `+`), `{body}`, `{id}` (our reference for the message, the same on every
//! attempt), `{secret}`; `{{` and `}}` are literal braces. Any other
//! placeholder is a configuration error.
//!
//! Such a gateway has no way to ask what it sent, so it keeps the default
//! [`Gateway::find_sent`]: when an attempt's outcome is unknown (a timeout
//! after the request went out, an HTTP 5xx other than 503), the portal does
//! not send again and marks the message failed, rather than risk a second
//! text. A gateway that drops repeats of one `{id}` would make a resend
//! safe, but nothing here relies on one doing so.

use std::fmt;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::http::{self, is_e164};
use crate::{BoxFuture, CallRequest, ConfigError, DeliveryError, Gateway, Sent, SmsRequest};

/// Settings of an [`HttpSmsGateway`]. Unknown keys are an error.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSmsConfig {
    /// The gateway's URL, http or https. Query parameters written here are
    /// kept; templated ones are appended.
    pub url: String,
    /// Default `POST`.
    #[serde(default)]
    pub method: HttpSmsMethod,
    /// Where the parameters go. Default: `query` for GET, `form` for POST.
    #[serde(default)]
    pub encoding: Option<HttpSmsEncoding>,
    /// The parameters, in order, with their value templates.
    pub params: Vec<HttpSmsParam>,
    /// The value of the `{secret}` placeholder (an API key sent as a
    /// parameter). Never logged.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// HTTP authentication, if any.
    #[serde(default)]
    pub auth: Option<HttpSmsAuth>,
    /// The status that means "accepted". Default: any 2xx.
    #[serde(default)]
    pub success_status: Option<u16>,
    /// A JSON pointer (RFC 6901) to the provider's message id in a JSON
    /// answer. Without it (or when the answer has none) our own reference
    /// (`{id}`) is recorded.
    #[serde(default)]
    pub response_id_pointer: Option<String>,
    /// Limit for one request, seconds. Default 15.
    /// The delivery worker reserves a message for this long plus 30 s, so
    /// a request still running is never taken for one whose worker died.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    15
}

/// The HTTP method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum HttpSmsMethod {
    #[serde(alias = "get")]
    #[allow(clippy::upper_case_acronyms)]
    GET,
    #[default]
    #[serde(alias = "post")]
    #[allow(clippy::upper_case_acronyms)]
    POST,
}

/// Where the parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpSmsEncoding {
    /// In the URL's query string (any method).
    Query,
    /// An `application/x-www-form-urlencoded` body (POST).
    Form,
    /// A JSON object of strings (POST).
    Json,
}

/// One parameter: its name and value template.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSmsParam {
    pub name: String,
    pub value: String,
}

impl HttpSmsParam {
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// HTTP authentication of the gateway. Secrets are never logged.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum HttpSmsAuth {
    /// HTTP Basic (RFC 7617).
    Basic {
        username: String,
        password: SecretString,
    },
    /// `Authorization: Bearer {token}` (RFC 6750).
    Bearer { token: SecretString },
    /// Any header, e.g. `X-Api-Key`.
    Header { name: String, value: SecretString },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Text(String),
    To,
    ToDigits,
    Body,
    Id,
    Secret,
}

/// Splits a value template into text and placeholders.
fn parse_template(template: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '}' => return Err("a lone `}` (write `}}` for a literal brace)".to_owned()),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("`{{{name}` is not closed")),
                    }
                }
                let seg = match name.as_str() {
                    "to" => Segment::To,
                    "to_digits" => Segment::ToDigits,
                    "body" => Segment::Body,
                    "id" => Segment::Id,
                    "secret" => Segment::Secret,
                    other => {
                        return Err(format!(
                            "unknown placeholder `{{{other}}}` (known: {{to}}, {{to_digits}}, \
                             {{body}}, {{id}}, {{secret}})"
                        ));
                    }
                };
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(seg);
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

/// Sends text messages through a generic HTTP SMS gateway. It cannot call:
/// [`Gateway::place_call`] answers [`DeliveryError::Rejected`].
#[derive(Clone)]
pub struct HttpSmsGateway {
    http: reqwest::Client,
    /// The configured timeout of one request.
    timeout: Duration,
    url: reqwest::Url,
    method: HttpSmsMethod,
    encoding: HttpSmsEncoding,
    params: Vec<(String, Vec<Segment>)>,
    secret: Option<SecretString>,
    auth: Option<HttpSmsAuth>,
    success_status: Option<u16>,
    response_id_pointer: Option<String>,
}

impl fmt::Debug for HttpSmsGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSmsGateway")
            .field("host", &self.url.host_str())
            .field("method", &self.method)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl HttpSmsGateway {
    /// Checks the settings and builds the gateway.
    pub fn new(config: &HttpSmsConfig) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(config.url.trim())
            .map_err(|e| ConfigError::new("http_sms.url", format!("not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                if !http::is_loopback(&url) {
                    tracing::warn!(
                        host = url.host_str(),
                        "the HTTP SMS gateway is configured with plain http: message texts \
                         travel unencrypted"
                    );
                }
            }
            other => {
                return Err(ConfigError::new(
                    "http_sms.url",
                    format!("the scheme must be http or https, not {other:?}"),
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new("http_sms.url", "has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                "http_sms.url",
                "must not carry credentials; use `auth`",
            ));
        }
        let encoding = match (config.method, config.encoding) {
            (HttpSmsMethod::GET, None | Some(HttpSmsEncoding::Query)) => HttpSmsEncoding::Query,
            (HttpSmsMethod::GET, Some(_)) => {
                return Err(ConfigError::new(
                    "http_sms.encoding",
                    "a GET request has no body: use `query`",
                ));
            }
            (HttpSmsMethod::POST, None) => HttpSmsEncoding::Form,
            (HttpSmsMethod::POST, Some(e)) => e,
        };
        if config.params.is_empty() {
            return Err(ConfigError::new("http_sms.params", "no parameters"));
        }
        let mut params = Vec::with_capacity(config.params.len());
        for p in &config.params {
            let name = p.name.trim();
            if name.is_empty() {
                return Err(ConfigError::new(
                    "http_sms.params",
                    "a parameter has no name",
                ));
            }
            if encoding == HttpSmsEncoding::Json && params.iter().any(|(n, _)| n == name) {
                return Err(ConfigError::new(
                    "http_sms.params",
                    format!("`{name}` appears twice in a JSON object"),
                ));
            }
            let segments = parse_template(&p.value).map_err(|why| {
                ConfigError::new("http_sms.params", format!("parameter `{name}`: {why}"))
            })?;
            params.push((name.to_owned(), segments));
        }
        let uses = |pred: fn(&Segment) -> bool| params.iter().any(|(_, s)| s.iter().any(pred));
        if !uses(|s| matches!(s, Segment::To | Segment::ToDigits)) {
            return Err(ConfigError::new(
                "http_sms.params",
                "no parameter carries the number: use {to} or {to_digits}",
            ));
        }
        if !uses(|s| matches!(s, Segment::Body)) {
            return Err(ConfigError::new(
                "http_sms.params",
                "no parameter carries the text: use {body}",
            ));
        }
        if uses(|s| matches!(s, Segment::Secret)) && config.secret.is_none() {
            return Err(ConfigError::new(
                "http_sms.secret",
                "a parameter uses {secret} but no secret is set",
            ));
        }
        if let Some(HttpSmsAuth::Header { name, .. }) = &config.auth
            && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(ConfigError::new(
                "http_sms.auth.name",
                format!("{name:?} is not a header name"),
            ));
        }
        if let Some(s) = config.success_status
            && !(100..=599).contains(&s)
        {
            return Err(ConfigError::new(
                "http_sms.success_status",
                "must be an HTTP status (100-599)",
            ));
        }
        if let Some(p) = &config.response_id_pointer
            && !p.is_empty()
            && !p.starts_with('/')
        {
            return Err(ConfigError::new(
                "http_sms.response_id_pointer",
                "a JSON pointer starts with `/` (e.g. /messages/0/id)",
            ));
        }
        if config.timeout_secs == 0 {
            return Err(ConfigError::new(
                "http_sms.timeout_secs",
                "must be more than 0",
            ));
        }
        let http = http::client(
            Duration::from_secs(config.timeout_secs),
            concat!("gatehouse-delivery/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| ConfigError::new("http_sms", format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            timeout: Duration::from_secs(config.timeout_secs),
            http,
            url,
            method: config.method,
            encoding,
            params,
            secret: config.secret.clone(),
            auth: config.auth.clone(),
            success_status: config.success_status,
            response_id_pointer: config.response_id_pointer.clone(),
        })
    }

    fn render(&self, req: &SmsRequest, to: &str) -> Vec<(String, String)> {
        let to_digits = to.trim_start_matches('+');
        self.params
            .iter()
            .map(|(name, segments)| {
                let mut value = String::new();
                for s in segments {
                    match s {
                        Segment::Text(t) => value.push_str(t),
                        Segment::To => value.push_str(to),
                        Segment::ToDigits => value.push_str(to_digits),
                        Segment::Body => value.push_str(&req.body),
                        Segment::Id => value.push_str(&req.idempotency_key),
                        Segment::Secret => {
                            if let Some(secret) = &self.secret {
                                value.push_str(secret.expose_secret());
                            }
                        }
                    }
                }
                (name.clone(), value)
            })
            .collect()
    }

    async fn sms(&self, req: &SmsRequest) -> Result<Sent, DeliveryError> {
        let to = req.to.trim();
        if !is_e164(to) {
            return Err(DeliveryError::Rejected(format!(
                "{} is not an E.164 number",
                crate::mask_number(to)
            )));
        }
        let started = Instant::now();
        let result = self.exchange(req, to).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let masked = crate::mask_number(to);
        match &result {
            Ok(sent) => tracing::info!(
                gateway = "http-sms",
                to = masked,
                body_len = req.body.len(),
                reference = req.idempotency_key,
                provider_ref = sent.provider_ref,
                elapsed_ms,
                "accepted"
            ),
            Err(error) => tracing::warn!(
                gateway = "http-sms",
                to = masked,
                reference = req.idempotency_key,
                elapsed_ms,
                %error,
                "not accepted"
            ),
        }
        result
    }

    async fn exchange(&self, req: &SmsRequest, to: &str) -> Result<Sent, DeliveryError> {
        let pairs = self.render(req, to);
        let mut builder = match self.method {
            HttpSmsMethod::GET => self.http.get(self.url.clone()),
            HttpSmsMethod::POST => self.http.post(self.url.clone()),
        };
        builder = match self.encoding {
            HttpSmsEncoding::Query => builder.query(&pairs),
            HttpSmsEncoding::Form => builder.form(&pairs),
            HttpSmsEncoding::Json => {
                let object: serde_json::Map<String, serde_json::Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                builder.json(&object)
            }
        };
        builder = match &self.auth {
            None => builder,
            Some(HttpSmsAuth::Basic { username, password }) => {
                builder.basic_auth(username, Some(password.expose_secret()))
            }
            Some(HttpSmsAuth::Bearer { token }) => builder.bearer_auth(token.expose_secret()),
            Some(HttpSmsAuth::Header { name, value }) => {
                builder.header(name.as_str(), value.expose_secret())
            }
        };
        let response = builder
            .send()
            .await
            .map_err(|e| http::transport_error("the SMS gateway", &e))?;
        let status = response.status();
        let accepted = match self.success_status {
            Some(s) => status.as_u16() == s,
            None => status.is_success(),
        };
        let body = match http::read_body("the SMS gateway", response).await {
            Ok(body) => body,
            // Accepted, but the answer broke off: it was sent, or may have
            // been; the same for an error status whose body is lost.
            Err(e) if accepted => {
                return Err(DeliveryError::Unknown(format!(
                    "the SMS gateway accepted the message (HTTP {}) but its answer \
                     could not be read: {e}",
                    status.as_u16()
                )));
            }
            Err(e) => {
                return Err(http::status_error(
                    status,
                    format!("the SMS gateway answered HTTP {} ({e})", status.as_u16()),
                ));
            }
        };
        if accepted {
            let provider_ref = self
                .response_id_pointer
                .as_deref()
                .and_then(|p| {
                    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
                    match json.pointer(p)? {
                        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }
                })
                .unwrap_or_else(|| req.idempotency_key.clone());
            return Ok(Sent { provider_ref });
        }
        // Some gateways echo the request: keep the text (it may hold a code)
        // out of the error message.
        let text = String::from_utf8_lossy(&body);
        let text = if req.body.is_empty() {
            text.into_owned()
        } else {
            text.replace(req.body.as_str(), "[text]")
        };
        let described = format!(
            "the SMS gateway answered HTTP {}: {}",
            status.as_u16(),
            http::snippet(&text, 160)
        );
        Err(http::status_error(status, described))
    }
}

impl Gateway for HttpSmsGateway {
    fn name(&self) -> &'static str {
        "http-sms"
    }

    fn request_timeout(&self) -> Duration {
        self.timeout
    }

    fn send_sms<'a>(&'a self, req: &'a SmsRequest) -> BoxFuture<'a, Result<Sent, DeliveryError>> {
        Box::pin(self.sms(req))
    }

    fn place_call<'a>(
        &'a self,
        _req: &'a CallRequest,
    ) -> BoxFuture<'a, Result<Sent, DeliveryError>> {
        Box::pin(async {
            Err(DeliveryError::Rejected(
                "this gateway sends text messages only".to_owned(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert_eq!(
            parse_template("+{to_digits}:{{x}}").unwrap(),
            vec![
                Segment::Text("+".into()),
                Segment::ToDigits,
                Segment::Text(":{x}".into())
            ]
        );
        assert!(
            parse_template("{nope}")
                .unwrap_err()
                .contains("unknown placeholder `{nope}`")
        );
        assert!(parse_template("{to").is_err());
        assert!(parse_template("a}").is_err());
    }
}
