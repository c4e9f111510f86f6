//! Deactivation (by the user or an administrator), clearing a fraud block,
//! the one-time bypass, and what orders and removals do to PhoneFactor.

use super::*;

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
        super::super::target_user(&mut conn, caller, id).await?
    };
    deactivate(st, caller, &user, "by an administrator").await
}

pub(super) async fn deactivate(
    st: &AppState,
    caller: &Caller,
    user: &User,
    how: &str,
) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    if !pf::deactivate(&mut tx, user, now).await? {
        return Err(match pf::get(&mut tx, user).await? {
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
            gatehouse_domain::outbox::MessageKind::Email,
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
    let user = super::super::target_user(&mut tx, caller, id).await?;
    if !pf::clear_fraud_block(&mut tx, &user, now).await? {
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
    let user = super::super::target_user(&mut tx, caller, id).await?;
    match pf::get(&mut tx, &user).await? {
        Some(p) if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active => {}
        _ => {
            return Err(AppError::invalid(
                "method",
                format!("{} has no active PhoneFactor to bypass.", user.username),
            ));
        }
    }
    pf::set_bypass(&mut tx, &user, until, now).await?;
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
    if !pf::take_bypass(conn, user, now).await? {
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
    pf::await_activation(conn, user, now).await?;
    Ok(())
}

/// After Remove External Authentication of PhoneFactor.
pub async fn on_remove(conn: &mut Conn, user: &User) -> Result<()> {
    pf::remove(conn, user).await?;
    Ok(())
}
