//! Monthly billing (SPEC §4): closing a period into immutable statements,
//! the current month's charges so far, and CSV exports. The charge rules
//! are `gatehouse_domain::billing`; this module reads, groups and writes.

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::billing::{self as rules, Period, Span, Terms, Totals, csv_record};
use gatehouse_domain::pricing::Discount;
use gatehouse_domain::{AccountId, Timestamp};
use gatehouse_store::billing::{self, ChargeSource, Line, NewStatement};
use gatehouse_store::{Scope, audit};

/// A statement as shown: closed (stored) or the current month so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementView {
    pub account_id: AccountId,
    pub account_number: String,
    pub account_name: String,
    pub period: String,
    /// When the period was closed; `None` for the current month.
    pub closed_at: Option<Timestamp>,
    pub lines: Vec<Line>,
    pub totals: Totals,
}

fn totals_of(lines: &[Line]) -> Totals {
    let mut t = Totals::default();
    for l in lines {
        t.add(&l.currency, l.amount);
    }
    t
}

/// The sum of several statements' totals.
pub fn grand_total(statements: &[StatementView]) -> Totals {
    let mut t = Totals::default();
    for s in statements {
        t.merge(&s.totals);
    }
    t
}

impl From<billing::Statement> for StatementView {
    fn from(s: billing::Statement) -> Self {
        Self {
            totals: totals_of(&s.lines),
            account_id: s.account_id,
            account_number: s.account_number,
            account_name: s.account_name,
            period: s.period,
            closed_at: Some(s.closed_at),
            lines: s.lines,
        }
    }
}

/// The order's terms as the charge rules take them.
fn terms(s: &ChargeSource) -> Result<Terms> {
    let discount = match (&s.promo_kind, s.promo_value) {
        (Some(kind), Some(value)) => Some(Discount::parse(kind, value).map_err(|e| {
            AppError::Internal(format!(
                "order {} has unreadable promo terms: {}",
                s.order_number, e.message
            ))
        })?),
        _ => None,
    };
    Ok(Terms {
        monthly_price: s.monthly_price,
        discount,
        discount_months: s.promo_months,
        ordered_at: s.ordered_at,
    })
}

/// Charges of `period` grouped into one statement per account (accounts
/// without a charged day get none), counting days up to `until` if given.
/// Lines are ordered by user and method, then as ordered; statements by
/// account number.
fn compute(
    period: Period,
    sources: &[ChargeSource],
    until: Option<Timestamp>,
) -> Result<Vec<StatementView>> {
    let mut out: Vec<StatementView> = Vec::new();
    for s in sources {
        let span = Span {
            started_at: s.started_at,
            ended_at: s.ended_at,
        };
        let Some(c) = rules::charge(period, span, &terms(s)?, until) else {
            continue;
        };
        let line = Line {
            user_id: s.user_id,
            username: s.username.clone(),
            method: s.method.clone(),
            order_number: s.order_number.clone(),
            days: c.days,
            days_in_month: c.days_in_month,
            monthly_price: c.monthly_price,
            gross: c.gross,
            discount: c.discount,
            amount: c.amount,
            currency: s.currency.clone(),
        };
        // Sources come ordered by account, so a new account starts a new
        // statement.
        match out.last_mut() {
            Some(st) if st.account_id == s.account_id => {
                st.totals.add(&line.currency, line.amount);
                st.lines.push(line);
            }
            _ => {
                let mut totals = Totals::default();
                totals.add(&line.currency, line.amount);
                out.push(StatementView {
                    account_id: s.account_id,
                    account_number: s.account_number.clone(),
                    account_name: s.account_name.clone(),
                    period: period.to_string(),
                    closed_at: None,
                    lines: vec![line],
                    totals,
                });
            }
        }
    }
    for s in &mut out {
        // Stable: one user's subscriptions to a method stay in order.
        s.lines
            .sort_by(|a, b| (&a.username, &a.method).cmp(&(&b.username, &b.method)));
    }
    out.sort_by(|a, b| a.account_number.cmp(&b.account_number));
    Ok(out)
}

/// What a billing run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub period: Period,
    /// `false` when the period was already closed (nothing was written).
    pub newly_closed: bool,
    pub closed_at: Timestamp,
    pub statements: Vec<StatementView>,
    pub total: Totals,
}

/// Closes `period` (operator only): one statement per account with a line
/// per user × method, all in one transaction with its audit entry. A
/// period that is already closed is left as it is and its stored
/// statements are returned; the current and future months are refused.
pub async fn run(st: &AppState, caller: &Caller, period: &str) -> Result<RunOutcome> {
    caller.require_operator("can close billing periods")?;
    let period = Period::parse(period)?;
    let now = st.now();
    period.check_closable(now)?;
    let key = period.to_string();
    let mut tx = st.store.begin().await?;
    let mut rec = caller.audit(
        now,
        "billing_run",
        format!("period:{key}"),
        "success",
        None,
        "",
    );
    let newly_closed = billing::mark_closed(&mut tx, &key, now, &rec.actor).await?;
    if newly_closed {
        let sources =
            billing::sources(&mut tx, period.start(), period.end(), Scope::System).await?;
        let computed = compute(period, &sources, None)?;
        let new: Vec<NewStatement> = computed
            .iter()
            .map(|s| NewStatement {
                account_id: s.account_id,
                account_number: &s.account_number,
                account_name: &s.account_name,
                lines: s.lines.clone(),
            })
            .collect();
        billing::insert_statements(&mut tx, &key, now, &new).await?;
    }
    let closed = billing::closed_period(&mut tx, &key)
        .await?
        .ok_or_else(|| AppError::Internal(format!("period {key} vanished while closing")))?;
    let statements: Vec<StatementView> = billing::statements(&mut tx, Some(&key), Scope::System)
        .await?
        .into_iter()
        .map(StatementView::from)
        .collect();
    let total = grand_total(&statements);
    rec.detail = if newly_closed {
        format!(
            "closed {key}: {} statement(s), total {}",
            statements.len(),
            total.display()
        )
    } else {
        format!(
            "{key} was already closed on {} by {}; statements unchanged, total {}",
            closed.closed_at.display(),
            closed.closed_by,
            total.display()
        )
    };
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(RunOutcome {
        period,
        newly_closed,
        closed_at: closed.closed_at,
        statements,
        total,
    })
}

