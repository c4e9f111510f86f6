//! Keys: the encryption key and MAC key, set up on first use so that a
//! plaintext file needs no key and a key problem is reported against the
//! first package that needs it; the MAC check and AES-CBC decryption of
//! each encrypted value (RFC 6030 §6), and PBKDF2 key derivation (§6.2).

use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use subtle::ConstantTimeEq;

use super::tree::Node;
use super::{DecryptionKey, MAX_PBKDF2_ITERATIONS, Problem, base64, invalid, uri_fragment};
use crate::oath::{self, HashAlg};

pub(super) struct Keys<'a> {
    pub(super) root: &'a Node,
    pub(super) given: Option<&'a DecryptionKey>,
    pub(super) cache: Option<Result<Crypto, Problem>>,
}

impl Keys<'_> {
    pub(super) fn get(&mut self) -> Result<&Crypto, Problem> {
        let (root, given) = (self.root, self.given);
        match self.cache.get_or_insert_with(|| Crypto::setup(root, given)) {
            Ok(c) => Ok(c),
            Err(p) => Err(p.clone()),
        }
    }
}

pub(super) struct Crypto {
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
    pub(super) fn decrypt_value(
        &self,
        enc: &Node,
        value_mac: Option<&Node>,
    ) -> Result<Vec<u8>, Problem> {
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
pub(super) fn hmac_uri(uri: &str) -> Option<HashAlg> {
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
