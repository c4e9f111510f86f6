//! Symantec Identity Protection credentials: the inventory (PSKC import,
//! soft credentials), the Security Code check used at sign-in and by the
//! validation API, and the administrators' recovery actions.

use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::credential_id::CredentialId;
use gatehouse_domain::oath::{self, CredentialCounters, HashAlg, Kind, OathParams};
use gatehouse_domain::pskc::{self, DecryptionKey};
use gatehouse_domain::{Method, Timestamp, UserId, secret};
use gatehouse_store::credentials::{self, Credential, NewCredential};
use gatehouse_store::throttle::Reservation;
use gatehouse_store::{StoreError, User, audit, orders};

/// Locked "until an administrator unlocks": far enough to never pass.
const LOCKED_FOR_GOOD: Timestamp = Timestamp(i64::MAX / 2);

/// The longest a temporary security code may live (VIP: 30 days).
pub const TEMPORARY_CODE_MAX_HOURS: i64 = 30 * 24;

/// The OATH parameters of a stored credential.
pub fn params_of(c: &Credential) -> Result<OathParams> {
    let alg = HashAlg::parse(&c.algorithm).map_err(|_| {
        AppError::Internal(format!(
            "credential {} has algorithm {}",
            c.credential_id, c.algorithm
        ))
    })?;
    let kind = match c.kind.as_str() {
        "totp" => Kind::Totp {
            period: c.period.max(1) as u64,
        },
        _ => Kind::Hotp,
    };
    Ok(OathParams {
        kind,
        digits: c.digits as u32,
        alg,
    })
}

fn counters_of(c: &Credential) -> CredentialCounters {
    CredentialCounters {
        last_used: c.last_used,
        drift: c.drift,
        next_counter: c.next_counter,
    }
}

fn open_secret(st: &AppState, c: &Credential) -> Result<Vec<u8>> {
    let sealed = c.sealed_secret.as_deref().ok_or_else(|| {
        AppError::Internal(format!(
            "credential {} has no local secret",
            c.credential_id
        ))
    })?;
    st.config
        .master_key
        .open(sealed, c.credential_id.as_bytes())
        .map_err(|_| {
            AppError::Internal(format!(
                "credential {}: the secret does not open with this master key",
                c.credential_id
            ))
        })
}

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<String>,
    /// Credential IDs refused, with the reason (already in the inventory).
    pub refused: Vec<(String, String)>,
}

