//! The role rule (SPEC §1): only operators act on operators. An
//! administrator of the provider's own account sees the operators in the
//! Users screen, but cannot modify them or run any second-factor recovery
//! action on them.

use crate::support::*;
use axum::http::{Method, StatusCode};
use gatehouse_domain::{Role, UserId, UserStatus};
use gatehouse_store::phonefactor as pf;
use gatehouse_store::{Scope, Users};
use serde_json::json;

const CREDENTIAL: &str = "VSST00000042";

struct Provider {
    /// An operator who orders and checks.
    boss: Client,
    /// The operator the administrator tries to act on.
    target: UserId,
    /// An administrator of the provider's own account, signed in.
    admin: Client,
    /// A plain user of the provider's account.
    plain: UserId,
}

/// The provider's account with two operators, an administrator and a user;
/// the target operator has Symantec Identity Protection (ordered by the
/// other operator) and an active, fraud-blocked PhoneFactor.
async fn provider(app: &App) -> Provider {
    let account = app.provider().await.id;
    app.catalog().await;
    app.credential(CREDENTIAL, false).await;
    app.user(account, "op-boss", "operator").await;
    let target = app.user(account, "op-target", "operator").await;
    app.user(account, "prov-admin", "admin").await;
    let plain = app.user(account, "prov-user", "user").await;
    let mut boss = app.signed_in("op-boss").await;
    let r = order(&mut boss, target, CREDENTIAL, "op-order").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    {
        let now = T0;
        let mut conn = app.st.store.conn().await.unwrap();
        let target = Users::system().get(&mut conn, target).await.unwrap();
        pf::await_activation(&mut conn, &target, now).await.unwrap();
        assert!(
            pf::activate(
                &mut conn,
                &target,
                &pf::Activation {
                    phone: "+14155550199",
                    mode: "sms",
                    device_id: None,
                    device_key: None,
                    app_secret: None,
                },
                now,
            )
            .await
            .unwrap()
        );
        pf::set_fraud_block(&mut conn, &target, now.plus_minutes(60), now)
            .await
            .unwrap();
    }
    let admin = app.signed_in("prov-admin").await;
    Provider {
        boss,
        target,
        admin,
        plain,
    }
}

/// Everything about the target operator that an action could change.
async fn snapshot(app: &App, id: UserId) -> String {
    let mut conn = app.st.store.conn().await.unwrap();
    let u = Users::system().get(&mut conn, id).await.unwrap();
    let hash = Users::new(Scope::All)
        .password_hash(&mut conn, id)
        .await
        .unwrap();
    let cred = gatehouse_store::credentials::for_user(&mut conn, &u)
        .await
        .unwrap();
    let temp = gatehouse_store::credentials::temporary_code(&mut conn, &u)
        .await
        .unwrap();
    let subs = gatehouse_store::orders::active_for_users(&mut conn, std::slice::from_ref(&u))
        .await
        .unwrap();
    let p = pf::get(&mut conn, &u).await.unwrap();
    format!(
        "{u:?}|{hash}|{cred:?}|{}|{}|{p:?}",
        temp.is_some(),
        subs.len()
    )
}

/// Every action on a user, as `(method, path suffix, body)`.
fn actions() -> Vec<(Method, &'static str, serde_json::Value)> {
    vec![
        (Method::PATCH, "", json!({"status": "disabled"})),
        (Method::PATCH, "", json!({"email": "evil@example.test"})),
        (Method::PATCH, "", json!({"name": "Evil"})),
        (Method::PATCH, "", json!({"role": "user"})),
        (Method::POST, "/reset-password", json!({})),
        (
            Method::DELETE,
            "/external-authentication/symantec_vip",
            json!({}),
        ),
        (
            Method::POST,
            "/security-code/temporary",
            json!({"hours": 1}),
        ),
        (Method::POST, "/security-code/unlock", json!({})),
        (
            Method::POST,
            "/security-code/sync",
            json!({"code1": "123456", "code2": "654321"}),
        ),
        (Method::POST, "/security-code/disable", json!({})),
        (Method::POST, "/security-code/enable", json!({})),
        (Method::POST, "/phonefactor/deactivate", json!({})),
        (Method::POST, "/phonefactor/clear-block", json!({})),
        (Method::POST, "/phonefactor/bypass", json!({"minutes": 5})),
        (
            Method::POST,
            "/external-authentication/quote",
            json!({"method": "phonefactor"}),
        ),
        (Method::DELETE, "", json!({})),
    ]
}

