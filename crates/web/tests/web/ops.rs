use crate::support::*;
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = spawn_app().await;
    let mut c = app.client();
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
    // `/metrics` only for this host (c is 10.1.2.3, see `metrics_are_not_public`).
    c.addr = "127.0.0.1:40000".parse().unwrap();
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
    let big = vec![b'a'; (1 << 20) + 1];
    let len = big.len().to_string();
    // Answers of handlers, and the refusals the framework makes before any
    // handler runs (405, a path parameter that does not parse, 413).
    let requests: Vec<(Method, &str, Option<Vec<u8>>)> = vec![
        (Method::GET, "/login", None),
        (Method::GET, "/api/v1/session", None),
        (Method::GET, "/healthz", None),
        (Method::GET, "/nowhere", None),
        (Method::DELETE, "/login", None),
        (Method::PUT, "/api/v1/login", None),
        (Method::GET, "/api/v1/users/not-a-number", None),
        (Method::POST, "/login", Some(big.clone())),
        (Method::POST, "/api/v1/login", Some(big)),
    ];
    for (method, path, body) in requests {
        let r = match body {
            None => c.send(method.clone(), path, Body2::None, false).await,
            Some(b) => {
                c.send_with(
                    method.clone(),
                    path,
                    Body2::Raw("application/json", b),
                    false,
                    &[("content-length", len.as_str())],
                )
                .await
            }
        };
        let path = format!("{method} {path} ({})", r.status);
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
        assert_eq!(h("cache-control"), "no-store", "{path}");
    }
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let app = spawn_app_with_http(
        gatehouse_web::AppConfig::default(),
        gatehouse_web::HttpConfig {
            secure_cookies: true,
            ..Default::default()
        },
    )
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

