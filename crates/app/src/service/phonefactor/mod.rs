//! PhoneFactor (SPEC §3.2): activation, sign-in challenges by call, text or
//! app, fraud reports, one-time bypass and deactivation.
//!
//! A challenge lives in the database and is bound to the session that
//! started it; every answer moves it with a conditional update, so a code,
//! a key press or an app answer counts once. Texts and calls are queued in
//! the same transaction as their challenge and sent by the delivery worker
//! ([`super::delivery`]).

use super::auth::{self, IssuedSession, LiveSession};
use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::device::DeviceKey;
use gatehouse_domain::phonefactor::{
    AppDecision, ChallengeStatus, KeyPress, LimitWindow, Mode, Phone, Purpose, is_fraud_reply,
    number_match,
};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{Timestamp, UserId, oath, secret};
use gatehouse_store::phonefactor::{self as pf, Challenge, NewChallenge, PhoneFactor};
use gatehouse_store::throttle::{self, Reservation};
use gatehouse_store::{Conn, StoreError, User, Users, audit, delivery, sessions};

/// Associated data for sealed queue bodies.
mod activation;
mod admin;
mod answers;
mod device;
mod sign_in;

pub use activation::*;
pub use admin::*;
pub use answers::*;
pub use device::*;
pub use sign_in::*;

pub const OUTBOX_AAD: &[u8] = b"gatehouse-outbox";
/// Associated data for sealed app secrets.
const APP_SECRET_AAD: &[u8] = b"gatehouse-pf-app-secret";

/// A challenge as the user's browser or API client sees it.
#[derive(Debug, Clone)]
pub struct ChallengeView {
    pub id: String,
    pub mode: Mode,
    pub purpose: Purpose,
    pub status: ChallengeStatus,
    /// The two digits to type into the app (app mode, once paired).
    pub number_match: Option<i64>,
    pub phone_masked: String,
    pub expires_at: Timestamp,
    /// App activation: the link the app pairs from (also shown as a QR code).
    pub pairing_uri: Option<String>,
}

impl ChallengeView {
    fn of(c: &Challenge, now: Timestamp, pairing_uri: Option<String>) -> Self {
        Self {
            id: c.id.clone(),
            mode: c.mode,
            purpose: c.purpose,
            status: c.status.at(c.expires_at, now),
            number_match: c.number_match,
            phone_masked: gatehouse_domain::phonefactor::mask(&c.phone),
            expires_at: c.expires_at,
            pairing_uri,
        }
    }
}

/// What PhoneFactor asks of a user at sign-in, once the password is right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// No PhoneFactor, or deactivated.
    Open,
    /// A fraud report blocks sign-in until then.
    Blocked(Timestamp),
    /// Ordered but not activated yet.
    Activation,
    /// Active: a challenge is due.
    Challenge,
}

/// The gate for `user` at `now`.
pub async fn gate(conn: &mut Conn, user: &User, now: Timestamp) -> Result<Gate> {
    Ok(match pf::get(conn, user).await? {
        None => Gate::Open,
        Some(p) if p.fraud_blocked_until.is_some_and(|t| now < t) => {
            Gate::Blocked(p.fraud_blocked_until.unwrap_or(now))
        }
        Some(p) if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active => {
            Gate::Challenge
        }
        Some(p)
            if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::AwaitingActivation =>
        {
            Gate::Activation
        }
        Some(_) => Gate::Open,
    })
}

/// The message for a user blocked after a fraud report.
pub fn blocked_message(until: Timestamp) -> String {
    format!(
        "Sign-in is blocked because a sign-in attempt was reported as fraud. Ask your administrator to clear the block, or wait until {}.",
        until.to_rfc3339()
    )
}

/// The user's PhoneFactor, if ordered.
pub async fn own(st: &AppState, user: &User) -> Result<Option<PhoneFactor>> {
    let mut conn = st.store.conn().await?;
    Ok(pf::get(&mut conn, user).await?)
}

fn bad_session() -> AppError {
    AppError::Unauthorized("Sign in with your username and password first.".into())
}

/// Counts a text or call against every limit, in the caller's transaction
/// (so a refused send counts nothing once it rolls back).
async fn count_send(
    st: &AppState,
    conn: &mut Conn,
    user: &User,
    phone: &str,
    now: Timestamp,
) -> Result<()> {
    let limits = st.config.send_limits;
    for w in LimitWindow::ALL {
        let key = w.key(user.id.0, phone, user.account_id.0);
        let slot = throttle::reserve(conn, &key, w.limit(&limits), w.seconds(), now).await?;
        if let Reservation::Refused { until } = slot {
            let (message, retry_after) = w.refusal(&limits, until.plus_seconds(-w.seconds()), now);
            metrics::counter!("gatehouse_phonefactor_sends_refused_total").increment(1);
            return Err(AppError::TooManyRequests {
                message,
                retry_after,
            });
        }
    }
    Ok(())
}

