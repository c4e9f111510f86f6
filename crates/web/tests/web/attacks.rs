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
        gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
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

// ---- Twilio callbacks ----------------------------------------------------

/// Forged, replayed and reshaped Twilio callbacks. The portal's public URL
/// is an `https` name (as behind a reverse proxy), the gateway is the fake
/// Twilio, and the callbacks are posted in process; "genuine" callbacks are
/// signed here with the account's auth token, exactly as Twilio signs them
/// (URL, then the sorted parameters).
mod twilio_callbacks {
    use super::*;
    use gatehouse_delivery::fake::FakeTwilio;
    use gatehouse_delivery::twilio_signature;
    use gatehouse_store::delivery;
    use gatehouse_web::AppConfig;
    use std::sync::Arc;

    const PUBLIC: &str = "https://portal.example.com";
    const VICTIM_PHONE: &str = "+14152345678";
    const OTHER_PHONE: &str = "+14152345679";
    const STATUS_PATH: &str = "/api/v1/telephony/twilio/status";

    /// A portal at `public_url` whose gateway is `fake`.
    async fn portal(fake: &FakeTwilio, public_url: &str) -> App {
        let gateway = fake.gateway("+15005550006");
        let app = spawn_app_with(AppConfig {
            twilio_webhooks: Some(gateway.webhook_verifier().clone()),
            delivery: gatehouse_web::Delivery::Gateway(Arc::new(gateway)),
            public_url: public_url.to_owned(),
            ..Default::default()
        })
        .await;
        fake.set_clock(app.clock.clone());
        app.pf_catalog().await;
        app
    }

    async fn ordered(app: &App, prefix: &str) -> Customer {
        let c = app.customer(prefix).await;
        let mut admin = app.signed_in(&c.admin_name()).await;
        let r = order_phonefactor(&mut admin, c.user, &format!("{prefix}-order")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        c
    }

    /// Signs the customer's user in and starts activation in `mode` on
    /// `phone`; returns the client and the challenge id.
    async fn start_activation(
        app: &App,
        c: &Customer,
        mode: &str,
        phone: &str,
    ) -> (Client, String) {
        let mut u = app.client();
        u.api_login(&c.user_name(), PASSWORD).await;
        let r = u
            .post(
                "/api/v1/me/phonefactor/activation",
                json!({"phone": phone, "mode": mode}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.json()["challenge"]["id"].as_str().unwrap().to_owned();
        (u, id)
    }

    fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// POSTs a form to `path_and_query` with `X-Twilio-Signature` and any
    /// `extra` headers.
    async fn post_signed(
        app: &App,
        path_and_query: &str,
        params: &[(&str, &str)],
        signature: &str,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut headers = vec![("X-Twilio-Signature", signature)];
        headers.extend_from_slice(extra);
        app.client()
            .send_with(
                Method::POST,
                path_and_query,
                Body2::Form(params),
                false,
                &headers,
            )
            .await
    }

    /// The parameters Twilio posts to a Gather action of `call`.
    fn gather_params<'a>(
        fake: &'a FakeTwilio,
        call: &'a gatehouse_delivery::fake::FakeCall,
        digits: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AccountSid", fake.account_sid()),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", call.sid.as_str()),
            ("CallStatus", "in-progress"),
            ("Called", call.to.as_str()),
            ("Caller", call.from.as_str()),
            ("Digits", digits),
            ("Direction", "outbound-api"),
            ("FinishedOnKey", ""),
            ("From", call.from.as_str()),
            ("To", call.to.as_str()),
        ]
    }

