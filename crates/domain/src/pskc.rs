//! Import of OATH token seeds from PSKC files (RFC 6030, Portable Symmetric
//! Key Container), the format token vendors ship seeds in.
//!
//! Supported: HOTP and TOTP keys; plaintext secrets; secrets (and counters
//! or time intervals) encrypted with AES-CBC (RFC 6030 §6.1) under a
//! pre-shared key (§6.1) or a PBKDF2 key from a passphrase (§6.2); the
//! HMAC that authenticates every encrypted value (§6.1.1). Not supported:
//! public-key encryption (§6.3), key wrap, digital signatures (§7), OCRA
//! and other algorithms.
//!
//! Elements are matched by local name, ignoring namespace prefixes: vendors
//! and python-pskc use different prefixes (`pskc:`, none, `xenc11:` vs
//! `pkcs5:` for the PBKDF2 parameters), and nothing else in a PSKC document
//! shares these local names.
//!
//! The import is all or nothing: if any key package fails, [`parse`]
//! returns the first failure, naming the package, and no key.

use crate::oath::{self, HashAlg, Kind, OathParams};
use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use quick_xml::events::Event;
use subtle::ConstantTimeEq;

/// What unlocks an encrypted PSKC file.
#[derive(Clone, PartialEq, Eq)]
pub enum DecryptionKey {
    /// A pre-shared AES key (16 bytes for AES-128-CBC; 24 and 32 bytes
    /// for AES-192/256), named in the file by `<ds:KeyName>` (RFC 6030 §6.1).
    PreShared(Vec<u8>),
    /// A passphrase from which the key is derived with PBKDF2 (RFC 6030
    /// §6.2, RFC 8018 §5.2).
    Passphrase(String),
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PreShared(_) => f.write_str("PreShared(<redacted>)"),
            Self::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// Event- or time-based key (the `Algorithm` URI of `<Key>`, RFC 6030 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `urn:ietf:params:xml:ns:keyprov:pskc:hotp` (RFC 4226).
    Hotp,
    /// `urn:ietf:params:xml:ns:keyprov:pskc:totp` (RFC 6238).
    Totp,
}

/// One imported token seed.
#[derive(Clone, PartialEq, Eq)]
pub struct PskcKey {
    /// `DeviceInfo/SerialNo` (RFC 6030 §4.3.1), or the key's `Id` when the
    /// device has no serial number. For VIP hardware this is the Credential ID.
    pub serial: String,
    /// The `Id` attribute of `<Key>`.
    pub key_id: String,
    /// HOTP or TOTP.
    pub kind: KeyKind,
    /// From `AlgorithmParameters/Suite` (e.g. `HMAC-SHA256`); SHA1 if absent.
    pub alg: HashAlg,
    /// `AlgorithmParameters/ResponseFormat/@Length`; 6 if absent.
    pub digits: u32,
    /// `Data/Counter`: for HOTP, the next counter value to use; 0 if absent.
    pub counter: u64,
    /// `Data/TimeInterval` in seconds; 30 if absent.
    pub time_interval: u64,
    /// The OATH secret (`Data/Secret`).
    pub secret: Vec<u8>,
}

impl PskcKey {
    /// The parameters for [`crate::oath`] validation.
    pub fn oath_params(&self) -> OathParams {
        OathParams {
            kind: match self.kind {
                KeyKind::Hotp => Kind::Hotp,
                KeyKind::Totp => Kind::Totp {
                    period: self.time_interval,
                },
            },
            digits: self.digits,
            alg: self.alg,
        }
    }
}

impl std::fmt::Debug for PskcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskcKey")
            .field("serial", &self.serial)
            .field("key_id", &self.key_id)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .field("digits", &self.digits)
            .field("counter", &self.counter)
            .field("time_interval", &self.time_interval)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a PSKC file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PskcError {
    /// The bytes are not well-formed XML (or not UTF-8).
    #[error("The file is not well-formed XML: {0}")]
    Xml(String),
    /// Well-formed XML, but not a PSKC document.
    #[error("The file is not a PSKC key container (RFC 6030): the root element is <{0}>.")]
    NotPskc(String),
    /// A `Version` other than 1.x (RFC 6030 §4: "1.0").
    #[error("PSKC version {0} is not supported (RFC 6030 defines version 1.0).")]
    Version(String),
    /// A container without `<KeyPackage>`s.
    #[error("The file contains no key packages.")]
    NoKeyPackages,
    /// One key package failed; nothing is imported.
    #[error("Key package {index}{}: {problem}.", serial_note(.serial))]
    Package {
        /// 1-based position of the `<KeyPackage>` in the file.
        index: usize,
        /// Its serial number or key id, when it has one.
        serial: Option<String>,
        /// What is wrong with it.
        problem: Problem,
    },
}

