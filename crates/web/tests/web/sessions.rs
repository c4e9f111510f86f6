//! Session states and the guards that keep each one to its own endpoints;
//! CSRF before and after sign-in; cookies; `next` after sign-in. Each test
//! here is an attack that once worked (issue: no way around the second
//! factor).

use crate::support::*;
use axum::http::{Method, StatusCode};
use gatehouse_domain::UserId;
use gatehouse_web::AppConfig;
use gatehouse_web::service::{Caller, catalog};
use serde_json::json;

const CREDENTIAL: &str = "UBHE10000001";

/// A customer whose user has a Symantec credential (second factor).
async fn with_security_code(app: &App, prefix: &str) -> Customer {
    app.catalog().await;
    app.credential(CREDENTIAL, false).await;
    let c = app.customer(prefix).await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order(&mut admin, c.user, CREDENTIAL, &format!("{prefix}-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    c
}

/// A customer whose user has PhoneFactor ordered, not yet activated.
async fn with_phonefactor_ordered(app: &App, prefix: &str) -> Customer {
    app.catalog().await;
    catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
        .await
        .unwrap();
    let c = app.customer(prefix).await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = order_phonefactor(&mut admin, c.user, "pf-1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    c
}

async fn password_still(app: &App, username: &str) {
    let r = app.client().api_login(username, PASSWORD).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the victim's password is unchanged"
    );
}

async fn user_sessions(app: &App, user: UserId) -> i64 {
    let _ = user;
    let mut conn = app.st.store.conn().await.unwrap();
    gatehouse_store::sessions::count(&mut conn).await.unwrap()
}

#[tokio::test]
async fn password_only_session_cannot_change_the_password_through_the_api() {
    let app = spawn_app().await;
    let c = with_security_code(&app, "alpha").await;
    let mut attacker = app.client();
    let r = attacker.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "second_factor_required", "{}", r.text);
    let before = user_sessions(&app, c.user).await;
    let r = attacker
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "Attacker-Chosen-Pass-77"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let s = attacker.get("/api/v1/session").await.json();
    assert_eq!(s["state"], "second_factor_required");
    assert_eq!(
        user_sessions(&app, c.user).await,
        before,
        "nobody signed out"
    );
    password_still(&app, &c.user_name()).await;
    // Nor through the page.
    let r = attacker
        .form(
            "/password",
            &[
                ("csrf", attacker.csrf.clone().unwrap().as_str()),
                ("current_password", PASSWORD),
                ("new_password", "Attacker-Chosen-Pass-77"),
                ("confirm_password", "Attacker-Chosen-Pass-77"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login/second-factor");
    password_still(&app, &c.user_name()).await;
}

#[tokio::test]
async fn activation_session_cannot_change_the_password() {
    let app = spawn_virtual().await;
    let c = with_phonefactor_ordered(&app, "alpha").await;
    let mut attacker = app.client();
    let r = attacker.api_login(&c.user_name(), PASSWORD).await;
    assert_eq!(r.json()["state"], "activation_required", "{}", r.text);
    let r = attacker
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "Attacker-Chosen-Pass-77"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(
        attacker.get("/api/v1/session").await.json()["state"],
        "activation_required"
    );
    password_still(&app, &c.user_name()).await;
}

#[tokio::test]
async fn half_signed_in_sessions_reach_only_their_own_step() {
    let app = spawn_app().await;
    let c = with_security_code(&app, "alpha").await;
    let mut pending = app.client();
    pending.api_login(&c.user_name(), PASSWORD).await;
    // Another step's endpoints: activation, own PhoneFactor, signed-in API.
    for (method, path) in [
        (Method::GET, "/api/v1/me/phonefactor"),
        (Method::POST, "/api/v1/me/phonefactor/activation"),
        (Method::POST, "/api/v1/me/phonefactor/deactivate"),
        (Method::GET, "/api/v1/users"),
    ] {
        let r = pending
            .send(method.clone(), path, Body2::Json(json!({})), true)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            r.text
        );
    }
    // A signed-in session has left the second-factor step behind.
    let mut signed_in = app.signed_in(&c.admin_name()).await;
    let r = signed_in
        .post("/api/v1/login/security-code", json!({"code": "123456"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

#[tokio::test]
async fn forced_password_change_still_works_through_the_api() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut admin = app.signed_in(&c.admin_name()).await;
    let r = admin
        .post(
            &format!("/api/v1/users/{}/reset-password", c.user.0),
            json!({}),
        )
        .await;
    let otp = r.json()["one_time_password"].as_str().unwrap().to_owned();
    let mut u = app.client();
    assert_eq!(
        u.api_login(&c.user_name(), &otp).await.json()["state"],
        "password_change_required"
    );
    let r = u
        .post(
            "/api/v1/me/password",
            json!({"current_password": otp, "new_password": "Brand-New-Password-42"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    u.refresh_csrf().await;
    assert_eq!(
        u.get("/api/v1/session").await.json()["state"],
        "authenticated"
    );
}

#[tokio::test]
async fn anonymous_requests_write_no_session_rows() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let before = user_sessions(&app, c.user).await;
    for _ in 0..20 {
        let mut anon = app.client();
        assert_eq!(anon.get("/login").await.status, StatusCode::OK);
        assert_eq!(anon.get("/api/v1/session").await.status, StatusCode::OK);
        anon.get("/virtual-phone").await;
        anon.get("/users").await;
    }
    assert_eq!(user_sessions(&app, c.user).await, before);
    // The sign-in form still works with its cookie-bound token.
    let mut browser = app.client();
    let r = browser.page_login(&c.admin_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(user_sessions(&app, c.user).await, before + 1);
}

#[tokio::test]
async fn sign_in_form_refuses_forged_swapped_and_stale_tokens() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    let mut a = app.client();
    let page = a.get("/login").await;
    let token = Client::csrf_in(&page.text);
    let submit = |token: String| {
        let name = c.admin_name();
        move |mut cl: Client| async move {
            cl.form(
                "/login",
                &[
                    ("csrf", &token),
                    ("username", &name),
                    ("password", PASSWORD),
                ],
            )
            .await
        }
    };
    // No cookie: a token copied into another browser is refused.
    let r = submit(token.clone())(app.client()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A forged token set as both cookie and field (wrong MAC).
    let forged = {
        let mut parts: Vec<&str> = token.split('.').collect();
        let last = parts.len() - 1;
        parts[last] = "00";
        parts.join(".")
    };
    let mut f = app.client();
    f.cookies.insert("gatehouse_csrf".into(), forged.clone());
    let r = submit(forged)(f).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An empty token with an empty cookie.
    let mut e = app.client();
    e.cookies.insert("gatehouse_csrf".into(), String::new());
    let r = submit(String::new())(e).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A stale one (13 hours later).
    app.clock.advance_seconds(13 * 3600);
    let r = submit(token.clone())(a.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A fresh form works.
    let r = a.page_login(&c.admin_name(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
}

#[tokio::test]
async fn cookies_are_host_prefixed_and_secure_behind_https() {
    let app = spawn_app_with(AppConfig {
        public_url: "https://portal.example.test".into(),
        ..Default::default()
    })
    .await;
    let c = app.customer("alpha").await;
    let mut browser = app.client();
    let page = browser.get("/login").await;
    let set = page
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.starts_with("__Host-gatehouse_csrf="), "{set}");
    assert!(
        set.contains("Secure") && set.contains("Path=/") && !set.contains("Domain"),
        "{set}"
    );
    let token = Client::csrf_in(&page.text);
    let r = browser
        .form(
            "/login",
            &[
                ("csrf", &token),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.starts_with("__Host-gatehouse_session="), "{set}");
    assert!(set.contains("Secure") && set.contains("HttpOnly"), "{set}");
    // The unprefixed name is not read on such an instance.
    let token = browser
        .cookies
        .get("__Host-gatehouse_session")
        .unwrap()
        .clone();
    let mut plain = app.client();
    plain.cookies.insert("gatehouse_session".into(), token);
    assert_eq!(
        plain.get("/api/v1/users").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn no_hsts_over_plain_http() {
    let app = spawn_app().await;
    let r = app.client().get("/login").await;
    assert!(r.headers.get("strict-transport-security").is_none());
}

#[tokio::test]
async fn next_after_sign_in_stays_on_the_portal() {
    let app = spawn_app().await;
    let c = app.customer("alpha").await;
    for evil in [
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "https://evil.example/",
        " /\\/evil.example",
        "/\u{e9}v\u{ee}l",
    ] {
        let mut b = app.client();
        let page = b.get(&format!("/login?next={}", pct(evil))).await;
        assert_eq!(page.status, StatusCode::OK);
        let token = Client::csrf_in(&page.text);
        let r = b
            .form(
                "/login",
                &[
                    ("csrf", &token),
                    ("username", &c.admin_name()),
                    ("password", PASSWORD),
                    ("next", evil),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{evil:?}: {}", r.text);
        assert_eq!(r.location(), "/users", "{evil:?}");
    }
    // A NUL is no text at all: the page and the form refuse it (400) rather
    // than read past it.
    let mut b = app.client();
    let page = b
        .get(&format!("/login?next={}", pct("/\u{0}/evil.example")))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = b.get("/login").await;
    let token = Client::csrf_in(&page.text);
    let r = b
        .form(
            "/login",
            &[
                ("csrf", &token),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
                ("next", "/\u{0}/evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(b.session_cookie().is_none(), "no sign-in");
    let mut b = app.client();
    let page = b.get("/login?next=/audit%3Fpage%3D2").await;
    let token = Client::csrf_in(&page.text);
    let r = b
        .form(
            "/login",
            &[
                ("csrf", &token),
                ("username", &c.admin_name()),
                ("password", PASSWORD),
                ("next", "/audit?page=2"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/audit?page=2");
}

fn pct(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A user's own sessions (ASVS 3.3.4): listing them and ending one or all
/// of the others with the password again, by the API and the Security
/// Settings page — and what nobody else can do with them.
mod own_sessions {
    use super::*;
    use serde_json::Value;

    async fn list(c: &mut Client) -> Vec<Value> {
        let r = c.get("/api/v1/me/sessions").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["sessions"].as_array().unwrap().clone()
    }

    async fn end(c: &mut Client, reference: &str, password: &str) -> Resp {
        c.post(
            "/api/v1/me/sessions/end",
            json!({"reference": reference, "password": password}),
        )
        .await
    }

    async fn signed_in_still(c: &mut Client) -> bool {
        c.get("/api/v1/me/sessions").await.status == StatusCode::OK
    }

    /// The details of the audit entries with `action` and `outcome` (read
    /// by an operator).
    async fn audited(app: &App, action: &str, outcome: &str) -> Vec<String> {
        let name = format!("op-{}", gatehouse_domain::secret::random_u64() % 1_000_000);
        app.operator(&name).await;
        let mut op = app.signed_in(&name).await;
        op.get("/api/v1/audit").await.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .map(|e| e["detail"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_user_sees_their_sessions_and_ends_another_one_with_their_password() {
        let app = spawn_app().await;
        let c = app.customer("own").await;
        let mut laptop = app.signed_in(&c.user_name()).await;
        let mut phone = app.client();
        phone.addr = "198.51.100.7:5000".parse().unwrap();
        let r = phone.api_login(&c.user_name(), PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK);
        // Someone else's session in the same account is not in the list.
        let _admin = app.signed_in(&c.admin_name()).await;

        let seen = list(&mut laptop).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| s["current"] == true).count(), 1);
        let other = seen.iter().find(|s| s["current"] == false).unwrap();
        assert_eq!(other["client_addr"], "198.51.100.7");
        assert_eq!(other["state"], "authenticated");
        let body = serde_json::to_string(&seen).unwrap();
        for cookie in [laptop.session_cookie(), phone.session_cookie()] {
            let token = cookie.unwrap();
            assert!(!body.contains(&token), "no token in the list");
            let digest = gatehouse_domain::secret::digest(&token);
            assert!(!body.contains(&digest), "no stored digest in the list");
        }
        let reference = other["reference"].as_str().unwrap().to_owned();

        // Without the right password nothing ends, and the refusal is audited.
        let r = end(&mut laptop, &reference, "Not-The-Password-1").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert_eq!(r.json()["error"], "The password is not right.");
        assert!(signed_in_still(&mut phone).await);
        assert_eq!(
            audited(&app, "session_end", "failure").await,
            vec!["password wrong".to_owned()]
        );

        let r = end(&mut laptop, &reference, PASSWORD).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert!(!signed_in_still(&mut phone).await);
        assert!(signed_in_still(&mut laptop).await);
        assert_eq!(list(&mut laptop).await.len(), 1);
        // Ended already: the same reference again is not found.
        let r = end(&mut laptop, &reference, PASSWORD).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let details = audited(&app, "session_ended", "success").await;
        assert_eq!(details.len(), 1, "{details:?}");
        assert!(
            details[0].contains("another session by its user"),
            "{details:?}"
        );
        assert!(details[0].contains("198.51.100.7"), "{details:?}");
    }

    /// Someone who has the password but not the second factor shows in the
    /// list, and the user ends that half-signed-in session; the half session
    /// itself can neither list nor end anything.
    #[tokio::test]
    async fn a_sign_in_waiting_for_the_second_factor_is_listed_and_can_be_ended() {
        let app = spawn_app().await;
        let c = with_security_code(&app, "halfway").await;
        let mut attacker = app.client();
        attacker.addr = "203.0.113.66:4444".parse().unwrap();
        let r = attacker.api_login(&c.user_name(), PASSWORD).await;
        assert_eq!(r.json()["state"], "second_factor_required");
        assert_eq!(
            attacker.get("/api/v1/me/sessions").await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = attacker
            .post(
                "/api/v1/me/sessions/end-others",
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        let user = {
            let mut conn = app.st.store.conn().await.unwrap();
            gatehouse_store::Users::system()
                .get(&mut conn, c.user)
                .await
                .unwrap()
        };
        let mut owner = app
            .session_client(
                &user,
                gatehouse_domain::session::SessionState::Authenticated,
            )
            .await;
        let seen = list(&mut owner).await;
        let half = seen
            .iter()
            .find(|s| s["state"] == "second_factor_required")
            .unwrap_or_else(|| panic!("the half sign-in is listed: {seen:?}"));
        assert_eq!(half["client_addr"], "203.0.113.66");
        let r = end(&mut owner, half["reference"].as_str().unwrap(), PASSWORD).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        // The attacker's next step finds no session to finish.
        let r = attacker
            .post("/api/v1/login/security-code", json!({"code": app.totp(0)}))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }

    /// A reference from another user's list — same account, another
    /// account, or made up — ends nothing, for an administrator too.
    #[tokio::test]
    async fn nobody_ends_a_session_that_is_not_their_own() {
        let app = spawn_app().await;
        let a = app.customer("acme").await;
        let b = app.customer("bolt").await;
        let mut victim = app.signed_in(&a.user_name()).await;
        let mut victim_phone = app.signed_in(&a.user_name()).await;
        let references: Vec<String> = list(&mut victim)
            .await
            .iter()
            .map(|s| s["reference"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(references.len(), 2);
        for attacker in [a.admin_name(), b.admin_name(), b.user_name()] {
            let mut them = app.signed_in(&attacker).await;
            let page = them.get("/security").await;
            let csrf = Client::csrf_in(&page.text);
            for reference in &references {
                let r = end(&mut them, reference, PASSWORD).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{attacker}: {}", r.text);
                let r = them
                    .form(
                        "/security/sessions/end",
                        &[
                            ("csrf", &csrf),
                            ("session", reference),
                            ("password", PASSWORD),
                        ],
                    )
                    .await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{attacker}");
            }
            // Their own "end every other session" leaves the victim alone.
            let r = them
                .post(
                    "/api/v1/me/sessions/end-others",
                    json!({"password": PASSWORD}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        for forged in ["0000000000000000000000000", "", "%00", &references[0][..10]] {
            let r = end(&mut victim_phone, forged, PASSWORD).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{forged:?}: {}", r.text);
        }
        assert_eq!(list(&mut victim).await.len(), 2, "both sessions live on");
        assert!(signed_in_still(&mut victim_phone).await);
    }

    /// An API token acts for its user in the API, but a stolen one must not
    /// watch where the user signs in nor keep them signed out: the sessions
    /// calls take a session cookie only.
    #[tokio::test]
    async fn an_api_token_neither_sees_nor_ends_sessions() {
        let app = spawn_app().await;
        let c = app.customer("tok").await;
        let mut browser = app.signed_in(&c.admin_name()).await;
        let r = browser
            .post("/api/v1/api-tokens", json!({"name": "script"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let mut script = app.client();
        script.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
        let reference = list(&mut browser).await[0]["reference"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            script.get("/api/v1/me/sessions").await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = script
            .post(
                "/api/v1/me/sessions/end-others",
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = end(&mut script, &reference, PASSWORD).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(signed_in_still(&mut browser).await);
        // With the cookie, the session's CSRF token is needed for a write.
        let token = browser.csrf.take();
        let r = browser
            .post(
                "/api/v1/me/sessions/end-others",
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        browser.csrf = token;
        let r = browser
            .post(
                "/api/v1/me/sessions/end-others",
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["ended"], 0);
    }

    /// The page: the list, one session ended, then every other one; the form
    /// needs the session's CSRF token and the password.
    #[tokio::test]
    async fn the_security_page_lists_and_ends_sessions_with_csrf_token_and_password() {
        let app = spawn_app().await;
        let c = app.customer("page").await;
        let mut browser = app.client();
        let r = browser.page_login(&c.user_name(), PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let mut tablet = app.signed_in(&c.user_name()).await;
        let mut phone = app.signed_in(&c.user_name()).await;

        let page = browser.get("/security").await;
        assert!(
            page.text.contains("Where you are signed in"),
            "{}",
            page.text
        );
        assert!(page.text.contains("This session"));
        assert_eq!(page.text.matches("End session</button>").count(), 2);
        let csrf = Client::csrf_in(&page.text);
        let tablet_ref = list(&mut tablet)
            .await
            .into_iter()
            .find(|s| s["current"] == true)
            .unwrap()["reference"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(page.text.contains(&format!("value=\"{tablet_ref}\"")));

        let end = "/security/sessions/end";
        let tablet_csrf = tablet.csrf.clone().unwrap();
        for (token, password, status) in [
            ("forged", PASSWORD, StatusCode::FORBIDDEN),
            (tablet_csrf.as_str(), PASSWORD, StatusCode::FORBIDDEN),
            (
                csrf.as_str(),
                "Not-The-Password-1",
                StatusCode::UNAUTHORIZED,
            ),
        ] {
            let r = browser
                .form(
                    end,
                    &[
                        ("csrf", token),
                        ("session", &tablet_ref),
                        ("password", password),
                    ],
                )
                .await;
            assert_eq!(r.status, status, "{token}");
            assert!(signed_in_still(&mut tablet).await);
        }
        let r = browser
            .form(
                end,
                &[
                    ("csrf", &csrf),
                    ("session", &tablet_ref),
                    ("password", "wrong-again"),
                ],
            )
            .await;
        assert!(
            r.text.contains("The password is not right."),
            "shown at the field"
        );

        let r = browser
            .form(
                end,
                &[
                    ("csrf", &csrf),
                    ("session", &tablet_ref),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/security?notice=session-ended");
        assert!(!signed_in_still(&mut tablet).await);
        assert!(signed_in_still(&mut phone).await);

        let r = browser
            .form(
                end,
                &[
                    ("csrf", &csrf),
                    ("session", "others"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/security?notice=sessions-ended");
        assert!(!signed_in_still(&mut phone).await);
        let page = browser.get(r.location()).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("Every other session is ended"));
        assert_eq!(page.text.matches("End session</button>").count(), 0);
        assert!(!page.text.contains("End every other session"));
        let details = audited(&app, "session_ended", "success").await;
        assert_eq!(details.len(), 2, "{details:?}");
        assert!(
            details
                .iter()
                .any(|d| d.contains("every other session by its user: 1 ended")),
            "{details:?}"
        );
    }

    /// Ending the session one is using signs one out (its cookie cleared).
    #[tokio::test]
    async fn ending_the_current_session_signs_out() {
        let app = spawn_app().await;
        let c = app.customer("self").await;
        let mut me = app.signed_in(&c.user_name()).await;
        let seen = list(&mut me).await;
        assert_eq!(seen.len(), 1);
        let reference = seen[0]["reference"].as_str().unwrap().to_owned();
        let r = end(&mut me, &reference, PASSWORD).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(me.session_cookie().is_none(), "the cookie is cleared");
        let details = audited(&app, "session_ended", "success").await;
        assert!(details[0].starts_with("this session"), "{details:?}");
    }
}
