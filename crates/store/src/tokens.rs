//! Bearer API tokens acting with a user's rights (stored as SHA-256).
//!
//! A token is live while it is neither revoked nor expired; every lookup
//! here applies both conditions in its own statement, so a revoked or
//! expired token can never be read back as live.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::{AccountId, Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: UserId,
    pub username: String,
    pub account_id: AccountId,
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const SELECT: &str = "SELECT t.id, t.user_id, u.username, u.account_id, t.name, t.created_at, \
     t.expires_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id";

fn from_row(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        username: r.try_get(2)?,
        account_id: AccountId(r.try_get(3)?),
        name: r.try_get(4)?,
        created_at: Timestamp(r.try_get(5)?),
        expires_at: Timestamp(r.try_get(6)?),
        revoked_at: r.try_get::<Option<i64>, _>(7)?.map(Timestamp),
    })
}

/// Stores a new token (by digest); `Conflict { field: "token" }` if the
/// digest is already stored.
pub async fn create(
    conn: &mut Conn,
    user: UserId,
    name: &str,
    token_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING RETURNING id",
    )
    .bind(user.0)
    .bind(name)
    .bind(token_hash)
    .bind(now.millis())
    .bind(expires_at.millis())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Conflict { field: "token" })?;
    Ok(row.try_get(0)?)
}

/// The user a live token acts for. The lookup is by digest through a
/// unique index: the digest of a random 256-bit token reveals nothing
/// usable, so a timing difference in the index search leaks nothing either.
pub async fn user_for(conn: &mut Conn, token_hash: &str, now: Timestamp) -> Result<UserId> {
    let r = sqlx::query(
        "SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
         AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(UserId(r.try_get(0)?))
}

/// One token, live or not.
pub async fn get(conn: &mut Conn, id: i64) -> Result<ApiToken> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&r)
}

/// Which live tokens to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFilter {
    All,
    Account(AccountId),
    User(UserId),
}

/// The live tokens, oldest first.
pub async fn list_live(
    conn: &mut Conn,
    filter: TokenFilter,
    now: Timestamp,
) -> Result<Vec<ApiToken>> {
    // `$2` = 0 for all, 1 for one account (`$3`), 2 for one user (`$3`).
    let (kind, value) = match filter {
        TokenFilter::All => (0, 0),
        TokenFilter::Account(a) => (1, a.0),
        TokenFilter::User(u) => (2, u.0),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE t.revoked_at IS NULL AND t.expires_at > $1 \
         AND ($2 = 0 OR ($2 = 1 AND u.account_id = $3) OR ($2 = 2 AND t.user_id = $3)) \
         ORDER BY t.id"
    )))
    .bind(now.millis())
    .bind(kind)
    .bind(value)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Revokes one live token; `false` if it was already revoked or expired.
pub async fn revoke(conn: &mut Conn, id: i64, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
         AND expires_at > $2",
    )
    .bind(id)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Revokes every live token of a user; returns how many ended.
pub async fn revoke_for_user(conn: &mut Conn, user: UserId, now: Timestamp) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2",
    )
    .bind(user.0)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