async fn act(
    c: &mut Client,
    m: &Method,
    user: UserId,
    suffix: &str,
    body: &serde_json::Value,
) -> Resp {
    let path = format!("/api/v1/users/{}{suffix}", user.0);
    let body = if *m == Method::DELETE {
        Body2::None
    } else {
        Body2::Json(body.clone())
    };
    c.send(m.clone(), &path, body, true).await
}

#[tokio::test]
async fn a_provider_administrator_cannot_act_on_an_operator() {
    let app = spawn_app().await;
    let mut p = provider(&app).await;
    let before = snapshot(&app, p.target).await;
    let audit_before = {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap()
            .len()
    };
    // The operator is in the administrator's view (same account)...
    let r = p.admin.get(&format!("/api/v1/users/{}", p.target.0)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // ...but every action on them is refused, and changes nothing.
    for (m, suffix, body) in actions() {
        let r = act(&mut p.admin, &m, p.target, suffix, &body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{m} {suffix} {body}: {}",
            r.text
        );
        assert_eq!(
            snapshot(&app, p.target).await,
            before,
            "{m} {suffix} changed the operator"
        );
    }
    let r = p
        .admin
        .send_with(
            Method::POST,
            &format!(
                "/api/v1/users/{}/external-authentication/orders",
                p.target.0
            ),
            Body2::Json(
                json!({"method": "phonefactor", "msa_version": "2026.1", "msa_acknowledged": true}),
            ),
            true,
            &[("idempotency-key", "admin-order")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "order: {}", r.text);
    assert_eq!(snapshot(&app, p.target).await, before);
    let audit_after = {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(audit_before, audit_after, "no action was recorded as done");

    // The same through the pages.
    let mut page = app.client();
    let r = page.page_login("prov-admin", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let form = page.get(&format!("/users/{}/disable", p.target.0)).await;
    let csrf = Client::csrf_in(&form.text);
    for action in [
        "disable",
        "reset-password",
        "delete",
        "security-code/disable",
        "security-code/unlock",
        "phonefactor/deactivate",
        "phonefactor/clear-block",
        "phonefactor/bypass",
        "external-authentication/remove",
    ] {
        let r = page
            .form(
                &format!("/users/{}/{action}", p.target.0),
                &[
                    ("csrf", &csrf),
                    ("minutes", "5"),
                    ("method", "symantec_vip"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "page {action}: {}", r.text);
    }
    assert_eq!(snapshot(&app, p.target).await, before);

    // The administrator still administers the other users of the account,
    // and an operator still acts on operators.
    let r = act(
        &mut p.admin,
        &Method::PATCH,
        p.plain,
        "",
        &json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = act(
        &mut p.boss,
        &Method::POST,
        p.target,
        "/phonefactor/clear-block",
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = act(
        &mut p.boss,
        &Method::PATCH,
        p.target,
        "",
        &json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut conn = app.st.store.conn().await.unwrap();
    let t = Users::new(Scope::All)
        .get(&mut conn, p.target)
        .await
        .unwrap();
    assert_eq!((t.role, t.status), (Role::Operator, UserStatus::Disabled));
    assert_eq!(
        Users::new(Scope::All)
            .get(&mut conn, p.plain)
            .await
            .unwrap()
            .status,
        UserStatus::Disabled
    );
}

#[tokio::test]
async fn a_customer_administrator_does_not_even_find_an_operator() {
    let app = spawn_app().await;
    let mut p = provider(&app).await;
    let before = snapshot(&app, p.target).await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    for (m, suffix, body) in actions() {
        let r = act(&mut admin, &m, p.target, suffix, &body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {suffix}: {}", r.text);
    }
    assert_eq!(snapshot(&app, p.target).await, before);
    // Nor can the provider's administrator make an operator.
    let r = act(
        &mut p.admin,
        &Method::PATCH,
        p.plain,
        "",
        &json!({"role": "operator"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}
