use crate::support::*;
use axum::http::StatusCode;

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = spawn_app().await;
    let mut c = app.client();
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(c.get("/metrics").await.status, StatusCode::OK);
    let doc = c.get("/api/openapi.json").await.json();
    for path in [
        "/api/v1/login",
        "/api/v1/session",
        "/api/v1/logout",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/accounts",
        "/api/v1/audit",
        "/api/v1/me/password",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let r = c.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "Not found.");
    assert_eq!(c.get("/no-such-page").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = spawn_app().await;
    let mut c = app.client();
    for path in ["/login", "/api/v1/session", "/healthz", "/nowhere"] {
        let r = c.get(path).await;
        let h = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(
            !h("content-security-policy").contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("referrer-policy"), "same-origin", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
    }
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let app = spawn_app_with(gatehouse_web::WebConfig {
        secure_cookies: true,
        ..Default::default()
    })
    .await;
    let r = app.client().get("/login").await;
    assert!(
        r.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}
