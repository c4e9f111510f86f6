//! Bearer API tokens acting with a user's rights (stored as SHA-256).

use crate::{Conn, Result, StoreError};
use gatehouse_domain::{Timestamp, UserId};
use sqlx::Row;

pub async fn create(
    conn: &mut Conn,
    user: UserId,
    name: &str,
    token_hash: &str,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(user.0)
    .bind(name)
    .bind(token_hash)
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The user a token acts for. The lookup is by digest through a unique
/// index: the digest of a random 256-bit token reveals nothing usable, so a
/// timing difference in the index search leaks nothing either.
pub async fn user_for(conn: &mut Conn, token_hash: &str) -> Result<UserId> {
    let r = sqlx::query("SELECT user_id FROM api_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(UserId(r.try_get(0)?))
}
