//! Sign-in, sessions and passwords.

use super::phonefactor::Gate;
use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{Username, password, secret};
use gatehouse_store::sessions::{self, NewSession, Session};
use gatehouse_store::throttle::{self, Reservation};
use gatehouse_store::{Scope, StoreError, User, Users, audit};

/// The one message for every failed sign-in: wrong password, unknown user,
/// locked or disabled (no user enumeration, OWASP ASVS 2.2.1 / 3.1).
pub const SIGN_IN_FAILED: &str = "The username or password is incorrect.";

pub const COOKIE: &str = "gatehouse_session";

/// A session as the web layer sees it: the stored row plus its user.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session: Session,
    pub user: Option<User>,
}

/// A freshly issued session token (only ever in the cookie).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub csrf_token: String,
    pub state: SessionState,
}

/// Creates a session row and returns its token. `replace` is the hash of
/// the session being replaced (id rotation at every privilege change).
pub async fn issue_session(
    st: &AppState,
    conn: &mut gatehouse_store::Conn,
    user: Option<&User>,
    state: SessionState,
    addr: &str,
    replace: Option<&str>,
) -> Result<IssuedSession> {
    // The CSRF token is new whenever the session changes hands or gains a
    // user: a token seen by anyone before the password was accepted is no
    // good after it. Only the steps of one sign-in of one user (password →
    // second factor → activation) keep it, as API clients that follow
    // SPEC §11 fetch it once after `POST /api/v1/login`; that token was
    // minted after the password and handed only to this session.
    let mut kept_csrf = None;
    if let Some(old) = replace {
        match sessions::get(conn, old).await {
            Ok(prev)
                if prev.user_id.is_some()
                    && prev.user_id == user.map(|u| u.id)
                    && prev.state != SessionState::Authenticated =>
            {
                kept_csrf = Some(prev.csrf_token);
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        sessions::delete(conn, old).await?;
    }
    let now = st.now();
    let token = secret::new_token("gh_s_");
    let csrf_token = kept_csrf.unwrap_or_else(|| secret::new_token(""));
    sessions::insert(
        conn,
        &NewSession {
            id_hash: &secret::digest(&token),
            user_id: user.map(|u| u.id),
            state,
            csrf_token: &csrf_token,
            client_addr: addr,
            expires_at: st.config.session.expires_at(now, now),
        },
        now,
    )
    .await?;
    Ok(IssuedSession {
        token,
        csrf_token,
        state,
    })
}

/// Looks up the session for a cookie token; ends it if it timed out or its
/// user is gone or disabled; notes activity.
pub async fn load_session(st: &AppState, token: &str) -> Result<Option<LiveSession>> {
    let mut conn = st.store.conn().await?;
    let hash = secret::digest(token);
    let session = match sessions::get(&mut conn, &hash).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let now = st.now();
    let policy = &st.config.session;
    if !policy.is_live(session.created_at, session.last_seen_at, now) {
        sessions::delete(&mut conn, &hash).await?;
        return Ok(None);
    }
    let user = match session.user_id {
        None => None,
        Some(id) => match Users::system().get(&mut conn, id).await {
            Ok(u) if u.status == gatehouse_domain::UserStatus::Active => Some(u),
            Ok(_) | Err(StoreError::NotFound) => {
                sessions::delete(&mut conn, &hash).await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        },
    };
    if policy.needs_touch(session.last_seen_at, now) {
        sessions::touch(
            &mut conn,
            &hash,
            now,
            policy.expires_at(session.created_at, now),
        )
        .await?;
    }
    Ok(Some(LiveSession { session, user }))
}

/// Ends a session (sign-out).
pub async fn end_session(st: &AppState, live: &LiveSession, caller: &Caller) -> Result<()> {
    let mut tx = st.store.begin().await?;
    sessions::delete(&mut tx, &live.session.id_hash).await?;
    if let Some(u) = &live.user {
        let rec = caller.audit(
            st.now(),
            "sign_out",
            user_target(u),
            "success",
            Some(u.account_id.0),
            "",
        );
        audit::append(&mut tx, &rec).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The result of a correct password.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: IssuedSession,
    /// With `second_factor_required`: the ways to finish (`security_code`,
    /// `phonefactor`); either one is enough.
    pub methods: Vec<&'static str>,
}

/// The outcome of one password attempt under the user's lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAttempt {
    /// The user is locked: no attempt was reserved and the password was
    /// not compared (a dummy hash was paid for instead).
    Locked,
    /// Wrong; `locked_now` when this attempt used the last one and the
    /// user is now locked.
    Wrong { locked_now: bool },
    /// Right; `undo_lock` when this attempt's reservation locked the user,
    /// to be lifted with [`Users::password_accepted`].
    Right { undo_lock: bool },
}

/// Reserves an attempt under the user's lockout, then (only if one was
/// granted) compares `input` with the user's password hash on the hashing
/// threads. Every path pays for exactly one Argon2 verification, so the
/// time taken tells nothing about the lock.
pub async fn password_attempt(st: &AppState, user: &User, input: &str) -> Result<PasswordAttempt> {
    let reserved = {
        let mut tx = st.store.begin().await?;
        let r = reserve_password_attempt(st, &mut tx, user).await?;
        tx.commit().await?;
        r
    };
    verify_reserved(st, reserved, input).await
}

/// A reserved (or refused) password attempt and the hash to compare with.
struct ReservedAttempt {
    slot: Reservation,
    phc: String,
}

/// Reserves an attempt under the user's lockout in `conn` (a transaction
/// the caller commits before the comparison).
async fn reserve_password_attempt(
    st: &AppState,
    conn: &mut gatehouse_store::Conn,
    user: &User,
) -> Result<ReservedAttempt> {
    let users = Users::system();
    let now = st.now();
    Ok(
        match users
            .reserve_password_attempt(conn, user.id, &st.config.lockout, now)
            .await
        {
            Ok(slot) => ReservedAttempt {
                slot,
                phc: users.password_hash(conn, user.id).await?,
            },
            // Deleted since it was looked up: refused like any other.
            Err(StoreError::NotFound) => ReservedAttempt {
                slot: Reservation::Refused { until: now },
                phc: String::new(),
            },
            Err(e) => return Err(e.into()),
        },
    )
}

/// Compares `input` for a reserved attempt (the dummy hash for a refused
/// one, so the time taken tells nothing about the lock).
async fn verify_reserved(
    st: &AppState,
    reserved: ReservedAttempt,
    input: &str,
) -> Result<PasswordAttempt> {
    let Reservation::Reserved { last, .. } = reserved.slot else {
        dummy_verification(st, input).await?;
        return Ok(PasswordAttempt::Locked);
    };
    let (given, phc) = (input.to_owned(), reserved.phc);
    Ok(
        if st.hashing(move || password::verify(&given, &phc)).await? {
            PasswordAttempt::Right { undo_lock: last }
        } else {
            PasswordAttempt::Wrong { locked_now: last }
        },
    )
}

/// One Argon2 verification against the dummy hash (unknown, disabled or
/// locked users), for timing only.
pub async fn dummy_verification(st: &AppState, input: &str) -> Result<()> {
    let given = input.to_owned();
    st.hashing(move || password::verify(&given, password::dummy_hash()))
        .await?;
    Ok(())
}

/// Audits the lockout a wrong password started, if it did; `what` names
/// the attempts ("sign-ins", "validations").
pub async fn audit_lockout(
    st: &AppState,
    conn: &mut gatehouse_store::Conn,
    caller: &Caller,
    user: &User,
    attempt: PasswordAttempt,
    what: &str,
) -> Result<()> {
    if attempt != (PasswordAttempt::Wrong { locked_now: true }) {
        return Ok(());
    }
    let until = Users::system()
        .get(conn, user.id)
        .await?
        .counters
        .locked_until
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let rec = caller.audit(
        st.now(),
        "user_locked",
        user_target(user),
        "success",
        Some(user.account_id.0),
        format!(
            "{} consecutive failed {what}; locked until {until}",
            st.config.lockout.max_failures
        ),
    );
    audit::append(conn, &rec).await?;
    Ok(())
}

/// The audit target of a failed sign-in for a username that does not
/// exist. Not the input itself: it is often a password typed into the
/// wrong field. A keyed digest still shows repeated tries of one name.
pub fn unknown_user_target(st: &AppState, input: &str) -> String {
    let digest = st
        .config
        .master_key
        .keyed_digest(format!("audit-username:{}", input.trim().to_lowercase()).as_bytes());
    format!("unknown-user:{}", &digest[..16])
}

/// Checks a username and password and, if right, opens a session in place
/// of `previous` (the anonymous session that carried the form, if any).
///
/// Attempts are reserved before the password is checked (see
/// `gatehouse_store::throttle`): one slot of the client address's failures
/// and one of the user's consecutive failures. A request that gets no slot
/// is refused without its password ever being compared, so concurrent
/// guesses cannot exceed either limit.
pub async fn sign_in(
    st: &AppState,
    caller: &Caller,
    username: &str,
    password_input: &str,
    previous: Option<&str>,
) -> Result<SignedIn> {
    let now = st.now();
    let addr_key = format!("sign-in-failures:{}", caller.addr);
    let window = st.config.address_window_seconds;
    // The address's slot, the user and the user's attempt slot in one
    // transaction: every reservation is made before the comparison.
    let mut tx = st.store.begin().await?;
    let addr_slot = throttle::reserve(
        &mut tx,
        &addr_key,
        st.config.address_failure_limit,
        window,
        now,
    )
    .await?;
    if let Reservation::Refused { until } = addr_slot {
        tx.commit().await?;
        let wait = throttle::retry_after(until, now);
        metrics::counter!("gatehouse_sign_ins_total", "outcome" => "throttled").increment(1);
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many failed sign-ins from your network address. Try again in {} minutes.",
                (wait + 59) / 60
            ),
            retry_after: wait,
        });
    }
    let users = Users::system();
    let found = match Username::parse(username) {
        Ok(name) => match users.find_by_username(&mut tx, name.as_str()).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    // A RADIUS client signs in its own account's users only: anyone else
    // is, to it, a name that does not exist (same work, same answer).
    let found = found.filter(|u| match &caller.actor {
        super::Actor::RadiusClient { account, .. } => u.account_id == *account,
        _ => true,
    });
    let found = match found {
        Some(user) => {
            let reserved = reserve_password_attempt(st, &mut tx, &user).await?;
            Some((user, reserved))
        }
        None => None,
    };
    tx.commit().await?;
    // Nobody is signed in yet: a failure is the anonymous caller's, or the
    // RADIUS client's that sent it.
    let caller_for_audit = match caller.actor {
        super::Actor::RadiusClient { .. } => caller.clone(),
        _ => Caller {
            actor: super::Actor::Anonymous,
            ..caller.clone()
        },
    };
    let Some((user, reserved)) = found else {
        // Pay for one Argon2 verification all the same, so the time taken
        // does not tell whether the user exists (ASVS 2.2.1).
        dummy_verification(st, password_input).await?;
        let mut tx = st.store.begin().await?;
        let rec = caller_for_audit.audit(
            now,
            "sign_in",
            unknown_user_target(st, username),
            "failure",
            None,
            "unknown user",
        );
        audit::append(&mut tx, &rec).await?;
        tx.commit().await?;
        metrics::counter!("gatehouse_sign_ins_total", "outcome" => "failure").increment(1);
        return Err(AppError::Unauthorized(SIGN_IN_FAILED.into()));
    };
    let account = Some(user.account_id.0);
    let attempt = verify_reserved(st, reserved, password_input).await?;
    let reason = match attempt {
        PasswordAttempt::Locked => Some("locked"),
        _ if user.status != gatehouse_domain::UserStatus::Active => Some("disabled"),
        PasswordAttempt::Wrong { .. } => Some("wrong password"),
        PasswordAttempt::Right { .. } => None,
    };
    let mut tx = st.store.begin().await?;
    if let Some(reason) = reason {
        let rec = caller_for_audit.audit(
            now,
            "sign_in",
            user_target(&user),
            "failure",
            account,
            reason,
        );
        audit::append(&mut tx, &rec).await?;
        audit_lockout(st, &mut tx, &caller_for_audit, &user, attempt, "sign-ins").await?;
        tx.commit().await?;
        metrics::counter!("gatehouse_sign_ins_total", "outcome" => "failure").increment(1);
        return Err(AppError::Unauthorized(SIGN_IN_FAILED.into()));
    }
    // A right password: the address's slot is given back (only failures
    // count there) and the user's consecutive failures start again.
    throttle::release(&mut tx, &addr_key, addr_slot).await?;
    if let PasswordAttempt::Right { undo_lock } = attempt {
        users.password_accepted(&mut tx, user.id, undo_lock).await?;
    }

    let security_code = super::credentials::requires_security_code(st, &user).await?;
    let signed_in_caller = Caller::user(user.clone(), caller.addr.clone(), caller.via);
    let mut methods = Vec::new();
    if security_code {
        methods.push("security_code");
    }
    let state = match super::phonefactor::gate(&mut tx, &user, now).await? {
        Gate::Blocked(until) => {
            let rec = signed_in_caller.audit(
                now,
                "sign_in",
                user_target(&user),
                "failure",
                account,
                "blocked after a PhoneFactor fraud report",
            );
            audit::append(&mut tx, &rec).await?;
            tx.commit().await?;
            metrics::counter!("gatehouse_sign_ins_total", "outcome" => "blocked").increment(1);
            return Err(AppError::Forbidden(super::phonefactor::blocked_message(
                until,
            )));
        }
        Gate::Challenge
            if !super::phonefactor::take_bypass(&mut tx, &signed_in_caller, &user, now).await? =>
        {
            methods.push("phonefactor");
            SessionState::SecondFactorRequired
        }
        _ if security_code => SessionState::SecondFactorRequired,
        Gate::Activation => SessionState::ActivationRequired,
        _ => after_all_factors(&user),
    };
    if state != SessionState::SecondFactorRequired {
        users.record_sign_in(&mut tx, user.id, now).await?;
    }
    let session = issue_session(st, &mut tx, Some(&user), state, &caller.addr, previous).await?;
    let rec = signed_in_caller.audit(
        now,
        "sign_in",
        user_target(&user),
        "success",
        account,
        "password",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    metrics::counter!("gatehouse_sign_ins_total", "outcome" => "success").increment(1);
    Ok(SignedIn {
        user,
        session,
        methods,
    })
}

/// The state once every factor is done: a forced password change first, if due.
pub fn after_all_factors(user: &User) -> SessionState {
    if user.must_change_password {
        SessionState::PasswordChangeRequired
    } else {
        SessionState::Authenticated
    }
}

/// The message for a wrong Security Code.
pub const SECURITY_CODE_FAILED: &str =
    "The security code is not right. Enter the code your credential shows now.";

/// Second step of sign-in: the Security Code. On success the session id is
/// renewed and the session is signed in.
pub async fn complete_security_code(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
    code: &str,
) -> Result<IssuedSession> {
    let user = match (&live.user, live.session.state) {
        (Some(u), SessionState::SecondFactorRequired) => u.clone(),
        _ => {
            return Err(AppError::Unauthorized(
                "Sign in with your username and password first.".into(),
            ));
        }
    };
    let as_user = Caller::user(user.clone(), caller.addr.clone(), caller.via);
    if !super::credentials::check_security_code(st, &as_user, &user, code).await? {
        metrics::counter!("gatehouse_sign_ins_total", "outcome" => "second_factor_failure")
            .increment(1);
        return Err(AppError::Unauthorized(SECURITY_CODE_FAILED.into()));
    }
    let mut tx = st.store.begin().await?;
    let issued = finish_sign_in(
        st,
        &mut tx,
        &as_user,
        &user,
        &live.session.id_hash,
        "password and security code",
    )
    .await?;
    tx.commit().await?;
    Ok(issued)
}

/// The last step of every sign-in with a second factor: notes the sign-in,
/// renews the session id and audits `how`. An ordered but not yet
/// activated PhoneFactor comes next, if any.
pub async fn finish_sign_in(
    st: &AppState,
    conn: &mut gatehouse_store::Conn,
    caller: &Caller,
    user: &User,
    old_session: &str,
    how: &str,
) -> Result<IssuedSession> {
    let now = st.now();
    Users::system().record_sign_in(conn, user.id, now).await?;
    let next = match super::phonefactor::gate(conn, user, now).await? {
        Gate::Activation => SessionState::ActivationRequired,
        // A fraud report since the password step wins over any factor.
        Gate::Blocked(until) => {
            return Err(AppError::Forbidden(super::phonefactor::blocked_message(
                until,
            )));
        }
        _ => after_all_factors(user),
    };
    let issued = issue_session(st, conn, Some(user), next, &caller.addr, Some(old_session)).await?;
    let rec = caller.audit(
        now,
        "sign_in",
        user_target(user),
        "success",
        Some(user.account_id.0),
        how,
    );
    audit::append(conn, &rec).await?;
    metrics::counter!("gatehouse_sign_ins_total", "outcome" => "success").increment(1);
    Ok(issued)
}

/// Wrong passwords a signed-in user may give per window when re-entering
/// it before a sensitive change (change password, deactivate or move
/// PhoneFactor), across all of those.
pub const REENTRY_FAILURES_ALLOWED: i64 = 5;
pub const REENTRY_WINDOW_SECONDS: i64 = 15 * 60;

/// Whether `input` is `user`'s password (a re-authentication before a
/// sensitive change, `action` for the audit). An attempt is reserved
/// first; without one the password is not compared and the answer is 429.
/// A right password gives its slot back. Argon2 runs on the hashing
/// threads.
pub async fn verify_own_password(
    st: &AppState,
    caller: &Caller,
    user: &User,
    input: &str,
    action: &str,
) -> Result<bool> {
    let now = st.now();
    let key = format!("password-reentry:user:{}", user.id.0);
    let (slot, phc) = {
        let mut tx = st.store.begin().await?;
        let slot = throttle::reserve(
            &mut tx,
            &key,
            REENTRY_FAILURES_ALLOWED,
            REENTRY_WINDOW_SECONDS,
            now,
        )
        .await?;
        let phc = Users::new(Scope::Own(user.id))
            .password_hash(&mut tx, user.id)
            .await?;
        tx.commit().await?;
        (slot, phc)
    };
    if let Reservation::Refused { until } = slot {
        audit_refusal(st, caller, user, action, "too many wrong passwords").await?;
        let wait = throttle::retry_after(until, now);
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many wrong passwords. Try again in {} minutes.",
                (wait + 59) / 60
            ),
            retry_after: wait,
        });
    }
    let given = input.to_owned();
    let ok = st.hashing(move || password::verify(&given, &phc)).await?;
    if ok {
        let mut conn = st.store.conn().await?;
        throttle::release(&mut conn, &key, slot).await?;
    }
    Ok(ok)
}

