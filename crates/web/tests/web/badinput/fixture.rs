//! The world each route meets: a fresh database with the callers, a
//! credential, an order, an API client and token, and their sessions.

use super::*;

pub(super) static HASH: OnceLock<String> = OnceLock::new();

/// The callers' password hash, made once (Argon2 is slow by design).
pub(super) fn hash() -> String {
    HASH.get_or_init(|| gatehouse_domain::password::hash(PASSWORD))
        .clone()
}

pub(super) const PUBLIC_URL: &str = "https://portal.example.com";
/// The virtual phone's number that the routes open.
pub(super) const PHONE: &str = "+14155550100";

pub(super) struct Fixture {
    pub(super) app: App,
    pub(super) twilio: Option<gatehouse_delivery::fake::FakeTwilio>,
    pub(super) snapshot_query: String,
    pub(super) account_number: String,
    pub(super) users: BTreeMap<&'static str, UserId>,
    pub(super) target: UserId,
    pub(super) order_number: String,
    pub(super) api_client: String,
    pub(super) api_client_id: i64,
    pub(super) api_token_id: i64,
    pub(super) serial: u32,
}

impl Fixture {
    pub(super) async fn new(twilio: bool) -> Self {
        let (app, fake) = if twilio {
            let fake = gatehouse_delivery::fake::FakeTwilio::start().await;
            let gateway = fake.gateway("+15005550006");
            let app = spawn_app_with(gatehouse_web::AppConfig {
                twilio_webhooks: Some(gateway.webhook_verifier().clone()),
                delivery: gatehouse_web::Delivery::Gateway(std::sync::Arc::new(gateway)),
                public_url: PUBLIC_URL.to_owned(),
                ..Default::default()
            })
            .await;
            fake.set_clock(app.clock.clone());
            (app, Some(fake))
        } else {
            (spawn_virtual().await, None)
        };
        app.pf_catalog().await;
        let provider = app.provider().await.id;
        let (a, account_number) = app.account("Alpha").await;
        gatehouse_web::service::billing::run(&app.st, &Caller::cli(), "2025-10")
            .await
            .unwrap();
        let snapshot_query = gatehouse_store::testing::snapshot_query(&app.st.store)
            .await
            .unwrap();
        let mut f = Fixture {
            app,
            twilio: fake,
            snapshot_query,
            account_number,
            users: BTreeMap::new(),
            target: UserId(0),
            order_number: String::new(),
            api_client: String::new(),
            api_client_id: 0,
            api_token_id: 0,
            serial: 0,
        };
        for (name, account, role) in [
            ("s-admin", a, Role::Admin),
            ("s-user", a, Role::User),
            ("s-pending", a, Role::User),
            ("s-activation", a, Role::User),
            ("s-target", a, Role::User),
            ("s-operator", provider, Role::Operator),
        ] {
            let id = f.insert_user(name, account, role).await;
            f.users.insert(name, id);
        }
        f.target = f.users["s-target"];
        f.order_number = f.give_security_code("s-target", "UBHM00000001").await;
        f.give_security_code("s-pending", "UBHM00000002").await;
        f.give_phonefactor("s-activation").await;
        f.app.credential("UBHM00000099", false).await;
        f.api_client = validate::create_client(&f.app.st, &Caller::cli(), "sweep")
            .await
            .unwrap();
        f.api_client_id = validate::list_clients(&f.app.st, &Caller::cli())
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .max()
            .unwrap();
        f.api_token_id = {
            let mut conn = f.app.st.store.conn().await.unwrap();
            let digest = gatehouse_domain::secret::digest("gh_t_sweep");
            gatehouse_store::tokens::create(
                &mut conn,
                f.users["s-admin"],
                "sweep",
                &digest,
                T0,
                T0.plus_seconds(86_400),
            )
            .await
            .unwrap()
        };
        f
    }

    pub(super) async fn insert_user(
        &self,
        username: &str,
        account: AccountId,
        role: Role,
    ) -> UserId {
        let mut conn = self.app.st.store.conn().await.unwrap();
        Users::new(Scope::All)
            .create(
                &mut conn,
                &gatehouse_store::users::NewUser {
                    account_id: account,
                    username,
                    email: &format!("{username}@example.test"),
                    name: &username.to_uppercase(),
                    role,
                    password_hash: &hash(),
                    must_change_password: false,
                },
                T0,
            )
            .await
            .unwrap()
    }