fn serial_note(serial: &Option<String>) -> String {
    match serial {
        Some(s) => format!(" (serial {s})"),
        None => String::new(),
    }
}

/// What is wrong with one key package.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No `<Key>` element.
    #[error("it contains no <Key>")]
    NoKey,
    /// Not HOTP or TOTP.
    #[error("unknown algorithm {0:?}; only HOTP and TOTP keys can be imported")]
    UnknownAlgorithm(String),
    /// A `Suite` other than SHA1/SHA256/SHA512.
    #[error("unknown hash suite {0:?}; SHA1, SHA256 and SHA512 are supported")]
    UnknownSuite(String),
    /// A code length outside 6–8.
    #[error("codes of {0} digits are not supported (6 to 8)")]
    UnsupportedDigits(u32),
    /// A `ResponseFormat/@Encoding` other than DECIMAL.
    #[error("response encoding {0:?} is not supported; only DECIMAL codes can be imported")]
    UnsupportedEncoding(String),
    /// `ResponseFormat/@CheckDigits="true"` (a Luhn digit appended).
    #[error("codes with a check digit are not supported")]
    CheckDigits,
    /// TOTP `Data/Time` (T0) other than 0.
    #[error("a TOTP start time (<Time>) other than 0 is not supported")]
    UnsupportedStartTime,
    /// No secret, or an empty one.
    #[error("the key has no secret")]
    MissingSecret,
    /// An encrypted value, but no key was supplied.
    #[error("the secret is encrypted but no key or passphrase was given")]
    KeyNeeded,
    /// A passphrase for a pre-shared-key file, or the other way round.
    #[error("{0}")]
    KeyMismatch(&'static str),
    /// The key is the wrong length for the cipher.
    #[error("the key is {got} bytes long but {cipher} needs {need}")]
    KeyLength {
        /// Length of the key supplied or derived.
        got: usize,
        /// Length the cipher needs.
        need: usize,
        /// The cipher's name.
        cipher: &'static str,
    },
    /// Decryption failed its PKCS#7 padding check: the key is wrong.
    #[error("decryption failed: the key or passphrase is wrong")]
    WrongKey,
    /// `ValueMAC` does not match (RFC 6030 §6.1.1).
    #[error("MAC check failed: the file was altered or the key is wrong")]
    MacMismatch,
    /// An encrypted value without the MAC that RFC 6030 §6.1.1 requires.
    #[error(
        "the encrypted value is not authenticated (no MACMethod or ValueMAC); RFC 6030 §6.1.1 requires a MAC with AES-CBC"
    )]
    MacMissing,
    /// Not AES-CBC.
    #[error(
        "unsupported encryption algorithm {0:?}; only AES-CBC (xmlenc aes128-cbc, aes192-cbc, aes256-cbc) is supported"
    )]
    UnsupportedEncryption(String),
    /// Not HMAC-SHA1/256/512.
    #[error("unsupported MAC algorithm {0:?}")]
    UnsupportedMac(String),
    /// Not PBKDF2, or PBKDF2 parameters we refuse.
    #[error("unsupported key derivation: {0}")]
    UnsupportedKeyDerivation(String),
    /// Two packages with the same serial.
    #[error("the serial number is also used by key package {0}")]
    DuplicateSerial(usize),
    /// A malformed element (bad Base64, not a number, …).
    #[error("<{element}> {message}")]
    Invalid {
        /// The element's local name.
        element: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(element: &'static str, message: impl Into<String>) -> Problem {
    Problem::Invalid {
        element,
        message: message.into(),
    }
}

/// More PBKDF2 iterations than this are refused, so that an uploaded file
/// cannot make the server spin for minutes. python-pskc writes 100,000.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;

/// Parses a PSKC document and returns its keys, decrypting them with `key`
/// when the file is encrypted. Fails as a whole if any key package fails.
pub fn parse(xml: &[u8], key: Option<&DecryptionKey>) -> Result<Vec<PskcKey>, PskcError> {
    let root = xml_tree(xml)?;
    if root.name != "KeyContainer" {
        return Err(PskcError::NotPskc(root.name));
    }
    if let Some(v) = root.attr("Version")
        && !(v == "1" || v.starts_with("1."))
    {
        return Err(PskcError::Version(v.to_string()));
    }
    let mut keys = Keys {
        root: &root,
        given: key,
        cache: None,
    };
    let mut out: Vec<PskcKey> = Vec::new();
    for (i, pkg) in root.children_named("KeyPackage").enumerate() {
        let index = i + 1;
        let serial = serial_of(pkg);
        let fail = |problem| PskcError::Package {
            index,
            serial: serial.clone(),
            problem,
        };
        let parsed = parse_package(pkg, serial.as_deref(), &mut keys).map_err(fail)?;
        if let Some(first) = out.iter().position(|k| k.serial == parsed.serial) {
            return Err(fail(Problem::DuplicateSerial(first + 1)));
        }
        out.push(parsed);
    }
    if out.is_empty() {
        return Err(PskcError::NoKeyPackages);
    }
    Ok(out)
}

/// `DeviceInfo/SerialNo`, else the `Id` of `<Key>` (`KeyId` in drafts).
fn serial_of(pkg: &Node) -> Option<String> {
    pkg.child("DeviceInfo")
        .and_then(|d| d.child("SerialNo"))
        .map(|s| s.text().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| pkg.child("Key").and_then(key_id_of))
}

fn key_id_of(key: &Node) -> Option<String> {
    key.attr("Id")
        .or_else(|| key.attr("KeyId"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn parse_package(
    pkg: &Node,
    serial: Option<&str>,
    keys: &mut Keys<'_>,
) -> Result<PskcKey, Problem> {
    let key = pkg.child("Key").ok_or(Problem::NoKey)?;
    let key_id = key_id_of(key).unwrap_or_default();
    let algorithm = key.attr("Algorithm").unwrap_or("").trim();
    let kind = match uri_fragment(algorithm).to_ascii_lowercase().as_str() {
        "hotp" => KeyKind::Hotp,
        "totp" => KeyKind::Totp,
        _ => return Err(Problem::UnknownAlgorithm(algorithm.to_string())),
    };

    // RFC 6030 §4.3.4 (AlgorithmParameters): Suite and ResponseFormat.
    let params = key.child("AlgorithmParameters");
    let alg = match params.and_then(|p| p.child("Suite")).map(Node::text) {
        None | Some("") => HashAlg::Sha1,
        Some(s) => {
            HashAlg::parse(uri_fragment(s)).map_err(|_| Problem::UnknownSuite(s.to_string()))?
        }
    };
    let mut digits = 6;
    if let Some(rf) = params.and_then(|p| p.child("ResponseFormat")) {
        if let Some(len) = rf.attr("Length") {
            digits = len
                .trim()
                .parse()
                .map_err(|_| invalid("ResponseFormat", "has a Length that is not a number"))?;
        }
        let encoding = rf.attr("Encoding").unwrap_or("DECIMAL").trim();
        if !encoding.eq_ignore_ascii_case("DECIMAL") {
            return Err(Problem::UnsupportedEncoding(encoding.to_string()));
        }
        if matches!(rf.attr("CheckDigits").map(str::trim), Some("true" | "1")) {
            return Err(Problem::CheckDigits);
        }
    }
    if !oath::DIGITS.contains(&digits) {
        return Err(Problem::UnsupportedDigits(digits));
    }

    // RFC 6030 §4.2 (Data): Secret, Counter, Time, TimeInterval.
    let data = key.child("Data");
    let secret = match data.and_then(|d| d.child("Secret")) {
        None => return Err(Problem::MissingSecret),
        Some(s) => data_bytes(s, "Secret", keys)?,
    };
    if secret.is_empty() {
        return Err(Problem::MissingSecret);
    }
    let int = |name: &'static str, keys: &mut Keys<'_>| -> Result<Option<u64>, Problem> {
        match data.and_then(|d| d.child(name)) {
            None => Ok(None),
            Some(e) => data_int(e, name, keys).map(Some),
        }
    };
    let counter = int("Counter", keys)?.unwrap_or(0);
    let time_interval = int("TimeInterval", keys)?.unwrap_or(oath::DEFAULT_PERIOD);
    if int("Time", keys)?.unwrap_or(0) != 0 && kind == KeyKind::Totp {
        return Err(Problem::UnsupportedStartTime);
    }
    if kind == KeyKind::Totp && !(1..=86_400).contains(&time_interval) {
        return Err(invalid(
            "TimeInterval",
            "must be between 1 and 86400 seconds",
        ));
    }

    Ok(PskcKey {
        serial: serial.unwrap_or_default().to_string(),
        key_id,
        kind,
        alg,
        digits,
        counter,
        time_interval,
        secret,
    })
}

/// The part after the last `#`, `:` or `/` of a URI: `…:pskc:totp` →
/// `totp`, `…xmldsig#hmac-sha1` → `hmac-sha1`, `HMAC-SHA1` → itself.
fn uri_fragment(uri: &str) -> &str {
    let uri = uri.trim();
    uri.rsplit(['#', ':', '/']).next().unwrap_or(uri)
}

/// A binary data value: `<PlainValue>` (Base64) or `<EncryptedValue>` with
/// its sibling `<ValueMAC>` (RFC 6030 §4.2, §6.1).
fn data_bytes(elem: &Node, name: &'static str, keys: &mut Keys<'_>) -> Result<Vec<u8>, Problem> {
    if let Some(plain) = elem.child("PlainValue") {
        return base64(plain.text()).map_err(|m| invalid(name, m));
    }
    if let Some(enc) = elem.child("EncryptedValue") {
        let crypto = keys.get()?;
        return crypto.decrypt_value(enc, elem.child("ValueMAC"));
    }
    Err(invalid(name, "has neither PlainValue nor EncryptedValue"))
}

/// An integer data value: decimal text when plain; when encrypted, the
/// plaintext is the integer in big-endian bytes (RFC 6030 §4.2, as
/// python-pskc writes it).
fn data_int(elem: &Node, name: &'static str, keys: &mut Keys<'_>) -> Result<u64, Problem> {
    if let Some(plain) = elem.child("PlainValue") {
        return plain
            .text()
            .parse()
            .map_err(|_| invalid(name, "is not a whole number"));
    }
    if let Some(enc) = elem.child("EncryptedValue") {
        let crypto = keys.get()?;
        let bytes = crypto.decrypt_value(enc, elem.child("ValueMAC"))?;
        if bytes.len() > 8 {
            return Err(invalid(name, "is too large"));
        }
        return Ok(bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)));
    }
    Err(invalid(name, "has neither PlainValue nor EncryptedValue"))
}

/// Base64 as found in XML: whitespace and line breaks ignored.
fn base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    data_encoding::BASE64
        .decode(compact.as_bytes())
        .map_err(|_| "is not valid Base64".to_string())
}

// ---------------------------------------------------------------------------
// Keys: the encryption key and MAC key, set up on first use so that a
// plaintext file needs no key and a key problem is reported against the
// first package that needs it.

struct Keys<'a> {
    root: &'a Node,
    given: Option<&'a DecryptionKey>,
    cache: Option<Result<Crypto, Problem>>,
}