    async fn activation_status(u: &mut Client) -> String {
        u.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn challenge_status(app: &App, id: &str) -> String {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::phonefactor::challenge(&mut conn, id)
            .await
            .unwrap()
            .status
            .as_str()
            .to_owned()
    }

    async fn outbox_row(app: &App, id: i64) -> delivery::Queued {
        let mut conn = app.st.store.conn().await.unwrap();
        delivery::get(&mut conn, id).await.unwrap()
    }

    /// The newest queue entry (of any kind), if any.
    async fn newest(app: &App) -> Option<delivery::Queued> {
        let mut conn = app.st.store.conn().await.unwrap();
        let mut id = 1;
        let mut last = None;
        while let Ok(row) = delivery::get(&mut conn, id).await {
            last = Some(row);
            id += 1;
        }
        last
    }

    async fn newest_outbox(app: &App) -> delivery::Queued {
        newest(app).await.expect("a queued message")
    }

    /// Queues (and marks sent) e-mail entries until the next id is `next`.
    async fn pad_outbox_to(app: &App, next: i64) {
        let mut conn = app.st.store.conn().await.unwrap();
        loop {
            let id = delivery::enqueue(
                &mut conn,
                gatehouse_domain::outbox::MessageKind::Email,
                "pad@example.test",
                "pad",
                b"",
                None,
                gatehouse_domain::Clock::now(&*app.clock),
            )
            .await
            .unwrap();
            delivery::mark_sent(
                &mut conn,
                id,
                "pad",
                gatehouse_domain::Clock::now(&*app.clock),
            )
            .await
            .unwrap();
            assert!(id < next, "the queue is already past {next}");
            if id + 1 == next {
                return;
            }
        }
    }

    /// The parameters Twilio posts to a text's status callback.
    fn message_status_params<'a>(
        fake: &'a FakeTwilio,
        m: &'a gatehouse_delivery::fake::FakeMessage,
        status: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AccountSid", fake.account_sid()),
            ("ApiVersion", "2010-04-01"),
            ("From", m.from.as_deref().unwrap_or("")),
            ("MessageSid", m.sid.as_str()),
            ("MessageStatus", status),
            ("SmsSid", m.sid.as_str()),
            ("SmsStatus", status),
            ("To", m.to.as_str()),
        ]
    }

    /// A gather callback signed for challenge A (a genuine one, captured)
    /// neither approves A again nor approves a later challenge B, whether
    /// replayed as it was or posted to B's path: the challenge is in the
    /// signed path, and a challenge is answered once.
    #[tokio::test]
    async fn a_captured_gather_approves_neither_a_later_challenge_nor_another() {
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        let c = ordered(&app, "tw1").await;
        let (mut u, a) = start_activation(&app, &c, "call", VICTIM_PHONE).await;
        let call_a = fake.calls().last().unwrap().clone();
        let path_a = format!("/api/v1/telephony/twilio/gather/{a}");
        let params = gather_params(&fake, &call_a, "#");
        let sig = twilio_signature(
            fake.auth_token(),
            &format!("{PUBLIC}{path_a}"),
            &owned(&params),
        );
        let r = post_signed(&app, &path_a, &params, &sig, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(activation_status(&mut u).await, "active");

        // A later sign-in by call: challenge B.
        app.clock.advance_seconds(600);
        let mut s = app.client();
        s.api_login(&c.user_name(), PASSWORD).await;
        let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
        assert!(r.status.is_success(), "{}", r.text);
        let b = r.json()["challenge"]["id"].as_str().unwrap().to_owned();
        assert_ne!(a, b);

        // Replayed as it was, after the call ended.
        let r = post_signed(&app, &path_a, &params, &sig, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.text.contains("not confirmed") || r.text.contains("Thank you"));
        assert_eq!(challenge_status(&app, &a).await, "used");
        // A's signature on B's path.
        let path_b = format!("/api/v1/telephony/twilio/gather/{b}");
        let r = post_signed(&app, &path_b, &params, &sig, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // A's signature on B's path with a trailing `?` or `;` (which the
        // signed URL drops) or with B's id spelt another way.
        for path in [
            format!("{path_a}?"),
            format!("{path_a};"),
            format!("{path_a}%3B"),
            format!("{path_a}/../{b}"),
        ] {
            let r = post_signed(&app, &path, &params, &sig, &[]).await;
            assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        }
        assert_eq!(challenge_status(&app, &b).await, "pending");
        assert_eq!(
            s.get("/api/v1/login/phonefactor/status").await.json()["status"],
            "pending"
        );
    }

    /// Forged gathers: no signature, a signature with an empty key, over
    /// another port, over the URL alone, in a JSON body with the attacker's
    /// own `bodySHA256`, or naming a webhook key or algorithm the portal
    /// does not have. None approves.
    #[tokio::test]
    async fn forged_gathers_are_refused() {
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        let c = ordered(&app, "tw2").await;
        let (mut u, a) = start_activation(&app, &c, "call", VICTIM_PHONE).await;
        let call = fake.calls().last().unwrap().clone();
        let path = format!("/api/v1/telephony/twilio/gather/{a}");
        let url = format!("{PUBLIC}{path}");
        let params = gather_params(&fake, &call, "#");
        let token = fake.auth_token();
        let sha256 = |secret: &str, url: &str, p: &[(String, String)]| {
            gatehouse_delivery::compute_signature(
                secret,
                gatehouse_delivery::SignatureAlgorithm::HmacSha256,
                url,
                p,
            )
        };
        let with_port = format!("https://portal.example.com:8443{path}");
        let http = format!("http://portal.example.com{path}");
        let other_host = format!("https://portal.example.com.evil.test{path}");
        let forged: Vec<(String, Vec<(&str, &str)>)> = vec![
            (String::new(), vec![]),
            ("bm90IGEgc2lnbmF0dXJl".into(), vec![]),
            (twilio_signature("", &url, &owned(&params)), vec![]),
            (twilio_signature(token, &with_port, &owned(&params)), vec![]),
            (twilio_signature(token, &http, &owned(&params)), vec![]),
            (
                twilio_signature(token, &other_host, &owned(&params)),
                vec![],
            ),
            (twilio_signature(token, &url, &[]), vec![]),
            (
                twilio_signature(token, &url, &owned(&params)),
                vec![("X-Twilio-Webhooks-Signature-Settings", "key=KS0001")],
            ),
            (
                sha256(token, &url, &owned(&params)),
                vec![(
                    "X-Twilio-Webhooks-Signature-Settings",
                    "algorithm=HMAC_SHA256",
                )],
            ),
            (
                sha256("", &url, &owned(&params)),
                vec![(
                    "X-Twilio-Webhooks-Signature-Settings",
                    "key=,algorithm=HMAC_SHA256",
                )],
            ),
        ];
        for (sig, extra) in &forged {
            let r = post_signed(&app, &path, &params, sig, extra).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{sig:?} {extra:?}: {}",
                r.text
            );
        }
        // JSON with the attacker's own bodySHA256: the signature covers the
        // URL, hash included, and the attacker cannot make it.
        let body = br##"{"Digits":"#"}"##.to_vec();
        let hash = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&body))
        };
        let json_path = format!("{path}?bodySHA256={hash}");
        for sig in [
            String::new(),
            twilio_signature(token, &url, &[]),
            twilio_signature("", &format!("{PUBLIC}{json_path}"), &[]),
        ] {
            let r = app
                .client()
                .send_with(
                    Method::POST,
                    &json_path,
                    Body2::Raw("application/json", body.clone()),
                    false,
                    &[("X-Twilio-Signature", &sig)],
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{sig:?}: {}", r.text);
        }
        // A form body under a URL with `bodySHA256`: signed as a form, so a
        // signature of the URL alone does not do.
        let r = post_signed(
            &app,
            &json_path,
            &params,
            &twilio_signature(token, &format!("{PUBLIC}{json_path}"), &[]),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(activation_status(&mut u).await, "pending");
        assert_eq!(challenge_status(&app, &a).await, "pending");

        // The genuine callback (Twilio may sign with or without :443).
        let genuine = twilio_signature(
            token,
            &format!("https://portal.example.com:443{path}"),
            &owned(&params),
        );
        let r = post_signed(&app, &path, &params, &genuine, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(activation_status(&mut u).await, "active");
    }

    /// Keys other than `#` alone do not approve, whatever else they hold,
    /// even signed as Twilio would sign them.
    #[tokio::test]
    async fn unusual_digits_do_not_approve() {
        use gatehouse_domain::phonefactor::{KeyPress, classify_keys};
        for digits in [
            "",
            "#0",
            "##",
            "*",
            "#*",
            "1#",
            "#1",
            "\u{ff03}",
            "\u{fe5f}",
            "#\u{0}",
            "\u{0}#",
            "%23",
            "# #",
            "#\u{200b}",
            "\u{200b}#",
            "0##",
            "00#",
        ] {
            assert_ne!(classify_keys(digits), KeyPress::Approve, "{digits:?}");
        }
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        let c = ordered(&app, "tw3").await;
        for (i, digits) in ["#0", "\u{ff03}", "#\u{200b}"].iter().enumerate() {
            app.clock.advance_seconds(3_600);
            let (mut u, a) = start_activation(&app, &c, "call", VICTIM_PHONE).await;
            let call = fake.calls().last().unwrap().clone();
            let path = format!("/api/v1/telephony/twilio/gather/{a}");
            let params = gather_params(&fake, &call, digits);
            let sig = twilio_signature(
                fake.auth_token(),
                &format!("{PUBLIC}{path}"),
                &owned(&params),
            );
            let r = post_signed(&app, &path, &params, &sig, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{i}: {}", r.text);
            assert!(r.text.contains("not confirmed"), "{digits:?}: {}", r.text);
            assert_ne!(activation_status(&mut u).await, "active", "{digits:?}");
        }
    }

    /// Twilio's signature is over the URL followed by the sorted names and
    /// values with no separators, so the same signature holds when the
    /// last characters of the URL are moved into the first parameter's
    /// name (any name that still sorts first). A status callback URL that
    /// holds the queue entry's id (`?outbox=57…`) can thus be replayed as
    /// one for entry 5 (`?outbox=5`, first name `7…AccountSid`): a genuine
    /// callback for one user's text must not resolve another user's text
    /// still waiting to be sent (which would then never be sent).
    #[tokio::test]
    async fn a_status_callback_cannot_be_moved_to_a_shorter_outbox_marker() {
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        // The victim's activation text: Twilio fails (HTTP 500), so the
        // outcome is unknown and the entry waits for a lookup.
        let victim = ordered(&app, "tw4").await;
        fake.set_failure(Some(500));
        start_activation(&app, &victim, "sms", VICTIM_PHONE).await;
        fake.set_failure(None);
        assert!(fake.messages().is_empty(), "nothing was sent");
        let waiting = newest_outbox(&app).await;
        assert_eq!(
            (waiting.kind.as_str(), waiting.status.as_str()),
            ("sms", "queued")
        );
        assert!(waiting.check_first);

        // Another user's text gets an id whose decimal digits begin with
        // the victim's (5 → 57), and Twilio sends it and reports on it.
        pad_outbox_to(&app, waiting.id * 10 + 7).await;
        let other = ordered(&app, "tw5").await;
        start_activation(&app, &other, "sms", OTHER_PHONE).await;
        let sent = fake.messages().last().unwrap().clone();
        assert_eq!(sent.to, OTHER_PHONE);
        let genuine_url = sent.status_callback.clone().unwrap();
        let params = message_status_params(&fake, &sent, "delivered");
        let signature = twilio_signature(fake.auth_token(), &genuine_url, &owned(&params));

        // The attacker's reshaped copy: the URL cut just after the
        // victim's id, and what was cut off (the `7`, and anything after
        // it) moved to the front of the first name.
        let marker = format!("outbox={}", waiting.id);
        let at = genuine_url.find(&format!("{marker}7")).expect("the marker") + marker.len();
        let (cut, rest) = genuine_url.split_at(at);
        let moved = format!("{rest}{}", params[0].0);
        let mut reshaped = params.clone();
        reshaped[0].0 = &moved;
        assert_eq!(
            twilio_signature(fake.auth_token(), cut, &owned(&reshaped)),
            signature,
            "the same signature"
        );
        let path = cut.strip_prefix(PUBLIC).unwrap();
        let r = post_signed(&app, path, &reshaped, &signature, &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

        let row = outbox_row(&app, waiting.id).await;
        assert_eq!(
            (row.status.as_str(), row.provider_ref.as_deref()),
            ("queued", None),
            "the victim's text was resolved by another user's callback"
        );
        assert!(row.check_first);

        // The genuine callback still records on its own entry.
        let own = genuine_url.strip_prefix(PUBLIC).unwrap();
        let r = post_signed(&app, own, &params, &signature, &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let theirs = outbox_row(&app, waiting.id * 10 + 7).await;
        assert_eq!(theirs.provider_ref.as_deref(), Some(sent.sid.as_str()));
        assert_eq!(theirs.provider_status.as_deref(), Some("delivered"));
    }

    /// Twilio's validators accept a URL with its port removed, so a portal
    /// at `https://portal.example.com:8443` accepts what Twilio signed for
    /// `https://portal.example.com` — another portal on the same host and
    /// Twilio account (staging beside production). Queue ids are small
    /// numbers that both have: the other portal's status callback for its
    /// entry N must not resolve this portal's entry N.
    #[tokio::test]
    async fn another_portals_status_callback_does_not_resolve_an_entry_with_the_same_id() {
        let fake = FakeTwilio::start().await;
        let prod = portal(&fake, "https://portal.example.com:8443").await;
        let staging = portal(&fake, PUBLIC).await;
        let victim = ordered(&prod, "tw6").await;
        fake.set_failure(Some(500));
        start_activation(&prod, &victim, "sms", VICTIM_PHONE).await;
        fake.set_failure(None);
        let waiting = newest_outbox(&prod).await;
        assert!(waiting.check_first);

        let tester = ordered(&staging, "tw7").await;
        let next = newest(&staging).await.map_or(1, |r| r.id + 1);
        assert!(
            next <= waiting.id,
            "staging is ahead: {next} > {}",
            waiting.id
        );
        if next < waiting.id {
            pad_outbox_to(&staging, waiting.id).await;
        }
        start_activation(&staging, &tester, "sms", OTHER_PHONE).await;
        let sent = fake.messages().last().unwrap().clone();
        let url = sent.status_callback.clone().unwrap();
        assert!(url.starts_with(&format!("{PUBLIC}{STATUS_PATH}?")), "{url}");
        let params = message_status_params(&fake, &sent, "delivered");
        let signature = twilio_signature(fake.auth_token(), &url, &owned(&params));

        let path = url.strip_prefix(PUBLIC).unwrap();
        let r = post_signed(&prod, path, &params, &signature, &[]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let row = outbox_row(&prod, waiting.id).await;
        assert_eq!(
            (row.status.as_str(), row.provider_ref.as_deref()),
            ("queued", None),
            "another portal's callback resolved this portal's text"
        );
    }

    async fn deliver_next(app: &App) -> bool {
        gatehouse_web::service::delivery::deliver_next(&app.st)
            .await
            .unwrap()
    }

    /// Two users share a number (an office line). The first one's text
    /// fails with an unknown outcome and was not sent; the second one's
    /// was sent but its answer was lost. The lookups must not take the
    /// second user's text for the first one's (which would then never be
    /// sent): a text's body holds its own code.
    #[tokio::test]
    async fn a_lookup_does_not_take_another_users_text_for_a_lost_one() {
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        let first = ordered(&app, "tw8").await;
        let second = ordered(&app, "tw9").await;
        fake.set_failure(Some(500));
        let (mut u1, _) = start_activation(&app, &first, "sms", VICTIM_PHONE).await;
        fake.set_failure(None);
        let lost = newest_outbox(&app).await;
        fake.set_drop_after_accept(true);
        start_activation(&app, &second, "sms", VICTIM_PHONE).await;
        fake.set_drop_after_accept(false);
        let unanswered = newest_outbox(&app).await;
        assert!(lost.check_first && unanswered.check_first);
        assert_eq!(fake.messages().len(), 1);

        app.clock.advance_seconds(31);
        while deliver_next(&app).await {}
        let texts = fake.messages();
        assert_eq!(
            texts.len(),
            2,
            "the lost text sent once, the other not again"
        );
        let row = outbox_row(&app, lost.id).await;
        assert_eq!(row.provider_ref.as_deref(), Some(texts[1].sid.as_str()));
        let row = outbox_row(&app, unanswered.id).await;
        assert_eq!(row.provider_ref.as_deref(), Some(texts[0].sid.as_str()));
        let code: String = texts[1]
            .body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_owned();
        let r = u1
            .post(
                "/api/v1/me/phonefactor/activation/verify",
                json!({"code": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }

    /// The same for calls, which carry nothing of ours that Twilio's Calls
    /// list shows: the first user's call was not placed, the second user's
    /// was but its answer was lost. The first lookup takes the second
    /// user's call (same number, same caller id, inside the window) and
    /// marks the first entry sent, so the first user's phone never rings;
    /// the second lookup then excludes that call (now recorded on the
    /// first entry), finds nothing and places the second call again, so
    /// the second user's phone rings twice.
    #[tokio::test]
    async fn a_lookup_does_not_take_another_users_call_for_a_lost_one() {
        let fake = FakeTwilio::start().await;
        let app = portal(&fake, PUBLIC).await;
        let first = ordered(&app, "tw10").await;
        let second = ordered(&app, "tw11").await;
        fake.set_failure(Some(500));
        let (_, a) = start_activation(&app, &first, "call", VICTIM_PHONE).await;
        fake.set_failure(None);
        fake.set_drop_after_accept(true);
        let (_, b) = start_activation(&app, &second, "call", VICTIM_PHONE).await;
        fake.set_drop_after_accept(false);
        assert_eq!(fake.calls().len(), 1);

        app.clock.advance_seconds(31);
        while deliver_next(&app).await {}
        let calls_for = |challenge: &str| {
            fake.calls()
                .iter()
                .filter(|c| c.url.ends_with(&format!("/voice/{challenge}")))
                .count()
        };
        // Twilio's list cannot tell the two apart: the first lookup that
        // finds the call while the other is in doubt gives up; the other
        // then takes it. No challenge's phone rings twice, none rings for
        // another's call, and the one given up asks for another call.
        assert_eq!(fake.calls().len(), 1, "no call placed again");
        assert_eq!((calls_for(&a), calls_for(&b)), (0, 1));
        let mut conn = app.st.store.conn().await.unwrap();
        let counts = gatehouse_store::delivery::counts(&mut conn).await.unwrap();
        assert!(
            counts.iter().any(|(s, n)| s == "failed" && *n == 1),
            "{counts:?}"
        );
        assert!(
            counts.iter().any(|(s, n)| s == "sent" && *n >= 1),
            "{counts:?}"
        );
    }

    /// The inbound-text webhook has no marker of its own: a portal at
    /// `https://portal.example.com:8443` accepts a `FRAUD` reply that
    /// Twilio signed for another portal at `https://portal.example.com`
    /// (same host and Twilio account; the official validators also accept
    /// the URL without its port), and reports fraud on its own open
    /// sign-in for that number: the user is blocked.
    #[tokio::test]
    #[ignore = "open finding: the port-less URL variant lets another portal's inbound text be replayed"]
    async fn another_portals_fraud_reply_does_not_block_a_user_here() {
        let fake = FakeTwilio::start().await;
        let prod = portal(&fake, "https://portal.example.com:8443").await;
        let c = ordered(&prod, "tw12").await;
        let (mut u, _) = start_activation(&prod, &c, "sms", VICTIM_PHONE).await;
        let code: String = fake
            .messages()
            .last()
            .unwrap()
            .body
            .split(|ch: char| !ch.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_owned();
        let r = u
            .post(
                "/api/v1/me/phonefactor/activation/verify",
                json!({"code": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        let mut s = prod.client();
        s.api_login(&c.user_name(), PASSWORD).await;
        let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
        assert!(r.status.is_success(), "{}", r.text);

        // What Twilio posted to the other portal for a reply from the
        // same phone.
        let path = "/api/v1/telephony/twilio/sms";
        let params = [
            ("AccountSid", fake.account_sid()),
            ("ApiVersion", "2010-04-01"),
            ("Body", "FRAUD"),
            ("From", VICTIM_PHONE),
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("NumMedia", "0"),
            ("To", "+15005550006"),
        ];
        let sig = twilio_signature(
            fake.auth_token(),
            &format!("{PUBLIC}{path}"),
            &owned(&params),
        );
        let r = post_signed(&prod, path, &params, &sig, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            s.get("/api/v1/login/phonefactor/status").await.json()["status"],
            "pending",
            "another portal's reply reported fraud here"
        );
    }
}
