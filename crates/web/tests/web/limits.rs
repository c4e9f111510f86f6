//! Attempt limits hold under concurrency, because each attempt is reserved
//! before it is checked: password sign-in, Security Codes, temporary codes,
//! password re-entry and the validation API (which also counts wrong
//! passwords, audits them and honours a PhoneFactor fraud block).

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_domain::audit::AuditRecord;
use gatehouse_web::service::{Caller, catalog, validate};
use serde_json::json;

const CREDENTIAL: &str = "VSST00000001";

/// Every audit record so far, oldest first.
async fn audit_log(app: &App) -> Vec<AuditRecord> {
    let mut conn = app.st.store.conn().await.unwrap();
    gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .collect()
}

fn count(log: &[AuditRecord], action: &str, detail: &str) -> usize {
    log.iter()
        .filter(|r| r.action == action && r.detail.contains(detail))
        .count()
}

/// An app whose customer's user has a Symantec credential, and a client of
/// the validation API.
async fn with_credential() -> (App, Customer, Client, Client) {
    let app = spawn_virtual().await;
    app.catalog().await;
    app.credential(CREDENTIAL, false).await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order(&mut admin, c.user, CREDENTIAL, "k").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let secret = validate::create_client(&app.st, &Caller::cli(), "vpn")
        .await
        .unwrap();
    let mut v = app.client();
    v.bearer = Some(secret);
    (app, c, admin, v)
}

async fn validate_code(v: &mut Client, username: &str, code: &str) -> bool {
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": username, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["result"] == true
}

