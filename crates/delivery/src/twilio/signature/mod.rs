//! Twilio's request signature (`X-Twilio-Signature`), which tells the portal
//! that a webhook (call instructions, a Gather action, a status callback)
//! really comes from the provider that holds the signing secret.
//!
//! This is a faithful port of `RequestValidator` in Twilio's official Python
//! library (`twilio.request_validator`, package `twilio` 9.13.0), the
//! reference the tests compare against. What it does, piece by piece:
//!
//! * **The signed string** ([`compute_signature`]): the URL, then for each
//!   parameter name in `sorted(set(names))`, for each value in
//!   `sorted(set(values of that name))`, the name followed by the value, with
//!   no separators. Repeated pairs therefore count once, and the values of a
//!   name are sorted, whatever order the form had.
//! * **The MAC**: HMAC keyed with the secret, SHA-1 by default or SHA-256
//!   when the algorithm is `HMAC_SHA256` ([`SignatureAlgorithm`]), encoded in
//!   standard base64 with padding.
//! * **The URL** ([`validate_signature`]): the library signs the URL twice,
//!   once with the port added (`:443` for https, `:80` otherwise, when it has
//!   none) and once with the port removed, and accepts either, "since sig
//!   generation on back end is inconsistent" (its comment). Both strings are
//!   built here the way Python's `urlparse(…)` / `geturl()` build them, so
//!   the path and query stay byte-for-byte as given, with only Python's own
//!   changes (see `PyUrl`).
//! * **JSON bodies**: when the query has a `bodySHA256` parameter and the
//!   body is raw ([`WebhookBody::Raw`]), the body's SHA-256 in lower-case hex
//!   must equal that parameter, and the URL is signed without parameters.
//! * **Shared keys** ([`WebhookVerifier`]): with a Webhook Setting, Twilio
//!   signs with a SharedKey secret instead of the auth token and says so in
//!   `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=<algorithm>`
//!   ([`SIGNATURE_SETTINGS_HEADER`]). Without that header the secret is the
//!   auth token and the algorithm `HMAC_SHA1`; an algorithm the library does
//!   not know fails validation.
//!
//! Signatures are compared in constant time (`subtle`), like the library's
//! `compare`.
//!
//! Written here rather than taken from a crate because the only crates that
//! implement it are whole Twilio SDKs.

mod url;
mod verifier;

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use self::url::PyUrl;
pub use self::verifier::WebhookVerifier;
// For the gateway's check of the configured SharedKey ids.
#[cfg(feature = "http")]
pub(crate) use self::verifier::py_strip;

/// The header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The header Twilio adds to webhooks signed with a SharedKey:
/// `key=<sharedKeyId>,algorithm=<HMAC_SHA1|HMAC_SHA256>`.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The query parameter that carries the SHA-256 of a JSON body.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// The HMAC of a signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `HMAC_SHA1`: the auth token's signatures, and the default.
    #[default]
    HmacSha1,
    /// `HMAC_SHA256`: offered for SharedKey signatures.
    HmacSha256,
}

