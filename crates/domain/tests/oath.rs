//! The OATH engine against the RFC test vectors, oathtool, and the
//! validation rules (replay, drift, look-ahead, resynchronisation).

use gatehouse_domain::oath::{
    self, CredentialCounters, HashAlg, Kind, OathParams, ValidationPolicy, hotp, synchronize,
    totp_step, verify,
};
use proptest::prelude::*;

const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

const T0: i64 = 1_700_000_000; // an arbitrary "now", on no step boundary

fn totp(digits: u32) -> OathParams {
    OathParams {
        kind: Kind::Totp { period: 30 },
        digits,
        alg: HashAlg::Sha1,
    }
}

fn hotp_params() -> OathParams {
    OathParams::hotp_default()
}

/// The code a token shows for `step` (TOTP) or `counter` (HOTP).
fn code(p: &OathParams, secret: &[u8], step: i64) -> String {
    hotp(secret, step as u64, p.digits, p.alg)
}

fn policy() -> ValidationPolicy {
    ValidationPolicy::default()
}

// ---------------------------------------------------------------- vectors

/// RFC 4226 Appendix D: HOTP values for counters 0–9.
#[test]
fn rfc4226_appendix_d() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, want) in expected.iter().enumerate() {
        assert_eq!(
            hotp(SEED_SHA1, counter as u64, 6, HashAlg::Sha1),
            *want,
            "counter {counter}"
        );
    }
}