impl Keys<'_> {
    fn get(&mut self) -> Result<&Crypto, Problem> {
        let (root, given) = (self.root, self.given);
        match self.cache.get_or_insert_with(|| Crypto::setup(root, given)) {
            Ok(c) => Ok(c),
            Err(p) => Err(p.clone()),
        }
    }
}

struct Crypto {
    key: Vec<u8>,
    /// `MACMethod`'s hash and the decrypted MAC key, if the file has one.
    mac: Option<(HashAlg, Vec<u8>)>,
}

impl Crypto {
    fn setup(root: &Node, given: Option<&DecryptionKey>) -> Result<Self, Problem> {
        let given = given.ok_or(Problem::KeyNeeded)?;
        let enc_key = root.child("EncryptionKey");
        if enc_key.is_some_and(|e| e.child("X509Data").is_some()) {
            return Err(Problem::UnsupportedEncryption(
                "public-key encryption (X509Data, RFC 6030 §6.3)".into(),
            ));
        }
        let derived = enc_key.and_then(|e| e.child("DerivedKey"));
        let key = match (derived, given) {
            (Some(d), DecryptionKey::Passphrase(p)) => pbkdf2_key(d, p)?,
            (Some(_), DecryptionKey::PreShared(_)) => {
                return Err(Problem::KeyMismatch(
                    "the file is protected with a passphrase (PBKDF2), but a pre-shared key was given",
                ));
            }
            (None, DecryptionKey::PreShared(k)) => k.clone(),
            (None, DecryptionKey::Passphrase(_)) => {
                return Err(Problem::KeyMismatch(
                    "the file is protected with a pre-shared key, but a passphrase was given",
                ));
            }
        };
        let mut crypto = Self { key, mac: None };
        // RFC 6030 §6.1.1: MACMethod names the MAC algorithm and carries the
        // MAC key, encrypted with the encryption key. Drafts before the RFC
        // (and python-pskc, reading them) used the encryption key itself
        // when MACKey is absent.
        if let Some(mm) = root.child("MACMethod") {
            let uri = mm.attr("Algorithm").unwrap_or("").trim();
            let alg = hmac_uri(uri).ok_or_else(|| Problem::UnsupportedMac(uri.to_string()))?;
            let mac_key = match mm.child("MACKey") {
                Some(mk) => crypto.decrypt(mk)?,
                None => crypto.key.clone(),
            };
            crypto.mac = Some((alg, mac_key));
        }
        Ok(crypto)
    }

