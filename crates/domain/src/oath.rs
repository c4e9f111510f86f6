//! The OATH engine: HOTP (RFC 4226) and TOTP (RFC 6238) codes, and their
//! validation with replay protection, clock drift and HOTP look-ahead.
//!
//! Everything here is a pure function. The per-credential state that the
//! rules need (last accepted step or counter, learned drift, next HOTP
//! counter) comes in as a [`CredentialCounters`] value and the updated value
//! goes out in [`Accepted`]; the store must write it back atomically with a
//! condition on the old `last_used`, so that two concurrent requests cannot
//! both accept the same code (STYLE.md habit 8). The time is always a
//! parameter: nothing here reads the clock.

use crate::error::ParseError;
use hmac::{Hmac, KeyInit, Mac};
use subtle::{Choice, ConstantTimeEq};

/// The hash under the HMAC. RFC 4226 defines HOTP with SHA-1; RFC 6238 §1.2
/// allows SHA-256 and SHA-512 for TOTP, and tokens use them for HOTP too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlg {
    /// HMAC-SHA-1, what VIP credentials and nearly all tokens use.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl HashAlg {
    /// Parses `SHA1`, `SHA256` or `SHA512` (the `algorithm` values of the
    /// Key-Uri format). Case, a `-` after `SHA` and an `HMAC-` prefix are
    /// tolerated, so `sha-256` and `HMAC-SHA256` (a PSKC suite) also parse.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().to_ascii_uppercase();
        let s = s.strip_prefix("HMAC-").unwrap_or(&s).replace("SHA-", "SHA");
        match s.as_str() {
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            "SHA512" => Ok(Self::Sha512),
            _ => Err(ParseError::new(
                "algorithm",
                "The hash algorithm is SHA1, SHA256 or SHA512.",
            )),
        }
    }

    /// `SHA1`, `SHA256` or `SHA512`, as written in key URIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HashAlg {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// hmac 0.13 makes a function generic over the hash awkward to write (the
// bounds moved into digest's block API), so there is one function per hash.
fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC over the concatenation of `parts` (also used for PSKC `ValueMAC`s).
pub(crate) fn hmac(alg: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => hmac_sha1(key, parts),
        HashAlg::Sha256 => hmac_sha256(key, parts),
        HashAlg::Sha512 => hmac_sha512(key, parts),
    }
}

/// The number of digits we support. RFC 4226 §5.3 (R4) requires at least 6;
/// no OATH token we know of shows more than 8.
pub const DIGITS: std::ops::RangeInclusive<u32> = 6..=8;

/// The TOTP time step of VIP credentials and RFC 6238's default (§5.2).
pub const DEFAULT_PERIOD: u64 = 30;

/// The HOTP value for `counter` (RFC 4226 §5.2–5.3), zero-padded to
/// `digits` characters.
///
/// # Panics
/// If `digits` is outside [`DIGITS`]; [`OathParams::check`] guards inputs.
pub fn hotp(secret: &[u8], counter: u64, digits: u32, alg: HashAlg) -> String {
    assert!(DIGITS.contains(&digits), "unsupported OTP length {digits}");
    // RFC 4226 §5.2: the counter is an 8-byte big-endian value.
    let hs = hmac(alg, secret, &[&counter.to_be_bytes()]);
    // RFC 4226 §5.3 dynamic truncation: the low nibble of the last byte is
    // the offset of a 4-byte big-endian value whose top bit is dropped.
    // (RFC 6238 §1.2: for longer hashes the last byte is that of the HMAC.)
    let offset = usize::from(hs[hs.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([hs[offset], hs[offset + 1], hs[offset + 2], hs[offset + 3]])
        & 0x7fff_ffff;
    let code = bin % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The TOTP time step containing `unix_seconds`: `floor((T − T0) / X)` with
/// T0 = 0 (RFC 6238 §4.2). Times before 1970 give negative steps, which
/// never validate.
///
/// # Panics
/// If `period` is 0 or above `i64::MAX`.
pub fn totp_step(unix_seconds: i64, period: u64) -> i64 {
    let period = i64::try_from(period).expect("period fits in i64");
    unix_seconds.div_euclid(period)
}

/// Whether the codes change with time or with each button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Time-based (RFC 6238), with the time step in seconds.
    Totp {
        /// Time step X in seconds (RFC 6238 §4.1); 30 by default.
        period: u64,
    },
    /// Event-based (RFC 4226): the counter advances with each code.
    Hotp,
}

impl Kind {
    /// `totp` or `hotp`, as stored and shown by the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Totp { .. } => "totp",
            Kind::Hotp => "hotp",
        }
    }

    /// The kind named `name` (`totp` with its time step `period`, or
    /// `hotp`); `None` for another name.
    pub fn from_name(name: &str, period: u64) -> Option<Self> {
        match name {
            "totp" => Some(Kind::Totp { period }),
            "hotp" => Some(Kind::Hotp),
            _ => None,
        }
    }

    /// The TOTP time step in seconds; `None` for HOTP.
    pub fn period(self) -> Option<u64> {
        match self {
            Kind::Totp { period } => Some(period),
            Kind::Hotp => None,
        }
    }
}