#[tokio::test]
async fn metrics_are_not_public() {
    let app = spawn_app().await;
    let mut remote = app.client();
    assert_eq!(remote.get("/metrics").await.status, StatusCode::FORBIDDEN);
    // A loopback peer relaying someone else (a reverse proxy) is not local.
    let mut proxied = app.client();
    proxied.addr = "127.0.0.1:40000".parse().unwrap();
    let r = proxied
        .send_with(
            axum::http::Method::GET,
            "/metrics",
            Body2::None,
            false,
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A signed-in customer is not enough; an operator is.
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    assert_eq!(admin.get("/metrics").await.status, StatusCode::FORBIDDEN);
    app.operator("ops-1").await;
    let mut op = app.signed_in("ops-1").await;
    assert_eq!(op.get("/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_proxy_loopback_does_not_count_as_this_host() {
    let app = spawn_app_with_http(
        gatehouse_web::AppConfig::default(),
        gatehouse_web::HttpConfig {
            trust_forwarded_for: true,
            ..Default::default()
        },
    )
    .await;
    let mut via_proxy = app.client();
    via_proxy.addr = "127.0.0.1:40000".parse().unwrap();
    assert_eq!(
        via_proxy.get("/metrics").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn metrics_token_is_required_once_configured() {
    let app = spawn_app_with(gatehouse_web::AppConfig {
        metrics_token: Some("scrape-secret-0123456789".into()),
        ..Default::default()
    })
    .await;
    let mut local = app.client();
    local.addr = "127.0.0.1:40000".parse().unwrap();
    assert_eq!(local.get("/metrics").await.status, StatusCode::FORBIDDEN);
    local.bearer = Some("wrong-secret".into());
    assert_eq!(local.get("/metrics").await.status, StatusCode::FORBIDDEN);
    let mut scraper = app.client();
    scraper.bearer = Some("scrape-secret-0123456789".into());
    assert_eq!(scraper.get("/metrics").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_401_names_the_scheme_that_would_work() {
    let app = spawn_app().await;
    let r = app.client().get("/api/v1/users/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers
            .get(axum::http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"gatehouse\"")
    );
    // Other refusals carry no challenge.
    let c = app.customer("www").await;
    let mut user = app.signed_in(&c.user_name()).await;
    let r = user.get("/api/v1/accounts").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.headers
            .get(axum::http::header::WWW_AUTHENTICATE)
            .is_none()
    );
}

/// The log lines written while a test runs on this thread.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// Captures what this thread logs until the guard is dropped.
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The reference in "… please try again. Reference: 9F2C41A7." (8 hex digits).
fn reference(message: &str) -> String {
    let (generic, reference) = message
        .split_once(" Reference: ")
        .unwrap_or_else(|| panic!("no reference in {message:?}"));
    assert_eq!(
        generic,
        "Something went wrong on our side; please try again."
    );
    let reference = reference.strip_suffix('.').expect("a full stop");
    assert!(
        reference.len() == 8 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
        "{reference:?}"
    );
    reference.to_owned()
}

/// ASVS 7.4.1: an unexpected error answers a generic sentence with a
/// reference — the API in its error body, a page in its form — and the log
/// line that records the cause carries the same reference; the cause is
/// never shown. Here the database goes away under a running portal.
#[tokio::test(flavor = "current_thread")]
async fn an_internal_error_names_a_reference_its_log_line_carries() {
    let (log, _guard) = Log::capture();

    let app = spawn_app().await;
    let mut api = app.client();
    api.refresh_csrf().await;
    let mut browser = app.client();
    let csrf = Client::csrf_in(&browser.get("/login").await.text);
    app.st.store.close().await;

    let r = api
        .post(
            "/api/v1/login",
            serde_json::json!({"username": "nobody", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    let from_api = reference(r.json()["error"].as_str().unwrap());
    let api_body = r.text;

    let r = browser
        .form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "nobody"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    let shown = r
        .text
        .split("Something went wrong on our side")
        .nth(1)
        .expect("the generic sentence on the page");
    let from_page = reference(&format!(
        "Something went wrong on our side{}",
        &shown[..shown.find(".</").expect("the sentence ends") + 1]
    ));

    assert_ne!(from_api, from_page, "each error gets its own reference");
    let text = log.text();
    assert_eq!(
        text.lines().filter(|l| l.contains("ERROR")).count(),
        2,
        "one ERROR line per error: {text}"
    );
    for reference in [&from_api, &from_page] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(reference.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "one log line per error: {text}");
        assert!(lines[0].contains("ERROR"), "{}", lines[0]);
        assert!(
            lines[0].contains("closed"),
            "the cause is logged: {}",
            lines[0]
        );
    }
    for body in [&api_body, &r.text] {
        assert!(!body.contains("closed"), "the cause is not shown");
    }
}

/// A handler that panics is answered 500 with a reference in the error
/// format, and the panic's message is logged (escaped) under it — through
/// the same layers as the portal's routes (`CatchPanicLayer` with
/// `panicked`, then `uniform_errors`).
#[tokio::test(flavor = "current_thread")]
async fn a_panic_is_answered_with_a_reference_its_log_line_carries() {
    use tower::ServiceExt;
    let (log, _guard) = Log::capture();
    let router = axum::Router::new()
        .route(
            "/api/v1/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("index out of bounds\nERROR forged line");
                }
                "unreachable"
            }),
        )
        .route_layer(tower_http::catch_panic::CatchPanicLayer::custom(
            gatehouse_web::error::panicked,
        ))
        .layer(axum::middleware::from_fn(
            gatehouse_web::error::uniform_errors,
        ));
    let r = router
        .oneshot(
            axum::http::Request::get("/api/v1/boom")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let reference = reference(json["error"].as_str().unwrap());
    let text = log.text();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&reference)).collect();
    assert_eq!(lines.len(), 1, "logged once: {text}");
    assert!(lines[0].contains("index out of bounds"), "{}", lines[0]);
    assert!(
        !text.lines().any(|l| l.starts_with("ERROR forged")),
        "the message cannot start a line of its own: {text}"
    );
}
