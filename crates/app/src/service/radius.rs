//! The RADIUS front end's services (SPEC §12): the operator's clients, and
//! an Access-Request decided by the portal's own rules.
//!
//! A request goes through the same services as the portal and the
//! validation API, with the client as the actor (`radius:NAME`):
//!
//! - **code-only**: the validation API's check of a Security Code
//!   ([`validate::validate`]): replay-once, lockouts, the client's failure
//!   budget, fraud blocks, temporary codes;
//! - **password and code together**: the same, with the password;
//! - **the password alone**, or with a PhoneFactor mode word: the portal's
//!   sign-in ([`auth::sign_in`]: throttles, lockout, audit) in a session of
//!   its own, then its second step — a Security Code asked for with an
//!   Access-Challenge, a PhoneFactor text the same way, a call or an app
//!   notification waited for while the request is held. The session never
//!   leaves the server and is ended when the request is decided.
//!
//! A client answers for users of its own account only: anyone else is an
//! unknown user to it.

use super::phonefactor::{self, ChallengeView};
use super::{Actor, Caller, Channel, auth, validate};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::phonefactor::{ChallengeStatus, Mode};
use gatehouse_domain::radius::{
    ClientMode, ClientName, SecondFactor, SourceRange, parse_separator, split_password,
};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{AccountNumber, Timestamp, secret};
use gatehouse_store::radius_clients::{self, NewRadiusClient, RadiusClient};
use gatehouse_store::{StoreError, Users, accounts, audit};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Generated shared secrets: this many characters (SPEC: at least 32).
const SECRET_LEN: usize = 40;
/// Shared secrets given by the operator: at least this long.
const SECRET_MIN: usize = 16;
/// How long a client's request may be held at most (its `timeout_secs`).
const TIMEOUT_MAX_SECS: i64 = 300;
/// How long an Access-Challenge's `State` stays good.
const CHALLENGE_LIFE_S: i64 = 5 * 60;
/// Challenges waiting at most (the oldest are dropped beyond).
const PENDING_MAX: usize = 10_000;
/// How often a held request looks at its PhoneFactor challenge.
const HOLD_POLL: Duration = Duration::from_millis(500);
/// How long before the client's timeout a held request gives up.
const HOLD_MARGIN: Duration = Duration::from_secs(2);

/// The associated data a client's secret is sealed with.
fn secret_aad(name: &ClientName) -> Vec<u8> {
    format!("radius-client:{name}").into_bytes()
}

/// What the operator gives to register a client (no `Debug`: it may hold
/// the shared secret).
#[derive(Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub account_number: String,
    pub address: String,
    /// `password-and-code` (the default) or `code-only`.
    pub mode: Option<String>,
    /// `None`: a secret is generated.
    pub secret: Option<String>,
    /// Old gear without Message-Authenticator (BlastRADIUS: leave it on).
    pub allow_missing_message_authenticator: bool,
    pub allow_password_only: bool,
    /// `None`: `,`; `Some("")`: no separator.
    pub separator: Option<String>,
    pub timeout_secs: Option<i64>,
    pub class: Option<String>,
    pub filter_id: Option<String>,
}

