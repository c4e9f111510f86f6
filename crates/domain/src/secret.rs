//! Random values, digests and comparisons for secrets.
//!
//! Tokens that machines present (session cookies, API tokens, API client
//! secrets) are 256-bit random values. We keep only their SHA-256 digest and
//! compare digests in constant time: Argon2 is for human-chosen passwords,
//! and a per-request Argon2 would cap the API at a few dozen requests per
//! second (SPEC §5).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Fills `buf` from the operating system's CSPRNG. There is no sensible way
/// to continue without one, so failure aborts the request that asked.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    u64::from_le_bytes(b)
}

/// A uniformly random number in `0..bound` (rejection sampling, no modulo bias).
pub fn random_below(bound: u64) -> u64 {
    assert!(bound > 0);
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let v = random_u64();
        if v < zone {
            return v % bound;
        }
    }
}

/// A new 256-bit token, hex-encoded, with a short prefix that says what it
/// is (`gh_s_` session, `gh_t_` API token, `gh_c_` API client secret), which
/// helps secret scanners and people reading logs.
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    fill_random(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// SHA-256 of `value`, hex-encoded: what we store instead of a token.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Constant-time equality of two strings (length may leak, content does not).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A numeric code of `digits` digits, uniformly random (texted codes,
/// temporary security codes).
pub fn numeric_code(digits: u32) -> String {
    let bound = 10u64.pow(digits);
    format!("{:0width$}", random_below(bound), width = digits as usize)
}

/// A one-time password for a person to type: 16 characters from an alphabet
/// without look-alikes (no 0/O, 1/l/I), in groups of four, about 80 bits.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = random_below(ALPHABET.len() as u64) as usize;
        out.push(ALPHABET[idx] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let a = new_token("gh_t_");
        let b = new_token("gh_t_");
        assert_ne!(a, b);
        assert!(a.starts_with("gh_t_"));
        assert_eq!(a.len(), 5 + 64);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }

    #[test]
    fn one_time_passwords_meet_the_policy_shape() {
        let p = one_time_password();
        assert_eq!(p.len(), 19);
        assert!(crate::password::check_policy(&p, &[]).is_ok());
    }

    #[test]
    fn random_below_stays_in_range() {
        for _ in 0..1000 {
            assert!(random_below(7) < 7);
        }
    }
}
