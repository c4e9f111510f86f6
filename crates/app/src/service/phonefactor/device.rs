//! The authenticator app: pairing, its open requests and its signed
//! answers.

use super::*;

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
    let user = Users::system().get(&mut tx, c.user_id).await?;
    let rec = Caller::user(user.clone(), addr.to_owned(), crate::service::Channel::Api).audit(
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
        if c.purpose == Purpose::Activation
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
    /// The number to confirm, when no page shows it (a sign-in through
    /// RADIUS); otherwise the person types what the page shows.
    pub number: Option<i64>,
}

/// The device's open pushes.
pub async fn device_requests(st: &AppState, device_id: &str) -> Result<Vec<AppRequest>> {
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let mut out = Vec::new();
    for c in pf::pending_for_device(&mut conn, device_id, now).await? {
        let user = Users::system().get(&mut conn, c.user_id).await?;
        out.push(AppRequest {
            id: c.id,
            purpose: c.purpose,
            username: user.username,
            portal: st.config.portal_name.clone(),
            expires_at: c.expires_at,
            number: c.number_match.filter(|_| c.number_in_push),
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
        Ok(c) if c.device_id.as_deref() == Some(device_id) && c.mode == Mode::App => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let open = c.status.at(c.expires_at, now) == ChallengeStatus::Pending;
    if !open {
        return Err(AppError::Conflict {
            field: None,
            message: "This request was already answered or has expired.".into(),
        });
    }
    match decision {
        AppDecision::Approve => {
            if number.is_none() || number != c.number_match {
                pf::transition(
                    &mut tx,
                    &c.id,
                    &[ChallengeStatus::Pending],
                    ChallengeStatus::Denied,
                    now,
                )
                .await?;
                let user = Users::system().get(&mut tx, c.user_id).await?;
                let rec = Caller::user(user.clone(), addr.to_owned(), crate::service::Channel::Api)
                    .audit(
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
            pf::transition(
                &mut tx,
                &c.id,
                &[ChallengeStatus::Pending],
                ChallengeStatus::Denied,
                now,
            )
            .await?;
        }
        AppDecision::Fraud => {
            report_fraud(st, &mut tx, &c, "the mobile app", addr, now).await?;
        }
    }
    commit_answer(st, tx, challenge_id).await
}
