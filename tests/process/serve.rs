//! `gatehouse serve` (and plain `gatehouse`) as a real process: a restart
//! after SIGKILL, the recorded delivery mode, the first run, API tokens
//! refused by a running server.

use super::http::Client;
use super::server::{Options, Server, gatehouse, last_line, ok, stderr, stdout};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// SIGKILL between queueing a text and sending it: after a restart the text
/// arrives exactly once, and its code still works.
#[tokio::test]
async fn a_killed_server_loses_no_queued_text_and_sends_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    last_line(&gatehouse(d, &["migrate"], None));
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
    std::fs::write(&msa, "MSA\n").unwrap();
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
    let account = last_line(&gatehouse(
        d,
        &["account", "create", "--name", "Kill Test"],
        None,
    ));
    let pw = "Correct-Horse-Battery-9";
    last_line(&gatehouse(
        d,
        &[
            "user",
            "create",
            "--account",
            &account,
            "--username",
            "kadmin",
            "--email",
            "k@example.test",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(pw),
    ));
    let uid = last_line(&gatehouse(
        d,
        &[
            "user",
            "create",
            "--account",
            &account,
            "--username",
            "kuser",
            "--email",
            "u@example.test",
            "--role",
            "user",
            "--password-stdin",
        ],
        Some(pw),
    ));

    // This instance does not deliver: the text stays queued.
    let mut server = Server::start(dir, Options::new().worker(false)).await;
    let base = server.base();
    let (admin, _) = Client::signed_in(&base, "kadmin", pw).await;
    let r = admin
        .send(
            Method::POST,
            &format!("/api/v1/users/{uid}/external-authentication/orders"),
            Some(&json!({"method": "phonefactor", "msa_version": "1", "msa_acknowledged": true})),
            &[("Idempotency-Key", "kill-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let user = Client::new(&base);
    assert!(
        user.login("kuser", pw)
            .await
            .text
            .contains("activation_required")
    );
    let (status, v) = user
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+14155550123", "mode": "sms"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert!(
        messages(&user).await.is_empty(),
        "this instance holds the queue"
    );

    // SIGKILL, then the same directory and port with the worker on.
    server.restart(Options::new().worker(true)).await;
    let mut seen = vec![];
    for _ in 0..100 {
        seen = messages(&user).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = messages(&user).await;
    assert_eq!(after.len(), 1, "exactly one text: {after:?}");
    assert_eq!(seen.len(), 1);
    let body = after[0]["body"].as_str().unwrap();
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let r = user
        .send(
            Method::POST,
            "/api/v1/me/phonefactor/activation/verify",
            Some(&json!({"code": code})),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

/// The texts the virtual phone holds for +14155550123.
async fn messages(c: &Client) -> Vec<Value> {
    let r = c
        .send(
            Method::GET,
            "/api/v1/virtual-phone/+14155550123/messages",
            None,
            &[],
        )
        .await;
    serde_json::from_str::<Value>(&r.text)
        .unwrap_or_else(|e| panic!("{e}: {} {:?} {}", r.status, r.headers, r.text))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The delivery mode is recorded in the database: an instance configured
/// for another mode (here: none, the plain `serve`, on a database recorded
/// as virtual) refuses to start and says how to change it on purpose.
#[tokio::test]
async fn an_instance_whose_delivery_mode_differs_from_the_recorded_one_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(dir.path(), &["delivery-mode", "set", "virtual"], None),
        "delivery mode virtual recorded (was not recorded)"
    );
    let refused = match Server::try_start(dir, Options::new().configured_delivery()).await {
        Ok(server) => panic!(
            "serve started although the recorded delivery mode differs: {}",
            server.log()
        ),
        Err(exited) => exited,
    };
    assert!(!refused.status.success());
    let log = &refused.log;
    assert!(
        log.contains("refusing to start")
            && log.contains("records virtual")
            && log.contains("gatehouse delivery-mode set none"),
        "{log}"
    );
    let d = refused.dir.path();
    let shown = stdout(&gatehouse(d, &["delivery-mode", "show"], None));
    assert!(
        shown.contains("configured none") && shown.contains("recorded virtual"),
        "{shown}"
    );
    // An unknown mode is refused.
    let o = gatehouse(d, &["delivery-mode", "set", "bogus"], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("none, virtual or gateway"));
}

/// The README's first command, `cargo run --release`, runs the binary with
/// no arguments: it must serve the portal (on `GATEHOUSE_LISTEN` here, as
/// the default port may be taken) and print the operator's one-time
/// password on the first start.
#[tokio::test]
async fn no_command_serves_the_portal_and_prints_the_first_run_password() {
    let server = Server::fresh(Options::new().configured_delivery().no_command()).await;
    let r = Client::new(&server.base())
        .send(Method::GET, "/login", None, &[("accept", "text/html")])
        .await;
    assert!(
        r.status == 200 && r.text.contains("Sign in"),
        "the portal did not answer: {} {}",
        r.status,
        r.text
    );
    // Printed before the server listens, so in the log by now.
    let seen = server.log();
    let password = seen
        .lines()
        .find_map(|l| l.trim().strip_prefix("Password"))
        .map(str::trim);
    assert!(
        seen.contains(&format!("Sign in at       {}/login", server.base()))
            && password.is_some_and(|p| !p.is_empty()),
        "first-run instructions printed: {seen}"
    );
    assert!(
        server.dir().join("data").join("gatehouse.db").exists(),
        "the data in GATEHOUSE_DATA_DIR"
    );
}

/// `api-token create | list | revoke` (SPEC §11): a listed token is live,
/// a revoked one is refused by the running server from then on.
#[tokio::test]
async fn api_tokens_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let number = last_line(&gatehouse(
        d,
        &["account", "create", "--name", "Alpha"],
        None,
    ));
    for name in ["alice", "bob"] {
        last_line(&gatehouse(
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
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some("Correct-Horse-Battery-9\n"),
        ));
    }
    let short = last_line(&gatehouse(
        d,
        &[
            "api-token",
            "create",
            "--username",
            "alice",
            "--expires-in-days",
            "30",
        ],
        None,
    ));
    let long = last_line(&gatehouse(
        d,
        &["api-token", "create", "--username", "alice"],
        None,
    ));
    last_line(&gatehouse(
        d,
        &["api-token", "create", "--username", "bob"],
        None,
    ));
    assert!(short.starts_with("gh_t_") && long.starts_with("gh_t_"));

    let list = |d: &Path, args: &[&str]| -> Vec<Vec<String>> {
        let o = gatehouse(d, args, None);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let alice = list(d, &["api-token", "list", "--username", "alice"]);
    assert_eq!(alice.len(), 2, "{alice:?}");
    let days = |row: &[String]| day_number(&row[3]) - day_number(&row[2]);
    for row in &alice {
        assert_eq!(row.len(), 4, "ID USERNAME CREATED EXPIRES: {row:?}");
        assert!(row[0].parse::<i64>().is_ok());
        assert_eq!(row[1], "alice");
    }
    assert_eq!((days(&alice[0]), days(&alice[1])), (30, 90));
    assert_eq!(list(d, &["api-token", "list"]).len(), 3);
    let o = gatehouse(d, &["api-token", "list", "--username", "nobody"], None);
    assert!(!o.status.success());

    let mut server = Server::start(dir, Options::new().worker(false)).await;
    let d = server.dir().to_path_buf();
    let d = d.as_path();
    let base = server.base();
    let bearer = async |t: &str| {
        Client::new(&base)
            .send(
                Method::GET,
                "/api/v1/users",
                None,
                &[("Authorization", &format!("Bearer {t}"))],
            )
            .await
            .status
    };
    assert_eq!(bearer(&short).await, 200);
    let id = alice[0][0].clone();
    last_line(&gatehouse(d, &["api-token", "revoke", &id], None));
    assert_eq!(bearer(&short).await, 401, "refused from then on");
    assert_eq!(bearer(&long).await, 200, "the other token lives on");
    server.kill();

    let alice = list(d, &["api-token", "list", "--username", "alice"]);
    assert_eq!(alice.len(), 1);
    assert_ne!(alice[0][0], id);
    let o = gatehouse(d, &["api-token", "revoke", &id], None);
    assert!(!o.status.success(), "already revoked");
    let o = gatehouse(d, &["api-token", "revoke", "999999"], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no API token with ID 999999"),
        "{}",
        stderr(&o)
    );
    let o = gatehouse(
        d,
        &[
            "api-token",
            "create",
            "--username",
            "alice",
            "--expires-in-days",
            "0",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expires_in_days"));
}

/// Days since 1970-01-01 of an RFC 3339 `YYYY-MM-DDT…` (proleptic Gregorian).
fn day_number(rfc3339: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| rfc3339[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
