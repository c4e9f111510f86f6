//! Attempt limits kept in the database, so that they hold across server
//! instances (SPEC §8).
//!
//! Every limit here follows one rule: **reserve, then check**. An attempt
//! (a password, a code, a text message) first takes a slot with
//! [`reserve`], whose single statement both decides whether a slot is free
//! and takes it; only a granted attempt goes on to the expensive check. So
//! N concurrent requests can never get more than `limit` checks, whatever
//! the interleaving. A success may give its slot back ([`release`]) where
//! the limit counts failures only; a failure simply keeps it.
//!
//! The same [`Reservation`] answer comes from the counters kept on a row of
//! their own table (a user's sign-in lockout, a credential's wrong codes, a
//! temporary code's tries; see `users`, `credentials`): the same rule, on a
//! counter whose lifetime is that row's.

use crate::{Conn, Result};
use gatehouse_domain::Timestamp;
use sqlx::Row;

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may go ahead. `count` is the slots taken in the window
    /// including this one; `last` says this one took the last free slot.
    Reserved {
        count: i64,
        window_start: Timestamp,
        last: bool,
    },
    /// No slot is free until `until`.
    Refused { until: Timestamp },
}

impl Reservation {
    pub fn is_reserved(&self) -> bool {
        matches!(self, Self::Reserved { .. })
    }
}

/// Whole seconds from `now` until `until`, at least 1 (for `Retry-After`).
pub fn retry_after(until: Timestamp, now: Timestamp) -> i64 {
    ((until.millis() - now.millis() + 999) / 1000).max(1)
}

/// Takes one of `limit` slots for `key` in a fixed window of
/// `window_seconds` (a new window starts when the old one has ended).
///
/// One `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`: the row is
/// updated only when a slot is free, and no row comes back when none is,
/// so the decision and the count are one atomic step on both backends.
pub async fn reserve(
    conn: &mut Conn,
    key: &str,
    limit: i64,
    window_seconds: i64,
    now: Timestamp,
) -> Result<Reservation> {
    if limit <= 0 {
        return Ok(Reservation::Refused {
            until: now.plus_seconds(window_seconds),
        });
    }
    let stale_before = now.plus_seconds(-window_seconds).millis();
    let row = sqlx::query(
        "INSERT INTO throttles (key, window_start, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttles.window_start <= $3 THEN 1 ELSE throttles.count + 1 END, \
           window_start = CASE WHEN throttles.window_start <= $3 THEN $2 \
                          ELSE throttles.window_start END \
         WHERE throttles.window_start <= $3 OR throttles.count < $4 \
         RETURNING count, window_start",
    )
    .bind(key)
    .bind(now.millis())
    .bind(stale_before)
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = row {
        let count: i64 = r.try_get(0)?;
        return Ok(Reservation::Reserved {
            count,
            window_start: Timestamp(r.try_get(1)?),
            last: count >= limit,
        });
    }
    // Refused: the decision is made; this read only says until when.
    let start = sqlx::query("SELECT window_start FROM throttles WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
        .map_or(now, Timestamp);
    Ok(Reservation::Refused {
        until: start.plus_seconds(window_seconds),
    })
}

/// Gives back the slot `reservation` took, if it was granted (a success,
/// where only failures count). A slot of a window that has ended since is
/// not given back to the next one.
pub async fn release(conn: &mut Conn, key: &str, reservation: Reservation) -> Result<()> {
    let Reservation::Reserved { window_start, .. } = reservation else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE throttles SET count = count - 1 \
         WHERE key = $1 AND window_start = $2 AND count > 0",
    )
    .bind(key)
    .bind(window_start.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The slots taken for `key` in its current window (for pages and tests;
/// never to decide an attempt — that is [`reserve`]'s job).
pub async fn count(conn: &mut Conn, key: &str, window_seconds: i64, now: Timestamp) -> Result<i64> {
    let row = sqlx::query("SELECT count, window_start FROM throttles WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) if Timestamp(r.try_get(1)?).plus_seconds(window_seconds) > now => r.try_get(0)?,
        _ => 0,
    })
}

/// Forgets `key` (every slot free again).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM throttles WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes up to `batch` counters whose window started before `before`
/// (every window is at most a day long, so a counter two days old counts
/// nothing any more). Returns how many went.
pub async fn purge_stale(conn: &mut Conn, before: Timestamp, batch: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM throttles WHERE key IN \
         (SELECT key FROM throttles WHERE window_start < $1 LIMIT $2)",
    )
    .bind(before.millis())
    .bind(batch)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
