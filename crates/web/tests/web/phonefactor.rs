//! PhoneFactor: activation, sign-in by text and call, fraud, bypass,
//! deactivation, abuse limits, the delivery queue and the Twilio gateway.

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_delivery::fake::FakeTwilio;
use gatehouse_domain::outbox::OutboxStatus;
use gatehouse_store::delivery;
use gatehouse_web::{AppConfig, AppState, router};
use serde_json::json;
use std::sync::Arc;

const PHONE: &str = "+14155550123";

/// An app with a customer whose user has PhoneFactor ordered.
async fn ordered(app: &App, prefix: &str) -> Customer {
    app.pf_catalog().await;
    let c = app.customer(prefix).await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order_phonefactor(&mut admin, c.user, &format!("{prefix}-order")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    c
}

/// Signs the user in and activates PhoneFactor by text message.
async fn activated(app: &App, c: &Customer) -> Client {
    let mut u = app.client();
    let r = u.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+1 415 555 0123", "mode": "sms"}),
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
    u
}

#[tokio::test]
async fn activation_then_sign_in_by_text_message_single_use() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf1").await;
    // Before activation the portal is out of reach.
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        u.get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(u.get("/security").await.location(), "/phonefactor/activate");
    // A wrong code is refused and changes nothing; the right one activates
    // and signs in.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+1 415 555 0123", "mode": "sms"}),
        )
        .await;
    assert_eq!(r.json()["challenge"]["phone"], "+1••••0123");
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let code = app.last_code(PHONE).await;
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        u.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );

    let mut s = app.client();
    let r = s.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required");
    assert_eq!(r.json()["methods"], json!(["phonefactor"]));
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(r.json()["challenge"]["mode"], "sms", "{}", r.text);
    let code = app.last_code(PHONE).await;
    let r = s
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);

    // The same code again, in a new sign-in, is refused.
    let mut t = app.client();
    t.api_login(&c.user_name(), PASSWORD).await;
    t.post("/api/v1/login/phonefactor/start", json!({})).await;
    let r = t
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An expired code is refused.
    let fresh = app.last_code(PHONE).await;
    app.clock.advance_seconds(5 * 60 + 1);
    let r = t
        .post("/api/v1/login/phonefactor/verify", json!({"code": fresh}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // The Users screen and API show the state.
    let mut admin = app.signed_in(&c.admin_name()).await;
    let users = admin.get("/api/v1/users").await.json();
    let me = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == c.user_name())
        .unwrap()
        .clone();
    assert_eq!(me["external_authentication"][0]["method"], "phonefactor");
    assert_eq!(me["external_authentication"][0]["state"], "active");
}

