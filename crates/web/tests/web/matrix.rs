//! The access matrix: every route the router registers × every kind of
//! caller × (for routes that act on a user) a target in account A, in
//! account B and an operator. The expected answer of each combination is
//! written in `TABLE`; a route the router has and the table lacks fails the
//! test, so a new route cannot be added without deciding who may call it.
//!
//! Each route runs on a fresh database, and each request that acts on a
//! user gets a fresh target, so an allowed destructive call (delete, reset,
//! remove) cannot change what the next caller meets. Requests carry a valid
//! body and the caller's own CSRF token, so what is tested is the access
//! rule, not a malformed request or a missing token.
//!
//! Cells: `+` the request was carried out (2xx, or a redirect onwards, or a
//! refusal about the request itself: 400/409/422/429); `-` refused for who
//! the caller is: 401, 403, 404, or a page sent to sign in or to finish a
//! sign-in step. Set `MATRIX_PRINT=1` to print what the routes answer in
//! the table's own format.

use crate::support::*;
use axum::http::{Method, StatusCode};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{AccountId, Role, UserId, secret};
use gatehouse_store::{Scope, Users};
use gatehouse_web::service::{Caller, catalog, orders, validate};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Column order of every cell string.
const CALLERS: [&str; 11] = [
    "anonymous",       // a
    "password-only",   // p: second factor pending (account A)
    "activation",      // v: PhoneFactor activation pending (account A)
    "password-change", // c: forced password change (account A)
    "user A",          // u: role user, account A
    "admin A",         // A
    "admin B",         // B
    "admin provider",  // P: administrator in the provider's own account
    "operator",        // O
    "token (admin A)", // t: admin A's API token as bearer
    "API client",      // k: a validation API client's secret as bearer
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// A user of account A.
    InA,
    /// A user of account B.
    InB,
    /// An operator (provider account).
    Operator,
}

const TARGETS: [Target; 3] = [Target::InA, Target::InB, Target::Operator];

