//! Account isolation, route by route: an administrator of one account can
//! neither read nor change another account's users, through the API or the
//! pages, and the attempt changes nothing.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn api_routes_hide_other_accounts() {
    let app = spawn_app().await;
    let a = app.customer("alpha").await;
    let b = app.customer("beta").await;
    let mut bob = app.signed_in(&b.admin_name()).await;
    let target = a.user.0;
    let checks = [
        bob.get(&format!("/api/v1/users/{target}")).await,
        bob.patch(&format!("/api/v1/users/{target}"), json!({"name": "pwned"}))
            .await,
        bob.patch(
            &format!("/api/v1/users/{target}"),
            json!({"status": "disabled"}),
        )
        .await,
        bob.post(&format!("/api/v1/users/{target}/reset-password"), json!({}))
            .await,
        bob.delete(&format!("/api/v1/users/{target}")).await,
    ];
    for r in checks {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let list = bob.get("/api/v1/users").await;
    assert!(!list.text.contains("alpha-"), "{}", list.text);
    let list = bob
        .get(&format!("/api/v1/users?account={}", a.id.0))
        .await
        .json();
    assert_eq!(
        list["total"], 2,
        "the account filter cannot widen an administrator's view: {list}"
    );
    assert!(
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["account_number"] == b.number.as_str())
    );
    let r = bob.post("/api/v1/users", json!({"username": "intruder", "email": "i@example.test", "role": "user", "password": "Long-Enough-Pass-1", "account_number": a.number})).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "cannot create users in another account"
    );
    let audit = bob.get("/api/v1/audit").await.json();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["target"].as_str().unwrap().contains("alpha-"))
    );

    // Alpha's user is untouched and can still sign in.
    let mut alice = app.signed_in(&a.admin_name()).await;
    let u = alice.get(&format!("/api/v1/users/{target}")).await.json();
    assert_eq!(
        (u["name"].as_str(), u["status"].as_str()),
        (Some("ALPHA-USER"), Some("active"))
    );
    assert_eq!(
        app.client()
            .api_login(&a.user_name(), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn page_routes_hide_other_accounts() {
    let app = spawn_app().await;
    let a = app.customer("alpha").await;
    let b = app.customer("beta").await;
    let mut bob = app.client();
    let r = bob.page_login(&b.admin_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let users = bob.get("/users").await;
    let csrf = Client::csrf_in(&users.text);
    assert!(!users.text.contains("alpha-"));
    let t = a.user.0;
    for path in ["edit", "reset-password", "disable", "enable", "delete"] {
        let r = bob.get(&format!("/users/{t}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "GET {path}");
        let r = bob
            .form(
                &format!("/users/{t}/{path}"),
                &[
                    ("csrf", &csrf),
                    ("name", "pwned"),
                    ("email", "p@example.test"),
                    ("role", "user"),
                    ("status", "disabled"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "POST {path}");
    }
    let r = bob.get(&format!("/users?account={}", a.id.0)).await;
    assert!(
        !r.text.contains("alpha-user"),
        "the account parameter is ignored for administrators"
    );
    let search = bob.get("/users?q=alpha").await;
    assert!(search.text.contains("No users match"));
    let mut alice = app.signed_in(&a.admin_name()).await;
    let u = alice.get(&format!("/api/v1/users/{t}")).await.json();
    assert_eq!(
        (u["name"].as_str(), u["status"].as_str()),
        (Some("ALPHA-USER"), Some("active"))
    );
}
