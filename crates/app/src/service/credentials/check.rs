//! The Security Code check used at sign-in and by the validation API:
//! the credential's codes with their lockout, and temporary codes.

use super::*;

/// Digest of a temporary code, keyed by the master key and bound to the
/// user, so a copy of the database does not reveal it by enumeration.
pub(super) fn temporary_digest(st: &AppState, user: UserId, code: &str) -> String {
    st.config
        .master_key
        .keyed_digest(format!("temporary-code:{}:{code}", user.0).as_bytes())
}

/// Tries a temporary security code gets, whatever the state of the
/// credential, before it ends.
pub const TEMPORARY_CODE_ATTEMPTS: i64 = 5;

/// Checks a Security Code for `user`: a temporary code from an
/// administrator, or the assigned credential's current code (once, forward
/// only).
///
/// Each check is reserved before it is made (see
/// `gatehouse_store::throttle`): a try of the temporary code (5 per code,
/// counted even while the credential is locked or disabled), then an
/// attempt on the credential (the consecutive wrong codes that lock it).
/// A request that gets no slot is refused without comparing anything, so
/// concurrent guesses cannot exceed the limits.
pub async fn check_security_code(
    st: &AppState,
    caller: &Caller,
    user: &User,
    code: &str,
) -> Result<bool> {
    let now = st.now();
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let credential = {
        let mut conn = st.store.conn().await?;
        credentials::for_user(&mut conn, user).await?
    };
    let Some(credential) = credential else {
        return Ok(false);
    };
    let account = Some(user.account_id.0);
    let target = format!(
        "{} credential {}",
        user_target(user),
        credential.credential_id
    );

    // A temporary code works even while the credential is locked or
    // disabled (that is what it is for), so it has tries of its own.
    let temp = {
        let mut tx = st.store.begin().await?;
        let t = credentials::reserve_temporary_attempt(&mut tx, user, TEMPORARY_CODE_ATTEMPTS, now)
            .await?;
        tx.commit().await?;
        t
    };
    if let Some(t) = temp {
        let mut tx = st.store.begin().await?;
        if secret::ct_eq(&t.code_hash, &temporary_digest(st, user.id, &code)) {
            let (ok, detail) = if credentials::temporary_code_used(&mut tx, user, &t).await? {
                (true, "temporary security code")
            } else {
                (false, "temporary security code already used")
            };
            let outcome = if ok { "success" } else { "failure" };
            let rec = caller.audit(now, "security_code", &target, outcome, account, detail);
            audit::append(&mut tx, &rec).await?;
            tx.commit().await?;
            return Ok(ok);
        }
        if t.attempts >= TEMPORARY_CODE_ATTEMPTS
            && credentials::end_spent_temporary_code(
                &mut tx,
                user,
                &t.code_hash,
                TEMPORARY_CODE_ATTEMPTS,
            )
            .await?
        {
            let rec = caller.audit(
                now,
                "temporary_code_end",
                &target,
                "success",
                account,
                format!("{TEMPORARY_CODE_ATTEMPTS} wrong tries"),
            );
            audit::append(&mut tx, &rec).await?;
        }
        tx.commit().await?;
        // Not the temporary code; it may still be the credential's.
    }

    let lock_until = match st.config.credential_unlock_minutes {
        0 => LOCKED_FOR_GOOD,
        m => now.plus_minutes(m),
    };
    let slot = {
        let mut tx = st.store.begin().await?;
        let slot = credentials::reserve_attempt(
            &mut tx,
            credential.id,
            st.config.credential_max_failures,
            lock_until,
            now,
        )
        .await?;
        tx.commit().await?;
        slot
    };
    let Reservation::Reserved { last, .. } = slot else {
        let detail = if credential.enabled {
            "credential locked"
        } else {
            "credential disabled"
        };
        let mut tx = st.store.begin().await?;
        let rec = caller.audit(now, "security_code", &target, "failure", account, detail);
        audit::append(&mut tx, &rec).await?;
        tx.commit().await?;
        return Ok(false);
    };
    if credential.validation == gatehouse_domain::oath::Validation::Remote {
        return check_remote(st, caller, user, &credential, &code, &target, last).await;
    }
    let params = credential.params;
    let secret = open_secret(st, &credential)?;
    let accepted = oath::verify(
        &params,
        &secret,
        &code,
        &counters_of(&credential),
        now.seconds(),
        &st.config.oath_policy,
    );
    let mut tx = st.store.begin().await?;
    let detail = match accepted {
        Some(acc) => {
            let n = &acc.new_counters;
            if credentials::accept(
                &mut tx,
                credential.id,
                acc.step_or_counter,
                n.next_counter,
                n.drift,
                now,
                last,
            )
            .await?
            {
                // Signing in with the real credential ends a temporary code.
                let cleared = credentials::clear_temporary_code(&mut tx, user).await?;
                let detail = if cleared {
                    "temporary security code cleared"
                } else {
                    ""
                };
                let rec = caller.audit(now, "security_code", &target, "success", account, detail);
                audit::append(&mut tx, &rec).await?;
                tx.commit().await?;
                return Ok(true);
            }
            // Someone used this code first.
            "code already used"
        }
        None => "wrong code",
    };
    let rec = caller.audit(now, "security_code", &target, "failure", account, detail);
    audit::append(&mut tx, &rec).await?;
    if last {
        audit_credential_lock(st, &mut tx, caller, &target, account).await?;
    }
    tx.commit().await?;
    Ok(false)
}

