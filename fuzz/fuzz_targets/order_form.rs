//! The order wizard's form: a POST body decoded as the web front end
//! decodes it (axum's `Form`, i.e. `serde_urlencoded`, into
//! `order::WizardForm`), turned into the application layer's `OrderInput`
//! for each step, and the checks of it that need no storage: the method,
//! the Credential ID, the promo code, the idempotency key and the security
//! codes of the proof of possession (against a fixed credential).
//!
//! Properties: no panic; what the checks accept is canonical; a form that
//! decodes encodes back to the same fields.
#![no_main]

use gatehouse_domain::Method;
use gatehouse_domain::oath::{
    self, CredentialCounters, HashAlg, Kind, OathParams, ValidationPolicy,
};
use gatehouse_domain::order::{self, WizardForm};
use gatehouse_domain::pricing::PromoCode;
use libfuzzer_sys::fuzz_target;

/// A credential to check codes against: RFC 4226's seed, a TOTP and an
/// HOTP one with all the validation windows open.
const SEED: &[u8] = b"12345678901234567890";
const NOW: i64 = 1_700_000_000;

fuzz_target!(|body: &[u8]| {
    let Ok(form) = serde_urlencoded::from_bytes::<WizardForm>(body) else {
        return;
    };
    round_trip(&form);
    for first_step in [true, false] {
        let input = form.input(first_step);
        assert_eq!(input.security_code.is_some(), first_step);
        assert!(!first_step || input.proof_token.is_none());
        if let Some(c) = &input.credential_id {
            assert!(!c.trim().is_empty());
        }
        if let Ok(m) = Method::parse(&input.method) {
            assert_eq!(Method::parse(m.as_str()), Ok(m));
        }
        match order::credential_id(&input) {
            Ok(id) => {
                assert_eq!(
                    input.credential_id.as_deref().map(str::is_empty),
                    Some(false)
                );
                assert!(!id.as_str().contains(char::is_whitespace));
            }
            Err(e) => assert_eq!(e.field, "credential_id"),
        }
        if let Some(code) = order::promo_code(&input) {
            assert!(!code.is_empty() && code == code.trim());
            // The catalog looks it up by its canonical form.
            let _ = PromoCode::parse(code);
        }
        proof(
            input.security_code.as_deref().unwrap_or(""),
            input.next_security_code.as_deref().unwrap_or(""),
        );
    }
    match order::idempotency_key(&form.idempotency_key) {
        Ok(key) => assert!(!key.is_empty() && key.len() <= order::MAX_IDEMPOTENCY_KEY_LEN),
        Err(e) => assert_eq!(e.field, "idempotency_key"),
    }
});

/// The proof of possession's code check (`credentials::check_proof`): the
/// codes trimmed, one verified or two synchronised.
fn proof(code1: &str, code2: &str) {
    let (c1, c2) = (code1.trim(), code2.trim());
    if c1.is_empty() && c2.is_empty() {
        return;
    }
    let policy = ValidationPolicy::default();
    for params in [
        OathParams::vip_totp(),
        OathParams {
            kind: Kind::Hotp,
            digits: 8,
            alg: HashAlg::Sha256,
        },
    ] {
        let before = CredentialCounters::default();
        if c2.is_empty() {
            if let Some(accepted) = oath::verify(&params, SEED, c1, &before, NOW, &policy) {
                // A code the fuzzer found is a real one.
                let at = accepted.step_or_counter as u64;
                assert_eq!(oath::hotp(SEED, at, params.digits, params.alg), c1);
            }
        } else if let Some(after) = oath::synchronize(
            &params,
            SEED,
            c1,
            c2,
            &before,
            NOW,
            oath::default_sync_search(&params),
        ) {
            let last = after
                .last_used
                .expect("a synchronised credential has a last code") as u64;
            assert_eq!(oath::hotp(SEED, last, params.digits, params.alg), c2);
        }
    }
}

/// Encoded again (every field, in order) and decoded: the same form.
fn round_trip(form: &WizardForm) {
    let mut out = form_urlencoded_serializer();
    let fields = fields(form);
    for (name, value) in &fields {
        if let Some(value) = value {
            out.append_pair(name, value);
        }
    }
    let encoded = out.finish();
    let again: WizardForm = serde_urlencoded::from_str(&encoded)
        .unwrap_or_else(|e| panic!("{encoded:?} does not decode: {e}"));
    assert_eq!(self::fields(&again), fields);
}

fn form_urlencoded_serializer() -> url::form_urlencoded::Serializer<'static, String> {
    url::form_urlencoded::Serializer::new(String::new())
}

fn fields(f: &WizardForm) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("csrf", Some(f.csrf.clone())),
        ("action", Some(f.action.clone())),
        ("method", Some(f.method.clone())),
        ("credential_id", Some(f.credential_id.clone())),
        ("security_code", Some(f.security_code.clone())),
        ("next_security_code", Some(f.next_security_code.clone())),
        ("promo_code", Some(f.promo_code.clone())),
        ("msa_version", Some(f.msa_version.clone())),
        ("msa_acknowledged", f.msa_acknowledged.clone()),
        ("idempotency_key", Some(f.idempotency_key.clone())),
        ("proof", Some(f.proof.clone())),
    ]
}
