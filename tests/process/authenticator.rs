//! The authenticator (the `gatehouse-authenticator` library, run in-process
//! as its binary would run) against a real `gatehouse serve`: pairing,
//! number-matched approval of an activation and of sign-ins, the offline
//! verification code, and the refusals SPEC §3.2 asks for (a wrong number,
//! a wrong signature, a replayed answer).

use super::http::Client;
use super::server::{Options, Server, ok};
use gatehouse_domain::device::{
    DEVICE_HEADER, DeviceSigner, SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_request,
};
use gatehouse_domain::{Clock, SystemClock};
use reqwest::Method;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "Frank-Password-2026!";

/// What one run of the authenticator printed, and its exit code.
pub(super) struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs `authenticator --state STATE ARGS…` in-process (the binary's
/// `main` is this call on a current-thread runtime).
pub(super) async fn authenticator(state: &Path, args: &[&str]) -> Run {
    let mut argv: Vec<OsString> = vec!["authenticator".into(), "--state".into(), state.into()];
    argv.extend(args.iter().map(OsString::from));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = gatehouse_authenticator::run(argv, &mut out, &mut err).await;
    Run {
        code,
        stdout: String::from_utf8(out).expect("UTF-8 output"),
        stderr: String::from_utf8(err).expect("UTF-8 errors"),
    }
}

pub(super) fn stdout_ok(o: &Run) -> String {
    assert!(o.success(), "authenticator failed: {}", o.stderr);
    o.stdout.trim().to_owned()
}

/// A device-signed request built by hand, to send (and re-send) exactly.
struct SignedRequest {
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl SignedRequest {
    fn answer(device: &str, signer: &DeviceSigner, id: &str, body: &Value) -> Self {
        let path = format!("/api/v1/authenticator/requests/{id}/answer");
        let body = serde_json::to_vec(body).unwrap();
        let ts = SystemClock.now().millis();
        Self::with(device, signer, path, body, ts)
    }

    fn with(device: &str, signer: &DeviceSigner, path: String, body: Vec<u8>, ts: i64) -> Self {
        let signature = signer.sign(&canonical_request("POST", &path, ts, &body));
        Self {
            path,
            headers: vec![
                (DEVICE_HEADER, device.to_owned()),
                (TIMESTAMP_HEADER, ts.to_string()),
                (SIGNATURE_HEADER, signature),
            ],
            body,
        }
    }

    async fn send(&self, base: &str) -> (u16, Value) {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = Client::new(base)
            .send_raw(Method::POST, &self.path, Some(self.body.clone()), &headers)
            .await;
        (r.status, r.json())
    }
}

struct Paired {
    device_id: String,
    signer: DeviceSigner,
}

fn read_state(state: &Path) -> Paired {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let seed: [u8; 32] = hex::decode(v["seed"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    Paired {
        device_id: v["device_id"].as_str().unwrap().to_owned(),
        signer: DeviceSigner::from_seed(&seed),
    }
}

/// A new sign-in of frank up to an app request; returns the client, the
/// request's id and the number shown.
async fn app_sign_in(base: &str) -> (Client, String, i64) {
    let (c, v) = Client::signed_in(base, "frank", PASSWORD).await;
    assert_eq!(v["state"], "second_factor_required", "{v}");
    let (status, v) = c.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["challenge"]["mode"], "app", "{v}");
    let id = v["challenge"]["id"].as_str().unwrap().to_owned();
    let n = v["challenge"]["number_match"].as_i64().expect("a number");
    (c, id, n)
}

fn order_key(n: u32) -> String {
    format!("authenticator-test-{}-{n}", std::process::id())
}

async fn set_up(srv: &Server) -> PathBuf {
    let d = srv.dir();
    ok(
        d,
        &[
            "price",
            "set",
            "--method",
            "phonefactor",
            "--amount",
            "300",
            "--currency",
            "USD",
        ],
        None,
    );
    let msa = d.join("msa.txt");
    std::fs::write(&msa, "Master Services Agreement 1\n").unwrap();
    ok(
        d,
        &[
            "msa",
            "publish",
            "--version",
            "1",
            "--file",
            msa.to_str().unwrap(),
        ],
        None,
    );
    let number = ok(d, &["account", "create", "--name", "Alpha Hosting"], None);
    for (name, role, password) in [
        ("alice", "admin", "Correct-Horse-Battery-9"),
        ("frank", "user", PASSWORD),
    ] {
        ok(
            d,
            &[
                "user",
                "create",
                "--account",
                &number,
                "--username",
                name,
                "--email",
                &format!("{name}@example.test"),
                "--name",
                name,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
    }
    let (alice, _) = Client::signed_in(&srv.base(), "alice", "Correct-Horse-Battery-9").await;
    let (_, users) = alice.get("/api/v1/users").await;
    let frank_id = users["users"]
        .as_array()
        .expect("a user list")
        .iter()
        .find(|u| u["username"] == "frank")
        .and_then(|u| u["id"].as_i64())
        .expect("frank's id");
    let r = alice
        .send(
            Method::POST,
            &format!("/api/v1/users/{frank_id}/external-authentication/orders"),
            Some(&json!({"method": "phonefactor", "msa_version": "1", "msa_acknowledged": true})),
            &[("idempotency-key", &order_key(1))],
        )
        .await;
    assert_eq!(r.status, 201, "order: {}", r.text);
    d.join("authenticator.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_pairs_approves_with_the_number_and_refuses_forgeries() {
    let srv = Server::fresh(Options::new()).await;
    let base = srv.base();
    let state = set_up(&srv).await;

    // Activation in app mode: the pairing link, then the number to type.
    let (frank, v) = Client::signed_in(&base, "frank", PASSWORD).await;
    assert_eq!(v["state"], "activation_required", "{v}");
    let (status, v) = frank
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+14155550123", "mode": "app"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let uri = v["challenge"]["pairing_uri"]
        .as_str()
        .expect("a pairing link");
    assert!(uri.starts_with("gatehouse-authenticator://pair?"), "{uri}");
    let out = stdout_ok(&authenticator(&state, &["pair", uri]).await);
    assert!(
        out.starts_with("paired dev_") && out.ends_with(" as frank"),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state file holds the private key");
    }
    // The link works once.
    let again = authenticator(&srv.dir().join("other.json"), &["pair", uri]).await;
    assert!(!again.success());
    assert!(
        again.stderr.contains("not valid any more"),
        "{}",
        again.stderr
    );

    let (_, v) = frank.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(v["challenge"]["status"], "pending", "{v}");
    let n = v["challenge"]["number_match"].as_i64().expect("a number");
    let activation_id = v["challenge"]["id"].as_str().unwrap().to_owned();
    let pending = stdout_ok(&authenticator(&state, &["pending"]).await);
    assert!(
        pending.starts_with(&format!("{activation_id} activation frank "))
            && pending.contains(" expires "),
        "{pending}"
    );

    // Wrong signatures are refused and change nothing.
    let paired = read_state(&state);
    let approve = json!({"decision": "approve", "number": n});
    let stranger = DeviceSigner::from_seed(&[9; 32]);
    let forged = SignedRequest::answer(&paired.device_id, &stranger, &activation_id, &approve);
    assert_eq!(forged.send(&base).await.0, 401, "signed by another key");
    let mut tampered = SignedRequest::answer(
        &paired.device_id,
        &paired.signer,
        &activation_id,
        &json!({"decision": "deny"}),
    );
    tampered.body = serde_json::to_vec(&json!({"decision": "fraud"})).unwrap();
    assert_eq!(
        tampered.send(&base).await.0,
        401,
        "body changed after signing"
    );
    let stale = SignedRequest::with(
        &paired.device_id,
        &paired.signer,
        format!("/api/v1/authenticator/requests/{activation_id}/answer"),
        serde_json::to_vec(&json!({"decision": "deny"})).unwrap(),
        SystemClock.now().millis() - 10 * 60 * 1000,
    );
    assert_eq!(stale.send(&base).await.0, 401, "a timestamp 10 minutes old");
    let unknown = SignedRequest::answer("dev_nobody", &paired.signer, &activation_id, &approve);
    assert_eq!(unknown.send(&base).await.0, 401, "an unknown device");
    let (_, v) = frank.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(v["challenge"]["status"], "pending", "{v}");

    // The right number activates PhoneFactor and signs frank in.
    let out = authenticator(&state, &["approve", "--number", &n.to_string()]).await;
    stdout_ok(&out);
    let (_, v) = frank.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["state"], "authenticated", "{v}");
    assert_eq!(
        stdout_ok(&authenticator(&state, &["pending"]).await),
        "no pending requests"
    );

    // A sign-in approved with the number.
    let (c, v) = Client::signed_in(&base, "frank", PASSWORD).await;
    assert_eq!(v["state"], "second_factor_required", "{v}");
    assert!(
        v["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "phonefactor"),
        "{v}"
    );
    let (status, v) = c.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let n = v["challenge"]["number_match"].as_i64().expect("a number");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "pending", "{v}");
    assert_eq!(
        stdout_ok(&authenticator(&state, &["approve", "--number", &n.to_string()]).await),
        "approved"
    );
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v, json!({"status": "approved", "state": "authenticated"}));

    // A wrong number is refused (422) and denies the request: one guess.
    let (c, id, n) = app_sign_in(&base).await;
    let wrong = (n + 1) % 100;
    let out = authenticator(
        &state,
        &["approve", "--id", &id, "--number", &wrong.to_string()],
    )
    .await;
    assert!(!out.success());
    let err = out.stderr;
    assert!(
        err.contains("not the number") && err.contains("422"),
        "{err}"
    );
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "denied", "{v}");
    assert_eq!(v["state"], "second_factor_required", "{v}");
    let late = authenticator(
        &state,
        &["approve", "--id", &id, "--number", &n.to_string()],
    )
    .await;
    assert!(!late.success(), "the right number after a wrong one");
    assert!(late.stderr.contains("409"));

    // A wrong number sent by hand gets 422 as well.
    let (c, id, n) = app_sign_in(&base).await;
    let req = SignedRequest::answer(
        &paired.device_id,
        &paired.signer,
        &id,
        &json!({"decision": "approve", "number": (n + 1) % 100}),
    );
    let (status, v) = req.send(&base).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["error"].as_str().is_some(), "{v}");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "denied", "{v}");

    // The exact same signed approval sent twice: the second is refused.
    let (c, id, n) = app_sign_in(&base).await;
    let req = SignedRequest::answer(
        &paired.device_id,
        &paired.signer,
        &id,
        &json!({"decision": "approve", "number": n}),
    );
    let (status, v) = req.send(&base).await;
    assert_eq!((status, &v["status"]), (200, &json!("approved")), "{v}");
    let (status, v) = req.send(&base).await;
    assert_eq!(status, 409, "a replayed answer: {v}");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v, json!({"status": "approved", "state": "authenticated"}));

    // Deny from the app.
    let (c, _, _) = app_sign_in(&base).await;
    assert_eq!(stdout_ok(&authenticator(&state, &["deny"]).await), "denied");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "denied", "{v}");

    // The verification code signs in once.
    let code = stdout_ok(&authenticator(&state, &["code"]).await);
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let (c, _) = Client::signed_in(&base, "frank", PASSWORD).await;
    let (status, v) = c
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "authenticated", "{v}");
    let (c, _) = Client::signed_in(&base, "frank", PASSWORD).await;
    let (status, v) = c
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(status, 401, "the same code twice: {v}");

    // Fraud from the app blocks the next sign-in.
    let (c, _, _) = app_sign_in(&base).await;
    assert_eq!(stdout_ok(&authenticator(&state, &["fraud"]).await), "fraud");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "fraud", "{v}");
    let blocked = Client::new(&base);
    blocked.refresh_csrf().await;
    let (status, v) = blocked
        .post(
            "/api/v1/login",
            json!({"username": "frank", "password": PASSWORD}),
        )
        .await;
    assert!(
        status == 403 || (status == 200 && v["state"] != "second_factor_required"),
        "{status} {v}"
    );
}

#[tokio::test]
async fn bad_pairing_links_and_missing_state_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("a.json");
    let o = authenticator(&state, &["pair", "https://example.test/pair?token=x"]).await;
    assert!(!o.success());
    assert!(o.stderr.contains("gatehouse-authenticator://pair?"));
    let o = authenticator(&state, &["pending"]).await;
    assert!(!o.success());
    let err = o.stderr;
    assert!(err.contains("pair first"), "{err}");
    assert!(!state.exists());
}