/// Where a credential's codes are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validation {
    /// Here, from the sealed seed.
    Local,
    /// By the vendor's validation service (no seed here).
    Remote,
}

impl Validation {
    pub fn as_str(self) -> &'static str {
        match self {
            Validation::Local => "local",
            Validation::Remote => "remote",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(Validation::Local),
            "remote" => Some(Validation::Remote),
            _ => None,
        }
    }
}

/// How a credential computes its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OathParams {
    /// TOTP (with its period) or HOTP.
    pub kind: Kind,
    /// Code length, within [`DIGITS`].
    pub digits: u32,
    /// The HMAC's hash.
    pub alg: HashAlg,
}

impl OathParams {
    /// A VIP Access credential: TOTP, 30 s, 6 digits, HMAC-SHA1
    /// (DOMAIN.md §1, "Credential kinds").
    pub fn vip_totp() -> Self {
        Self {
            kind: Kind::Totp {
                period: DEFAULT_PERIOD,
            },
            digits: 6,
            alg: HashAlg::Sha1,
        }
    }

    /// An event-based token with 6 digits and HMAC-SHA1 (RFC 4226 defaults).
    pub fn hotp_default() -> Self {
        Self {
            kind: Kind::Hotp,
            digits: 6,
            alg: HashAlg::Sha1,
        }
    }

    /// Refuses parameters this engine cannot use: a length outside
    /// [`DIGITS`], or a TOTP period of 0 or above one day.
    pub fn check(&self) -> Result<(), ParseError> {
        if !DIGITS.contains(&self.digits) {
            return Err(ParseError::new("digits", "A code has 6, 7 or 8 digits."));
        }
        if let Kind::Totp { period } = self.kind
            && !(1..=86_400).contains(&period)
        {
            return Err(ParseError::new(
                "period",
                "The time step is between 1 and 86,400 seconds.",
            ));
        }
        Ok(())
    }

    fn code_at(&self, secret: &[u8], step_or_counter: i64) -> String {
        hotp(secret, step_or_counter as u64, self.digits, self.alg)
    }
}

/// Per-credential validation state, stored with the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CredentialCounters {
    /// The last accepted TOTP step or HOTP counter. Anything at or below it
    /// is refused: a code is good once, and only forward in time
    /// (RFC 6238 §5.2; RFC 4226 §7.2; VIP: "one-time use only").
    pub last_used: Option<i64>,
    /// TOTP: the learned clock drift of the token, in steps
    /// (RFC 6238 §6). The window is centred on `now_step + drift`.
    pub drift: i64,
    /// HOTP: the next counter value the server expects (RFC 4226 §7.2).
    pub next_counter: i64,
}

/// How tolerant validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidationPolicy {
    /// TOTP: steps accepted on each side of `now_step + drift`. RFC 6238
    /// §5.2 recommends "at most one time step" of network delay.
    pub totp_window: i64,
    /// HOTP: how many counters beyond the expected one are searched
    /// (RFC 4226 §7.4 look-ahead parameter s).
    pub hotp_look_ahead: i64,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            totp_window: 1,
            hotp_look_ahead: 10,
        }
    }
}

