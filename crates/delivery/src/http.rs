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

/// Transport failures (connection refused, DNS, TLS, timeouts) are all
/// worth retrying later.
pub(crate) fn transport_error(provider: &str, e: &reqwest::Error) -> DeliveryError {
    if e.is_timeout() {
        return DeliveryError::Unavailable(format!("{provider} did not answer in time"));
    }
    // reqwest's own top line repeats the URL, which may carry credentials in
    // a query string: keep only the causes.
    let detail = match StdError::source(e) {
        Some(source) => error_chain(source),
        None => "request failed".to_owned(),
    };
    DeliveryError::Unavailable(format!("cannot reach {provider}: {detail}"))
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

/// Statuses that mean "not now" rather than "never": 408 Request Timeout,
/// 425 Too Early, 429 Too Many Requests, and every 5xx.
pub(crate) fn is_transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429)
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
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(snippet("a\nb", 10), "a b");
        assert_eq!(snippet("abcdef", 3), "abc…");
    }
}
