//! The validation API for integrations (VPN, other applications): is this
//! user's Security Code (and optionally password) right, right now?

use super::{Caller, auth, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::{UserStatus, Username, secret};
use gatehouse_store::throttle::{self, Reservation};
use gatehouse_store::{StoreError, Users, api_clients, audit};

/// Creates an API client; returns its secret, shown once.
pub async fn create_client(st: &AppState, caller: &Caller, name: &str) -> Result<String> {
    if !caller.is_operator() {
        return Err(AppError::Forbidden(
            "Only operators create API clients.".into(),
        ));
    }
    let name = gatehouse_domain::text::line("name", name, 100, "A client's name")?;
    if name.is_empty() {
        return Err(AppError::invalid(
            "name",
            "Give the client a name of 1 to 100 characters.",
        ));
    }
    let name = name.as_str();
    let token = secret::new_token("gh_c_");
    let now = st.now();
    let mut tx = st.store.begin().await?;
    api_clients::create(&mut tx, name, &secret::digest(&token), now).await?;
    let rec = caller.audit(
        now,
        "api_client_create",
        format!("api-client:{name}"),
        "success",
        None,
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(token)
}

/// Every API client (operators only).
pub async fn list_clients(st: &AppState, caller: &Caller) -> Result<Vec<api_clients::ApiClient>> {
    caller.require_operator("manage API clients")?;
    let mut conn = st.store.conn().await?;
    Ok(api_clients::list(&mut conn).await?)
}

/// Revokes an API client (operators only): its secret is refused from the
/// next request on, e.g. after a VPN's configuration leaked. Audited.
pub async fn revoke_client(st: &AppState, caller: &Caller, id: i64) -> Result<()> {
    caller.require_operator("manage API clients")?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let removed = api_clients::remove(&mut tx, id).await?;
    st.api_clients.lock().expect("API client cache").clear();
    let rec = caller.audit(
        now,
        "api_client_revoke",
        format!("api-client:{}", removed.name),
        "success",
        None,
        format!("id {}", removed.id),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// How long an authenticated API client is remembered: every validation
/// carries the client's secret, and looking it up each time was a database
/// round trip per request. A revocation clears this instance's memory at
/// once; other instances see it within this time.
const CLIENT_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// Clients remembered at most (the memory is cleared when full).
const CLIENT_CACHE_MAX: usize = 1024;

/// The API client a bearer secret belongs to.
pub async fn authenticate_client(
    st: &AppState,
    bearer: Option<&str>,
    addr: &str,
) -> Result<Caller> {
    let invalid = || {
        AppError::Unauthorized(
            "A valid API client secret is required (Authorization: Bearer …).".into(),
        )
    };
    let token = bearer.ok_or_else(invalid)?;
    let digest = secret::digest(token);
    if let Some((id, name, _)) = st
        .api_clients
        .lock()
        .expect("API client cache")
        .get(&digest)
        .filter(|(_, _, at)| at.elapsed() < CLIENT_CACHE_FOR)
    {
        return Ok(Caller::api_client(*id, name.clone(), addr));
    }
    let mut conn = st.store.conn().await?;
    match api_clients::by_secret(&mut conn, &digest).await {
        Ok((id, name)) => {
            let mut cache = st.api_clients.lock().expect("API client cache");
            if cache.len() >= CLIENT_CACHE_MAX {
                cache.clear();
            }
            cache.insert(digest, (id, name.clone(), std::time::Instant::now()));
            Ok(Caller::api_client(id, name, addr))
        }
        Err(StoreError::NotFound) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

/// Failed validations an API client may have per window (a client serves
/// many users; this bounds what a stolen client secret can try).
pub const CLIENT_FAILURES_ALLOWED: i64 = 1000;
pub const CLIENT_WINDOW_SECONDS: i64 = 15 * 60;

/// `true` when the user exists, is active, is not blocked after a
/// PhoneFactor fraud report, has a credential, the code is right under the
/// usual rules (replay, lock, temporary code) and, if given, the password
/// is right too.
///
/// Like sign-in: each failed validation takes one of the API client's
/// slots (reserved before anything is checked); a password counts toward
/// the user's lockout and is audited with the client as the actor; unknown
/// and disabled users cost the same Argon2 verification as known ones.
pub async fn validate(
    st: &AppState,
    client: &Caller,
    username: &str,
    code: &str,
    password_input: Option<&str>,
) -> Result<bool> {
    let now = st.now();
    // API clients answer for every account; a RADIUS client for its own
    // account's users only (anyone else is unknown to it).
    let (key, account) = match &client.actor {
        super::Actor::ApiClient { id, .. } => (format!("validate-failures:client:{id}"), None),
        // Per end user behind the NAS (the caller's address names the end
        // user, the packet's source and the client): one person at a VPN's
        // login cannot spend the budget of everyone else behind it.
        super::Actor::RadiusClient { id, account, .. } => (
            format!("validate-failures:radius:{id}:{}", client.addr),
            Some(*account),
        ),
        _ => return Err(AppError::Unauthorized("Only API clients validate.".into())),
    };
    // The common case — a right code, no password — in one read and one
    // grouped write; everything else takes the full path below.
    if password_input.is_none()
        && let Some(true) = super::credentials::fast_right_code(
            st,
            client,
            username,
            code,
            &key,
            CLIENT_FAILURES_ALLOWED,
            CLIENT_WINDOW_SECONDS,
        )
        .await?
    {
        return Ok(true);
    }
    let slot = {
        let mut tx = st.store.begin().await?;
        let slot = throttle::reserve(
            &mut tx,
            &key,
            CLIENT_FAILURES_ALLOWED,
            CLIENT_WINDOW_SECONDS,
            now,
        )
        .await?;
        tx.commit().await?;
        slot
    };
    if let Reservation::Refused { until } = slot {
        let wait = throttle::retry_after(until, now);
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many failed validations by this API client. Try again in {} minutes.",
                (wait + 59) / 60
            ),
            retry_after: wait,
        });
    }
    let ok = validate_user(st, client, account, &key, username, code, password_input).await?;
    if ok {
        let mut conn = st.store.conn().await?;
        throttle::release(&mut conn, &key, slot).await?;
    }
    Ok(ok)
}

async fn validate_user(
    st: &AppState,
    client: &Caller,
    account: Option<gatehouse_domain::AccountId>,
    client_key: &str,
    username: &str,
    code: &str,
    password_input: Option<&str>,
) -> Result<bool> {
    let now = st.now();
    let found = match Username::parse(username) {
        Ok(name) => {
            let mut conn = st.store.conn().await?;
            match Users::system()
                .find_by_username(&mut conn, name.as_str())
                .await
            {
                Ok(u) => Some(u),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            }
        }
        Err(_) => None,
    };
    let found = found.filter(|u| account.is_none_or(|a| u.account_id == a));
    let active = found.clone().filter(|u| u.status == UserStatus::Active);
    let Some(user) = active else {
        if let Some(pw) = password_input {
            auth::dummy_verification(st, pw).await?;
        }
        let (target, account, detail) = match &found {
            Some(u) => (user_target(u), Some(u.account_id.0), "user disabled"),
            None => (
                auth::unknown_user_target(st, username),
                None,
                "unknown user",
            ),
        };
        refuse(st, client, target, account, detail).await?;
        return Ok(false);
    };
    if let Some(pw) = password_input {
        let attempt = auth::password_attempt(st, &user, pw).await?;
        let mut tx = st.store.begin().await?;
        let detail = match attempt {
            auth::PasswordAttempt::Right { undo_lock } => {
                Users::system()
                    .password_accepted(&mut tx, user.id, undo_lock)
                    .await?;
                None
            }
            auth::PasswordAttempt::Locked => Some("locked"),
            auth::PasswordAttempt::Wrong { .. } => Some("wrong password"),
        };
        if let Some(detail) = detail {
            let rec = client.audit(
                now,
                "validate",
                user_target(&user),
                "failure",
                Some(user.account_id.0),
                detail,
            );
            audit::append(&mut tx, &rec).await?;
            auth::audit_lockout(st, &mut tx, client, &user, attempt, "sign-ins").await?;
            tx.commit().await?;
            return Ok(false);
        }
        tx.commit().await?;
        // The password was right: a right code now takes the fast path (one
        // trip, every rule of the full check repeated in its write).
        if let Some(true) = super::credentials::fast_right_code(
            st,
            client,
            username,
            code,
            client_key,
            CLIENT_FAILURES_ALLOWED,
            CLIENT_WINDOW_SECONDS,
        )
        .await?
        {
            return Ok(true);
        }
    }
    let blocked = {
        let mut conn = st.store.conn().await?;
        gatehouse_store::phonefactor::get(&mut conn, &user)
            .await?
            .and_then(|p| p.fraud_blocked_until)
            .is_some_and(|t| now < t)
    };
    if blocked {
        let detail = "blocked after a PhoneFactor fraud report";
        refuse(
            st,
            client,
            user_target(&user),
            Some(user.account_id.0),
            detail,
        )
        .await?;
        return Ok(false);
    }
    super::credentials::check_security_code(st, client, &user, code).await
}

/// Audits a refused validation.
async fn refuse(
    st: &AppState,
    client: &Caller,
    target: String,
    account: Option<i64>,
    detail: &str,
) -> Result<()> {
    let mut tx = st.store.begin().await?;
    let rec = client.audit(st.now(), "validate", target, "failure", account, detail);
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}