/// RFC 6238 Appendix B: TOTP values, 8 digits, X = 30, T0 = 0, with the
/// per-hash seeds of 20, 32 and 64 bytes.
#[test]
fn rfc6238_appendix_b() {
    let table: [(i64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    for (time, sha1, sha256, sha512) in table {
        let step = totp_step(time, 30) as u64;
        assert_eq!(
            hotp(SEED_SHA1, step, 8, HashAlg::Sha1),
            sha1,
            "SHA1 @{time}"
        );
        assert_eq!(
            hotp(SEED_SHA256, step, 8, HashAlg::Sha256),
            sha256,
            "SHA256 @{time}"
        );
        assert_eq!(
            hotp(SEED_SHA512, step, 8, HashAlg::Sha512),
            sha512,
            "SHA512 @{time}"
        );
        // And through the validator, with fresh state.
        for (alg, seed, want) in [
            (HashAlg::Sha1, SEED_SHA1, sha1),
            (HashAlg::Sha256, SEED_SHA256, sha256),
            (HashAlg::Sha512, SEED_SHA512, sha512),
        ] {
            let p = OathParams {
                kind: Kind::Totp { period: 30 },
                digits: 8,
                alg,
            };
            let ok = verify(
                &p,
                seed,
                want,
                &CredentialCounters::default(),
                time,
                &policy(),
            )
            .expect("RFC 6238 vector validates");
            assert_eq!(ok.step_or_counter, step as i64);
            assert_eq!(ok.new_counters.drift, 0);
        }
    }
}

/// The same algorithm as the OATH Toolkit's `oathtool`, for random seeds,
/// hashes, lengths and times. Skipped (not failed) if oathtool is missing.
#[test]
fn agrees_with_oathtool() {
    let tool = "/usr/bin/oathtool";
    if !std::path::Path::new(tool).exists() {
        eprintln!("note: {tool} not found; skipping the oathtool cross-check");
        return;
    }
    let run = |args: &[String]| -> String {
        let out = std::process::Command::new(tool)
            .args(args)
            .output()
            .expect("oathtool runs");
        assert!(out.status.success(), "oathtool {args:?} failed");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    for i in 0..4u32 {
        let mut seed = vec![0u8; 20 + 6 * i as usize];
        gatehouse_domain::secret::fill_random(&mut seed);
        let hex_seed = hex::encode(&seed);
        let digits = 6 + i % 3;
        let counter = gatehouse_domain::secret::random_below(1_000_000);
        assert_eq!(
            run(&[
                "--hotp".into(),
                format!("-d{digits}"),
                format!("-c{counter}"),
                hex_seed.clone()
            ]),
            hotp(&seed, counter, digits, HashAlg::Sha1),
            "HOTP seed {hex_seed} counter {counter}"
        );
        let (alg, mode) = [
            (HashAlg::Sha1, "sha1"),
            (HashAlg::Sha256, "sha256"),
            (HashAlg::Sha512, "sha512"),
        ][i as usize % 3];
        let time = 1_000_000_000 + gatehouse_domain::secret::random_below(1_000_000_000) as i64;
        let period = [30u64, 60][i as usize % 2];
        assert_eq!(
            run(&[
                format!("--totp={mode}"),
                format!("-d{digits}"),
                format!("-s{period}"),
                format!("-N@{time}"),
                hex_seed.clone()
            ]),
            hotp(&seed, totp_step(time, period) as u64, digits, alg),
            "TOTP {mode} seed {hex_seed} at {time}"
        );
    }
}

// ------------------------------------------------------------- validation

#[test]
fn current_code_is_accepted_and_recorded() {
    let p = totp(6);
    let now_step = totp_step(T0, 30);
    let ok = verify(
        &p,
        SEED_SHA1,
        &code(&p, SEED_SHA1, now_step),
        &CredentialCounters::default(),
        T0,
        &policy(),
    )
    .unwrap();
    assert_eq!(ok.step_or_counter, now_step);
    assert_eq!(
        ok.new_counters,
        CredentialCounters {
            last_used: Some(now_step),
            drift: 0,
            next_counter: 0
        }
    );
}

#[test]
fn a_code_is_accepted_only_once() {
    let p = totp(6);
    let c = code(&p, SEED_SHA1, totp_step(T0, 30));
    let first = verify(
        &p,
        SEED_SHA1,
        &c,
        &CredentialCounters::default(),
        T0,
        &policy(),
    )
    .unwrap();
    // RFC 6238 §5.2: the second attempt of the same OTP MUST NOT be accepted,
    // even a few seconds later within the same step or the next.
    for later in [T0, T0 + 5, T0 + 30] {
        assert!(verify(&p, SEED_SHA1, &c, &first.new_counters, later, &policy()).is_none());
    }
}

#[test]
fn an_earlier_code_is_refused_after_a_later_one() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    let later = verify(
        &p,
        SEED_SHA1,
        &code(&p, SEED_SHA1, s + 1),
        &CredentialCounters::default(),
        T0,
        &policy(),
    )
    .unwrap();
    for earlier in [s, s - 1, s + 1] {
        assert!(
            verify(
                &p,
                SEED_SHA1,
                &code(&p, SEED_SHA1, earlier),
                &later.new_counters,
                T0,
                &policy()
            )
            .is_none(),
            "step {earlier} after {}",
            s + 1
        );
    }
}

#[test]
fn window_of_one_step_each_side() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    let fresh = CredentialCounters::default();
    for d in [-1, 0, 1] {
        let ok = verify(
            &p,
            SEED_SHA1,
            &code(&p, SEED_SHA1, s + d),
            &fresh,
            T0,
            &policy(),
        )
        .unwrap_or_else(|| panic!("offset {d} accepted"));
        assert_eq!(ok.step_or_counter, s + d);
        assert_eq!(ok.new_counters.drift, d);
    }
    for d in [-2, 2, -3, 3] {
        assert!(
            verify(
                &p,
                SEED_SHA1,
                &code(&p, SEED_SHA1, s + d),
                &fresh,
                T0,
                &policy()
            )
            .is_none(),
            "offset {d} refused"
        );
    }
    // A wider policy accepts ±2.
    let wide = ValidationPolicy {
        totp_window: 2,
        ..policy()
    };
    assert!(
        verify(
            &p,
            SEED_SHA1,
            &code(&p, SEED_SHA1, s - 2),
            &fresh,
            T0,
            &wide
        )
        .is_some()
    );
}

#[test]
fn drift_is_learned_and_followed() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    // The token runs one step fast.
    let first = verify(
        &p,
        SEED_SHA1,
        &code(&p, SEED_SHA1, s + 1),
        &CredentialCounters::default(),
        T0,
        &policy(),
    )
    .unwrap();
    assert_eq!(first.new_counters.drift, 1);
    // Ten minutes later it has gained another step: +2 is outside ±1 of the
    // server clock, but within ±1 of the learned drift.
    let later = T0 + 600;
    let s2 = totp_step(later, 30);
    let c = code(&p, SEED_SHA1, s2 + 2);
    assert!(
        verify(
            &p,
            SEED_SHA1,
            &c,
            &CredentialCounters::default(),
            later,
            &policy()
        )
        .is_none()
    );
    let ok = verify(&p, SEED_SHA1, &c, &first.new_counters, later, &policy()).unwrap();
    assert_eq!(ok.step_or_counter, s2 + 2);
    assert_eq!(ok.new_counters.drift, 2);
}

