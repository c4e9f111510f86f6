//! Reading the audit log: administrators see their account, the operator
//! everything.

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_store::audit::StoredEntry;
use gatehouse_store::{Scope, audit};

pub const PER_PAGE: i64 = 50;

fn account_filter(caller: &Caller) -> Result<Option<gatehouse_domain::AccountId>> {
    match caller.scope() {
        Scope::All => Ok(None),
        Scope::Account(a) => Ok(Some(a)),
        Scope::Own(_) => Err(AppError::Forbidden(
            "Only administrators can read the audit log.".into(),
        )),
    }
}

pub async fn page(st: &AppState, caller: &Caller, page: i64) -> Result<(Vec<StoredEntry>, i64)> {
    let account = account_filter(caller)?;
    let mut conn = st.store.conn().await?;
    Ok(audit::page(&mut conn, account, page, PER_PAGE).await?)
}

/// The user's own latest sign-ins (Security Settings), newest first.
pub async fn sign_in_history(
    st: &AppState,
    user: gatehouse_domain::UserId,
    limit: i64,
) -> Result<Vec<StoredEntry>> {
    let mut conn = st.store.conn().await?;
    Ok(audit::sign_in_history(&mut conn, user, limit).await?)
}

/// The caller's whole visible log, oldest first, as JSON lines.
pub async fn export_json_lines(st: &AppState, caller: &Caller) -> Result<String> {
    let account = account_filter(caller)?;
    let mut conn = st.store.conn().await?;
    let entries = audit::all(&mut conn, account).await?;
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