impl SignatureAlgorithm {
    /// The algorithm of a name as the official library reads it:
    /// `_HASH_FUNCTIONS.get((algorithm or HMAC_SHA1).upper())`, so the name
    /// is case-insensitive (Unicode upper-casing, like Python's
    /// `str.upper`) and an empty name is `HMAC_SHA1`. `None` for a name it
    /// does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.is_empty() {
            return Some(Self::HmacSha1);
        }
        match name.to_uppercase().as_str() {
            "HMAC_SHA1" => Some(Self::HmacSha1),
            "HMAC_SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }

    /// `HMAC_SHA1` or `HMAC_SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The body of a webhook request, as the official library's `params`
/// argument takes it.
#[derive(Clone, Copy, Debug)]
pub enum WebhookBody<'a> {
    /// A form (`application/x-www-form-urlencoded`, or a GET with none):
    /// every pair as received, repeated names included ([`form_pairs`]).
    /// The library's dictionary or `MultiDict` of POST variables.
    Form(&'a [(String, String)]),
    /// Any other body (JSON), exactly as received. The library's "string of
    /// POST body for JSON requests": checked against the URL's `bodySHA256`;
    /// a non-empty raw body without that parameter is refused (the library
    /// fails on it), an empty one signs the URL alone.
    Raw(&'a [u8]),
}

/// Computes the signature of `url` with the form parameters `params` (an
/// empty slice for GET or JSON requests), keyed with `secret`: the official
/// library's `RequestValidator(secret).compute_signature(url, params,
/// algorithm)`. `url` is signed exactly as given.
///
/// The parameters are taken as the library takes a `MultiDict`: names in
/// sorted order, and for each name its distinct values in sorted order;
/// pairs that repeat count once. The order of `params` does not matter.
pub fn compute_signature(
    secret: &str,
    algorithm: SignatureAlgorithm,
    url: &str,
    params: &[(String, String)],
) -> String {
    // `for param_name in sorted(set(params))`, `for value in
    // sorted(set(values))`: the sorted set of (name, value) pairs. Python
    // sorts strings by code point, which is the byte order of UTF-8.
    let pairs: BTreeSet<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let parts = std::iter::once(url).chain(pairs.into_iter().flat_map(|(n, v)| [n, v]));
    match algorithm {
        SignatureAlgorithm::HmacSha1 => mac_base64::<Hmac<sha1::Sha1>>(secret, parts),
        SignatureAlgorithm::HmacSha256 => mac_base64::<Hmac<sha2::Sha256>>(secret, parts),
    }
}

fn mac_base64<'a, M: Mac + KeyInit>(secret: &str, parts: impl Iterator<Item = &'a str>) -> String {
    let mut mac =
        <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// The auth token's signature (`HMAC_SHA1`) of `url` with the form
/// parameters `params`; see [`compute_signature`].
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    compute_signature(auth_token, SignatureAlgorithm::HmacSha1, url, params)
}

/// Whether `signature` (the `X-Twilio-Signature` header as received) is the
/// signature of this request with `secret` and `algorithm`: the official
/// library's `RequestValidator(secret).validate(url, body, signature,
/// algorithm)`, where it raises an error answering `false`.
///
/// `url` must be the URL the provider requested, as the provider saw it
/// (scheme, host, port and query string included, not re-encoded): behind a
/// reverse proxy, the configured public URL and the path and query received.
/// It must be an absolute `http` or `https` URL.
pub fn validate_signature(
    secret: &str,
    algorithm: SignatureAlgorithm,
    url: &str,
    body: WebhookBody<'_>,
    signature: &str,
) -> bool {
    // `urlparse(uri)`, `add_port(…)`, `remove_port(…)` (which raise on a bad
    // port or host).
    let Some(parsed) = PyUrl::parse(url) else {
        return false;
    };
    let Some((without_port, with_port)) = parsed.port_variants() else {
        return false;
    };
    let no_params: &[(String, String)] = &[];
    let (valid_body_hash, params) = match body {
        WebhookBody::Form(params) => (true, params),
        // `if "bodySHA256" in query and isinstance(params, str)`: compare the
        // body's hash with the parameter and sign the URL alone.
        WebhookBody::Raw(raw) => match body_hash_param(&parsed.query) {
            Some(expected) => {
                let actual = hex_lower(&sha2::Sha256::digest(raw));
                (
                    bool::from(actual.as_bytes().ct_eq(expected.as_bytes())),
                    no_params,
                )
            }
            // `if params:` is false for an empty string: the URL alone.
            None if raw.is_empty() => (true, no_params),
            // The library would take the string for a dictionary and fail.
            None => return false,
        },
    };
    // An HTTP header value has no surrounding whitespace (RFC 9110 §5.5);
    // HTTP servers remove it, and so does this, as it always did.
    let signature = signature.trim_matches([' ', '\t']).as_bytes();
    // "check signature of uri with and without port, since sig generation
    // on back end is inconsistent" (the official library): either is valid.
    let valid_without_port = compute_signature(secret, algorithm, &without_port, params)
        .as_bytes()
        .ct_eq(signature);
    let valid_with_port = compute_signature(secret, algorithm, &with_port, params)
        .as_bytes()
        .ct_eq(signature);
    valid_body_hash && bool::from(valid_without_port | valid_with_port)
}

/// Whether `header_value` (the `X-Twilio-Signature` header as received) is
/// the auth token's signature of a form request: [`validate_signature`] with
/// `HMAC_SHA1` and [`WebhookBody::Form`]. Compares in constant time.
///
/// `url` must be the URL the provider requested, as the provider saw it
/// (scheme, host, port and query string included): behind a reverse proxy,
/// use the configured public URL rather than the one the server received.
/// With or without the default port, both are accepted, as the official
/// library does.
pub fn verify_twilio_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_value: &str,
) -> bool {
    validate_signature(
        auth_token,
        SignatureAlgorithm::HmacSha1,
        url,
        WebhookBody::Form(params),
        header_value,
    )
}

