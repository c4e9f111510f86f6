//! Secrets at rest: OATH seeds are stored sealed with AES-256-GCM under a
//! master key that lives outside the database (configuration or a secret
//! file), so a leaked database or backup does not leak the seeds.
//!
//! Sealed format (all binary): version byte `1` ‖ 96-bit random nonce ‖
//! ciphertext ‖ 128-bit tag (NIST SP 800-38D; AES-GCM as in RFC 5116
//! `AEAD_AES_256_GCM`). The associated data binds a sealed value to its row
//! (for example the Credential ID), so a sealed seed copied into another
//! row does not open there.
//!
//! Random 96-bit nonces are safe for about 2³² seals under one key
//! (SP 800-38D §8.3); rotate the master key long before that.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// The first byte of every sealed value, so that the format can change.
pub const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 256-bit key that seals OATH secrets. Its `Debug` output does not
/// show the key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

/// A sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The value is too short or has an unknown version byte.
    #[error("the sealed value is malformed or of an unknown version")]
    Malformed,
    /// Authentication failed: wrong key, wrong associated data, or altered.
    #[error("the sealed value does not open with this key for this record")]
    Unauthentic,
    /// A master key that is not 64 hexadecimal digits.
    #[error("a master key is 64 hexadecimal digits (32 bytes)")]
    BadKey,
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hexadecimal digits (surrounding whitespace ignored),
    /// the form it takes in configuration.
    pub fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut key).map_err(|_| SealError::BadKey)?;
        Ok(Self(key))
    }

    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        crate::secret::fill_random(&mut key);
        Self(key)
    }

    /// The key as 64 lower-case hexadecimal digits, to write into a new
    /// configuration file. Handle with care.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts and authenticates `plaintext`, bound to `aad`. A fresh
    /// random nonce each time means sealing the same value twice gives
    /// different outputs.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::secret::fill_random(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encrypts any input below 64 GiB");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Checks and decrypts a value made by [`MasterKey::seal`] with the
    /// same key and `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Malformed)?;
        if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
        self.cipher()
            .decrypt(&nonce, Payload { msg: ct, aad })
            .map_err(|_| SealError::Unauthentic)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// HMAC-SHA-256 of `message` under a key derived from the master key,
    /// hex-encoded. For values that must be compared but never recovered,
    /// such as temporary security codes: with only six digits, a plain hash
    /// would fall to enumeration if the database leaked; a keyed one does
    /// not without the master key.
    pub fn keyed_digest(&self, message: &[u8]) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut derive = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        derive.update(b"gatehouse keyed digest v1");
        let subkey = derive.finalize().into_bytes();
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&subkey)
            .expect("HMAC accepts any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip() {
        let k = MasterKey::from_hex(HEX).unwrap();
        let sealed = k.seal(b"12345678901234567890", b"VSST12345678");
        assert_eq!(sealed.len(), 1 + 12 + 20 + 16);
        assert_eq!(sealed[0], VERSION);
        assert_eq!(
            k.open(&sealed, b"VSST12345678").unwrap(),
            b"12345678901234567890"
        );
        // Empty plaintext and empty aad work too.
        assert_eq!(k.open(&k.seal(b"", b""), b"").unwrap(), b"");
    }

    #[test]
    fn nonces_differ() {
        let k = MasterKey::generate();
        assert_ne!(k.seal(b"x", b"a"), k.seal(b"x", b"a"));
    }

    #[test]
    fn wrong_aad_fails() {
        let k = MasterKey::from_hex(HEX).unwrap();
        let sealed = k.seal(b"secret", b"VSST12345678");
        assert_eq!(
            k.open(&sealed, b"VSST12345679"),
            Err(SealError::Unauthentic)
        );
    }

    #[test]
    fn any_tampered_byte_fails() {
        let k = MasterKey::from_hex(HEX).unwrap();
        let sealed = k.seal(b"secret", b"row-1");
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            let expected = if i == 0 {
                SealError::Malformed
            } else {
                SealError::Unauthentic
            };
            assert_eq!(k.open(&t, b"row-1"), Err(expected), "byte {i}");
        }
        assert_eq!(
            k.open(&sealed[..sealed.len() - 1], b"row-1"),
            Err(SealError::Unauthentic)
        );
        assert_eq!(k.open(&sealed[..28], b"row-1"), Err(SealError::Malformed));
        assert_eq!(k.open(&[], b"row-1"), Err(SealError::Malformed));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = MasterKey::from_hex(HEX).unwrap().seal(b"secret", b"row-1");
        assert_eq!(
            MasterKey::generate().open(&sealed, b"row-1"),
            Err(SealError::Unauthentic)
        );
    }

    #[test]
    fn keyed_digest_is_stable_per_key_and_message() {
        let k = MasterKey::from_hex(HEX).unwrap();
        let d = k.keyed_digest(b"temporary-code:1:123456");
        assert_eq!(d.len(), 64);
        assert_eq!(d, k.keyed_digest(b"temporary-code:1:123456"));
        assert_ne!(d, k.keyed_digest(b"temporary-code:1:123457"));
        assert_ne!(
            d,
            MasterKey::generate().keyed_digest(b"temporary-code:1:123456")
        );
    }

    #[test]
    fn hex_keys_and_debug() {
        let k = MasterKey::from_hex(&format!("  {HEX}\n")).unwrap();
        assert_eq!(k.to_hex(), HEX);
        assert_eq!(MasterKey::from_hex("00").unwrap_err(), SealError::BadKey);
        assert_eq!(
            MasterKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            SealError::BadKey
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("0001") && dbg.contains("redacted"), "{dbg}");
        let k2 = MasterKey::from_bytes([7; 32]);
        assert_eq!(k2.to_hex(), "07".repeat(32));
    }
}
