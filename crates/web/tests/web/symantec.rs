//! The Symantec path through the API and the pages: quote, order, Security
//! Code sign-in, replay, lockout, recovery actions, validation API.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

async fn setup() -> (App, Customer, Client) {
    let app = spawn_app().await;
    app.catalog().await;
    app.credential("VSST00000001", false).await;
    app.credential("UBHE00000002", true).await;
    let c = app.customer("alpha").await;
    let admin = app.signed_in(&c.admin_name()).await;
    (app, c, admin)
}

#[tokio::test]
async fn quote_normalises_and_explains_every_refusal() {
    let (app, c, mut admin) = setup().await;
    let base = format!("/api/v1/users/{}/external-authentication/quote", c.user.0);
    let r = admin.post(&base, json!({"method": "symantec_vip", "credential_id": "vsst 0000 0001", "promo_code": "welcome50"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let q = r.json();
    assert_eq!(
        (
            q["monthly_fee"].as_i64(),
            q["discount"].as_i64(),
            q["total"].as_i64()
        ),
        (Some(500), Some(250), Some(250))
    );
    assert_eq!(q["currency"], "USD");
    assert_eq!(q["msa"]["version"], "2026.1");
    let cases = [
        (
            json!({"method": "symantec_vip", "credential_id": "NOTANID"}),
            "credential_id",
            "2–4 letters",
        ),
        (
            json!({"method": "symantec_vip", "credential_id": "VSST99999999"}),
            "credential_id",
            "not known",
        ),
        (
            json!({"method": "symantec_vip"}),
            "credential_id",
            "Enter the user's Credential ID",
        ),
        (
            json!({"method": "symantec_vip", "credential_id": "VSST00000001", "promo_code": "NOSUCH"}),
            "promo_code",
            "no promo code NOSUCH",
        ),
        (json!({"method": "carrier_pigeon"}), "method", "Choose"),
        (
            json!({"method": "phonefactor"}),
            "method",
            "has no price yet",
        ),
        (
            json!({"method": "symantec_vip", "credential_id": "VSST00000001", "security_code": "000000"}),
            "security_code",
            "does not match",
        ),
    ];
    for (body, field, text) in cases {
        let r = admin.post(&base, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.json()["field"], field, "{body}");
        assert!(
            r.json()["error"].as_str().unwrap().contains(text),
            "{body}: {}",
            r.text
        );
    }
    // A right proof code passes.
    let r = admin.post(&base, json!({"method": "symantec_vip", "credential_id": "VSST00000001", "security_code": app.totp(0)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn promo_rules_expired_used_up_and_method_bound() {
    let (app, c, mut admin) = setup().await;
    use gatehouse_web::service::{Caller, catalog};
    let once = catalog::NewPromo {
        code: "ONCE".into(),
        amount_off: Some(100),
        max_redemptions: Some(1),
        ..Default::default()
    };
    catalog::create_promo(&app.st, &Caller::cli(), once)
        .await
        .unwrap();
    let old = catalog::NewPromo {
        code: "OLD".into(),
        percent_off: Some(10),
        valid_until: Some("2020-01-01".into()),
        ..Default::default()
    };
    catalog::create_promo(&app.st, &Caller::cli(), old)
        .await
        .unwrap();
    let pf = catalog::NewPromo {
        code: "PFONLY".into(),
        percent_off: Some(10),
        method: Some("phonefactor".into()),
        ..Default::default()
    };
    catalog::create_promo(&app.st, &Caller::cli(), pf)
        .await
        .unwrap();
    let base = format!("/api/v1/users/{}/external-authentication/quote", c.user.0);
    for (code, text) in [("old", "expired"), ("PFONLY", "only for PhoneFactor")] {
        let r = admin.post(&base, json!({"method": "symantec_vip", "credential_id": "VSST00000001", "promo_code": code})).await;
        assert!(
            r.json()["error"].as_str().unwrap().contains(text),
            "{code}: {}",
            r.text
        );
    }
    let body = json!({"method": "symantec_vip", "credential_id": "VSST00000001", "promo_code": "ONCE", "msa_version": "2026.1", "msa_acknowledged": true});
    let r = admin
        .send_with(
            axum::http::Method::POST,
            &format!("/api/v1/users/{}/external-authentication/orders", c.user.0),
            Body2::Json(body),
            true,
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = admin.post(&format!("/api/v1/users/{}/external-authentication/quote", c.admin.0), json!({"method": "symantec_vip", "credential_id": "UBHE00000002", "promo_code": "once"})).await;
    assert!(
        r.json()["error"].as_str().unwrap().contains("used up"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn ordering_is_idempotent_and_credentials_are_not_shared() {
    let (app, c, mut admin) = setup().await;
    let r1 = order(&mut admin, c.user, "VSST00000001", "key-1").await;
    assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.text);
    let n1 = r1.json()["order"]["number"].as_str().unwrap().to_owned();
    assert!(n1.starts_with("EA-"));
    let r2 = order(&mut admin, c.user, "VSST00000001", "key-1").await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r2.json()["order"]["number"], n1.as_str());
    let r3 = order(&mut admin, c.user, "VSST00000001", "key-2").await;
    assert_eq!(
        r3.status,
        StatusCode::CONFLICT,
        "already has it: {}",
        r3.text
    );
    let r4 = order(&mut admin, c.admin, "VSST00000001", "key-3").await;
    assert_eq!(
        (r4.status, r4.json()["field"].as_str()),
        (StatusCode::CONFLICT, Some("credential_id"))
    );
    let r5 = order(&mut admin, c.admin, "UBHE00000002", "").await;
    assert_eq!(
        (r5.status, r5.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key"))
    );
    let mut no_msa = admin.clone();
    let r6 = no_msa
        .send_with(
            axum::http::Method::POST,
            &format!("/api/v1/users/{}/external-authentication/orders", c.admin.0),
            Body2::Json(json!({"method": "symantec_vip", "credential_id": "UBHE00000002", "msa_version": "2026.1", "msa_acknowledged": false})),
            true,
            &[("idempotency-key", "key-4")],
        )
        .await;
    assert_eq!(
        (r6.status, r6.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("msa_acknowledged"))
    );
    let users = admin.get("/api/v1/users").await.json();
    let u = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == c.user.0)
        .unwrap()
        .clone();
    assert_eq!(
        u["external_authentication"],
        json!([{"method": "symantec_vip", "state": "active", "credential_id": "VSST00000001"}])
    );
    let a = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == c.admin.0)
        .unwrap()
        .clone();
    assert_eq!(
        a["external_authentication"],
        json!([]),
        "nothing stored by refused orders"
    );
    let mut conn = app.st.store.conn().await.unwrap();
    assert_eq!(
        gatehouse_store::orders::count(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn concurrent_double_submission_creates_one_order() {
    let (app, c, admin) = setup().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut a = admin.clone();
        let user = c.user;
        tasks.push(tokio::spawn(async move {
            order(&mut a, user, "VSST00000001", "same-key").await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{statuses:?}"
    );
    let mut conn = app.st.store.conn().await.unwrap();
    assert_eq!(
        gatehouse_store::orders::count(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn security_code_sign_in_once_and_forward_only() {
    let (app, c, mut admin) = setup().await;
    assert_eq!(
        order(&mut admin, c.user, "VSST00000001", "k").await.status,
        StatusCode::CREATED
    );
    let mut user = app.client();
    let r = user.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required");
    assert_eq!(r.json()["methods"], json!(["security_code"]));
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "not in yet"
    );
    let before = user.session_cookie();
    let r = user
        .post("/api/v1/login/security-code", json!({"code": "000000"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let code = app.totp(0);
    let r = user
        .post("/api/v1/login/security-code", json!({"code": code}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    assert_ne!(
        user.session_cookie(),
        before,
        "session id renewed after the second factor"
    );
    user.refresh_csrf().await;
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::OK
    );
    // The same code again: refused.
    let mut again = app.client();
    again.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        again
            .post("/api/v1/login/security-code", json!({"code": code}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The next step's code (within the window) works; afterwards the current one is refused too (forward only).
    let next = app.totp(1);
    let r = again
        .post("/api/v1/login/security-code", json!({"code": next}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    app.clock.advance_seconds(30);
    let mut third = app.client();
    third.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        third
            .post("/api/v1/login/security-code", json!({"code": app.totp(-1)}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn concurrent_use_of_one_code_succeeds_once() {
    let (app, c, mut admin) = setup().await;
    order(&mut admin, c.user, "VSST00000001", "k").await;
    let secret = gatehouse_web::service::validate::create_client(
        &app.st,
        &gatehouse_web::service::Caller::cli(),
        "vpn",
    )
    .await
    .unwrap();
    let code = app.totp(0);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut v = app.client();
        v.bearer = Some(secret.clone());
        let (u, code) = (c.user_name(), code.clone());
        tasks.push(tokio::spawn(async move {
            v.post("/api/v1/validate", json!({"username": u, "code": code}))
                .await
                .json()["result"]
                == true
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1, "exactly one concurrent request accepts the code");
}

#[tokio::test]
async fn ten_wrong_codes_lock_until_unlocked_and_temporary_codes_work() {
    let (app, c, mut admin) = setup().await;
    order(&mut admin, c.user, "VSST00000001", "k").await;
    let secret = gatehouse_web::service::validate::create_client(
        &app.st,
        &gatehouse_web::service::Caller::cli(),
        "vpn",
    )
    .await
    .unwrap();
    let mut v = app.client();
    v.bearer = Some(secret);
    for i in 0..10 {
        let r = v
            .post(
                "/api/v1/validate",
                json!({"username": c.user_name(), "code": format!("{:06}", 111_111 * (i % 9))}),
            )
            .await;
        assert_eq!(r.json()["result"], false);
    }
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0)}),
        )
        .await;
    assert_eq!(r.json()["result"], false, "locked");
    let users = admin.get("/api/v1/users").await.json();
    let u = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == c.user.0)
        .unwrap()
        .clone();
    assert_eq!(u["external_authentication"][0]["state"], "locked");
    // A temporary code works even while locked.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/security-code/temporary", c.user.0),
            json!({"hours": 1, "single_use": true}),
        )
        .await;
    let temp = r.json()["code"].as_str().unwrap().to_owned();
    assert_eq!(temp.len(), 6);
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": temp}),
        )
        .await;
    assert_eq!(r.json()["result"], true);
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": temp}),
        )
        .await;
    assert_eq!(r.json()["result"], false, "single use");
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/users/{}/security-code/unlock", c.user.0),
                json!({})
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0)}),
        )
        .await;
    assert_eq!(r.json()["result"], true, "unlocked");
    // Temporary codes expire, and bad durations are refused.
    let r = admin
        .post(
            &format!("/api/v1/users/{}/security-code/temporary", c.user.0),
            json!({"hours": 721}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hours"))
    );
    let temp = admin
        .post(
            &format!("/api/v1/users/{}/security-code/temporary", c.user.0),
            json!({"hours": 2}),
        )
        .await
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance_seconds(2 * 3600);
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": temp})
        )
        .await
        .json()["result"],
        false,
        "expired"
    );
    let mut admin = app.signed_in(&c.admin_name()).await; // the old session timed out meanwhile
    // Signing in with the real credential clears a temporary code.
    let temp = admin
        .post(
            &format!("/api/v1/users/{}/security-code/temporary", c.user.0),
            json!({"hours": 24}),
        )
        .await
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": app.totp(0)})
        )
        .await
        .json()["result"],
        true
    );
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": temp})
        )
        .await
        .json()["result"],
        false,
        "cleared"
    );
}

#[tokio::test]
async fn sync_disable_remove_and_validate_with_password() {
    let (app, c, mut admin) = setup().await;
    order(&mut admin, c.user, "UBHE00000002", "k").await;
    let secret = gatehouse_web::service::validate::create_client(
        &app.st,
        &gatehouse_web::service::Caller::cli(),
        "vpn",
    )
    .await
    .unwrap();
    let mut v = app.client();
    v.bearer = Some(secret);
    // HOTP 40 is beyond the look-ahead: refused until synchronized with 40 and 41.
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(40)})
        )
        .await
        .json()["result"],
        false
    );
    let sync = format!("/api/v1/users/{}/security-code/sync", c.user.0);
    let r = admin
        .post(
            &sync,
            json!({"code1": App::hotp(40), "code2": App::hotp(42)}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code2"))
    );
    assert_eq!(
        admin
            .post(
                &sync,
                json!({"code1": App::hotp(40), "code2": App::hotp(41)})
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(41)})
        )
        .await
        .json()["result"],
        false,
        "sync codes are used"
    );
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(42)})
        )
        .await
        .json()["result"],
        true
    );
    // With a password: both must be right.
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(43), "password": "wrong"}),
        )
        .await;
    assert_eq!(r.json()["result"], false);
    let r = v
        .post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(44), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.json()["result"], true);
    // Disabled credential: refused; enabled again: fine.
    assert_eq!(
        admin
            .post(
                &format!("/api/v1/users/{}/security-code/disable", c.user.0),
                json!({})
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(45)})
        )
        .await
        .json()["result"],
        false
    );
    admin
        .post(
            &format!("/api/v1/users/{}/security-code/enable", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": App::hotp(46)})
        )
        .await
        .json()["result"],
        true
    );
    // Remove: the user signs in with the password alone; the credential is free again.
    assert_eq!(
        admin
            .delete(&format!(
                "/api/v1/users/{}/external-authentication/symantec_vip",
                c.user.0
            ))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin
            .delete(&format!(
                "/api/v1/users/{}/external-authentication/symantec_vip",
                c.user.0
            ))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .json()["state"],
        "authenticated"
    );
    assert_eq!(
        order(&mut admin, c.admin, "UBHE00000002", "k2")
            .await
            .status,
        StatusCode::CREATED,
        "re-assignable after removal"
    );
    // Unknown users and clients.
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": "nobody", "code": "123456"})
        )
        .await
        .json()["result"],
        false
    );
    v.bearer = Some("gh_c_wrong".into());
    assert_eq!(
        v.post(
            "/api/v1/validate",
            json!({"username": c.user_name(), "code": "123456"})
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn other_accounts_cannot_order_or_recover() {
    let (app, a, _) = setup().await;
    let b = app.customer("beta").await;
    let mut bob = app.signed_in(&b.admin_name()).await;
    let t = a.user.0;
    let checks = [
        bob.post(
            &format!("/api/v1/users/{t}/external-authentication/quote"),
            json!({"method": "symantec_vip", "credential_id": "VSST00000001"}),
        )
        .await,
        order(&mut bob, a.user, "VSST00000001", "x").await,
        bob.post(
            &format!("/api/v1/users/{t}/security-code/temporary"),
            json!({"hours": 1}),
        )
        .await,
        bob.post(
            &format!("/api/v1/users/{t}/security-code/unlock"),
            json!({}),
        )
        .await,
        bob.post(
            &format!("/api/v1/users/{t}/security-code/sync"),
            json!({"code1": "1", "code2": "2"}),
        )
        .await,
        bob.delete(&format!(
            "/api/v1/users/{t}/external-authentication/symantec_vip"
        ))
        .await,
    ];
    for r in checks {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let mut user = app.signed_in(&a.user_name()).await;
    let r = user
        .post(
            &format!("/api/v1/users/{}/external-authentication/quote", a.user.0),
            json!({"method": "symantec_vip", "credential_id": "VSST00000001"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "plain users cannot order");
}

#[tokio::test]
async fn the_wizard_pages_order_and_cancel() {
    let (app, c, _) = setup().await;
    let mut admin = app.client();
    admin.page_login(&c.admin_name(), PASSWORD).await;
    let users = admin.get("/users").await;
    assert!(users.text.contains("Add External Authentication"));
    let r = admin
        .get(&format!(
            "/users/{}/action?action=add-external-authentication",
            c.user.0
        ))
        .await;
    let url = format!("/users/{}/external-authentication", c.user.0);
    assert_eq!(r.location(), url);
    let step1 = admin.get(&url).await;
    for label in [
        "Symantec Identity Protection",
        "PhoneFactor",
        "Credential ID",
        "Continue",
    ] {
        assert!(step1.text.contains(label), "{label}");
    }
    let csrf = Client::csrf_in(&step1.text);
    let r = admin
        .form(
            &url,
            &[
                ("csrf", &csrf),
                ("action", "continue"),
                ("method", "symantec_vip"),
                ("credential_id", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("f-credential_id-error"));
    let step2 = admin
        .form(
            &url,
            &[
                ("csrf", &csrf),
                ("action", "continue"),
                ("method", "symantec_vip"),
                ("credential_id", "vsst 0000 0001"),
            ],
        )
        .await;
    assert_eq!(step2.status, StatusCode::OK, "{}", step2.text);
    for label in [
        "Promo Code",
        "MSA Acknowledgement",
        "Order External Authentication",
        "Cancel",
        "5.00 USD",
        "Master Services Agreement",
    ] {
        assert!(step2.text.contains(label), "{label}");
    }
    let key = {
        let at = step2
            .text
            .find("name=\"idempotency_key\" value=\"")
            .unwrap()
            + 30;
        step2.text[at..at + step2.text[at..].find('"').unwrap()].to_owned()
    };
    let common = |action: &'static str, promo: &'static str, ack: bool| {
        let mut v = vec![
            ("action", action),
            ("method", "symantec_vip"),
            ("credential_id", "VSST00000001"),
            ("msa_version", "2026.1"),
            ("promo_code", promo),
        ];
        if ack {
            v.push(("msa_acknowledged", "yes"));
        }
        v
    };
    let mut fields = common("apply", "welcome50", false);
    fields.extend([("csrf", csrf.as_str()), ("idempotency_key", key.as_str())]);
    let applied = admin.form(&url, &fields).await;
    assert!(
        applied.text.contains("2.50 USD"),
        "the promo halves the fee"
    );
    let mut fields = common("cancel", "", false);
    fields.extend([("csrf", csrf.as_str()), ("idempotency_key", key.as_str())]);
    let r = admin.form(&url, &fields).await;
    assert_eq!(r.location(), "/users?notice=order-cancelled");
    {
        let mut conn = app.st.store.conn().await.unwrap();
        assert_eq!(
            gatehouse_store::orders::count(&mut conn, gatehouse_store::Scope::System)
                .await
                .unwrap(),
            0,
            "Cancel stores nothing"
        );
    }
    let mut fields = common("order", "WELCOME50", false);
    fields.extend([("csrf", csrf.as_str()), ("idempotency_key", key.as_str())]);
    let r = admin.form(&url, &fields).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("f-msa-error"), "the MSA box must be ticked");
    let mut fields = common("order", "WELCOME50", true);
    fields.extend([("csrf", csrf.as_str()), ("idempotency_key", key.as_str())]);
    let r1 = admin.form(&url, &fields).await;
    let r2 = admin.form(&url, &fields).await;
    assert_eq!(r1.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r1.location(),
        r2.location(),
        "a double submission lands on the same order"
    );
    let confirmation = admin.get(r1.location()).await;
    assert!(confirmation.text.contains("What happens next"));
    assert!(
        confirmation
            .text
            .contains("Security Code associated with the user's Credential ID")
    );
    let users = admin.get("/users").await;
    assert!(
        users
            .text
            .contains("Symantec Identity Protection (VSST••••0001)"),
        "masked credential in the column"
    );
    let mut conn = app.st.store.conn().await.unwrap();
    assert_eq!(
        gatehouse_store::orders::count(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn security_code_page_signs_in() {
    let (app, c, mut admin) = setup().await;
    order(&mut admin, c.user, "VSST00000001", "k").await;
    let mut user = app.client();
    let r = user.page_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.location(), "/login/security-code");
    assert_eq!(
        user.get("/security").await.location(),
        "/login/second-factor"
    );
    assert_eq!(
        user.get("/login/second-factor").await.location(),
        "/login/security-code"
    );
    let page = user.get("/login/security-code").await;
    assert!(page.text.contains("Security Code"));
    let csrf = Client::csrf_in(&page.text);
    let r = user
        .form(
            "/login/security-code",
            &[("csrf", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("f-code-error"));
    let r = user
        .form(
            "/login/security-code",
            &[("csrf", &csrf), ("code", &app.totp(0))],
        )
        .await;
    assert_eq!(r.location(), "/security");
    assert_eq!(user.get("/security").await.status, StatusCode::OK);
}

#[tokio::test]
async fn pskc_import_refuses_duplicates_and_bad_files_import_nothing() {
    use gatehouse_domain::pskc::DecryptionKey;
    use gatehouse_web::service::{Caller, credentials};
    let app = spawn_app().await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../domain/tests/fixtures/");
    let xml = std::fs::read(format!("{fixtures}pskc-preshared.xml")).unwrap();
    let key = || {
        Some(DecryptionKey::PreShared(
            hex::decode("000102030405060708090a0b0c0d0e0f").unwrap(),
        ))
    };
    let cli = Caller::cli();
    let first = credentials::import_pskc(&app.st, &cli, &xml, key(), "preshared.xml")
        .await
        .unwrap();
    assert_eq!(first.imported.len(), 3, "{:?}", first.refused);
    let again = credentials::import_pskc(&app.st, &cli, &xml, key(), "preshared.xml")
        .await
        .unwrap();
    assert!(again.imported.is_empty());
    assert_eq!(
        again.refused.len(),
        3,
        "re-imports are refused per key, never overwritten"
    );
    let wrong = credentials::import_pskc(
        &app.st,
        &cli,
        &xml,
        Some(DecryptionKey::PreShared(vec![0xff; 16])),
        "x",
    )
    .await;
    let msg = wrong.err().unwrap().message();
    assert!(msg.contains("Key package 1"), "{msg}");
    let none = credentials::import_pskc(&app.st, &cli, &xml, None, "x")
        .await
        .err()
        .unwrap()
        .message();
    assert!(none.to_lowercase().contains("key"), "{none}");
    let mut conn = app.st.store.conn().await.unwrap();
    let (_, total) = gatehouse_store::credentials::list(&mut conn, "", 100, 0)
        .await
        .unwrap();
    assert_eq!(total, 3, "failed imports added nothing");
    // Seeds are sealed at rest: the stored bytes are not the secret.
    let stored = gatehouse_store::credentials::by_credential_id(&mut conn, "VSST12345678")
        .await
        .unwrap();
    let sealed = stored.sealed_secret.unwrap();
    assert!(
        !sealed.windows(20).any(|w| w == SEED),
        "secret stored in clear"
    );
    assert_eq!(
        app.st
            .config
            .master_key
            .open(&sealed, b"VSST12345678")
            .unwrap(),
        SEED
    );
}

#[tokio::test]
async fn the_operator_runs_the_catalog_and_inventory_through_the_api() {
    let app = spawn_app().await;
    let first = gatehouse_web::service::accounts::first_run(&app.st)
        .await
        .unwrap()
        .unwrap();
    let mut op = app.client();
    op.api_login("operator", &first.one_time_password).await;
    op.post("/api/v1/me/password", json!({"current_password": first.one_time_password, "new_password": "Operator-Passphrase-1"})).await;
    op.refresh_csrf().await;
    let r = op
        .send(
            axum::http::Method::PUT,
            "/api/v1/prices/symantec_vip",
            Body2::Json(json!({"amount": 450, "currency": "eur"})),
            true,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["currency"].as_str()),
        (StatusCode::OK, Some("EUR")),
        "{}",
        r.text
    );
    let r = op
        .send(
            axum::http::Method::PUT,
            "/api/v1/prices/symantec_vip",
            Body2::Json(json!({"amount": -1, "currency": "EUR"})),
            true,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("amount"))
    );
    assert_eq!(
        op.post(
            "/api/v1/promo-codes",
            json!({"code": "spring", "percent_off": 20, "months": 2})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        op.post(
            "/api/v1/promo-codes",
            json!({"code": "SPRING", "percent_off": 20})
        )
        .await
        .status,
        StatusCode::CONFLICT,
        "case-insensitive"
    );
    let r = op
        .post(
            "/api/v1/promo-codes",
            json!({"code": "BOTH", "percent_off": 20, "amount_off": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        op.get("/api/v1/promo-codes").await.json()[0]["code"],
        "SPRING"
    );
    assert_eq!(
        op.post("/api/v1/msa", json!({"version": "v1", "text": "Terms."}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        op.post("/api/v1/msa", json!({"version": "v1", "text": "Other"}))
            .await
            .status,
        StatusCode::CONFLICT,
        "versions never change"
    );
    assert_eq!(op.get("/api/v1/msa").await.json()["version"], "v1");
    let soft = op
        .post("/api/v1/tokens/soft", json!({"count": 2}))
        .await
        .json();
    assert_eq!(soft.as_array().unwrap().len(), 2);
    assert!(
        soft[0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Gatehouse:GHST")
    );
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../domain/tests/fixtures/pskc-plain.xml"
    ))
    .unwrap();
    let r = op.post("/api/v1/tokens/import", json!({"pskc": xml})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["imported"].as_array().unwrap().len(), 3);
    let list = op.get("/api/v1/tokens").await.json();
    assert_eq!(list["total"], 5);
    let secret = op
        .post("/api/v1/api-clients", json!({"name": "radius"}))
        .await
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("gh_c_"));
    // Customers' administrators cannot touch any of it.
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    for r in [
        admin
            .send(
                axum::http::Method::PUT,
                "/api/v1/prices/symantec_vip",
                Body2::Json(json!({"amount": 1, "currency": "EUR"})),
                true,
            )
            .await,
        admin
            .post(
                "/api/v1/promo-codes",
                json!({"code": "FREE", "percent_off": 100}),
            )
            .await,
        admin
            .post("/api/v1/msa", json!({"version": "v2", "text": "x"}))
            .await,
        admin.post("/api/v1/tokens/soft", json!({"count": 1})).await,
        admin
            .post("/api/v1/tokens/import", json!({"pskc": xml}))
            .await,
        admin.get("/api/v1/tokens").await,
        admin
            .post("/api/v1/api-clients", json!({"name": "x"}))
            .await,
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
}

#[tokio::test]
async fn remote_credentials_are_validated_by_the_vendors_service() {
    use gatehouse_vip::fake::FakeVip;
    use gatehouse_web::service::{Caller, credentials};
    let vip = FakeVip::start().await;
    vip.add_credential("SYMC26070843", ["654321", "111222"]);
    let config = gatehouse_web::AppConfig {
        remote_validator: Some(std::sync::Arc::new(
            vip.validator(std::time::Duration::from_secs(2)),
        )),
        ..Default::default()
    };
    let app = spawn_app_with(config).await;
    app.catalog().await;
    let added = credentials::add_remote(&app.st, &Caller::cli(), &["symc 2607 0843".to_owned()])
        .await
        .unwrap();
    assert_eq!(added.imported, vec!["SYMC26070843".to_owned()]);
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    assert_eq!(
        order(&mut admin, c.user, "SYMC26070843", "k").await.status,
        StatusCode::CREATED
    );
    let mut user = app.client();
    assert_eq!(
        user.api_login(&c.user_name(), PASSWORD).await.json()["state"],
        "second_factor_required"
    );
    assert_eq!(
        user.post("/api/v1/login/security-code", json!({"code": "000000"}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = user
        .post("/api/v1/login/security-code", json!({"code": "654321"}))
        .await;
    assert_eq!(r.json()["state"], "authenticated", "{}", r.text);
    let sent = vip.requests();
    assert!(
        sent.iter().any(|r| r.body.contains("SYMC26070843")),
        "the TokenId went to the service"
    );
    // The vendor enforces one-time use: the same code again is refused.
    let mut again = app.client();
    again.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        again
            .post("/api/v1/login/security-code", json!({"code": "654321"}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Without a reachable service nobody gets in, and operators can read why.
    vip.set_behaviour(gatehouse_vip::fake::FakeBehaviour::HttpStatus(503));
    let mut down = app.client();
    down.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        down.post("/api/v1/login/security-code", json!({"code": "111222"}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let log = admin.get("/api/v1/audit").await.json();
    let details: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or(""))
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("remote validation unavailable")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("validated by the vendor's service")),
        "{details:?}"
    );
}

#[tokio::test]
async fn deleting_a_user_ends_their_external_authentication() {
    let (app, c, mut admin) = setup().await;
    order(&mut admin, c.user, "VSST00000001", "k").await;
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let mut conn = app.st.store.conn().await.unwrap();
    let cred = gatehouse_store::credentials::by_credential_id(&mut conn, "VSST00000001")
        .await
        .unwrap();
    assert_eq!(cred.user_id, None, "the credential is free again");
    drop(conn);
    assert_eq!(
        order(&mut admin, c.admin, "VSST00000001", "k2")
            .await
            .status,
        StatusCode::CREATED
    );
}
