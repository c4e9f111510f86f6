//! The command line as SPEC §11 describes it, run as a real process.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn gatehouse(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
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
    child.wait_with_output().unwrap()
}

fn last_line(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[test]
fn administration_commands_print_what_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let number = last_line(&gatehouse(
        d,
        &["account", "create", "--name", "Alpha Hosting"],
        None,
    ));
    assert!(
        number.len() == 8 && number.bytes().all(|b| b.is_ascii_digit()),
        "{number}"
    );
    let id = last_line(&gatehouse(
        d,
        &[
            "user",
            "create",
            "--account",
            &number,
            "--username",
            "alice",
            "--email",
            "alice@example.test",
            "--name",
            "Alice",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("Correct-Horse-Battery-9\n"),
    ));
    assert!(id.parse::<i64>().is_ok(), "{id}");
    let token = last_line(&gatehouse(
        d,
        &["api-token", "create", "--username", "alice"],
        None,
    ));
    assert!(token.starts_with("gh_t_") && token.len() == 69, "{token}");
    let verify = last_line(&gatehouse(d, &["audit", "verify"], None));
    assert_eq!(verify, "ok 3 entries");
    assert_eq!(
        last_line(&gatehouse(d, &["migrate"], None)),
        "migrations applied"
    );
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let number = last_line(&gatehouse(
        d,
        &["account", "create", "--name", "Alpha"],
        None,
    ));
    let cases: [(&[&str], Option<&str>, &str); 5] = [
        (
            &[
                "user",
                "create",
                "--account",
                &number,
                "--username",
                "bob",
                "--email",
                "bob@example.test",
                "--role",
                "root",
                "--password-stdin",
            ],
            Some("Long-Enough-Pass-1\n"),
            "role",
        ),
        (
            &[
                "user",
                "create",
                "--account",
                &number,
                "--username",
                "bob",
                "--email",
                "bob@example.test",
                "--role",
                "user",
                "--password-stdin",
            ],
            Some("short\n"),
            "12 characters",
        ),
        (
            &[
                "user",
                "create",
                "--account",
                &number,
                "--username",
                "bob",
                "--email",
                "bob@example.test",
                "--role",
                "user",
                "--password-stdin",
            ],
            Some(""),
            "no password on standard input",
        ),
        (
            &[
                "user",
                "create",
                "--account",
                "99999999",
                "--username",
                "bob",
                "--email",
                "bob@example.test",
                "--role",
                "user",
                "--password-stdin",
            ],
            Some("Long-Enough-Pass-1\n"),
            "no account with number 99999999",
        ),
        (
            &["api-token", "create", "--username", "nobody"],
            None,
            "no user named nobody",
        ),
    ];
    for (args, stdin, expected) in cases {
        let o = gatehouse(d, args, stdin);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // Nothing was created by the failures: only the account's entry.
    assert_eq!(
        last_line(&gatehouse(d, &["audit", "verify"], None)),
        "ok 1 entries"
    );
}

#[test]
fn unknown_configuration_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        "listen = \"127.0.0.1:9\"\nsecure_cookie = true\n",
    )
    .unwrap();
    let o = gatehouse(dir.path(), &["migrate"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("secure_cookie"));
}

#[test]
fn unrelated_gatehouse_variables_only_warn() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("migrate")
        .env("GATEHOUSE_BIN", "/somewhere")
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ignoring GATEHOUSE_BIN"), "{err}");
    assert!(!err.contains("GATEHOUSE_LOG"), "{err}");
}

#[tokio::test]
async fn audit_verify_names_the_first_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["A", "B", "C"] {
        last_line(&gatehouse(d, &["account", "create", "--name", name], None));
    }
    let url = format!("sqlite://{}", d.join("gatehouse.db").display());
    let store = gatehouse_store::Store::open(&url, 1).await.unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER audit_log_no_update; \
         UPDATE audit_log SET detail = 'edited' WHERE seq = 2;",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let o = gatehouse(d, &["audit", "verify"], None);
    assert!(!o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("entry 2"), "{out}");
}

/// A tiny HTTP/1.1 client for the process tests: one request per
/// connection, cookies and the CSRF token kept by hand.
mod http {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub struct Client {
        pub port: u16,
        pub cookie: Option<String>,
        pub csrf: Option<String>,
    }