/// A wrong 6-digit code, different from `right`.
fn wrong_code(i: usize, right: &str) -> String {
    let c = format!("{:06}", (i * 7919 + 12345) % 1_000_000);
    if c == right {
        format!("{:06}", (i * 7919 + 12346) % 1_000_000)
    } else {
        c
    }
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_exceed_the_lockout() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut client = app.client();
        let name = c.user_name();
        tasks.push(tokio::spawn(async move {
            client
                .api_login(&name, &format!("wrong-password-{i}"))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let log = audit_log(&app).await;
    assert_eq!(
        count(&log, "sign_in", "wrong password"),
        10,
        "only ten passwords were compared"
    );
    assert_eq!(count(&log, "sign_in", "locked"), 22);
    assert_eq!(count(&log, "user_locked", ""), 1);
    // Locked: the right password is refused with the same answer.
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.clock.advance_seconds(15 * 60);
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn concurrent_sign_ins_from_one_address_cannot_exceed_its_limit() {
    let app = spawn_app_with(gatehouse_web::AppConfig {
        address_failure_limit: 5,
        ..Default::default()
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut client = app.client();
        tasks.push(tokio::spawn(async move {
            client
                .api_login(&format!("nobody{i}"), "wrong-password")
                .await
                .status
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += usize::from(t.await.unwrap() == StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(refused, 19, "five attempts, the rest throttled");
    assert_eq!(count(&audit_log(&app).await, "sign_in", "unknown user"), 5);
}

#[tokio::test]
async fn failed_sign_ins_do_not_store_the_username_typed() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    // A password typed into the username field.
    let typed = "Hunter2-Secret-Passw0rd";
    let r = app.client().api_login(typed, "x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.client().api_login(typed, "y").await;
    let log = audit_log(&app).await;
    let failures: Vec<&AuditRecord> = log
        .iter()
        .filter(|r| r.action == "sign_in" && r.outcome == "failure")
        .collect();
    assert_eq!(failures.len(), 2);
    for r in &failures {
        let all = format!("{} {} {}", r.target, r.detail, r.actor);
        assert!(
            !all.to_lowercase().contains(&typed.to_lowercase()),
            "the input is not stored: {all}"
        );
        assert!(r.target.starts_with("unknown-user:"), "{}", r.target);
    }
    assert_eq!(
        failures[0].target, failures[1].target,
        "repeated tries of one name can still be told apart from others"
    );
    // A known user's failure still names the user.
    app.client().api_login(&c.user_name(), "wrong").await;
    let log = audit_log(&app).await;
    assert!(
        log.iter()
            .any(|r| r.detail == "wrong password" && r.target.contains(&c.user_name()))
    );
}

#[tokio::test]
async fn concurrent_security_code_guesses_cannot_exceed_the_limit() {
    let (app, c, _admin, v) = with_credential().await;
    let right = app.totp(0);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut v = v.clone();
        let (name, code) = (c.user_name(), wrong_code(i, &right));
        tasks.push(tokio::spawn(async move {
            validate_code(&mut v, &name, &code).await
        }));
    }
    for t in tasks {
        assert!(!t.await.unwrap());
    }
    let log = audit_log(&app).await;
    assert_eq!(
        count(&log, "security_code", "wrong code"),
        10,
        "only ten codes were compared"
    );
    assert_eq!(count(&log, "security_code", "credential locked"), 22);
    assert_eq!(count(&log, "credential_locked", ""), 1);
    let mut v = v.clone();
    assert!(
        !validate_code(&mut v, &c.user_name(), &right).await,
        "locked"
    );
}

#[tokio::test]
async fn a_temporary_code_dies_after_five_wrong_tries_even_on_a_locked_credential() {
    let (app, c, mut admin, mut v) = with_credential().await;
    let temporary = format!("/api/v1/users/{}/security-code/temporary", c.user.0);
    let temp = admin.post(&temporary, json!({"hours": 24})).await.json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // The attacker locks the credential with ten wrong codes...
    for i in 0..10 {
        assert!(!validate_code(&mut v, &c.user_name(), &wrong_code(i, &temp)).await);
    }
    let users = admin.get("/api/v1/users").await.json();
    let u = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == c.user.0)
        .unwrap()
        .clone();
    assert_eq!(u["external_authentication"][0]["state"], "locked");
    // ...then guesses on, through sign-in and the validation API.
    let mut s = app.client();
    let r = s.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
    for i in 10..40 {
        let code = wrong_code(i, &temp);
        if i % 2 == 0 {
            let r = s
                .post("/api/v1/login/security-code", json!({"code": code}))
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        } else {
            assert!(!validate_code(&mut v, &c.user_name(), &code).await);
        }
    }
    // The right temporary code no longer works, anywhere.
    assert!(!validate_code(&mut v, &c.user_name(), &temp).await);
    let r = s
        .post("/api/v1/login/security-code", json!({"code": temp}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let log = audit_log(&app).await;
    assert_eq!(count(&log, "temporary_code_end", "5 wrong tries"), 1);

    // A new temporary code on the locked credential: four wrong tries
    // leave it working (single use by default), and only once.
    let temp = admin.post(&temporary, json!({"hours": 24})).await.json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..4 {
        assert!(!validate_code(&mut v, &c.user_name(), &wrong_code(100 + i, &temp)).await);
    }
    let r = s
        .post("/api/v1/login/security-code", json!({"code": temp}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    assert!(
        !validate_code(&mut v, &c.user_name(), &temp).await,
        "single use by default"
    );
}

#[tokio::test]
async fn concurrent_temporary_code_guesses_get_five_tries() {
    let (app, c, mut admin, v) = with_credential().await;
    let temporary = format!("/api/v1/users/{}/security-code/temporary", c.user.0);
    let temp = admin.post(&temporary, json!({"hours": 24})).await.json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Disabled credential: only the temporary code could let anyone in.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/security-code/disable", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut v = v.clone();
        let (name, code) = (c.user_name(), wrong_code(i, &temp));
        tasks.push(tokio::spawn(async move {
            validate_code(&mut v, &name, &code).await
        }));
    }
    for t in tasks {
        assert!(!t.await.unwrap());
    }
    let mut v = v.clone();
    assert!(!validate_code(&mut v, &c.user_name(), &temp).await);
    assert_eq!(count(&audit_log(&app).await, "temporary_code_end", ""), 1);
}

#[tokio::test]
async fn password_reentry_to_change_the_number_is_limited() {
    let app = spawn_virtual().await;
    app.catalog().await;
    catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
        .await
        .unwrap();
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order_phonefactor(&mut admin, c.user, "pf").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Activate by text message.
    let mut u = app.client();
    let r = u.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+14155550123", "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let code = {
        let mut conn = app.st.store.conn().await.unwrap();
        let texts = gatehouse_store::delivery::virtual_messages(&mut conn, "+14155550123")
            .await
            .unwrap();
        let body = texts
            .into_iter()
            .rfind(|m| m.direction == "out")
            .unwrap()
            .body;
        body.split(|ch: char| !ch.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_owned()
    };
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    u.refresh_csrf().await;
    assert_eq!(
        u.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );
    // A stolen session guesses the password to move the factor, 16 at once.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut u = u.clone();
        tasks.push(tokio::spawn(async move {
            u.post(
                "/api/v1/me/phonefactor/activation",
                json!({"phone": "+14155550188", "mode": "sms", "password": format!("guess-{i}")}),
            )
            .await
            .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, throttled), (5, 11), "{statuses:?}");
    let log = audit_log(&app).await;
    assert_eq!(
        count(&log, "phonefactor_activation_start", "password wrong"),
        5
    );
    // Even the right password waits for the window to end.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+14155550188", "mode": "sms", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // The same limit covers the other re-entries (deactivation here).
    let r = u
        .post(
            "/api/v1/me/phonefactor/deactivate",
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    // The Security page says the same, with the same Retry-After.
    let csrf = u.csrf.clone().unwrap();
    let r = u
        .form(
            "/security/phonefactor/deactivate",
            &[("csrf", csrf.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
}

#[tokio::test]
async fn validation_counts_wrong_passwords_toward_the_lockout_and_audits_them() {
    let (app, c, _admin, mut v) = with_credential().await;
    for i in 0..10 {
        let r = v
            .post(
                "/api/v1/validate",
                json!({"username": c.user_name(), "code": app.totp(0), "password": format!("wrong-{i}")}),
            )
            .await;
        assert_eq!(r.json()["result"], false, "{}", r.text);
    }
    let log = audit_log(&app).await;
    let wrong: Vec<&AuditRecord> = log
        .iter()
        .filter(|r| r.action == "validate" && r.detail == "wrong password")
        .collect();
    assert_eq!(wrong.len(), 10);
    assert!(wrong.iter().all(|r| r.actor == "api-client:vpn"));
    assert_eq!(count(&log, "user_locked", ""), 1);
    // The user is locked for sign-in too, and for validation with the
    // right password.
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.json()["result"], false);
    // Unknown and disabled users are refused and audited without the input.
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": "no-such-user", "code": "123456", "password": "pw"}),
        )
        .await;
    assert_eq!(r.json()["result"], false);
    let log = audit_log(&app).await;
    let last = log.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.detail.as_str()),
        ("validate", "unknown user")
    );
    assert!(!last.target.contains("no-such-user"), "{}", last.target);
}

#[tokio::test]
async fn concurrent_wrong_passwords_through_validation_cannot_exceed_the_lockout() {
    let (app, c, _admin, v) = with_credential().await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut v = v.clone();
        let (name, code) = (c.user_name(), app.totp(0));
        tasks.push(tokio::spawn(async move {
            v.post(
                "/api/v1/validate",
                json!({"username": name, "code": code, "password": format!("wrong-{i}")}),
            )
            .await
            .json()["result"]
                == true
        }));
    }
    for t in tasks {
        assert!(!t.await.unwrap());
    }
    let log = audit_log(&app).await;
    assert_eq!(count(&log, "validate", "wrong password"), 10);
    assert_eq!(count(&log, "validate", "locked"), 14);
}

#[tokio::test]
async fn validation_honours_a_phonefactor_fraud_block() {
    let (app, c, mut admin, mut v) = with_credential().await;
    catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
        .await
        .unwrap();
    let r = order_phonefactor(&mut admin, c.user, "pf").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    {
        let mut conn = app.st.store.conn().await.unwrap();
        let user = gatehouse_store::Users::system()
            .get(&mut conn, c.user)
            .await
            .unwrap();
        gatehouse_store::phonefactor::set_fraud_block(
            &mut conn,
            &user,
            T0.plus_minutes(90 * 24 * 60),
            T0,
        )
        .await
        .unwrap();
    }
    assert!(
        !validate_code(&mut v, &c.user_name(), &app.totp(0)).await,
        "blocked after a fraud report"
    );
    let log = audit_log(&app).await;
    assert_eq!(
        count(&log, "validate", "blocked after a PhoneFactor fraud report"),
        1
    );
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/clear-block", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(
        validate_code(&mut v, &c.user_name(), &app.totp(0)).await,
        "the same code works once the block is cleared"
    );
}

/// A user whose PhoneFactor is ordered, signed in up to activation.
async fn awaiting_activation(app: &App) -> (Customer, Client) {
    app.pf_catalog().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order_phonefactor(&mut admin, c.user, "pf").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut u = app.client();
    let r = u.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    (c, u)
}

async fn start_activation(u: &mut Client) {
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": ACTIVATION_PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn try_activation_code(u: &mut Client, code: &str) -> StatusCode {
    u.post(
        "/api/v1/me/phonefactor/activation/verify",
        json!({"code": code}),
    )
    .await
    .status
}

const ACTIVATION_PHONE: &str = "+14155550177";

/// A wrong code that is surely not `right`.
fn wrong(right: &str, i: u32) -> String {
    let n = (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000;
    format!("{n:06}")
}

#[tokio::test]
async fn a_text_challenge_takes_five_tries_then_even_its_right_code_fails() {
    let app = spawn_virtual().await;
    let (_c, mut u) = awaiting_activation(&app).await;
    start_activation(&mut u).await;
    let right = app.last_code(ACTIVATION_PHONE).await;
    for i in 0..5 {
        assert_eq!(
            try_activation_code(&mut u, &wrong(&right, i)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        try_activation_code(&mut u, &right).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        u.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "failed"
    );
}

#[tokio::test]
async fn activation_codes_are_limited_per_user_across_challenges() {
    let app = spawn_virtual().await;
    let (_c, mut u) = awaiting_activation(&app).await;
    // Two challenges of five wrong tries each use the user's ten.
    for round in 0..2 {
        start_activation(&mut u).await;
        let right = app.last_code(ACTIVATION_PHONE).await;
        for i in 0..5 {
            assert_eq!(
                try_activation_code(&mut u, &wrong(&right, i)).await,
                StatusCode::UNAUTHORIZED,
                "round {round}, try {i}"
            );
        }
    }
    // A third challenge's right code is refused until the window passes.
    start_activation(&mut u).await;
    let right = app.last_code(ACTIVATION_PHONE).await;
    assert_eq!(
        try_activation_code(&mut u, &right).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let log = audit_log(&app).await;
    assert_eq!(
        count(&log, "phonefactor_activation", "text-message code wrong"),
        10
    );
}

#[tokio::test]
async fn waiting_out_the_short_window_does_not_add_up_to_a_search() {
    let app = spawn_virtual().await;
    let (_c, mut u) = awaiting_activation(&app).await;
    // Ten 16-minute windows of five wrong codes: the day allows fifty.
    let mut refused_at = None;
    for round in 0..11 {
        start_activation(&mut u).await;
        let right = app.last_code(ACTIVATION_PHONE).await;
        for i in 0..5 {
            let s = try_activation_code(&mut u, &wrong(&right, i)).await;
            if s == StatusCode::TOO_MANY_REQUESTS {
                refused_at.get_or_insert((round, i));
            } else {
                assert_eq!(s, StatusCode::UNAUTHORIZED);
            }
        }
        app.clock.advance_seconds(16 * 60);
    }
    assert_eq!(
        refused_at,
        Some((10, 0)),
        "the 51st wrong code of the day is refused"
    );
}

#[tokio::test]
async fn an_api_client_has_a_failure_budget_and_successes_do_not_spend_it() {
    use gatehouse_web::service::validate::CLIENT_FAILURES_ALLOWED;
    let (app, c, _admin, mut v) = with_credential().await;
    // A right code first: given back, so the whole budget is left.
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0)}),
        )
        .await;
    assert_eq!(r.json()["result"], true, "{}", r.text);
    for i in 0..CLIENT_FAILURES_ALLOWED {
        let r = v
            .post(
                "/api/v1/validate",
                json!({"username": format!("nobody-{i}"), "code": "123456"}),
            )
            .await;
        assert_eq!(r.json()["result"], false, "{i}: {}", r.text);
    }
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(1)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // Another client, even one of the same name, is not affected.
    let mut other = app.client();
    other.bearer = Some(
        gatehouse_web::service::validate::create_client(&app.st, &Caller::cli(), "vpn")
            .await
            .unwrap(),
    );
    let r = other
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(1)}),
        )
        .await;
    assert_eq!(r.json()["result"], true, "{}", r.text);
}

#[tokio::test]
async fn an_operator_lists_and_revokes_api_clients_and_a_revoked_secret_is_refused() {
    let (app, c, mut admin, mut v) = with_credential().await;
    app.operator("ops-clients").await;
    let mut op = app.signed_in("ops-clients").await;
    let listed = op.get("/api/v1/api-clients").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let clients = listed.json()["clients"].as_array().unwrap().clone();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["name"], "vpn");
    assert!(!listed.text.contains("gh_c_"), "no secret is listed");
    let id = clients[0]["id"].as_i64().unwrap();
    // An account administrator may do neither.
    assert_eq!(
        admin.get("/api/v1/api-clients").await.status,
        StatusCode::FORBIDDEN
    );
    let r = admin.delete(&format!("/api/v1/api-clients/{id}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0)}),
        )
        .await;
    assert_eq!(r.json()["result"], true, "still valid: {}", r.text);
    let r = op.delete(&format!("/api/v1/api-clients/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(1)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = op.delete(&format!("/api/v1/api-clients/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        count(
            &audit_log(&app).await,
            "api_client_revoke",
            &format!("id {id}")
        ),
        1
    );
}
