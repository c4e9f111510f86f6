//! The command line as SPEC §11 describes it, run as a real process: the
//! administration commands, their refusals, the configuration, the audit
//! log and billing.

use super::server::{command, gatehouse, last_line};

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
    let o = command(dir.path())
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
