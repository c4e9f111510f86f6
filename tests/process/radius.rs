//! The RADIUS front end of `gatehouse serve`, driven by FreeRADIUS's
//! `radclient` (Debian's freeradius-utils: an independent client that
//! checks every reply's Response Authenticator and Message-Authenticator)
//! and by the crate's own client (for what radclient cannot do: send from
//! another source address, repeat a packet byte for byte).

use super::authenticator::{authenticator, stdout_ok};
use super::http::Client as Http;
use super::server::{Options, Server, ok};
use gatehouse_domain::oath::{self, HashAlg, OathParams, Validation};
use gatehouse_domain::seal::MasterKey;
use gatehouse_domain::{Clock as _, Role, SystemClock};
use gatehouse_radius::client::{AccessRequest, Code, Connection};
use gatehouse_store::credentials::{self, NewCredential};
use gatehouse_store::{NewUser, Scope, Store, Users, accounts};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SEED: &[u8] = b"12345678901234567890";
const ALICE_PASSWORD: &str = "Alice-Password-2026";

/// Account 55555555 with alice (TOTP credential), account 66666666 with
/// mallory (the same), and an administrator of the first.
async fn seed(dir: &Path) {
    let key = MasterKey::generate();
    std::fs::write(dir.join("master.key"), format!("{}\n", key.to_hex())).unwrap();
    let url = format!("sqlite://{}", dir.join("gatehouse.db").display());
    let store = Store::open(&url, 2).await.unwrap();
    let now = SystemClock.now();
    let phc = gatehouse_domain::password::hash(ALICE_PASSWORD);
    let mut tx = store.begin().await.unwrap();
    let users = Users::new(Scope::All);
    let mut first = None;
    let mut numbers = std::collections::HashMap::new();
    // Dave must change his password (an administrator reset it).
    for (number, name, cid, must_change_password) in [
        ("55555555", "alice", "RADA00000001", false),
        ("66666666", "mallory", "RADM00000001", false),
        ("55555555", "dave", "RADD00000001", true),
    ] {
        let account = match numbers.get(number) {
            Some(a) => *a,
            None => {
                let a = accounts::create(&mut tx, number, "RADIUS Test", false, now)
                    .await
                    .unwrap();
                numbers.insert(number, a);
                a
            }
        };
        first.get_or_insert(account);
        let id = users
            .create(
                &mut tx,
                &NewUser {
                    account_id: account,
                    username: name,
                    email: &format!("{name}@radius.example"),
                    name: "",
                    role: Role::User,
                    password_hash: &phc,
                    must_change_password,
                },
                now,
            )
            .await
            .unwrap();
        let c = credentials::insert(
            &mut tx,
            &NewCredential {
                credential_id: cid,
                params: OathParams::vip_totp(),
                next_counter: 0,
                sealed_secret: Some(&key.seal(SEED, cid.as_bytes())),
                validation: Validation::Local,
                source: "test",
            },
            now,
        )
        .await
        .unwrap();
        let user = users.get(&mut tx, id).await.unwrap();
        credentials::assign(&mut tx, c, &user).await.unwrap();
    }
    // For PhoneFactor: an administrator of the first account, and two users
    // who will activate it (by text, by call).
    for (name, role) in [
        ("radmin", Role::Admin),
        ("bob", Role::User),
        ("carol", Role::User),
        ("dora", Role::User),
    ] {
        users
            .create(
                &mut tx,
                &NewUser {
                    account_id: first.unwrap(),
                    username: name,
                    email: &format!("{name}@radius.example"),
                    name: "",
                    role,
                    password_hash: &phc,
                    must_change_password: false,
                },
                now,
            )
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
}

/// The server's audit log, read from its database.
async fn audit_log(server: &Server) -> Vec<gatehouse_store::audit::StoredEntry> {
    let url = format!("sqlite://{}", server.dir().join("gatehouse.db").display());
    let store = Store::open(&url, 1).await.unwrap();
    let mut c = store.conn().await.unwrap();
    let entries = gatehouse_store::audit::all(&mut c, Scope::System)
        .await
        .unwrap();
    drop(c);
    store.close().await;
    entries
}

/// The code of the time step `offset` steps from now.
fn code(offset: i64) -> String {
    let step = oath::totp_step(SystemClock.now().seconds(), 30) + offset;
    oath::hotp(SEED, step as u64, 6, HashAlg::Sha1)
}

/// The code of the time step `offset` steps from now, as `oathtool` (an
/// independent OATH implementation) computes it.
fn oathtool_code(offset: i64) -> String {
    let at = SystemClock.now().seconds() + 30 * offset;
    let out = Command::new("oathtool")
        .args(["--totp", "-d", "6", "-N", &format!("@{at}")])
        .arg(hex::encode(SEED))
        .output()
        .expect("oathtool (apt-get install oathtool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A free UDP port on 127.0.0.1.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn radclient_installed() -> bool {
    Command::new("radclient")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What radclient printed for one Access-Request with `attributes`
/// (retried once, 3 s each).
fn radclient(server: SocketAddr, secret: &str, attributes: &str) -> String {
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "3"])
        .arg(server.to_string())
        .args(["auth", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (apt-get install freeradius-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attributes.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// radclient says "Received <code> Id …" only for a reply whose
/// authenticators it verified.
fn received(out: &str, code: &str) -> bool {
    out.contains(&format!("Received {code} Id ")) && !out.contains("verification failed")
}

/// The Reply-Message radclient printed.
fn reply_message(out: &str) -> String {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Reply-Message = "))
        .collect::<Vec<_>>()
        .join("")
}

/// The `State` of a challenge radclient printed, as radclient's hex.
fn state_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("State = "))
        .unwrap_or_else(|| panic!("no State in {out}"))
        .trim()
        .to_owned()
}

struct Setup {
    server: Server,
    radius: SocketAddr,
    secret: String,
    code_only_secret: String,
}

/// The seeded database, the RADIUS front end on a free port and the client
/// `vpn` (password-and-code, 127.0.0.1, account 55555555): the port and the
/// client's secret.
async fn prepare(dir: &Path) -> (u16, String) {
    seed(dir).await;
    let port = free_udp_port();
    std::fs::write(
        dir.join("gatehouse.toml"),
        format!("[radius]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let secret = ok(
        dir,
        &[
            "radius-client",
            "create",
            "--name",
            "vpn",
            "--account",
            "55555555",
            "--address",
            "127.0.0.1",
        ],
        None,
    );
    (port, secret)
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (port, secret) = prepare(dir.path()).await;
    let code_only_secret = ok(
        dir.path(),
        &[
            "radius-client",
            "create",
            "--name",
            "firewall",
            "--account",
            "55555555",
            "--address",
            "127.0.0.4/32",
            "--mode",
            "code-only",
        ],
        None,
    );
    let server = Server::start(dir, Options::new()).await;
    Setup {
        server,
        radius: SocketAddr::from(([127, 0, 0, 1], port)),
        secret,
        code_only_secret,
    }
}

#[tokio::test]
async fn radius_clients_are_listed_as_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let secret = ok(
        dir.path(),
        &[
            "radius-client",
            "create",
            "--name",
            "vpn",
            "--account",
            "55555555",
            "--address",
            "10.1.2.3/8",
        ],
        None,
    );
    assert!(
        secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_alphanumeric()),
        "a generated secret of at least 32 characters: {secret}"
    );
    let given = ok(
        dir.path(),
        &[
            "radius-client",
            "create",
            "--name",
            "rdgw",
            "--account",
            "66666666",
            "--address",
            "192.0.2.10",
            "--mode",
            "code-only",
            "--secret-stdin",
        ],
        Some("a-given-shared-secret-1234\n"),
    );
    assert_eq!(given, "a-given-shared-secret-1234");
    let list = super::server::stdout(&super::server::gatehouse(
        dir.path(),
        &["radius-client", "list"],
        None,
    ));
    assert_eq!(
        list,
        "rdgw 66666666 192.0.2.10/32 code-only\nvpn 55555555 10.0.0.0/8 password-and-code\n"
    );
    // Bad input: a clear error, nothing stored.
    for (args, says) in [
        (
            vec![
                "--name",
                "vpn",
                "--account",
                "55555555",
                "--address",
                "10.0.0.1",
            ],
            "exists already",
        ),
        (
            vec![
                "--name",
                "x",
                "--account",
                "12345678",
                "--address",
                "10.0.0.1",
            ],
            "no account",
        ),
        (
            vec![
                "--name",
                "y",
                "--account",
                "55555555",
                "--address",
                "10.0.0.300",
            ],
            "not an address",
        ),
        (
            vec![
                "--name",
                "z",
                "--account",
                "55555555",
                "--address",
                "10.0.0.1",
                "--mode",
                "both",
            ],
            "not a mode",
        ),
    ] {
        let mut all = vec!["radius-client", "create"];
        all.extend(args);
        let o = super::server::gatehouse(dir.path(), &all, None);
        assert!(!o.status.success());
        assert!(
            super::server::stderr(&o).contains(says),
            "{}",
            super::server::stderr(&o)
        );
    }
    ok(dir.path(), &["radius-client", "remove", "rdgw"], None);
    let list = super::server::stdout(&super::server::gatehouse(
        dir.path(),
        &["radius-client", "list"],
        None,
    ));
    assert_eq!(list, "vpn 55555555 10.0.0.0/8 password-and-code\n");
}

#[tokio::test]
async fn password_and_code_through_radclient() {
    if !radclient_installed() {
        eprintln!("radclient not installed (apt-get install freeradius-utils): skipped");
        return;
    }
    let s = start().await;
    let ask = |user: &str, password: &str| {
        radclient(
            s.radius,
            &s.secret,
            &format!(
                "User-Name = {user}, User-Password = \"{password}\", \
                 Message-Authenticator = 0x00, NAS-IP-Address = 192.0.2.10, \
                 Calling-Station-Id = \"203.0.113.5\""
            ),
        )
    };
    // Password and code in one: accepted, and the reply carries a
    // Message-Authenticator (radclient checked it).
    let now = code(0);
    let out = ask("alice", &format!("{ALICE_PASSWORD},{now}"));
    assert!(received(&out, "Access-Accept"), "{out}");
    assert!(out.contains("Message-Authenticator"), "{out}");
    // The same code again: a replay.
    let out = ask("alice", &format!("{ALICE_PASSWORD},{now}"));
    assert!(received(&out, "Access-Reject"), "{out}");
    // A wrong code, a wrong password.
    let out = ask("alice", &format!("{ALICE_PASSWORD},000000"));
    assert!(received(&out, "Access-Reject"), "{out}");
    let out = ask("alice", &format!("not-her-password,{}", code(1)));
    assert!(received(&out, "Access-Reject"), "{out}");
    // Another account's user, with the right password and code: unknown here.
    let out = ask("mallory", &format!("{ALICE_PASSWORD},{}", code(0)));
    assert!(received(&out, "Access-Reject"), "{out}");

    // Another account's user, whatever the case of the name, gets exactly
    // the answer of a name that does not exist — and no challenge.
    let unknown = ask("nobody-here", ALICE_PASSWORD);
    assert!(received(&unknown, "Access-Reject"), "{unknown}");
    for name in ["mallory", "Mallory", "MALLORY"] {
        let out = ask(name, ALICE_PASSWORD);
        assert!(received(&out, "Access-Reject"), "{name}: {out}");
        assert_eq!(
            reply_message(&out),
            reply_message(&unknown),
            "{name}: the unknown user's answer"
        );
    }
    // Dave must change his password first: his code is right, the answer
    // is still Reject.
    let out = ask("dave", ALICE_PASSWORD);
    assert!(received(&out, "Access-Challenge"), "{out}");
    let dave_state = state_of(&out);
    let out = radclient(
        s.radius,
        &s.secret,
        &format!(
            "User-Name = dave, User-Password = \"{}\", State = {dave_state}, \
             Message-Authenticator = 0x00",
            code(0)
        ),
    );
    assert!(received(&out, "Access-Reject"), "{out}");
    assert!(reply_message(&out).contains("must be changed"), "{out}");

    // The password alone: a challenge, then the code with its State.
    let out = ask("alice", ALICE_PASSWORD);
    assert!(received(&out, "Access-Challenge"), "{out}");
    assert!(out.contains("Enter your security code"), "{out}");
    let state = state_of(&out);
    let next = oathtool_code(1);
    assert_eq!(next, code(1), "oathtool and Gatehouse agree");
    let answer = format!(
        "User-Name = alice, User-Password = \"{next}\", State = {state}, \
         Message-Authenticator = 0x00"
    );
    let out = radclient(s.radius, &s.secret, &answer);
    assert!(received(&out, "Access-Accept"), "{out}");
    // A State is good once.
    let out = radclient(s.radius, &s.secret, &answer);
    assert!(received(&out, "Access-Reject"), "{out}");

    // A wrong shared secret, a request without Message-Authenticator: no
    // answer at all.
    let out = radclient(
        s.radius,
        "not-the-shared-secret",
        &format!(
            "User-Name = alice, User-Password = \"{ALICE_PASSWORD}\", Message-Authenticator = 0x00"
        ),
    );
    assert!(out.contains("No reply from server"), "{out}");
    let out = radclient(
        s.radius,
        &s.secret,
        &format!("User-Name = alice, User-Password = \"{ALICE_PASSWORD}\""),
    );
    assert!(out.contains("No reply from server"), "{out}");

    // Every outcome audited with the client as the actor and both
    // addresses (the end user's, via the NAS).
    let entries: Vec<_> = audit_log(&s.server)
        .await
        .into_iter()
        .filter(|e| e.record.actor == "radius:vpn")
        .collect();
    assert!(
        entries.iter().any(|e| e.record.outcome == "success"
            && e.record.client_addr == "203.0.113.5 via 127.0.0.1 (radius:vpn)"),
        "{entries:#?}"
    );
    assert!(entries.iter().any(|e| e.record.outcome == "failure"));
}

#[tokio::test]
async fn code_only_clients_and_unknown_sources() {
    let s = start().await;
    let timeout = Duration::from_secs(3);
    // The code-only client at 127.0.0.4: the code alone.
    let conn = Connection::open_from(
        SocketAddr::from(([127, 0, 0, 4], 0)),
        s.radius,
        s.code_only_secret.as_bytes(),
        timeout,
    )
    .await
    .unwrap();
    let reply = conn
        .exchange(&AccessRequest::new("alice").password(code(0)))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Accept, "{reply:?}");
    assert!(reply.message_authenticator);
    let reply = conn
        .exchange(&AccessRequest::new("alice").password(code(0)))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Reject, "replayed");
    let reply = conn
        .exchange(&AccessRequest::new("mallory").password(code(0)))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Reject, "another account's user");
    // A source no client is registered for: dropped.
    let stranger = Connection::open_from(
        SocketAddr::from(([127, 0, 0, 9], 0)),
        s.radius,
        s.secret.as_bytes(),
        Duration::from_millis(800),
    )
    .await
    .unwrap();
    assert!(
        stranger
            .exchange(&AccessRequest::new("alice").password(code(1)))
            .await
            .is_err(),
        "no answer to an unknown source"
    );
    drop(s);
}