/// Audits a refused sensitive action in a transaction of its own.
pub async fn audit_refusal(
    st: &AppState,
    caller: &Caller,
    user: &User,
    action: &str,
    detail: &str,
) -> Result<()> {
    let mut tx = st.store.begin().await?;
    let rec = caller.audit(
        st.now(),
        action,
        user_target(user),
        "failure",
        Some(user.account_id.0),
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's own password after checking the current one; ends
/// the user's other sessions and rotates this one.
pub async fn change_password(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
    current: &str,
    new: &str,
) -> Result<IssuedSession> {
    // Only a signed-in session or a forced change after a one-time
    // password: a password-only session (second factor pending) or one
    // waiting for PhoneFactor activation must not reach this.
    let user = match (&live.user, live.session.state) {
        (Some(u), SessionState::Authenticated | SessionState::PasswordChangeRequired) => u.clone(),
        _ => {
            return Err(AppError::Unauthorized(
                "Finish signing in before changing the password.".into(),
            ));
        }
    };
    let users = Users::new(Scope::Own(user.id));
    if !verify_own_password(st, caller, &user, current, "password_change").await? {
        audit_refusal(
            st,
            caller,
            &user,
            "password_change",
            "current password wrong",
        )
        .await?;
        return Err(AppError::invalid(
            "current_password",
            "The current password is not right.",
        ));
    }
    password::check_policy(new, &[&user.username, &user.email])?;
    if new == current {
        return Err(AppError::invalid(
            "new_password",
            "Choose a password different from the current one.",
        ));
    }
    let pw = new.to_owned();
    let phc = st.hashing(move || password::hash(&pw)).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    users
        .set_password(&mut tx, user.id, &phc, false, now)
        .await?;
    gatehouse_store::sessions::delete_for_user(&mut tx, user.id, None).await?;
    // A new password ends what the old one opened, API tokens included.
    gatehouse_store::tokens::revoke_for_user(&mut tx, user.id, now).await?;
    let session = issue_session(
        st,
        &mut tx,
        Some(&user),
        SessionState::Authenticated,
        &caller.addr,
        None,
    )
    .await?;
    let rec = caller.audit(
        now,
        "password_change",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(session)
}
