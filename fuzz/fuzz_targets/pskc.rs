//! The PSKC reader (RFC 6030), plain and encrypted: an uploaded seed file
//! is attacker bytes until it has been read.
//!
//! Input: one octet choosing what unlocks the file, then the file. The keys
//! are those of the seed corpus (RFC 6030 Figures 6 and 7, and the python-
//! pskc fixtures under crates/domain/tests/fixtures), so that mutations of
//! an encrypted seed still get past the MAC and the padding.
#![no_main]

use gatehouse_domain::oath;
use gatehouse_domain::pskc::{self, DecryptionKey, KeyKind, MAX_PBKDF2_ITERATIONS, PskcError};
use libfuzzer_sys::fuzz_target;

/// RFC 6030 Figure 6's pre-shared AES-128 key.
const RFC_PRESHARED: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
];
/// The python-pskc fixtures' pre-shared key (crates/domain/tests/fixtures/make_pskc.py).
const FIXTURE_PRESHARED: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// RFC 6030 Figure 7's passphrase, and the fixtures'.
const RFC_PASSPHRASE: &str = "qwerty";
const FIXTURE_PASSPHRASE: &str = "correct horse battery staple";

/// PBKDF2 work per run is capped here, not by the parser's own limit
/// (`MAX_PBKDF2_ITERATIONS`, a second or so): a fuzzer that finds the
/// limit would spend its time hashing. Such inputs still run, without a
/// passphrase.
const FUZZ_ITERATIONS: u32 = 1000;
const _: () = assert!(FUZZ_ITERATIONS <= MAX_PBKDF2_ITERATIONS);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, xml)) = data.split_first() else {
        return;
    };
    let key = match mode % 5 {
        0 => None,
        1 => Some(DecryptionKey::PreShared(RFC_PRESHARED.to_vec())),
        2 => Some(DecryptionKey::PreShared(FIXTURE_PRESHARED.to_vec())),
        3 if cheap_pbkdf2(xml) => Some(DecryptionKey::Passphrase(RFC_PASSPHRASE.into())),
        4 if cheap_pbkdf2(xml) => Some(DecryptionKey::Passphrase(FIXTURE_PASSPHRASE.into())),
        _ => None,
    };
    match pskc::parse(xml, key.as_ref()) {
        Ok(keys) => {
            check_keys(&keys);
            // The key is used for encrypted values only: a file that reads
            // without one reads the same with any.
            if key.is_none() {
                let with_key = DecryptionKey::PreShared(vec![0x55; 16]);
                assert_eq!(pskc::parse(xml, Some(&with_key)), Ok(keys));
            }
        }
        Err(e) => {
            // The message is shown to the operator who uploaded the file.
            let message = e.to_string();
            assert!(!message.is_empty());
            if let PskcError::Package { index, .. } = e {
                assert!(index >= 1);
            }
        }
    }
});

fn check_keys(keys: &[pskc::PskcKey]) {
    assert!(!keys.is_empty(), "an import with no keys is an error");
    for (i, k) in keys.iter().enumerate() {
        assert!(
            keys[..i].iter().all(|other| other.serial != k.serial),
            "two keys with serial {:?}",
            k.serial
        );
        assert!(!k.secret.is_empty());
        assert!(oath::DIGITS.contains(&k.digits));
        if k.kind == KeyKind::Totp {
            assert!((1..=86_400).contains(&k.time_interval));
        }
        let params = k.oath_params();
        assert_eq!(params.check(), Ok(()));
        let code = oath::hotp(&k.secret, k.counter, k.digits, k.alg);
        assert_eq!(code.len(), k.digits as usize);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        // Debug output never shows the secret.
        assert!(format!("{k:?}").contains("<redacted>"));
    }
}

/// Whether every `IterationCount` element of the file is written plainly
/// (`>digits</`) with at most `FUZZ_ITERATIONS`. Anything fancier (entities,
/// CDATA, comments, attributes, whitespace) is refused here, so that no
/// spelling of a large count reaches PBKDF2.
fn cheap_pbkdf2(xml: &[u8]) -> bool {
    const NAME: &[u8] = b"IterationCount";
    let mut at = 0;
    while let Some(found) = find(&xml[at..], NAME) {
        let start = at + found;
        let end = start + NAME.len();
        at = end;
        // A closing tag (`</IterationCount>`, `</p:IterationCount>`) says
        // nothing. Anything else must be a plain start tag with a small
        // count, even text that merely contains the name.
        let tag = xml[..start].iter().rposition(|&b| b == b'<');
        let closing = tag.is_some_and(|lt| {
            let between = &xml[lt + 1..start];
            between.first() == Some(&b'/')
                && !between
                    .iter()
                    .any(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'"' | b'\''))
        });
        if closing {
            continue;
        }
        let rest = &xml[end..];
        let Some(rest) = rest.strip_prefix(b">") else {
            return false;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 4 || !rest[digits..].starts_with(b"</") {
            return false;
        }
        let count: u32 = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX);
        if count > FUZZ_ITERATIONS {
            return false;
        }
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
