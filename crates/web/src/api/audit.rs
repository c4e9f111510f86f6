use super::page_or_first;
use crate::AppState;
use crate::error::Result;
use crate::extract::ApiCaller;
use crate::service::audit;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct AuditEntryDto {
    /// Order of writing.
    pub id: i64,
    /// Position in the hash chain; null for a moment until the entry is sealed.
    pub seq: Option<i64>,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub client_addr: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub detail: String,
    /// The entry's chain hash (null until sealed).
    pub hash: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryDto>,
    pub total: i64,
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    pub page: Option<i64>,
}

/// The audit log, newest first (administrators: their account; the
/// operator: all).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = super::ErrorBody)))]
pub async fn audit_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>> {
    let (entries, total) = audit::page(&st, &caller, page_or_first(q.page)).await?;
    Ok(Json(AuditPage {
        entries: entries
            .into_iter()
            .map(|e| AuditEntryDto {
                id: e.id,
                seq: e.seq,
                at: e.record.at.to_rfc3339(),
                actor: e.record.actor,
                action: e.record.action,
                target: e.record.target,
                client_addr: e.record.client_addr,
                outcome: e.record.outcome,
                detail: e.record.detail,
                hash: e.hash,
            })
            .collect(),
        total,
    }))
}