/// Expected answers. One group of 11 cells for routes without a target;
/// three groups `A | B | operator` for routes that act on a user.
#[rustfmt::skip]
const TABLE: &[(&str, &str)] = &[
    // Columns: a p v c u A B P O t k (see CALLERS). Notes on cells that
    // are `-` for a reason other than the caller:
    // - the password-only caller has a Symantec credential and no
    //   PhoneFactor, so PhoneFactor verification answers it 401 (the
    //   PhoneFactor sign-in itself is tested in phonefactor.rs);
    // - statement downloads name a month without a statement (404 for all);
    //   who may download one is tested in billing.rs;
    // - the virtual phone's number belongs to no caller, so only the
    //   operator sees its traffic; the call id does not exist.
    // - ending one session through the API names a reference that is no
    //   caller's (404 for all); the page's form ends every other session;
    //   ending one's own and not another's is tested in sessions.rs.
    ("DELETE /api/v1/api-clients/{id}", "--------+--"),
    ("GET /api/v1/api-clients", "--------+--"),
    ("DELETE /api/v1/radius-clients/{name}", "--------+--"),
    ("GET /api/v1/radius-clients", "--------+--"),
    ("GET /radius-clients", "--------+--"),
    ("DELETE /api/v1/api-tokens/{id}", "-----+--++- ------+-+-- --------+--"),
    ("DELETE /api/v1/users/{id}", "-----+--++- ------+-+-- --------+--"),
    ("DELETE /api/v1/users/{id}/external-authentication/{method}", "-----+--++- ------+-+-- --------+--"),
    ("GET /", "----+++++--"),
    ("GET /accounts", "--------+--"),
    ("GET /api/openapi.json", "+++++++++++"),
    ("GET /api/v1/accounts", "--------+--"),
    ("GET /api/v1/api-tokens", "----++++++-"),
    ("GET /api/v1/audit", "-----+++++-"),
    ("GET /api/v1/authenticator/requests", "-----------"),
    ("GET /api/v1/billing/current", "-----+++++-"),
    ("GET /api/v1/billing/statements", "-----+++++-"),
    ("GET /api/v1/billing/statements/csv", "-----------"),
    ("GET /api/v1/login/phonefactor/status", "-----------"),
    ("GET /api/v1/me/phonefactor", "--+-+++++--"),
    ("GET /api/v1/me/sessions", "----+++++--"),
    ("POST /api/v1/me/sessions/end", "-----------"),
    ("POST /api/v1/me/sessions/end-others", "----+++++--"),
    ("POST /security/sessions/end", "----+++++--"),
    ("GET /api/v1/me/phonefactor/activation/status", "--+-+++++--"),
    ("GET /api/v1/msa", "----++++++-"),
    ("GET /api/v1/orders/{number}", "-----+--++- ------+-+-- -------++--"),
    ("GET /api/v1/prices", "----++++++-"),
    ("GET /api/v1/promo-codes", "--------+--"),
    ("GET /api/v1/session", "++++++++++-"),
    ("GET /api/v1/tokens", "--------+--"),
    ("GET /api/v1/users", "-----+++++-"),
    ("GET /api/v1/users/{id}", "-----+--++- ------+-+-- -------++--"),
    ("GET /api/v1/virtual-phone/{e164}/calls", "--------+--"),
    ("GET /api/v1/virtual-phone/{e164}/messages", "--------+--"),
    ("GET /api/v1/virtual-phone/{e164}/notifications", "--------+--"),
    ("GET /audit", "-----++++--"),
    ("GET /audit/export.jsonl", "-----++++--"),
    ("GET /billing", "-----++++--"),
    ("GET /billing/statements.csv", "-----------"),
    ("GET /catalog", "--------+--"),
    ("GET /healthz", "+++++++++++"),
    ("GET /login", "+---+++++++"),
    ("GET /login/phonefactor", "-+---------"),
    ("GET /login/second-factor", "-+---------"),
    ("GET /login/security-code", "-+---------"),
    ("GET /metrics", "--------+--"),
    ("GET /msa/{version}", "----+++++--"),
    ("GET /orders/{number}", "-----+--+-- ------+-+-- -------++--"),
    ("GET /password", "---++++++--"),
    ("GET /phonefactor/activate", "--+-+++++--"),
    ("GET /readyz", "+++++++++++"),
    ("GET /security", "----+++++--"),
    ("GET /static/app.css", "+++++++++++"),
    ("GET /static/app.js", "+++++++++++"),
    ("GET /tokens", "--------+--"),
    ("GET /users", "-----++++--"),
    ("GET /users/new", "-----++++--"),
    ("GET /users/{id}/action", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/delete", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/disable", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/edit", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/enable", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/external-authentication", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/external-authentication/remove", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/phonefactor/bypass", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/phonefactor/clear-block", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/phonefactor/deactivate", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/reset-password", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/security-code/disable", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/security-code/enable", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/security-code/sync", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/security-code/temporary", "-----+--+-- ------+-+-- -------++--"),
    ("GET /users/{id}/security-code/unlock", "-----+--+-- ------+-+-- -------++--"),
    ("GET /virtual-phone", "-++++++++--"),
    ("PATCH /api/v1/users/{id}", "-----+--++- ------+-+-- --------+--"),
    ("POST /accounts", "--------+--"),
    ("POST /api/v1/accounts", "--------+--"),
    ("POST /api/v1/api-clients", "--------+--"),
    ("POST /api/v1/radius-clients", "--------+--"),
    ("POST /radius-clients/create", "--------+--"),
    ("POST /radius-clients/remove", "--------+--"),
    ("POST /api/v1/api-tokens", "----+++++--"),
    ("POST /api/v1/authenticator/pair", "++++++++++-"),
    ("POST /api/v1/authenticator/requests/{id}/answer", "-----------"),
    ("POST /api/v1/billing/run", "--------+--"),
    ("POST /api/v1/login", "++++++++++-"),
    ("POST /api/v1/login/phonefactor/start", "-+---------"),
    ("POST /api/v1/login/phonefactor/verify", "-----------"),
    ("POST /api/v1/login/security-code", "-+---------"),
    ("POST /api/v1/logout", "++++++++++-"),
    ("POST /api/v1/me/password", "---++++++--"),
    ("POST /api/v1/me/phonefactor/activation", "--+--------"),
    ("POST /api/v1/me/phonefactor/activation/verify", "--+-+++++--"),
    ("POST /api/v1/me/phonefactor/deactivate", "----++++++-"),
    ("POST /api/v1/msa", "--------+--"),
    ("POST /api/v1/promo-codes", "--------+--"),
    ("POST /api/v1/telephony/twilio/gather/{challenge}", "-----------"),
    ("POST /api/v1/telephony/twilio/sms", "-----------"),
    ("POST /api/v1/telephony/twilio/status", "-----------"),
    ("POST /api/v1/telephony/twilio/voice/{challenge}", "-----------"),
    ("POST /api/v1/tokens/import", "--------+--"),
    ("POST /api/v1/tokens/soft", "--------+--"),
    ("POST /api/v1/users", "-----+++++-"),
    ("POST /api/v1/users/{id}/external-authentication/orders", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/external-authentication/quote", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/phonefactor/bypass", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/phonefactor/clear-block", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/phonefactor/deactivate", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/reset-password", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/security-code/disable", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/security-code/enable", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/security-code/sync", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/security-code/temporary", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/users/{id}/security-code/unlock", "-----+--++- ------+-+-- --------+--"),
    ("POST /api/v1/validate", "----------+"),
    ("POST /api/v1/virtual-phone/{e164}/calls/{id}/keys", "-----------"),
    ("POST /api/v1/virtual-phone/{e164}/messages", "--------+--"),
    ("POST /billing/run", "--------+--"),
    ("POST /catalog/msa", "--------+--"),
    ("POST /catalog/price", "--------+--"),
    ("POST /catalog/promo", "--------+--"),
    ("POST /login", "-++++++++--"),
    ("POST /login/phonefactor/check", "-+---------"),
    ("POST /login/phonefactor/start", "-+---------"),
    ("POST /login/phonefactor/verify", "-----------"),
    ("POST /login/security-code", "-+---------"),
    ("POST /logout", "-++++++++--"),
    ("POST /password", "---++++++--"),
    ("POST /phonefactor/activate", "--+--------"),
    ("POST /phonefactor/activate/check", "--+-+++++--"),
    ("POST /phonefactor/activate/verify", "-----------"),
    ("POST /security/phonefactor/deactivate", "----+++++--"),
    ("POST /tokens/import", "--------+--"),
    ("POST /tokens/remote", "--------+--"),
    ("POST /tokens/soft", "--------+--"),
    ("POST /users/new", "-----++++--"),
    ("POST /users/{id}/delete", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/disable", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/edit", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/enable", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/external-authentication", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/external-authentication/remove", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/phonefactor/bypass", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/phonefactor/clear-block", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/phonefactor/deactivate", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/reset-password", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/security-code/disable", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/security-code/enable", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/security-code/sync", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/security-code/temporary", "-----+--+-- ------+-+-- --------+--"),
    ("POST /users/{id}/security-code/unlock", "-----+--+-- ------+-+-- --------+--"),
    ("POST /virtual-phone/keys", "-----------"),
    ("POST /virtual-phone/reply", "--------+--"),
    ("PUT /api/v1/prices/{method}", "--------+--"),
];

static HASH: OnceLock<String> = OnceLock::new();

fn hash() -> String {
    HASH.get_or_init(|| gatehouse_domain::password::hash(PASSWORD))
        .clone()
}

struct Fixture {
    app: App,
    a: AccountId,
    b: AccountId,
    provider: AccountId,
    callers: Vec<Client>,
    serial: u32,
}

impl Fixture {
    async fn new() -> Self {
        // Virtual delivery, so PhoneFactor can be ordered and its virtual
        // phone is there to be tried.
        let app = spawn_virtual().await;
        app.catalog().await;
        catalog::set_price(&app.st, &Caller::cli(), "phonefactor", 300, "USD")
            .await
            .unwrap();
        let provider = app.provider().await.id;
        let (a, _) = app.account("Alpha").await;
        let (b, _) = app.account("Beta").await;
        // A closed month, so statement downloads have something to send.
        gatehouse_web::service::billing::run(&app.st, &Caller::cli(), "2025-10")
            .await
            .unwrap();
        let mut f = Fixture {
            app,
            a,
            b,
            provider,
            callers: Vec::new(),
            serial: 0,
        };
        let anon = f.app.client();
        let pending = f
            .session(
                "m-pending",
                a,
                Role::User,
                SessionState::SecondFactorRequired,
            )
            .await;
        let activation = f
            .session(
                "m-activation",
                a,
                Role::User,
                SessionState::ActivationRequired,
            )
            .await;
        let pwchange = f
            .session(
                "m-pwchange",
                a,
                Role::User,
                SessionState::PasswordChangeRequired,
            )
            .await;
        let user = f
            .session("m-user", a, Role::User, SessionState::Authenticated)
            .await;
        let admin_a = f
            .session("m-admin-a", a, Role::Admin, SessionState::Authenticated)
            .await;
        let admin_b = f
            .session("m-admin-b", b, Role::Admin, SessionState::Authenticated)
            .await;
        let admin_p = f
            .session(
                "m-admin-p",
                provider,
                Role::Admin,
                SessionState::Authenticated,
            )
            .await;
        let operator = f
            .session(
                "m-operator",
                provider,
                Role::Operator,
                SessionState::Authenticated,
            )
            .await;
        let mut token = f.app.client();
        token.bearer = Some(f.api_token("m-admin-a").await);
        let mut client = f.app.client();
        client.bearer = Some(
            validate::create_client(&f.app.st, &Caller::cli(), "matrix")
                .await
                .unwrap(),
        );
        // The stage callers have what their stage is about.
        f.give_security_code(f.id("m-pending").await).await;
        f.give_phonefactor(f.id("m-activation").await).await;
        f.callers = vec![
            anon, pending, activation, pwchange, user, admin_a, admin_b, admin_p, operator, token,
            client,
        ];
        f
    }

    async fn id(&self, username: &str) -> UserId {
        let mut conn = self.app.st.store.conn().await.unwrap();
        Users::new(Scope::All)
            .find_by_username(&mut conn, username)
            .await
            .unwrap()
            .id
    }

    async fn insert_user(&self, username: &str, account: AccountId, role: Role) -> UserId {
        let mut conn = self.app.st.store.conn().await.unwrap();
        Users::new(Scope::All)
            .create(
                &mut conn,
                &gatehouse_store::users::NewUser {
                    account_id: account,
                    username,
                    email: &format!("{username}@example.test"),
                    name: username,
                    role,
                    password_hash: &hash(),
                    must_change_password: false,
                },
                T0,
            )
            .await
            .unwrap()
    }

    /// A user of `role` in `account` with a session in `state`.
    async fn session(
        &mut self,
        username: &str,
        account: AccountId,
        role: Role,
        state: SessionState,
    ) -> Client {
        let id = self.insert_user(username, account, role).await;
        let user = {
            let mut conn = self.app.st.store.conn().await.unwrap();
            Users::new(Scope::All).get(&mut conn, id).await.unwrap()
        };
        self.app.session_client(&user, state).await
    }

    async fn api_token(&self, username: &str) -> String {
        let id = self.id(username).await;
        let token = secret::new_token("gh_t_");
        let mut conn = self.app.st.store.conn().await.unwrap();
        gatehouse_store::tokens::create(
            &mut conn,
            id,
            "matrix",
            &secret::digest(&token),
            T0,
            T0.plus_seconds(86_400),
        )
        .await
        .unwrap();
        token
    }

    /// Who places orders for users of `user`'s account.
    async fn orderer(&self, user: UserId) -> Caller {
        let mut conn = self.app.st.store.conn().await.unwrap();
        let users = Users::new(Scope::All);
        let account = users.get(&mut conn, user).await.unwrap().account_id;
        let name = if account == self.a {
            "m-admin-a"
        } else if account == self.b {
            "m-admin-b"
        } else {
            "m-operator"
        };
        let who = users.find_by_username(&mut conn, name).await.unwrap();
        Caller::user(who, "10.1.2.3", gatehouse_web::service::Channel::Api)
    }

    async fn give_security_code(&mut self, user: UserId) -> String {
        self.serial += 1;
        let orderer = self.orderer(user).await;
        let credential_id = format!("UBHM{:08}", self.serial);
        self.app.credential(&credential_id, false).await;
        let placed = orders::place(
            &self.app.st,
            &orderer,
            user,
            &orders::OrderInput {
                method: "symantec_vip".into(),
                credential_id: Some(credential_id),
                security_code: None,
                next_security_code: None,
                promo_code: None,
                proof_token: None,
            },
            "2026.1",
            true,
            &format!("matrix-{}", self.serial),
        )
        .await
        .unwrap();
        match placed {
            orders::Placed::New(o) | orders::Placed::Existing(o) => o.number,
        }
    }

    async fn give_phonefactor(&mut self, user: UserId) {
        self.serial += 1;
        let orderer = self.orderer(user).await;
        orders::place(
            &self.app.st,
            &orderer,
            user,
            &orders::OrderInput {
                method: "phonefactor".into(),
                credential_id: None,
                security_code: None,
                next_security_code: None,
                promo_code: None,
                proof_token: None,
            },
            "2026.1",
            true,
            &format!("matrix-{}", self.serial),
        )
        .await
        .unwrap();
    }

    /// A fresh target of `kind` with a Symantec credential (its order
    /// number is returned too).
    async fn target(&mut self, kind: Target) -> (UserId, String, i64) {
        self.serial += 1;
        let name = format!("m-target-{}", self.serial);
        let (account, role) = match kind {
            Target::InA => (self.a, Role::User),
            Target::InB => (self.b, Role::User),
            Target::Operator => (self.provider, Role::Operator),
        };
        let id = self.insert_user(&name, account, role).await;
        let number = self.give_security_code(id).await;
        let token = {
            let mut conn = self.app.st.store.conn().await.unwrap();
            let digest = secret::digest(&secret::new_token("gh_t_"));
            gatehouse_store::tokens::create(
                &mut conn,
                id,
                "target",
                &digest,
                T0,
                T0.plus_seconds(86_400),
            )
            .await
            .unwrap()
        };
        (id, number, token)
    }
}

/// The path with its parameters filled in.
fn concrete(path: &str, target: Option<(UserId, &str, i64)>) -> String {
    let mut p = path.to_owned();
    if let Some((id, number, token)) = target {
        let id = if path.contains("/api-tokens/{id}") {
            token
        } else {
            id.0
        };
        p = p.replace("{id}", &id.to_string());
        p = p.replace("{number}", number);
    }
    if p.ends_with("/statements/csv") || p.ends_with("/statements.csv") {
        p.push_str("?period=2025-10");
    }
    p.replace("{method}", "symantec_vip")
        .replace("{version}", "2026.1")
        .replace("{e164}", "+14155550100")
        .replace("{challenge}", "no-such-challenge")
        .replace("{id}", "no-such-id")
}

/// Routes whose path names something of a user: the user, their order,
/// their API token.
fn acts_on_user(path: &str) -> bool {
    path.contains("/users/{id}") || path.contains("{number}") || path.contains("/api-tokens/{id}")
}

/// A valid JSON body for an API route.
fn api_body(method: &Method, path: &str) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    let p = path.trim_start_matches("/api/v1");
    Some(match p {
        "/login" => json!({"username": "m-user", "password": PASSWORD}),
        "/me/sessions/end" => {
            json!({"reference": "3f9a1c2b7d4e8f60a1b2c3d4", "password": PASSWORD})
        }
        "/me/sessions/end-others" => json!({"password": PASSWORD}),
        "/me/password" => {
            json!({"current_password": PASSWORD, "new_password": "Matrix-New-Password-77"})
        }
        "/users" => json!({
            "username": "m-created", "email": "m-created@example.test", "name": "Created",
            "role": "user", "password": "Matrix-New-Password-77"
        }),
        "/users/{id}" => json!({"name": "Renamed"}),
        "/accounts" => json!({"name": "Gamma"}),
        "/users/{id}/external-authentication/quote" => {
            json!({"method": "phonefactor"})
        }
        "/users/{id}/external-authentication/orders" => json!({
            "method": "phonefactor", "msa_version": "2026.1", "msa_acknowledged": true
        }),
        "/users/{id}/security-code/temporary" => json!({"hours": 1}),
        "/users/{id}/security-code/sync" => json!({"code1": "123456", "code2": "654321"}),
        "/users/{id}/phonefactor/bypass" => json!({"minutes": 5}),
        "/validate" => json!({"username": "m-user", "code": "123456"}),
        "/prices/{method}" => json!({"amount": 600, "currency": "USD"}),
        "/promo-codes" => json!({"code": "MATRIX10", "percent_off": 10}),
        "/msa" => json!({"version": "2027.1", "text": "New terms."}),
        "/tokens/soft" => json!({"count": 1}),
        "/tokens/import" => json!({"pskc": "<KeyContainer/>"}),
        "/api-clients" => json!({"name": "matrix-2"}),
        "/radius-clients" => {
            json!({"name": "matrix-r", "account": "12345678", "address": "10.0.0.1"})
        }
        "/api-tokens" => json!({"name": "matrix", "expires_in_days": 30}),
        "/login/security-code" => json!({"code": "123456"}),
        "/login/phonefactor/verify" | "/me/phonefactor/activation/verify" => {
            json!({"code": "123456"})
        }
        "/me/phonefactor/activation" => json!({"phone": "+14155550142", "mode": "sms"}),
        "/me/phonefactor/deactivate" => json!({"password": PASSWORD}),
        "/virtual-phone/{e164}/messages" => json!({"body": "0"}),
        "/virtual-phone/{e164}/calls/{id}/keys" => json!({"digits": "#"}),
        "/billing/run" => json!({"period": "2025-10"}),
        "/authenticator/pair" => json!({"code": "x", "public_key": "x"}),
        "/authenticator/requests/{id}/answer" => json!({"answer": "approve"}),
        _ => json!({}),
    })
}

