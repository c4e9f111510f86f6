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

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv6Addr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

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

/// A URL split the way Python's `urllib.parse.urlparse` splits it (Python
/// 3.11, the version the reference library runs on here), for absolute
/// `http` and `https` URLs; [`geturl`](Self::geturl) puts it back together
/// like `ParseResult.geturl()`.
///
/// A URL parser (`url`, as in `reqwest::Url`) is not used for this because
/// it normalises: it drops a default port, lower-cases and IDNA-encodes the
/// host, percent-encodes the path and query. Python changes only this:
///
/// * leading C0 controls and spaces are removed, and tabs, CR and LF
///   anywhere (`urlsplit`);
/// * the scheme is lower-cased;
/// * a `?` with an empty query and a `#` with an empty fragment are dropped,
///   and so is a `;` that ends the path when it is the first `;` of the last
///   segment (empty `params`).
///
/// Where Python raises `ValueError` (mismatched brackets, a bracketed host
/// that is no IPv6 address, a netloc that NFKC turns into URL delimiters, a
/// port that is not a number from 0 to 65535), parsing fails, and the
/// signature is refused.
#[derive(Debug, PartialEq, Eq)]
struct PyUrl {
    scheme: String,
    netloc: String,
    /// The path without `params`.
    path: String,
    params: String,
    query: String,
    fragment: String,
}

impl PyUrl {
    fn parse(url: &str) -> Option<Self> {
        // Not a URL at all (relative, no host, spaces in the host…): Twilio
        // cannot have requested it. The strings signed are built below.
        reqwest::Url::parse(url).ok()?;
        // urlsplit: `url.lstrip(_WHATWG_C0_CONTROL_OR_SPACE)`, then
        // `_UNSAFE_URL_BYTES_TO_REMOVE` removed.
        let cleaned: String = url
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        // The scheme: before the first `:`, a letter then scheme characters.
        let (scheme, rest) = cleaned.split_once(':')?;
        if !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let mut rest = rest;
        let mut netloc = "";
        if let Some(after) = rest.strip_prefix("//") {
            // `_splitnetloc`: up to the first `/`, `?` or `#`.
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            (netloc, rest) = after.split_at(end);
            let (open, close) = (netloc.contains('['), netloc.contains(']'));
            if open != close {
                return None; // "Invalid IPv6 URL"
            }
            if open {
                let bracketed = netloc.split_once('[').map_or("", |(_, b)| b);
                let host = bracketed.split_once(']').map_or(bracketed, |(h, _)| h);
                if !bracketed_host_is_valid(host) {
                    return None;
                }
            }
        }
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !netloc_survives_nfkc(netloc) {
            return None;
        }
        // urlparse: `_splitparams` when `;` is in the path (http and https
        // are `uses_params` schemes): from the first `;` of the last segment.
        let segment = path.rfind('/').unwrap_or(0);
        let (path, params) = match path[segment..].find(';') {
            Some(i) => (&path[..segment + i], &path[segment + i + 1..]),
            None => (path, ""),
        };
        Some(Self {
            scheme,
            netloc: netloc.to_owned(),
            path: path.to_owned(),
            params: params.to_owned(),
            query: query.to_owned(),
            fragment: fragment.to_owned(),
        })
    }