#[test]
fn malformed_codes_never_match() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    let good = code(&p, SEED_SHA1, s);
    let fresh = CredentialCounters::default();
    for bad in [
        String::new(),
        good[..5].to_string(),
        format!("{good}0"),
        format!(" {good}"),
        format!("{good}\n"),
        good.replace(|c: char| c.is_ascii_digit(), "１"),
        "abcdef".to_string(),
        "-12345".to_string(),
    ] {
        assert!(
            verify(&p, SEED_SHA1, &bad, &fresh, T0, &policy()).is_none(),
            "{bad:?}"
        );
    }
    assert!(verify(&p, SEED_SHA1, &good, &fresh, T0, &policy()).is_some());
}

#[test]
fn eight_digit_totp_and_wrong_secret() {
    let p = totp(8);
    let s = totp_step(T0, 30);
    let c = code(&p, SEED_SHA1, s);
    assert_eq!(c.len(), 8);
    let fresh = CredentialCounters::default();
    assert!(verify(&p, SEED_SHA1, &c, &fresh, T0, &policy()).is_some());
    assert!(verify(&p, SEED_SHA256, &c, &fresh, T0, &policy()).is_none());
    assert!(verify(&totp(6), SEED_SHA1, &c, &fresh, T0, &policy()).is_none());
}

#[test]
fn hotp_look_ahead_ten_accepted_eleven_refused() {
    let p = hotp_params();
    let start = CredentialCounters {
        next_counter: 5,
        ..Default::default()
    };
    let ok = verify(
        &p,
        SEED_SHA1,
        &code(&p, SEED_SHA1, 15),
        &start,
        T0,
        &policy(),
    )
    .unwrap();
    assert_eq!(ok.step_or_counter, 15);
    assert_eq!(ok.new_counters.next_counter, 16);
    assert_eq!(ok.new_counters.last_used, Some(15));
    assert!(
        verify(
            &p,
            SEED_SHA1,
            &code(&p, SEED_SHA1, 16),
            &start,
            T0,
            &policy()
        )
        .is_none()
    );
    // Counters behind the expected one are refused.
    assert!(
        verify(
            &p,
            SEED_SHA1,
            &code(&p, SEED_SHA1, 4),
            &start,
            T0,
            &policy()
        )
        .is_none()
    );
}

#[test]
fn hotp_codes_are_single_use_and_forward_only() {
    let p = hotp_params();
    let mut state = CredentialCounters::default();
    for counter in [0, 1, 3, 4] {
        let ok = verify(
            &p,
            SEED_SHA1,
            &code(&p, SEED_SHA1, counter),
            &state,
            T0,
            &policy(),
        )
        .unwrap_or_else(|| panic!("counter {counter}"));
        assert_eq!(ok.step_or_counter, counter);
        state = ok.new_counters;
    }
    for used in [0, 2, 3, 4] {
        assert!(
            verify(
                &p,
                SEED_SHA1,
                &code(&p, SEED_SHA1, used),
                &state,
                T0,
                &policy()
            )
            .is_none(),
            "counter {used} after 4"
        );
    }
    assert_eq!(state.next_counter, 5);
    // RFC 4226 Appendix D codes are time-independent.
    let ok = verify(&p, SEED_SHA1, "338314", &state, 0, &policy());
    assert!(ok.is_none(), "counter 4 is used");
}

// ---------------------------------------------------------------- resync

#[test]
fn totp_resync_with_two_consecutive_codes() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    // The token is 15 minutes (30 steps) slow: normal validation fails.
    let (c1, c2) = (code(&p, SEED_SHA1, s - 31), code(&p, SEED_SHA1, s - 30));
    let fresh = CredentialCounters::default();
    assert!(verify(&p, SEED_SHA1, &c2, &fresh, T0, &policy()).is_none());
    let search = oath::default_sync_search(&p);
    assert_eq!(search, 64);
    let synced = synchronize(&p, SEED_SHA1, &c1, &c2, &fresh, T0, search).unwrap();
    assert_eq!(synced.last_used, Some(s - 30));
    assert_eq!(synced.drift, -30);
    // Neither code can be replayed; the next one validates with the drift.
    assert!(verify(&p, SEED_SHA1, &c2, &synced, T0, &policy()).is_none());
    assert!(verify(&p, SEED_SHA1, &c1, &synced, T0, &policy()).is_none());
    let later = T0 + 30;
    let next = code(&p, SEED_SHA1, totp_step(later, 30) - 30);
    let ok = verify(&p, SEED_SHA1, &next, &synced, later, &policy()).unwrap();
    assert_eq!(ok.new_counters.drift, -30);
}

