//! A user's own sessions: where they are signed in, and ending one or all
//! of the others (ASVS 3.3.4). A user sees and ends only their own; the
//! sessions of someone else are not found, whoever asks.
//!
//! A session is named to its user by a *reference*: a keyed digest of the
//! session's stored digest, never the cookie's token nor the row's key. It
//! lets nobody in, and a reference learnt from one user's list means
//! nothing in another's.

use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::Timestamp;
use gatehouse_domain::session::SessionState;
use gatehouse_store::{User, audit, sessions};

/// One of the user's sessions, as their list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSession {
    /// Names the session in "end this one" (see the module's notes).
    pub reference: String,
    pub state: SessionState,
    pub signed_in_at: Timestamp,
    /// Refreshed at most once a minute.
    pub last_seen_at: Timestamp,
    pub client_addr: String,
    /// The session this request came with.
    pub current: bool,
}

/// What a session's state means to its user.
pub fn state_label(state: SessionState) -> &'static str {
    match state {
        SessionState::Authenticated => "Signed in",
        SessionState::SecondFactorRequired => "Password entered, second factor not yet",
        SessionState::ActivationRequired => "Signed in, PhoneFactor activation due",
        SessionState::PasswordChangeRequired => "Signed in, password change due",
        SessionState::Anonymous => "Not signed in",
    }
}

fn reference(st: &AppState, id_hash: &str) -> String {
    let digest = st
        .config
        .master_key
        .keyed_digest(format!("session-reference:{id_hash}").as_bytes());
    digest[..24].to_owned()
}

/// The signed-in user acting on their own sessions.
fn me(caller: &Caller) -> Result<&User> {
    caller
        .user_ref()
        .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))
}

/// The caller's live sessions, most recently used first; `current` is the
/// digest of the session the request came with (none for a bearer token).
pub async fn list_own(
    st: &AppState,
    caller: &Caller,
    current: Option<&str>,
) -> Result<Vec<OwnSession>> {
    let user = me(caller)?;
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let rows = sessions::list_for_user(&mut conn, user.id, now, sessions::LIST_LIMIT).await?;
    Ok(rows
        .into_iter()
        .filter(|s| st.config.session.is_live(s.created_at, s.last_seen_at, now))
        .map(|s| OwnSession {
            reference: reference(st, &s.id_hash),
            current: current == Some(s.id_hash.as_str()),
            state: s.state,
            signed_in_at: s.created_at,
            last_seen_at: s.last_seen_at,
            client_addr: s.client_addr,
        })
        .collect())
}

/// The password again before a session is ended (ASVS 3.3.4: "having
/// re-entered login credentials"): whoever holds a stolen session cannot
/// keep its user signed out, nor end the session the user would end theirs
/// with. Wrong: 401 and an audited refusal; too many wrong: 429.
async fn password_again(st: &AppState, caller: &Caller, user: &User, password: &str) -> Result<()> {
    if !super::auth::verify_own_password(st, caller, user, password, "session_end").await? {
        super::auth::audit_refusal(st, caller, user, "session_end", "password wrong").await?;
        return Err(AppError::Unauthorized("The password is not right.".into()));
    }
    Ok(())
}

/// Ends the caller's session named by `reference` (their current one too:
/// that is signing out) once `password` is theirs, and says whether it was
/// the current one. Another user's session, a forged reference or one
/// already ended is `NotFound`.
pub async fn end_own(
    st: &AppState,
    caller: &Caller,
    current: Option<&str>,
    reference_given: &str,
    password: &str,
) -> Result<bool> {
    let user = me(caller)?;
    password_again(st, caller, user, password).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    // Find the session the reference names among all of the user's (the
    // reference cannot be turned back into a row key; the list's cap does
    // not apply, so no number of sessions hides one).
    let found = sessions::list_for_user(&mut tx, user.id, now, i64::MAX)
        .await?
        .into_iter()
        .find(|s| reference(st, &s.id_hash) == reference_given)
        .ok_or(AppError::NotFound)?;
    sessions::delete_of_user(&mut tx, user.id, &found.id_hash).await?;
    let was_current = current == Some(found.id_hash.as_str());
    let which = if was_current {
        "this session"
    } else {
        "another session"
    };
    let detail = format!(
        "{which} by its user: signed in at {} from {}",
        found.created_at.to_rfc3339(),
        found.client_addr
    );
    commit_audited(tx, caller, user, now, detail).await?;
    Ok(was_current)
}

/// Ends every session of the caller but `current` once `password` is
/// theirs; returns how many ended. API tokens and paired devices are not
/// sessions and stay.
pub async fn end_others(
    st: &AppState,
    caller: &Caller,
    current: Option<&str>,
    password: &str,
) -> Result<u64> {
    let user = me(caller)?;
    password_again(st, caller, user, password).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let listed = sessions::list_for_user(&mut tx, user.id, now, 20).await?;
    let ended = sessions::delete_for_user(&mut tx, user.id, current).await?;
    // Which ones, for whoever reads the log later (at most 20 named).
    let named: Vec<String> = listed
        .iter()
        .filter(|s| current != Some(s.id_hash.as_str()))
        .map(|s| format!("{} from {}", s.created_at.to_rfc3339(), s.client_addr))
        .collect();
    let detail = format!(
        "every other session by its user: {ended} ended (signed in at {})",
        named.join(", ")
    );
    commit_audited(tx, caller, user, now, detail).await?;
    Ok(ended)
}

/// Records the ending (`session_ended`, `detail`) in the transaction that
/// made it, and commits.
async fn commit_audited(
    mut tx: gatehouse_store::Tx,
    caller: &Caller,
    user: &User,
    now: Timestamp,
    detail: String,
) -> Result<()> {
    let rec = caller.audit(
        now,
        "session_ended",
        user_target(user),
        "success",
        Some(user.account_id.0),
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}
