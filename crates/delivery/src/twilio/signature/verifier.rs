//! [`WebhookVerifier`]: the secret and the algorithm of a webhook's
//! signature, the auth token's or a SharedKey's, as the
//! `X-Twilio-Webhooks-Signature-Settings` header says.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{SignatureAlgorithm, WebhookBody, validate_signature};

/// Checks webhook signatures with the account's auth token and the
/// SharedKey secrets Twilio may sign with instead: the one entry point for
/// the portal's webhook handlers.
///
/// [`verify`](Self::verify) picks the secret and the algorithm from the
/// `X-Twilio-Webhooks-Signature-Settings` header:
///
/// * no header, or one naming neither a key nor an algorithm: the auth token
///   and `HMAC_SHA1` (the library's `get_signature_algorithm` default);
/// * `key=<id>`: that SharedKey's secret, with the header's `algorithm=`
///   (default `HMAC_SHA1`). A key that is not configured here is refused,
///   even if the auth token would have matched;
/// * an `algorithm=` without a `key=`: refused (a SharedKey signature, but
///   which key's cannot be told);
/// * an algorithm the official library does not know: refused.
///
/// The official library reads only the algorithm from the header
/// (`get_signature_algorithm`) and leaves the choice of the secret to its
/// caller; in Twilio's documentation the header means a SharedKey
/// signature, and its `key=` says which.
#[derive(Clone)]
pub struct WebhookVerifier {
    auth_token: SecretString,
    shared_keys: Vec<(String, SecretString)>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("shared_key_ids", &self.shared_key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier for the auth token's signatures only.
    pub fn new(auth_token: SecretString) -> Self {
        Self {
            auth_token,
            shared_keys: Vec::new(),
        }
    }

    /// Also accepts signatures made with the SharedKey `id` (the `key=` of
    /// the settings header) and its `secret`. A second secret for the same
    /// id replaces the first.
    #[must_use]
    pub fn with_shared_key(mut self, id: impl Into<String>, secret: SecretString) -> Self {
        let id = id.into();
        self.shared_keys.retain(|(known, _)| *known != id);
        self.shared_keys.push((id, secret));
        self
    }

    /// The ids of the SharedKeys accepted, in the order they were added.
    pub fn shared_key_ids(&self) -> impl Iterator<Item = &str> {
        self.shared_keys.iter().map(|(id, _)| id.as_str())
    }

    /// Whether `signature` (the `X-Twilio-Signature` header) is valid for a
    /// request to `url` with `body`, given the
    /// `X-Twilio-Webhooks-Signature-Settings` header if the request had
    /// one. See the type's documentation for how the secret is chosen, and
    /// [`validate_signature`] for what `url` must be.
    pub fn verify(
        &self,
        url: &str,
        body: WebhookBody<'_>,
        signature: &str,
        settings_header: Option<&str>,
    ) -> bool {
        let settings = settings_header.map(SignatureSettings::parse);
        let (secret, algorithm) = match settings {
            None
            | Some(SignatureSettings {
                key: None,
                algorithm: None,
            }) => (&self.auth_token, SignatureAlgorithm::HmacSha1),
            Some(SignatureSettings { key: None, .. }) => return false,
            Some(SignatureSettings {
                key: Some(id),
                algorithm,
            }) => {
                let Some((_, secret)) = self.shared_keys.iter().find(|(known, _)| *known == id)
                else {
                    tracing::debug!(key = id, "webhook signed with a SharedKey not configured");
                    return false;
                };
                let Some(algorithm) = SignatureAlgorithm::from_name(algorithm.unwrap_or("")) else {
                    // The library logs a warning and fails validation.
                    tracing::warn!(
                        algorithm = algorithm.unwrap_or(""),
                        "webhook signed with an unsupported algorithm"
                    );
                    return false;
                };
                (secret, algorithm)
            }
        };
        validate_signature(secret.expose_secret(), algorithm, url, body, signature)
    }
}

/// `X-Twilio-Webhooks-Signature-Settings`, read part by part like the
/// official library's `get_signature_algorithm`: split on `,`, each part
/// split at its first `=`, names and values stripped of whitespace; the
/// first non-empty value of a name counts.
#[derive(Debug, PartialEq, Eq)]
struct SignatureSettings<'a> {
    key: Option<&'a str>,
    algorithm: Option<&'a str>,
}

impl<'a> SignatureSettings<'a> {
    fn parse(header: &'a str) -> Self {
        let first = |wanted: &str| {
            header.split(',').find_map(|part| {
                let (name, value) = part.split_once('=')?;
                let value = py_strip(value);
                (py_strip(name) == wanted && !value.is_empty()).then_some(value)
            })
        };
        Self {
            key: first("key"),
            algorithm: first("algorithm"),
        }
    }
}

/// Python's `str.strip()`: Unicode whitespace, which for Python also takes in
/// the information separators U+001C to U+001F.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `get_signature_algorithm` of the official library gives, for these
    /// headers: HMAC_SHA1, HMAC_SHA1, HMAC_SHA256, "hmac_sha256" (valid:
    /// upper-cased), HMAC_SHA256, HMAC_SHA256, "HMAC_SHA512" (invalid),
    /// "hmac_\u{17f}ha256" (valid: `str.upper` makes the long s an S).
    #[test]
    fn the_settings_header_is_read_like_the_official_library() {
        let algorithm = |h: &str| {
            SignatureSettings::parse(h).algorithm.map_or(
                Some(SignatureAlgorithm::HmacSha1),
                SignatureAlgorithm::from_name,
            )
        };
        use SignatureAlgorithm::{HmacSha1, HmacSha256};
        assert_eq!(algorithm(""), Some(HmacSha1));
        assert_eq!(algorithm("key=K1"), Some(HmacSha1));
        assert_eq!(algorithm("key=K1,algorithm=HMAC_SHA256"), Some(HmacSha256));
        assert_eq!(
            algorithm(" algorithm = hmac_sha256 , key = K1 "),
            Some(HmacSha256)
        );
        assert_eq!(
            algorithm("algorithm=,algorithm=HMAC_SHA256"),
            Some(HmacSha256)
        );
        assert_eq!(
            algorithm("algorithm\u{1f}=\u{1f}HMAC_SHA256\u{1c}"),
            Some(HmacSha256)
        );
        assert_eq!(algorithm("algorithm=HMAC_SHA512"), None);
        assert_eq!(algorithm("algorithm=hmac_\u{17f}ha256"), Some(HmacSha256));
        assert_eq!(
            SignatureSettings::parse(" algorithm = hmac_sha256 , key = K1 ").key,
            Some("K1")
        );
    }
}
