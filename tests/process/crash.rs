//! A crash under load: `gatehouse serve` is killed (SIGKILL) while
//! validations, orders and texts are in flight, then started again on the
//! same database. Nothing answered is lost and nothing is done twice:
//!
//! - every code answered `true` was durable: replayed, it is refused, and
//!   its audit entry is there;
//! - every order answered 201 exists, once: the same `Idempotency-Key`
//!   again answers 200 with the same order, and no order exists twice;
//! - every activation text answered 200 reaches the phone exactly once
//!   (through a local stand-in for Twilio's REST API that outlives the
//!   server): a text the dead server had handed over but not yet marked
//!   sent is found in Twilio's list instead of being sent again;
//! - the audit chain verifies.
//!
//! SQLite by default; PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` is set
//! (`.ci/run` runs it both ways).

use super::http::Client;
use super::server::{Options, Server, command, last_line};
use gatehouse_delivery::fake::FakeTwilio;
use gatehouse_domain::oath::{self, HashAlg, OathParams, Validation};
use gatehouse_domain::seal::MasterKey;
use gatehouse_domain::{Clock as _, Role, SystemClock};
use gatehouse_store::credentials::{self, NewCredential};
use gatehouse_store::testing::{self, TestDb};
use gatehouse_store::{NewUser, Scope, Store, Users, accounts};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Users validating a TOTP code each.
const USERS: usize = 3000;
/// Users the administrator orders PhoneFactor for during the load.
const BUYERS: usize = 200;
/// Users (PhoneFactor ordered before the load) who activate it by text.
const TEXTERS: usize = 48;
const SEED: &[u8] = b"12345678901234567890";
const PASSWORD: &str = "Crash-Password-2026";
const MSA: &str = "2026.1";

/// `gatehouse ARGS…` on the test's database.
fn cli(dir: &Path, url: &str, args: &[&str]) -> Output {
    command(dir)
        .env("GATEHOUSE_DATABASE_URL", url)
        .args(args)
        .output()
        .expect("run gatehouse")
}

/// The users, their passwords and TOTP credentials, written straight into
/// the database the server will open (with its master key); their ids by
/// name.
async fn seed(dir: &Path, store: &Store) -> HashMap<String, i64> {
    let key = MasterKey::generate();
    std::fs::write(dir.join("master.key"), format!("{}\n", key.to_hex())).unwrap();
    let now = SystemClock.now();
    let phc = gatehouse_domain::password::hash(PASSWORD);
    let mut tx = store.begin().await.unwrap();
    let account = accounts::create(&mut tx, "77777777", "Crash Test", false, now)
        .await
        .unwrap();
    let users = Users::new(Scope::All);
    let mut names: Vec<(String, Role)> = (0..USERS)
        .map(|i| (format!("crash{i}"), Role::User))
        .collect();
    names.push(("crashadmin".into(), Role::Admin));
    names.extend((0..BUYERS).map(|i| (format!("buyer{i}"), Role::User)));
    names.extend((0..TEXTERS).map(|i| (format!("texter{i}"), Role::User)));
    let mut ids = HashMap::new();
    for (name, role) in names {
        let id = users
            .create(
                &mut tx,
                &NewUser {
                    account_id: account,
                    username: &name,
                    email: &format!("{name}@crash.example"),
                    name: "",
                    role,
                    password_hash: &phc,
                    must_change_password: false,
                },
                now,
            )
            .await
            .unwrap();
        ids.insert(name, id.0);
    }
    for i in 0..USERS {
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
        let id = gatehouse_domain::UserId(ids[&format!("crash{i}")]);
        let user = users.get(&mut tx, id).await.unwrap();
        credentials::assign(&mut tx, c, &user).await.unwrap();
    }
    tx.commit().await.unwrap();
    ids
}

/// The current time step and its code (every seeded credential shares
/// the seed).
fn current_code() -> (i64, String) {
    let step = oath::totp_step(SystemClock.now().seconds(), 30);
    (step, oath::hotp(SEED, step as u64, 6, HashAlg::Sha1))
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
    // An answer other than 200 is a fault of a live server, not the crash.
    assert_eq!(r.status(), 200, "{user}: {:?}", r.text().await);
    let v: Value = r.json().await.ok()?;
    v["result"].as_bool()
}

/// Orders PhoneFactor for `user` with `key`: the status and the order's
/// number (or the answer, if it has none), `None` if no answer came.
async fn order(admin: &Client, user: i64, key: &str) -> Option<(u16, String)> {
    let r = admin
        .try_send(
            Method::POST,
            &format!("/api/v1/users/{user}/external-authentication/orders"),
            Some(&json!({"method": "phonefactor", "msa_version": MSA, "msa_acknowledged": true})),
            &[("Idempotency-Key", key)],
        )
        .await?;
    let number = r.json()["order"]["number"]
        .as_str()
        .map_or_else(|| r.text.clone(), str::to_owned);
    Some((r.status, number))
}