fn parse_phone(st: &AppState, input: &str, region: Option<&str>) -> Result<Phone> {
    let phone = Phone::parse(input, region, &st.config.blocked_regions)?;
    if matches!(st.config.delivery, crate::Delivery::Gateway(_))
        && gatehouse_domain::phonefactor::is_fictional(phone.as_str())
    {
        return Err(AppError::invalid(
            "phone",
            "Numbers 555-0100 to 555-0199 are reserved for examples and cannot receive calls or texts.",
        ));
    }
    Ok(phone)
}

/// Queues the text or call of a challenge (nothing for the app, which
/// fetches its requests itself).
async fn queue_delivery(
    st: &AppState,
    conn: &mut Conn,
    c: &NewChallenge<'_>,
    mode: Mode,
    user: &User,
    code: Option<&str>,
    now: Timestamp,
) -> Result<Option<i64>> {
    let portal = &st.config.portal_name;
    let (kind, body) = match mode {
        Mode::Sms => (
            gatehouse_domain::outbox::MessageKind::Sms,
            format!(
                "{portal}: your {} code is {}. It expires in {} minutes. Not you? Reply FRAUD.",
                match c.purpose {
                    Purpose::Activation => "activation",
                    Purpose::SignIn => "sign-in",
                },
                code.unwrap_or_default(),
                st.config.phonefactor.sms_code_minutes
            ),
        ),
        Mode::Call => (
            gatehouse_domain::outbox::MessageKind::Call,
            call_prompt(portal, c.purpose, &user.username),
        ),
        Mode::App => return Ok(None),
    };
    let sealed = st.config.master_key.seal(body.as_bytes(), OUTBOX_AAD);
    let id = delivery::enqueue(conn, kind, c.phone, "", &sealed, Some(c.id), now).await?;
    Ok(Some(id))
}

/// After the commit that queued `queued`: send it now; the worker covers
/// what this misses.
async fn send_now(st: &AppState, queued: Option<i64>) {
    if !st.config.delivery_worker {
        return;
    }
    if let Some(id) = queued
        && let Err(e) = super::delivery::deliver_now(st, id).await
    {
        tracing::warn!(error = %e, id, "sending at once failed; the delivery worker retries");
        st.delivery_wake.notify_one();
    }
}

/// What a call says: who is calling, why, and which keys to press.
pub fn call_prompt(portal: &str, purpose: Purpose, username: &str) -> String {
    let (what, action) = match purpose {
        Purpose::Activation => (
            "Someone is activating phone sign-in confirmation",
            "confirm this phone",
        ),
        Purpose::SignIn => ("Someone is signing in", "sign in"),
    };
    format!(
        "This is {portal}. {what} for {username}. Press the pound key to {action}. \
         If you did not try to sign in, press zero, then pound, to report fraud."
    )
}

/// What a gateway's call for `challenge` says (the TwiML prompt). The
/// caller is the telephony provider, already authenticated by its request
/// signature.
pub async fn prompt_of_call(st: &AppState, challenge: &str) -> Result<String> {
    let mut conn = st.store.conn().await?;
    let c = pf::challenge(&mut conn, challenge).await?;
    let username = Users::system().get(&mut conn, c.user_id).await?.username;
    Ok(call_prompt(&st.config.portal_name, c.purpose, &username))
}

fn code_digest(st: &AppState, challenge: &str, code: &str) -> String {
    st.config
        .master_key
        .keyed_digest(format!("pf-code:{challenge}:{code}").as_bytes())
}

fn pairing_uri(st: &AppState, token: &str, user: &User, secret: &[u8]) -> String {
    format!(
        "gatehouse-authenticator://pair?url={}&token={}&user={}&issuer={}&secret={}",
        crate::urlencode(&st.config.public_url),
        token,
        crate::urlencode(&user.username),
        crate::urlencode(&st.config.portal_name),
        oath::secret_to_base32(secret)
    )
}

/// The user a session belongs to, if its state is one of `states`.
fn session_user(live: &LiveSession, states: &[SessionState]) -> Result<User> {
    match &live.user {
        Some(u) if states.contains(&live.session.state) => Ok(u.clone()),
        _ => Err(bad_session()),
    }
}
