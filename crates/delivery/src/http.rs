//! What the HTTP adapters share: the client, error mapping, small helpers.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::time::Duration;

use crate::DeliveryError;

/// Largest response body read from a provider; their answers are a few KiB.
pub(crate) const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// A client for one provider: whole-call and connect limits, no redirects (a
/// redirected POST would carry credentials and message text elsewhere).
pub(crate) fn client(timeout: Duration, agent: &'static str) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .map_err(|e| error_chain(&e))
}

/// What a transport failure of a request that *creates* something means:
///
/// * the connection was never made (refused, DNS, TLS handshake, connect
///   timeout: reqwest's `is_connect`), or the request could not even be
///   built: nothing reached the provider → [`DeliveryError::Unavailable`],
///   safe to retry;
/// * anything later (a timeout while waiting for the answer, a connection
///   reset or closed after the request was written, a broken body): the
///   provider may have received and acted on the request →
///   [`DeliveryError::Unknown`].
///
/// reqwest marks a connect timeout both `is_connect` and `is_timeout`: the
/// connect test comes first.
pub(crate) fn transport_error(provider: &str, e: &reqwest::Error) -> DeliveryError {
    if e.is_connect() {
        return DeliveryError::Unavailable(format!("cannot reach {provider}: {}", detail(e)));
    }
    if e.is_builder() {
        return DeliveryError::Unavailable(format!(
            "cannot build the request to {provider}: {}",
            detail(e)
        ));
    }
    if e.is_timeout() {
        return DeliveryError::Unknown(format!(
            "{provider} did not answer in time (the request may have been accepted)"
        ));
    }
    DeliveryError::Unknown(format!(
        "the exchange with {provider} broke off after the request was sent: {}",
        detail(e)
    ))
}

/// A transport failure of a read (a lookup): reading again is harmless, so
/// every failure is [`DeliveryError::Unavailable`].
pub(crate) fn read_transport_error(provider: &str, e: &reqwest::Error) -> DeliveryError {
    match transport_error(provider, e) {
        DeliveryError::Unknown(why) => DeliveryError::Unavailable(why),
        other => other,
    }
}

/// reqwest's own top line repeats the URL, which may carry credentials in a
/// query string: only the causes.
fn detail(e: &reqwest::Error) -> String {
    match StdError::source(e) {
        Some(source) => error_chain(source),
        None => "request failed".to_owned(),
    }
}

/// Reads the body up to [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_body(
    provider: &str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, DeliveryError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, &e))?
    {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(DeliveryError::Unavailable(format!(
                "{provider} answered more than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// What an HTTP error status answered to a request that *creates*
/// something means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusClass {
    /// An explicit "not now": 408 Request Timeout (the server gave up
    /// waiting for our request), 425 Too Early, 429 Too Many Requests and
    /// 503 Service Unavailable (RFC 9110 §15.6.4: "currently unable to
    /// handle the request") refuse the request before acting on it →
    /// [`DeliveryError::Unavailable`].
    NotNow,
    /// Any other 5xx (500, 502, 504, …): the server or a proxy failed
    /// somewhere, possibly after the provider acted (a 504 is a gateway
    /// that stopped waiting for the provider) → [`DeliveryError::Unknown`].
    Unknown,
    /// 4xx: refused → [`DeliveryError::Rejected`].
    Refused,
}

pub(crate) fn classify_status(status: reqwest::StatusCode) -> StatusClass {
    match status.as_u16() {
        408 | 425 | 429 | 503 => StatusClass::NotNow,
        s if (500..600).contains(&s) => StatusClass::Unknown,
        _ => StatusClass::Refused,
    }
}

/// The error for a status of [`classify_status`].
pub(crate) fn status_error(status: reqwest::StatusCode, described: String) -> DeliveryError {
    match classify_status(status) {
        StatusClass::NotNow => DeliveryError::Unavailable(described),
        StatusClass::Unknown => DeliveryError::Unknown(described),
        StatusClass::Refused => DeliveryError::Rejected(described),
    }
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The error and its causes on one line, without repeats.
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// At most `max` characters of `text` on one line, for error messages.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// Whether `s` looks like an E.164 number: `+`, then 8 to 15 digits, the
/// first not 0 (ITU-T E.164 §6: at most 15 digits).
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+14155550123"));
        assert!(!is_e164("14155550123"));
        assert!(!is_e164("+0415555"));
        assert!(!is_e164("+1415555012a"));
        assert!(!is_e164("+1234567890123456"));
    }

    #[test]
    fn statuses_are_classified() {
        let c = |s: u16| classify_status(reqwest::StatusCode::from_u16(s).unwrap());
        assert_eq!(c(503), StatusClass::NotNow);
        assert_eq!(c(429), StatusClass::NotNow);
        assert_eq!(c(408), StatusClass::NotNow);
        assert_eq!(c(500), StatusClass::Unknown);
        assert_eq!(c(502), StatusClass::Unknown);
        assert_eq!(c(504), StatusClass::Unknown);
        assert_eq!(c(400), StatusClass::Refused);
        assert_eq!(c(401), StatusClass::Refused);
    }

    #[test]
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(snippet("a\nb", 10), "a b");
        assert_eq!(snippet("abcdef", 3), "abc…");
    }
}
