//! Proofs of possession at order time, sealed between the order wizard's
//! steps.

use super::*;

/// A proof of possession at order time: the credential's counters the
/// codes were checked against, and its counters once they count as used.
/// The order applies `after` only while the credential is still at
/// `before`, so a proof is good for one order and never moves a counter
/// backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    pub before: CredentialCounters,
    pub after: CredentialCounters,
}

/// How long the wizard's sealed proof stays good between its steps.
pub const PROOF_MINUTES: i64 = 30;

pub(super) fn proof_expired() -> AppError {
    AppError::invalid(
        "security_code",
        "The security code check is no longer valid (it has expired, or the credential was used since). Enter the code now shown.",
    )
}

/// Proof of possession at order time: one code, or two consecutive codes,
/// of the credential (they count as used once the order is placed).
pub fn check_proof(
    st: &AppState,
    cred: &Credential,
    code1: &str,
    code2: &str,
) -> Result<Option<Proof>> {
    let (c1, c2) = (code1.trim(), code2.trim());
    if c1.is_empty() && c2.is_empty() {
        return Ok(None);
    }
    if cred.validation != gatehouse_domain::oath::Validation::Local {
        return Ok(None);
    }
    let params = cred.params;
    let secret = open_secret(st, cred)?;
    let now = st.now();
    let before = counters_of(cred);
    let found = if c2.is_empty() {
        oath::verify(
            &params,
            &secret,
            c1,
            &before,
            now.seconds(),
            &st.config.oath_policy,
        )
        .map(|a| a.new_counters)
    } else {
        oath::synchronize(
            &params,
            &secret,
            c1,
            c2,
            &before,
            now.seconds(),
            oath::default_sync_search(&params),
        )
    };
    found.map(|after| Some(Proof { before, after })).ok_or_else(|| {
        AppError::invalid("security_code", "The security code does not match this credential. Check the Credential ID and enter the code now shown.")
    })
}

/// Records a proof's codes as used: the credential moves to `after` only if
/// it is still at `before` (one statement), so a proof cannot be used twice
/// or after a sign-in moved the counter on.
pub async fn apply_proof(
    conn: &mut gatehouse_store::Conn,
    cred: &Credential,
    p: &Proof,
) -> Result<()> {
    let applied = credentials::advance_from(
        conn,
        cred.id,
        p.before.last_used,
        p.before.next_counter,
        p.after.last_used.unwrap_or(0),
        p.after.next_counter,
        p.after.drift,
    )
    .await?;
    if applied {
        Ok(())
    } else {
        Err(proof_expired())
    }
}

pub(super) fn fmt_counters(c: &CredentialCounters) -> String {
    format!(
        "{}:{}:{}",
        c.last_used.unwrap_or(-1),
        c.next_counter,
        c.drift
    )
}

pub(super) fn parse_counters<'a>(
    parts: &mut impl Iterator<Item = &'a str>,
) -> Option<CredentialCounters> {
    let last: i64 = parts.next()?.parse().ok()?;
    Some(CredentialCounters {
        last_used: (last >= 0).then_some(last),
        next_counter: parts.next()?.parse().ok()?,
        drift: parts.next()?.parse().ok()?,
    })
}

/// Carries the result of a proof of possession from the wizard's first
/// step to the order (the codes themselves may have expired by then):
/// `USER:CREDENTIAL:EXPIRES:before counters:after counters:MAC`, the MAC
/// keyed by the master key so the browser cannot forge counters. Bound to
/// the user and credential, good for [`PROOF_MINUTES`], and only while the
/// credential is still at `before` (see [`apply_proof`]).
pub fn seal_proof(st: &AppState, user: UserId, credential_id: &str, p: &Proof) -> String {
    let expires = st.now().plus_minutes(PROOF_MINUTES).millis();
    let body = format!(
        "{}:{credential_id}:{expires}:{}:{}",
        user.0,
        fmt_counters(&p.before),
        fmt_counters(&p.after)
    );
    let mac = st
        .config
        .master_key
        .keyed_digest(format!("proof-v2:{body}").as_bytes());
    format!("{body}:{mac}")
}

/// The proof in a token from [`seal_proof`], if it is genuine, for `user`
/// and `cred`, not expired, and made against the credential's counters as
/// they are now; otherwise the error to show next to the security code.
pub fn open_proof(st: &AppState, user: UserId, cred: &Credential, token: &str) -> Result<Proof> {
    let parsed = (|| {
        let (body, mac) = token.rsplit_once(':')?;
        let expected = st
            .config
            .master_key
            .keyed_digest(format!("proof-v2:{body}").as_bytes());
        if !secret::ct_eq(&expected, mac) {
            return None;
        }
        let mut parts = body.split(':');
        if parts.next()? != user.0.to_string() || parts.next()? != cred.credential_id {
            return None;
        }
        let expires: i64 = parts.next()?.parse().ok()?;
        if st.now().millis() >= expires {
            return None;
        }
        let before = parse_counters(&mut parts)?;
        let after = parse_counters(&mut parts)?;
        parts.next().is_none().then_some(Proof { before, after })
    })();
    match parsed {
        Some(p) if p.before == counters_of(cred) => Ok(p),
        _ => Err(proof_expired()),
    }
}
