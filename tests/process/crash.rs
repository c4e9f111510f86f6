//! A crash under load: `gatehouse serve` is killed (SIGKILL) while
//! validations are in flight through group commit, then started again on
//! the same database. Every code that was answered `true` was durable:
//! replayed after the restart it is refused, its audit entry is there, and
//! the audit chain verifies.

use super::server::{Options, Server, gatehouse, last_line};
use gatehouse_domain::oath::{self, HashAlg, OathParams, Validation};
use gatehouse_domain::seal::MasterKey;
use gatehouse_domain::{Clock as _, Role, SystemClock};
use gatehouse_store::credentials::{self, NewCredential};
use gatehouse_store::{NewUser, Scope, Store, Users, accounts};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USERS: usize = 3000;
const SEED: &[u8] = b"12345678901234567890";

/// `USERS` users, each with a TOTP credential on `SEED`, written straight
/// into the database the server will open (with its master key).
async fn seed(dir: &Path) {
    let key = MasterKey::generate();
    std::fs::write(dir.join("master.key"), format!("{}\n", key.to_hex())).unwrap();
    let url = format!("sqlite://{}", dir.join("gatehouse.db").display());
    let store = Store::open(&url, 2).await.unwrap();
    let now = SystemClock.now();
    let phc = gatehouse_domain::password::hash("Crash-Password-2026");
    let mut tx = store.begin().await.unwrap();
    let account = accounts::create(&mut tx, "77777777", "Crash Test", false, now)
        .await
        .unwrap();
    let users = Users::new(Scope::All);
    for i in 0..USERS {
        let name = format!("crash{i}");
        let id = users
            .create(
                &mut tx,
                &NewUser {
                    account_id: account,
                    username: &name,
                    email: &format!("{name}@crash.example"),
                    name: "",
                    role: Role::User,
                    password_hash: &phc,
                    must_change_password: false,
                },
                now,
            )
            .await
            .unwrap();
        let cid = format!("CRSH{i:08}");
        let c = credentials::insert(
            &mut tx,
            &NewCredential {
                credential_id: &cid,
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
    tx.commit().await.unwrap();
    store.close().await;
}

/// The current code of every seeded credential (they share the seed).
fn current_code() -> String {
    let step = oath::totp_step(SystemClock.now().seconds(), 30);
    oath::hotp(SEED, step as u64, 6, HashAlg::Sha1)
}

async fn validate(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    user: &str,
    code: &str,
) -> Option<bool> {
    let r = http
        .post(format!("{base}/api/v1/validate"))
        .bearer_auth(secret)
        .json(&json!({"username": user, "code": code}))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    v["result"].as_bool()
}

#[tokio::test]
async fn a_server_killed_under_validation_load_loses_no_accepted_code() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let secret = last_line(&gatehouse(
        dir.path(),
        &["api-client", "create", "--name", "crash"],
        None,
    ));
    let mut server = Server::start(dir, Options::new()).await;
    let base = server.base();
    let http = reqwest::Client::new();
    let code = current_code();
    // 32 clients, each with its own users, until the server dies.
    let accepted = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut tasks = Vec::new();
    for t in 0..32 {
        let (http, base, secret, code, accepted) = (
            http.clone(),
            base.clone(),
            secret.clone(),
            code.clone(),
            accepted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in (t..USERS).step_by(32) {
                let user = format!("crash{i}");
                match validate(&http, &base, &secret, &user, &code).await {
                    Some(true) => accepted.lock().unwrap().push((user, code.clone())),
                    Some(false) => panic!("{user}: a fresh valid code was refused"),
                    None => return,
                }
            }
        }));
    }
    // Let the load build up, then kill the server in the middle of it.
    for _ in 0..200 {
        if accepted.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 300 && accepted.len() < USERS,
        "killed mid-run: {} of {USERS} answered",
        accepted.len()
    );

    server.restart(Options::new()).await;
    // Every code that was answered `true` was committed: it is refused now.
    for (user, code) in &accepted {
        assert_eq!(
            validate(&http, &base, &secret, user, code).await,
            Some(false),
            "{user}: a code answered true before the crash was accepted again"
        );
    }
    // And audited, in a chain that verifies.
    let url = format!("sqlite://{}", server.dir().join("gatehouse.db").display());
    let store = Store::open(&url, 1).await.unwrap();
    let mut conn = store.conn().await.unwrap();
    let successes = gatehouse_store::audit::all(&mut conn, Scope::System)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "security_code" && e.record.outcome == "success")
        .count();
    drop(conn);
    store.close().await;
    assert!(
        successes >= accepted.len(),
        "{successes} audited successes for {} answers",
        accepted.len()
    );
    server.kill();
    let verify = gatehouse(server.dir(), &["audit", "verify"], None);
    assert!(
        verify.status.success() && last_line(&verify).starts_with("ok "),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
