//! Monthly billing: what the charge rules read (subscriptions with their
//! orders' terms) and what a closed period keeps (statements and lines,
//! immutable once written — triggers refuse updates and deletes).

use crate::{Conn, Result, Scope};
use gatehouse_domain::{AccountId, Timestamp, UserId};
use sqlx::Row;

/// A subscription active at some time in a window, with the terms its order
/// fixed (price, currency, promo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeSource {
    pub subscription_id: i64,
    pub account_id: AccountId,
    pub account_number: String,
    pub account_name: String,
    pub user_id: Option<UserId>,
    pub username: String,
    pub method: String,
    pub order_number: String,
    pub ordered_at: Timestamp,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub monthly_price: i64,
    pub currency: String,
    pub promo_kind: Option<String>,
    pub promo_value: Option<i64>,
    pub promo_months: Option<i64>,
}

/// Subscriptions active at some moment in `[start, end)` that `scope`
/// reaches (every account's or one account's), ordered by account and
/// subscription.
pub async fn sources(
    conn: &mut Conn,
    start: Timestamp,
    end: Timestamp,
    scope: Scope,
) -> Result<Vec<ChargeSource>> {
    let Some(account) = scope.account_arg() else {
        return Ok(Vec::new());
    };
    sqlx::query(
        "SELECT s.id, s.account_id, a.number, a.name, s.user_id, o.username, s.method, o.number, \
         o.created_at, s.started_at, s.ended_at, o.monthly_price, o.currency, o.promo_kind, \
         o.promo_value, o.promo_months \
         FROM subscriptions s JOIN orders o ON o.id = s.order_id \
         JOIN accounts a ON a.id = s.account_id \
         WHERE s.started_at < $2 AND (s.ended_at IS NULL OR s.ended_at > $1) \
         AND ($3 = 0 OR s.account_id = $3) \
         ORDER BY s.account_id, s.id",
    )
    .bind(start.millis())
    .bind(end.millis())
    .bind(account)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(ChargeSource {
            subscription_id: r.try_get(0)?,
            account_id: AccountId(r.try_get(1)?),
            account_number: r.try_get(2)?,
            account_name: r.try_get(3)?,
            user_id: r.try_get::<Option<i64>, _>(4)?.map(UserId),
            username: r.try_get(5)?,
            method: r.try_get(6)?,
            order_number: r.try_get(7)?,
            ordered_at: Timestamp(r.try_get(8)?),
            started_at: Timestamp(r.try_get(9)?),
            ended_at: r.try_get::<Option<i64>, _>(10)?.map(Timestamp),
            monthly_price: r.try_get(11)?,
            currency: r.try_get(12)?,
            promo_kind: r.try_get(13)?,
            promo_value: r.try_get(14)?,
            promo_months: r.try_get(15)?,
        })
    })
    .collect()
}

/// A closed billing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    pub period: String,
    pub closed_at: Timestamp,
    pub closed_by: String,
}

/// Marks `period` closed; `false` if it already was (then nothing changes).
/// Call it first in the closing transaction: on PostgreSQL a concurrent
/// closer waits here for the first one's commit and then sees the period
/// closed; on SQLite the write transaction already serialises them.
pub async fn mark_closed(
    conn: &mut Conn,
    period: &str,
    closed_at: Timestamp,
    closed_by: &str,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO billing_periods (period, closed_at, closed_by) VALUES ($1, $2, $3) \
         ON CONFLICT (period) DO NOTHING",
    )
    .bind(period)
    .bind(closed_at.millis())
    .bind(closed_by)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn closed_period(conn: &mut Conn, period: &str) -> Result<Option<ClosedPeriod>> {
    sqlx::query("SELECT period, closed_at, closed_by FROM billing_periods WHERE period = $1")
        .bind(period)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| {
            Ok(ClosedPeriod {
                period: r.try_get(0)?,
                closed_at: Timestamp(r.try_get(1)?),
                closed_by: r.try_get(2)?,
            })
        })
        .transpose()
}

/// Closed periods, newest first.
pub async fn closed_periods(conn: &mut Conn) -> Result<Vec<ClosedPeriod>> {
    sqlx::query("SELECT period, closed_at, closed_by FROM billing_periods ORDER BY period DESC")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(ClosedPeriod {
                period: r.try_get(0)?,
                closed_at: Timestamp(r.try_get(1)?),
                closed_by: r.try_get(2)?,
            })
        })
        .collect()
}

/// One line of a statement: a user × method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub user_id: Option<UserId>,
    pub username: String,
    pub method: String,
    pub order_number: String,
    pub days: i64,
    pub days_in_month: i64,
    pub monthly_price: i64,
    pub gross: i64,
    pub discount: i64,
    pub amount: i64,
    pub currency: String,
}

