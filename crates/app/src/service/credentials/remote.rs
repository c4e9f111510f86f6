//! Credentials checked by the vendor's validation service.

use super::*;

/// A credential that only the vendor's service can check: ask it, and keep
/// our own record (last validated, failure count, audit) as for local ones.
pub(super) async fn check_remote(
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
            params: gatehouse_domain::oath::OathParams::vip_totp(),
            next_counter: 0,
            sealed_secret: None,
            validation: gatehouse_domain::oath::Validation::Remote,
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
