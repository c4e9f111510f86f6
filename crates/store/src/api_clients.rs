//! API clients of the validation API (stored as SHA-256 of their secret).

use crate::{Conn, Result, StoreError};
use gatehouse_domain::Timestamp;
use sqlx::Row;

pub async fn create(conn: &mut Conn, name: &str, secret_hash: &str, now: Timestamp) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO api_clients (name, secret_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(secret_hash)
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The client's id and name for a secret digest.
pub async fn by_secret(conn: &mut Conn, secret_hash: &str) -> Result<(i64, String)> {
    let r = sqlx::query("SELECT id, name FROM api_clients WHERE secret_hash = $1")
        .bind(secret_hash)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}
