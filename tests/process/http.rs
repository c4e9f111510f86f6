//! The one HTTP client of these tests: reqwest, with a cookie store, and
//! the CSRF token sent the way the portal's pages send it.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;

/// A browser-like API client of one server: keeps its cookies and sends
/// the CSRF token it last read from `/api/v1/session`.
pub struct Client {
    http: reqwest::Client,
    base: String,
    csrf: Mutex<Option<String>>,
}

/// A response, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (`null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Client {
    /// A client without cookies of `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
            csrf: Mutex::new(None),
        }
    }

    /// Signs in with a password, which must be accepted (200); returns the
    /// signed-in client and the login response.
    pub async fn signed_in(base: &str, username: &str, password: &str) -> (Self, Value) {
        let c = Self::new(base);
        let r = c.login(username, password).await;
        assert_eq!(r.status, 200, "login {username}: {}", r.text);
        let v = r.json();
        (c, v)
    }

    /// `POST /api/v1/login` with a fresh CSRF token before and after.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.refresh_csrf().await;
        let r = self
            .send(
                Method::POST,
                "/api/v1/login",
                Some(&json!({"username": username, "password": password})),
                &[],
            )
            .await;
        self.refresh_csrf().await;
        r
    }

    /// Reads the session's CSRF token, to send with the next requests.
    pub async fn refresh_csrf(&self) {
        let (_, v) = self.get("/api/v1/session").await;
        if let Some(t) = v["csrf_token"].as_str().filter(|t| !t.is_empty()) {
            *self.csrf.lock().unwrap() = Some(t.to_owned());
        }
    }

    /// A request with an optional JSON body and extra headers (`Accept:
    /// application/json` unless they say otherwise).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = body.map(|b| serde_json::to_vec(b).unwrap());
        self.send_raw(method, path, body, headers).await
    }

    /// A request with exactly these body bytes (sent as JSON).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            req = req.header("accept", "application/json");
        }
        if let Some(t) = self.csrf.lock().unwrap().clone() {
            req = req.header("x-csrf-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp
                .text()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: the body: {e}")),
        }
    }

    /// [`Client::send`], `None` when no whole answer came (the server went
    /// away).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Option<Resp> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("accept", "application/json");
        if let Some(t) = self.csrf.lock().unwrap().clone() {
            req = req.header("x-csrf-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.ok()?;
        Some(Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.ok()?,
        })
    }

    /// `GET path`: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.send(Method::GET, path, None, &[]).await;
        (r.status, r.json())
    }

    /// `POST path` with a JSON body: the status and the JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.send(Method::POST, path, Some(&body), &[]).await;
        (r.status, r.json())
    }
}