    pub struct Resp {
        pub status: u16,
        pub body: String,
        pub headers: String,
    }

    impl Client {
        pub fn new(port: u16) -> Self {
            Self {
                port,
                cookie: None,
                csrf: None,
            }
        }

        pub fn send(
            &mut self,
            method: &str,
            path: &str,
            body: Option<&str>,
            extra: &[(&str, &str)],
        ) -> Resp {
            let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
            let body = body.unwrap_or("");
            let mut req = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
            if let Some(c) = &self.cookie {
                req.push_str(&format!("Cookie: {c}\r\n"));
            }
            if let Some(t) = &self.csrf {
                req.push_str(&format!("X-CSRF-Token: {t}\r\n"));
            }
            for (k, v) in extra {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            req.push_str("\r\n");
            req.push_str(body);
            s.write_all(req.as_bytes()).unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
            for line in head.lines() {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("set-cookie: ") {
                    let len = v.len();
                    let original = &line[line.len() - len..];
                    self.cookie = Some(original.split(';').next().unwrap().to_owned());
                }
            }
            // Chunked bodies: keep it simple, the JSON is in one chunk.
            let body = if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                body.split_once("\r\n")
                    .map_or("", |(_, rest)| rest)
                    .rsplit_once("\r\n0")
                    .map_or("", |(b, _)| b)
                    .to_owned()
            } else {
                body.to_owned()
            };
            Resp {
                status: head.split(' ').nth(1).unwrap().parse().unwrap(),
                body,
                headers: head.to_owned(),
            }
        }

        pub fn login(&mut self, username: &str, password: &str) -> Resp {
            self.refresh();
            let r = self.send(
                "POST",
                "/api/v1/login",
                Some(&format!(
                    r#"{{"username":"{username}","password":"{password}"}}"#
                )),
                &[],
            );
            self.refresh();
            r
        }

