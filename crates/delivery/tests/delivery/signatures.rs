//! Webhook signatures: Twilio's documented examples, and signatures made by
//! Twilio's official Python library (`twilio`, `RequestValidator`), which
//! the Rust verifier must accept, or refuse, exactly as that library does.
//!
//! The library is run with `python3`. Without it (or without the `twilio`
//! module: `pip install twilio`), these tests print why and pass, except in
//! continuous integration (`CI` set), where `.ci/run` installs the module
//! and a missing one is a failure.

use std::io::Write as _;
use std::process::{Command, Stdio};

use gatehouse_delivery::{
    SIGNATURE_SETTINGS_HEADER, TwilioConfig, TwilioGateway, TwilioWebhookKey, WebhookBody,
    WebhookVerifier, twilio_signature, verify_twilio_signature,
};
use serde_json::{Value, json};

// ---- Twilio's documented example ----------------------------------------

fn params(caller: &str) -> Vec<(String, String)> {
    [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", caller),
        ("Digits", "1234"),
        ("From", caller),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

/// The worked example of Twilio's webhook security documentation.
#[test]
fn twilios_documented_example() {
    assert_eq!(
        twilio_signature(TOKEN, URL, &params("+14158675310")),
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    );
}

/// The same example as the provider's own libraries test it (another
/// caller number).
#[test]
fn the_libraries_test_vector() {
    assert_eq!(
        twilio_signature(TOKEN, URL, &params("+14158675309")),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
}

#[test]
fn order_of_parameters_does_not_matter() {
    let mut p = params("+14158675310");
    p.reverse();
    assert!(verify_twilio_signature(
        TOKEN,
        URL,
        &p,
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    ));
}

#[test]
fn wrong_signatures_are_refused() {
    let sig = "GvWf1cFY/Q7PnoempGyD5oXAezc=";
    let p = params("+14158675310");
    assert!(verify_twilio_signature(TOKEN, URL, &p, sig));
    assert!(!verify_twilio_signature("54321", URL, &p, sig));
    assert!(!verify_twilio_signature(
        TOKEN,
        "https://mycompany.com/myapp.php?foo=1",
        &p,
        sig
    ));
    let mut tampered = p.clone();
    tampered[2].1 = "0".to_owned();
    assert!(!verify_twilio_signature(TOKEN, URL, &tampered, sig));
    assert!(!verify_twilio_signature(TOKEN, URL, &p, ""));
    assert!(!verify_twilio_signature(
        TOKEN,
        URL,
        &p,
        "GvWf1cFY/Q7PnoempGyD5oXAezd="
    ));
}

// ---- Against the official library ---------------------------------------

/// Answers a list of operations with Twilio's library: `sign` (a signature
/// by `compute_signature`), `hash` (`compute_hash` of a JSON body),
/// `variants` (`remove_port`/`add_port` of a URL), `algorithm`
/// (`get_signature_algorithm` of a settings header) and `check` (a
/// signature of `signed`, then `validate` of `url` with it: true, false or
/// an error where the library raises).
const LIBRARY: &str = r#"
import json, sys
from urllib.parse import urlparse
from twilio.request_validator import (
    RequestValidator, add_port, get_signature_algorithm, remove_port)

class MultiDict(dict):
    """Repeated names, offered to the validator through `getall` like
    Flask's MultiDict (werkzeug is not needed for that)."""
    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self.setdefault(name, []).append(value)
    def getall(self, name):
        return self[name]

def params(op):
    return op["body"] if "body" in op else MultiDict(op.get("params") or [])

def run(op):
    kind = op["op"]
    validator = RequestValidator(op.get("secret", "-"))
    if kind == "sign":
        return validator.compute_signature(
            op["url"], MultiDict(op.get("params") or []), op.get("algorithm"))
    if kind == "hash":
        return validator.compute_hash(op["body"])
    if kind == "variants":
        try:
            parsed = urlparse(op["url"])
            return [remove_port(parsed), add_port(parsed)]
        except ValueError:
            return None
    if kind == "algorithm":
        return get_signature_algorithm(op.get("header"))
    if kind == "check":
        signature = validator.compute_signature(
            op["signed"], MultiDict(op.get("params") or []), op.get("algorithm"))
        try:
            valid = validator.validate(op["url"], params(op), signature, op.get("algorithm"))
        except Exception as error:
            valid = "error: " + type(error).__name__
        return [signature, valid]
    raise ValueError(kind)

print(json.dumps([run(op) for op in json.load(sys.stdin)]))
"#;

/// Runs `ops` through [`LIBRARY`]; `None` when `python3` or its `twilio`
/// module is missing outside CI (the test then returns early).
fn library(ops: &[Value]) -> Option<Vec<Value>> {
    let available = Command::new("python3")
        .args(["-c", "import twilio.request_validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        // CI must run these: `.ci/run` installs the module.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but python3 cannot import the `twilio` module (pip install twilio)"
        );
        eprintln!(
            "SKIPPED: python3 with Twilio's `twilio` package is needed to compare \
             signatures with the official library (pip install twilio)"
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", LIBRARY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::from(ops.to_vec()).to_string().as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON from python3");
    assert_eq!(answers.len(), ops.len());
    Some(answers)
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("a string from the library, got {v}"))
}

fn sign(secret: &str, url: &str, params: &[(String, String)], algorithm: Option<&str>) -> Value {
    json!({"op": "sign", "secret": secret, "url": url, "params": params, "algorithm": algorithm})
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const AUTH_TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015";
const KEY_ID: &str = "webhooks_sharedkey_0f1e2d3c";
const KEY_SECRET: &str = "shared-key-secret-7c4a8d09ca3762af61e59520943dc264";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALLBACK: &str = "https://portal.example.com/api/v1/telephony/twilio/gather/4b1d?c=7";

fn gather_params() -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", ACCOUNT),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("Digits", "#"),
        ("From", "+14155550100"),
        ("To", "+14155550123"),
    ])
}

/// The gateway as the portal builds it: the auth token and one SharedKey.
fn gateway() -> TwilioGateway {
    let mut config = TwilioConfig::new(ACCOUNT, AUTH_TOKEN, "+14155550100");
    config.webhook_keys = vec![TwilioWebhookKey {
        id: KEY_ID.to_owned(),
        secret: KEY_SECRET.to_owned().into(),
    }];
    TwilioGateway::new(&config).expect("valid")
}

fn verifier() -> WebhookVerifier {
    gateway().webhook_verifier().clone()
}

#[test]
fn an_https_callback_without_a_port() {
    let params = gather_params();
    let Some(answers) = library(&[sign(AUTH_TOKEN, CALLBACK, &params, None)]) else {
        return;
    };
    let sig = text(&answers[0]);
    let v = verifier();
    assert!(v.verify(CALLBACK, WebhookBody::Form(&params), sig, None));
    assert!(verify_twilio_signature(AUTH_TOKEN, CALLBACK, &params, sig));
    assert!(gateway().verify_request(CALLBACK, &params, sig));
    assert_eq!(twilio_signature(AUTH_TOKEN, CALLBACK, &params), sig);

    // A changed parameter value, a changed URL, another secret: refused.
    let mut tampered = params.clone();
    tampered[2].1 = "0#".to_owned();
    assert!(!v.verify(CALLBACK, WebhookBody::Form(&tampered), sig, None));
    let mut extra = params.clone();
    extra.push(("Digits".to_owned(), "1".to_owned()));
    assert!(!v.verify(CALLBACK, WebhookBody::Form(&extra), sig, None));
    let other_url = CALLBACK.replace("c=7", "c=8");
    assert!(!v.verify(&other_url, WebhookBody::Form(&params), sig, None));
    let other_host = CALLBACK.replace("portal.example.com", "portal.example.net");
    assert!(!v.verify(&other_host, WebhookBody::Form(&params), sig, None));
    assert!(!verify_twilio_signature(KEY_SECRET, CALLBACK, &params, sig));
}

#[test]
fn the_same_url_with_443_either_way() {
    let params = gather_params();
    let with_443 = CALLBACK.replace(".com/", ".com:443/");
    let with_8443 = CALLBACK.replace(".com/", ".com:8443/");
    let Some(answers) = library(&[
        sign(AUTH_TOKEN, &with_443, &params, None),
        sign(AUTH_TOKEN, CALLBACK, &params, None),
        sign(AUTH_TOKEN, &with_8443, &params, None),
    ]) else {
        return;
    };
    let v = verifier();
    let form = WebhookBody::Form(&params);
    // Signed with the port, received without it, and the other way round.
    assert!(v.verify(CALLBACK, form, text(&answers[0]), None));
    assert!(v.verify(&with_443, form, text(&answers[1]), None));
    assert!(v.verify(&with_443, form, text(&answers[0]), None));
    // Another port is another URL.
    assert!(!v.verify(CALLBACK, form, text(&answers[2]), None));
    assert!(!v.verify(&with_443, form, text(&answers[2]), None));
}

#[test]
fn an_http_url_with_another_port() {
    let params = gather_params();
    let url = "http://127.0.0.1:8080/twiml/gather?c=7";
    let Some(answers) = library(&[
        sign(AUTH_TOKEN, url, &params, None),
        sign(
            AUTH_TOKEN,
            "http://127.0.0.1/twiml/gather?c=7",
            &params,
            None,
        ),
        sign(
            AUTH_TOKEN,
            "http://127.0.0.1:80/twiml/gather?c=7",
            &params,
            None,
        ),
        sign(
            AUTH_TOKEN,
            "http://127.0.0.1:8081/twiml/gather?c=7",
            &params,
            None,
        ),
    ]) else {
        return;
    };
    let v = verifier();
    let form = WebhookBody::Form(&params);
    assert!(v.verify(url, form, text(&answers[0]), None));
    // Its port removed: the official library accepts that too.
    assert!(v.verify(url, form, text(&answers[1]), None));
    // But not the default port instead of 8080, nor another port.
    assert!(!v.verify(url, form, text(&answers[2]), None));
    assert!(!v.verify(url, form, text(&answers[3]), None));
}

#[test]
fn repeated_parameter_values() {
    let params = pairs(&[
        ("To", "+14155550123"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "completed"),
        ("From", "+14155550100"),
    ]);
    let Some(answers) = library(&[sign(AUTH_TOKEN, CALLBACK, &params, None)]) else {
        return;
    };
    let sig = text(&answers[0]);
    let v = verifier();
    assert!(v.verify(CALLBACK, WebhookBody::Form(&params), sig, None));
    // The library signs each distinct value once, values sorted: the order
    // received and a repetition do not matter.
    let mut reordered = params.clone();
    reordered.reverse();
    assert!(v.verify(CALLBACK, WebhookBody::Form(&reordered), sig, None));
    let mut once: Vec<(String, String)> = params.clone();
    once.remove(3);
    assert!(v.verify(CALLBACK, WebhookBody::Form(&once), sig, None));
    // A changed value is another request.
    let mut changed = params.clone();
    changed[4].1 = "busy".to_owned();
    assert!(!v.verify(CALLBACK, WebhookBody::Form(&changed), sig, None));
}

#[test]
fn a_json_body_with_body_sha256() {
    let body =
        r#"{"CallSid":"CA0123456789abcdef0123456789abcdef","CallStatus":"completed","Price":null}"#;
    let Some(hash) = library(&[json!({"op": "hash", "body": body})]) else {
        return;
    };
    let url = format!(
        "https://portal.example.com/api/v1/telephony/twilio/status?bodySHA256={}",
        text(&hash[0])
    );
    let Some(answers) = library(&[sign(AUTH_TOKEN, &url, &[], None)]) else {
        return;
    };
    let sig = text(&answers[0]);
    let v = verifier();
    assert!(v.verify(&url, WebhookBody::Raw(body.as_bytes()), sig, None));
    // Another body, or the hash of another body in the URL: refused.
    let changed = body.replace("completed", "failed");
    assert!(!v.verify(&url, WebhookBody::Raw(changed.as_bytes()), sig, None));
    let other_hash = format!(
        "{}?bodySHA256={}",
        url.split('?').next().unwrap(),
        "a".repeat(64)
    );
    assert!(!v.verify(&other_hash, WebhookBody::Raw(body.as_bytes()), sig, None));
    // The body as a form is not what was signed.
    let as_form = pairs(&[("body", body)]);
    assert!(!v.verify(&url, WebhookBody::Form(&as_form), sig, None));
}

#[test]
fn an_hmac_sha256_shared_key_signature() {
    let params = gather_params();
    let header = format!("key={KEY_ID},algorithm=HMAC_SHA256");
    let loose = format!(" algorithm = hmac_sha256 , key = {KEY_ID} ");
    let Some(answers) = library(&[
        sign(KEY_SECRET, CALLBACK, &params, Some("HMAC_SHA256")),
        sign(KEY_SECRET, CALLBACK, &params, None),
        json!({"op": "algorithm", "header": header}),
        json!({"op": "algorithm", "header": loose}),
    ]) else {
        return;
    };
    let sig = text(&answers[0]);
    assert_eq!(text(&answers[2]), "HMAC_SHA256");
    assert_eq!(text(&answers[3]), "hmac_sha256"); // upper-cased by validate
    let gateway = gateway();
    let form = WebhookBody::Form(&params);
    assert_eq!(
        SIGNATURE_SETTINGS_HEADER,
        "X-Twilio-Webhooks-Signature-Settings"
    );
    assert!(gateway.verify_webhook(CALLBACK, form, sig, Some(&header)));
    assert!(gateway.verify_webhook(CALLBACK, form, sig, Some(&loose)));

    // An unknown key, no key, no header (the auth token), another
    // algorithm, an algorithm the library does not know: refused.
    let unknown = "key=webhooks_sharedkey_unknown,algorithm=HMAC_SHA256";
    assert!(!gateway.verify_webhook(CALLBACK, form, sig, Some(unknown)));
    assert!(!gateway.verify_webhook(CALLBACK, form, sig, Some("algorithm=HMAC_SHA256")));
    assert!(!gateway.verify_webhook(CALLBACK, form, sig, None));
    assert!(!gateway.verify_request(CALLBACK, &params, sig));
    let sha1 = format!("key={KEY_ID},algorithm=HMAC_SHA1");
    assert!(!gateway.verify_webhook(CALLBACK, form, sig, Some(&sha1)));
    let sha512 = format!("key={KEY_ID},algorithm=HMAC_SHA512");
    assert!(!gateway.verify_webhook(CALLBACK, form, sig, Some(&sha512)));
    // The key's HMAC_SHA1 signature, as its header says.
    assert!(gateway.verify_webhook(CALLBACK, form, text(&answers[1]), Some(&sha1)));
    // A changed value under the shared key.
    let mut tampered = params.clone();
    tampered[2].1 = "0#".to_owned();
    assert!(!gateway.verify_webhook(CALLBACK, WebhookBody::Form(&tampered), sig, Some(&header)));
    // A verifier without the key refuses it.
    let bare = WebhookVerifier::new(AUTH_TOKEN.into());
    assert!(!bare.verify(CALLBACK, form, sig, Some(&header)));
}

/// For URLs the official library treats in its own way (case of the
/// scheme, empty query, trailing `;`, user information, IPv6, port 0, an
/// empty port, leading spaces, a tab), every URL it would sign (the one
/// received, its two port variants, and a few near misses) is signed by the
/// library, which also says whether it validates; the Rust verifier must
/// say the same (where the library raises, the Rust verifier refuses).
#[test]
fn the_rust_verifier_decides_like_the_official_library() {
    let urls = [
        CALLBACK,
        "https://portal.example.com:443/cb",
        "https://portal.example.com:0443/cb",
        "http://portal.example.com:8080/cb?x=1&y=%2F",
        "HTTPS://Portal.Example.COM/CB?A=%2b",
        "https://portal.example.com/cb?",
        "https://portal.example.com/cb#frag",
        "https://portal.example.com/a;b/c;",
        "https://portal.example.com/a/c;?x=1",
        "https://user:pw@portal.example.com:8443/cb",
        "https://user:pw@portal.example.com/cb",
        "https://[::1]:8443/cb",
        "https://[::1]/cb",
        "https://portal.example.com:0/cb",
        "https://portal.example.com:/cb",
        "  https://portal.example.com/c\tb",
        "https://portal.example.com",
        "https://portal.example.com?x=1",
        "https://us[er]@portal.example.com/cb",
        "https://us\u{2100}er@portal.example.com/cb",
    ];
    let Some(variants) = library(
        &urls
            .iter()
            .map(|u| json!({"op": "variants", "url": u}))
            .collect::<Vec<_>>(),
    ) else {
        return;
    };
    let params = gather_params();
    let mut ops = Vec::new();
    for (url, variants) in urls.iter().zip(&variants) {
        let mut signed: Vec<String> = vec![
            (*url).to_owned(),
            url.trim().to_owned(),
            url.replace("https://", "https://x"),
            format!("{url}/"),
        ];
        if let Some(v) = variants.as_array() {
            signed.extend(v.iter().map(|s| text(s).to_owned()));
        }
        for s in signed {
            ops.push(
                json!({"op": "check", "secret": AUTH_TOKEN, "url": url, "signed": s, "params": params}),
            );
        }
    }
    // JSON bodies: the hash parameter found as `parse_qs` finds it.
    let body = r#"{"a":1}"#;
    let hash = "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862";
    for url in [
        format!("https://portal.example.com/s?bodySHA256={hash}"),
        format!("https://portal.example.com/s?bodySHA256=&bodySHA256={hash}"),
        format!("https://portal.example.com/s?body%53HA256={hash}&x=1"),
        format!(
            "https://portal.example.com/s?bodySHA256={}",
            hash.to_uppercase()
        ),
        format!("https://portal.example.com/s?bodySHA256={hash}#{hash}"),
        "https://portal.example.com/s".to_owned(),
    ] {
        for b in [body, ""] {
            ops.push(
                json!({"op": "check", "secret": AUTH_TOKEN, "url": url, "signed": url, "body": b}),
            );
        }
    }
    let Some(answers) = library(&ops) else {
        return;
    };
    let v = WebhookVerifier::new(AUTH_TOKEN.into());
    let mut accepted = 0;
    for (op, answer) in ops.iter().zip(&answers) {
        let sig = text(&answer[0]);
        let expected = answer[1].as_bool().unwrap_or(false); // an error: refused
        let url = text(&op["url"]);
        let got = match op.get("body") {
            Some(b) => v.verify(url, WebhookBody::Raw(text(b).as_bytes()), sig, None),
            None => v.verify(url, WebhookBody::Form(&params), sig, None),
        };
        assert_eq!(got, expected, "{op} -> library {}", answer[1]);
        accepted += usize::from(got);
    }
    // Not a vacuous agreement.
    assert!(accepted > urls.len(), "{accepted} accepted");
}

/// The signed string is the URL followed by the sorted names and values
/// with nothing in between, so one signature holds for several requests:
/// the end of the URL moved to the front of the first name (when it still
/// sorts first), or the last value merged with what follows. The official
/// library accepts them just the same; nothing that reads a request's URL
/// or parameters may rely on where one ends and the next begins (the
/// portal's status callback marker carries a keyed tag for this reason).
#[test]
fn the_signature_does_not_separate_the_url_from_the_parameters() {
    let genuine = "https://portal.example.com/api/v1/telephony/twilio/status?outbox=57";
    let params = pairs(&[
        ("AccountSid", ACCOUNT),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "delivered"),
        ("To", "+14155550123"),
    ]);
    let cut = "https://portal.example.com/api/v1/telephony/twilio/status?outbox=5";
    let mut moved = params.clone();
    moved[0].0 = format!("7{}", moved[0].0);
    // The last two pairs merged: `To` gone, its name and value in the
    // status's value.
    let mut merged = params.clone();
    merged.pop();
    merged[2].1 = "deliveredTo+14155550123".to_owned();
    let Some(answers) = library(&[
        sign(AUTH_TOKEN, genuine, &params, None),
        json!({"op": "check", "secret": AUTH_TOKEN, "url": cut, "signed": cut, "params": moved}),
        json!({"op": "check", "secret": AUTH_TOKEN, "url": genuine, "signed": genuine, "params": merged}),
    ]) else {
        return;
    };
    let sig = text(&answers[0]);
    // `check` signs `signed` with the pairs given: the same string as the
    // genuine request's, so the same signature, and the library validates
    // it for the reshaped request.
    assert_eq!(text(&answers[1][0]), sig);
    assert_eq!(answers[1][1], json!(true));
    assert_eq!(text(&answers[2][0]), sig);
    assert_eq!(answers[2][1], json!(true));
    let v = verifier();
    assert!(v.verify(cut, WebhookBody::Form(&moved), sig, None));
    assert!(v.verify(genuine, WebhookBody::Form(&merged), sig, None));
}