/// Upper bound on window, look-ahead and search sizes, so that a mistaken
/// policy value cannot make one request compute millions of HMACs.
pub const MAX_SEARCH: i64 = 10_000;

/// A code that validated, and the state to store in place of the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// The TOTP step or HOTP counter the code belongs to.
    pub step_or_counter: i64,
    /// The credential's new state; store it only if `last_used` is still
    /// the value that was read (compare-and-set), or the code could be
    /// accepted twice.
    pub new_counters: CredentialCounters,
}

/// Whether `code` has the right shape: exactly `digits` ASCII digits.
fn well_formed(code: &str, digits: u32) -> bool {
    code.len() == digits as usize && code.bytes().all(|b| b.is_ascii_digit())
}

/// Constant-time comparison of a code with the expected one. The lengths
/// are public (the format says how long a code is); the content is not.
fn code_matches(expected: &str, given: &str) -> Choice {
    expected.as_bytes().ct_eq(given.as_bytes())
}

/// Candidates in order of preference: `centre`, then `centre − 1`,
/// `centre + 1`, `centre − 2`, … up to `window` away.
fn by_distance(centre: i64, window: i64) -> impl Iterator<Item = i64> {
    std::iter::once(centre)
        .chain((1..=window).flat_map(move |d| [centre.saturating_sub(d), centre.saturating_add(d)]))
}

/// Checks `code` for a credential and, if it is good, says which step or
/// counter it belongs to and what the credential's new state is.
///
/// * The code must be exactly `params.digits` ASCII digits; anything else
///   never matches.
/// * A step or counter at or below `counters.last_used` is never accepted:
///   "the verifier MUST NOT accept the second attempt of the same OTP"
///   (RFC 6238 §5.2), and after a later code an earlier one fails too.
/// * TOTP: steps `now_step + drift ± totp_window` are checked; if several
///   match, the one closest to `now_step + drift` wins, and the drift is
///   re-learned as `matched_step − now_step` (RFC 6238 §6).
/// * HOTP: counters `next_counter ..= next_counter + hotp_look_ahead` are
///   checked, lowest first, and `next_counter` becomes `matched + 1`
///   (RFC 4226 §7.2, §7.4).
///
/// Every candidate is computed and compared in constant time (`subtle`), so
/// the time taken does not depend on which candidate, if any, matched.
/// Invalid `params` (see [`OathParams::check`]) never validate.
pub fn verify(
    params: &OathParams,
    secret: &[u8],
    code: &str,
    counters: &CredentialCounters,
    now_unix: i64,
    policy: &ValidationPolicy,
) -> Option<Accepted> {
    if params.check().is_err() || !well_formed(code, params.digits) {
        return None;
    }
    let usable = |c: i64| c >= 0 && counters.last_used.is_none_or(|last| c > last);
    let candidates: Vec<i64> = match params.kind {
        Kind::Totp { period } => {
            let centre = totp_step(now_unix, period).saturating_add(counters.drift);
            by_distance(centre, policy.totp_window.clamp(0, MAX_SEARCH)).collect()
        }
        Kind::Hotp => {
            let first = counters.next_counter.max(0);
            let last = first.saturating_add(policy.hotp_look_ahead.clamp(0, MAX_SEARCH));
            (first..=last).collect()
        }
    };
    let mut found: Option<i64> = None;
    for c in candidates.into_iter().filter(|&c| usable(c)) {
        // No early exit: every candidate costs the same HMAC and compare,
        // and the first (most preferred) hit is kept.
        let hit = code_matches(&params.code_at(secret, c), code);
        if bool::from(hit) && found.is_none() {
            found = Some(c);
        }
    }
    let matched = found?;
    let new_counters = match params.kind {
        Kind::Totp { period } => CredentialCounters {
            last_used: Some(matched),
            drift: matched.saturating_sub(totp_step(now_unix, period)),
            next_counter: counters.next_counter,
        },
        Kind::Hotp => CredentialCounters {
            last_used: Some(matched),
            drift: counters.drift,
            next_counter: matched.saturating_add(1),
        },
    };
    Some(Accepted {
        step_or_counter: matched,
        new_counters,
    })
}