/// Valid form fields (besides `csrf`) for a page's POST.
fn form_fields(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/login" => vec![("username", "m-user"), ("password", PASSWORD)],
        "/password" => vec![
            ("current_password", PASSWORD),
            ("new_password", "Matrix-New-Password-77"),
            ("confirm_password", "Matrix-New-Password-77"),
        ],
        "/accounts" => vec![("name", "Gamma")],
        "/users/new" => vec![
            ("username", "m-created"),
            ("name", "Created"),
            ("email", "m-created@example.test"),
            ("role", "user"),
        ],
        "/users/{id}/edit" => vec![
            ("name", "Renamed"),
            ("email", "renamed@example.test"),
            ("role", "user"),
            ("status", "active"),
        ],
        "/users/{id}/external-authentication" => vec![
            ("action", "review"),
            ("method", "phonefactor"),
            ("credential_id", ""),
            ("security_code", ""),
            ("next_security_code", ""),
        ],
        "/users/{id}/external-authentication/remove" => vec![("method", "symantec_vip")],
        "/users/{id}/phonefactor/bypass" => vec![("minutes", "5")],
        "/users/{id}/security-code/temporary" => vec![("hours", "1")],
        "/users/{id}/security-code/sync" => vec![("code1", "123456"), ("code2", "654321")],
        "/login/phonefactor/verify" | "/phonefactor/activate/verify" => {
            vec![("code", "123456")]
        }
        "/phonefactor/activate" => vec![
            ("country", "US"),
            ("phone", "+14155550142"),
            ("mode", "sms"),
        ],
        "/security/phonefactor/deactivate" => vec![("password", PASSWORD)],
        "/security/sessions/end" => vec![("session", "others"), ("password", PASSWORD)],
        "/virtual-phone/keys" => vec![
            ("number", "+14155550100"),
            ("call", "no-such-id"),
            ("digits", "#"),
        ],
        "/virtual-phone/reply" => vec![("number", "+14155550100"), ("body", "0")],
        "/tokens/remote" => vec![("credential_ids", "VSMT00000001")],
        "/tokens/soft" => vec![("count", "1")],
        "/catalog/price" => vec![
            ("method", "symantec_vip"),
            ("amount", "600"),
            ("currency", "USD"),
        ],
        "/catalog/promo" => vec![
            ("code", "MATRIX10"),
            ("percent_off", "10"),
            ("amount_off", ""),
            ("months", ""),
            ("max_redemptions", ""),
            ("valid_until", ""),
        ],
        "/catalog/msa" => vec![("version", "2027.1"), ("text", "New terms.")],
        "/radius-clients/create" => vec![
            ("name", "matrix-r"),
            ("account", "12345678"),
            ("address", "10.0.0.1"),
            ("mode", "code-only"),
        ],
        "/radius-clients/remove" => vec![("name", "no-such-client")],
        "/billing/run" => vec![("period", "2025-10")],
        _ => vec![],
    }
}