    /// The `port` property: from the host part of the netloc (after the
    /// last `@`), after the `]` of a bracketed host, else after the first
    /// `:`. `Ok(None)` when there is none or it is empty; `Err` where Python
    /// raises (not ASCII digits, or over 65535).
    fn port(&self) -> Result<Option<u16>, ()> {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(&*self.netloc, |(_, h)| h);
        let port = match hostinfo.split_once('[') {
            Some((_, bracketed)) => bracketed
                .split_once(']')
                .and_then(|(_, after)| after.split_once(':'))
                .map_or("", |(_, p)| p),
            None => hostinfo.split_once(':').map_or("", |(_, p)| p),
        };
        if port.is_empty() {
            return Ok(None);
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        // Leading zeros are fine; too many digits is out of range.
        port.parse::<u16>().map(Some).map_err(|_| ())
    }

    /// `(remove_port(uri), add_port(uri))` of the official library:
    ///
    /// * `remove_port`: without a (non-zero) port, `geturl()`; else the
    ///   netloc becomes `netloc.split(":")[0]` (user information and
    ///   brackets included: the library's own way);
    /// * `add_port`: with a (non-zero) port, `geturl()`; else the netloc
    ///   gets `:443` for https and `:80` otherwise.
    fn port_variants(&self) -> Option<(String, String)> {
        // `if not uri.port`: no port, or port 0.
        let has_port = matches!(self.port().ok()?, Some(p) if p != 0);
        if has_port {
            let bare = self.netloc.split(':').next().unwrap_or("");
            Some((self.geturl(bare), self.geturl(&self.netloc)))
        } else {
            let port = if self.scheme == "https" { 443 } else { 80 };
            let with_port = format!("{}:{port}", self.netloc);
            Some((self.geturl(&self.netloc), self.geturl(&with_port)))
        }
    }

    /// `geturl()` with `netloc`: `urlunparse`, then `urlunsplit` as Python
    /// 3.11 has it for a scheme in `uses_netloc`.
    fn geturl(&self, netloc: &str) -> String {
        let mut path = self.path.clone();
        if !self.params.is_empty() {
            path.push(';');
            path.push_str(&self.params);
        }
        let mut url = format!("{}:", self.scheme);
        if !netloc.is_empty() || !path.starts_with("//") {
            url.push_str("//");
            url.push_str(netloc);
            if !path.is_empty() && !path.starts_with('/') {
                url.push('/');
            }
        }
        url.push_str(&path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        if !self.fragment.is_empty() {
            url.push('#');
            url.push_str(&self.fragment);
        }
        url
    }
}

/// `_check_bracketed_host`: `v<hex>.<anything>` (IPvFuture), or an IPv6
/// address, optionally with a `%zone` (`ipaddress.ip_address`; an IPv4
/// address in brackets is refused).
fn bracketed_host_is_valid(host: &str) -> bool {
    if let Some(future) = host.strip_prefix('v') {
        // re.match(r"\Av[a-fA-F0-9]+\..+\Z", hostname)
        return future.split_once('.').is_some_and(|(hex, tail)| {
            !hex.is_empty()
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && !tail.is_empty()
                && !tail.contains('\n')
        });
    }
    let address = match host.split_once('%') {
        Some((_, zone)) if zone.is_empty() || zone.contains('%') => return false,
        Some((address, _)) => address,
        None => host,
    };
    address.parse::<Ipv6Addr>().is_ok()
}

/// `_checknetloc`: a non-ASCII netloc must not turn into URL delimiters under
/// NFKC normalisation. These are the characters whose NFKC form contains
/// `/`, `?`, `#`, `@` or `:` (Unicode 14, Python 3.11's `unicodedata`).
fn netloc_survives_nfkc(netloc: &str) -> bool {
    const EXPANDS_TO_DELIMITERS: [char; 19] = [
        '\u{2047}', '\u{2048}', '\u{2049}', '\u{2100}', '\u{2101}', '\u{2105}', '\u{2106}',
        '\u{2a74}', '\u{fe13}', '\u{fe16}', '\u{fe55}', '\u{fe56}', '\u{fe5f}', '\u{fe6b}',
        '\u{ff03}', '\u{ff0f}', '\u{ff1a}', '\u{ff1f}', '\u{ff20}',
    ];
    netloc.is_ascii() || !netloc.contains(EXPANDS_TO_DELIMITERS)
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

    /// The URLs the official library signs for a request URL: the
    /// expectations were computed once with `twilio` 9.13.0 on Python 3.11
    /// (`remove_port(urlparse(u))`, `add_port(urlparse(u))`, `None` where
    /// they raise `ValueError`) and pasted here.
    #[test]
    fn url_variants_are_those_of_the_official_library() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "https://portal.example.com/api/v1/telephony/twilio/gather/abc?c=7",
                Some((
                    "https://portal.example.com/api/v1/telephony/twilio/gather/abc?c=7",
                    "https://portal.example.com:443/api/v1/telephony/twilio/gather/abc?c=7",
                )),
            ),
            (
                "https://portal.example.com:443/cb",
                Some((
                    "https://portal.example.com/cb",
                    "https://portal.example.com:443/cb",
                )),
            ),
            (
                "http://portal.example.com:8080/cb?x=1",
                Some((
                    "http://portal.example.com/cb?x=1",
                    "http://portal.example.com:8080/cb?x=1",
                )),
            ),
            (
                "http://portal.example.com/cb",
                Some((
                    "http://portal.example.com/cb",
                    "http://portal.example.com:80/cb",
                )),
            ),
            (
                "HTTPS://Portal.Example.COM/CB?A=%2b",
                Some((
                    "https://Portal.Example.COM/CB?A=%2b",
                    "https://Portal.Example.COM:443/CB?A=%2b",
                )),
            ),
            (
                "https://portal.example.com/cb?",
                Some((
                    "https://portal.example.com/cb",
                    "https://portal.example.com:443/cb",
                )),
            ),
            (
                "https://portal.example.com/cb#",
                Some((
                    "https://portal.example.com/cb",
                    "https://portal.example.com:443/cb",
                )),
            ),
            (
                "https://portal.example.com/cb#frag",
                Some((
                    "https://portal.example.com/cb#frag",
                    "https://portal.example.com:443/cb#frag",
                )),
            ),
            (
                "https://portal.example.com/a;b/c;",
                Some((
                    "https://portal.example.com/a;b/c",
                    "https://portal.example.com:443/a;b/c",
                )),
            ),
            (
                "https://portal.example.com/a;b/c;d;",
                Some((
                    "https://portal.example.com/a;b/c;d;",
                    "https://portal.example.com:443/a;b/c;d;",
                )),
            ),
            (
                "https://portal.example.com/a/c;?x=1",
                Some((
                    "https://portal.example.com/a/c?x=1",
                    "https://portal.example.com:443/a/c?x=1",
                )),
            ),
            (
                "https://user:pw@portal.example.com:8443/cb",
                Some((
                    "https://user/cb",
                    "https://user:pw@portal.example.com:8443/cb",
                )),
            ),
            (
                "https://user:pw@portal.example.com/cb",
                Some((
                    "https://user:pw@portal.example.com/cb",
                    "https://user:pw@portal.example.com:443/cb",
                )),
            ),
            (
                "https://[::1]:8443/cb",
                Some(("https://[/cb", "https://[::1]:8443/cb")),
            ),
            (
                "https://[::1]/cb",
                Some(("https://[::1]/cb", "https://[::1]:443/cb")),
            ),
            (
                "https://portal.example.com:0/cb",
                Some((
                    "https://portal.example.com:0/cb",
                    "https://portal.example.com:0:443/cb",
                )),
            ),
            (
                "https://portal.example.com:/cb",
                Some((
                    "https://portal.example.com:/cb",
                    "https://portal.example.com::443/cb",
                )),
            ),
            (
                "https://portal.example.com:0443/cb",
                Some((
                    "https://portal.example.com/cb",
                    "https://portal.example.com:0443/cb",
                )),
            ),
            ("https://portal.example.com:65536/cb", None),
            ("https://portal.example.com:8x/cb", None),
            (
                "  https://portal.example.com/c\tb",
                Some((
                    "https://portal.example.com/cb",
                    "https://portal.example.com:443/cb",
                )),
            ),
            (
                "https://portal.example.com",
                Some((
                    "https://portal.example.com",
                    "https://portal.example.com:443",
                )),
            ),
            (
                "https://portal.example.com?x=1",
                Some((
                    "https://portal.example.com?x=1",
                    "https://portal.example.com:443?x=1",
                )),
            ),
            (
                "https://portal.example.com/a b?q=a b",
                Some((
                    "https://portal.example.com/a b?q=a b",
                    "https://portal.example.com:443/a b?q=a b",
                )),
            ),
            ("https://us\u{2100}er@portal.example.com/cb", None),
            (
                "https://b\u{fc}cher.example/cb",
                Some((
                    "https://b\u{fc}cher.example/cb",
                    "https://b\u{fc}cher.example:443/cb",
                )),
            ),
            ("https://us[er]@portal.example.com/cb", None),
        ];
        for (url, expected) in cases {
            let got = PyUrl::parse(url).and_then(|u| u.port_variants());
            let expected = expected.map(|(a, b)| (a.to_owned(), b.to_owned()));
            assert_eq!(got, expected, "{url:?}");
        }
    }

    /// Not http(s), or not a URL at all.
    #[test]
    fn other_urls_are_refused() {
        for url in [
            "ftp://portal.example.com/cb",
            "/cb?x=1",
            "portal.example.com/cb",
            "",
        ] {
            assert!(PyUrl::parse(url).is_none(), "{url:?}");
        }
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

    #[test]
    fn form_pairs_decodes_plus_and_percent() {
        assert_eq!(
            form_pairs(b"To=%2B14155550123&Body=a+b&Digits="),
            pairs(&[("To", "+14155550123"), ("Body", "a b"), ("Digits", "")])
        );
    }
}