/// TOTP resynchronisation searches ±32 minutes of the server clock, VIP's
/// "Low" security level (DOMAIN.md §1, Broadcom 175691).
pub const TOTP_SYNC_SECONDS: u64 = 32 * 60;

/// HOTP resynchronisation searches this many counters past the expected one
/// (a token pressed 1,000 times without a login is beyond help).
pub const HOTP_SYNC_LOOK_AHEAD: i64 = 1000;

/// The default `search` for [`synchronize`]: ±32 minutes' worth of steps
/// for TOTP (64 steps at 30 s), [`HOTP_SYNC_LOOK_AHEAD`] for HOTP.
pub fn default_sync_search(params: &OathParams) -> i64 {
    match params.kind {
        Kind::Totp { period } => (TOTP_SYNC_SECONDS / period.max(1)).max(1) as i64,
        Kind::Hotp => HOTP_SYNC_LOOK_AHEAD,
    }
}

/// Administrative resynchronisation with two consecutive codes (VIP
/// `ActivateToken(OTP1, OTP2)`, error 4923 "requires a second consecutive
/// OTP"; RFC 4226 §7.4; RFC 6238 §6).
///
/// `code2` must belong to the step or counter right after `code1`'s. TOTP
/// searches `now_step ± search` around the *server* clock (the learned
/// drift is what is being repaired); HOTP searches
/// `next_counter ..= next_counter + search`. Both codes must still be
/// unused (after `last_used`). On success the returned state has
/// `last_used` = `code2`'s step or counter, so neither code can be replayed,
/// and the learned drift (TOTP) or next counter (HOTP). Use
/// [`default_sync_search`] for `search`; it is capped at [`MAX_SEARCH`].
pub fn synchronize(
    params: &OathParams,
    secret: &[u8],
    code1: &str,
    code2: &str,
    counters: &CredentialCounters,
    now_unix: i64,
    search: i64,
) -> Option<CredentialCounters> {
    if params.check().is_err()
        || !well_formed(code1, params.digits)
        || !well_formed(code2, params.digits)
    {
        return None;
    }
    let search = search.clamp(0, MAX_SEARCH);
    let usable = |c: i64| c >= 0 && counters.last_used.is_none_or(|last| c > last);
    let (first_candidates, now_step): (Vec<i64>, i64) = match params.kind {
        Kind::Totp { period } => {
            let now_step = totp_step(now_unix, period);
            (by_distance(now_step, search).collect(), now_step)
        }
        Kind::Hotp => {
            let first = counters.next_counter.max(0);
            ((first..=first.saturating_add(search)).collect(), 0)
        }
    };
    let mut found: Option<i64> = None;
    for c in first_candidates.into_iter().filter(|&c| usable(c)) {
        let Some(next) = c.checked_add(1) else {
            continue;
        };
        let hit = code_matches(&params.code_at(secret, c), code1)
            & code_matches(&params.code_at(secret, next), code2);
        if bool::from(hit) && found.is_none() {
            found = Some(next);
        }
    }
    let second = found?;
    Some(match params.kind {
        Kind::Totp { .. } => CredentialCounters {
            last_used: Some(second),
            drift: second.saturating_sub(now_step),
            next_counter: counters.next_counter,
        },
        Kind::Hotp => CredentialCounters {
            last_used: Some(second),
            drift: counters.drift,
            next_counter: second.saturating_add(1),
        },
    })
}

/// A new random OATH secret: 20 bytes (160 bits), the length RFC 4226 §4
/// (R6) recommends and the HMAC-SHA1 output size.
pub fn generate_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    crate::secret::fill_random(&mut s);
    s
}

/// The secret in Base32 without padding, as authenticator apps want it.
pub fn secret_to_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Reads a Base32 secret as people type or paste it: spaces, dashes and
/// `=` padding are ignored, case does not matter.
pub fn secret_from_base32(input: &str) -> Result<Vec<u8>, ParseError> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match data_encoding::BASE32_NOPAD.decode(s.as_bytes()) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(ParseError::new(
            "secret",
            "The secret is Base32: letters A–Z and digits 2–7.",
        )),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so