/// `+` carried out, `-` refused for who the caller is.
fn cell(r: &Resp) -> char {
    match r.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => '-',
        s if s.is_redirection() => {
            let to = r.location();
            // `/` is where a signed-in user is sent from a sign-in step.
            let refused = to == "/"
                || to == "/login"
                || to.starts_with("/login?next=")
                || to == "/login/second-factor"
                || to == "/password"
                || to.starts_with("/phonefactor/activate");
            if refused { '-' } else { '+' }
        }
        _ => '+',
    }
}

async fn call(
    f: &mut Fixture,
    caller: usize,
    method: &Method,
    path: &str,
    target: Option<(UserId, &str, i64)>,
) -> char {
    let mut url = concrete(path, target);
    if path == "/api/v1/api-clients/{id}" {
        // A fresh API client to revoke, so one caller's revocation does not
        // change what the next one meets.
        validate::create_client(&f.app.st, &Caller::cli(), "to-revoke")
            .await
            .unwrap();
        let clients = validate::list_clients(&f.app.st, &Caller::cli())
            .await
            .unwrap();
        let id = clients.iter().map(|c| c.id).max().unwrap();
        url = path.replace("{id}", &id.to_string());
    }
    if path == "/api/v1/radius-clients/{name}" {
        // A fresh RADIUS client to remove, likewise.
        let acc = gatehouse_web::service::accounts::create(&f.app.st, &Caller::cli(), "Radius M")
            .await
            .unwrap();
        let name = format!("rm-{}-{caller}", f.serial);
        let new = gatehouse_web::service::radius::NewClient {
            name: name.clone(),
            account_number: acc.number.to_string(),
            address: "10.9.9.9".into(),
            ..Default::default()
        };
        gatehouse_web::service::radius::create_client(&f.app.st, &Caller::cli(), &new)
            .await
            .unwrap();
        url = path.replace("{name}", &name);
    }
    let mut c = f.callers[caller].clone();
    let code = f.app.totp(0);
    let r = if path.starts_with("/api/") {
        let body = match api_body(method, path) {
            // The pending caller's real Security Code: the answer is then
            // about the caller, not about a wrong code.
            Some(_) if path == "/api/v1/login/security-code" => Body2::Json(json!({"code": code})),
            Some(v) => Body2::Json(v),
            None => Body2::None,
        };
        let key = format!("matrix-key-{}-{caller}", f.serial);
        c.send_with(
            method.clone(),
            &url,
            body,
            true,
            &[("idempotency-key", key.as_str())],
        )
        .await
    } else if path == "/tokens/import" {
        let csrf = c.csrf.clone().unwrap_or_default();
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.xml\"\r\n\
             Content-Type: application/xml\r\n\r\n<KeyContainer/>\r\n--XyZ--\r\n"
        );
        c.send(
            method.clone(),
            &url,
            Body2::Raw("multipart/form-data; boundary=XyZ", body.into_bytes()),
            false,
        )
        .await
    } else if *method == Method::POST {
        let csrf = c.csrf.clone().unwrap_or_default();
        let mut fields = vec![("csrf", csrf.as_str())];
        if path == "/login/security-code" {
            fields.push(("code", code.as_str()));
        } else {
            fields.extend(form_fields(path));
        }
        c.send(method.clone(), &url, Body2::Form(&fields), false)
            .await
    } else {
        c.send(method.clone(), &url, Body2::None, false).await
    };
    if std::env::var("MATRIX_DEBUG").is_ok_and(|d| d == path) {
        println!(
            "{method} {url} as {}: {} {} {}",
            CALLERS[caller],
            r.status,
            r.headers
                .get("location")
                .map_or("", |v| v.to_str().unwrap_or("")),
            r.text.chars().take(160).collect::<String>()
        );
    }
    assert!(
        r.status != StatusCode::INTERNAL_SERVER_ERROR,
        "{method} {url} as {}: server error {}",
        CALLERS[caller],
        r.text
    );
    cell(&r)
}

