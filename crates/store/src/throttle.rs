//! Fixed-window counters kept in the database, so that limits hold across
//! server instances (SPEC §8).

use crate::{Conn, Result};
use gatehouse_domain::Timestamp;
use sqlx::Row;

/// The current count for `key` in a window of `window_seconds`, without
/// changing it.
pub async fn peek(
    conn: &mut Conn,
    key: &str,
    window_seconds: i64,
    now: Timestamp,
) -> Result<(i64, Timestamp)> {
    let row = sqlx::query("SELECT count, window_start FROM throttles WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => {
            let start = Timestamp(r.try_get(1)?);
            if start.plus_seconds(window_seconds) <= now {
                (0, now)
            } else {
                (r.try_get(0)?, start)
            }
        }
        None => (0, now),
    })
}

/// Adds one to `key`'s count (starting a new window if the old one ended)
/// in one atomic statement; returns the new count and the window's start.
pub async fn hit(
    conn: &mut Conn,
    key: &str,
    window_seconds: i64,
    now: Timestamp,
) -> Result<(i64, Timestamp)> {
    let stale_before = now.plus_seconds(-window_seconds).millis();
    let r = sqlx::query(
        "INSERT INTO throttles (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttles.window_start <= $3 THEN 1 ELSE throttles.count + 1 END, \
           window_start = CASE WHEN throttles.window_start <= $3 THEN $2 \
                          ELSE throttles.window_start END \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now.millis())
    .bind(stale_before)
    .fetch_one(&mut *conn)
    .await?;
    Ok((r.try_get(0)?, Timestamp(r.try_get(1)?)))
}

/// Forgets `key` (e.g. after a successful sign-in).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM throttles WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
