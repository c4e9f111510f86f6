//! The `authenticator` binary against a real `gatehouse serve`: pairing,
//! number-matched approval of an activation and of sign-ins, the offline
//! verification code, and the refusals SPEC §3.2 asks for (a wrong number,
//! a wrong signature, a replayed answer).

use gatehouse_domain::device::{
    DEVICE_HEADER, DeviceSigner, SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_request,
};
use gatehouse_domain::{Clock, SystemClock};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Frank-Password-2026!";

/// The portal's binary, built by the same `cargo test --workspace` (the
/// root package's process tests need it too): `target/debug/gatehouse`
/// beside this test's own directory, or `GATEHOUSE_BIN`.
fn gatehouse_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEHOUSE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/debug/deps/authenticator-HASH -> target/debug/gatehouse
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX)))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --bin gatehouse), or run the whole workspace's tests",
        bin.display()
    );
    bin
}

fn gatehouse(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(gatehouse_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("GATEHOUSE_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "gatehouse {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// `gatehouse serve` on a fresh data directory and a free port; killed
/// when dropped.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(gatehouse_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("GATEHOUSE_DATABASE_URL")
            // PhoneFactor needs a delivery; the virtual phone, explicitly.
            .env("GATEHOUSE_DELIVERY", "virtual")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gatehouse serve");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("gatehouse serve exited ({status}): {}", server.log());
            }
            if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse serve did not become healthy: {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser-like API client: keeps cookies and sends the CSRF token.
struct Client {
    http: reqwest::Client,
    base: String,
    cookies: Mutex<HashMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            cookies: Mutex::new(HashMap::new()),
            csrf: Mutex::new(None),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.send_with(method, path, body, &[]).await
    }

    async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let cookie = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("accept", "application/json");
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        if let Some(t) = self.csrf.lock().unwrap().clone() {
            req = req.header("x-csrf-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        {
            let mut jar = self.cookies.lock().unwrap();
            for h in resp.headers().get_all("set-cookie") {
                let Some((name, value)) = h
                    .to_str()
                    .ok()
                    .and_then(|s| s.split(';').next())
                    .and_then(|nv| nv.split_once('='))
                else {
                    continue;
                };
                if value.is_empty() || h.to_str().unwrap_or("").contains("Max-Age=0") {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    async fn refresh_csrf(&self) {
        let (_, v) = self.get("/api/v1/session").await;
        if let Some(t) = v["csrf_token"].as_str().filter(|t| !t.is_empty()) {
            *self.csrf.lock().unwrap() = Some(t.to_owned());
        }
    }

    /// Signs in with a password; returns the login response.
    async fn login(base: &str, username: &str, password: &str) -> (Self, Value) {
        let c = Self::new(base);
        c.refresh_csrf().await;
        let (status, v) = c
            .post(
                "/api/v1/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {username}: {v}");
        c.refresh_csrf().await;
        (c, v)
    }
}

/// Runs the authenticator binary with its state in `state`.
fn authenticator(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authenticator"))
        .arg("--state")
        .arg(state)
        .args(args)
        .env_remove("GATEHOUSE_AUTHENTICATOR_STATE")
        .output()
        .expect("run authenticator")
}

fn stdout_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "authenticator failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
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
        let mut req = reqwest::Client::new()
            .post(format!("{base}{}", self.path))
            .header("content-type", "application/json")
            .body(self.body.clone());
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        (status, v)
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
    let (c, v) = Client::login(base, "frank", PASSWORD).await;
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
    gatehouse(
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
    gatehouse(
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
    let number = gatehouse(d, &["account", "create", "--name", "Alpha Hosting"], None);
    for (name, role, password) in [
        ("alice", "admin", "Correct-Horse-Battery-9"),
        ("frank", "user", PASSWORD),
    ] {
        gatehouse(
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
    let (alice, _) = Client::login(&srv.base, "alice", "Correct-Horse-Battery-9").await;
    let (_, users) = alice.get("/api/v1/users").await;
    let frank_id = users["users"]
        .as_array()
        .expect("a user list")
        .iter()
        .find(|u| u["username"] == "frank")
        .and_then(|u| u["id"].as_i64())
        .expect("frank's id");
    let (status, v) = alice
        .send_with(
            reqwest::Method::POST,
            &format!("/api/v1/users/{frank_id}/external-authentication/orders"),
            Some(&json!({"method": "phonefactor", "msa_version": "1", "msa_acknowledged": true})),
            &[("idempotency-key", &order_key(1))],
        )
        .await;
    assert_eq!(status, 201, "order: {v}");
    d.join("authenticator.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_pairs_approves_with_the_number_and_refuses_forgeries() {
    let srv = Server::start().await;
    let base = srv.base.clone();
    let state = set_up(&srv).await;

    // Activation in app mode: the pairing link, then the number to type.
    let (frank, v) = Client::login(&base, "frank", PASSWORD).await;
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
    let out = stdout_ok(&authenticator(&state, &["pair", uri]));
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
    let again = authenticator(&srv.dir().join("other.json"), &["pair", uri]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not valid any more"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let (_, v) = frank.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(v["challenge"]["status"], "pending", "{v}");
    let n = v["challenge"]["number_match"].as_i64().expect("a number");
    let activation_id = v["challenge"]["id"].as_str().unwrap().to_owned();
    let pending = stdout_ok(&authenticator(&state, &["pending"]));
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
    let out = authenticator(&state, &["approve", "--number", &n.to_string()]);
    stdout_ok(&out);
    let (_, v) = frank.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["state"], "authenticated", "{v}");
    assert_eq!(
        stdout_ok(&authenticator(&state, &["pending"])),
        "no pending requests"
    );

    // A sign-in approved with the number.
    let (c, v) = Client::login(&base, "frank", PASSWORD).await;
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
        stdout_ok(&authenticator(
            &state,
            &["approve", "--number", &n.to_string()]
        )),
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
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
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
    );
    assert!(!late.status.success(), "the right number after a wrong one");
    assert!(String::from_utf8_lossy(&late.stderr).contains("409"));

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
    assert_eq!(stdout_ok(&authenticator(&state, &["deny"])), "denied");
    let (_, v) = c.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(v["status"], "denied", "{v}");

    // The verification code signs in once.
    let code = stdout_ok(&authenticator(&state, &["code"]));
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let (c, _) = Client::login(&base, "frank", PASSWORD).await;
    let (status, v) = c
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "authenticated", "{v}");
    let (c, _) = Client::login(&base, "frank", PASSWORD).await;
    let (status, v) = c
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(status, 401, "the same code twice: {v}");

    // Fraud from the app blocks the next sign-in.
    let (c, _, _) = app_sign_in(&base).await;
    assert_eq!(stdout_ok(&authenticator(&state, &["fraud"])), "fraud");
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

#[test]
fn bad_pairing_links_and_missing_state_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("a.json");
    let o = authenticator(&state, &["pair", "https://example.test/pair?token=x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("gatehouse-authenticator://pair?"));
    let o = authenticator(&state, &["pending"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pair first"), "{err}");
    assert!(!state.exists());
}
