//! The operator's RADIUS clients, through the page and the API: what is
//! stored, the secret shown once, bad input refused with nothing stored.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_page_registers_a_client_and_shows_its_secret_once() {
    let app = spawn_app().await;
    let customer = app.customer("rad").await;
    app.operator("radop").await;
    let mut op = app.client();
    op.page_login("radop", PASSWORD).await;
    let page = op.get("/radius-clients").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("No RADIUS clients yet."));
    let csrf = Client::csrf_in(&page.text);
    let r = op
        .form(
            "/radius-clients/create",
            &[
                ("csrf", &csrf),
                ("name", "office-vpn"),
                ("account", &customer.number),
                ("address", "192.0.2.0/24"),
                ("mode", "password-and-code"),
                ("separator", ","),
                ("timeout_secs", "60"),
                ("class", ""),
                ("filter_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The secret on this answer only, 40 characters.
    let secret = r
        .text
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .expect("the secret on the page")
        .to_owned();
    assert_eq!(secret.len(), 40, "{secret}");
    let again = op.get("/radius-clients").await;
    assert!(again.text.contains("office-vpn") && again.text.contains("192.0.2.0/24"));
    assert!(!again.text.contains(&secret), "never shown again");
    // Stored sealed: not in the database in the clear.
    let mut conn = app.st.store.conn().await.unwrap();
    let stored = gatehouse_store::radius_clients::list(&mut conn)
        .await
        .unwrap()
        .remove(0)
        .sealed_secret;
    drop(conn);
    assert!(!String::from_utf8_lossy(&stored).contains(&secret));

    // A forged CSRF token: refused, nothing stored.
    let r = op
        .form(
            "/radius-clients/create",
            &[
                ("csrf", "forged"),
                ("name", "forged-vpn"),
                ("account", &customer.number),
                ("address", "192.0.2.1"),
                ("mode", "code-only"),
            ],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    // Bad input: a clear error on the page, nothing stored.
    for (field, value, says) in [
        ("name", "<script>alert(1)</script>", "letters, digits"),
        ("address", "10.0.0.0/40", "not an address"),
        ("account", "99999999", "no account"),
        ("timeout_secs", "3", "timeout"),
    ] {
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("name", "bad-vpn"),
            ("account", customer.number.as_str()),
            ("address", "192.0.2.1"),
            ("mode", "code-only"),
            ("timeout_secs", "60"),
        ];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        let r = op.form("/radius-clients/create", &fields).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.text
        );
        assert!(r.text.to_lowercase().contains(says), "{field}: {}", r.text);
        assert!(!r.text.contains("<script>alert(1)"), "escaped");
    }
    let list = op.get("/api/v1/radius-clients").await;
    assert_eq!(
        list.json()["clients"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
    // Removed from the page.
    let r = op
        .form(
            "/radius-clients/remove",
            &[("csrf", &csrf), ("name", "office-vpn")],
        )
        .await;
    assert!(r.status.is_redirection(), "{}", r.status);
    let list = op.get("/api/v1/radius-clients").await;
    assert!(list.json()["clients"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_api_registers_lists_and_removes_clients() {
    let app = spawn_app().await;
    let customer = app.customer("rapi").await;
    app.operator("radop").await;
    let mut op = app.signed_in("radop").await;
    let r = op
        .post(
            "/api/v1/radius-clients",
            json!({"name": "rdgw", "account": customer.number, "address": "198.51.100.7",
                   "mode": "code-only", "secret": "a-given-shared-secret-1234", "class": "vpn-users"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["secret"], "a-given-shared-secret-1234");
    let r = op
        .post(
            "/api/v1/radius-clients",
            json!({"name": "rdgw", "account": customer.number, "address": "198.51.100.8"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    for body in [
        json!({"name": "x1", "account": customer.number, "address": "198.51.100.8", "secret": "short"}),
        json!({"name": "x2", "account": customer.number, "address": "198.51.100.8", "mode": "both"}),
        json!({"name": "x3", "account": customer.number, "address": "198.51.100.8", "separator": "ab"}),
        json!({"name": "x4", "account": customer.number, "address": "198.51.100.8", "class": "a\u{7}b"}),
    ] {
        let r = op.post("/api/v1/radius-clients", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
    }
    let r = op
        .post(
            "/api/v1/radius-clients",
            json!({"name": "x5", "account": customer.number, "address": "198.51.100.8", "unknown": 1}),
        )
        .await;
    assert!(
        r.status.is_client_error(),
        "unknown fields are refused: {}",
        r.status
    );
    let list = op.get("/api/v1/radius-clients").await;
    let clients = list.json()["clients"].as_array().unwrap().clone();
    assert_eq!(clients.len(), 1, "{}", list.text);
    assert_eq!(clients[0]["address"], "198.51.100.7/32");
    assert_eq!(clients[0]["mode"], "code-only");
    assert_eq!(clients[0]["class"], "vpn-users");
    assert!(clients[0].get("secret").is_none());
    assert_eq!(
        op.delete("/api/v1/radius-clients/rdgw").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        op.delete("/api/v1/radius-clients/rdgw").await.status,
        StatusCode::NOT_FOUND
    );
    // Audited.
    let mut conn = app.st.store.conn().await.unwrap();
    let actions: Vec<String> =
        gatehouse_store::audit::all(&mut conn, gatehouse_store::Scope::System)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.record.action)
            .collect();
    assert!(actions.contains(&"radius_client_create".to_owned()));
    assert!(actions.contains(&"radius_client_remove".to_owned()));
    // An administrator of the account cannot register one.
    let mut admin = app.signed_in(&customer.admin_name()).await;
    let r = admin
        .post(
            "/api/v1/radius-clients",
            json!({"name": "own", "account": customer.number, "address": "198.51.100.9"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
