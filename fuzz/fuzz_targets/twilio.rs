//! Twilio's callbacks, as the web front end reads them before anything
//! else (`twilio_checked`): the form body split into pairs (`form_pairs`),
//! the `X-Twilio-Signature` checked by `WebhookVerifier::verify` with the
//! settings header (auth token or SharedKey, HMAC-SHA1 or HMAC-SHA256, the
//! URL with and without its port, `bodySHA256` for JSON bodies), and the
//! callback's fields read (`Digits`, `Body`).
//!
//! Properties: no panic; a signature the fuzzer made up never verifies
//! (it would need the secret); a request the harness signs with the right
//! secret verifies however its pairs are ordered or repeated, and fails
//! when signed with another secret.
#![no_main]

use gatehouse_delivery::twilio::signature::{
    SignatureAlgorithm, WebhookBody, WebhookVerifier, compute_signature, form_pairs,
};
use gatehouse_domain::phonefactor;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const AUTH_TOKEN: &str = "12345";
const SHARED_KEY_ID: &str = "KEY1";
const SHARED_SECRET: &str = "shared-secret";

/// Who signs the request.
#[derive(Clone, Copy, Debug)]
enum Signer {
    /// The fuzzer: its own bytes as the signature.
    Fuzzer,
    /// The harness, with the auth token (HMAC-SHA1, no settings header).
    AuthToken,
    /// The harness, with the SharedKey and the algorithm the header names.
    SharedKey(SignatureAlgorithm),
}

#[derive(Debug)]
struct Input<'a> {
    url: &'a str,
    body: &'a [u8],
    json: bool,
    signer: Signer,
    signature: &'a str,
    settings: Option<&'a str>,
}

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let signer = match u.int_in_range(0..=3)? {
            0 => Signer::Fuzzer,
            1 => Signer::AuthToken,
            2 => Signer::SharedKey(SignatureAlgorithm::HmacSha1),
            _ => Signer::SharedKey(SignatureAlgorithm::HmacSha256),
        };
        Ok(Self {
            signer,
            json: u.arbitrary()?,
            url: u.arbitrary()?,
            signature: u.arbitrary()?,
            settings: u.arbitrary()?,
            body: u.bytes(u.len())?,
        })
    }
}

fuzz_target!(|input: Input<'_>| {
    let verifier = WebhookVerifier::new(SecretString::from(AUTH_TOKEN))
        .with_shared_key(SHARED_KEY_ID, SecretString::from(SHARED_SECRET));
    let params = if input.json {
        Vec::new()
    } else {
        form_pairs(input.body)
    };
    let body = if input.json {
        WebhookBody::Raw(input.body)
    } else {
        WebhookBody::Form(&params)
    };

    // What the handlers read from a callback that passed.
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let _ = phonefactor::classify_keys(param("Digits"));
    let _ = phonefactor::is_fraud_reply(param("Body"));

    match input.signer {
        Signer::Fuzzer => {
            assert!(
                !verifier.verify(input.url, body, input.signature, input.settings),
                "a made-up signature verified: {:?} for {:?}",
                input.signature,
                input.url
            );
        }
        Signer::AuthToken => {
            // Signed over the URL as given (for JSON, the URL alone).
            let signed_params: &[(String, String)] = if input.json { &[] } else { &params };
            let sig = compute_signature(
                AUTH_TOKEN,
                SignatureAlgorithm::HmacSha1,
                input.url,
                signed_params,
            );
            let valid = verifier.verify(input.url, body, &sig, None);
            check_order_and_repeats(&verifier, input.url, &params, input.json, &sig, None, valid);
            // The auth token's signature under a SharedKey's header: refused.
            let header = format!("key={SHARED_KEY_ID}");
            assert!(!verifier.verify(input.url, body, &sig, Some(&header)));
            let unknown = "key=OTHER";
            assert!(!verifier.verify(input.url, body, &sig, Some(unknown)));
            // Signed with another secret: refused.
            let wrong = compute_signature(
                "54321",
                SignatureAlgorithm::HmacSha1,
                input.url,
                signed_params,
            );
            assert!(!verifier.verify(input.url, body, &wrong, None));
        }
        Signer::SharedKey(algorithm) => {
            let signed_params: &[(String, String)] = if input.json { &[] } else { &params };
            let sig = compute_signature(SHARED_SECRET, algorithm, input.url, signed_params);
            let header = format!("key={SHARED_KEY_ID},algorithm={}", algorithm.name());
            let valid = verifier.verify(input.url, body, &sig, Some(&header));
            check_order_and_repeats(
                &verifier,
                input.url,
                &params,
                input.json,
                &sig,
                Some(&header),
                valid,
            );
            // Without the header it is checked with the auth token: refused.
            assert!(!verifier.verify(input.url, body, &sig, None));
            // The other algorithm named: refused.
            let other = match algorithm {
                SignatureAlgorithm::HmacSha1 => "HMAC_SHA256",
                SignatureAlgorithm::HmacSha256 => "HMAC_SHA1",
            };
            let header = format!("key={SHARED_KEY_ID},algorithm={other}");
            assert!(!verifier.verify(input.url, body, &sig, Some(&header)));
        }
    }
});

/// The form's pairs count as a sorted set (Twilio's libraries): reversed,
/// or with a pair repeated, the answer is the same.
fn check_order_and_repeats(
    verifier: &WebhookVerifier,
    url: &str,
    params: &[(String, String)],
    json: bool,
    sig: &str,
    header: Option<&str>,
    valid: bool,
) {
    if json || params.is_empty() {
        return;
    }
    let mut reversed = params.to_vec();
    reversed.reverse();
    assert_eq!(
        verifier.verify(url, WebhookBody::Form(&reversed), sig, header),
        valid
    );
    reversed.push(params[0].clone());
    assert_eq!(
        verifier.verify(url, WebhookBody::Form(&reversed), sig, header),
        valid
    );
    // A pair added that was not signed: refused.
    let injected = ("Digits".to_owned(), "#injected".to_owned());
    if !params.contains(&injected) {
        reversed.push(injected);
        assert!(!verifier.verify(url, WebhookBody::Form(&reversed), sig, header));
    }
}
