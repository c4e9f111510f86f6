//! Billing through the API: closed statements, the current month's
//! charges, CSV exports and (operator) closing a period.

use super::ApiJson;
use crate::AppState;
use crate::error::Result;
use crate::extract::ApiCaller;
use crate::service::billing::{self as svc, StatementView};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use gatehouse_domain::billing::Totals;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One user × method of a statement. Money in minor units (cents).
#[derive(Serialize, ToSchema)]
pub struct LineDto {
    /// Null once the user has been deleted.
    pub user_id: Option<i64>,
    pub username: String,
    pub method: String,
    pub order_number: String,
    /// Days charged in the period.
    pub days: i64,
    pub days_in_month: i64,
    /// The price recorded on the order.
    pub monthly_price: i64,
    /// `monthly_price × days / days_in_month`, rounded half to even.
    pub gross: i64,
    /// The promo's share for those days, rounded half to even.
    pub discount: i64,
    /// `gross − discount`.
    pub amount: i64,
    pub currency: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotalDto {
    pub currency: String,
    /// Minor units (cents).
    pub amount: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StatementDto {
    pub account_number: String,
    pub account_name: String,
    /// `YYYY-MM`.
    pub period: String,
    /// `closed` (final) or `open` (the current month so far).
    pub status: String,
    /// When the period was closed (RFC 3339); null while open.
    pub closed_at: Option<String>,
    pub lines: Vec<LineDto>,
    /// Sum of the lines' amounts per currency.
    pub totals: Vec<TotalDto>,
}

fn totals(t: &Totals) -> Vec<TotalDto> {
    t.iter()
        .map(|(c, a)| TotalDto {
            currency: c.to_owned(),
            amount: a,
        })
        .collect()
}

fn dto(s: StatementView) -> StatementDto {
    StatementDto {
        status: if s.closed_at.is_some() {
            "closed"
        } else {
            "open"
        }
        .into(),
        closed_at: s.closed_at.map(|t| t.to_rfc3339()),
        totals: totals(&s.totals),
        account_number: s.account_number,
        account_name: s.account_name,
        period: s.period,
        lines: s
            .lines
            .into_iter()
            .map(|l| LineDto {
                user_id: l.user_id.map(|u| u.0),
                username: l.username,
                method: l.method,
                order_number: l.order_number,
                days: l.days,
                days_in_month: l.days_in_month,
                monthly_price: l.monthly_price,
                gross: l.gross,
                discount: l.discount,
                amount: l.amount,
                currency: l.currency,
            })
            .collect(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct StatementList {
    pub statements: Vec<StatementDto>,
    /// Sum over the listed statements per currency.
    pub totals: Vec<TotalDto>,
}

#[derive(Deserialize, IntoParams)]
pub struct StatementQuery {
    /// `YYYY-MM`; all closed periods when absent.
    pub period: Option<String>,
    /// An account number (the operator's filter; an administrator only
    /// ever sees their own account).
    pub account: Option<String>,
}

/// Closed statements, newest period first (administrators: their account;
/// the operator: every account).
#[utoipa::path(get, path = "/api/v1/billing/statements", tag = "billing", params(StatementQuery),
    responses((status = 200, body = StatementList), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
pub async fn billing_statements(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<StatementQuery>,
) -> Result<Json<StatementList>> {
    let list = svc::statements(&st, &caller, q.period.as_deref(), q.account.as_deref()).await?;
    let total = svc::grand_total(&list);
    Ok(Json(StatementList {
        statements: list.into_iter().map(dto).collect(),
        totals: totals(&total),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct CsvQuery {
    /// `YYYY-MM` of a closed period.
    pub period: String,
    /// An account number (operator); all accounts when absent.
    pub account: Option<String>,
}

/// A closed period's statements as CSV: a header row, then one record per
/// line; amounts in minor units. Each download is audited.
#[utoipa::path(get, path = "/api/v1/billing/statements/csv", tag = "billing", params(CsvQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
pub async fn billing_statements_csv(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<CsvQuery>,
) -> Result<Response> {
    let (name, csv) = svc::download_csv(&st, &caller, &q.period, q.account.as_deref()).await?;
    Ok(crate::extract::csv_response(&name, csv))
}

#[derive(Serialize, ToSchema)]
pub struct CurrentCharges {
    /// The current month, `YYYY-MM`.
    pub period: String,
    /// Charges count days up to and including this moment's day (RFC 3339).
    pub as_of: String,
    pub statements: Vec<StatementDto>,
    pub totals: Vec<TotalDto>,
}

/// The current month's charges so far (administrators: their account; the
/// operator: every account).
#[utoipa::path(get, path = "/api/v1/billing/current", tag = "billing",
    responses((status = 200, body = CurrentCharges), (status = 403, body = super::ErrorBody)))]
pub async fn billing_current(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
) -> Result<Json<CurrentCharges>> {
    let (period, list) = svc::current(&st, &caller).await?;
    let total = svc::grand_total(&list);
    Ok(Json(CurrentCharges {
        period: period.to_string(),
        as_of: st.now().to_rfc3339(),
        statements: list.into_iter().map(dto).collect(),
        totals: totals(&total),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period": "2026-11"}))]
pub struct RunRequest {
    /// `YYYY-MM`; only a month that has ended.
    pub period: String,
}

#[derive(Serialize, ToSchema)]
pub struct RunResult {
    pub period: String,
    /// False when the period had been closed before (nothing changed).
    pub newly_closed: bool,
    pub closed_at: String,
    pub statements: Vec<StatementDto>,
    pub totals: Vec<TotalDto>,
}

/// Close a billing period (operator), as `gatehouse billing run` does:
/// idempotent for a closed period; the current and future months are
/// refused (422).
#[utoipa::path(post, path = "/api/v1/billing/run", tag = "billing", request_body = RunRequest,
    responses((status = 200, body = RunResult), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
pub async fn billing_run(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<Json<RunResult>> {
    let out = svc::run(&st, &caller, &req.period).await?;
    Ok(Json(RunResult {
        period: out.period.to_string(),
        newly_closed: out.newly_closed,
        closed_at: out.closed_at.to_rfc3339(),
        totals: totals(&out.total),
        statements: out.statements.into_iter().map(dto).collect(),
    }))
}