/// What an administrator may see: their account; the operator, every
/// account.
fn visible_scope(caller: &Caller, what: &str) -> Result<Scope> {
    caller.require_admin(what)?;
    Ok(caller.scope())
}

/// The current month's charges so far (today included), per account:
/// the caller's account for an administrator, every account for the
/// operator.
pub async fn current(st: &AppState, caller: &Caller) -> Result<(Period, Vec<StatementView>)> {
    let scope = visible_scope(caller, "see charges")?;
    let now = st.now();
    let period = Period::containing(now);
    let mut conn = st.store.conn().await?;
    let sources = billing::sources(&mut conn, period.start(), period.end(), scope).await?;
    Ok((period, compute(period, &sources, Some(now))?))
}

/// Closed statements the caller may see, newest period first, optionally
/// of one period and (for the operator) one account number.
pub async fn statements(
    st: &AppState,
    caller: &Caller,
    period: Option<&str>,
    account_number: Option<&str>,
) -> Result<Vec<StatementView>> {
    let scope = visible_scope(caller, "see statements")?;
    let period = match period.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(Period::parse(p)?.to_string()),
        None => None,
    };
    // A filter that is not an account number is a mistake to say, not a
    // filter that matches nothing.
    let number = account_number
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(gatehouse_domain::AccountNumber::parse)
        .transpose()?;
    let mut conn = st.store.conn().await?;
    let list = billing::statements(&mut conn, period.as_deref(), scope).await?;
    Ok(list
        .into_iter()
        .filter(|s| {
            number
                .as_ref()
                .is_none_or(|n| s.account_number == n.as_str())
        })
        .map(StatementView::from)
        .collect())
}

/// Closed periods, newest first (for the operator's screens).
pub async fn closed_periods(st: &AppState, caller: &Caller) -> Result<Vec<billing::ClosedPeriod>> {
    caller.require_operator("can see every billing period")?;
    let mut conn = st.store.conn().await?;
    Ok(billing::closed_periods(&mut conn).await?)
}

/// The CSV header: one record per statement line follows. Amounts are
/// integers in minor units (cents), as in the API.
pub const CSV_HEADER: [&str; 13] = [
    "period",
    "account_number",
    "account_name",
    "username",
    "method",
    "order_number",
    "days",
    "days_in_month",
    "monthly_price_minor",
    "gross_minor",
    "discount_minor",
    "amount_minor",
    "currency",
];

/// Statements as CSV: a header row and one record per line.
pub fn to_csv(statements: &[StatementView]) -> String {
    let mut out = csv_record(&CSV_HEADER);
    for s in statements {
        for l in &s.lines {
            out.push_str(&csv_record(&[
                s.period.clone(),
                s.account_number.clone(),
                s.account_name.clone(),
                l.username.clone(),
                l.method.clone(),
                l.order_number.clone(),
                l.days.to_string(),
                l.days_in_month.to_string(),
                l.monthly_price.to_string(),
                l.gross.to_string(),
                l.discount.to_string(),
                l.amount.to_string(),
                l.currency.clone(),
            ]));
        }
    }
    out
}

/// A closed period's statements as a CSV download (`period` required; the
/// operator may pick one account by number or take all), with an audit
/// entry per download. Returns the file name and the CSV.
pub async fn download_csv(
    st: &AppState,
    caller: &Caller,
    period: &str,
    account_number: Option<&str>,
) -> Result<(String, String)> {
    let period = Period::parse(period)?;
    let list = statements(st, caller, Some(&period.to_string()), account_number).await?;
    if list.is_empty() {
        return Err(AppError::NotFound);
    }
    let one_account = match list.as_slice() {
        [only] => Some(only),
        _ => None,
    };
    let name = match one_account {
        Some(s) => format!("gatehouse-statement-{period}-{}.csv", s.account_number),
        None => format!("gatehouse-statements-{period}.csv"),
    };
    let csv = to_csv(&list);
    record_export(st, caller, period, &list, "download").await?;
    Ok((name, csv))
}

/// Audits an export of `statements` of `period` (a download, or a file the
/// CLI wrote: `how` says which).
pub async fn record_export(
    st: &AppState,
    caller: &Caller,
    period: Period,
    statements: &[StatementView],
    how: &str,
) -> Result<()> {
    let one_account = match statements {
        [only] => Some(only),
        _ => None,
    };
    let rec = caller.audit(
        st.now(),
        "billing_statement_download",
        match one_account {
            Some(s) => format!("statement:{period}:{}", s.account_number),
            None => format!("statements:{period}"),
        },
        "success",
        one_account.map(|s| s.account_id.0),
        format!(
            "CSV {how} of {} statement(s), {} line(s), total {}",
            statements.len(),
            statements.iter().map(|s| s.lines.len()).sum::<usize>(),
            grand_total(statements).display()
        ),
    );
    let mut tx = st.store.begin().await?;
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}
