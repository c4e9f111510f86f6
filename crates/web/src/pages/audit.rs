//! The Audit Log page and its JSON-lines export.

use super::{PageResult, layout};
use crate::AppState;
use crate::extract::PageUser;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::get;
use crate::service::audit as svc;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/audit", get(page_audit))
        .route("/audit/export.jsonl", get(audit_export))
}

#[derive(Deserialize)]
struct AuditQuery {
    page: Option<i64>,
}

async fn page_audit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let page = crate::extract::page_or_first(q.page);
    let (entries, total) = svc::page(&st, &ctx.caller(), page).await?;
    let pages = ((total + svc::PER_PAGE - 1) / svc::PER_PAGE).max(1);
    Ok(layout("Audit Log", Some(&me), ctx.csrf_token(), html! {
        div.page-head {
            h1 { "Audit Log" }
            a.button href="/audit/export.jsonl" download { "Export (JSON lines)" }
        }
        p.muted { "Every security-relevant action, newest first. Entries are hash-chained: editing or removing one is detected by " code { "gatehouse audit verify" } "." }
        div.table-wrap {
            table.audit {
                thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Outcome" } th scope="col" { "From" } th scope="col" { "Detail" } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td { @if let Some(seq) = e.seq { (seq) } @else { span.muted title="being sealed into the chain" { "…" } } }
                            td { time datetime=(e.record.at.to_rfc3339()) { (e.record.at.display()) } }
                            td { (e.record.actor) }
                            td { code { (e.record.action) } }
                            td { (e.record.target) }
                            td { span class=(format!("badge badge-{}", e.record.outcome)) { (e.record.outcome) } }
                            td { (e.record.client_addr) }
                            td { (e.record.detail) }
                        }
                    }
                    @if entries.is_empty() { tr { td.empty colspan="8" { "No entries yet." } } }
                }
            }
        }
        nav.pager aria-label="Pages" {
            span { (total) " entries" }
            @if page > 1 { a href=(format!("/audit?page={}", page - 1)) rel="prev" { "Newer" } }
            span { "Page " (page) " of " (pages) }
            @if page < pages { a href=(format!("/audit?page={}", page + 1)) rel="next" { "Older" } }
        }
    }).into_response())
}

async fn audit_export(State(st): State<AppState>, PageUser(_, ctx): PageUser) -> PageResult {
    let body = svc::export_json_lines(&st, &ctx.caller()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gatehouse-audit.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}
