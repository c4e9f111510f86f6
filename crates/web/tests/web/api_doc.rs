//! The OpenAPI document tells the whole truth about every operation, and
//! the framework's own refusals (wrong content type, JSON that does not
//! parse or has the wrong shape, a body over the limit, a parameter of the
//! wrong type, a wrong method) answer in the error format of SPEC §11 with
//! the status the document declares. `scripts/schemathesis.sh` checks the
//! same from outside, with generated requests.

use crate::support::*;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

fn content_type(r: &Resp) -> &str {
    r.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An API refusal: `status`, JSON, a non-empty `error` sentence.
fn assert_api_error(r: &Resp, status: StatusCode, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert!(
        content_type(r).starts_with("application/json"),
        "{what}: content type {:?}, body {}",
        content_type(r),
        r.text
    );
    let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.len() > 5, "{what}: a specific error, got {}", r.text);
    error
}

#[tokio::test]
async fn every_operation_declares_its_security_and_every_status_it_can_answer() {
    let app = spawn_app().await;
    let doc = app.client().get("/api/openapi.json").await.json();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for s in ["bearer", "api_client", "session", "device"] {
        assert!(schemes.contains_key(s), "security scheme {s}");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let what = format!("{} {path}", method.to_uppercase());
            let security = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: security"));
            assert!(!security.is_empty(), "{what}: a security requirement");
            for req in security {
                for name in req.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{what}: unknown scheme {name}");
                }
            }
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| p["in"].as_str().unwrap()).collect())
                .unwrap_or_default();
            let body = op.get("requestBody").is_some();
            for s in ["401", "403", "429"] {
                assert!(has(s), "{what}: declares {s}");
            }
            if method != "get" {
                assert!(has("409"), "{what}: a write, so declares 409");
            }
            if body {
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                let name = schema["$ref"].as_str().unwrap_or_default();
                let name = name.trim_start_matches("#/components/schemas/");
                assert!(
                    doc["components"]["schemas"][name]["example"].is_object(),
                    "{what}: the request body {name} has an example"
                );
                for s in ["400", "413", "415", "422"] {
                    assert!(has(s), "{what}: a body, so declares {s}");
                }
            }
            if params.contains(&"path") {
                for s in ["400", "404", "422"] {
                    assert!(has(s), "{what}: path parameters, so declares {s}");
                }
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: a success"
            );
            for (status, resp) in responses {
                if status.as_str() < "400" {
                    continue;
                }
                assert!(
                    !resp["description"].as_str().unwrap_or("").is_empty(),
                    "{what} {status}: a description"
                );
                let content = &resp["content"]["application/json"];
                assert_eq!(
                    content["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}: the error body"
                );
                assert!(
                    content["example"]["error"].is_string(),
                    "{what} {status}: an example"
                );
            }
            if has("429") {
                assert!(responses["429"]["headers"]["Retry-After"].is_object());
            }
        }
    }
    assert!(operations >= 65, "{operations} operations");
    // Path parameters are typed.
    let id = &doc["paths"]["/api/v1/users/{id}"]["get"]["parameters"][0];
    assert_eq!(id["schema"]["type"], "integer", "{id}");
    // Public and particular operations have their own requirements.
    let login = &doc["paths"]["/api/v1/login"]["post"]["security"];
    assert_eq!(login[0], json!({}), "login needs no credentials: {login}");
    let validate = &doc["paths"]["/api/v1/validate"]["post"]["security"];
    assert_eq!(validate, &json!([{"api_client": []}]));
    for (path, method) in [
        ("/api/v1/me/password", "post"),
        ("/api/v1/me/phonefactor", "get"),
        ("/api/v1/me/phonefactor/activation", "post"),
    ] {
        let security = &doc["paths"][path][method]["security"];
        assert_eq!(
            security,
            &json!([{"session": []}]),
            "{path}: a session only"
        );
    }
}