/// The fast path of a right code for the validation API: one read
/// ([`code_check::read`]: the user, credential, fraud block, temporary code
/// and the client's failure counter), the code checked here, and one write
/// that records it only if nothing changed meanwhile ([`code_check::accept`],
/// grouped with other validations' writes on SQLite). `Some(true)` means
/// accepted, committed and audited exactly as the full check would have.
/// `None` means "not the easy case" — an unknown or disabled user, a fraud
/// block, no credential or a remote one, a lock, a temporary code, a wrong
/// or replayed code, a client at its failure limit — and the caller runs the
/// full check, which counts, limits and audits it.
pub async fn fast_right_code(
    st: &AppState,
    caller: &Caller,
    username: &str,
    code: &str,
    client_key: &str,
    client_limit: i64,
    client_window_seconds: i64,
) -> Result<Option<bool>> {
    let now = st.now();
    let Ok(username) = gatehouse_domain::Username::parse(username) else {
        return Ok(None);
    };
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let (st2, caller) = (st.clone(), caller.clone());
    let decide: code_check::Decide = Box::new(move |row| {
        let st = &st2;
        if let Some((count, start)) = row.throttle
            && count >= client_limit
            && now.millis() < start.millis() + client_window_seconds * 1000
        {
            return None;
        }
        let user = &row.user;
        // A RADIUS client answers for its own account's users only.
        if let super::super::Actor::RadiusClient { account, .. } = &caller.actor
            && user.account_id != *account
        {
            return None;
        }
        let usable = user.status == gatehouse_domain::UserStatus::Active
            && row.fraud_blocked_until.is_none_or(|t| now >= t)
            && !row.has_temporary_code;
        let credential = row.credential.as_ref().filter(|c| {
            usable
                && c.enabled
                && c.validation == gatehouse_domain::oath::Validation::Local
                && c.locked_until.is_none_or(|t| now >= t)
                && c.failures < st.config.credential_max_failures
        })?;
        let secret = open_secret(st, credential).ok()?;
        let acc = oath::verify(
            &credential.params,
            &secret,
            &code,
            &counters_of(credential),
            now.seconds(),
            &st.config.oath_policy,
        )?;
        let target = format!(
            "{} credential {}",
            user_target(user),
            credential.credential_id
        );
        Some(code_check::Accept {
            credential: credential.id,
            user: user.id,
            step_or_counter: acc.step_or_counter,
            next_counter: acc.new_counters.next_counter,
            drift: acc.new_counters.drift,
            now,
            max_failures: st.config.credential_max_failures,
            audit: caller.audit(
                now,
                "security_code",
                &target,
                "success",
                Some(user.account_id.0),
                "",
            ),
        })
    });
    let accepted = code_check::check(&st.store, username.as_str(), client_key, decide).await?;
    Ok(accepted.then_some(true))
}

/// Audits the lock that a wrong code set when it used the credential's
/// last attempt (until an administrator unlocks it, or for the configured
/// time).
pub(super) async fn audit_credential_lock(
    st: &AppState,
    tx: &mut gatehouse_store::Tx,
    caller: &Caller,
    target: &str,
    account: Option<i64>,
) -> Result<()> {
    let detail = format!(
        "{} consecutive wrong codes",
        st.config.credential_max_failures
    );
    let rec = caller.audit(
        st.now(),
        "credential_locked",
        target,
        "success",
        account,
        detail,
    );
    audit::append(tx, &rec).await?;
    Ok(())
}

/// Whether the user must give a Security Code at sign-in.
pub async fn requires_security_code(st: &AppState, user: &User) -> Result<bool> {
    let mut conn = st.store.conn().await?;
    Ok(credentials::for_user(&mut conn, user).await?.is_some())
}

/// The user (in the caller's scope) and their assigned credential.
pub(super) async fn user_and_credential(
    st: &AppState,
    caller: &Caller,
    id: UserId,
) -> Result<(User, Credential)> {
    let mut conn = st.store.conn().await?;
    let user = super::super::target_user(&mut conn, caller, id).await?;
    let cred = credentials::for_user(&mut conn, &user)
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "method",
                format!(
                    "{} has no Symantec Identity Protection credential.",
                    user.username
                ),
            )
        })?;
    Ok((user, cred))
}