    /// Checks the value's MAC over IV ‖ ciphertext (RFC 6030 §6.1.1), then
    /// decrypts it.
    fn decrypt_value(&self, enc: &Node, value_mac: Option<&Node>) -> Result<Vec<u8>, Problem> {
        // An unsupported cipher is reported as such, not as a MAC failure.
        cipher_of(enc)?;
        let (alg, mac_key) = self.mac.as_ref().ok_or(Problem::MacMissing)?;
        let given = base64(value_mac.ok_or(Problem::MacMissing)?.text())
            .map_err(|m| invalid("ValueMAC", m))?;
        let cipher_value = cipher_value(enc)?;
        let expected = oath::hmac(*alg, mac_key, &[&cipher_value]);
        // Lengths are public; the comparison of contents is constant-time.
        if !bool::from(expected.ct_eq(&given)) {
            return Err(Problem::MacMismatch);
        }
        self.decrypt(enc)
    }

    /// Decrypts an element holding `EncryptionMethod` and
    /// `CipherData/CipherValue` (an `EncryptedValue` or `MACKey`).
    fn decrypt(&self, enc: &Node) -> Result<Vec<u8>, Problem> {
        aes_cbc_decrypt(cipher_of(enc)?, &self.key, &cipher_value(enc)?)
    }
}

