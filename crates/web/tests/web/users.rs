use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admins_create_list_update_and_delete_users() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .post("/api/v1/users", json!({"username": "Carol", "email": "carol@Example.TEST", "name": "Carol C", "role": "user", "password": "Carol-Password-2026!"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let carol = r.json();
    assert_eq!(carol["username"], "carol", "usernames are normalised");
    assert_eq!(carol["email"], "carol@example.test");
    assert_eq!(carol["account_number"], c.number.as_str());
    assert_eq!(carol["external_authentication"], json!([]));
    assert!(carol.get("one_time_password").is_none());
    let id = carol["id"].as_i64().unwrap();

    let list = admin.get("/api/v1/users?query=car").await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["username"], "carol");
    assert_eq!(admin.get("/api/v1/users").await.json()["total"], 3);

    let r = admin
        .patch(
            &format!("/api/v1/users/{id}"),
            json!({"name": "Carol Chen", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.json()["name"].as_str(), r.json()["role"].as_str()),
        (Some("Carol Chen"), Some("admin"))
    );

    assert_eq!(
        admin.delete(&format!("/api/v1/users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.get(&format!("/api/v1/users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    let log = admin.get("/api/v1/audit").await.json();
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["user_create", "user_update", "user_delete", "sign_in"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let cases = [
        (
            json!({"username": "x", "email": "x@example.test", "role": "user", "password": "Long-Enough-Pass-1"}),
            "username",
            422,
        ),
        (
            json!({"username": "xavier", "email": "not-an-email", "role": "user", "password": "Long-Enough-Pass-1"}),
            "email",
            422,
        ),
        (
            json!({"username": "xavier", "email": "x@example.test", "role": "root", "password": "Long-Enough-Pass-1"}),
            "role",
            422,
        ),
        (
            json!({"username": "xavier", "email": "x@example.test", "role": "user", "password": "short"}),
            "password",
            422,
        ),
        (
            json!({"username": "xavier", "email": "x@example.test", "role": "user", "password": "password1234"}),
            "password",
            422,
        ),
        (
            json!({"username": c.user_name(), "email": "x@example.test", "role": "user", "password": "Long-Enough-Pass-1"}),
            "username",
            409,
        ),
    ];
    for (body, field, status) in cases {
        let r = admin.post("/api/v1/users", body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_eq!(r.json()["field"], field, "{body}");
        assert!(!r.json()["error"].as_str().unwrap().is_empty());
    }
    let r = admin
        .send(
            axum::http::Method::POST,
            "/api/v1/users",
            Body2::Form(&[("username", "x")]),
            true,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "wrong content type: {}",
        r.text
    );
    assert!(r.json()["error"].is_string());
    assert_eq!(
        admin.get("/api/v1/users").await.json()["total"],
        2,
        "nothing was created"
    );
}

#[tokio::test]
async fn role_rules() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin.post("/api/v1/users", json!({"username": "op2", "email": "op@example.test", "role": "operator", "password": "Long-Enough-Pass-1"})).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "admins cannot make operators"
    );
    let r = admin
        .patch(
            &format!("/api/v1/users/{}", c.admin.0),
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let r = admin
        .patch(
            &format!("/api/v1/users/{}", c.admin.0),
            json!({"role": "user"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    assert_eq!(
        admin
            .delete(&format!("/api/v1/users/{}", c.admin.0))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin.get("/api/v1/accounts").await.status,
        StatusCode::FORBIDDEN
    );

    // A plain user manages no one, but can read themself.
    let mut user = app.signed_in(&c.user_name()).await;
    assert_eq!(
        user.get("/api/v1/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.user.0))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        user.get(&format!("/api/v1/users/{}", c.admin.0))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        user.get("/api/v1/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let r = user
        .post(
            "/api/v1/users",
            json!({"username": "zed", "email": "z@example.test", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn operators_manage_accounts_and_everyone() {
    let app = spawn_app().await;
    let first = gatehouse_web::service::accounts::first_run(&app.st)
        .await
        .unwrap()
        .expect("first run");
    assert!(
        gatehouse_web::service::accounts::first_run(&app.st)
            .await
            .unwrap()
            .is_none(),
        "only once"
    );
    let c = app.customer("alpha").await;
    let mut op = app.client();
    let r = op.api_login("operator", &first.one_time_password).await;
    assert_eq!(r.json()["state"], "password_change_required");
    let r = op.post("/api/v1/me/password", json!({"current_password": first.one_time_password, "new_password": "Operator-Passphrase-1"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    op.refresh_csrf().await;
    let r = op
        .post("/api/v1/accounts", json!({"name": "Gamma Corp"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let number = r.json()["number"].as_str().unwrap().to_owned();
    let accounts = op.get("/api/v1/accounts").await.json();
    assert_eq!(accounts.as_array().unwrap().len(), 3);
    let r = op.post("/api/v1/users", json!({"username": "gamma-admin", "email": "g@example.test", "role": "admin", "account_number": number})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(
        r.json()["one_time_password"].is_string(),
        "no password given: a one-time one is generated"
    );
    assert_eq!(r.json()["must_change_password"], true);
    assert_eq!(op.get("/api/v1/users").await.json()["total"], 4);
    assert_eq!(
        op.get(&format!("/api/v1/users?account={}", c.id.0))
            .await
            .json()["total"],
        2
    );
    // Operators exist only in the provider's account.
    let r = op.post("/api/v1/users", json!({"username": "op-x", "email": "o@example.test", "role": "operator", "account_number": c.number, "password": "Long-Enough-Pass-1"})).await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );
    let r = op.post("/api/v1/accounts", json!({"name": ""})).await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let log = op.get("/api/v1/audit").await.json();
    assert!(
        log["total"].as_i64().unwrap() >= 8,
        "the operator sees every account's entries"
    );
}

#[tokio::test]
async fn the_api_names_its_own_field_when_the_account_is_missing() {
    let app = spawn_app().await;
    app.operator("op1").await;
    let mut op = app.signed_in("op1").await;
    let r = op
        .post(
            "/api/v1/users",
            json!({"username": "nobody-x", "email": "n@example.test", "role": "user"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.json()["field"], "account_number", "{}", r.text);
}
