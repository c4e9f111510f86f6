//! An in-process Gatehouse for tests: a fresh database, a fixed clock, and a
//! client that keeps cookies and the CSRF token like a browser or the
//! acceptance scripts would.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use gatehouse_domain::{AccountId, FixedClock, Timestamp, UserId};
use gatehouse_store::testing::{TestDb, fresh};
use gatehouse_web::service::{Caller, accounts, users};
use gatehouse_web::{AppConfig, AppState};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

pub const T0: Timestamp = Timestamp(1_764_460_800_000);
pub const PASSWORD: &str = "Correct-Horse-Battery-9";

pub struct App {
    pub st: AppState,
    pub router: Router,
    pub clock: Arc<FixedClock>,
    _db: TestDb,
}

pub async fn spawn_app() -> App {
    spawn_app_with(AppConfig::default()).await
}

/// An app that delivers texts and calls to the virtual phone (asked for
/// explicitly, as `delivery = "virtual"` does).
pub async fn spawn_virtual() -> App {
    spawn_app_with(virtual_config()).await
}

/// The default configuration with virtual delivery.
pub fn virtual_config() -> AppConfig {
    AppConfig {
        delivery: gatehouse_web::Delivery::Virtual,
        ..AppConfig::default()
    }
}

pub async fn spawn_app_with(config: AppConfig) -> App {
    spawn_app_with_http(config, gatehouse_web::HttpConfig::default()).await
}

/// An app with these HTTP front-end settings (cookies, proxy).
pub async fn spawn_app_with_http(config: AppConfig, http: gatehouse_web::HttpConfig) -> App {
    let db = fresh().await;
    let clock = Arc::new(FixedClock::at(T0));
    let st = AppState::new(db.store.clone(), clock.clone(), config, None);
    App {
        router: gatehouse_web::router_with(st.clone(), http),
        st,
        clock,
        _db: db,
    }
}

impl App {
    pub fn client(&self) -> Client {
        Client {
            router: self.router.clone(),
            cookies: HashMap::new(),
            csrf: None,
            bearer: None,
            addr: "10.1.2.3:40000".parse().unwrap(),
        }
    }

    pub async fn account(&self, name: &str) -> (AccountId, String) {
        let a = accounts::create(&self.st, &Caller::cli(), name)
            .await
            .unwrap();
        (a.id, a.number)
    }

    pub async fn user(&self, account: AccountId, username: &str, role: &str) -> UserId {
        users::create(
            &self.st,
            &Caller::cli(),
            users::CreateUser {
                account: Some(account),
                username: username.into(),
                email: format!("{username}@example.test"),
                name: username.to_uppercase(),
                role: role.into(),
                password: Some(PASSWORD.into()),
                must_change_password: false,
            },
        )
        .await
        .unwrap()
        .user
        .id
    }

    /// An account with an admin `{prefix}-admin` and a user `{prefix}-user`.
    pub async fn customer(&self, prefix: &str) -> Customer {
        let (id, number) = self.account(&format!("{prefix} Hosting")).await;
        let admin = self.user(id, &format!("{prefix}-admin"), "admin").await;
        let user = self.user(id, &format!("{prefix}-user"), "user").await;
        Customer {
            id,
            number,
            admin,
            user,
            prefix: prefix.into(),
        }
    }

    /// The provider's own account (made with its first operator on first use).
    pub async fn provider(&self) -> gatehouse_store::accounts::Account {
        accounts::first_run(&self.st).await.unwrap();
        let mut conn = self.st.store.conn().await.unwrap();
        gatehouse_store::accounts::provider(&mut conn)
            .await
            .unwrap()
            .unwrap()
    }

    /// An operator `username` in the provider's account.
    pub async fn operator(&self, username: &str) -> UserId {
        let provider = self.provider().await;
        self.user(provider.id, username, "operator").await
    }

    /// Prices for both methods, the MSA and a promo code.
    pub async fn pf_catalog(&self) {
        self.catalog().await;
        gatehouse_web::service::catalog::set_price(
            &self.st,
            &Caller::cli(),
            "phonefactor",
            300,
            "USD",
        )
        .await
        .unwrap();
    }