/// A texter signs in and asks for the activation text; `Some` once the
/// portal answered that it is on its way, `None` if no answer came.
async fn activate_by_text(base: &str, i: usize) -> Option<()> {
    let c = Client::new(base);
    let token = async || {
        let r = c
            .try_send(Method::GET, "/api/v1/session", None, &[])
            .await?;
        Some(r.json()["csrf_token"].as_str().unwrap_or("").to_owned())
    };
    let before = token().await?;
    let r = c
        .try_send(
            Method::POST,
            "/api/v1/login",
            Some(&json!({"username": format!("texter{i}"), "password": PASSWORD})),
            &[("x-csrf-token", &before)],
        )
        .await?;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let after = token().await?;
    let r = c
        .try_send(
            Method::POST,
            "/api/v1/me/phonefactor/activation",
            Some(&json!({"phone": phone(i), "mode": "sms"})),
            &[("x-csrf-token", &after)],
        )
        .await?;
    assert_eq!(r.status, 201, "texter{i}: {}", r.text);
    Some(())
}

/// Texter `i`'s number (London numbers in Ofcom's range for drama: valid,
/// never anyone's).
fn phone(i: usize) -> String {
    format!("+4420794600{i:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_loses_nothing_answered_and_repeats_nothing() {
    let db: TestDb = testing::fresh().await;
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let ids = Arc::new(seed(dir.path(), &db.store).await);
    let twilio = FakeTwilio::start().await;
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        format!(
            "public_url = \"http://127.0.0.1:9\"\n\
             [twilio]\n\
             account_sid = \"{}\"\n\
             auth_token = \"{}\"\n\
             from = \"+15005550006\"\n\
             base_url = \"{}\"\n\
             timeout_secs = 2\n",
            twilio.account_sid(),
            twilio.auth_token(),
            twilio.base_url()
        ),
    )
    .unwrap();
    let msa = dir.path().join("msa.txt");
    std::fs::write(&msa, "Master services agreement 2026.1\n").unwrap();
    let published = cli(
        dir.path(),
        &url,
        &[
            "msa",
            "publish",
            "--version",
            MSA,
            "--file",
            msa.to_str().unwrap(),
        ],
    );
    assert!(published.status.success(), "{published:?}");
    let priced = cli(
        dir.path(),
        &url,
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
    );
    assert!(priced.status.success(), "{priced:?}");
    let secret = last_line(&cli(
        dir.path(),
        &url,
        &["api-client", "create", "--name", "crash"],
    ));
    let options = || {
        Options::new()
            .configured_delivery()
            .env("GATEHOUSE_DATABASE_URL", &url)
    };
    let mut server = Server::start(dir, options()).await;
    let base = server.base();
    let (admin, _) = Client::signed_in(&base, "crashadmin", PASSWORD).await;
    let admin = Arc::new(admin);
    // PhoneFactor for the texters, before the load.
    for i in 0..TEXTERS {
        let (status, answer) = order(&admin, ids[&format!("texter{i}")], &format!("texter-{i}"))
            .await
            .unwrap();
        assert_eq!(status, 201, "{answer}");
    }

    let http = reqwest::Client::new();
    let (step, code) = current_code();
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let ordered = Arc::new(Mutex::new(HashMap::<usize, String>::new()));
    let texted = Arc::new(Mutex::new(HashSet::<usize>::new()));
    let mut tasks = Vec::new();
    // 32 validation clients, each with its own users, until the server dies.
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
                    Some(true) => accepted.lock().unwrap().push(user),
                    Some(false) => panic!("{user}: a fresh valid code was refused"),
                    None => return,
                }
            }
        }));
    }
    // Four order desks.
    for t in 0..4 {
        let (admin, ids, ordered) = (admin.clone(), ids.clone(), ordered.clone());
        tasks.push(tokio::spawn(async move {
            for i in (t..BUYERS).step_by(4) {
                match order(&admin, ids[&format!("buyer{i}")], &format!("buyer-{i}")).await {
                    Some((201, number)) => {
                        ordered.lock().unwrap().insert(i, number);
                    }
                    Some((status, _)) => panic!("buyer{i}: order answered {status}"),
                    None => return,
                }
            }
        }));
    }
    // Four texters at a time.
    for t in 0..4 {
        let (base, texted) = (base.clone(), texted.clone());
        tasks.push(tokio::spawn(async move {
            for i in (t..TEXTERS).step_by(4) {
                match activate_by_text(&base, i).await {
                    Some(_) => {
                        texted.lock().unwrap().insert(i);
                    }
                    None => return,
                }
            }
        }));
    }
    // Let the load build up, then kill the server in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    // (A client that stopped early, on a wrong answer, ends the wait.)
    while Instant::now() < deadline && !tasks.iter().any(|t| t.is_finished()) {
        if accepted.lock().unwrap().len() >= 300
            && ordered.lock().unwrap().len() >= 20
            && texted.lock().unwrap().len() >= 6
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let ordered = ordered.lock().unwrap().clone();
    let texted = texted.lock().unwrap().clone();
    assert!(
        (300..USERS).contains(&accepted.len())
            && (20..BUYERS).contains(&ordered.len())
            && (6..TEXTERS).contains(&texted.len()),
        "killed mid-run: {} of {USERS} validations, {} of {BUYERS} orders, \
         {} of {TEXTERS} texts answered",
        accepted.len(),
        ordered.len(),
        texted.len()
    );

    eprintln!(
        "killed with {} of {USERS} validations, {} of {BUYERS} orders and {} of {TEXTERS} \
         texts answered; {} texts at the provider",
        accepted.len(),
        ordered.len(),
        texted.len(),
        twilio.messages().len()
    );
    server.restart(options()).await;

    // Every code answered `true` was committed: its step is recorded as
    // used (whatever the clock says now), and the code is refused.
    let recorded: HashSet<String> = sqlx::query(
        "SELECT u.username FROM credentials c JOIN users u ON u.id = c.user_id \
         WHERE c.last_used >= $1",
    )
    .bind(step)
    .fetch_all(db.store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| sqlx::Row::get::<String, _>(r, 0))
    .collect();
    for user in &accepted {
        assert!(
            recorded.contains(user),
            "{user}: the accepted step is not recorded"
        );
    }
    // Replayed through the API: the first 500 (each refusal takes one of
    // the API client's 1,000 failure slots per 15 minutes; the database
    // check above covers them all).
    for user in accepted.iter().take(500) {
        assert_eq!(
            validate(&http, &base, &secret, user, &code).await,
            Some(false),
            "{user}: a code answered true before the crash was accepted again"
        );
    }

    // Every order answered 201 is there: the same key finds it. Every
    // buyer's order, answered or not, is placed again with its key; in
    // the end each buyer has exactly one.
    let (admin, _) = Client::signed_in(&base, "crashadmin", PASSWORD).await;
    for i in 0..BUYERS {
        let (status, number) = order(&admin, ids[&format!("buyer{i}")], &format!("buyer-{i}"))
            .await
            .expect("the server answers");
        match ordered.get(&i) {
            Some(before) => {
                assert_eq!(status, 200, "buyer{i}: the answered order is found again");
                assert_eq!(&number, before, "buyer{i}: the same order");
            }
            None => assert!(matches!(status, 200 | 201), "buyer{i}: {status}"),
        }
    }
    {
        let mut conn = db.store.conn().await.unwrap();
        let orders = gatehouse_store::orders::count(&mut conn, Scope::All)
            .await
            .unwrap();
        assert_eq!(
            orders,
            (BUYERS + TEXTERS) as i64,
            "one order per buyer and texter, none twice"
        );
    }

    // Every text is delivered: the worker takes over what the dead server
    // left (after the claim's lease: the gateway's 2 s timeout + 30 s).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = {
            let mut conn = db.store.conn().await.unwrap();
            gatehouse_store::delivery::counts(&mut conn).await.unwrap()
        };
        if counts.iter().all(|(status, _)| status == "sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "texts still waiting: {counts:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut to = HashMap::<String, usize>::new();
    for m in twilio.messages() {
        *to.entry(m.to).or_default() += 1;
    }
    for (number, n) in &to {
        assert_eq!(*n, 1, "{number} got {n} texts");
    }
    for i in &texted {
        assert_eq!(
            to.get(&phone(*i)),
            Some(&1),
            "texter{i}: the text answered as sent was not delivered"
        );
    }

    // Every acceptance audited, in a chain that verifies.
    let successes = {
        let mut conn = db.store.conn().await.unwrap();
        gatehouse_store::audit::all(&mut conn, Scope::System)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.record.action == "security_code" && e.record.outcome == "success")
            .count()
    };
    assert!(
        successes >= accepted.len(),
        "{successes} audited successes for {} answers",
        accepted.len()
    );
    server.kill();
    let verify = cli(server.dir(), &url, &["audit", "verify"]);
    assert!(
        verify.status.success() && last_line(&verify).starts_with("ok "),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