#[tokio::test]
async fn framework_refusals_answer_in_the_error_format() {
    let app = spawn_app().await;
    let c = app.customer("fw").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let before = admin.get("/api/v1/users").await.json();

    // Not JSON at all: 415, whatever the body says.
    for (ct, body) in [
        ("text/plain", b"{\"username\":\"x\"}".to_vec()),
        (
            "application/x-www-form-urlencoded",
            b"username=x&email=x%40example.com".to_vec(),
        ),
    ] {
        let r = admin
            .send(Method::POST, "/api/v1/users", Body2::Raw(ct, body), true)
            .await;
        let e = assert_api_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, ct);
        assert!(e.contains("application/json"), "{e}");
    }
    // JSON that does not parse: 400; invalid UTF-8 too.
    for body in [
        b"{\"username\": ".to_vec(),
        b"{\"username\": \"\xff\xfe\"}".to_vec(),
    ] {
        let r = admin
            .send(
                Method::POST,
                "/api/v1/users",
                Body2::Raw("application/json", body),
                true,
            )
            .await;
        assert_api_error(&r, StatusCode::BAD_REQUEST, "malformed JSON");
    }
    // JSON of the wrong shape: 422.
    for v in [
        json!({"username": 5, "email": "a@example.com", "role": "user"}),
        json!([1, 2, 3]),
    ] {
        let r = admin.post("/api/v1/users", v.clone()).await;
        assert_api_error(&r, StatusCode::UNPROCESSABLE_ENTITY, &v.to_string());
    }
    // A body over 1 MiB: 413, announced by its length or not.
    let big = json!({"username": "x".repeat(1 << 21)})
        .to_string()
        .into_bytes();
    let len = big.len().to_string();
    for extra in [vec![], vec![("content-length", len.as_str())]] {
        let r = admin
            .send_with(
                Method::POST,
                "/api/v1/users",
                Body2::Raw("application/json", big.clone()),
                true,
                &extra,
            )
            .await;
        let e = assert_api_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "big body");
        assert!(e.contains("1 MiB"), "{e}");
    }
    // A path parameter of the wrong type: 400.
    let r = admin.get("/api/v1/users/not-a-number").await;
    assert_api_error(&r, StatusCode::BAD_REQUEST, "path parameter");
    let r = admin.get("/api/v1/users/99999999999999999999999").await;
    assert_api_error(&r, StatusCode::BAD_REQUEST, "path parameter too big");
    // A query parameter of the wrong type: 400.
    let r = admin.get("/api/v1/users?page=first").await;
    assert_api_error(&r, StatusCode::BAD_REQUEST, "query parameter");
    // A page far past the end is empty, not a failure.
    for page in [
        "9223372036854775806",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        let r = admin.get(&format!("/api/v1/users?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "page {page}: {}", r.text);
        let r = admin.get(&format!("/api/v1/audit?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "audit page {page}: {}", r.text);
    }
    // A method the path does not take: 405 with Allow.
    let r = admin
        .send(Method::PUT, "/api/v1/users", Body2::Json(json!({})), true)
        .await;
    assert_api_error(&r, StatusCode::METHOD_NOT_ALLOWED, "PUT /users");
    let allow = r.headers.get(header::ALLOW).unwrap().to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // Nothing was created by any of it.
    assert_eq!(admin.get("/api/v1/users").await.json(), before);
}

#[tokio::test]
async fn the_operator_lists_survive_any_page_number() {
    let app = spawn_app().await;
    app.operator("op1").await;
    let mut op = app.signed_in("op1").await;
    for page in ["9223372036854775807", "0", "-1"] {
        let r = op.get(&format!("/api/v1/tokens?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = op.get(&format!("/tokens?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "tokens page {page}");
        let r = op.get(&format!("/audit?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "audit page {page}");
        let r = op.get(&format!("/users?page={page}")).await;
        assert_eq!(r.status, StatusCode::OK, "users page {page}");
    }
}

#[tokio::test]
async fn pages_answer_framework_refusals_with_the_portal_error_page() {
    let app = spawn_app().await;
    let mut c = app.client();
    let big = vec![b'a'; 2 << 20];
    let len = big.len().to_string();
    let r = c
        .send_with(
            Method::POST,
            "/login",
            Body2::Raw("application/x-www-form-urlencoded", big),
            false,
            &[("content-length", len.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(content_type(&r).starts_with("text/html"), "{:?}", r.headers);
    assert!(r.text.contains("larger than 1 MiB"), "{}", r.text);
    let r = c.send(Method::DELETE, "/login", Body2::None, false).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(content_type(&r).starts_with("text/html"));
    assert!(r.headers.contains_key(header::ALLOW));
}