/// An account's statement for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub id: i64,
    pub account_id: AccountId,
    pub account_number: String,
    pub account_name: String,
    pub period: String,
    pub closed_at: Timestamp,
    pub lines: Vec<Line>,
}

/// A statement to write.
pub struct NewStatement<'a> {
    pub account_id: AccountId,
    pub account_number: &'a str,
    pub account_name: &'a str,
    pub lines: Vec<Line>,
}

/// Line rows per multi-row INSERT (12 parameters each). Kept small on
/// purpose: SQLite keeps `$n` parameters in a list it searches linearly, so
/// binding costs grow with the square of the parameters per statement
/// (500 rows per statement took 50 ms each; 40 rows take well under 1 ms).
const LINES_PER_INSERT: usize = 40;

/// Writes the statements of a period marked closed in this transaction.
pub async fn insert_statements(
    conn: &mut Conn,
    period: &str,
    closed_at: Timestamp,
    statements: &[NewStatement<'_>],
) -> Result<()> {
    let mut pending: Vec<(i64, &Line)> = Vec::new();
    for s in statements {
        let id: i64 = sqlx::query(
            "INSERT INTO statements (account_id, period, account_number, account_name, closed_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(s.account_id.0)
        .bind(period)
        .bind(s.account_number)
        .bind(s.account_name)
        .bind(closed_at.millis())
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        pending.extend(s.lines.iter().map(|l| (id, l)));
    }
    for chunk in pending.chunks(LINES_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO statement_lines (statement_id, user_id, username, method, order_number, \
             days, days_in_month, monthly_price, gross, discount, amount, currency) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for j in 0..12 {
                if j > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("${}", i * 12 + j + 1));
            }
            sql.push(')');
        }
        // Only numbered placeholders are formatted into the statement.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (statement_id, l) in chunk {
            q = q
                .bind(*statement_id)
                .bind(l.user_id.map(|u| u.0))
                .bind(l.username.as_str())
                .bind(l.method.as_str())
                .bind(l.order_number.as_str())
                .bind(l.days)
                .bind(l.days_in_month)
                .bind(l.monthly_price)
                .bind(l.gross)
                .bind(l.discount)
                .bind(l.amount)
                .bind(l.currency.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stored statements that `scope` reaches (every account's or one
/// account's), optionally of one period, with their lines; ordered by
/// period (newest first), then account number.
pub async fn statements(
    conn: &mut Conn,
    period: Option<&str>,
    scope: Scope,
) -> Result<Vec<Statement>> {
    let Some(acc) = scope.account_arg() else {
        return Ok(Vec::new());
    };
    let period = period.unwrap_or("");
    let mut out: Vec<Statement> = sqlx::query(
        "SELECT id, account_id, account_number, account_name, period, closed_at FROM statements \
         WHERE ($1 = '' OR period = $1) AND ($2 = 0 OR account_id = $2) \
         ORDER BY period DESC, account_number",
    )
    .bind(period)
    .bind(acc)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Statement {
            id: r.try_get(0)?,
            account_id: AccountId(r.try_get(1)?),
            account_number: r.try_get(2)?,
            account_name: r.try_get(3)?,
            period: r.try_get(4)?,
            closed_at: Timestamp(r.try_get(5)?),
            lines: Vec::new(),
        })
    })
    .collect::<Result<_>>()?;
    if out.is_empty() {
        return Ok(out);
    }
    let index: std::collections::HashMap<i64, usize> =
        out.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let rows = sqlx::query(
        "SELECT l.statement_id, l.user_id, l.username, l.method, l.order_number, l.days, \
         l.days_in_month, l.monthly_price, l.gross, l.discount, l.amount, l.currency \
         FROM statement_lines l JOIN statements s ON s.id = l.statement_id \
         WHERE ($1 = '' OR s.period = $1) AND ($2 = 0 OR s.account_id = $2) ORDER BY l.id",
    )
    .bind(period)
    .bind(acc)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        let sid: i64 = r.try_get(0)?;
        let Some(&i) = index.get(&sid) else { continue };
        out[i].lines.push(Line {
            user_id: r.try_get::<Option<i64>, _>(1)?.map(UserId),
            username: r.try_get(2)?,
            method: r.try_get(3)?,
            order_number: r.try_get(4)?,
            days: r.try_get(5)?,
            days_in_month: r.try_get(6)?,
            monthly_price: r.try_get(7)?,
            gross: r.try_get(8)?,
            discount: r.try_get(9)?,
            amount: r.try_get(10)?,
            currency: r.try_get(11)?,
        });
    }
    Ok(out)
}

/// Statement and line counts, and the sum of all amounts (for checks that
/// a re-run changed nothing).
pub async fn footprint(conn: &mut Conn) -> Result<(i64, i64, i64, i64)> {
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM billing_periods), (SELECT COUNT(*) FROM statements), \
         (SELECT COUNT(*) FROM statement_lines), \
         (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM statement_lines)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
}