    /// Texts sent to `phone` on the virtual phone, oldest first.
    pub async fn texts(&self, phone: &str) -> Vec<String> {
        let mut conn = self.st.store.conn().await.unwrap();
        gatehouse_store::delivery::virtual_messages(&mut conn, phone)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == "out")
            .map(|m| m.body)
            .collect()
    }

    /// The 6-digit code of the latest text to `phone`.
    pub async fn last_code(&self, phone: &str) -> String {
        let texts = self.texts(phone).await;
        let last = texts.last().expect("a text message");
        last.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_owned()
    }

    /// A signed-in API client for `username`.
    pub async fn signed_in(&self, username: &str) -> Client {
        let mut c = self.client();
        let r = c.api_login(username, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        c
    }
}

pub struct Customer {
    pub id: AccountId,
    pub number: String,
    pub admin: UserId,
    pub user: UserId,
    pub prefix: String,
}

impl Customer {
    pub fn admin_name(&self) -> String {
        format!("{}-admin", self.prefix)
    }
    pub fn user_name(&self) -> String {
        format!("{}-user", self.prefix)
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Clone)]
pub struct Client {
    router: Router,
    pub cookies: HashMap<String, String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub addr: SocketAddr,
}

pub enum Body2<'a> {
    None,
    Json(Value),
    Form(&'a [(&'a str, &'a str)]),
    /// A body of the given content type, as is.
    Raw(&'a str, Vec<u8>),
}

impl Client {
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Body2<'_>,
        csrf_header: bool,
    ) -> Resp {
        self.send_with(method, path, body, csrf_header, &[]).await
    }

    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Body2<'_>,
        csrf_header: bool,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if csrf_header && let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        let body = match body {
            Body2::None => Vec::new(),
            Body2::Json(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                v.to_string().into_bytes()
            }
            Body2::Form(fields) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let encoded: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                    .collect();
                encoded.join("&").into_bytes()
            }
            Body2::Raw(content_type, bytes) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                bytes
            }
        };
        self.send_built(req, body).await
    }

    /// Sends a request built by the caller (its method, URI, headers) with
    /// `body`, adding this client's cookies, bearer token and address.
    pub async fn send_built(
        &mut self,
        mut req: axum::http::request::Builder,
        body: Vec<u8>,
    ) -> Resp {
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header(header::COOKIE, c.join("; "));
        }
        if let Some(b) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let resp = self.router.clone().oneshot(req).await.unwrap();
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let s = v.to_str().unwrap();
            let pair = s.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || s.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 10 << 20)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(Method::GET, path, Body2::None, true).await
    }
    pub async fn post(&mut self, path: &str, v: Value) -> Resp {
        self.send(Method::POST, path, Body2::Json(v), true).await
    }
    pub async fn patch(&mut self, path: &str, v: Value) -> Resp {
        self.send(Method::PATCH, path, Body2::Json(v), true).await
    }
    pub async fn delete(&mut self, path: &str) -> Resp {
        self.send(Method::DELETE, path, Body2::None, true).await
    }
    pub async fn form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, Body2::Form(fields), false)
            .await
    }

    pub async fn refresh_csrf(&mut self) {
        let r = self.get("/api/v1/session").await;
        self.csrf = r.json()["csrf_token"].as_str().map(str::to_owned);
    }

    pub async fn api_login(&mut self, username: &str, password: &str) -> Resp {
        self.refresh_csrf().await;
        let r = self
            .post(
                "/api/v1/login",
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        self.refresh_csrf().await;
        r
    }

    /// The CSRF token in the last page's form.
    pub fn csrf_in(html: &str) -> String {
        let at = html
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &html[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// Signs in through the login page like a browser.
    pub async fn page_login(&mut self, username: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        let csrf = Self::csrf_in(&page.text);
        self.form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("gatehouse_session").cloned()
    }
}

/// Percent-encodes `s` for a form body or a query string.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl App {
    /// A client with a session of `user` at `state`, made directly (no
    /// password hashing), from address 10.1.2.3.
    pub async fn session_client(
        &self,
        user: &gatehouse_store::User,
        state: gatehouse_domain::session::SessionState,
    ) -> Client {
        let mut conn = self.st.store.conn().await.unwrap();
        let issued = gatehouse_web::service::auth::issue_session(
            &self.st,
            &mut conn,
            Some(user),
            state,
            "10.1.2.3",
            None,
        )
        .await
        .unwrap();
        let mut c = self.client();
        c.cookies.insert("gatehouse_session".into(), issued.token);
        c.csrf = Some(issued.csrf_token);
        c
    }
}

/// The RFC 6238 test seed, used for the credentials of these tests.
pub const SEED: &[u8] = b"12345678901234567890";

impl App {
    /// A TOTP credential in the inventory with `SEED` (or HOTP when `hotp`).
    pub async fn credential(&self, credential_id: &str, hotp: bool) {
        let sealed = self
            .st
            .config
            .master_key
            .seal(SEED, credential_id.as_bytes());
        let mut conn = self.st.store.conn().await.unwrap();
        gatehouse_store::credentials::insert(
            &mut conn,
            &gatehouse_store::credentials::NewCredential {
                credential_id,
                params: if hotp {
                    gatehouse_domain::oath::OathParams::hotp_default()
                } else {
                    gatehouse_domain::oath::OathParams::vip_totp()
                },
                next_counter: 0,
                sealed_secret: Some(&sealed),
                validation: gatehouse_domain::oath::Validation::Local,
                source: "test",
            },
            T0,
        )
        .await
        .unwrap();
    }

    /// Price, MSA and a promo code, as an operator would set them up.
    pub async fn catalog(&self) {
        use gatehouse_web::service::catalog;
        let cli = Caller::cli();
        catalog::set_price(&self.st, &cli, "symantec_vip", 500, "USD")
            .await
            .unwrap();
        catalog::publish_msa(
            &self.st,
            &cli,
            "2026.1",
            "Master Services Agreement\n1. Terms.",
        )
        .await
        .unwrap();
        let promo = catalog::NewPromo {
            code: "WELCOME50".into(),
            percent_off: Some(50),
            months: Some(3),
            ..Default::default()
        };
        catalog::create_promo(&self.st, &cli, promo).await.unwrap();
    }

    /// The TOTP code of `SEED` at the clock's current time plus `steps`.
    pub fn totp(&self, steps: i64) -> String {
        use gatehouse_domain::Clock;
        let step = gatehouse_domain::oath::totp_step(self.clock.now().seconds(), 30) + steps;
        gatehouse_domain::oath::hotp(SEED, step as u64, 6, gatehouse_domain::oath::HashAlg::Sha1)
    }

    pub fn hotp(counter: u64) -> String {
        gatehouse_domain::oath::hotp(SEED, counter, 6, gatehouse_domain::oath::HashAlg::Sha1)
    }
}

/// Orders PhoneFactor for `user`.
pub async fn order_phonefactor(admin: &mut Client, user: UserId, key: &str) -> Resp {
    admin
        .send_with(
            axum::http::Method::POST,
            &format!("/api/v1/users/{}/external-authentication/orders", user.0),
            Body2::Json(serde_json::json!({
                "method": "phonefactor", "msa_version": "2026.1", "msa_acknowledged": true
            })),
            true,
            &[("idempotency-key", key)],
        )
        .await
}

/// Orders Symantec Identity Protection for `user` with `credential_id`.
pub async fn order(admin: &mut Client, user: UserId, credential_id: &str, key: &str) -> Resp {
    admin
        .send_with(
            axum::http::Method::POST,
            &format!("/api/v1/users/{}/external-authentication/orders", user.0),
            Body2::Json(serde_json::json!({
                "method": "symantec_vip", "credential_id": credential_id,
                "msa_version": "2026.1", "msa_acknowledged": true
            })),
            true,
            &[("idempotency-key", key)],
        )
        .await
}