/// spaces become `%20` as the Key-Uri format asks (not `+`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app scans from a QR code
/// (google/google-authenticator wiki, Key-Uri-Format), e.g.
/// `otpauth://totp/Gatehouse:alice?secret=…&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30`.
///
/// The label is `issuer:account`, each part percent-encoded (a `:` inside
/// either becomes `%3A`); `issuer` is repeated as a parameter, which the
/// format recommends. `counter` is the initial counter and is written only
/// for HOTP, where the format requires it.
pub fn key_uri(
    issuer: &str,
    account: &str,
    secret: &[u8],
    params: &OathParams,
    counter: u64,
) -> String {
    let issuer_enc = percent_encode(issuer);
    let (kind, tail) = match params.kind {
        Kind::Totp { period } => ("totp", format!("period={period}")),
        Kind::Hotp => ("hotp", format!("counter={counter}")),
    };
    format!(
        "otpauth://{kind}/{issuer_enc}:{account}?secret={secret}&issuer={issuer_enc}&algorithm={alg}&digits={digits}&{tail}",
        account = percent_encode(account),
        secret = secret_to_base32(secret),
        alg = params.alg.as_str(),
        digits = params.digits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED1: &[u8] = b"12345678901234567890";

    #[test]
    fn hash_names_parse() {
        assert_eq!(HashAlg::parse("SHA1").unwrap(), HashAlg::Sha1);
        assert_eq!(HashAlg::parse("sha256").unwrap(), HashAlg::Sha256);
        assert_eq!(HashAlg::parse("HMAC-SHA512").unwrap(), HashAlg::Sha512);
        assert_eq!(HashAlg::parse("SHA-256").unwrap(), HashAlg::Sha256);
        assert_eq!(HashAlg::parse("MD5").unwrap_err().field, "algorithm");
        for a in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512] {
            assert_eq!(HashAlg::parse(a.as_str()).unwrap(), a);
        }
    }

    #[test]
    fn steps_floor_towards_minus_infinity() {
        assert_eq!(totp_step(59, 30), 1);
        assert_eq!(totp_step(60, 30), 2);
        assert_eq!(totp_step(0, 30), 0);
        assert_eq!(totp_step(-1, 30), -1);
    }

    #[test]
    fn params_are_checked() {
        assert!(OathParams::vip_totp().check().is_ok());
        let mut p = OathParams::vip_totp();
        p.digits = 5;
        assert_eq!(p.check().unwrap_err().field, "digits");
        assert!(
            verify(
                &p,
                SEED1,
                "12345",
                &CredentialCounters::default(),
                59,
                &ValidationPolicy::default()
            )
            .is_none()
        );
        p.digits = 6;
        p.kind = Kind::Totp { period: 0 };
        assert_eq!(p.check().unwrap_err().field, "period");
    }

    #[test]
    fn base32_round_trip_and_lenient_input() {
        let b32 = secret_to_base32(SEED1);
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(secret_from_base32(&b32).unwrap(), SEED1);
        assert_eq!(
            secret_from_base32("gezd gnbv gy3t qojq-gezd gnbv gy3t qojq").unwrap(),
            SEED1
        );
        assert_eq!(secret_from_base32("JBSWY3DPEE======").unwrap(), b"Hello!");
        assert!(secret_from_base32("not base32 1!").is_err());
        assert!(secret_from_base32("").is_err());
    }

    #[test]
    fn key_uri_follows_the_key_uri_format() {
        let uri = key_uri(
            "Example Co",
            "alice@example.com",
            SEED1,
            &OathParams::vip_totp(),
            0,
        );
        assert_eq!(
            uri,
            "otpauth://totp/Example%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let hotp = OathParams {
            kind: Kind::Hotp,
            digits: 8,
            alg: HashAlg::Sha256,
        };
        let uri = key_uri("A:B", "bob", SEED1, &hotp, 7);
        assert!(uri.starts_with("otpauth://hotp/A%3AB:bob?"), "{uri}");
        assert!(
            uri.ends_with("&algorithm=SHA256&digits=8&counter=7"),
            "{uri}"
        );
    }

    #[test]
    fn generated_secrets_are_20_random_bytes() {
        let a = generate_secret();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate_secret());
    }
}
