//! Server-side sessions. The cookie carries a random token; the table keeps
//! only its SHA-256, so a copy of the database does not let anyone in.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::session::SessionState;
use gatehouse_domain::{Timestamp, UserId};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user_id: Option<UserId>,
    pub state: SessionState,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: Option<UserId>,
    pub state: SessionState,
    pub csrf_token: &'a str,
    pub client_addr: &'a str,
    pub expires_at: Timestamp,
}

pub async fn insert(conn: &mut Conn, s: &NewSession<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, state, csrf_token, created_at, last_seen_at, \
         expires_at, client_addr) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
    )
    .bind(s.id_hash)
    .bind(s.user_id.map(|u| u.0))
    .bind(s.state.as_str())
    .bind(s.csrf_token)
    .bind(now.millis())
    .bind(s.expires_at.millis())
    .bind(s.client_addr)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id_hash: &str) -> Result<Session> {
    let r = sqlx::query(
        "SELECT id_hash, user_id, state, csrf_token, created_at, last_seen_at FROM sessions \
         WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let state: String = r.try_get(2)?;
    Ok(Session {
        id_hash: r.try_get(0)?,
        user_id: r.try_get::<Option<i64>, _>(1)?.map(UserId),
        state: SessionState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("session state {state}")))?,
        csrf_token: r.try_get(3)?,
        created_at: Timestamp(r.try_get(4)?),
        last_seen_at: Timestamp(r.try_get(5)?),
    })
}

pub async fn touch(
    conn: &mut Conn,
    id_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1")
        .bind(id_hash)
        .bind(now.millis())
        .bind(expires_at.millis())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A live session as its user sees it in their list (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub id_hash: String,
    pub state: SessionState,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub client_addr: String,
}

/// Most sessions one user's list shows (the most recently used first).
pub const LIST_LIMIT: i64 = 100;

/// The user's sessions that have not expired, most recently used first,
/// at most `limit` of them.
pub async fn list_for_user(
    conn: &mut Conn,
    user: UserId,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<UserSession>> {
    let rows = sqlx::query(
        "SELECT id_hash, state, created_at, last_seen_at, client_addr FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 \
         ORDER BY last_seen_at DESC, created_at DESC, id_hash LIMIT $3",
    )
    .bind(user.0)
    .bind(now.millis())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let state: String = r.try_get(1)?;
            Ok(UserSession {
                id_hash: r.try_get(0)?,
                state: SessionState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("session state {state}")))?,
                created_at: Timestamp(r.try_get(2)?),
                last_seen_at: Timestamp(r.try_get(3)?),
                client_addr: r.try_get(4)?,
            })
        })
        .collect()
}

/// Ends one session of `user`; `NotFound` if it is not theirs (or gone).
pub async fn delete_of_user(conn: &mut Conn, user: UserId, id_hash: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
        .bind(id_hash)
        .bind(user.0)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Ends every session of a user (password change, disable, reset), except
/// `keep` if given.
pub async fn delete_for_user(conn: &mut Conn, user: UserId, keep: Option<&str>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user.0)
            .bind(keep.unwrap_or(""))
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Removes sessions that have timed out; returns how many.
pub async fn purge_expired(conn: &mut Conn, now: Timestamp, batch: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM sessions WHERE id_hash IN \
         (SELECT id_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now.millis())
    .bind(batch)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// How many session rows exist (all states); for tests and the metric.
pub async fn count(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM sessions")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}