/// The newest 6-digit code texted to `phone` on the virtual phone.
async fn texted_code(c: &Http, phone: &str) -> String {
    for _ in 0..50 {
        let (_, v) = c
            .get(&format!("/api/v1/virtual-phone/{phone}/messages"))
            .await;
        if let Some(code) = v
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["body"].as_str())
            .and_then(|b| {
                b.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
            })
        {
            return code.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no code texted to {phone}");
}

/// The virtual phone's calls to `phone` (as `c` may see them).
async fn calls(c: &Http, phone: &str) -> Vec<serde_json::Value> {
    let (_, v) = c.get(&format!("/api/v1/virtual-phone/{phone}/calls")).await;
    v.as_array().cloned().unwrap_or_default()
}

/// Answers the newest ringing call to `phone` with `digits`.
async fn answer_call(c: &Http, phone: &str, digits: &str) {
    for _ in 0..100 {
        if let Some(call) = calls(c, phone)
            .await
            .into_iter()
            .rev()
            .find(|c| c["status"] == "ringing" || c["status"] == "pending")
        {
            let id = call["id"]
                .as_str()
                .map_or_else(|| call["id"].to_string(), str::to_owned);
            let (status, v) = c
                .post(
                    &format!("/api/v1/virtual-phone/{phone}/calls/{id}/keys"),
                    serde_json::json!({"digits": digits}),
                )
                .await;
            assert!(status < 300, "{status} {v}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no call to {phone}");
}

#[tokio::test]
async fn phonefactor_by_text_and_by_call_through_radius() {
    let dir = tempfile::tempdir().unwrap();
    let (port, secret) = prepare(dir.path()).await;
    let msa = dir.path().join("msa.txt");
    std::fs::write(&msa, "MSA 2026.1\n").unwrap();
    ok(
        dir.path(),
        &[
            "msa",
            "publish",
            "--version",
            "2026.1",
            "--file",
            msa.to_str().unwrap(),
        ],
        None,
    );
    ok(
        dir.path(),
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
    let server = Server::start(dir, Options::new()).await;
    let base = server.base();
    let radius = SocketAddr::from(([127, 0, 0, 1], port));
    // PhoneFactor ordered for bob and carol, activated by text and by call.
    let (admin, _) = Http::signed_in(&base, "radmin", ALICE_PASSWORD).await;
    let (_, users) = admin.get("/api/v1/users?query=").await;
    let id_of = |name: &str| {
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    for name in ["bob", "carol", "dora"] {
        let r = admin
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/users/{}/external-authentication/orders", id_of(name)),
                Some(&serde_json::json!({"method": "phonefactor", "msa_version": "2026.1", "msa_acknowledged": true})),
                &[("Idempotency-Key", name)],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let (bob, _) = Http::signed_in(&base, "bob", ALICE_PASSWORD).await;
    let (status, v) = bob
        .post(
            "/api/v1/me/phonefactor/activation",
            serde_json::json!({"phone": "+1 415 555 0142", "mode": "sms"}),
        )
        .await;
    assert!(status < 300, "{v}");
    let code = texted_code(&bob, "+14155550142").await;
    let (status, v) = bob
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            serde_json::json!({"code": code}),
        )
        .await;
    assert_eq!(status, 204, "{v}");
    let (carol, _) = Http::signed_in(&base, "carol", ALICE_PASSWORD).await;
    let (status, v) = carol
        .post(
            "/api/v1/me/phonefactor/activation",
            serde_json::json!({"phone": "+1 415 555 0143", "mode": "call"}),
        )
        .await;
    assert!(status < 300, "{v}");
    answer_call(&carol, "+14155550143", "#").await;
    for _ in 0..50 {
        let (_, v) = carol.get("/api/v1/me/phonefactor/activation/status").await;
        if v["status"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Dora pairs the app (the authenticator) and activates with it.
    let app_state = server.dir().join("dora-app.json");
    let (dora, _) = Http::signed_in(&base, "dora", ALICE_PASSWORD).await;
    let (status, v) = dora
        .post(
            "/api/v1/me/phonefactor/activation",
            serde_json::json!({"phone": "+1 415 555 0144", "mode": "app"}),
        )
        .await;
    assert!(status < 300, "{v}");
    let uri = v["challenge"]["pairing_uri"]
        .as_str()
        .expect("a pairing link")
        .to_owned();
    stdout_ok(&authenticator(&app_state, &["pair", &uri]).await);
    let (_, v) = dora.get("/api/v1/me/phonefactor/activation/status").await;
    let n = v["challenge"]["number_match"]
        .as_i64()
        .expect("a number")
        .to_string();
    let id = v["challenge"]["id"].as_str().unwrap().to_owned();
    stdout_ok(&authenticator(&app_state, &["approve", "--id", &id, "--number", &n]).await);

    let conn = Connection::open(radius, secret.as_bytes(), Duration::from_secs(20))
        .await
        .unwrap();
    // Bob (text): the password alone answers a challenge naming the masked
    // number; the texted code with the State finishes it.
    let reply = conn
        .exchange(&AccessRequest::new("bob").password(ALICE_PASSWORD))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Challenge, "{reply:?}");
    assert!(
        reply.message().starts_with("Enter the code we sent to +1"),
        "{}",
        reply.message()
    );
    assert!(
        reply.message().ends_with("0142") && !reply.message().contains("415555"),
        "{}",
        reply.message()
    );
    let state = reply.state.clone().expect("a State");
    assert!(state.len() >= 16);
    let code = texted_code(&bob, "+14155550142").await;
    let reply = conn
        .exchange(
            &AccessRequest::new("bob")
                .password(code.clone())
                .state(state.clone()),
        )
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Accept, "{reply:?}");
    let reply = conn
        .exchange(&AccessRequest::new("bob").password(code).state(state))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Reject, "a State is used once");

    // Carol (call): the request is held until she presses #; the NAS's
    // retransmissions meanwhile reach nobody, and after the answer get the
    // same reply: one call only.
    let calls_before = calls(&carol, "+14155550143").await.len();
    let request = conn
        .encode(&AccessRequest::new("carol").password(ALICE_PASSWORD))
        .unwrap();
    conn.send(&request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    conn.send(&request).await.unwrap();
    answer_call(&carol, "+14155550143", "#").await;
    let reply = conn.receive(&request).await.unwrap();
    assert_eq!(reply.code, Code::Accept, "{reply:?}");
    conn.send(&request).await.unwrap();
    let again = conn.receive(&request).await.unwrap();
    assert_eq!(again.bytes, reply.bytes, "the cached answer, byte for byte");
    assert_eq!(
        calls(&carol, "+14155550143").await.len(),
        calls_before + 1,
        "one call for the request and its retransmissions"
    );

    // Dora (app): no page shows the number, so the push carries it and she
    // confirms it in the app; the request is held until then.
    let request = conn
        .encode(&AccessRequest::new("dora").password(format!("{ALICE_PASSWORD},push")))
        .unwrap();
    conn.send(&request).await.unwrap();
    let mut line = String::new();
    for _ in 0..100 {
        let out = stdout_ok(&authenticator(&app_state, &["pending"]).await);
        if let Some(l) = out.lines().find(|l| l.contains(" sign_in dora ")) {
            line = l.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (id, number) = (
        line.split(' ').next().unwrap().to_owned(),
        line.rsplit_once(" number ")
            .expect("the number in the push")
            .1
            .to_owned(),
    );
    stdout_ok(&authenticator(&app_state, &["approve", "--id", &id, "--number", &number]).await);
    let reply = conn.receive(&request).await.unwrap();
    assert_eq!(reply.code, Code::Accept, "{reply:?}");
    // A sign-in at the portal still shows the number on the page only.
    let (d2, _) = Http::signed_in(&base, "dora", ALICE_PASSWORD).await;
    let (status, v) = d2
        .post("/api/v1/login/phonefactor/start", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let out = stdout_ok(&authenticator(&app_state, &["pending"]).await);
    assert!(
        out.contains(" sign_in dora ") && !out.contains(" number "),
        "{out}"
    );
    drop(server);
}

#[tokio::test]
async fn a_lockout_is_the_same_through_radius_and_the_portal() {
    let s = start().await;
    let conn = Connection::open(s.radius, s.secret.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap();
    // Ten wrong passwords through RADIUS lock alice (lockout_failures = 10)…
    for _ in 0..10 {
        let reply = conn
            .exchange(&AccessRequest::new("alice").password(format!("wrong-password,{}", code(0))))
            .await
            .unwrap();
        assert_eq!(reply.code, Code::Reject);
    }
    // …so the portal refuses her right password,
    let portal = Http::new(&s.server.base());
    let r = portal.login("alice", ALICE_PASSWORD).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // and so does RADIUS, with the right password and code.
    let reply = conn
        .exchange(&AccessRequest::new("alice").password(format!("{ALICE_PASSWORD},{}", code(0))))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Reject, "locked");
    // The reverse: mallory's account has no client here, so use the
    // portal to lock radmin (no second factor) and RADIUS sees it.
    for _ in 0..10 {
        let r = portal.login("radmin", "wrong-password").await;
        assert_eq!(r.status, 401);
    }
    let reply = conn
        .exchange(&AccessRequest::new("radmin").password(ALICE_PASSWORD))
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Reject, "{reply:?}");
    // Refused at the password (the portal's one message for a wrong
    // password, an unknown user and a lock), not for the missing second
    // factor, as it would be unlocked.
    assert_eq!(reply.message(), "The username or password is incorrect.");
    // Both lockouts are in the audit log as lockouts of the same users.
    let locks: Vec<_> = audit_log(&s.server)
        .await
        .into_iter()
        .filter(|e| e.record.action == "user_locked")
        .map(|e| (e.record.actor, e.record.target))
        .collect();
    assert!(
        locks
            .iter()
            .any(|(actor, t)| actor == "radius:vpn" && t.contains("alice")),
        "{locks:?}"
    );
    assert!(locks.iter().any(|(_, t)| t.contains("radmin")), "{locks:?}");
}
