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
use gatehouse_store::{Conn, Scope, StoreError, User, Users, audit, delivery, sessions};

/// Associated data for sealed queue bodies.
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
            mode: Mode::parse(&c.mode).unwrap_or(Mode::Sms),
            purpose: Purpose::parse(&c.purpose).unwrap_or(Purpose::SignIn),
            status: ChallengeStatus::stored(&c.status, c.expires_at, now),
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
    Ok(match pf::get(conn, user.id).await? {
        None => Gate::Open,
        Some(p) if p.fraud_blocked_until.is_some_and(|t| now < t) => {
            Gate::Blocked(p.fraud_blocked_until.unwrap_or(now))
        }
        Some(p) if p.status == "active" => Gate::Challenge,
        Some(p) if p.status == "awaiting_activation" => Gate::Activation,
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
pub async fn own(st: &AppState, user: UserId) -> Result<Option<PhoneFactor>> {
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
            "sms",
            format!(
                "{portal}: your {} code is {}. It expires in {} minutes. Not you? Reply FRAUD.",
                match c.purpose {
                    "activation" => "activation",
                    _ => "sign-in",
                },
                code.unwrap_or_default(),
                st.config.phonefactor.sms_code_minutes
            ),
        ),
        Mode::Call => ("call", call_prompt(portal, c.purpose, &user.username)),
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
pub fn call_prompt(portal: &str, purpose: &str, username: &str) -> String {
    let (what, action) = match purpose {
        "activation" => (
            "Someone is activating phone sign-in confirmation",
            "confirm this phone",
        ),
        _ => ("Someone is signing in", "sign in"),
    };
    format!(
        "This is {portal}. {what} for {username}. Press the pound key to {action}. \
         If you did not try to sign in, press zero, then pound, to report fraud."
    )
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

/// Starts activation (or a change of number or mode): checks the number,
/// stores a challenge and sends it. From an `activation_required` session,
/// or a signed-in user whose PhoneFactor was ordered.
pub async fn start_activation(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
    phone_input: &str,
    region: Option<&str>,
    mode_input: &str,
    password_input: Option<&str>,
) -> Result<ChallengeView> {
    let user = session_user(
        live,
        &[
            SessionState::ActivationRequired,
            SessionState::Authenticated,
        ],
    )?;
    if st.config.delivery.mode() == crate::DeliveryMode::None {
        return Err(AppError::invalid("phone", crate::DELIVERY_NOT_CONFIGURED));
    }
    let mode = Mode::parse(mode_input)?;
    let phone = parse_phone(st, phone_input, region)?;
    // Changing an active factor needs the password again (ASVS 2.5/3.7):
    // a stolen session must not move sign-in confirmations to another phone.
    if live.session.state == SessionState::Authenticated
        && own(st, user.id)
            .await?
            .is_some_and(|p| p.status == "active")
    {
        let given = password_input.unwrap_or("").to_owned();
        if given.is_empty() {
            return Err(AppError::invalid(
                "password",
                "Enter your password to change the number or mode.",
            ));
        }
        if !auth::verify_own_password(st, caller, &user, &given, "phonefactor_activation_start")
            .await?
        {
            auth::audit_refusal(
                st,
                caller,
                &user,
                "phonefactor_activation_start",
                "password wrong",
            )
            .await?;
            return Err(AppError::invalid("password", "The password is not right."));
        }
    }
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let Some(current) = pf::get(&mut tx, user.id).await? else {
        return Err(AppError::Forbidden(
            "PhoneFactor has not been ordered for you. Ask your administrator to add it.".into(),
        ));
    };
    if current.fraud_blocked_until.is_some_and(|t| now < t) {
        return Err(AppError::Forbidden(blocked_message(
            current.fraud_blocked_until.unwrap_or(now),
        )));
    }
    if current.status == "active" && live.session.state == SessionState::ActivationRequired {
        return Err(AppError::Unauthorized(
            "PhoneFactor is already active for you. Sign in again.".into(),
        ));
    }
    let id = secret::new_token("pfc_");
    let policy = st.config.phonefactor;
    let code = (mode == Mode::Sms).then(|| secret::numeric_code(6));
    let code_hash = code.as_deref().map(|c| code_digest(st, &id, c));
    let (pairing, app_secret_sealed, secret_plain) = if mode == Mode::App {
        let token = secret::new_token("gh_p_");
        let secret_bytes = oath::generate_secret();
        let sealed = st.config.master_key.seal(&secret_bytes, APP_SECRET_AAD);
        (Some(token), Some(sealed), Some(secret_bytes))
    } else {
        (None, None, None)
    };
    let pairing_hash = pairing.as_deref().map(secret::digest);
    let lifetime = if mode == Mode::App {
        policy.pairing_minutes
    } else {
        policy.lifetime_minutes(mode)
    };
    let new = NewChallenge {
        id: &id,
        user_id: user.id,
        account_id: user.account_id,
        session_hash: &live.session.id_hash,
        purpose: Purpose::Activation.as_str(),
        mode: mode.as_str(),
        phone: phone.as_str(),
        code_hash: code_hash.as_deref(),
        number_match: None,
        status: if mode == Mode::App {
            ChallengeStatus::Pairing.as_str()
        } else {
            ChallengeStatus::Pending.as_str()
        },
        pairing_hash: pairing_hash.as_deref(),
        device_id: None,
        app_secret: app_secret_sealed.as_deref(),
        expires_at: now.plus_minutes(lifetime),
    };
    if mode != Mode::App {
        count_send(st, &mut tx, &user, phone.as_str(), now).await?;
    }
    pf::insert_challenge(&mut tx, &new, now).await?;
    let queued = queue_delivery(st, &mut tx, &new, mode, &user, code.as_deref(), now).await?;
    let rec = caller.audit(
        now,
        "phonefactor_activation_start",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!("{} to {}", mode.label(), phone.masked()),
    );
    audit::append(&mut tx, &rec).await?;
    let stored = pf::challenge(&mut tx, &id).await?;
    tx.commit().await?;
    send_now(st, queued).await;
    let uri = match (&pairing, &secret_plain) {
        (Some(t), Some(s)) => Some(pairing_uri(st, t, &user, s)),
        _ => None,
    };
    Ok(ChallengeView::of(&stored, now, uri))
}

/// Finishes an activation whose challenge was approved: stores the number,
/// mode and device; audits.
async fn activate_from(conn: &mut Conn, c: &Challenge, via: &str, now: Timestamp) -> Result<()> {
    // Re-pointing an active PhoneFactor is for a fully signed-in session
    // only (one that passed the current factor), never for a stale
    // activation_required one.
    if pf::get(conn, c.user_id)
        .await?
        .is_some_and(|p| p.status == "active")
    {
        let signed_in = match sessions::get(conn, &c.session_hash).await {
            Ok(s) => s.state == SessionState::Authenticated,
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !signed_in {
            return Err(AppError::Conflict {
                field: None,
                message: "PhoneFactor was activated meanwhile. Sign in again.".into(),
            });
        }
    }
    let activation = pf::Activation {
        phone: &c.phone,
        mode: &c.mode,
        device_id: c.device_id.as_deref(),
        device_key: c.device_key.as_deref(),
        app_secret: c.app_secret.as_deref(),
    };
    if !pf::activate(conn, c.user_id, &activation, now).await? {
        return Err(AppError::Conflict {
            field: None,
            message: "PhoneFactor was removed meanwhile.".into(),
        });
    }
    let user = Users::new(Scope::All).get(conn, c.user_id).await?;
    let rec = Caller::user(user.clone(), via.to_owned(), "web").audit(
        now,
        "phonefactor_activate",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!(
            "{} to {}",
            Mode::parse(&c.mode).map_or("?", |m| m.label()),
            gatehouse_domain::phonefactor::mask(&c.phone)
        ),
    );
    audit::append(conn, &rec).await?;
    Ok(())
}

/// The session after a finished activation: an `activation_required`
/// session becomes signed in (renewed id); a signed-in one stays.
async fn upgrade_after_activation(
    st: &AppState,
    conn: &mut Conn,
    caller: &Caller,
    live: &LiveSession,
    user: &User,
) -> Result<Option<IssuedSession>> {
    if live.session.state != SessionState::ActivationRequired {
        return Ok(None);
    }
    let next = auth::after_all_factors(user);
    Ok(Some(
        auth::issue_session(
            st,
            conn,
            Some(user),
            next,
            &caller.addr,
            Some(&live.session.id_hash),
        )
        .await?,
    ))
}

/// Checks the activation code from the text message. Returns the renewed
/// session when the activation signed the user in.
pub async fn verify_activation(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
    code: &str,
) -> Result<Option<IssuedSession>> {
    let user = session_user(
        live,
        &[
            SessionState::ActivationRequired,
            SessionState::Authenticated,
        ],
    )?;
    let now = st.now();
    let c = {
        let mut conn = st.store.conn().await?;
        pf::latest_for_session(
            &mut conn,
            &live.session.id_hash,
            Purpose::Activation.as_str(),
        )
        .await?
        .ok_or_else(|| AppError::invalid("code", "Start the activation first."))?
    };
    // The same per-user budget as sign-in codes: starting activation after
    // activation must not search the code space either.
    let slot = reserve_code_attempt(st, &user, now).await?;
    if let Err(e) = check_code(st, &c, code, now).await {
        auth::audit_refusal(
            st,
            caller,
            &user,
            "phonefactor_activation",
            "text-message code wrong",
        )
        .await?;
        return Err(e);
    }
    let mut tx = st.store.begin().await?;
    if !pf::transition(&mut tx, &c.id, &["pending"], "used", now).await? {
        return Err(code_refused());
    }
    slot.release(&mut tx).await?;
    activate_from(&mut tx, &c, &caller.addr, now).await?;
    let issued = upgrade_after_activation(st, &mut tx, caller, live, &user).await?;
    tx.commit().await?;
    Ok(issued)
}

fn code_refused() -> AppError {
    AppError::Unauthorized(
        "That code is not right or has expired. Check the latest text message, or send a new code."
            .into(),
    )
}

/// Checks a text-message code against a challenge (constant time). A try
/// of the challenge is reserved first, in its own transaction so that it
/// is remembered whatever happens next; the try that uses the last one and
/// is wrong ends the challenge.
async fn check_code(st: &AppState, c: &Challenge, code: &str, now: Timestamp) -> Result<()> {
    let status = ChallengeStatus::stored(&c.status, c.expires_at, now);
    let Some(expected) = c.code_hash.as_deref() else {
        return Err(AppError::invalid(
            "code",
            "This confirmation is not by text message: answer the call or the app.",
        ));
    };
    if status != ChallengeStatus::Pending {
        return Err(code_refused());
    }
    let max = st.config.phonefactor.code_attempts;
    let mut tx = st.store.begin().await?;
    let Some(n) = pf::reserve_attempt(&mut tx, &c.id, max).await? else {
        return Err(code_refused());
    };
    tx.commit().await?;
    let given = code.trim();
    if !secret::ct_eq(expected, &code_digest(st, &c.id, given)) {
        if n >= max {
            let mut tx = st.store.begin().await?;
            pf::transition(&mut tx, &c.id, &["pending"], "denied", now).await?;
            tx.commit().await?;
        }
        return Err(code_refused());
    }
    Ok(())
}

/// The session's latest activation challenge, read only (pages showing it
/// must not renew the session).
pub async fn latest_activation(st: &AppState, live: &LiveSession) -> Result<Option<ChallengeView>> {
    let mut conn = st.store.conn().await?;
    let now = st.now();
    Ok(pf::latest_for_session(
        &mut conn,
        &live.session.id_hash,
        Purpose::Activation.as_str(),
    )
    .await?
    .map(|c| ChallengeView::of(&c, now, None)))
}

/// `pending`, `active`, `failed` or `expired` for the session's latest
/// activation (call and app modes poll this), and the renewed session when
/// it signed the user in.
pub async fn activation_status(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
) -> Result<(&'static str, Option<ChallengeView>, Option<IssuedSession>)> {
    let user = session_user(
        live,
        &[
            SessionState::ActivationRequired,
            SessionState::Authenticated,
        ],
    )?;
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let Some(c) = pf::latest_for_session(
        &mut conn,
        &live.session.id_hash,
        Purpose::Activation.as_str(),
    )
    .await?
    else {
        return Ok(("none", None, None));
    };
    let view = ChallengeView::of(&c, now, None);
    let status = match view.status {
        ChallengeStatus::Used | ChallengeStatus::Approved => "active",
        ChallengeStatus::Pending | ChallengeStatus::Pairing => "pending",
        ChallengeStatus::Expired => "expired",
        ChallengeStatus::Denied | ChallengeStatus::Fraud => "failed",
    };
    drop(conn);
    if status == "active" && live.session.state == SessionState::ActivationRequired {
        let mut tx = st.store.begin().await?;
        let issued = upgrade_after_activation(st, &mut tx, caller, live, &user).await?;
        tx.commit().await?;
        return Ok((status, Some(view), issued));
    }
    Ok((status, Some(view), None))
}

/// Starts the sign-in challenge in the user's mode.
pub async fn start_sign_in(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
) -> Result<ChallengeView> {
    let user = session_user(live, &[SessionState::SecondFactorRequired])?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let p = match pf::get(&mut tx, user.id).await? {
        Some(p) if p.status == "active" => p,
        _ => {
            return Err(AppError::invalid(
                "method",
                "PhoneFactor is not active for you; use your security code.",
            ));
        }
    };
    if let Some(until) = p.fraud_blocked_until.filter(|t| now < *t) {
        return Err(AppError::Forbidden(blocked_message(until)));
    }
    let mode = p
        .mode
        .as_deref()
        .map(Mode::parse)
        .transpose()?
        .unwrap_or(Mode::Sms);
    let phone = p.phone.clone().unwrap_or_default();
    let id = secret::new_token("pfc_");
    let code = (mode == Mode::Sms).then(|| secret::numeric_code(6));
    let code_hash = code.as_deref().map(|c| code_digest(st, &id, c));
    if mode != Mode::App && st.config.delivery.mode() == crate::DeliveryMode::None {
        return Err(AppError::invalid(
            "method",
            "Texts and calls cannot be sent: no delivery is configured on this portal. \
             Ask your administrator for a one-time bypass.",
        ));
    }
    if mode == Mode::App && p.device_id.is_none() {
        return Err(AppError::invalid(
            "method",
            "No app is paired. Ask your administrator for a one-time bypass and pair the app again.",
        ));
    }
    let new = NewChallenge {
        id: &id,
        user_id: user.id,
        account_id: user.account_id,
        session_hash: &live.session.id_hash,
        purpose: Purpose::SignIn.as_str(),
        mode: mode.as_str(),
        phone: &phone,
        code_hash: code_hash.as_deref(),
        number_match: (mode == Mode::App).then(|| number_match() as i64),
        status: ChallengeStatus::Pending.as_str(),
        pairing_hash: None,
        device_id: p.device_id.as_deref(),
        app_secret: None,
        expires_at: now.plus_minutes(st.config.phonefactor.lifetime_minutes(mode)),
    };
    if mode != Mode::App {
        count_send(st, &mut tx, &user, &phone, now).await?;
    }
    pf::insert_challenge(&mut tx, &new, now).await?;
    let queued = queue_delivery(st, &mut tx, &new, mode, &user, code.as_deref(), now).await?;
    let rec = caller.audit(
        now,
        "phonefactor_challenge",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!(
            "{} to {}",
            mode.label(),
            gatehouse_domain::phonefactor::mask(&phone)
        ),
    );
    audit::append(&mut tx, &rec).await?;
    let stored = pf::challenge(&mut tx, &id).await?;
    tx.commit().await?;
    send_now(st, queued).await;
    metrics::counter!("gatehouse_phonefactor_challenges_total", "mode" => mode.as_str())
        .increment(1);
    Ok(ChallengeView::of(&stored, now, None))
}

/// The session's latest sign-in challenge.
pub async fn current_sign_in(st: &AppState, live: &LiveSession) -> Result<Option<ChallengeView>> {
    let mut conn = st.store.conn().await?;
    let now = st.now();
    Ok(
        pf::latest_for_session(&mut conn, &live.session.id_hash, Purpose::SignIn.as_str())
            .await?
            .map(|c| ChallengeView::of(&c, now, None)),
    )
}

/// Completes sign-in with a code: the text message's, or the app's
/// verification code (for when the phone is offline).
pub async fn verify_sign_in(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
    code: &str,
) -> Result<IssuedSession> {
    let user = session_user(live, &[SessionState::SecondFactorRequired])?;
    let now = st.now();
    let (p, latest) = {
        let mut conn = st.store.conn().await?;
        let p = pf::get(&mut conn, user.id)
            .await?
            .filter(|p| p.status == "active")
            .ok_or_else(bad_session)?;
        let latest =
            pf::latest_for_session(&mut conn, &live.session.id_hash, Purpose::SignIn.as_str())
                .await?;
        (p, latest)
    };
    if let Some(until) = p.fraud_blocked_until.filter(|t| now < *t) {
        return Err(AppError::Forbidden(blocked_message(until)));
    }
    // One of the user's second-factor attempts, across challenges and
    // code kinds, is reserved before any code is compared.
    let slot = reserve_code_attempt(st, &user, now).await?;
    let sms = latest.as_ref().filter(|c| c.mode == "sms");
    if let Some(c) = sms
        && let Err(e) = check_code(st, c, code, now).await
    {
        code_failure(st, caller, &user, "text-message code wrong").await?;
        return Err(e);
    }
    let mut tx = st.store.begin().await?;
    let how = match (sms, p.mode.as_deref()) {
        (Some(c), _) => {
            if !pf::transition(&mut tx, &c.id, &["pending"], "used", now).await? {
                return Err(code_refused());
            }
            "password and PhoneFactor text message"
        }
        (None, Some("app")) => {
            if let Err(e) = check_app_code(st, &mut tx, &user, &p, code, now).await {
                drop(tx);
                code_failure(st, caller, &user, "app verification code wrong").await?;
                return Err(e);
            }
            if let Some(c) = &latest {
                pf::transition(&mut tx, &c.id, &["pending", "approved"], "used", now).await?;
            }
            "password and PhoneFactor app verification code"
        }
        _ => return Err(code_refused()),
    };
    slot.release(&mut tx).await?;
    let issued =
        auth::finish_sign_in(st, &mut tx, caller, &user, &live.session.id_hash, how).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Wrong second-factor codes a user may enter per window, across
/// challenges and code kinds (the 6-digit space must not be searchable by
/// starting challenge after challenge): 10 per 15 minutes, and at most 50 a
/// day, so that waiting out the short window does not add up to a search
/// either (NIST SP 800-63B §5.2.2 asks for at most 100 consecutive
/// failures).
const CODE_FAILURE_WINDOWS: [(&str, i64, i64); 2] = [("15m", 10, 15 * 60), ("day", 50, 86_400)];

fn code_failure_key(user: &User, window: &str) -> String {
    format!("pf-code-failures:{window}:user:{}", user.id.0)
}

/// The user's reserved code attempt, one slot in each window.
struct CodeAttempt(Vec<(String, Reservation)>);

impl CodeAttempt {
    /// A right code gives its attempt back: only wrong codes count.
    async fn release(self, conn: &mut Conn) -> Result<()> {
        for (key, slot) in self.0 {
            throttle::release(conn, &key, slot).await?;
        }
        Ok(())
    }
}

/// Reserves one of the user's code attempts before a code is checked;
/// refused (429) while the user has used them all in a window.
async fn reserve_code_attempt(st: &AppState, user: &User, now: Timestamp) -> Result<CodeAttempt> {
    let mut tx = st.store.begin().await?;
    let mut slots = Vec::new();
    for (window, limit, seconds) in CODE_FAILURE_WINDOWS {
        let key = code_failure_key(user, window);
        match throttle::reserve(&mut tx, &key, limit, seconds, now).await? {
            Reservation::Refused { until } => {
                // The slots taken in the other windows go back with the
                // rollback: a refused attempt is not an attempt.
                drop(tx);
                let wait = throttle::retry_after(until, now);
                return Err(AppError::TooManyRequests {
                    message: format!(
                        "Too many wrong codes. Try again in {} minutes, or ask your administrator for a one-time bypass.",
                        (wait + 59) / 60
                    ),
                    retry_after: wait,
                });
            }
            slot => slots.push((key, slot)),
        }
    }
    tx.commit().await?;
    Ok(CodeAttempt(slots))
}

/// Audits a wrong second-factor code (its attempt stays counted).
async fn code_failure(st: &AppState, caller: &Caller, user: &User, what: &str) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let rec = caller.audit(
        now,
        "sign_in",
        user_target(user),
        "failure",
        Some(user.account_id.0),
        what,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    metrics::counter!("gatehouse_sign_ins_total", "outcome" => "second_factor_failure")
        .increment(1);
    Ok(())
}

/// The app's offline verification code: TOTP from the pairing secret, each
/// time step usable once.
async fn check_app_code(
    st: &AppState,
    conn: &mut Conn,
    user: &User,
    p: &PhoneFactor,
    code: &str,
    now: Timestamp,
) -> Result<()> {
    let sealed = p.app_secret.as_deref().ok_or_else(code_refused)?;
    let secret_bytes = st
        .config
        .master_key
        .open(sealed, APP_SECRET_AAD)
        .map_err(|_| AppError::Internal("app secret does not open".into()))?;
    let counters = oath::CredentialCounters {
        last_used: p.app_last_step,
        next_counter: 0,
        drift: 0,
    };
    let accepted = oath::verify(
        &oath::OathParams::vip_totp(),
        &secret_bytes,
        code.trim(),
        &counters,
        now.millis() / 1000,
        &st.config.oath_policy,
    )
    .ok_or_else(code_refused)?;
    if !pf::accept_app_step(conn, user.id, accepted.step_or_counter).await? {
        return Err(code_refused());
    }
    Ok(())
}

/// The status of the session's sign-in challenge; when approved, finishes
/// the sign-in and returns the renewed session.
pub async fn sign_in_status(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
) -> Result<(ChallengeStatus, Option<IssuedSession>)> {
    let user = session_user(live, &[SessionState::SecondFactorRequired])?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let Some(c) =
        pf::latest_for_session(&mut tx, &live.session.id_hash, Purpose::SignIn.as_str()).await?
    else {
        return Err(AppError::NotFound);
    };
    let status = ChallengeStatus::stored(&c.status, c.expires_at, now);
    if status != ChallengeStatus::Approved {
        return Ok((status, None));
    }
    if !pf::transition(&mut tx, &c.id, &["approved"], "used", now).await? {
        return Ok((ChallengeStatus::Used, None));
    }
    let how = match c.mode.as_str() {
        "call" => "password and PhoneFactor phone call",
        _ => "password and PhoneFactor app",
    };
    let issued =
        auth::finish_sign_in(st, &mut tx, caller, &user, &live.session.id_hash, how).await?;
    tx.commit().await?;
    Ok((ChallengeStatus::Approved, Some(issued)))
}

/// Approves a pending challenge: an activation is completed at once; a
/// sign-in is completed by the waiting browser's next status check.
async fn approve(
    _st: &AppState,
    conn: &mut Conn,
    c: &Challenge,
    via: &str,
    now: Timestamp,
) -> Result<bool> {
    let open = ChallengeStatus::stored(&c.status, c.expires_at, now);
    if open != ChallengeStatus::Pending {
        return Ok(false);
    }
    if c.purpose == Purpose::Activation.as_str() {
        if !pf::transition(conn, &c.id, &["pending"], "used", now).await? {
            return Ok(false);
        }
        activate_from(conn, c, via, now).await?;
    } else if !pf::transition(conn, &c.id, &["pending"], "approved", now).await? {
        return Ok(false);
    }
    Ok(true)
}

/// A fraud report (0# on the call, FRAUD by text, "Report fraud" in the
/// app): refuses the sign-in, blocks the user, ends their sessions, tells
/// the account's administrators, audits.
async fn report_fraud(
    st: &AppState,
    conn: &mut Conn,
    c: &Challenge,
    source: &str,
    addr: &str,
    now: Timestamp,
) -> Result<bool> {
    if !pf::transition(conn, &c.id, &["pending", "pairing"], "fraud", now).await? {
        return Ok(false);
    }
    let until = now.plus_minutes(st.config.phonefactor.fraud_block_days * 24 * 60);
    pf::set_fraud_block(conn, c.user_id, until, now).await?;
    // Every other session ends; the one that asked can only learn "fraud".
    // API tokens end too: whoever triggered the sign-in may hold the
    // password, and a token would outlast the block.
    sessions::delete_for_user(conn, c.user_id, Some(&c.session_hash)).await?;
    gatehouse_store::tokens::revoke_for_user(conn, c.user_id, now).await?;
    let user = Users::new(Scope::All).get(conn, c.user_id).await?;
    let rec = Caller::anonymous(addr.to_owned(), "web").audit(
        now,
        "phonefactor_fraud_report",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!(
            "reported by {source} at {}; sign-in blocked until {}",
            gatehouse_domain::phonefactor::mask(&c.phone),
            until.to_rfc3339()
        ),
    );
    audit::append(conn, &rec).await?;
    let portal = &st.config.portal_name;
    for (admin, email) in pf::admin_contacts(conn, user.account_id).await? {
        let body = format!(
            "Hello {admin},\n\nA {} attempt for {} ({}) was reported as fraud by {source} on the phone ending {}.\n\
             Someone may know {}'s password. Sign-in for {} is blocked until {} or until you clear the block\n\
             (Users > Actions > Clear Fraud Block). Consider resetting the password.\n\n{portal}\n",
            if c.purpose == "activation" {
                "PhoneFactor activation"
            } else {
                "sign-in"
            },
            user.username,
            user.email,
            &c.phone[c.phone.len().saturating_sub(4)..],
            user.username,
            user.username,
            until.to_rfc3339(),
        );
        let sealed = st.config.master_key.seal(body.as_bytes(), OUTBOX_AAD);
        delivery::enqueue(
            conn,
            "email",
            &email,
            &format!("{portal}: fraud alert for {}", user.username),
            &sealed,
            Some(&c.id),
            now,
        )
        .await?;
    }
    metrics::counter!("gatehouse_phonefactor_fraud_reports_total").increment(1);
    Ok(true)
}

/// Someone pressed keys on the call of `challenge_id` (virtual phone or a
/// gateway's callback). Returns the challenge's new status.
pub async fn answer_call(
    st: &AppState,
    challenge_id: &str,
    digits: &str,
    source: &str,
    addr: &str,
) -> Result<ChallengeStatus> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let c = match pf::challenge(&mut tx, challenge_id).await {
        Ok(c) if c.mode == "call" => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let done = match gatehouse_domain::phonefactor::classify_keys(digits) {
        KeyPress::Approve => approve(st, &mut tx, &c, addr, now).await?,
        KeyPress::Fraud => report_fraud(st, &mut tx, &c, source, addr, now).await?,
        KeyPress::Other => pf::transition(&mut tx, &c.id, &["pending"], "denied", now).await?,
    };
    if !done {
        tracing::info!(challenge = %c.id, "key press on a call that was no longer open");
    }
    commit_answer(st, tx, challenge_id).await
}

/// Commits an answer to a challenge (a fraud report may have queued
/// e-mail) and returns the challenge's status after it.
async fn commit_answer(
    st: &AppState,
    mut tx: gatehouse_store::Tx,
    challenge_id: &str,
) -> Result<ChallengeStatus> {
    let after = pf::challenge(&mut tx, challenge_id).await?;
    tx.commit().await?;
    st.delivery_wake.notify_one();
    Ok(ChallengeStatus::parse(&after.status).unwrap_or(ChallengeStatus::Expired))
}

/// A text message from a phone (a reply): `FRAUD` reports the latest open
/// text challenge sent to that number. Returns whether it was a report.
pub async fn text_reply(
    st: &AppState,
    from: &str,
    body: &str,
    source: &str,
    addr: &str,
) -> Result<bool> {
    text_reply_of(st, from, body, source, addr, None).await
}

/// A reply as [`text_reply`], acting only on `only_user`'s challenges when
/// given (a user's virtual phone reports only their own sign-ins).
pub async fn text_reply_of(
    st: &AppState,
    from: &str,
    body: &str,
    source: &str,
    addr: &str,
    only_user: Option<UserId>,
) -> Result<bool> {
    if !is_fraud_reply(body) {
        return Ok(false);
    }
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let open = match only_user {
        None => pf::latest_open_for_phone(&mut tx, from, "sms", now).await?,
        Some(u) => pf::latest_open_for_phone_of(&mut tx, from, "sms", u, now).await?,
    };
    let Some(c) = open else {
        return Ok(false);
    };
    let done = report_fraud(st, &mut tx, &c, source, addr, now).await?;
    tx.commit().await?;
    st.delivery_wake.notify_one();
    Ok(done)
}

/// What pairing tells the app.
#[derive(Debug, Clone)]
pub struct Paired {
    pub device_id: String,
    pub username: String,
}

/// The app's pairing step: registers its public key for the activation the
/// pairing token belongs to and opens the activation's push, to be
/// approved with the number the portal shows.
pub async fn pair_device(
    st: &AppState,
    token: &str,
    public_key: &str,
    addr: &str,
) -> Result<Paired> {
    let key = DeviceKey::parse(public_key)?;
    let now = st.now();
    let device_id = secret::new_token("dev_");
    let mut tx = st.store.begin().await?;
    let c = pf::pair(
        &mut tx,
        &secret::digest(token.trim()),
        &device_id,
        &key.to_base64(),
        number_match() as i64,
        now.plus_minutes(st.config.phonefactor.app_minutes),
        now,
    )
    .await?
    .ok_or_else(|| {
        AppError::Unauthorized(
            "This pairing link is not valid any more. Start the activation again in the portal."
                .into(),
        )
    })?;
    let user = Users::new(Scope::All).get(&mut tx, c.user_id).await?;
    let rec = Caller::user(user.clone(), addr.to_owned(), "api").audit(
        now,
        "phonefactor_app_paired",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!("device {device_id}"),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(Paired {
        device_id,
        username: user.username,
    })
}

/// The public key a device signs with: its active PhoneFactor's, or the
/// pending activation's it just paired with.
pub async fn device_key(st: &AppState, device_id: &str) -> Result<Option<DeviceKey>> {
    let mut conn = st.store.conn().await?;
    if let Some(p) = pf::by_device(&mut conn, device_id).await?
        && let Some(k) = p.device_key
    {
        return Ok(Some(DeviceKey::parse(&k)?));
    }
    let now = st.now();
    for c in pf::pending_for_device(&mut conn, device_id, now).await? {
        if c.purpose == "activation"
            && let Some(k) = c.device_key
        {
            return Ok(Some(DeviceKey::parse(&k)?));
        }
    }
    Ok(None)
}

/// A push waiting in the app.
#[derive(Debug, Clone)]
pub struct AppRequest {
    pub id: String,
    pub purpose: Purpose,
    pub username: String,
    pub portal: String,
    pub expires_at: Timestamp,
}

/// The device's open pushes.
pub async fn device_requests(st: &AppState, device_id: &str) -> Result<Vec<AppRequest>> {
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let mut out = Vec::new();
    for c in pf::pending_for_device(&mut conn, device_id, now).await? {
        let user = Users::new(Scope::All).get(&mut conn, c.user_id).await?;
        out.push(AppRequest {
            id: c.id,
            purpose: Purpose::parse(&c.purpose).unwrap_or(Purpose::SignIn),
            username: user.username,
            portal: st.config.portal_name.clone(),
            expires_at: c.expires_at,
        });
    }
    Ok(out)
}

/// The app's answer to a push, already checked to be signed by `device_id`.
/// Approval needs the number the portal shows; a wrong number denies the
/// request (one guess only).
pub async fn device_answer(
    st: &AppState,
    device_id: &str,
    challenge_id: &str,
    decision: &str,
    number: Option<i64>,
    addr: &str,
) -> Result<ChallengeStatus> {
    let decision = AppDecision::parse(decision)?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let c = match pf::challenge(&mut tx, challenge_id).await {
        Ok(c) if c.device_id.as_deref() == Some(device_id) && c.mode == "app" => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let open = ChallengeStatus::stored(&c.status, c.expires_at, now) == ChallengeStatus::Pending;
    if !open {
        return Err(AppError::Conflict {
            field: None,
            message: "This request was already answered or has expired.".into(),
        });
    }
    match decision {
        AppDecision::Approve => {
            if number.is_none() || number != c.number_match {
                pf::transition(&mut tx, &c.id, &["pending"], "denied", now).await?;
                let user = Users::new(Scope::All).get(&mut tx, c.user_id).await?;
                let rec = Caller::user(user.clone(), addr.to_owned(), "api").audit(
                    now,
                    "phonefactor_app_answer",
                    user_target(&user),
                    "failure",
                    Some(user.account_id.0),
                    "wrong number typed: request denied",
                );
                audit::append(&mut tx, &rec).await?;
                tx.commit().await?;
                return Err(AppError::invalid(
                    "number",
                    "That is not the number the sign-in page shows. The request was denied; sign in again.",
                ));
            }
            if !approve(st, &mut tx, &c, addr, now).await? {
                return Err(AppError::Conflict {
                    field: None,
                    message: "This request was already answered or has expired.".into(),
                });
            }
        }
        AppDecision::Deny => {
            pf::transition(&mut tx, &c.id, &["pending"], "denied", now).await?;
        }
        AppDecision::Fraud => {
            report_fraud(st, &mut tx, &c, "the mobile app", addr, now).await?;
        }
    }
    commit_answer(st, tx, challenge_id).await
}

/// The user deactivates their own PhoneFactor after re-entering their
/// password.
pub async fn deactivate_own(
    st: &AppState,
    caller: &Caller,
    user: &User,
    password_input: &str,
) -> Result<()> {
    if !auth::verify_own_password(st, caller, user, password_input, "phonefactor_deactivate")
        .await?
    {
        auth::audit_refusal(st, caller, user, "phonefactor_deactivate", "password wrong").await?;
        return Err(AppError::Unauthorized("The password is not right.".into()));
    }
    deactivate(st, caller, user, "by the user").await
}

/// An administrator deactivates a user's PhoneFactor; the user is told by
/// e-mail.
pub async fn deactivate_for(st: &AppState, caller: &Caller, id: UserId) -> Result<()> {
    caller.require_admin("deactivate PhoneFactor")?;
    let user = {
        let mut conn = st.store.conn().await?;
        super::target_user(&mut conn, caller, id).await?
    };
    deactivate(st, caller, &user, "by an administrator").await
}

async fn deactivate(st: &AppState, caller: &Caller, user: &User, how: &str) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    if !pf::deactivate(&mut tx, user.id, now).await? {
        return Err(match pf::get(&mut tx, user.id).await? {
            None => AppError::invalid("method", format!("{} has no PhoneFactor.", user.username)),
            Some(_) => AppError::Conflict {
                field: None,
                message: format!("PhoneFactor is already deactivated for {}.", user.username),
            },
        });
    }
    let rec = caller.audit(
        now,
        "phonefactor_deactivate",
        user_target(user),
        "success",
        Some(user.account_id.0),
        how,
    );
    audit::append(&mut tx, &rec).await?;
    if caller.user_id() != Some(user.id) {
        let portal = &st.config.portal_name;
        let body = format!(
            "Hello {},\n\nAn administrator deactivated PhoneFactor for your {portal} account. \
             Sign-ins are no longer confirmed by phone. You can activate it again from Security Settings.\n\
             If you did not expect this, contact your administrator.\n\n{portal}\n",
            user.username
        );
        let sealed = st.config.master_key.seal(body.as_bytes(), OUTBOX_AAD);
        delivery::enqueue(
            &mut tx,
            "email",
            &user.email,
            &format!("{portal}: PhoneFactor deactivated"),
            &sealed,
            None,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    st.delivery_wake.notify_one();
    Ok(())
}

/// Clears a fraud block (Actions → Clear Fraud Block).
pub async fn clear_block(st: &AppState, caller: &Caller, id: UserId) -> Result<()> {
    caller.require_admin("clear a fraud block")?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let user = super::target_user(&mut tx, caller, id).await?;
    if !pf::clear_fraud_block(&mut tx, user.id, now).await? {
        return Err(AppError::Conflict {
            field: None,
            message: format!("{} is not blocked.", user.username),
        });
    }
    let rec = caller.audit(
        now,
        "phonefactor_clear_fraud_block",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Grants a one-time bypass: the user's next sign-in within `minutes`
/// skips the PhoneFactor challenge once.
pub async fn grant_bypass(
    st: &AppState,
    caller: &Caller,
    id: UserId,
    minutes: Option<i64>,
) -> Result<Timestamp> {
    caller.require_admin("grant a one-time bypass")?;
    let policy = st.config.phonefactor;
    let minutes = minutes.unwrap_or(policy.bypass_default_minutes);
    if !(1..=policy.bypass_max_minutes).contains(&minutes) {
        return Err(AppError::invalid(
            "minutes",
            format!("A bypass lasts 1 to {} minutes.", policy.bypass_max_minutes),
        ));
    }
    let now = st.now();
    let until = now.plus_minutes(minutes);
    let mut tx = st.store.begin().await?;
    let user = super::target_user(&mut tx, caller, id).await?;
    match pf::get(&mut tx, user.id).await? {
        Some(p) if p.status == "active" => {}
        _ => {
            return Err(AppError::invalid(
                "method",
                format!("{} has no active PhoneFactor to bypass.", user.username),
            ));
        }
    }
    pf::set_bypass(&mut tx, user.id, until, now).await?;
    let rec = caller.audit(
        now,
        "phonefactor_bypass_grant",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!("{minutes} minutes, until {}", until.to_rfc3339()),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(until)
}

/// Uses up a bypass at sign-in, in the sign-in's transaction.
pub async fn take_bypass(
    conn: &mut Conn,
    caller: &Caller,
    user: &User,
    now: Timestamp,
) -> Result<bool> {
    if !pf::take_bypass(conn, user.id, now).await? {
        return Ok(false);
    }
    let rec = caller.audit(
        now,
        "phonefactor_bypass_used",
        user_target(user),
        "success",
        Some(user.account_id.0),
        "",
    );
    audit::append(conn, &rec).await?;
    Ok(true)
}

/// After an order of PhoneFactor: the user activates at next sign-in.
pub async fn on_order(conn: &mut Conn, user: &User, now: Timestamp) -> Result<()> {
    pf::await_activation(conn, user.id, user.account_id, now).await?;
    Ok(())
}

/// After Remove External Authentication of PhoneFactor.
pub async fn on_remove(conn: &mut Conn, user: UserId) -> Result<()> {
    pf::remove(conn, user).await?;
    Ok(())
}
