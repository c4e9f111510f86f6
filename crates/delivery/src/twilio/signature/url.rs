//! URLs split and put back together the way Python's `urllib.parse` does:
//! the two URLs the official library signs for a request URL, with and
//! without its port.

use std::net::Ipv6Addr;

/// A URL split the way Python's `urllib.parse.urlparse` splits it (Python
/// 3.11, the version the reference library runs on here), for absolute
/// `http` and `https` URLs; [`geturl`](Self::geturl) puts it back together
/// like `ParseResult.geturl()`.
///
/// The `url` crate's parser (`url::Url`) only says whether this is a URL at
/// all; it does not split it, because it normalises: it drops a default
/// port, lower-cases and IDNA-encodes the host, percent-encodes the path and
/// query. Python changes only this:
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
pub(super) struct PyUrl {
    scheme: String,
    netloc: String,
    /// The path without `params`.
    path: String,
    params: String,
    pub(super) query: String,
    fragment: String,
}

impl PyUrl {
    pub(super) fn parse(url: &str) -> Option<Self> {
        // Not a URL at all (relative, no host, spaces in the host…): Twilio
        // cannot have requested it. The strings signed are built below.
        ::url::Url::parse(url).ok()?;
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
    pub(super) fn port_variants(&self) -> Option<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