/// What each route answers, in the table's format.
async fn observe(method: &Method, path: &str) -> String {
    let mut f = Fixture::new().await;
    let mut groups = Vec::new();
    if acts_on_user(path) {
        for t in TARGETS {
            let mut g = String::new();
            for caller in 0..CALLERS.len() {
                let (id, number, token) = f.target(t).await;
                g.push(call(&mut f, caller, method, path, Some((id, &number, token))).await);
            }
            groups.push(g);
        }
    } else {
        let mut g = String::new();
        for caller in 0..CALLERS.len() {
            // A fresh fixture for callers after one that may have changed
            // shared state (sign-out, password change).
            if caller > 0
                && matches!(
                    path,
                    "/logout"
                        | "/api/v1/logout"
                        | "/password"
                        | "/api/v1/me/password"
                        | "/security/sessions/end"
                        | "/api/v1/me/sessions/end-others"
                )
            {
                f = Fixture::new().await;
            }
            g.push(call(&mut f, caller, method, path, None).await);
        }
        groups.push(g);
    }
    groups.join(" ")
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let routes = gatehouse_web::route_table();
    let table: BTreeMap<&str, &str> = TABLE.iter().copied().collect();
    let print = std::env::var("MATRIX_PRINT").is_ok();
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    let mut printed = Vec::new();
    for r in &routes {
        let key = format!("{} {}", r.method, r.path);
        let got = observe(&r.method, &r.path).await;
        if print {
            printed.push(format!("    (\"{key}\", \"{got}\"),"));
        }
        match table.get(key.as_str()) {
            None => missing.push(key),
            Some(want) if want.split_whitespace().collect::<Vec<_>>().join(" ") != got => {
                wrong.push(format!("{key}\n    want {want}\n    got  {got}"))
            }
            Some(_) => {}
        }
    }
    if print {
        printed.sort();
        println!("{}", printed.join("\n"));
    }
    let stale: Vec<&&str> = table
        .keys()
        .filter(|k| {
            !routes
                .iter()
                .any(|r| format!("{} {}", r.method, r.path) == **k)
        })
        .collect();
    assert!(
        missing.is_empty() && wrong.is_empty() && stale.is_empty(),
        "columns: {CALLERS:?}\nroutes missing from the table: {missing:#?}\n\
         answers that differ from the table:\n{}\ntable rows for routes that no longer exist: {stale:?}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn the_table_is_well_formed() {
    for (key, row) in TABLE {
        let groups: Vec<&str> = row.split_whitespace().collect();
        let path = key.split_once(' ').unwrap().1;
        let want = if acts_on_user(path) { 3 } else { 1 };
        assert_eq!(groups.len(), want, "{key}");
        for g in groups {
            assert_eq!(g.chars().count(), CALLERS.len(), "{key}");
            assert!(g.chars().all(|c| c == '+' || c == '-'), "{key}");
        }
    }
}