/// Imports a PSKC file. A file that does not parse, decrypt or pass its
/// MAC imports nothing; a Credential ID already in the inventory is
/// refused on its own (never overwritten) and the rest go in.
pub async fn import_pskc(
    st: &AppState,
    caller: &Caller,
    xml: &[u8],
    key: Option<DecryptionKey>,
    source: &str,
) -> Result<ImportReport> {
    caller.require_operator("manage the token inventory")?;
    let keys =
        pskc::parse(xml, key.as_ref()).map_err(|e| AppError::invalid("file", e.to_string()))?;
    if keys.is_empty() {
        return Err(AppError::invalid("file", "The file holds no key packages."));
    }
    let mut parsed = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let id = CredentialId::parse(&k.serial).map_err(|e| {
            AppError::invalid(
                "file",
                format!(
                    "Key package {} (serial {:?}): {}",
                    i + 1,
                    k.serial,
                    e.message
                ),
            )
        })?;
        parsed.push((id, k));
    }
    let now = st.now();
    let mut report = ImportReport::default();
    let mut tx = st.store.begin().await?;
    for (id, k) in parsed {
        let (kind, period) = match k.kind {
            pskc::KeyKind::Totp => ("totp", k.time_interval as i64),
            pskc::KeyKind::Hotp => ("hotp", 30),
        };
        let sealed = st.config.master_key.seal(&k.secret, id.as_str().as_bytes());
        let new = NewCredential {
            credential_id: id.as_str(),
            kind,
            algorithm: k.alg.as_str(),
            digits: i64::from(k.digits),
            period,
            next_counter: k.counter as i64,
            sealed_secret: Some(&sealed),
            validation: "local",
            source,
        };
        match credentials::insert(&mut tx, &new, now).await {
            Ok(_) => report.imported.push(id.as_str().to_owned()),
            Err(StoreError::Conflict { .. }) => report.refused.push((
                id.as_str().to_owned(),
                "already in the inventory; not overwritten".into(),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let detail = format!(
        "{} imported, {} refused",
        report.imported.len(),
        report.refused.len()
    );
    let rec = caller.audit(
        now,
        "tokens_import",
        format!("file:{source}"),
        "success",
        None,
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(report)
}

/// A soft credential, shown once.
pub struct SoftCredential {
    pub credential_id: String,
    pub uri: String,
}

/// Issues `count` soft credentials: new TOTP seeds with generated IDs
/// (`GHST` + 8 digits) and `otpauth://` URIs for any authenticator app.
pub async fn issue_soft(
    st: &AppState,
    caller: &Caller,
    count: usize,
) -> Result<Vec<SoftCredential>> {
    caller.require_operator("manage the token inventory")?;
    if !(1..=1000).contains(&count) {
        return Err(AppError::invalid(
            "count",
            "Issue from 1 to 1000 soft credentials at a time.",
        ));
    }
    let now = st.now();
    let params = OathParams {
        kind: Kind::Totp { period: 30 },
        digits: 6,
        alg: HashAlg::Sha1,
    };
    let mut out = Vec::new();
    let mut tx = st.store.begin().await?;
    while out.len() < count {
        let id = format!("GHST{:08}", secret::random_below(100_000_000));
        let seed = oath::generate_secret();
        let sealed = st.config.master_key.seal(&seed, id.as_bytes());
        let new = NewCredential {
            credential_id: &id,
            kind: "totp",
            algorithm: "SHA1",
            digits: 6,
            period: 30,
            next_counter: 0,
            sealed_secret: Some(&sealed),
            validation: "local",
            source: "soft",
        };
        match credentials::insert(&mut tx, &new, now).await {
            Ok(_) => {
                let uri = oath::key_uri(&st.config.portal_name, &id, &seed, &params, 0);
                out.push(SoftCredential {
                    credential_id: id,
                    uri,
                });
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let rec = caller.audit(
        now,
        "tokens_issue_soft",
        "inventory",
        "success",
        None,
        format!("{count} soft credentials"),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(out)
}

/// Digest of a temporary code, keyed by the master key and bound to the
/// user, so a copy of the database does not reveal it by enumeration.
fn temporary_digest(st: &AppState, user: UserId, code: &str) -> String {
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
        credentials::for_user(&mut conn, user.id).await?
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
        let t =
            credentials::reserve_temporary_attempt(&mut tx, user.id, TEMPORARY_CODE_ATTEMPTS, now)
                .await?;
        tx.commit().await?;
        t
    };
    if let Some(t) = temp {
        let mut tx = st.store.begin().await?;
        if secret::ct_eq(&t.code_hash, &temporary_digest(st, user.id, &code)) {
            let (ok, detail) = if credentials::temporary_code_used(&mut tx, user.id, &t).await? {
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
                user.id,
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
    if credential.validation == "remote" {
        return check_remote(st, caller, user, &credential, &code, &target, last).await;
    }
    let params = params_of(&credential)?;
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
                let cleared = credentials::clear_temporary_code(&mut tx, user.id).await?;
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

/// Audits the lock that a wrong code set when it used the credential's
/// last attempt (until an administrator unlocks it, or for the configured
/// time).
async fn audit_credential_lock(
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
    Ok(credentials::for_user(&mut conn, user.id).await?.is_some())
}

/// The user (in the caller's scope) and their assigned credential.
async fn user_and_credential(
    st: &AppState,
    caller: &Caller,
    id: UserId,
) -> Result<(User, Credential)> {
    let mut conn = st.store.conn().await?;
    let user = super::target_user(&mut conn, caller, id).await?;
    let cred = credentials::for_user(&mut conn, id).await?.ok_or_else(|| {
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
    let by = caller.user.as_ref().map_or("cli", |u| u.username.as_str());
    credentials::set_temporary_code(
        &mut tx,
        user.id,
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
    let params = params_of(&cred)?;
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

fn proof_expired() -> AppError {
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
    if cred.validation != "local" {
        return Ok(None);
    }
    let params = params_of(cred)?;
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

/// Ends a user's subscription to a method ("Remove External
/// Authentication"): billing stops, the credential goes back to the
/// inventory, sign-in no longer asks for it.
pub async fn remove(st: &AppState, caller: &Caller, id: UserId, method: Method) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let user = super::target_user(&mut tx, caller, id).await?;
    if !orders::end(&mut tx, user.id, method.as_str(), now).await? {
        return Err(AppError::NotFound);
    }
    let mut detail = String::new();
    if method == Method::SymantecVip
        && let Some(c) = credentials::for_user(&mut tx, user.id).await?
    {
        credentials::unassign(&mut tx, c.id).await?;
        credentials::clear_temporary_code(&mut tx, user.id).await?;
        detail = format!("credential {} returned to the inventory", c.credential_id);
    }
    if method == Method::PhoneFactor {
        super::phonefactor::on_remove(&mut tx, user.id).await?;
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

fn fmt_counters(c: &CredentialCounters) -> String {
    format!(
        "{}:{}:{}",
        c.last_used.unwrap_or(-1),
        c.next_counter,
        c.drift
    )
}

fn parse_counters<'a>(parts: &mut impl Iterator<Item = &'a str>) -> Option<CredentialCounters> {
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

/// A credential that only the vendor's service can check: ask it, and keep
/// our own record (last validated, failure count, audit) as for local ones.
async fn check_remote(
    st: &AppState,
    caller: &Caller,
    user: &User,
    credential: &Credential,
    code: &str,
    target: &str,
    own_lock: bool,
) -> Result<bool> {
    use gatehouse_vip::RemoteVerdict;
    let now = st.now();
    let account = Some(user.account_id.0);
    let verdict = match &st.config.remote_validator {
        Some(v) => v
            .validate(&credential.credential_id, code)
            .await
            .map_err(|e| e.to_string()),
        None => Err("no remote validation service is configured (vip_endpoint)".to_owned()),
    };
    let mut tx = st.store.begin().await?;
    let (ok, detail) = match verdict {
        Ok(RemoteVerdict::Valid) => {
            credentials::record_remote_success(&mut tx, credential.id, now, own_lock).await?;
            (true, "validated by the vendor's service".to_owned())
        }
        Ok(v @ (RemoteVerdict::Invalid | RemoteVerdict::UnknownCredential)) => {
            // The attempt reserved before asking stays counted.
            if own_lock {
                audit_credential_lock(st, &mut tx, caller, target, account).await?;
            }
            (false, format!("vendor's service: {v}"))
        }
        Ok(v) => {
            // Not a verdict on the code: the attempt is given back.
            credentials::release_attempt(&mut tx, credential.id, own_lock).await?;
            (false, format!("vendor's service: {v}"))
        }
        Err(e) => {
            tracing::error!(credential = %credential.credential_id, error = %e, "remote validation failed");
            credentials::release_attempt(&mut tx, credential.id, own_lock).await?;
            (false, format!("remote validation unavailable: {e}"))
        }
    };
    let rec = caller.audit(
        now,
        "security_code",
        target,
        if ok { "success" } else { "failure" },
        account,
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(ok)
}

/// Registers credentials that the vendor's service validates (no seed
/// here); returns the IDs added and those refused (already present).
pub async fn add_remote(st: &AppState, caller: &Caller, ids: &[String]) -> Result<ImportReport> {
    caller.require_operator("manage the token inventory")?;
    let parsed = ids
        .iter()
        .map(|i| CredentialId::parse(i))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if parsed.is_empty() {
        return Err(AppError::invalid(
            "credential_id",
            "Give at least one Credential ID.",
        ));
    }
    let now = st.now();
    let mut report = ImportReport::default();
    let mut tx = st.store.begin().await?;
    for id in parsed {
        let new = NewCredential {
            credential_id: id.as_str(),
            kind: "totp",
            algorithm: "SHA1",
            digits: 6,
            period: 30,
            next_counter: 0,
            sealed_secret: None,
            validation: "remote",
            source: "remote",
        };
        match credentials::insert(&mut tx, &new, now).await {
            Ok(_) => report.imported.push(id.as_str().to_owned()),
            Err(StoreError::Conflict { .. }) => report.refused.push((
                id.as_str().to_owned(),
                "already in the inventory; not overwritten".into(),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let rec = caller.audit(
        now,
        "tokens_add_remote",
        "inventory",
        "success",
        None,
        format!(
            "{} added, {} refused",
            report.imported.len(),
            report.refused.len()
        ),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(report)
}
