//! Delivery by explicit choice only (SPEC §10): without a configured
//! delivery PhoneFactor cannot be ordered or activated; the virtual phone
//! exists only in virtual mode, and shows a number's traffic only to the
//! user it was sent for (at any sign-in stage) and to operators; call ids
//! are random; an instance whose mode differs from the database's record
//! refuses to start.

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_domain::UserId;
use gatehouse_web::service::delivery::{self as deliver, ModeCheck};
use gatehouse_web::service::{Caller, catalog};
use gatehouse_web::{AppConfig, AppState, Delivery, DeliveryMode};
use serde_json::{Value, json};

const A_PHONE: &str = "+14155550123";
const B_PHONE: &str = "+14155550188";

async fn pf_catalog(app: &App) {
    app.catalog().await;
    catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
        .await
        .unwrap();
}

/// A signed-in operator in the provider's account.
async fn operator(app: &App) -> Client {
    let provider = app.provider().await;
    app.user(provider.id, "op-phone", "operator").await;
    app.signed_in("op-phone").await
}

/// Starts activation by `mode` for `username` (ordered beforehand) on
/// `phone`; returns the session, in `activation_required`.
async fn activating(app: &App, username: &str, phone: &str, mode: &str) -> Client {
    let mut u = app.client();
    let r = u.api_login(username, PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": phone, "mode": mode}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    u
}

fn list(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json().as_array().cloned().unwrap_or_default()
}

/// Two users of one account with PhoneFactor ordered: `a` activates by
/// text on A_PHONE, `b` by call on B_PHONE (both left in activation).
struct Two {
    c: Customer,
    b: UserId,
    a_session: Client,
    b_session: Client,
}

async fn two_activating(app: &App) -> Two {
    pf_catalog(app).await;
    let c = app.customer("vp").await;
    let b = app.user(c.id, "vp-other", "user").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    for (u, k) in [(c.user, "vp-1"), (b, "vp-2")] {
        let r = order_phonefactor(&mut admin, u, k).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let a_session = activating(app, &c.user_name(), A_PHONE, "sms").await;
    let b_session = activating(app, "vp-other", B_PHONE, "call").await;
    Two {
        c,
        b,
        a_session,
        b_session,
    }
}

#[tokio::test]
async fn without_delivery_phonefactor_cannot_be_ordered_or_activated() {
    let app = spawn_app().await;
    assert_eq!(app.st.config.delivery.mode(), DeliveryMode::None);
    pf_catalog(&app).await;
    let c = app.customer("nd").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .post(
            &format!("/api/v1/users/{}/external-authentication/quote", c.user.0),
            json!({"method": "phonefactor"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.json()["field"], "method");
    let message = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.contains("no delivery") && message.contains("[twilio]"),
        "says why and how: {message}"
    );
    let r = order_phonefactor(&mut admin, c.user, "nd-1").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().contains("no delivery"));
    // The order form says so before anyone tries.
    let mut page = app.client();
    page.page_login(&c.admin_name(), PASSWORD).await;
    let form = page
        .get(&format!("/users/{}/external-authentication", c.user.0))
        .await;
    assert!(
        form.text
            .contains("no delivery for texts and calls is configured"),
        "{}",
        form.text
    );

    // A PhoneFactor ordered while delivery was configured cannot be
    // activated once it is not.
    let virtual_app = AppState::new(
        app.st.store.clone(),
        app.clock.clone(),
        AppConfig {
            master_key: app.st.config.master_key.clone(),
            ..virtual_config()
        },
        None,
    );
    let r = gatehouse_web::service::orders::place(
        &virtual_app,
        &admin_caller(&app, &c.admin_name()).await,
        c.user,
        &gatehouse_web::service::orders::OrderInput {
            method: "phonefactor".into(),
            ..Default::default()
        },
        "2026.1",
        true,
        "nd-2",
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.err());
    let mut u = app.client();
    let r = u.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let r = u
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": A_PHONE, "mode": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().contains("no delivery"));
    let mut conn = app.st.store.conn().await.unwrap();
    assert!(
        gatehouse_store::delivery::counts(&mut conn)
            .await
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    drop(conn);
    // And there is no virtual phone at all.
    assert_eq!(
        app.client().get("/virtual-phone").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        u.get(&format!("/api/v1/virtual-phone/{A_PHONE}/messages"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn admin_caller(app: &App, username: &str) -> Caller {
    let mut conn = app.st.store.conn().await.unwrap();
    let user = gatehouse_store::Users::new(gatehouse_store::Scope::All)
        .find_by_username(&mut conn, username)
        .await
        .unwrap();
    Caller::user(user, "10.0.0.1", gatehouse_web::service::Channel::Api)
}

#[tokio::test]
async fn anonymous_callers_see_nothing_on_the_virtual_phone() {
    let app = spawn_virtual().await;
    let two = two_activating(&app).await;
    let mut anon = app.client();
    let r = anon.get("/virtual-phone").await;
    assert!(
        r.status.is_redirection() && r.location().starts_with("/login"),
        "{} {}",
        r.status,
        r.location()
    );
    let r = anon
        .get(&format!("/virtual-phone?number=%2B{}", &A_PHONE[1..]))
        .await;
    assert!(r.location().starts_with("/login"), "{}", r.location());
    assert!(!r.text.contains("code is"), "{}", r.text);
    for path in ["messages", "calls", "notifications"] {
        let r = anon
            .get(&format!("/api/v1/virtual-phone/{A_PHONE}/{path}"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.text);
    }
    let r = anon
        .post(
            &format!("/api/v1/virtual-phone/{A_PHONE}/messages"),
            json!({"body": "FRAUD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let call = {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::delivery::virtual_calls(&mut conn, B_PHONE)
            .await
            .unwrap()
            .pop()
            .expect("b's activation call")
    };
    let r = anon
        .post(
            &format!("/api/v1/virtual-phone/{B_PHONE}/calls/{}/keys", call.id),
            json!({"digits": "#"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let mut b = two.b_session;
    assert_eq!(
        b.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "pending",
        "the anonymous key press changed nothing"
    );
}

#[tokio::test]
async fn another_user_cannot_read_texts_or_press_keys_on_a_users_phone() {
    let app = spawn_virtual().await;
    let two = two_activating(&app).await;
    let (mut a, mut b) = (two.a_session, two.b_session);
    // A sees the activation code on A's number (the number being activated).
    let texts = list(
        &a.get(&format!("/api/v1/virtual-phone/{A_PHONE}/messages"))
            .await,
    );
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0]["body"]
            .as_str()
            .unwrap()
            .contains("activation code")
    );
    // B sees none of it, by API or page, and cannot reply FRAUD for A.
    for path in ["messages", "calls", "notifications"] {
        let r = b
            .get(&format!("/api/v1/virtual-phone/{A_PHONE}/{path}"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert!(!r.text.contains("code"), "{}", r.text);
    }
    let page = b
        .get(&format!("/virtual-phone?number=%2B{}", &A_PHONE[1..]))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text.contains("activation code"), "{}", page.text);
    let own = b.get("/virtual-phone").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(own.text.contains(B_PHONE), "B's own number is listed");
    assert!(
        !own.text.contains("number=%2B14155550123"),
        "A's number is not: {}",
        own.text
    );
    let r = b
        .post(
            &format!("/api/v1/virtual-phone/{A_PHONE}/messages"),
            json!({"body": "FRAUD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // A cannot answer B's call, neither under B's number nor under A's.
    let call = {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::delivery::virtual_calls(&mut conn, B_PHONE)
            .await
            .unwrap()
            .pop()
            .unwrap()
    };
    for number in [B_PHONE, A_PHONE] {
        let r = a
            .post(
                &format!("/api/v1/virtual-phone/{number}/calls/{}/keys", call.id),
                json!({"digits": "#"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{number}: {}", r.text);
    }
    let csrf = a.csrf.clone().unwrap_or_default();
    let r = a
        .form(
            "/virtual-phone/keys",
            &[
                ("csrf", csrf.as_str()),
                ("number", B_PHONE),
                ("call", &call.id),
                ("digits", "#"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(
        b.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "pending"
    );

    // Even a user who starts an activation with someone else's number sees
    // only what was sent for them on it.
    let mut admin = app.signed_in(&two.c.admin_name()).await;
    let intruder = app.user(two.c.id, "vp-intruder", "user").await;
    let r = order_phonefactor(&mut admin, intruder, "vp-3").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut i = activating(&app, "vp-intruder", A_PHONE, "sms").await;
    let seen = list(
        &i.get(&format!("/api/v1/virtual-phone/{A_PHONE}/messages"))
            .await,
    );
    assert_eq!(seen.len(), 1, "only the intruder's own text: {seen:?}");
    assert_ne!(seen[0]["body"], texts[0]["body"]);
    // Its FRAUD reply does not touch A's open challenge.
    let r = i
        .post(
            &format!("/api/v1/virtual-phone/{A_PHONE}/messages"),
            json!({"body": "FRAUD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let code = texts[0]["body"]
        .as_str()
        .unwrap()
        .split(|ch: char| !ch.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let r = a
        .post(
            "/api/v1/me/phonefactor/activation/verify",
            json!({"code": code}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "A's code still works: {}",
        r.text
    );
    let _ = two.b;
}

#[tokio::test]
async fn the_numbers_user_at_any_stage_and_operators_see_it() {
    let app = spawn_virtual().await;
    let two = two_activating(&app).await;
    let mut b = two.b_session;
    // B (activation_required) answers B's own call.
    let calls = list(
        &b.get(&format!("/api/v1/virtual-phone/{B_PHONE}/calls"))
            .await,
    );
    assert_eq!(calls.len(), 1);
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    let r = b
        .post(
            &format!("/api/v1/virtual-phone/{B_PHONE}/calls/{id}/keys"),
            json!({"digits": "#"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        b.get("/api/v1/me/phonefactor/activation/status")
            .await
            .json()["status"],
        "active"
    );
    // A password-only session (second_factor_required) of B sees B's
    // sign-in call, on the API and the page.
    let mut s = app.client();
    let r = s.api_login("vp-other", PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
    let r = s.post("/api/v1/login/phonefactor/start", json!({})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let calls = list(
        &s.get(&format!("/api/v1/virtual-phone/{B_PHONE}/calls"))
            .await,
    );
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["status"], "ringing", "the newest last: {calls:?}");
    let mut p = app.client();
    let r = p.page_login("vp-other", PASSWORD).await;
    assert!(r.status.is_redirection(), "{}", r.text);
    let page = p
        .get(&format!("/virtual-phone?number=%2B{}", &B_PHONE[1..]))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Incoming call"), "{}", page.text);

    // An operator sees every number and may press keys on any call.
    let mut op = operator(&app).await;
    let texts = list(
        &op.get(&format!("/api/v1/virtual-phone/{A_PHONE}/messages"))
            .await,
    );
    assert_eq!(texts.len(), 1);
    let calls = list(
        &op.get(&format!("/api/v1/virtual-phone/{B_PHONE}/calls"))
            .await,
    );
    let ringing = calls[1]["id"].as_str().unwrap().to_owned();
    let r = op
        .post(
            &format!("/api/v1/virtual-phone/{B_PHONE}/calls/{ringing}/keys"),
            json!({"digits": "#"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        s.get("/api/v1/login/phonefactor/status").await.json()["status"],
        "approved"
    );
    let page = op.get("/virtual-phone").await;
    assert!(
        page.text.contains(A_PHONE) && page.text.contains(B_PHONE),
        "{}",
        page.text
    );
    // Only a fully signed-in operator counts as one: an administrator of
    // the customer does not.
    let mut admin = app.signed_in(&two.c.admin_name()).await;
    let r = admin
        .get(&format!("/api/v1/virtual-phone/{A_PHONE}/messages"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn call_ids_are_random() {
    let app = spawn_virtual().await;
    let two = two_activating(&app).await;
    let mut b = two.b_session;
    // A second call to B (a new activation attempt).
    let r = b
        .post(
            "/api/v1/me/phonefactor/activation",
            json!({"phone": B_PHONE, "mode": "call"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let calls = list(
        &b.get(&format!("/api/v1/virtual-phone/{B_PHONE}/calls"))
            .await,
    );
    assert_eq!(calls.len(), 2);
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in &ids {
        assert!(id.len() >= 32, "long and random: {id}");
        assert!(
            !ids.iter().any(|o| o != id && o[..8] == id[..8]),
            "no shared, counting prefix: {ids:?}"
        );
    }
    // Nothing about a call id is derived from its queue entry.
    let mut conn = app.st.store.conn().await.unwrap();
    for n in 1..=3 {
        let q = gatehouse_store::delivery::get(&mut conn, n).await.unwrap();
        assert!(
            ids.iter().all(|id| !id.ends_with(&format!("-{}", q.id))),
            "{ids:?}"
        );
    }
}

#[tokio::test]
async fn a_mode_differing_from_the_recorded_one_refuses_to_start() {
    let app = spawn_virtual().await;
    assert_eq!(
        deliver::check_mode(&app.st).await.unwrap(),
        ModeCheck::Recorded
    );
    assert_eq!(
        deliver::check_mode(&app.st).await.unwrap(),
        ModeCheck::Matches
    );
    // Another instance on the same database, with no delivery configured
    // or with a gateway: refused.
    for other in [AppConfig::default(), {
        let fake = gatehouse_delivery::fake::FakeTwilio::start().await;
        AppConfig {
            delivery: Delivery::Gateway(std::sync::Arc::new(fake.gateway("+15005550006"))),
            ..AppConfig::default()
        }
    }] {
        let st = AppState::new(app.st.store.clone(), app.clock.clone(), other, None);
        assert_eq!(
            deliver::check_mode(&st).await.unwrap(),
            ModeCheck::Differs {
                recorded: "virtual".into()
            }
        );
    }
    // The operator changes it on purpose: then the new mode starts and the
    // old one is refused.
    let plain = AppState::new(
        app.st.store.clone(),
        app.clock.clone(),
        AppConfig::default(),
        None,
    );
    let before = deliver::set_mode(&plain, &Caller::cli(), DeliveryMode::None)
        .await
        .unwrap();
    assert_eq!(before.as_deref(), Some("virtual"));
    assert_eq!(
        deliver::check_mode(&plain).await.unwrap(),
        ModeCheck::Matches
    );
    assert_eq!(
        deliver::check_mode(&app.st).await.unwrap(),
        ModeCheck::Differs {
            recorded: "none".into()
        }
    );
    let mut conn = app.st.store.conn().await.unwrap();
    let actions: Vec<String> =
        gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.record.action)
            .collect();
    assert!(
        actions.contains(&"delivery_mode_record".to_owned())
            && actions.contains(&"delivery_mode_set".to_owned()),
        "{actions:?}"
    );
}
