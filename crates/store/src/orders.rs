//! Orders of external authentication and the subscriptions they create.

use crate::{Conn, Result, Scope, StoreError, User};
use gatehouse_domain::{AccountId, Method, Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub number: String,
    pub account_id: AccountId,
    pub user_id: Option<UserId>,
    pub username: String,
    pub method: Method,
    pub credential_id: Option<String>,
    pub monthly_price: i64,
    pub currency: String,
    pub promo_code: Option<String>,
    pub promo_kind: Option<String>,
    pub promo_value: Option<i64>,
    pub promo_months: Option<i64>,
    pub msa_version: String,
    pub msa_sha256: String,
    pub acknowledged_name: String,
    pub acknowledged_at: Timestamp,
    pub acknowledged_addr: String,
    pub idempotency_key: String,
    pub created_at: Timestamp,
}

pub struct NewOrder<'a> {
    pub number: &'a str,
    pub account_id: AccountId,
    pub user_id: UserId,
    pub username: &'a str,
    pub method: Method,
    pub credential_id: Option<&'a str>,
    pub monthly_price: i64,
    pub currency: &'a str,
    pub promo_code: Option<&'a str>,
    pub promo_kind: Option<&'a str>,
    pub promo_value: Option<i64>,
    pub promo_months: Option<i64>,
    pub msa_version: &'a str,
    pub msa_sha256: &'a str,
    pub acknowledged_by: UserId,
    pub acknowledged_name: &'a str,
    pub acknowledged_addr: &'a str,
    pub idempotency_key: &'a str,
}

const COLUMNS: &str = "id, number, account_id, user_id, username, method, credential_id, \
     monthly_price, currency, promo_code, promo_kind, promo_value, promo_months, msa_version, \
     msa_sha256, acknowledged_name, acknowledged_at, acknowledged_addr, idempotency_key, created_at";

/// A method as stored.
fn method_of(r: &AnyRow, i: usize) -> Result<Method> {
    let m: String = r.try_get(i)?;
    Method::parse(&m).map_err(|_| StoreError::Corrupt(format!("method {m}")))
}

fn from_row(r: &AnyRow) -> Result<Order> {
    Ok(Order {
        id: r.try_get(0)?,
        number: r.try_get(1)?,
        account_id: AccountId(r.try_get(2)?),
        user_id: r.try_get::<Option<i64>, _>(3)?.map(UserId),
        username: r.try_get(4)?,
        method: method_of(r, 5)?,
        credential_id: r.try_get(6)?,
        monthly_price: r.try_get(7)?,
        currency: r.try_get(8)?,
        promo_code: r.try_get(9)?,
        promo_kind: r.try_get(10)?,
        promo_value: r.try_get(11)?,
        promo_months: r.try_get(12)?,
        msa_version: r.try_get(13)?,
        msa_sha256: r.try_get(14)?,
        acknowledged_name: r.try_get(15)?,
        acknowledged_at: Timestamp(r.try_get(16)?),
        acknowledged_addr: r.try_get(17)?,
        idempotency_key: r.try_get(18)?,
        created_at: Timestamp(r.try_get(19)?),
    })
}

/// Inserts the order and its active subscription. A second active
/// subscription for the same user and method is refused by a unique index
/// (`Conflict { field: "method" }`); a reused idempotency key by another
/// (`Conflict { field: "idempotency_key" }`).
pub async fn place(conn: &mut Conn, o: &NewOrder<'_>, now: Timestamp) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO orders (number, account_id, user_id, username, method, credential_id, \
         monthly_price, currency, promo_code, promo_kind, promo_value, promo_months, msa_version, \
         msa_sha256, acknowledged_by, acknowledged_name, acknowledged_at, acknowledged_addr, \
         idempotency_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $17) \
         RETURNING id",
    )
    .bind(o.number)
    .bind(o.account_id.0)
    .bind(o.user_id.0)
    .bind(o.username)
    .bind(o.method.as_str())
    .bind(o.credential_id)
    .bind(o.monthly_price)
    .bind(o.currency)
    .bind(o.promo_code)
    .bind(o.promo_kind)
    .bind(o.promo_value)
    .bind(o.promo_months)
    .bind(o.msa_version)
    .bind(o.msa_sha256)
    .bind(o.acknowledged_by.0)
    .bind(o.acknowledged_name)
    .bind(now.millis())
    .bind(o.acknowledged_addr)
    .bind(o.idempotency_key)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from)?
    .try_get(0)?;
    sqlx::query(
        "INSERT INTO subscriptions (order_id, account_id, user_id, method, status, started_at) \
         VALUES ($1, $2, $3, $4, 'active', $5)",
    )
    .bind(id)
    .bind(o.account_id.0)
    .bind(o.user_id.0)
    .bind(o.method.as_str())
    .bind(now.millis())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(id)
}

pub async fn by_idempotency_key(
    conn: &mut Conn,
    account: AccountId,
    key: &str,
) -> Result<Option<Order>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM orders WHERE account_id = $1 AND idempotency_key = $2"
    )))
    .bind(account.0)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(from_row).transpose()
}

/// The order `number` within `scope`: all orders, one account's, or none
/// for a user's own scope (orders are administrators' business). Another
/// account's order is not found, as if it did not exist.
pub async fn by_number(conn: &mut Conn, scope: Scope, number: &str) -> Result<Order> {
    let account = scope.account_arg().ok_or(StoreError::NotFound)?;
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM orders WHERE number = $1 AND ($2 = 0 OR account_id = $2)"
    )))
    .bind(number)
    .bind(account)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&r)
}

/// The number of orders `scope` reaches.
pub async fn count(conn: &mut Conn, scope: Scope) -> Result<i64> {
    let Some(account) = scope.account_arg() else {
        return Ok(0);
    };
    Ok(
        sqlx::query("SELECT COUNT(*) FROM orders WHERE ($1 = 0 OR account_id = $1)")
            .bind(account)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// An active subscription of a user, with the order it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSubscription {
    pub id: i64,
    pub user_id: UserId,
    pub method: Method,
    pub started_at: Timestamp,
    pub order_number: String,
    pub credential_id: Option<String>,
}

/// Active subscriptions of the given users.
pub async fn active_for_users(conn: &mut Conn, users: &[User]) -> Result<Vec<ActiveSubscription>> {
    if users.is_empty() {
        return Ok(vec![]);
    }
    let list: Vec<String> = users.iter().map(|u| u.id.0.to_string()).collect();
    // The ids are integers we formatted ourselves, so inlining them is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, s.user_id, s.method, s.started_at, o.number, o.credential_id \
         FROM subscriptions s JOIN orders o ON o.id = s.order_id \
         WHERE s.status = 'active' AND s.user_id IN ({}) ORDER BY s.id",
        list.join(",")
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(ActiveSubscription {
            id: r.try_get(0)?,
            user_id: UserId(r.try_get(1)?),
            method: method_of(r, 2)?,
            started_at: Timestamp(r.try_get(3)?),
            order_number: r.try_get(4)?,
            credential_id: r.try_get(5)?,
        })
    })
    .collect()
}

/// Ends a user's active subscription to a method; `false` if none.
pub async fn end(conn: &mut Conn, user: &User, method: Method, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE subscriptions SET status = 'ended', ended_at = $3 \
         WHERE user_id = $1 AND method = $2 AND status = 'active'",
    )
    .bind(user.id.0)
    .bind(method.as_str())
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}
