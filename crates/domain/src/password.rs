//! Human passwords: the policy for new ones, and Argon2id hashing.
//!
//! Policy (NIST SP 800-63B §5.1.1.2, OWASP ASVS 2.1): at least 12 characters,
//! at most 256, any characters, no composition rules; refused if it is on a
//! small bundled list of the most common passwords or equals the user's own
//! username or e-mail address.
//!
//! Hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat
//! Sheet minimum). These functions are CPU-bound (tens of milliseconds);
//! callers on an async runtime must run them on a blocking thread under a
//! concurrency limit.

use crate::error::ParseError;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version};
use std::cell::RefCell;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

/// The most common passwords of at least twelve characters in public breach
/// corpora; anything shorter is already refused by the length rule.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789abc",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "aaaaaaaaaaaa",
    "abc123456789",
    "abcd12345678",
    "administrator",
    "asdfghjkl123",
    "changeme1234",
    "correcthorsebatterystaple",
    "iloveyou1234",
    "letmein12345",
    "password1234",
    "password12345",
    "password123456",
    "password!123",
    "passw0rd1234",
    "qwerty123456",
    "qwertyuiop12",
    "qwertyuiop123",
    "qwertyuiopasdf",
    "welcome12345",
    "welcome123456",
    "zaq12wsxcde3",
    "111111111111",
    "000000000000",
    "987654321098",
    "p@ssw0rd1234",
    "p@ssword1234",
    "trustno11234",
    "monkey123456",
    "football1234",
    "baseball1234",
    "superman1234",
    "princess1234",
    "sunshine1234",
    "starwars1234",
    "dragon123456",
    "master123456",
    "whatever1234",
    "passwordpassword",
    "mypassword123",
    "thisismypassword",
    "letmeinletmein",
    "qazwsxedcrfv",
    "1qazxsw23edc",
    "q1w2e3r4t5y6",
];

/// Checks a new password against the policy. `personal` holds values the
/// password must not equal (the username, the e-mail address).
pub fn check_policy(password: &str, personal: &[&str]) -> Result<(), ParseError> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        return Err(ParseError::new(
            "password",
            format!(
                "Use at least {MIN_LENGTH} characters; a few unrelated words make a good password."
            ),
        ));
    }
    if len > MAX_LENGTH {
        return Err(ParseError::new(
            "password",
            format!("A password is at most {MAX_LENGTH} characters."),
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err(ParseError::new(
            "password",
            "This password is one of the most common ones and is easily guessed; choose another.",
        ));
    }
    if personal
        .iter()
        .any(|p| !p.is_empty() && p.to_lowercase() == lower)
    {
        return Err(ParseError::new(
            "password",
            "The password must not be your username or e-mail address.",
        ));
    }
    Ok(())
}

/// Argon2id parameters (OWASP minimum).
pub const ARGON2_M_KIB: u32 = 19 * 1024;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .expect("the Argon2 parameters are valid constants");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> String {
    argon2()
        .hash_password(password.as_bytes())
        .expect("Argon2id hashing with valid parameters cannot fail")
        .to_string()
}

thread_local! {
    /// Argon2's working memory (19 MiB at our parameters), kept per thread
    /// and reused. Allocating and freeing it for every verification leaves
    /// freed 19 MiB blocks scattered over the allocator's per-thread arenas,
    /// which under sustained sign-ins grew the process by hundreds of MiB.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Checks a password against a stored PHC string, comparing the computed
/// and stored outputs in constant time. A malformed stored hash never
/// verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut m[..blocks])
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// A hash of a random password, computed once, verified against when the
/// username is unknown so that unknown and known users take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::secret::one_time_password()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn policy() {
        assert!(check_policy("short", &[]).is_err());
        assert!(check_policy("Password1234", &[]).is_err());
        assert!(check_policy("alice.example.com", &["alice.example.com"]).is_err());
        assert!(check_policy("Correct-Horse-Battery-9", &["alice"]).is_ok());
        assert!(check_policy(&"x".repeat(257), &[]).is_err());
        assert_eq!(check_policy("short", &[]).unwrap_err().field, "password");
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("Correct-Horse-Battery-9");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Correct-Horse-Battery-9", &h));
        assert!(!verify("correct-horse-battery-9", &h));
        assert!(!verify("anything", "not a hash"));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn verify_reads_the_parameters_from_the_stored_hash() {
        // A hash made with other parameters (as after a future parameter
        // change) still verifies.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        );
        let h = other
            .hash_password(b"Old-Params-Password")
            .unwrap()
            .to_string();
        assert!(h.contains("m=8192,t=3,p=1"));
        assert!(verify("Old-Params-Password", &h));
        assert!(!verify("Old-Params-Passwore", &h));
        // Reusing the thread's memory for a larger hash afterwards works too.
        assert!(verify(
            "Correct-Horse-Battery-9",
            &hash("Correct-Horse-Battery-9")
        ));
    }

    proptest! {
        #[test]
        fn long_enough_uncommon_passwords_pass(p in "[a-zA-Z0-9 !-]{12,40}") {
            prop_assume!(!COMMON.contains(&p.to_lowercase().as_str()));
            prop_assert!(check_policy(&p, &[]).is_ok());
        }

        #[test]
        fn short_passwords_fail(p in "\\PC{0,11}") {
            prop_assert!(check_policy(&p, &[]).is_err());
        }
    }
}