/// The cipher named by `EncryptionMethod/@Algorithm` (XML Encryption
/// §5.2.2 block cipher URIs).
fn cipher_of(enc: &Node) -> Result<AesCbc, Problem> {
    let uri = enc
        .child("EncryptionMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or_else(|| invalid("EncryptionMethod", "is missing"))?
        .trim();
    match uri_fragment(uri) {
        "aes128-cbc" => Ok(AesCbc::Aes128),
        "aes192-cbc" => Ok(AesCbc::Aes192),
        "aes256-cbc" => Ok(AesCbc::Aes256),
        _ => Err(Problem::UnsupportedEncryption(uri.to_string())),
    }
}

fn cipher_value(enc: &Node) -> Result<Vec<u8>, Problem> {
    let text = enc
        .child("CipherData")
        .and_then(|d| d.child("CipherValue"))
        .ok_or_else(|| invalid("CipherData", "has no CipherValue"))?
        .text();
    base64(text).map_err(|m| invalid("CipherValue", m))
}

/// `…xmldsig#hmac-sha1`, `…xmldsig-more#hmac-sha256`, `…#hmac-sha512`.
fn hmac_uri(uri: &str) -> Option<HashAlg> {
    match uri_fragment(uri).to_ascii_lowercase().as_str() {
        "hmac-sha1" => Some(HashAlg::Sha1),
        "hmac-sha256" => Some(HashAlg::Sha256),
        "hmac-sha512" => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// RFC 6030 §6.2: `DerivedKey/KeyDerivationMethod` with PBKDF2 parameters
/// (RFC 8018 Appendix A.2: salt, iteration count, key length, PRF
/// defaulting to HMAC-SHA1).
fn pbkdf2_key(derived: &Node, passphrase: &str) -> Result<Vec<u8>, Problem> {
    let bad = |m: &str| Problem::UnsupportedKeyDerivation(m.to_string());
    let method = derived
        .child("KeyDerivationMethod")
        .ok_or_else(|| bad("DerivedKey has no KeyDerivationMethod"))?;
    let algorithm = method.attr("Algorithm").unwrap_or("").trim();
    if !uri_fragment(algorithm).eq_ignore_ascii_case("pbkdf2") {
        return Err(bad(&format!("{algorithm:?} (only PBKDF2 is supported)")));
    }
    let params = method
        .child("PBKDF2-params")
        .ok_or_else(|| bad("PBKDF2 without PBKDF2-params"))?;
    let salt = params
        .child("Salt")
        .and_then(|s| s.child("Specified"))
        .ok_or_else(|| bad("PBKDF2 without Salt/Specified"))?;
    let salt = base64(salt.text()).map_err(|m| invalid("Specified", m))?;
    let iterations: u32 = params
        .child("IterationCount")
        .and_then(|n| n.text().parse().ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| bad("PBKDF2 without a valid IterationCount"))?;
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(bad(&format!(
            "{iterations} PBKDF2 iterations is more than the {MAX_PBKDF2_ITERATIONS} allowed"
        )));
    }
    let key_len: usize = match params.child("KeyLength") {
        None => 16,
        Some(n) => n
            .text()
            .parse()
            .ok()
            .filter(|l| matches!(l, 16 | 24 | 32))
            .ok_or_else(|| bad("PBKDF2 KeyLength must be 16, 24 or 32"))?,
    };
    // The PRF is an AlgorithmIdentifier: `Algorithm` attribute in the
    // schema; python-pskc writes the URI as text; RFC 6030 Figure 7 leaves
    // it empty (the default).
    let prf = params
        .child("PRF")
        .map(|p| p.attr("Algorithm").unwrap_or(p.text()).trim())
        .unwrap_or("");
    let prf = if prf.is_empty() {
        HashAlg::Sha1
    } else {
        hmac_uri(prf).ok_or_else(|| bad(&format!("PBKDF2 PRF {prf:?} is not supported")))?
    };
    let mut out = vec![0u8; key_len];
    let pw = passphrase.as_bytes();
    match prf {
        HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pw, &salt, iterations, &mut out),
        HashAlg::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, &salt, iterations, &mut out),
        HashAlg::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pw, &salt, iterations, &mut out),
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum AesCbc {
    Aes128,
    Aes192,
    Aes256,
}

/// AES-CBC with the IV prepended to the ciphertext and PKCS#7 padding
/// (RFC 6030 §6.1, XML Encryption §5.2.2).
fn aes_cbc_decrypt(cipher: AesCbc, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Problem> {
    let (name, need) = match cipher {
        AesCbc::Aes128 => ("AES-128-CBC", 16),
        AesCbc::Aes192 => ("AES-192-CBC", 24),
        AesCbc::Aes256 => ("AES-256-CBC", 32),
    };
    if key.len() != need {
        return Err(Problem::KeyLength {
            got: key.len(),
            need,
            cipher: name,
        });
    }
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return Err(invalid(
            "CipherValue",
            "is not an IV followed by whole AES blocks",
        ));
    }
    let (iv, ct) = data.split_at(16);
    let mut out = vec![0u8; ct.len()];
    let len = match cipher {
        AesCbc::Aes128 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| Problem::WrongKey)?
            .decrypt_padded_b2b::<Pkcs7>(ct, &mut out)
            .map(<[u8]>::len),
        AesCbc::Aes192 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| Problem::WrongKey)?
            .decrypt_padded_b2b::<Pkcs7>(ct, &mut out)
            .map(<[u8]>::len),
        AesCbc::Aes256 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| Problem::WrongKey)?
            .decrypt_padded_b2b::<Pkcs7>(ct, &mut out)
            .map(<[u8]>::len),
    }
    .map_err(|_| Problem::WrongKey)?;
    out.truncate(len);
    Ok(out)
}