#[test]
fn resync_refuses_non_consecutive_reversed_or_distant_codes() {
    let p = totp(6);
    let s = totp_step(T0, 30);
    let fresh = CredentialCounters::default();
    let c = |d: i64| code(&p, SEED_SHA1, s + d);
    let search = oath::default_sync_search(&p);
    assert!(synchronize(&p, SEED_SHA1, &c(10), &c(12), &fresh, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(11), &c(10), &fresh, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(10), &c(10), &fresh, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(70), &c(71), &fresh, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(10), "12345", &fresh, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(63), &c(64), &fresh, T0, search).is_some());
    // Codes at or before the last accepted step cannot be used to resync.
    let used = CredentialCounters {
        last_used: Some(s + 10),
        ..fresh
    };
    assert!(synchronize(&p, SEED_SHA1, &c(10), &c(11), &used, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(11), &c(12), &used, T0, search).is_some());
}

#[test]
fn hotp_resync_far_ahead() {
    let p = hotp_params();
    let start = CredentialCounters {
        next_counter: 100,
        ..Default::default()
    };
    let (c1, c2) = (code(&p, SEED_SHA1, 700), code(&p, SEED_SHA1, 701));
    assert!(verify(&p, SEED_SHA1, &c1, &start, T0, &policy()).is_none());
    let search = oath::default_sync_search(&p);
    let synced = synchronize(&p, SEED_SHA1, &c1, &c2, &start, T0, search).unwrap();
    assert_eq!(synced.last_used, Some(701));
    assert_eq!(synced.next_counter, 702);
    let ok = verify(
        &p,
        SEED_SHA1,
        &code(&p, SEED_SHA1, 702),
        &synced,
        T0,
        &policy(),
    )
    .unwrap();
    assert_eq!(ok.new_counters.next_counter, 703);
    // Non-consecutive, behind, or beyond the search are refused.
    let c = |n: i64| code(&p, SEED_SHA1, n);
    assert!(synchronize(&p, SEED_SHA1, &c(700), &c(702), &start, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(50), &c(51), &start, T0, search).is_none());
    assert!(synchronize(&p, SEED_SHA1, &c(1101), &c(1102), &start, T0, search).is_none());
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A code for any step within the window validates exactly once.
    #[test]
    fn window_codes_validate_exactly_once(
        secret in proptest::collection::vec(any::<u8>(), 10..64),
        now in 0i64..4_000_000_000,
        offset in -1i64..=1,
        drift in -5i64..=5,
        digits in 6u32..=8,
        alg in prop_oneof![Just(HashAlg::Sha1), Just(HashAlg::Sha256), Just(HashAlg::Sha512)],
    ) {
        let p = OathParams { kind: Kind::Totp { period: 30 }, digits, alg };
        let counters = CredentialCounters { drift, ..Default::default() };
        let step = totp_step(now, 30) + drift + offset;
        prop_assume!(step >= 0);
        let c = hotp(&secret, step as u64, digits, alg);
        let ok = verify(&p, &secret, &c, &counters, now, &policy());
        let ok = ok.expect("a code in the window validates");
        // If another step in the window shows the same code (about one
        // chance in 10^digits), the one nearer the centre wins instead.
        let centre = totp_step(now, 30) + drift;
        let collision = (centre - 1..=centre + 1)
            .any(|s| s != step && s >= 0 && hotp(&secret, s as u64, digits, alg) == c);
        if !collision {
            prop_assert_eq!(ok.step_or_counter, step);
            prop_assert_eq!(ok.new_counters.last_used, Some(step));
            prop_assert_eq!(ok.new_counters.drift, drift + offset);
        }
        prop_assert!(verify(&p, &secret, &c, &ok.new_counters, now, &policy()).is_none());
    }

    /// Whatever is typed, the validator never panics and only accepts
    /// well-formed codes.
    #[test]
    fn arbitrary_input_is_safe(input in "\\PC{0,12}", now in any::<i64>(), drift in any::<i64>()) {
        let counters = CredentialCounters { drift, last_used: None, next_counter: 0 };
        if let Some(ok) = verify(&totp(6), SEED_SHA1, &input, &counters, now, &policy()) {
            prop_assert!(input.len() == 6 && input.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(ok.step_or_counter >= 0);
        }
    }
}
