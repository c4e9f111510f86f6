//! The administrators' recovery actions: temporary codes, unlock, enable
//! and disable, synchronize, remove.

use super::*;

/// Issues a temporary security code (6 digits, shown once).
pub async fn issue_temporary_code(
    st: &AppState,
    caller: &Caller,
    id: UserId,
    hours: i64,
    single_use: bool,
) -> Result<String> {
    if !(1..=TEMPORARY_CODE_MAX_HOURS).contains(&hours) {
        return Err(AppError::invalid(
            "hours",
            format!("A temporary code lasts from 1 to {TEMPORARY_CODE_MAX_HOURS} hours (30 days)."),
        ));
    }
    let (user, cred) = user_and_credential(st, caller, id).await?;
    let code = secret::numeric_code(6);
    let now = st.now();
    let expires = now.plus_minutes(hours * 60);
    let mut tx = st.store.begin().await?;
    let by = caller.user_ref().map_or("cli", |u| u.username.as_str());
    credentials::set_temporary_code(
        &mut tx,
        &user,
        &temporary_digest(st, user.id, &code),
        expires,
        single_use,
        by,
        now,
    )
    .await?;
    let detail = format!(
        "expires {}{}",
        expires.to_rfc3339(),
        if single_use { ", single use" } else { "" }
    );
    let rec = caller.audit(
        now,
        "temporary_code_issue",
        format!("{} credential {}", user_target(&user), cred.credential_id),
        "success",
        Some(user.account_id.0),
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(code)
}

pub async fn unlock(st: &AppState, caller: &Caller, id: UserId) -> Result<()> {
    let (user, cred) = user_and_credential(st, caller, id).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    credentials::unlock(&mut tx, cred.id).await?;
    let rec = caller.audit(
        now,
        "credential_unlock",
        format!("{} credential {}", user_target(&user), cred.credential_id),
        "success",
        Some(user.account_id.0),
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_enabled(st: &AppState, caller: &Caller, id: UserId, enabled: bool) -> Result<()> {
    let (user, cred) = user_and_credential(st, caller, id).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    credentials::set_enabled(&mut tx, cred.id, enabled).await?;
    let action = if enabled {
        "credential_enable"
    } else {
        "credential_disable"
    };
    let rec = caller.audit(
        now,
        action,
        format!("{} credential {}", user_target(&user), cred.credential_id),
        "success",
        Some(user.account_id.0),
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Resynchronises a drifted credential from two consecutive codes.
pub async fn synchronize(
    st: &AppState,
    caller: &Caller,
    id: UserId,
    code1: &str,
    code2: &str,
) -> Result<()> {
    let (user, cred) = user_and_credential(st, caller, id).await?;
    let params = cred.params;
    let secret = open_secret(st, &cred)?;
    let now = st.now();
    let found = oath::synchronize(
        &params,
        &secret,
        code1.trim(),
        code2.trim(),
        &counters_of(&cred),
        now.seconds(),
        oath::default_sync_search(&params),
    );
    let target = format!("{} credential {}", user_target(&user), cred.credential_id);
    let mut tx = st.store.begin().await?;
    let Some(c) = found else {
        let rec = caller.audit(
            now,
            "credential_sync",
            &target,
            "failure",
            Some(user.account_id.0),
            "codes not consecutive or out of range",
        );
        audit::append(&mut tx, &rec).await?;
        tx.commit().await?;
        return Err(AppError::invalid(
            "code2",
            "These are not two consecutive security codes of this credential. Enter two codes shown one after the other.",
        ));
    };
    credentials::resync(
        &mut tx,
        cred.id,
        c.last_used.unwrap_or(0),
        c.next_counter,
        c.drift,
    )
    .await?;
    let rec = caller.audit(
        now,
        "credential_sync",
        &target,
        "success",
        Some(user.account_id.0),
        format!("drift {} steps", c.drift),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a user's subscription to a method ("Remove External
/// Authentication"): billing stops, the credential goes back to the
/// inventory, sign-in no longer asks for it.
pub async fn remove(st: &AppState, caller: &Caller, id: UserId, method: Method) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let user = super::super::target_user(&mut tx, caller, id).await?;
    if !orders::end(&mut tx, &user, method, now).await? {
        return Err(AppError::NotFound);
    }
    let mut detail = String::new();
    if method == Method::SymantecVip
        && let Some(c) = credentials::for_user(&mut tx, &user).await?
    {
        credentials::unassign(&mut tx, c.id).await?;
        credentials::clear_temporary_code(&mut tx, &user).await?;
        detail = format!("credential {} returned to the inventory", c.credential_id);
    }
    if method == Method::PhoneFactor {
        super::super::phonefactor::on_remove(&mut tx, &user).await?;
        detail = "activation, number and paired app forgotten".into();
    }
    let rec = caller.audit(
        now,
        "external_auth_remove",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!("{}; {detail}", method.label()),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}