#[tokio::test]
async fn call_approves_with_hash_and_zero_hash_reports_fraud() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf2").await;
    let mut u = activated(&app, &c).await;
    // Switch to phone call from a signed-in session: re-verified by a call.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "call"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the password is needed"
    );
    assert_eq!(r.json()["field"], "password");
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "call", "password": "wrong"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "call", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let calls = u
        .get(&format!("/api/v1/virtual-phone/{PHONE}/calls"))
        .await
        .json();
    let call = calls.as_array().unwrap().last().unwrap().clone();
    assert!(call["prompt"].as_str().unwrap().contains("pound"), "{call}");
    let r = u
        .post(
            &format!(
                "/api/v1/virtual-phone/{PHONE}/calls/{}/keys",
                call["id"].as_str().unwrap()
            ),
            json!({"digits": "#"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = u.get("/api/v1/me/phonefactor/activation/status").await;
    assert_eq!(r.json()["status"], "active");

    // Sign-in by call: pending until # is pressed.
    let mut s = app.client();
    s.api_login(&c.user_name(), PASSWORD).await;
    s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert_eq!(
        s.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "pending"
    );
    let calls = s
        .get(&format!("/api/v1/virtual-phone/{PHONE}/calls"))
        .await
        .json();
    let id = calls.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.post(
        &format!("/api/v1/virtual-phone/{PHONE}/calls/{id}/keys"),
        json!({"digits": "#"}),
    )
    .await;
    let r = s.get("/api/v1/login/phonefactor/status").await;
    assert_eq!(
        r.json(),
        json!({"status": "approved", "state": "authenticated"})
    );
    // The ended call cannot be answered again.
    let r = s
        .post(
            &format!("/api/v1/virtual-phone/{PHONE}/calls/{id}/keys"),
            json!({"digits": "#"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // An API token made from that session...
    s.refresh_csrf().await;
    let r = s
        .post("/api/v1/api-tokens", json!({"name": "laptop"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut bearer = app.client();
    bearer.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    assert_eq!(bearer.get("/api/v1/session").await.status, StatusCode::OK);

    // 0# reports fraud: refused, blocked, the admins are told, audited.
    let mut f = app.client();
    f.api_login(&c.user_name(), PASSWORD).await;
    f.post("/api/v1/login/phonefactor/start", json!({})).await;
    let calls = f
        .get(&format!("/api/v1/virtual-phone/{PHONE}/calls"))
        .await
        .json();
    let id = calls.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.post(
        &format!("/api/v1/virtual-phone/{PHONE}/calls/{id}/keys"),
        json!({"digits": "0#"}),
    )
    .await;
    // ...ends with the fraud report, like the user's sessions.
    assert_eq!(
        bearer.get("/api/v1/session").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "fraud"
    );
    // The signed-in session of before was ended too.
    assert_eq!(
        s.get("/api/v1/users/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().contains("fraud"));
    let mut conn = app.st.store.conn().await.unwrap();
    let counts = delivery::counts(&mut conn).await.unwrap();
    drop(conn);
    assert!(
        counts.iter().any(|(s, n)| s == "queued" && *n >= 1),
        "{counts:?}"
    );
    let mut admin = app.signed_in(&c.admin_name()).await;
    let audit = admin.get("/api/v1/audit").await.text;
    assert!(audit.contains("phonefactor_fraud_report"));
    // Clear Fraud Block: challenged again.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/clear-block", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/clear-block", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required");
}

#[tokio::test]
async fn fraud_reply_bypass_and_deactivation() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf3").await;
    activated(&app, &c).await;
    // Replying FRAUD to a sign-in code blocks.
    let mut s = app.client();
    s.api_login(&c.user_name(), PASSWORD).await;
    s.post("/api/v1/login/phonefactor/start", json!({})).await;
    let r = s
        .post(
            &format!("/api/v1/virtual-phone/{PHONE}/messages"),
            json!({"body": "FRAUD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "fraud"
    );
    let mut admin = app.signed_in(&c.admin_name()).await;
    admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/clear-block", c.user.0),
            json!({}),
        )
        .await;

    // One-time bypass: the next sign-in skips the challenge once.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/bypass", c.user.0),
            json!({"minutes": 99999}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/bypass", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "authenticated");
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required");
    // An expired bypass does nothing.
    admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/bypass", c.user.0),
            json!({"minutes": 5}),
        )
        .await;
    app.clock.advance_seconds(301);
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required");

    // Another account's administrator can do none of this.
    let other = app.customer("pf3x").await;
    let mut stranger = app.signed_in(&other.admin_name()).await;
    for action in ["deactivate", "clear-block", "bypass"] {
        let r = stranger
            .post(
                &format!("/api/v1/users/{}/phonefactor/{action}", c.user.0),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}: {}", r.text);
    }

    // The user deactivates with their password; then password alone.
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    u.post("/api/v1/login/phonefactor/start", json!({})).await;
    let code = app.last_code(PHONE).await;
    let r = u
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/phonefactor/deactivate",
            json!({"password": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = u
        .post(
            "/api/v1/me/phonefactor/deactivate",
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "authenticated");
    // Billing continues: the subscription is still active.
    let users = admin.get("/api/v1/users").await.json();
    assert!(users.to_string().contains("deactivated"), "{users}");
    // The administrator deactivating it again is a conflict; activating again works.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/phonefactor/deactivate", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_sixth_text_in_15_minutes_is_refused_with_the_wait() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf4").await;
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    for i in 0..5 {
        let r = u
            .post(
                "/api/v1/me/phonefactor/activation",
                json!({"phone": PHONE, "mode": "sms"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "send {i}: {}", r.text);
        app.clock.advance_seconds(60);
    }
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Try again in 10 minutes"),
        "{}",
        r.text
    );
    assert_eq!(r.headers["retry-after"], "600");
    assert_eq!(
        app.texts(PHONE).await.len(),
        5,
        "the refused send sent nothing"
    );
    // Premium-rate numbers are refused with a reason.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+44 909 879 0000", "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], "phone");
    // After the window, sending works again.
    app.clock.advance_seconds(10 * 60);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn a_crash_between_queueing_and_sending_loses_nothing_and_duplicates_nothing() {
    // The first instance queues but never sends (as if it died right after
    // the commit).
    let held = AppConfig {
        delivery_worker: false,
        ..virtual_config()
    };
    let app = spawn_app_with(held).await;
    let c = ordered(&app, "pf5").await;
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(app.texts(PHONE).await.is_empty());

    // A second process on the same database, with the same master key.
    let restarted = AppState::new(
        app.st.store.clone(),
        app.clock.clone(),
        AppConfig {
            master_key: app.st.config.master_key.clone(),
            ..virtual_config()
        },
        None,
    );
    let _router = router(restarted.clone());
    // It claims the message and dies while sending: the lease keeps other
    // workers off until it runs out.
    {
        let mut tx = restarted.store.begin().await.unwrap();
        let claimed = delivery::claim_due(&mut tx, app.clock_now(), 30_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(claimed.is_some());
    }
    assert!(
        !gatehouse_web::service::delivery::deliver_next(&restarted)
            .await
            .unwrap()
    );
    app.clock.advance_seconds(31);
    assert!(
        gatehouse_web::service::delivery::deliver_next(&restarted)
            .await
            .unwrap()
    );
    assert!(
        !gatehouse_web::service::delivery::deliver_next(&restarted)
            .await
            .unwrap()
    );
    assert_eq!(app.texts(PHONE).await.len(), 1);
    // Even a delivery retried after a crash between the phone and "sent"
    // shows once: the virtual phone keys deliveries by queue entry.
    let mut conn = app.st.store.conn().await.unwrap();
    let first = delivery::get(&mut conn, 1).await.unwrap();
    assert_eq!(first.status, OutboxStatus::Sent);
    assert!(first.body.is_none(), "the code is forgotten once sent");
    assert!(
        !delivery::virtual_text(
            &mut conn,
            PHONE,
            "out",
            "again",
            Some(first.id),
            None,
            app.clock_now()
        )
        .await
        .unwrap()
    );
    drop(conn);
    let code = app.last_code(PHONE).await;
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn twilio_gateway_texts_the_code_and_checks_callback_signatures() {
    let fake = FakeTwilio::start().await;
    // The portal listens on a real port so that the fake can call back.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = AppConfig {
        delivery: gatehouse_web::Delivery::Gateway(Arc::new(fake.gateway("+15005550006"))),
        twilio_webhooks: Some(gatehouse_delivery::WebhookVerifier::new(
            fake.auth_token().to_owned().into(),
        )),
        public_url: base.clone(),
        ..Default::default()
    };
    let app = spawn_app_with(config).await;
    let served =
        router(app.st.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    let c = ordered(&app, "pf6").await;
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    // Fictional 555-01xx numbers cannot be used with a real gateway.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let phone = "+14152345678";
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": phone, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sent = fake.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, phone);
    // The status callback names the queue entry; Twilio's report of the
    // delivery is recorded on it, and a late "sent" does not undo it.
    let id = outbox_marker(sent[0].status_callback.as_deref());
    assert_eq!(
        fake.report_message_status(&sent[0].sid, "delivered").await,
        Ok(204)
    );
    assert_eq!(
        fake.report_message_status(&sent[0].sid, "sent").await,
        Ok(204)
    );
    let row = outbox_row(&app, id).await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.provider_ref.as_deref(), Some(sent[0].sid.as_str()));
    assert_eq!(row.provider_status.as_deref(), Some("delivered"));
    // A signed callback naming no queue entry is accepted and ignored.
    let unknown_url = format!("{base}/api/v1/telephony/twilio/status?outbox=987654");
    let params = [("MessageSid", "SM0000"), ("MessageStatus", "delivered")];
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = gatehouse_delivery::twilio_signature(fake.auth_token(), &unknown_url, &owned);
    assert_eq!(
        reqwest_post_form(&unknown_url, &params, &signature).await,
        204
    );
    assert_eq!(outbox_row(&app, id).await, row);
    let code: String = sent[0]
        .body
        .split(|c: char| !c.is_ascii_digit())
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
    // The virtual phone is off with a real gateway.
    assert_eq!(
        u.get(&format!("/api/v1/virtual-phone/{phone}/messages"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Phone call through Twilio: the fake fetches the TwiML and posts the
    // keys back, both signed; # approves the change of mode.
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": phone, "mode": "call", "password": PASSWORD}),
        )
        .await;
    let challenge = r.json()["challenge"]["id"].as_str().unwrap().to_owned();
    let call = fake.calls().last().unwrap().clone();
    assert!(
        call.url
            .ends_with(&format!("/api/v1/telephony/twilio/voice/{challenge}"))
    );
    // A gather callback with a wrong signature is refused and changes nothing.
    let forged = reqwest_post_form(
        &format!("{base}/api/v1/telephony/twilio/gather/{challenge}"),
        &[
            ("Digits", "#"),
            ("FinishedOnKey", ""),
            ("CallSid", &call.sid),
        ],
        "bm90IGEgc2lnbmF0dXJl",
    )
    .await;
    assert_eq!(forged, 403);
    // Twilio's own validators accept the URL with or without its port ("sig
    // generation on back end is inconsistent"): a status callback signed
    // over the URL without the port is accepted; the same signature over a
    // changed parameter is refused.
    let status_url = format!("{base}/api/v1/telephony/twilio/status");
    let portless = status_url.replacen(&format!(":{}", base.rsplit(':').next().unwrap()), "", 1);
    let params = [("CallSid", call.sid.as_str()), ("CallStatus", "ringing")];
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = gatehouse_delivery::twilio_signature(fake.auth_token(), &portless, &owned);
    assert_eq!(
        reqwest_post_form(&status_url, &params, &signature).await,
        204
    );
    let changed = [("CallSid", call.sid.as_str()), ("CallStatus", "completed")];
    assert_eq!(
        reqwest_post_form(&status_url, &changed, &signature).await,
        403
    );
    assert_eq!(
        u.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "pending"
    );
    let answered = fake.answer_call(&call.sid, "#").await.unwrap();
    assert_eq!(
        answered.instructions_status, 200,
        "{}",
        answered.instructions
    );
    assert!(answered.instructions.contains("<Gather"));
    assert_eq!(answered.status(), 200);
    // The fake plays Twilio's Gather as documented: `#` alone reaches the
    // portal only because the Gather has no finish key.
    let action = answered.action.expect("a Gather action for #");
    assert_eq!(action.digits, "#");
    assert!(action.body.contains("Thank you"), "{}", action.body);
    assert_eq!(
        u.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "active"
    );

    // Sign-in by call: nothing pressed leaves the sign-in pending (the call
    // says goodbye); # on the next call signs in.
    let mut s = app.client();
    s.api_login(&c.user_name(), PASSWORD).await;
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let silent = fake.calls().last().unwrap().sid.clone();
    let answered = fake.answer_call(&silent, "").await.unwrap();
    assert_eq!(answered.action, None);
    assert_eq!(
        answered.fell_through_to,
        ["We did not receive an answer. Goodbye."]
    );
    assert_eq!(
        s.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "pending"
    );
    // The call is over; a little later the user asks for another and
    // presses #.
    app.clock.advance_seconds(20);
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let again = fake.calls().last().unwrap().sid.clone();
    assert_ne!(again, silent);
    let answered = fake.answer_call(&again, "#").await.unwrap();
    assert_eq!(answered.action.expect("action").digits, "#");
    assert_eq!(
        s.get("/api/v1/login/phonefactor/status").await.json(),
        json!({"status": "approved", "state": "authenticated"})
    );

    // 0# on a call reports fraud: posted at once (numDigits 2), the user is
    // blocked.
    let mut f = app.client();
    f.api_login(&c.user_name(), PASSWORD).await;
    f.post("/api/v1/login/phonefactor/start", json!({})).await;
    let sid = fake.calls().last().unwrap().sid.clone();
    assert_ne!(sid, again);
    let answered = fake.answer_call(&sid, "0#").await.unwrap();
    let action = answered.action.expect("a Gather action for 0#");
    assert_eq!(action.digits, "0#");
    assert!(action.body.contains("administrator has been told"));
    assert_eq!(
        f.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "fraud"
    );
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

/// The queue entry a status callback URL names (`?outbox={id}&tag=…`).
fn outbox_marker(url: Option<&str>) -> i64 {
    let url = url.expect("a StatusCallback");
    assert!(
        url.contains("/api/v1/telephony/twilio/status?outbox="),
        "{url}"
    );
    let marker = url.rsplit("outbox=").next().unwrap();
    marker.split('&').next().unwrap().parse().unwrap()
}

async fn outbox_row(app: &App, id: i64) -> delivery::Queued {
    let mut conn = app.st.store.conn().await.unwrap();
    delivery::get(&mut conn, id).await.unwrap()
}

/// The newest queue entry of `kind`.
async fn last_outbox(app: &App, kind: &str) -> delivery::Queued {
    let mut conn = app.st.store.conn().await.unwrap();
    let mut last = None;
    let mut id = 1;
    while let Ok(row) = delivery::get(&mut conn, id).await {
        if row.kind.as_str() == kind {
            last = Some(row);
        }
        id += 1;
    }
    last.expect("a queued message of that kind")
}

fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_owned()
}

/// An app whose gateway is the fake Twilio with a 1-second request limit,
/// the fake on the app's clock, and the portal on a real port so that the
/// fake can call back.
async fn twilio_app(fake: &FakeTwilio, deliver_at_once: bool) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut gateway = fake.config("+15005550006");
    gateway.timeout_secs = 1;
    let gateway = gatehouse_delivery::TwilioGateway::new(&gateway).unwrap();
    let config = AppConfig {
        delivery: gatehouse_web::Delivery::Gateway(Arc::new(gateway)),
        twilio_webhooks: Some(gatehouse_delivery::WebhookVerifier::new(
            fake.auth_token().to_owned().into(),
        )),
        public_url: base,
        delivery_worker: deliver_at_once,
        ..Default::default()
    };
    let app = spawn_app_with(config).await;
    fake.set_clock(app.clock.clone());
    let served =
        router(app.st.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    app
}

async fn deliver_next(app: &App) -> bool {
    gatehouse_web::service::delivery::deliver_next(&app.st)
        .await
        .unwrap()
}

const REAL_PHONE: &str = "+14152345678";

/// Signs the customer's user in and starts activation in `mode`.
async fn start_activation(app: &App, c: &Customer, mode: &str) -> Client {
    let mut u = app.client();
    u.api_login(&c.user_name(), PASSWORD).await;
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": REAL_PHONE, "mode": mode}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    u
}

/// Twilio accepts the text but the answer never comes back in time: the
/// outcome is unknown. The worker does not send again: after the lookup
/// delay it finds the text in Twilio's list and marks it sent, and the user
/// receives exactly one text, whose code activates.
#[tokio::test]
async fn a_text_accepted_before_a_timeout_is_looked_up_and_received_exactly_once() {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(&fake, true).await;
    let c = ordered(&app, "pf7").await;
    fake.set_stall_after_accept(Some(std::time::Duration::from_secs(3)));
    let mut u = start_activation(&app, &c, "sms").await;
    assert_eq!(fake.messages().len(), 1, "Twilio sent it");
    let row = last_outbox(&app, "sms").await;
    assert_eq!(row.status, OutboxStatus::Queued);
    assert!(row.check_first, "{row:?}");
    fake.set_stall_after_accept(None);

    assert!(!deliver_next(&app).await, "the lookup waits");
    app.clock.advance_seconds(31);
    assert!(deliver_next(&app).await);
    assert!(!deliver_next(&app).await);
    let sent = fake.messages();
    assert_eq!(sent.len(), 1, "exactly one text");
    assert_eq!(fake.request_count(), 1);
    assert_eq!(fake.list_count(), 1);
    let row = outbox_row(&app, row.id).await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.provider_ref.as_deref(), Some(sent[0].sid.as_str()));
    assert!(row.body.is_none());

    let r = u
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code_in(&sent[0].body)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

/// The same for a call: Twilio placed it, the answer timed out; the lookup
/// finds the call, the phone rings once, and # on it activates.
#[tokio::test]
async fn a_call_placed_before_a_timeout_is_looked_up_and_rings_exactly_once() {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(&fake, true).await;
    let c = ordered(&app, "pf8").await;
    fake.set_stall_after_accept(Some(std::time::Duration::from_secs(3)));
    let mut u = start_activation(&app, &c, "call").await;
    assert_eq!(fake.calls().len(), 1, "Twilio placed it");
    assert!(last_outbox(&app, "call").await.check_first);
    fake.set_stall_after_accept(None);

    app.clock.advance_seconds(31);
    assert!(deliver_next(&app).await);
    assert!(!deliver_next(&app).await);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "exactly one call");
    assert_eq!(fake.request_count(), 1);
    let row = last_outbox(&app, "call").await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.provider_ref.as_deref(), Some(calls[0].sid.as_str()));

    let answered = fake.answer_call(&calls[0].sid, "#").await.unwrap();
    assert_eq!(answered.status(), 200, "{}", answered.instructions);
    assert_eq!(
        u.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "active"
    );
}

/// A worker dies while Twilio is accepting the text (after the request went
/// out, before the answer). When its lease runs out, the next claim looks
/// the text up before anything is sent again, and finds it.
#[tokio::test]
async fn a_send_whose_worker_died_is_looked_up_before_any_resend() {
    let fake = FakeTwilio::start().await;
    // Requests queue only; the test plays the worker.
    let app = twilio_app(&fake, false).await;
    let c = ordered(&app, "pf9").await;
    start_activation(&app, &c, "sms").await;
    assert!(fake.messages().is_empty());

    fake.set_stall_after_accept(Some(std::time::Duration::from_secs(30)));
    let st = app.st.clone();
    let worker =
        tokio::spawn(async move { gatehouse_web::service::delivery::deliver_next(&st).await });
    for _ in 0..500 {
        if !fake.messages().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    worker.abort();
    let _ = worker.await;
    assert_eq!(fake.messages().len(), 1, "Twilio accepted it");
    let row = last_outbox(&app, "sms").await;
    assert_eq!(row.status, OutboxStatus::Sending, "the dead worker's claim");
    fake.set_stall_after_accept(None);

    assert!(!deliver_next(&app).await, "the lease holds");
    app.clock.advance_seconds(31);
    assert!(deliver_next(&app).await);
    assert!(!deliver_next(&app).await);
    assert_eq!(fake.list_count(), 1, "looked up");
    assert_eq!(fake.request_count(), 1, "not sent again");
    let row = outbox_row(&app, row.id).await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(
        row.provider_ref.as_deref(),
        Some(fake.messages()[0].sid.as_str())
    );
}

/// Twilio's status callback for a text whose send timed out proves it was
/// sent: the entry is resolved and no lookup or resend follows.
#[tokio::test]
async fn a_status_callback_resolves_a_text_whose_outcome_was_unknown() {
    let fake = FakeTwilio::start().await;
    let app = twilio_app(&fake, true).await;
    let c = ordered(&app, "pf10").await;
    fake.set_drop_after_accept(true);
    start_activation(&app, &c, "sms").await;
    fake.set_drop_after_accept(false);
    let sent = fake.messages();
    assert_eq!(sent.len(), 1);
    let id = outbox_marker(sent[0].status_callback.as_deref());
    assert!(outbox_row(&app, id).await.check_first);

    assert_eq!(
        fake.report_message_status(&sent[0].sid, "sent").await,
        Ok(204)
    );
    let row = outbox_row(&app, id).await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.provider_ref.as_deref(), Some(sent[0].sid.as_str()));
    assert_eq!(row.provider_status.as_deref(), Some("sent"));
    app.clock.advance_seconds(31);
    assert!(!deliver_next(&app).await);
    assert_eq!((fake.request_count(), fake.list_count()), (1, 0));
}

/// A generic HTTP SMS gateway answers 500: the text may have gone out, and
/// this gateway cannot say. It is not sent again: the entry fails with the
/// reason, and the user may ask for another code.
#[tokio::test]
async fn an_http_sms_gateway_with_an_unknown_outcome_does_not_resend() {
    use gatehouse_delivery::fake::FakeSmsGateway;
    use gatehouse_delivery::{HttpSmsConfig, HttpSmsGateway, HttpSmsMethod, HttpSmsParam};
    let sms = FakeSmsGateway::start().await;
    sms.set_response(500, "internal error");
    let gateway = HttpSmsGateway::new(&HttpSmsConfig {
        url: sms.url("/send"),
        method: HttpSmsMethod::POST,
        encoding: None,
        params: vec![
            HttpSmsParam::new("to", "{to}"),
            HttpSmsParam::new("text", "{body}"),
            HttpSmsParam::new("ref", "{id}"),
        ],
        secret: None,
        auth: None,
        success_status: None,
        response_id_pointer: None,
        timeout_secs: 5,
    })
    .unwrap();
    let app = spawn_app_with(AppConfig {
        delivery: gatehouse_web::Delivery::Gateway(Arc::new(gateway)),
        ..Default::default()
    })
    .await;
    let c = ordered(&app, "pf11").await;
    start_activation(&app, &c, "sms").await;
    assert_eq!(sms.requests().len(), 1);
    let row = last_outbox(&app, "sms").await;
    assert!(row.check_first, "{row:?}");
    sms.set_response(200, "ok");

    app.clock.advance_seconds(31);
    assert!(deliver_next(&app).await);
    assert!(!deliver_next(&app).await);
    app.clock.advance_seconds(3_600);
    assert!(!deliver_next(&app).await);
    assert_eq!(sms.requests().len(), 1, "not sent again");
    let row = outbox_row(&app, row.id).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    let why = row.last_error.unwrap_or_default();
    assert!(
        why.starts_with(gatehouse_web::service::delivery::GAVE_UP_UNKNOWN),
        "{why}"
    );
    assert!(row.body.is_none(), "the code is forgotten");
}

/// A form POST with an `X-Twilio-Signature`, by hand (no HTTP client in
/// the dev-dependencies): returns the status code.
async fn reqwest_post_form(url: &str, params: &[(&str, &str)], signature: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let body: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let body = body.join("&");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl App {
    fn clock_now(&self) -> gatehouse_domain::Timestamp {
        use gatehouse_domain::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn the_pages_work_without_javascript() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf7").await;
    let mut u = app.client();
    let r = u.page_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.location(), "/phonefactor/activate");
    assert_eq!(u.get("/users").await.location(), "/phonefactor/activate");
    let page = u.get("/phonefactor/activate").await;
    for label in [
        "Activate PhoneFactor",
        "Phone number",
        "Phone call",
        "Text message",
        "Mobile app",
    ] {
        assert!(page.text.contains(label), "{label}");
    }
    let csrf = Client::csrf_in(&page.text);
    // A bad number: the error is next to the field, nothing is sent.
    let r = u
        .form(
            "/phonefactor/activate",
            &[
                ("csrf", &csrf),
                ("country", "US"),
                ("phone", "12"),
                ("mode", "sms"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("f-phone-error"), "{}", r.text);
    assert!(app.texts(PHONE).await.is_empty());
    // National format with the country selector.
    let r = u
        .form(
            "/phonefactor/activate",
            &[
                ("csrf", &csrf),
                ("country", "US"),
                ("phone", "(415) 555-0123"),
                ("mode", "sms"),
            ],
        )
        .await;
    assert!(r.text.contains("Verify"), "{}", r.text);
    let code = app.last_code(PHONE).await;
    let r = u
        .form(
            "/phonefactor/activate/verify",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(r.location(), "/security");
    let page = u.get("/security").await;
    assert!(page.text.contains("Text message") && page.text.contains("+1••••0123"));

    // Sign-in by text message through the pages.
    let mut s = app.client();
    let r = s.page_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.location(), "/login/phonefactor");
    let page = s.get("/login/phonefactor").await;
    assert!(page.text.contains("Text me a code"));
    let csrf = Client::csrf_in(&page.text);
    s.form("/login/phonefactor/start", &[("csrf", &csrf)]).await;
    let page = s.get("/login/phonefactor").await;
    assert!(page.text.contains("Send again"));
    let r = s
        .form(
            "/login/phonefactor/verify",
            &[("csrf", &csrf), ("code", "999999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let code = app.last_code(PHONE).await;
    let r = s
        .form(
            "/login/phonefactor/verify",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(r.location(), "/security");

    // Switch to a phone call; "I answered" before and after pressing #.
    let page = s.get("/phonefactor/activate?change=1").await;
    let csrf = Client::csrf_in(&page.text);
    let r = s
        .form(
            "/phonefactor/activate",
            &[
                ("csrf", &csrf),
                ("phone", PHONE),
                ("mode", "call"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(r.text.contains("I answered"), "{}", r.text);
    let r = s
        .form("/phonefactor/activate/check", &[("csrf", &csrf)])
        .await;
    assert!(r.text.contains("Not confirmed yet"));
    let vp = s
        .get(&format!("/virtual-phone?number={}", "%2B14155550123"))
        .await;
    assert!(
        vp.text.contains("Incoming call") && vp.text.contains("Press #"),
        "{}",
        vp.text
    );
    let call = {
        let mut conn = app.st.store.conn().await.unwrap();
        delivery::virtual_calls(&mut conn, PHONE)
            .await
            .unwrap()
            .pop()
            .unwrap()
    };
    let vcsrf = Client::csrf_in(&vp.text);
    let r = s
        .form(
            "/virtual-phone/keys",
            &[
                ("csrf", &vcsrf),
                ("number", PHONE),
                ("call", &call.id),
                ("digits", "#"),
            ],
        )
        .await;
    assert!(r.location().starts_with("/virtual-phone?number="));
    let r = s
        .form("/phonefactor/activate/check", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.location(), "/security?notice=phonefactor-activated");

    // The administrator's Actions: Deactivate PhoneFactor, with a confirmation.
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let users = admin.get("/users").await;
    assert!(
        users.text.contains("PhoneFactor (Phone call, +1••••0123)"),
        "{}",
        users.text
    );
    assert!(
        users.text.contains("Deactivate PhoneFactor")
            && users.text.contains("Grant One-time Bypass")
    );
    let page = admin
        .get(&format!("/users/{}/phonefactor/deactivate", c.user.0))
        .await;
    let csrf = Client::csrf_in(&page.text);
    let r = admin
        .form(
            &format!("/users/{}/phonefactor/deactivate", c.user.0),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.location(), "/users?notice=phonefactor-deactivated");
    assert!(admin.get("/users").await.text.contains("deactivated"));
    let r = app.client().page_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.location(), "/security");
}

#[tokio::test]
async fn wrong_codes_across_challenges_and_stale_activation_sessions_are_refused() {
    let app = spawn_virtual().await;
    let c = ordered(&app, "pf8").await;
    // An attacker who knows the password keeps an activation_required
    // session while the real user activates their own phone.
    let mut stale = app.client();
    stale.api_login(&c.user_name(), PASSWORD).await;
    activated(&app, &c).await;
    let r = stale
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": "+14155550188", "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // Ten wrong codes, over several challenges, stop code guessing for a while.
    let mut s = app.client();
    s.api_login(&c.user_name(), PASSWORD).await;
    for i in 0..10 {
        if i % 5 == 0 {
            let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        let r = s
            .post(
                "/api/v1/login/phonefactor/verify",
                json!({"code": "000000"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    app.clock.advance_seconds(60);
    s.post("/api/v1/login/phonefactor/start", json!({})).await;
    let code = app.last_code(PHONE).await;
    let r = s
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    // After the window the right code works.
    app.clock.advance_seconds(15 * 60);
    let mut t = app.client();
    t.api_login(&c.user_name(), PASSWORD).await;
    t.post("/api/v1/login/phonefactor/start", json!({})).await;
    let code = app.last_code(PHONE).await;
    let r = t
        .post("/api/v1/login/phonefactor/verify", json!({"code": code}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    let mut admin = app.signed_in(&c.admin_name()).await;
    let audit = admin.get("/api/v1/audit").await.text;
    assert!(audit.contains("text-message code wrong"));
}