// ---------------------------------------------------------------------------
// A minimal element tree. PSKC files are small (one element per key field),
// and a tree keeps the RFC's structure readable in the code above.

/// Deeper nesting than this is refused: PSKC needs about 8 levels, and an
/// unbounded depth would let a hostile file exhaust the stack when the
/// tree is dropped.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Default)]
struct Node {
    /// Local name (namespace prefix removed).
    name: String,
    /// Attributes by local name.
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        self.text.trim()
    }
}

fn xml_tree(xml: &[u8]) -> Result<Node, PskcError> {
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    let text =
        std::str::from_utf8(xml).map_err(|_| PskcError::Xml("it is not UTF-8 text".into()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let err = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| {
        PskcError::Xml(format!("{e} (at byte {})", reader.error_position()))
    };
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader.read_event().map_err(|e| err(&reader, &e))?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(PskcError::Xml(
                        "there is content after the root element".into(),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(PskcError::Xml("elements are nested too deeply".into()));
                }
                let mut node = Node {
                    name: s.local_name().into_inner().to_string(),
                    ..Node::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| err(&reader, &e))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(&reader, &e))?;
                    node.attrs
                        .push((a.key.local_name().into_inner().to_string(), value.into()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(node, &mut stack, &mut root);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let node = stack
                    .pop()
                    .ok_or_else(|| PskcError::Xml("unexpected end tag".into()))?;
                close(node, &mut stack, &mut root);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| err(&reader, &e))? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| PskcError::Xml(format!("unknown entity &{};", &*r)))?
                        .to_string(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => {
                // PSKC has no DTD; refusing one rules out entity tricks.
                return Err(PskcError::Xml("a DOCTYPE is not allowed".into()));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(PskcError::Xml("the document ends inside an element".into()));
    }
    root.ok_or_else(|| PskcError::Xml("there is no root element".into()))
}

fn close(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_fragments() {
        assert_eq!(
            uri_fragment("urn:ietf:params:xml:ns:keyprov:pskc:totp"),
            "totp"
        );
        assert_eq!(
            uri_fragment("http://www.ietf.org/keyprov/pskc#hotp"),
            "hotp"
        );
        assert_eq!(
            uri_fragment("http://www.w3.org/2001/04/xmlenc#aes128-cbc"),
            "aes128-cbc"
        );
        assert_eq!(uri_fragment("HMAC-SHA256"), "HMAC-SHA256");
        assert_eq!(
            hmac_uri("http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
            Some(HashAlg::Sha1)
        );
        assert_eq!(hmac_uri("hmac-md5"), None);
    }

    #[test]
    fn tree_matches_local_names_and_resolves_entities() {
        let t = xml_tree(
            br#"<?xml version="1.0"?><a:Root xmlns:a="x" a:Attr="1 &amp; 2"><!-- c --><b>x &lt; &#65;<![CDATA[<z>]]></b><b/></a:Root>"#,
        )
        .unwrap();
        assert_eq!(t.name, "Root");
        assert_eq!(t.attr("Attr"), Some("1 & 2"));
        assert_eq!(t.children_named("b").count(), 2);
        assert_eq!(t.child("b").unwrap().text(), "x < A<z>");
    }

    #[test]
    fn tree_refuses_malformed_input() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"just text",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a>&nope;</a>",
            b"\xff\xfe<\x00a\x00/\x00>\x00",
        ] {
            assert!(
                matches!(xml_tree(bad), Err(PskcError::Xml(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(xml_tree(deep.as_bytes()), Err(PskcError::Xml(_))));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let k = PskcKey {
            serial: "S".into(),
            key_id: "K".into(),
            kind: KeyKind::Totp,
            alg: HashAlg::Sha1,
            digits: 6,
            counter: 0,
            time_interval: 30,
            secret: b"supersecret".to_vec(),
        };
        assert!(!format!("{k:?}").contains("supersecret"));
        let d = DecryptionKey::Passphrase("hunter2".into());
        assert!(!format!("{d:?}").contains("hunter2"));
    }
}
