//! An outside tester's attacks on the second factor and the protections
//! around it. Each test is one attack; it passes when the attack fails.

use crate::support::*;
use axum::http::{Method, StatusCode};
use gatehouse_domain::UserId;
use gatehouse_web::service::{Caller, tokens};
use serde_json::json;

const CREDENTIAL: &str = "ATKX00000001";

/// A customer whose user has a Symantec credential (second factor).
async fn with_security_code(app: &App, prefix: &str) -> Customer {
    app.catalog().await;
    app.credential(CREDENTIAL, false).await;
    let c = app.customer(prefix).await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order(&mut admin, c.user, CREDENTIAL, &format!("{prefix}-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    c
}

/// The provider's account id (made on first use).
async fn provider_account(app: &App) -> gatehouse_domain::AccountId {
    gatehouse_web::service::accounts::first_run(&app.st)
        .await
        .unwrap();
    let mut conn = app.st.store.conn().await.unwrap();
    gatehouse_store::accounts::provider(&mut conn)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn cli_token(app: &App, user: UserId, name: &str) -> i64 {
    tokens::create(&app.st, &Caller::cli(), user, Some(name), None)
        .await
        .unwrap()
        .token
        .id
}

fn token_ids(list: &serde_json::Value) -> Vec<i64> {
    list["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("no token list: {list}"))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

// ---- Provider administrators against operators --------------------------

/// An administrator of the provider's own account may not revoke an
/// operator's tokens and is told such a token does not exist; listing must
/// not show them either (ids, names, expiry of the operators' tokens).
#[tokio::test]
async fn a_provider_administrator_does_not_see_operators_tokens() {
    let app = spawn_app().await;
    let provider = provider_account(&app).await;
    let op = app.user(provider, "op-one", "operator").await;
    app.user(provider, "prov-admin", "admin").await;
    let plain = app.user(provider, "prov-user", "user").await;
    let op_token = cli_token(&app, op, "scraper").await;
    let user_token = cli_token(&app, plain, "laptop").await;
    let mut admin = app.signed_in("prov-admin").await;

    let r = admin
        .delete(&format!("/api/v1/api-tokens/{op_token}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    let all = admin.get("/api/v1/api-tokens").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let listed = token_ids(&all.json());
    assert!(listed.contains(&user_token), "{}", all.text);
    assert!(
        !listed.contains(&op_token),
        "an operator's token is listed to a provider administrator: {}",
        all.text
    );
    let r = admin.get("/api/v1/api-tokens?username=op-one").await;
    assert!(
        r.status == StatusCode::NOT_FOUND
            || (r.status == StatusCode::OK && token_ids(&r.json()).is_empty()),
        "an operator's tokens by name: {} {}",
        r.status,
        r.text
    );
    // The operator still sees their own.
    let mut opc = app.signed_in("op-one").await;
    assert!(token_ids(&opc.get("/api/v1/api-tokens").await.json()).contains(&op_token));
}

// ---- CSRF ------------------------------------------------------------------

/// The anonymous double-submit token of the sign-in form is no good for
/// writes once signed in, on pages and in the API; nor is another
/// session's token, an empty one or none.
#[tokio::test]
async fn csrf_tokens_of_other_sessions_or_before_sign_in_are_refused() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut browser = app.client();
    let page = browser.get("/login").await;
    let anon = Client::csrf_in(&page.text);
    let r = browser
        .form(
            "/login",
            &[
                ("csrf", &anon),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let other = app.signed_in(&c.user_name()).await;
    let other_token = other.csrf.clone().unwrap();
    let target = format!("/users/{}/disable", c.user.0);
    for bad in [anon.as_str(), other_token.as_str(), ""] {
        let r = browser.form(&target, &[("csrf", bad)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "page with {bad:?}");
        for header in [Some(bad), None] {
            let mut extra = vec![];
            if let Some(h) = header {
                extra.push(("x-csrf-token", h));
            }
            let r = browser
                .send_with(
                    Method::PATCH,
                    &format!("/api/v1/users/{}", c.user.0),
                    Body2::Json(json!({"status": "disabled"})),
                    false,
                    &extra,
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "api with {header:?}");
        }
    }
    // The victim is still active and signed in.
    let mut other = other;
    assert_eq!(
        other.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );
}

/// A cookie planted by the attacker (their own half-signed-in session) is
/// replaced when the victim signs in: the attacker's token does not become
/// the victim's session, and the CSRF token changes hands with it.
#[tokio::test]
async fn a_planted_session_cookie_does_not_fix_the_victims_session() {
    let app = spawn_app().await;
    let c = with_security_code(&app, "alpha").await;
    let mut attacker = app.client();
    let r = attacker.api_login(&c.user_name(), "wrong-password-1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The attacker's own account, signed in with password only.
    let r = attacker.api_login(&c.admin_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let planted = attacker.session_cookie().unwrap();
    let planted_csrf = attacker.csrf.clone().unwrap();
    let mut victim = app.client();
    victim
        .cookies
        .insert("gatehouse_session".into(), planted.clone());
    victim.csrf = Some(planted_csrf.clone());
    let r = victim
        .post(
            "/api/v1/login",
            json!({"username": c.user_name(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_ne!(victim.session_cookie().unwrap(), planted);
    victim.refresh_csrf().await;
    assert_ne!(victim.csrf.clone().unwrap(), planted_csrf);
    // The planted token now opens nothing.
    let r = attacker.get("/api/v1/session").await.json();
    assert_eq!(r["state"], "anonymous", "{r}");
}

// ---- Half-signed-in sessions ------------------------------------------------

/// A one-time password from a reset does not skip the second factor: the
/// forced password change comes only after it.
#[tokio::test]
async fn a_password_reset_does_not_skip_the_second_factor() {
    let app = spawn_app().await;
    let c = with_security_code(&app, "alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let otp = admin
        .post(
            &format!("/api/v1/users/{}/reset-password", c.user.0),
            json!({}),
        )
        .await
        .json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut u = app.client();
    let r = u.api_login(&c.user_name(), &otp).await;
    assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/password",
            json!({"current_password": otp, "new_password": "Brand-New-Password-42"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = u
        .post("/api/v1/login/security-code", json!({"code": app.totp(0)}))
        .await;
    assert_eq!(r.json()["state"], "password_change_required", "{}", r.text);
    // From the forced change, the signed-in API is still closed.
    u.refresh_csrf().await;
    for path in [
        "/api/v1/users",
        "/api/v1/api-tokens",
        "/api/v1/me/phonefactor",
    ] {
        assert_eq!(u.get(path).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = u
        .post("/api/v1/api-tokens", json!({"name": "persist"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

// ---- Replays under concurrency ----------------------------------------------

/// The same temporary code sent in 32 concurrent sign-ins signs in once.
#[tokio::test]
async fn a_single_use_temporary_code_signs_in_once_under_concurrency() {
    let app = spawn_app().await;
    let c = with_security_code(&app, "alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let temp = admin
        .post(
            &format!("/api/v1/users/{}/security-code/temporary", c.user.0),
            json!({"hours": 1}),
        )
        .await
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sessions = Vec::new();
    for _ in 0..32 {
        let mut s = app.client();
        let r = s.api_login(&c.user_name(), PASSWORD).await;
        assert_eq!(r.json()["state"], "second_factor_required");
        sessions.push(s);
    }
    let mut tasks = Vec::new();
    for mut s in sessions {
        let code = temp.clone();
        tasks.push(tokio::spawn(async move {
            s.post("/api/v1/login/security-code", json!({"code": code}))
                .await
                .status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "a single-use temporary code signed in {ok} times");
}

// ---- PhoneFactor codes ----------------------------------------------------

const PHONE: &str = "+14155550123";

/// A customer whose user has PhoneFactor by text message, active.
async fn with_phonefactor_sms(app: &App) -> Customer {
    app.catalog().await;
    gatehouse_web::service::catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
        .await
        .unwrap();
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .send_with(
            Method::POST,
            &format!("/api/v1/users/{}/external-authentication/orders", c.user.0),
            Body2::Json(json!({
                "method": "phonefactor", "msa_version": "2026.1", "msa_acknowledged": true
            })),
            true,
            &[("idempotency-key", "pf")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut u = app.client();
    assert_eq!(
        u.api_login(&c.user_name(), PASSWORD).await.json()["state"],
        "activation_required"
    );
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let code = app.last_code(PHONE).await;
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    c
}

/// Old codes do not open a new challenge, and the right code sent 32 times
/// at once from one password-only session signs in once.
#[tokio::test]
async fn text_message_codes_are_bound_to_their_challenge_and_used_once() {
    let app = spawn_virtual().await;
    let c = with_phonefactor_sms(&app).await;
    let activation_code = app.last_code(PHONE).await;
    let mut s = app.client();
    let r = s.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = app.last_code(PHONE).await;
    // The activation's code is not this challenge's.
    if activation_code != first {
        let r = s
            .post(
                "/api/v1/login/phonefactor/verify",
                json!({"code": activation_code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    // A second challenge: the first one's code is dead.
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let code = app.last_code(PHONE).await;
    if code != first {
        let r = s
            .post("/api/v1/login/phonefactor/verify", json!({"code": first}))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let mut s = s.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            s.post("/api/v1/login/phonefactor/verify", json!({"code": code}))
                .await
                .status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert!(ok <= 1, "one text-message code signed in {ok} times");
    let mut conn = app.st.store.conn().await.unwrap();
    let authenticated = gatehouse_store::sessions::count(&mut conn).await.unwrap();
    drop(conn);
    // The admin's session, the activating user's and at most one more.
    assert!(authenticated <= 3, "{authenticated} sessions");
}

// ---- Open redirect ------------------------------------------------------------

/// `next` values that look like paths but that a browser might resolve to
/// another host, encoded or in Unicode look-alikes, never leave the portal.
#[tokio::test]
async fn next_look_alikes_and_encodings_stay_on_the_portal() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    for next in [
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/.//evil.example",
        "/..//evil.example",
        "/\u{FF0F}\u{FF0F}evil.example",
        "/\u{2044}evil.example",
        "/\u{3000}/evil.example",
        "/\u{200B}/evil.example",
        "/%09/evil.example",
        "///evil.example",
        "/\\\\evil.example",
        "/\u{7f}/evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/@evil.example",
    ] {
        let mut b = app.client();
        let page = b.get("/login").await;
        let token = Client::csrf_in(&page.text);
        let r = b
            .form(
                "/login",
                &[
                    ("csrf", &token),
                    ("username", &c.admin_name()),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next:?}: {}", r.text);
        // Raw bytes: a browser reads a Location header as UTF-8.
        let to =
            String::from_utf8_lossy(r.headers.get("location").unwrap().as_bytes()).into_owned();
        let to = to.as_str();
        let resolved = url::Url::parse("https://portal.example.test/login")
            .unwrap()
            .join(to)
            .unwrap_or_else(|e| panic!("{next:?} -> {to:?}: {e}"));
        assert_eq!(
            resolved.host_str(),
            Some("portal.example.test"),
            "{next:?} -> {to:?}"
        );
        assert!(
            to.starts_with('/') && !to.starts_with("//") && !to.contains('\\'),
            "{next:?} -> {to:?}"
        );
    }
}

/// Wrong text-message codes sent concurrently from several password-only
/// sessions, each with its own challenge, get no more than the user's ten
/// checks per window; after that even the right code waits.
#[tokio::test]
async fn concurrent_wrong_codes_across_challenges_cannot_exceed_the_users_limit() {
    let app = spawn_virtual().await;
    let c = with_phonefactor_sms(&app).await;
    let mut sessions = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let mut s = app.client();
        let r = s.api_login(&c.user_name(), PASSWORD).await;
        assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
        let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        codes.push(app.last_code(PHONE).await);
        sessions.push(s);
    }
    let mut tasks = Vec::new();
    for (n, s) in sessions.iter().enumerate() {
        for i in 0..16 {
            let mut s = s.clone();
            let mut wrong = format!("{:06}", (n * 100 + i) * 7919 % 1_000_000);
            if codes.contains(&wrong) {
                wrong = format!("{:06}", (n * 100 + i) * 7919 % 1_000_000 + 1);
            }
            tasks.push(tokio::spawn(async move {
                s.post("/api/v1/login/phonefactor/verify", json!({"code": wrong}))
                    .await
                    .status
            }));
        }
    }
    let mut refused_429 = 0;
    for t in tasks {
        let status = t.await.unwrap();
        assert_ne!(status, StatusCode::OK);
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_429 += 1;
        }
    }
    assert!(
        refused_429 >= 48 - 10,
        "only {refused_429} of 48 refused unchecked"
    );
    let checked = {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::audit::all(&mut conn, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.record.action == "sign_in" && e.record.detail.contains("code wrong"))
            .count()
    };
    assert!(checked <= 10, "{checked} wrong codes were checked");
    // The last session's right code now waits too.
    let mut s = sessions.pop().unwrap();
    let r = s
        .post(
            "/api/v1/login/phonefactor/verify",
            json!({"code": codes.pop().unwrap()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
}
