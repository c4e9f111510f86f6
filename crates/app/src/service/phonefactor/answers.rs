//! Answers that arrive from the phone: approvals, fraud reports (0#, a
//! `FRAUD` reply, the app), key presses on a call, text replies.

use super::*;

/// Approves a pending challenge: an activation is completed at once; a
/// sign-in is completed by the waiting browser's next status check.
pub(super) async fn approve(
    _st: &AppState,
    conn: &mut Conn,
    c: &Challenge,
    via: &str,
    now: Timestamp,
) -> Result<bool> {
    let open = c.status.at(c.expires_at, now);
    if open != ChallengeStatus::Pending {
        return Ok(false);
    }
    if c.purpose == Purpose::Activation {
        if !pf::transition(
            conn,
            &c.id,
            &[ChallengeStatus::Pending],
            ChallengeStatus::Used,
            now,
        )
        .await?
        {
            return Ok(false);
        }
        activate_from(conn, c, via, now).await?;
    } else if !pf::transition(
        conn,
        &c.id,
        &[ChallengeStatus::Pending],
        ChallengeStatus::Approved,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    Ok(true)
}

/// A fraud report (0# on the call, FRAUD by text, "Report fraud" in the
/// app): refuses the sign-in, blocks the user, ends their sessions, tells
/// the account's administrators, audits.
pub(super) async fn report_fraud(
    st: &AppState,
    conn: &mut Conn,
    c: &Challenge,
    source: &str,
    addr: &str,
    now: Timestamp,
) -> Result<bool> {
    if !pf::transition(
        conn,
        &c.id,
        &[ChallengeStatus::Pending, ChallengeStatus::Pairing],
        ChallengeStatus::Fraud,
        now,
    )
    .await?
    {
        return Ok(false);
    }
    let until = now.plus_minutes(st.config.phonefactor.fraud_block_days * 24 * 60);
    let user = Users::system().get(conn, c.user_id).await?;
    pf::set_fraud_block(conn, &user, until, now).await?;
    // Every other session ends; the one that asked can only learn "fraud".
    // API tokens end too: whoever triggered the sign-in may hold the
    // password, and a token would outlast the block.
    sessions::delete_for_user(conn, c.user_id, Some(&c.session_hash)).await?;
    gatehouse_store::tokens::revoke_for_user(conn, c.user_id, now).await?;
    let rec = Caller::anonymous(addr.to_owned(), crate::service::Channel::Web).audit(
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
            if c.purpose == Purpose::Activation {
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
            gatehouse_domain::outbox::MessageKind::Email,
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
        Ok(c) if c.mode == Mode::Call => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let done = match gatehouse_domain::phonefactor::classify_keys(digits) {
        KeyPress::Approve => approve(st, &mut tx, &c, addr, now).await?,
        KeyPress::Fraud => report_fraud(st, &mut tx, &c, source, addr, now).await?,
        KeyPress::Other => {
            pf::transition(
                &mut tx,
                &c.id,
                &[ChallengeStatus::Pending],
                ChallengeStatus::Denied,
                now,
            )
            .await?
        }
    };
    if !done {
        tracing::info!(challenge = %c.id, "key press on a call that was no longer open");
    }
    commit_answer(st, tx, challenge_id).await
}

/// Commits an answer to a challenge (a fraud report may have queued
/// e-mail) and returns the challenge's status after it.
pub(super) async fn commit_answer(
    st: &AppState,
    mut tx: gatehouse_store::Tx,
    challenge_id: &str,
) -> Result<ChallengeStatus> {
    let after = pf::challenge(&mut tx, challenge_id).await?;
    tx.commit().await?;
    st.delivery_wake.notify_one();
    Ok(after.status)
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
    // Texts come from E.164 numbers; anything else is no one's phone.
    let e164 = from
        .strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if !e164 {
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
