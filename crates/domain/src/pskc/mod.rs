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

mod crypto;
mod tree;

use self::crypto::Keys;
use self::tree::{Node, xml_tree};
use crate::oath::{self, HashAlg, Kind, OathParams};

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

#[cfg(test)]
mod tests {
    use super::crypto::hmac_uri;
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
