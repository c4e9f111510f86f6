//! Reading the audit log: administrators see their account, the operator
//! everything.

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_store::audit::StoredEntry;
use gatehouse_store::{Scope, audit};

pub const PER_PAGE: i64 = 50;

/// Administrators see their account's entries, operators every account's.
fn visible_scope(caller: &Caller) -> Result<Scope> {
    match caller.scope() {
        Scope::Own(_) | Scope::Nobody => Err(AppError::Forbidden(
            "Only administrators can read the audit log.".into(),
        )),
        scope => Ok(scope),
    }
}

pub async fn page(st: &AppState, caller: &Caller, page: i64) -> Result<(Vec<StoredEntry>, i64)> {
    let scope = visible_scope(caller)?;
    let mut conn = st.store.conn().await?;
    Ok(audit::page(&mut conn, scope, page, PER_PAGE).await?)
}

/// The signed-in caller's own latest sign-ins (Security Settings), newest
/// first.
pub async fn sign_in_history(
    st: &AppState,
    caller: &Caller,
    limit: i64,
) -> Result<Vec<StoredEntry>> {
    let user = caller
        .user_ref()
        .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?;
    let mut conn = st.store.conn().await?;
    Ok(audit::sign_in_history(&mut conn, user, limit).await?)
}

/// The caller's whole visible log, oldest first, as JSON lines.
pub async fn export_json_lines(st: &AppState, caller: &Caller) -> Result<String> {
    let scope = visible_scope(caller)?;
    let mut conn = st.store.conn().await?;
    let entries = audit::all(&mut conn, scope).await?;
    let mut out = String::new();
    for e in entries {
        let line = serde_json::json!({
            "id": e.id,
            "seq": e.seq,
            "at": e.record.at.to_rfc3339(),
            "actor": e.record.actor,
            "actor_id": e.record.actor_id,
            "account_id": e.record.account_id,
            "action": e.record.action,
            "target": e.record.target,
            "client_addr": e.record.client_addr,
            "outcome": e.record.outcome,
            "detail": e.record.detail,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    Ok(out)
}

/// Links every pending entry into the hash chain (done by a background job
/// while serving; the command line does it before it exits).
pub async fn seal(st: &AppState) -> Result<usize> {
    Ok(audit::seal_all(&st.store).await?)
}

/// Seals what is pending, then walks the whole chain against its head:
/// the number of entries, or the first one that does not match. Operators
/// only: the chain spans every account.
pub async fn verify(
    st: &AppState,
    caller: &Caller,
) -> Result<std::result::Result<i64, gatehouse_domain::audit::ChainError>> {
    caller.require_operator("verify the whole audit log")?;
    audit::seal_all(&st.store).await?;
    let mut conn = st.store.conn().await?;
    Ok(audit::verify(&mut conn).await?)
}
