//! Bearer API tokens: expiry, listing, revocation, and their end with the
//! user's disable, deletion or new password; who may manage whose.

use crate::support::*;
use axum::http::StatusCode;
use gatehouse_domain::{Timestamp, UserId};
use gatehouse_web::service::{Caller, tokens};
use serde_json::json;

const DAY: i64 = 24 * 60 * 60;

/// A token for `user` made from the command line; its id and secret.
async fn cli_token(app: &App, user: UserId, days: Option<i64>) -> (i64, String) {
    let t = tokens::create(&app.st, &Caller::cli(), user, Some("test"), days)
        .await
        .unwrap();
    (t.token.id, t.secret)
}

fn bearer(app: &App, token: &str) -> Client {
    let mut c = app.client();
    c.bearer = Some(token.to_owned());
    c
}

/// The status of a call made with `token`.
async fn works(app: &App, token: &str) -> StatusCode {
    bearer(app, token).get("/api/v1/api-tokens").await.status
}

fn ids(list: &serde_json::Value) -> Vec<i64> {
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

async fn actions(app: &App) -> Vec<String> {
    let mut conn = app.st.store.conn().await.unwrap();
    gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.record.action, e.record.actor, e.record.detail))
        .collect()
}

#[tokio::test]
async fn tokens_expire_list_and_revoke() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut user = app.signed_in(&c.user_name()).await;

    // Created once, shown once; 90 days unless asked otherwise.
    let r = user
        .post("/api/v1/api-tokens", json!({"name": "laptop"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let long = r.json()["token"].as_str().unwrap().to_owned();
    let long_id = r.json()["id"].as_i64().unwrap();
    assert_eq!(
        r.json()["expires_at"],
        Timestamp(T0.millis() + 90 * DAY * 1000).to_rfc3339()
    );
    let r = user
        .post("/api/v1/api-tokens", json!({"expires_in_days": 1}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let short = r.json()["token"].as_str().unwrap().to_owned();
    let short_id = r.json()["id"].as_i64().unwrap();
    for bad in [0, -1, 10_000] {
        let r = user
            .post("/api/v1/api-tokens", json!({"expires_in_days": bad}))
            .await;
        assert_eq!(
            (r.status, r.json()["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("expires_in_days"))
        );
    }
    let list = user.get("/api/v1/api-tokens").await;
    assert_eq!(ids(&list.json()), vec![long_id, short_id]);
    assert!(!list.text.contains(&long), "the secret is never listed");
    assert_eq!(works(&app, &short).await, StatusCode::OK);

    // A token cannot mint another (it would outlive its own revocation).
    let r = bearer(&app, &long)
        .post("/api/v1/api-tokens", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Expiry: good up to the last moment, refused after.
    app.clock.advance_seconds(DAY - 1);
    assert_eq!(works(&app, &short).await, StatusCode::OK);
    app.clock.advance_seconds(1);
    assert_eq!(works(&app, &short).await, StatusCode::UNAUTHORIZED);
    let list = bearer(&app, &long).get("/api/v1/api-tokens").await;
    assert_eq!(ids(&list.json()), vec![long_id], "only live tokens");

    // Revocation, with the token itself: refused from then on.
    let r = bearer(&app, &long)
        .delete(&format!("/api/v1/api-tokens/{long_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(works(&app, &long).await, StatusCode::UNAUTHORIZED);
    let mut user = app.signed_in(&c.user_name()).await;
    let r = user.delete(&format!("/api/v1/api-tokens/{long_id}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "already ended: {}", r.text);
    assert!(ids(&user.get("/api/v1/api-tokens").await.json()).is_empty());

    let log = actions(&app).await;
    assert_eq!(
        log.iter()
            .filter(|a| a.starts_with("api_token_create alpha-user"))
            .count(),
        2,
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|a| a.starts_with(&format!("api_token_revoke alpha-user token {long_id}"))),
        "{log:?}"
    );
}

#[tokio::test]
async fn disable_password_reset_password_change_and_delete_end_tokens() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let path = format!("/api/v1/users/{}", c.user.0);

    // Disabled: ended for good, enabling again does not bring it back.
    let (_, t) = cli_token(&app, c.user, None).await;
    assert_eq!(works(&app, &t).await, StatusCode::OK);
    let r = admin.patch(&path, json!({"status": "disabled"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(works(&app, &t).await, StatusCode::UNAUTHORIZED);
    let r = admin.patch(&path, json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(works(&app, &t).await, StatusCode::UNAUTHORIZED);

    // Password reset by an administrator.
    let (_, t) = cli_token(&app, c.user, None).await;
    assert_eq!(works(&app, &t).await, StatusCode::OK);
    let r = admin
        .post(&format!("{path}/reset-password"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(works(&app, &t).await, StatusCode::UNAUTHORIZED);

    // The user's own password change.
    let (_, t) = cli_token(&app, c.admin, None).await;
    assert_eq!(works(&app, &t).await, StatusCode::OK);
    let r = admin
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "A-Brand-New-Passphrase-7"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(works(&app, &t).await, StatusCode::UNAUTHORIZED);

    // Deleted.
    let other = app.user(c.id, "alpha-other", "user").await;
    let (_, t) = cli_token(&app, other, None).await;
    assert_eq!(works(&app, &t).await, StatusCode::OK);
    admin.refresh_csrf().await;
    let r = admin.delete(&format!("/api/v1/users/{}", other.0)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(works(&app, &t).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_are_managed_by_their_user_and_within_the_account() {
    let app = spawn_app().await;
    let a = app.customer("alpha").await;
    let b = app.customer("beta").await;
    let (a_id, a_token) = cli_token(&app, a.user, None).await;
    let (b_id, _) = cli_token(&app, b.user, None).await;
    let (a_admin_id, _) = cli_token(&app, a.admin, None).await;

    // Another user can neither see nor revoke A's token.
    let mut user_b = app.signed_in(&b.user_name()).await;
    assert_eq!(
        ids(&user_b.get("/api/v1/api-tokens").await.json()),
        vec![b_id]
    );
    let r = user_b.delete(&format!("/api/v1/api-tokens/{a_id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = user_b
        .get(&format!("/api/v1/api-tokens?username={}", a.user_name()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = user_b
        .post("/api/v1/api-tokens", json!({"username": a.user_name()}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // A user's token does not reach other users' tokens either.
    let r = bearer(&app, &a_token)
        .delete(&format!("/api/v1/api-tokens/{a_admin_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(works(&app, &a_token).await, StatusCode::OK);

    // The administrator of account B sees B's tokens only.
    let mut admin_b = app.signed_in(&b.admin_name()).await;
    assert_eq!(
        ids(&admin_b.get("/api/v1/api-tokens").await.json()),
        vec![b_id]
    );
    let r = admin_b
        .get(&format!("/api/v1/api-tokens?username={}", a.user_name()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = admin_b.delete(&format!("/api/v1/api-tokens/{a_id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(works(&app, &a_token).await, StatusCode::OK);

    // The administrator of account A lists and revokes A's users' tokens,
    // but makes tokens only for themselves.
    let mut admin_a = app.signed_in(&a.admin_name()).await;
    assert_eq!(
        ids(&admin_a.get("/api/v1/api-tokens").await.json()),
        vec![a_id, a_admin_id]
    );
    let r = admin_a
        .post("/api/v1/api-tokens", json!({"username": a.user_name()}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = admin_a.delete(&format!("/api/v1/api-tokens/{a_id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(works(&app, &a_token).await, StatusCode::UNAUTHORIZED);

    // An operator manages everyone's.
    let provider = app.provider().await;
    let op = app.user(provider.id, "op-tokens", "operator").await;
    let (op_token_id, _) = cli_token(&app, op, None).await;
    let mut operator = app.signed_in("op-tokens").await;
    let all = ids(&operator.get("/api/v1/api-tokens").await.json());
    assert_eq!(all, vec![b_id, a_admin_id, op_token_id]);
    let r = operator
        .post(
            "/api/v1/api-tokens",
            json!({"username": b.user_name(), "expires_in_days": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["username"], b.user_name());
    let r = operator.delete(&format!("/api/v1/api-tokens/{b_id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // The provider's own administrator cannot touch an operator's token.
    app.user(provider.id, "prov-admin", "admin").await;
    let mut prov_admin = app.signed_in("prov-admin").await;
    let r = prov_admin
        .delete(&format!("/api/v1/api-tokens/{op_token_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = prov_admin
        .post("/api/v1/api-tokens", json!({"username": "op-tokens"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(ids(&operator.get("/api/v1/api-tokens").await.json()).contains(&op_token_id));
}

#[tokio::test]
async fn the_token_calls_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc = app.client().get("/api/openapi.json").await.json();
    let paths = &doc["paths"];
    assert!(paths["/api/v1/api-tokens"]["get"].is_object(), "{paths}");
    assert!(paths["/api/v1/api-tokens"]["post"].is_object());
    assert!(paths["/api/v1/api-tokens/{id}"]["delete"].is_object());
}
