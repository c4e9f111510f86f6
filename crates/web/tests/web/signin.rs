use crate::support::*;
use axum::http::StatusCode;
use gatehouse_web::AppConfig;
use serde_json::json;

#[tokio::test]
async fn api_login_succeeds_and_rotates_the_session() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut client = app.client();
    client.refresh_csrf().await;
    assert_eq!(
        client.session_cookie(),
        None,
        "no session before a password is accepted"
    );
    let anonymous_csrf = client.csrf.clone().expect("a CSRF token for the sign-in");
    let r = client
        .post(
            "/api/v1/login",
            json!({"username": c.admin_name(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["state"], "authenticated");
    assert_eq!(r.json()["methods"], json!([]));
    assert!(client.session_cookie().is_some());
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The anonymous token is no good for the signed-in session.
    let r = client.post("/api/v1/logout", json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    client.refresh_csrf().await;
    assert_ne!(client.csrf.as_deref(), Some(anonymous_csrf.as_str()));
    let s = client.get("/api/v1/session").await.json();
    assert_eq!(s["user"]["username"], c.admin_name());
    assert_eq!(s["state"], "authenticated");
}

#[tokio::test]
async fn failures_are_indistinguishable() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let wrong = app
        .client()
        .api_login(&c.user_name(), "wrong-password-1")
        .await;
    let unknown = app
        .client()
        .api_login("nobody-at-all", "wrong-password-1")
        .await;
    let invalid_name = app.client().api_login("x", "wrong-password-1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.text, invalid_name.text);
    assert_eq!(
        wrong.json()["error"],
        "The username or password is incorrect."
    );
}

#[tokio::test]
async fn ten_failures_lock_the_user_for_fifteen_minutes_then_thirty() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let generic = app.client().api_login(&c.user_name(), "wrong").await.text;
    for _ in 0..9 {
        app.client().api_login(&c.user_name(), "wrong").await;
    }
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(
        (r.status, r.text.clone()),
        (StatusCode::UNAUTHORIZED, generic.clone()),
        "locked: same answer"
    );
    app.clock.advance_seconds(14 * 60);
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance_seconds(60);
    // The lock has run out; ten more failures lock for twice as long.
    for _ in 0..10 {
        app.client().api_login(&c.user_name(), "wrong").await;
    }
    app.clock.advance_seconds(29 * 60);
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance_seconds(60);
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    // Audited.
    let mut admin = app.signed_in(&c.admin_name()).await;
    let log = admin.get("/api/v1/audit").await.json();
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "user_locked").count(), 2);
}

#[tokio::test]
async fn a_client_address_is_throttled_after_too_many_failures() {
    let app = spawn_app_with(AppConfig {
        address_failure_limit: 5,
        ..Default::default()
    })
    .await;
    let c = app.customer("alpha").await;
    for i in 0..5 {
        let r = app.client().api_login(&format!("nobody{i}"), "wrong").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.client().api_login(&c.admin_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Try again in 15 minutes"),
        "{}",
        r.text
    );
    assert!(r.headers.contains_key("retry-after"));
    // Another address is not affected.
    let mut other = app.client();
    other.addr = "10.9.9.9:1".parse().unwrap();
    assert_eq!(
        other.api_login(&c.admin_name(), PASSWORD).await.status,
        StatusCode::OK
    );
    app.clock.advance_seconds(15 * 60);
    assert_eq!(
        app.client()
            .api_login(&c.admin_name(), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn disabled_users_cannot_sign_in_and_lose_their_sessions() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut user = app.signed_in(&c.user_name()).await;
    assert_eq!(
        user.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .patch(
            &format!("/api/v1/users/{}", c.user.0),
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.client().api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_time_out_when_idle_and_absolutely() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    app.clock.advance_seconds(29 * 60);
    assert_eq!(admin.get("/api/v1/users").await.status, StatusCode::OK);
    app.clock.advance_seconds(29 * 60);
    assert_eq!(
        admin.get("/api/v1/users").await.status,
        StatusCode::OK,
        "activity kept it alive"
    );
    app.clock.advance_seconds(31 * 60);
    assert_eq!(
        admin.get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED,
        "idle timeout"
    );

    let mut busy = app.signed_in(&c.admin_name()).await;
    for _ in 0..(12 * 60 / 20) {
        app.clock.advance_seconds(20 * 60);
        let s = busy.get("/api/v1/users").await.status;
        if s == StatusCode::UNAUTHORIZED {
            return;
        }
    }
    panic!("the absolute timeout of 12 hours did not end the session");
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_header_and_bearer_writes_do_not() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let body = json!({"username": "dave", "email": "dave@example.test", "role": "user", "password": "Dave-Password-2026!"});
    let r = admin
        .send(
            axum::http::Method::POST,
            "/api/v1/users",
            Body2::Json(body.clone()),
            false,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["error"].as_str().unwrap().contains("X-CSRF-Token"));
    admin.csrf = Some("forged".into());
    assert_eq!(
        admin.post("/api/v1/users", body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    admin.refresh_csrf().await;
    assert_eq!(
        admin.post("/api/v1/users", body).await.status,
        StatusCode::CREATED
    );

    // A bearer token: no CSRF needed; a wrong token is refused.
    let token = gatehouse_domain::secret::new_token("gh_t_");
    {
        let mut conn = app.st.store.conn().await.unwrap();
        gatehouse_store::tokens::create(
            &mut conn,
            c.admin,
            "t",
            &gatehouse_domain::secret::digest(&token),
            T0,
            T0.plus_minutes(60),
        )
        .await
        .unwrap();
    }
    let mut bearer = app.client();
    bearer.bearer = Some(token);
    let r = bearer.post("/api/v1/users", json!({"username": "erin", "email": "erin@example.test", "role": "user", "password": "Erin-Password-2026!"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    bearer.bearer = Some("gh_t_wrong".into());
    assert_eq!(
        bearer.get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forced_password_change_after_a_reset() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .post(
            &format!("/api/v1/users/{}/reset-password", c.user.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let otp = r.json()["one_time_password"].as_str().unwrap().to_owned();
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "old password gone"
    );
    let mut user = app.client();
    let r = user.api_login(&c.user_name(), &otp).await;
    assert_eq!(r.json()["state"], "password_change_required");
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "nothing else until changed"
    );
    let r = user
        .post(
            "/api/v1/me/password",
            json!({"current_password": otp, "new_password": "short"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let r = user
        .post(
            "/api/v1/me/password",
            json!({"current_password": "not-it", "new_password": "A-Brand-New-Passphrase"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password"))
    );
    let r = user
        .post(
            "/api/v1/me/password",
            json!({"current_password": otp, "new_password": "A-Brand-New-Passphrase"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    user.refresh_csrf().await;
    assert_eq!(
        user.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );
    assert_eq!(
        app.client()
            .api_login(&c.user_name(), "A-Brand-New-Passphrase")
            .await
            .json()["state"],
        "authenticated"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let cookie = admin.session_cookie().unwrap();
    assert_eq!(
        admin.post("/api/v1/logout", json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    let mut replay = app.client();
    replay.cookies.insert("gatehouse_session".into(), cookie);
    assert_eq!(
        replay.get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED
    );
}