/// The first non-blank `bodySHA256` of a query, as `parse_qs(query)
/// ["bodySHA256"][0]` reads it: `&`-separated, `+` and `%XX` decoded, blank
/// values (and names without `=`) ignored.
fn body_hash_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name == BODY_HASH_PARAM && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an `application/x-www-form-urlencoded` body into ordered pairs, as
/// [`compute_signature`] and [`WebhookBody::Form`] want them.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sorting_is_by_name_and_values_follow_names() {
        let a = twilio_signature("t", "https://x/", &pairs(&[("b", "2"), ("a", "1")]));
        let b = twilio_signature("t", "https://x/", &pairs(&[("a", "1"), ("b", "2")]));
        assert_eq!(a, b);
        assert_eq!(a.len(), 28);
        let c = twilio_signature("t", "https://x/", &pairs(&[("a", "2"), ("b", "1")]));
        assert_ne!(a, c);
    }

    /// Computed once with `twilio` 9.13.0 and pasted:
    /// `RequestValidator("12345").compute_signature(url, multidict[, "HMAC_SHA256"])`
    /// with a `MultiDict` holding `PAIRS` (repeated `Digits=1` and an empty
    /// `Body` included).
    #[test]
    fn signatures_are_those_of_the_official_library() {
        const PAIRS: &[(&str, &str)] = &[
            ("Digits", "1"),
            ("To", "+14155550100"),
            ("Digits", "1"),
            ("Digits", "0"),
            ("CallSid", "CA01"),
            ("Body", "a b"),
            ("Body", ""),
        ];
        let url = "https://portal.example.com/cb?c=7";
        let mut params = pairs(PAIRS);
        assert_eq!(
            compute_signature("12345", SignatureAlgorithm::HmacSha1, url, &params),
            "uiz2BrMZOa/K+lhn3wQjVLtg8uc="
        );
        params.reverse();
        assert_eq!(
            compute_signature("12345", SignatureAlgorithm::HmacSha256, url, &params),
            "n3kGxtOoyAWABPWscLZJkk7Bti854uCI75Aghtg057I="
        );
        assert!(validate_signature(
            "12345",
            SignatureAlgorithm::HmacSha1,
            url,
            WebhookBody::Form(&params),
            "uiz2BrMZOa/K+lhn3wQjVLtg8uc="
        ));
        // The repeated `Digits=1` counts once: without it, the same.
        params.retain(|(k, v)| !(k == "Digits" && v == "1"));
        params.push(("Digits".to_owned(), "1".to_owned()));
        assert!(validate_signature(
            "12345",
            SignatureAlgorithm::HmacSha1,
            url,
            WebhookBody::Form(&params),
            "uiz2BrMZOa/K+lhn3wQjVLtg8uc="
        ));
    }

    /// The JSON body of the official libraries' tests; hash and signature
    /// computed once with `twilio` 9.13.0 and pasted.
    #[test]
    fn json_bodies_are_checked_against_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("https://portal.example.com/status?bodySHA256={hash}");
        let sig = "PHvbUSPpqLsL3POw8YvLRW/WcH8=";
        let check = |url: &str, body: &[u8]| {
            validate_signature(
                "12345",
                SignatureAlgorithm::HmacSha1,
                url,
                WebhookBody::Raw(body),
                sig,
            )
        };
        assert!(check(&url, body));
        assert!(!check(&url, br#"{"property": "value", "boolean": false}"#));
        // The signature covers the URL, hash included.
        let other = format!(
            "https://portal.example.com/status?bodySHA256={}",
            "0".repeat(64)
        );
        assert!(!check(&other, body));
        // A raw body without the hash parameter cannot be checked.
        assert!(!check("https://portal.example.com/status", body));
        assert_eq!(
            body_hash_param(&format!("bodySHA256=&body%53HA256={hash}")).as_deref(),
            Some(hash)
        );
        assert_eq!(body_hash_param("bodySHA256&x=1"), None);
    }

    #[test]
    fn form_pairs_decodes_plus_and_percent() {
        assert_eq!(
            form_pairs(b"To=%2B14155550123&Body=a+b&Digits="),
            pairs(&[("To", "+14155550123"), ("Body", "a b"), ("Digits", "")])
        );
    }
}
