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

/// An API client as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: i64,
    pub name: String,
    pub created_at: Timestamp,
}

/// Every API client, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<ApiClient>> {
    let rows = sqlx::query("SELECT id, name, created_at FROM api_clients ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiClient {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                created_at: Timestamp(r.try_get(2)?),
            })
        })
        .collect()
}

/// Removes a client: its secret is refused from then on. Returns the
/// removed client; `NotFound` if there is none with that id.
pub async fn remove(conn: &mut Conn, id: i64) -> Result<ApiClient> {
    let r = sqlx::query("DELETE FROM api_clients WHERE id = $1 RETURNING id, name, created_at")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(ApiClient {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: Timestamp(r.try_get(2)?),
    })
}