/// Registers a client (operators only); returns its shared secret, shown
/// this once.
pub async fn create_client(st: &AppState, caller: &Caller, new: &NewClient) -> Result<String> {
    caller.require_operator("register RADIUS clients")?;
    let name = ClientName::parse(&new.name)?;
    let number = AccountNumber::parse(&new.account_number)?;
    let address = SourceRange::parse(&new.address)?;
    let mode = match &new.mode {
        Some(m) => m.parse::<ClientMode>()?,
        None => ClientMode::PasswordAndCode,
    };
    let separator = match &new.separator {
        Some(s) => parse_separator(s)?,
        None => Some(','),
    };
    let timeout_secs = new.timeout_secs.unwrap_or(60);
    if !(5..=TIMEOUT_MAX_SECS).contains(&timeout_secs) {
        return Err(AppError::invalid(
            "timeout_secs",
            format!("The timeout is 5 to {TIMEOUT_MAX_SECS} seconds (60 by default)."),
        ));
    }
    // Sent in RADIUS attributes (253 bytes at most, RFC 2865 §5), so the
    // limit is in bytes.
    let attribute = |field: &'static str, v: &Option<String>| -> Result<Option<String>> {
        let s = gatehouse_domain::text::line(field, v.as_deref().unwrap_or(""), 200, "The value")?;
        if s.len() > 200 {
            return Err(AppError::invalid(field, "The value is at most 200 bytes."));
        }
        Ok(Some(s).filter(|s| !s.is_empty()))
    };
    let class = attribute("class", &new.class)?;
    let filter_id = attribute("filter_id", &new.filter_id)?;
    let secret = match &new.secret {
        Some(s) => {
            let s = s.trim_end_matches(['\r', '\n']);
            if s.len() < SECRET_MIN || s.len() > 128 || s.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    "secret",
                    format!(
                        "A shared secret is {SECRET_MIN} to 128 characters without control characters; \
                         leave it out to have a strong one generated."
                    ),
                ));
            }
            s.to_owned()
        }
        None => generate_secret(),
    };
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let account = match accounts::find_by_number(&mut tx, number.as_str()).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => {
            return Err(AppError::invalid(
                "account",
                format!("There is no account {number}."),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let sealed = st
        .config
        .master_key
        .seal(secret.as_bytes(), &secret_aad(&name));
    let created = radius_clients::create(
        &mut tx,
        &NewRadiusClient {
            name: &name,
            account_id: account.id,
            address,
            sealed_secret: &sealed,
            mode,
            require_message_authenticator: !new.allow_missing_message_authenticator,
            allow_password_only: new.allow_password_only,
            separator,
            timeout_secs,
            class: class.as_deref(),
            filter_id: filter_id.as_deref(),
        },
        now,
    )
    .await;
    match created {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(AppError::Conflict {
                field: Some("name"),
                message: format!("A RADIUS client named {name} exists already."),
            });
        }
        Err(e) => return Err(e.into()),
    }
    let rec = caller.audit(
        now,
        "radius_client_create",
        format!("radius-client:{name}"),
        "success",
        Some(account.id.0),
        format!("address {address}, mode {mode}"),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(secret)
}

/// A strong shared secret: letters and digits (every NAS accepts them).
fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..SECRET_LEN)
        .map(|_| ALPHABET[secret::random_below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// Every client (operators only).
pub async fn list_clients(st: &AppState, caller: &Caller) -> Result<Vec<RadiusClient>> {
    caller.require_operator("manage RADIUS clients")?;
    let mut conn = st.store.conn().await?;
    Ok(radius_clients::list(&mut conn).await?)
}

/// Removes a client (operators only): its requests are dropped from the
/// next reload of the RADIUS server's list on.
pub async fn remove_client(st: &AppState, caller: &Caller, name: &str) -> Result<()> {
    caller.require_operator("manage RADIUS clients")?;
    let name = ClientName::parse(name)?;
    let mut tx = st.store.begin().await?;
    let removed = radius_clients::remove(&mut tx, &name).await?;
    let rec = caller.audit(
        st.now(),
        "radius_client_remove",
        format!("radius-client:{name}"),
        "success",
        Some(removed.account_id.0),
        format!("address {}", removed.address),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// A client as the RADIUS server needs it, its secret opened.
#[derive(Clone)]
pub struct ServedClient {
    pub client: RadiusClient,
    pub secret: Vec<u8>,
}

/// Every client with its secret opened, and the list's version (for the
/// RADIUS server, which reloads when the version changes). A client whose
/// secret does not open under this master key is left out and logged.
pub async fn served_clients(st: &AppState) -> Result<((i64, i64), Vec<ServedClient>)> {
    let mut conn = st.store.conn().await?;
    let version = radius_clients::version(&mut conn).await?;
    let mut out = Vec::new();
    for client in radius_clients::list(&mut conn).await? {
        match st
            .config
            .master_key
            .open(&client.sealed_secret, &secret_aad(&client.name))
        {
            Ok(secret) => out.push(ServedClient { client, secret }),
            Err(_) => tracing::error!(client = %client.name,
                "a RADIUS client's shared secret does not open with this master key; its requests are dropped"),
        }
    }
    Ok((version, out))
}

/// The clients' version alone (cheap: the server asks every few seconds).
pub async fn clients_version(st: &AppState) -> Result<(i64, i64)> {
    let mut conn = st.store.conn().await?;
    Ok(radius_clients::version(&mut conn).await?)
}

/// One Access-Request, as the RADIUS server read it.
#[derive(Clone)]
pub struct Access {
    pub username: String,
    /// The PAP `User-Password`, unhidden.
    pub password: Option<String>,
    pub state: Option<Vec<u8>>,
    /// Where the packet came from (the NAS).
    pub source: IpAddr,
    pub nas_ip: Option<IpAddr>,
    /// The end user's address, as the NAS reports it.
    pub calling_station_id: Option<String>,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accept { message: String },
    Reject { message: String },
    Challenge { state: Vec<u8>, message: String },
}

fn reject(message: impl Into<String>) -> Outcome {
    Outcome::Reject {
        message: message.into(),
    }
}

fn accept() -> Outcome {
    Outcome::Accept {
        message: "Welcome.".into(),
    }
}

/// What an Access-Challenge waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    SecurityCode,
    TextCode,
}

struct Waiting {
    client_id: i64,
    source: IpAddr,
    username: String,
    session_token: String,
    awaiting: Awaiting,
    expires: Timestamp,
}

/// Challenges waiting for their answer, by `State`. In this instance's
/// memory: a NAS sends the answer to the server that challenged it (RADIUS
/// proxies keep a session on one server).
#[derive(Default)]
pub struct Pending(Mutex<HashMap<Vec<u8>, Waiting>>);

impl Pending {
    fn insert(&self, state: Vec<u8>, w: Waiting, now: Timestamp) {
        let mut map = self.0.lock().expect("RADIUS challenges");
        if map.len() >= PENDING_MAX {
            map.retain(|_, w| w.expires > now);
        }
        if map.len() >= PENDING_MAX {
            // Still full of live ones: the oldest make way.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, w)| w.expires.millis())
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(state, w);
    }

    /// Takes the challenge of `state` (single use).
    fn take(&self, state: &[u8]) -> Option<Waiting> {
        self.0.lock().expect("RADIUS challenges").remove(state)
    }
}

/// The caller of a client's request. Its address is the end user's as the
/// NAS reports it (`Calling-Station-Id`), then the packet's source and the
/// client: `203.0.113.5 via 192.0.2.10 (radius:office-vpn)`. Every audit
/// entry of the request carries it, and the sign-in throttle counts per end
/// user behind one NAS — never under a key the portal's own throttle uses
/// for an address (the source is the packet's, not the claimed
/// `NAS-IP-Address`, and the client's name is part of it).
fn caller_of(client: &RadiusClient, req: &Access) -> Caller {
    let calling = req
        .calling_station_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 64 && !s.chars().any(char::is_control));
    let addr = match calling {
        Some(c) => format!("{c} via {} (radius:{})", req.source, client.name),
        None => format!("{} (radius:{})", req.source, client.name),
    };
    Caller {
        actor: Actor::RadiusClient {
            id: client.id,
            name: client.name.to_string(),
            account: client.account_id,
        },
        addr,
        via: Channel::Radius,
    }
}

/// Decides an Access-Request of `client` by the portal's rules. Errors of
/// the application (the database gone) are errors; refusals are
/// [`Outcome::Reject`]s with a message for the user.
pub async fn access(st: &AppState, client: &RadiusClient, req: Access) -> Result<Outcome> {
    // A request is held (a call, a push) until a little before the NAS
    // gives up, counted from its arrival.
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(client.timeout_secs.max(5) as u64).saturating_sub(HOLD_MARGIN);
    let caller = caller_of(client, &req);
    // A password that does not decode to text was hidden with another
    // secret (a forged packet, where no Message-Authenticator proves the
    // sender): refused before it can count against anyone's lockout.
    let garbled = req.password.as_deref().is_some_and(|p| {
        p.chars()
            .any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER)
    });
    let outcome = if garbled {
        Ok(reject("The password or the code is not right."))
    } else {
        decide(st, client, &caller, &req, deadline).await
    };
    let kind = match &outcome {
        Ok(Outcome::Accept { .. }) => "accept",
        Ok(Outcome::Reject { .. }) => "reject",
        Ok(Outcome::Challenge { .. }) => "challenge",
        Err(_) => "error",
    };
    metrics::counter!("gatehouse_radius_decisions_total", "outcome" => kind).increment(1);
    outcome
}

async fn decide(
    st: &AppState,
    client: &RadiusClient,
    caller: &Caller,
    req: &Access,
    deadline: tokio::time::Instant,
) -> Result<Outcome> {
    let password = req.password.clone().unwrap_or_default();
    if let Some(state) = &req.state {
        return answer_challenge(st, client, caller, req, state, &password).await;
    }
    match client.mode {
        ClientMode::CodeOnly => {
            checked(validate::validate(
                st,
                caller,
                &req.username,
                password.trim(),
                None,
            ))
            .await
        }
        ClientMode::PasswordAndCode => {
            let digits = code_digits(st, client, &req.username).await?;
            let split = split_password(&password, client.separator, digits);
            match split.second {
                Some(SecondFactor::Code(code)) => {
                    checked(validate::validate(
                        st,
                        caller,
                        &req.username,
                        &code,
                        Some(&split.password),
                    ))
                    .await
                }
                second => {
                    let phonefactor = second.is_some();
                    sign_in(
                        st,
                        client,
                        caller,
                        req,
                        &split.password,
                        phonefactor,
                        deadline,
                    )
                    .await
                }
            }
        }
    }
}

/// A validation's answer as an outcome.
async fn checked(v: impl Future<Output = Result<bool>>) -> Result<Outcome> {
    match v.await {
        Ok(true) => Ok(accept()),
        Ok(false) => Ok(reject("The password or the code is not right.")),
        Err(AppError::TooManyRequests { message, .. }) => Ok(reject(message)),
        Err(e) => Err(e),
    }
}

/// How many digits the user's codes have (for a password without a
/// separator): their credential's, else 6.
async fn code_digits(st: &AppState, client: &RadiusClient, username: &str) -> Result<usize> {
    if client.separator.is_some() {
        return Ok(6);
    }
    let Ok(name) = gatehouse_domain::Username::parse(username) else {
        return Ok(6);
    };
    let mut conn = st.store.conn().await?;
    let user = match Users::system()
        .find_by_username(&mut conn, name.as_str())
        .await
    {
        Ok(u) if u.account_id == client.account_id => u,
        Ok(_) | Err(StoreError::NotFound) => return Ok(6),
        Err(e) => return Err(e.into()),
    };
    let credential = gatehouse_store::credentials::for_user(&mut conn, &user).await?;
    Ok(credential.map_or(6, |c| c.params.digits as usize))
}

/// The password alone (or with a PhoneFactor mode word): the portal's
/// sign-in, then its second step.
async fn sign_in(
    st: &AppState,
    client: &RadiusClient,
    caller: &Caller,
    req: &Access,
    password: &str,
    phonefactor: bool,
    deadline: tokio::time::Instant,
) -> Result<Outcome> {
    let signed = match auth::sign_in(st, caller, &req.username, password, None).await {
        Ok(s) => s,
        Err(AppError::Unauthorized(m) | AppError::TooManyRequests { message: m, .. }) => {
            return Ok(reject(m));
        }
        Err(AppError::Forbidden(m)) => return Ok(reject(m)),
        Err(e) => return Err(e),
    };
    let Some(live) = auth::load_session(st, &signed.session.token).await? else {
        return Ok(reject("The sign-in could not be continued; try again."));
    };
    let outcome = match signed.session.state {
        SessionState::Authenticated if client.allow_password_only => Ok(accept()),
        SessionState::Authenticated => Ok(reject(
            "A second factor is required, and none is set up for you.",
        )),
        SessionState::SecondFactorRequired => {
            let has_code = signed.methods.contains(&"security_code");
            let has_phonefactor = signed.methods.contains(&"phonefactor");
            if has_phonefactor && (phonefactor || !has_code) {
                return phonefactor_step(
                    st,
                    client,
                    caller,
                    req,
                    &signed.session.token,
                    &live,
                    deadline,
                )
                .await;
            }
            return Ok(challenge(
                st,
                client,
                req,
                &signed.session.token,
                Awaiting::SecurityCode,
                "Enter your security code".into(),
            ));
        }
        SessionState::ActivationRequired => Ok(reject(
            "Activate your second factor in the portal before signing in here.",
        )),
        _ => Ok(reject(
            "Your password must be changed in the portal before you sign in here.",
        )),
    };
    auth::end_session(st, &live, caller).await?;
    outcome
}

/// PhoneFactor after the password: a text is answered with a challenge, a
/// call or app notification is waited for.
async fn phonefactor_step(
    st: &AppState,
    client: &RadiusClient,
    caller: &Caller,
    req: &Access,
    token: &str,
    live: &auth::LiveSession,
    deadline: tokio::time::Instant,
) -> Result<Outcome> {
    let view: ChallengeView = match phonefactor::start_sign_in(st, caller, live).await {
        Ok(v) => v,
        Err(AppError::Forbidden(m) | AppError::Invalid { message: m, .. }) => {
            auth::end_session(st, live, caller).await?;
            return Ok(reject(m));
        }
        Err(e) => {
            auth::end_session(st, live, caller).await?;
            return Err(e);
        }
    };
    if view.mode == Mode::Sms {
        return Ok(challenge(
            st,
            client,
            req,
            token,
            Awaiting::TextCode,
            format!("Enter the code we sent to {}", view.phone_masked),
        ));
    }
    // A call or an app notification: held until answered, refused, expired
    // or the deadline (a little before the NAS gives up, so it gets a
    // Reject rather than silence).
    let outcome = loop {
        tokio::time::sleep(HOLD_POLL).await;
        // The session as it is now: a user disabled meanwhile has lost it.
        let Some(now_live) = auth::load_session(st, token).await? else {
            return Ok(reject("The sign-in was not confirmed."));
        };
        let (status, issued) = match phonefactor::sign_in_status(st, caller, &now_live).await {
            Ok(s) => s,
            Err(AppError::NotFound) => break reject("The sign-in was not confirmed."),
            Err(e) => {
                auth::end_session(st, live, caller).await?;
                return Err(e);
            }
        };
        match status {
            ChallengeStatus::Approved => {
                // The approval renewed the session: end the renewed one.
                // Only a sign-in that is complete lets the user on (not one
                // with a password change or an activation still due).
                let Some(issued) = issued else {
                    break reject("The sign-in was not confirmed.");
                };
                end_token(st, caller, &issued.token).await?;
                return Ok(finished(issued.state));
            }
            ChallengeStatus::Denied => break reject("The sign-in was denied on the phone."),
            ChallengeStatus::Fraud => {
                break reject(
                    "The sign-in was reported as fraud; your administrator has been told.",
                );
            }
            ChallengeStatus::Expired => break reject("The sign-in was not confirmed in time."),
            _ if tokio::time::Instant::now() >= deadline => {
                break reject("The sign-in was not confirmed in time.");
            }
            _ => {}
        }
    };
    auth::end_session(st, live, caller).await?;
    Ok(outcome)
}

/// The answer to an Access-Challenge: the code, for the challenge `state`
/// made for this client, source and user.
async fn answer_challenge(
    st: &AppState,
    client: &RadiusClient,
    caller: &Caller,
    req: &Access,
    state: &[u8],
    code: &str,
) -> Result<Outcome> {
    let now = st.now();
    let waiting = st.radius_pending.take(state).filter(|w| {
        w.client_id == client.id
            && w.source == req.source
            && w.username == req.username.trim().to_lowercase()
            && now < w.expires
    });
    let Some(w) = waiting else {
        return Ok(reject("This sign-in has expired; start again."));
    };
    let Some(live) = auth::load_session(st, &w.session_token).await? else {
        return Ok(reject("This sign-in has expired; start again."));
    };
    let code = code.trim();
    let done = match w.awaiting {
        Awaiting::SecurityCode => auth::complete_security_code(st, caller, &live, code).await,
        Awaiting::TextCode => phonefactor::verify_sign_in(st, caller, &live, code).await,
    };
    let outcome = match done {
        Ok(issued) => {
            // Signed in: the session was renewed; it served this one
            // request and never reaches a browser.
            end_token(st, caller, &issued.token).await?;
            return Ok(finished(issued.state));
        }
        Err(
            AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::TooManyRequests { message: m, .. }
            | AppError::Invalid { message: m, .. },
        ) => Ok(reject(m)),
        Err(e) => Err(e),
    };
    end_token(st, caller, &w.session_token).await?;
    outcome
}

/// Accept for a sign-in that is complete; a password change or an
/// activation still due is done in the portal first.
fn finished(state: SessionState) -> Outcome {
    match state {
        SessionState::Authenticated => accept(),
        SessionState::ActivationRequired => {
            reject("Activate your second factor in the portal before signing in here.")
        }
        _ => reject("Your password must be changed in the portal before you sign in here."),
    }
}

/// Ends the session of `token`, if it is still there.
async fn end_token(st: &AppState, caller: &Caller, token: &str) -> Result<()> {
    if let Some(live) = auth::load_session(st, token).await? {
        auth::end_session(st, &live, caller).await?;
    }
    Ok(())
}

/// An Access-Challenge: a fresh `State`, remembered with what it waits for
/// (single use, for this client, source and user, [`CHALLENGE_LIFE_S`]).
fn challenge(
    st: &AppState,
    client: &RadiusClient,
    req: &Access,
    session_token: &str,
    awaiting: Awaiting,
    message: String,
) -> Outcome {
    let state = challenge_state();
    let now = st.now();
    st.radius_pending.insert(
        state.clone(),
        Waiting {
            client_id: client.id,
            source: req.source,
            username: req.username.trim().to_lowercase(),
            session_token: session_token.to_owned(),
            awaiting,
            expires: now.plus_seconds(CHALLENGE_LIFE_S),
        },
        now,
    );
    Outcome::Challenge { state, message }
}

/// A fresh `State`: 256 random bits, as 64 hex characters (printable, as
/// some NAS logs expect).
fn challenge_state() -> Vec<u8> {
    secret::new_token("").into_bytes()
}
