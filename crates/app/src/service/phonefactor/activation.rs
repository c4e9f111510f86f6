//! Activation: the first challenge that proves the number (or a change of
//! number or mode), by text code, call or app.

use super::*;

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
        && own(st, &user)
            .await?
            .is_some_and(|p| p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active)
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
    let Some(current) = pf::get(&mut tx, &user).await? else {
        return Err(AppError::Forbidden(
            "PhoneFactor has not been ordered for you. Ask your administrator to add it.".into(),
        ));
    };
    if current.fraud_blocked_until.is_some_and(|t| now < t) {
        return Err(AppError::Forbidden(blocked_message(
            current.fraud_blocked_until.unwrap_or(now),
        )));
    }
    if current.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active
        && live.session.state == SessionState::ActivationRequired
    {
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
        purpose: Purpose::Activation,
        mode,
        phone: phone.as_str(),
        code_hash: code_hash.as_deref(),
        number_match: None,
        status: if mode == Mode::App {
            ChallengeStatus::Pairing
        } else {
            ChallengeStatus::Pending
        },
        pairing_hash: pairing_hash.as_deref(),
        device_id: None,
        app_secret: app_secret_sealed.as_deref(),
        expires_at: now.plus_minutes(lifetime),
        number_in_push: false,
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
pub(super) async fn activate_from(
    conn: &mut Conn,
    c: &Challenge,
    via: &str,
    now: Timestamp,
) -> Result<()> {
    // Re-pointing an active PhoneFactor is for a fully signed-in session
    // only (one that passed the current factor), never for a stale
    // activation_required one.
    let user = Users::system().get(conn, c.user_id).await?;
    if pf::get(conn, &user)
        .await?
        .is_some_and(|p| p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active)
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
        mode: c.mode.as_str(),
        device_id: c.device_id.as_deref(),
        device_key: c.device_key.as_deref(),
        app_secret: c.app_secret.as_deref(),
    };
    if !pf::activate(conn, &user, &activation, now).await? {
        return Err(AppError::Conflict {
            field: None,
            message: "PhoneFactor was removed meanwhile.".into(),
        });
    }
    let rec = Caller::user(user.clone(), via.to_owned(), crate::service::Channel::Web).audit(
        now,
        "phonefactor_activate",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!(
            "{} to {}",
            c.mode.label(),
            gatehouse_domain::phonefactor::mask(&c.phone)
        ),
    );
    audit::append(conn, &rec).await?;
    Ok(())
}

/// The session after a finished activation: an `activation_required`
/// session becomes signed in (renewed id); a signed-in one stays.
pub(super) async fn upgrade_after_activation(
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
    if !pf::transition(
        &mut tx,
        &c.id,
        &[ChallengeStatus::Pending],
        ChallengeStatus::Used,
        now,
    )
    .await?
    {
        return Err(code_refused());
    }
    slot.release(&mut tx).await?;
    activate_from(&mut tx, &c, &caller.addr, now).await?;
    let issued = upgrade_after_activation(st, &mut tx, caller, live, &user).await?;
    tx.commit().await?;
    Ok(issued)
}

pub(super) fn code_refused() -> AppError {
    AppError::Unauthorized(
        "That code is not right or has expired. Check the latest text message, or send a new code."
            .into(),
    )
}

/// Checks a text-message code against a challenge (constant time). A try
/// of the challenge is reserved first, in its own transaction so that it
/// is remembered whatever happens next; the try that uses the last one and
/// is wrong ends the challenge.
pub(super) async fn check_code(
    st: &AppState,
    c: &Challenge,
    code: &str,
    now: Timestamp,
) -> Result<()> {
    let status = c.status.at(c.expires_at, now);
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
            pf::transition(
                &mut tx,
                &c.id,
                &[ChallengeStatus::Pending],
                ChallengeStatus::Denied,
                now,
            )
            .await?;
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