    pub(super) async fn orderer(&self) -> Caller {
        let mut conn = self.app.st.store.conn().await.unwrap();
        let who = Users::new(Scope::All)
            .find_by_username(&mut conn, "s-admin")
            .await
            .unwrap();
        Caller::user(who, "10.1.2.3", gatehouse_web::service::Channel::Api)
    }

    pub(super) async fn give_security_code(
        &mut self,
        username: &str,
        credential_id: &str,
    ) -> String {
        self.app.credential(credential_id, false).await;
        let placed = orders::place(
            &self.app.st,
            &self.orderer().await,
            self.users[username],
            &orders::OrderInput {
                method: "symantec_vip".into(),
                credential_id: Some(credential_id.into()),
                security_code: None,
                next_security_code: None,
                promo_code: None,
                proof_token: None,
            },
            "2026.1",
            true,
            &format!("fixture-{credential_id}"),
        )
        .await
        .unwrap();
        match placed {
            orders::Placed::New(o) | orders::Placed::Existing(o) => o.number,
        }
    }

    pub(super) async fn give_phonefactor(&mut self, username: &str) {
        orders::place(
            &self.app.st,
            &self.orderer().await,
            self.users[username],
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
            &format!("fixture-pf-{username}"),
        )
        .await
        .unwrap();
    }

    /// A fresh client for `who` (a new session each time: a request that
    /// signs out or changes the password does not spoil the next).
    pub(super) async fn client(&self, who: Who, api: bool) -> Client {
        let (username, state) = match who {
            Who::Anonymous => {
                let mut c = self.app.client();
                if api {
                    c.refresh_csrf().await;
                } else {
                    let page = c.get("/login").await;
                    c.csrf = Some(Client::csrf_in(&page.text));
                }
                return c;
            }
            Who::ApiClient => {
                let mut c = self.app.client();
                c.bearer = Some(self.api_client.clone());
                return c;
            }
            Who::Pending => ("s-pending", SessionState::SecondFactorRequired),
            Who::Activation => ("s-activation", SessionState::ActivationRequired),
            Who::User => ("s-user", SessionState::Authenticated),
            Who::Admin => ("s-admin", SessionState::Authenticated),
            Who::Operator => ("s-operator", SessionState::Authenticated),
        };
        let user = {
            let mut conn = self.app.st.store.conn().await.unwrap();
            Users::new(Scope::All)
                .get(&mut conn, self.users[username])
                .await
                .unwrap()
        };
        self.app.session_client(&user, state).await
    }

    pub(super) async fn snapshot(&self) -> BTreeMap<String, Vec<String>> {
        gatehouse_store::testing::snapshot_with(&self.app.st.store, &self.snapshot_query)
            .await
            .expect("a snapshot of the database (all its tables still there)")
    }

    /// The route's path with its parameters filled in.
    pub(super) fn path(&self, pattern: &str) -> String {
        let id = if pattern.contains("/api-clients/{id}") {
            self.api_client_id
        } else if pattern.contains("/api-tokens/{id}") {
            self.api_token_id
        } else {
            self.target.0
        };
        let p = if pattern.contains("/calls/{id}") {
            pattern.replace("{id}", "no-such-call")
        } else if pattern.contains("/authenticator/requests/{id}") {
            pattern.replace("{id}", "no-such-request")
        } else {
            pattern.replace("{id}", &id.to_string())
        };
        p.replace("{number}", &self.order_number)
            .replace("{method}", "symantec_vip")
            .replace("{version}", "2026.1")
            .replace("{e164}", &enc(PHONE))
            .replace("{challenge}", "no-such-challenge")
            .replace("{name}", "sweep-r")
    }

    /// `{n}`, `{n:8}`, `{account}`, `{password}` and the credential's
    /// codes `{totp0}`, `{totp1}` in a valid value.
    pub(super) fn fill(&self, value: &str, n: u32) -> String {
        value
            .replace("{totp0}", &self.app.totp(0))
            .replace("{totp1}", &self.app.totp(1))
            .replace("{n:8}", &format!("{n:08}"))
            .replace("{n}", &n.to_string())
            .replace("{account}", &self.account_number)
            .replace("{password}", PASSWORD)
    }
}
