//! Requests signed by a paired device (the mobile app, SPEC §3.2).
//!
//! At pairing the device generates an Ed25519 key pair and registers the
//! public key; from then on every request it makes carries a signature over
//! a canonical form of the request, so that a stolen pairing link, a forged
//! answer or one replayed later is refused. Replay of a captured request is
//! bounded by the timestamp window here and made useless by each answer
//! being single-use on the server.

use crate::error::ParseError;
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The header naming the device.
pub const DEVICE_HEADER: &str = "x-gatehouse-device";
/// The header with the request's time, Unix milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-gatehouse-timestamp";
/// The header with the base64url (no padding) Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-gatehouse-signature";
/// How far a request's timestamp may be from the server's clock.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// A device's registered public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey(VerifyingKey);

impl DeviceKey {
    /// Parses a base64url (no padding) 32-byte Ed25519 public key.
    pub fn parse(b64: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("public_key", "Expected a base64url Ed25519 public key.");
        let bytes = BASE64URL_NOPAD
            .decode(b64.trim().as_bytes())
            .map_err(|_| bad())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        VerifyingKey::from_bytes(&arr)
            .map(DeviceKey)
            .map_err(|_| bad())
    }

    pub fn to_base64(&self) -> String {
        BASE64URL_NOPAD.encode(self.0.as_bytes())
    }

    /// Checks `signature` (base64url) over `canonical`. Strict verification:
    /// no malleable or small-order signatures.
    pub fn verify(&self, canonical: &str, signature: &str) -> bool {
        let Ok(bytes) = BASE64URL_NOPAD.decode(signature.trim().as_bytes()) else {
            return false;
        };
        let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        self.0
            .verify_strict(canonical.as_bytes(), &Signature::from_bytes(&arr))
            .is_ok()
    }
}

/// The text a device signs for one request:
/// `GATEHOUSE-DEVICE-V1\n{METHOD}\n{path}\n{timestamp_ms}\n{hex sha256(body)}`.
/// `path` is the request path with its query string, as sent.
pub fn canonical_request(method: &str, path: &str, timestamp_ms: i64, body: &[u8]) -> String {
    format!(
        "GATEHOUSE-DEVICE-V1\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        timestamp_ms,
        hex::encode(Sha256::digest(body))
    )
}

/// Whether a request's timestamp is close enough to `now_ms`.
pub fn fresh(timestamp_ms: i64, now_ms: i64) -> bool {
    timestamp_ms.abs_diff(now_ms) <= MAX_SKEW_MS as u64
}

/// A device's private key (kept by the authenticator, never by the server).
pub struct DeviceSigner(SigningKey);

impl DeviceSigner {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        Self(SigningKey::from_bytes(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> DeviceKey {
        DeviceKey(self.0.verifying_key())
    }

    /// The base64url signature of `canonical`.
    pub fn sign(&self, canonical: &str) -> String {
        BASE64URL_NOPAD.encode(&self.0.sign(canonical.as_bytes()).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_request_verifies_and_any_change_fails() {
        let signer = DeviceSigner::from_seed(&[7; 32]);
        let key = DeviceKey::parse(&signer.public_key().to_base64()).unwrap();
        let c = canonical_request(
            "post",
            "/api/v1/authenticator/requests/abc/answer",
            1000,
            b"{}",
        );
        let sig = signer.sign(&c);
        assert!(key.verify(&c, &sig));
        let other = canonical_request(
            "POST",
            "/api/v1/authenticator/requests/abd/answer",
            1000,
            b"{}",
        );
        assert!(!key.verify(&other, &sig));
        let body = canonical_request(
            "POST",
            "/api/v1/authenticator/requests/abc/answer",
            1000,
            b"{\"a\":1}",
        );
        assert!(!key.verify(&body, &sig));
        let stranger = DeviceSigner::from_seed(&[8; 32]);
        assert!(!key.verify(&c, &stranger.sign(&c)));
        assert!(!key.verify(&c, "not base64!"));
        assert!(!key.verify(&c, ""));
    }

    #[test]
    fn keys_parse_strictly_and_timestamps_must_be_fresh() {
        assert!(DeviceKey::parse("AAAA").is_err());
        assert!(DeviceKey::parse("").is_err());
        assert!(fresh(1_000_000, 1_000_000 + MAX_SKEW_MS));
        assert!(!fresh(1_000_000, 1_000_001 + MAX_SKEW_MS));
    }
}