        pub fn refresh(&mut self) {
            let r = self.send("GET", "/api/v1/session", None, &[]);
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            if let Some(t) = v["csrf_token"].as_str() {
                self.csrf = Some(t.to_owned());
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(dir: &Path, port: u16, worker: bool) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_DELIVERY", "virtual")
        .env(
            "GATEHOUSE_DELIVERY_WORKER",
            if worker { "true" } else { "false" },
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatehouse serve");
    for _ in 0..300 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") {
                return child;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

/// SIGKILL between queueing a text and sending it: after a restart the text
/// arrives exactly once, and its code still works.
#[test]
fn a_killed_server_loses_no_queued_text_and_sends_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    last_line(&gatehouse(d, &["migrate"], None));
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
    std::fs::write(&msa, "MSA\n").unwrap();
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

    let port = free_port();
    let mut server = start_server(d, port, false);
    let mut admin = http::Client::new(port);
    assert_eq!(admin.login("kadmin", pw).status, 200);
    let r = admin.send(
        "POST",
        &format!("/api/v1/users/{uid}/external-authentication/orders"),
        Some(r#"{"method":"phonefactor","msa_version":"1","msa_acknowledged":true}"#),
        &[("Idempotency-Key", "kill-1")],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let mut user = http::Client::new(port);
    assert!(user.login("kuser", pw).body.contains("activation_required"));
    let r = user.send(
        "POST",
        "/api/v1/me/phonefactor/activation",
        Some(r#"{"phone":"+14155550123","mode":"sms"}"#),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let messages = |c: &mut http::Client| -> Vec<serde_json::Value> {
        let r = c.send(
            "GET",
            "/api/v1/virtual-phone/+14155550123/messages",
            None,
            &[],
        );
        serde_json::from_str::<serde_json::Value>(&r.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", r.headers, r.body))
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        messages(&mut user).is_empty(),
        "this instance holds the queue"
    );
    server.kill().unwrap();
    server.wait().unwrap();

    let mut server = start_server(d, port, true);
    let mut seen = vec![];
    for _ in 0..100 {
        seen = messages(&mut user);
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let after = messages(&mut user);
    assert_eq!(after.len(), 1, "exactly one text: {after:?}");
    assert_eq!(seen.len(), 1);
    let body = after[0]["body"].as_str().unwrap();
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let r = user.send(
        "POST",
        "/api/v1/me/phonefactor/activation/verify",
        Some(&format!(r#"{{"code":"{code}"}}"#)),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn billing_run_closes_a_past_month_once_and_refuses_unfinished_ones() {
    use gatehouse_domain::{AccountId, Timestamp, UserId};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let number = last_line(&gatehouse(
        d,
        &["account", "create", "--name", "Alpha, \"Billing\""],
        None,
    ));
    let id = last_line(&gatehouse(
        d,
        &[
            "user",
            "create",
            "--account",
            &number,
            "--username",
            "hank",
            "--email",
            "hank@example.test",
            "--role",
            "user",
            "--password-stdin",
        ],
        Some("Correct-Horse-Battery-9\n"),
    ));
    // An order placed on 2020-01-16 at 300 a month: 16 of 31 days,
    // 300 × 16/31 = 154.84 → 155.
    let url = format!("sqlite://{}", d.join("gatehouse.db").display());
    let store = gatehouse_store::Store::open(&url, 1).await.unwrap();
    let mut conn = store.conn().await.unwrap();
    let account = gatehouse_store::accounts::find_by_number(&mut conn, &number)
        .await
        .unwrap()
        .id;
    let user = UserId(id.parse().unwrap());
    gatehouse_store::orders::place(
        &mut conn,
        &gatehouse_store::orders::NewOrder {
            number: "EA-00000001",
            account_id: AccountId(account.0),
            user_id: user,
            username: "hank",
            method: gatehouse_domain::Method::PhoneFactor,
            credential_id: None,
            monthly_price: 300,
            currency: "USD",
            promo_code: None,
            promo_kind: None,
            promo_value: None,
            promo_months: None,
            msa_version: "1",
            msa_sha256: "x",
            acknowledged_by: user,
            acknowledged_name: "admin",
            acknowledged_addr: "127.0.0.1",
            idempotency_key: "k1",
        },
        Timestamp(1_579_132_800_000), // 2020-01-16T00:00:00Z
    )
    .await
    .unwrap();
    drop(conn);
    store.close().await;

    let csv = d.join("jan.csv");
    let first = gatehouse(d, &["billing", "run", "--period", "2020-01", "--csv"], None);
    assert!(!first.status.success(), "--csv needs a file");
    let first = gatehouse(
        d,
        &[
            "billing",
            "run",
            "--period",
            "2020-01",
            "--csv",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(last_line(&first), "total 1.55 USD");
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("closed 2020-01: 1 statement(s)"), "{out}");
    let again = gatehouse(d, &["billing", "run", "--period", "2020-01"], None);
    assert_eq!(last_line(&again), "total 1.55 USD");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already closed"));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("period,account_number,account_name,username,"));
    assert_eq!(
        rows[1],
        format!(
            "2020-01,{number},\"Alpha, \"\"Billing\"\"\",hank,phonefactor,EA-00000001,16,31,300,155,0,155,USD"
        )
    );
    // An empty month closes with a zero total.
    assert_eq!(
        last_line(&gatehouse(
            d,
            &["billing", "run", "--period", "2019-12"],
            None
        )),
        "total 0.00"
    );
    for (period, says) in [
        ("2999-01", "future"),
        ("2020-13", "01 to 12"),
        ("Jan 2020", "YYYY-MM"),
    ] {
        let o = gatehouse(d, &["billing", "run", "--period", period], None);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{period} should be refused");
        assert!(err.contains(says), "{period}: {err}");
    }
    // Account, user, two runs (one closing), a CSV written, an empty month.
    assert_eq!(
        last_line(&gatehouse(d, &["audit", "verify"], None)),
        "ok 6 entries"
    );
}

/// The delivery mode is recorded in the database: an instance configured
/// for another mode (here: none, the plain `serve`, on a database recorded
/// as virtual) refuses to start and says how to change it on purpose.
#[test]
fn an_instance_whose_delivery_mode_differs_from_the_recorded_one_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        last_line(&gatehouse(d, &["delivery-mode", "set", "virtual"], None)),
        "delivery mode virtual recorded (was not recorded)"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--data-dir")
        .arg(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_DELIVERY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gatehouse serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started although the recorded delivery mode differs");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to start")
            && stderr.contains("records virtual")
            && stderr.contains("gatehouse delivery-mode set none"),
        "{stderr}"
    );
    let shown = gatehouse(d, &["delivery-mode", "show"], None);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains("configured none") && stdout.contains("recorded virtual"),
        "{stdout}"
    );
    // An unknown mode is refused.
    let o = gatehouse(d, &["delivery-mode", "set", "bogus"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("none, virtual or gateway"));
}

/// The README's first command, `cargo run --release`, runs the binary with
/// no arguments: it must serve the portal (on `GATEHOUSE_LISTEN` here, as
/// the default port may be taken) and print the operator's one-time
/// password on the first start.
#[test]
fn no_command_serves_the_portal_and_prints_the_first_run_password() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env("GATEHOUSE_DATA_DIR", dir.path().join("data"))
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_DELIVERY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatehouse with no arguments");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut served = false;
    while std::time::Instant::now() < deadline && !served {
        while let Ok(l) = rx.try_recv() {
            seen.push_str(&l);
            seen.push('\n');
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("gatehouse exited with {status}: {seen}");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            served = out.starts_with("HTTP/1.1 200") && out.contains("Sign in");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    while let Ok(l) = rx.try_recv() {
        seen.push_str(&l);
        seen.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(served, "the portal did not answer: {seen}");
    assert!(
        seen.contains(&format!("http://127.0.0.1:{port}/login")) && seen.contains("Password"),
        "first-run instructions printed: {seen}"
    );
}

/// `api-token create | list | revoke` (SPEC §11): a listed token is live,
/// a revoked one is refused by the running server from then on.
#[test]
fn api_tokens_are_created_listed_and_revoked() {
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

    let list = |args: &[&str]| -> Vec<Vec<String>> {
        let o = gatehouse(d, args, None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect()
    };
    let alice = list(&["api-token", "list", "--username", "alice"]);
    assert_eq!(alice.len(), 2, "{alice:?}");
    let days = |row: &[String]| day_number(&row[3]) - day_number(&row[2]);
    for row in &alice {
        assert_eq!(row.len(), 4, "ID USERNAME CREATED EXPIRES: {row:?}");
        assert!(row[0].parse::<i64>().is_ok());
        assert_eq!(row[1], "alice");
    }
    assert_eq!((days(&alice[0]), days(&alice[1])), (30, 90));
    assert_eq!(list(&["api-token", "list"]).len(), 3);
    let o = gatehouse(d, &["api-token", "list", "--username", "nobody"], None);
    assert!(!o.status.success());

    let port = free_port();
    let mut server = start_server(d, port, false);
    let bearer = |t: &str| {
        http::Client::new(port)
            .send(
                "GET",
                "/api/v1/users",
                None,
                &[("Authorization", &format!("Bearer {t}"))],
            )
            .status
    };
    assert_eq!(bearer(&short), 200);
    let id = alice[0][0].clone();
    last_line(&gatehouse(d, &["api-token", "revoke", &id], None));
    assert_eq!(bearer(&short), 401, "refused from then on");
    assert_eq!(bearer(&long), 200, "the other token lives on");
    server.kill().unwrap();
    let _ = server.wait();

    let alice = list(&["api-token", "list", "--username", "alice"]);
    assert_eq!(alice.len(), 1);
    assert_ne!(alice[0][0], id);
    let o = gatehouse(d, &["api-token", "revoke", &id], None);
    assert!(!o.status.success(), "already revoked");
    let o = gatehouse(d, &["api-token", "revoke", "999999"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no API token with ID 999999"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("expires_in_days"));
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

/// `api-client create | list | revoke`: one line per client, `ID NAME
/// CREATED`, no secret; a revoked id is gone and revoking it again fails.
#[test]
fn api_clients_are_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = last_line(&gatehouse(
        d,
        &["api-client", "create", "--name", "vpn-east"],
        None,
    ));
    assert!(secret.starts_with("gh_c_"), "{secret}");
    gatehouse(d, &["api-client", "create", "--name", "vpn-west"], None);
    let o = gatehouse(d, &["api-client", "list"], None);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(!out.contains("gh_c_"), "secrets are never listed: {out}");
    let east: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(east[1], "vpn-east");
    assert!(east[2].contains('T'), "created as RFC 3339: {}", east[2]);
    let o = gatehouse(d, &["api-client", "revoke", east[0]], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = gatehouse(d, &["api-client", "list"], None);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        !out.contains("vpn-east") && out.contains("vpn-west"),
        "{out}"
    );
    let o = gatehouse(d, &["api-client", "revoke", east[0]], None);
    assert!(!o.status.success());
}
