//! Sign-in challenges in the user's mode, and the codes that finish them
//! (the text's, or the app's verification code), within the per-user limit.

use super::*;

/// Starts the sign-in challenge in the user's mode.
pub async fn start_sign_in(
    st: &AppState,
    caller: &Caller,
    live: &LiveSession,
) -> Result<ChallengeView> {
    let user = session_user(live, &[SessionState::SecondFactorRequired])?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let p = match pf::get(&mut tx, &user).await? {
        Some(p) if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active => p,
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
    let mode = p.mode.unwrap_or(Mode::Sms);
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
        purpose: Purpose::SignIn,
        mode,
        phone: &phone,
        code_hash: code_hash.as_deref(),
        number_match: (mode == Mode::App).then(|| number_match() as i64),
        status: ChallengeStatus::Pending,
        pairing_hash: None,
        device_id: p.device_id.as_deref(),
        app_secret: None,
        expires_at: now.plus_minutes(st.config.phonefactor.lifetime_minutes(mode)),
        // Through RADIUS no page shows the number: it goes in the push, and
        // the person confirms it in the app.
        number_in_push: mode == Mode::App && caller.via == crate::service::Channel::Radius,
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
        let p = pf::get(&mut conn, &user)
            .await?
            .filter(|p| p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active)
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
    let sms = latest.as_ref().filter(|c| c.mode == Mode::Sms);
    if let Some(c) = sms
        && let Err(e) = check_code(st, c, code, now).await
    {
        code_failure(st, caller, &user, "text-message code wrong").await?;
        return Err(e);
    }
    let mut tx = st.store.begin().await?;
    let how = match (sms, p.mode) {
        (Some(c), _) => {
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
            "password and PhoneFactor text message"
        }
        (None, Some(Mode::App)) => {
            if let Err(e) = check_app_code(st, &mut tx, &user, &p, code, now).await {
                drop(tx);
                code_failure(st, caller, &user, "app verification code wrong").await?;
                return Err(e);
            }
            if let Some(c) = &latest {
                pf::transition(
                    &mut tx,
                    &c.id,
                    &[ChallengeStatus::Pending, ChallengeStatus::Approved],
                    ChallengeStatus::Used,
                    now,
                )
                .await?;
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
pub(super) const CODE_FAILURE_WINDOWS: [(&str, i64, i64); 2] =
    [("15m", 10, 15 * 60), ("day", 50, 86_400)];

pub(super) fn code_failure_key(user: &User, window: &str) -> String {
    format!("pf-code-failures:{window}:user:{}", user.id.0)
}

/// The user's reserved code attempt, one slot in each window.
pub(super) struct CodeAttempt(Vec<(String, Reservation)>);

impl CodeAttempt {
    /// A right code gives its attempt back: only wrong codes count.
    pub(super) async fn release(self, conn: &mut Conn) -> Result<()> {
        for (key, slot) in self.0 {
            throttle::release(conn, &key, slot).await?;
        }
        Ok(())
    }
}

/// Reserves one of the user's code attempts before a code is checked;
/// refused (429) while the user has used them all in a window.
pub(super) async fn reserve_code_attempt(
    st: &AppState,
    user: &User,
    now: Timestamp,
) -> Result<CodeAttempt> {
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
pub(super) async fn code_failure(
    st: &AppState,
    caller: &Caller,
    user: &User,
    what: &str,
) -> Result<()> {
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
pub(super) async fn check_app_code(
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
    if !pf::accept_app_step(conn, user, accepted.step_or_counter).await? {
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
    let status = c.status.at(c.expires_at, now);
    if status != ChallengeStatus::Approved {
        return Ok((status, None));
    }
    if !pf::transition(
        &mut tx,
        &c.id,
        &[ChallengeStatus::Approved],
        ChallengeStatus::Used,
        now,
    )
    .await?
    {
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
