//! The delivery queue (texts, calls, e-mail) and the virtual phone.
//!
//! A message is queued in the same transaction as whatever caused it, so it
//! is never lost; a worker claims it with a lease. Texts and calls are sent
//! at most once: providers do not recognise a repeated request, so an
//! attempt whose outcome is unknown is flagged (`check_first`) and the next
//! claim asks the gateway whether it exists before sending again. A claim of
//! a message still `sending` (its worker died mid-send) is flagged the same
//! way.
//!
//! ```text
//!            claim                       begin_send (lease checked)
//! queued ─────────────▶ sending ─────────────────────────────▶ (request)
//!   ▲  ▲                 │  │ check_first: the gateway's find_sent first:
//!   │  │                 │  │   found → sent · not found → begin_send
//!   │  │                 │  │   lookup failed → retry_later (still flagged)
//!   │  │                 │  │   cannot look up → failed (flag kept)
//!   │  │ retry_later      │  └─ lease runs out (worker died): claimable,
//!   │  └── unavailable ───┤     claimed with check_first set
//!   └── mark_unknown ─────┤ unknown outcome (flag set)
//!                         ├─ accepted → sent
//!                         └─ refused / attempts used up → failed
//! ```
//!
//! A status callback naming the message resolves a row still `queued` or
//! `sending` (or failed with the outcome unknown) as sent: it proves the
//! provider created it.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::Timestamp;
use gatehouse_domain::outbox::{MessageKind, OutboxStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

pub use crate::virtual_phone::*;

/// A queued message. `body` is sealed under the master key (it may hold a
/// one-time code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub kind: MessageKind,
    pub destination: String,
    pub subject: String,
    pub body: Option<Vec<u8>>,
    pub challenge_id: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub provider_ref: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// Until when the claim holds (after a claim), or when it is due.
    pub available_at: Timestamp,
    /// An earlier attempt's outcome is unknown: look it up before sending.
    pub check_first: bool,
    /// When the earliest attempt not known to have failed started.
    pub attempt_started_at: Option<Timestamp>,
    /// The provider's last reported status.
    pub provider_status: Option<String>,
}

const COLUMNS: &str = "id, kind, destination, subject, body, challenge_id, status, attempts, \
     provider_ref, last_error, created_at, available_at, check_first, attempt_started_at, \
     provider_status";

fn from_row(r: &AnyRow) -> Result<Queued> {
    Ok(Queued {
        id: r.try_get(0)?,
        kind: {
            let k: String = r.try_get(1)?;
            MessageKind::parse(&k)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox kind {k:?}")))?
        },
        destination: r.try_get(2)?,
        subject: r.try_get(3)?,
        body: r.try_get(4)?,
        challenge_id: r.try_get(5)?,
        status: {
            let s: String = r.try_get(6)?;
            OutboxStatus::parse(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox status {s:?}")))?
        },
        attempts: r.try_get(7)?,
        provider_ref: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: Timestamp(r.try_get(10)?),
        available_at: Timestamp(r.try_get(11)?),
        check_first: r.try_get::<i64, _>(12)? != 0,
        attempt_started_at: r.try_get::<Option<i64>, _>(13)?.map(Timestamp),
        provider_status: r.try_get(14)?,
    })
}

/// The claim's update: a message claimed while still `sending` was being
/// sent by a worker whose lease ran out (it died, or hangs): whether that
/// attempt reached the provider is unknown, so it is flagged.
const CLAIM_SET: &str = "status = 'sending', attempts = attempts + 1, available_at = $2, \
     check_first = CASE WHEN status = 'sending' THEN 1 ELSE check_first END";

/// Queues a message; returns its id.
pub async fn enqueue(
    conn: &mut Conn,
    kind: MessageKind,
    destination: &str,
    subject: &str,
    sealed_body: &[u8],
    challenge_id: Option<&str>,
    now: Timestamp,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO outbox (kind, destination, subject, body, challenge_id, status, available_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(destination)
    .bind(subject)
    .bind(sealed_body)
    .bind(challenge_id)
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Whether any message is due: a read, so that an idle worker never takes
/// the write lock (SQLite) just to find nothing.
pub async fn any_due(conn: &mut Conn, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM outbox WHERE status IN ('queued', 'sending') AND available_at <= $1 LIMIT 1",
    )
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// Claims the oldest due message for `lease_ms`: queued ones, and ones whose
/// earlier claim ran out (a worker died while sending; claimed with
/// `check_first` set). The conditional update makes the claim exclusive
/// across workers and instances.
pub async fn claim_due(conn: &mut Conn, now: Timestamp, lease_ms: i64) -> Result<Option<Queued>> {
    loop {
        let Some(r) = sqlx::query(
            "SELECT id FROM outbox WHERE status IN ('queued', 'sending') AND available_at <= $1 \
             ORDER BY id LIMIT 1",
        )
        .bind(now.millis())
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let id: i64 = r.try_get(0)?;
        let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET {CLAIM_SET} \
             WHERE id = $1 AND status IN ('queued', 'sending') AND available_at <= $3 \
             RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(now.millis() + lease_ms)
        .bind(now.millis())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = claimed {
            return from_row(&r).map(Some);
        }
        // Another worker took it between our two statements: look again.
    }
}

/// Claims one message by id if it is due (the request that queued it
/// sending at once); `None` if a worker has it or it was sent.
pub async fn claim(
    conn: &mut Conn,
    id: i64,
    now: Timestamp,
    lease_ms: i64,
) -> Result<Option<Queued>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET {CLAIM_SET} \
         WHERE id = $1 AND status IN ('queued', 'sending') AND available_at <= $3 \
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(now.millis() + lease_ms)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(from_row).transpose()
}

/// Marks a message sent and forgets its body. A message already marked
/// sent (by a status callback) keeps the reference it has.
pub async fn mark_sent(conn: &mut Conn, id: i64, provider_ref: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', provider_ref = $2, sent_at = $3, body = NULL, \
         last_error = NULL, check_first = 0 WHERE id = $1 AND status <> 'sent'",
    )
    .bind(id)
    .bind(provider_ref)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Starts a send under the claim that `claim` returned: `false` (send
/// nothing) unless the message is still `sending` under that very claim
/// (its lease not taken over by another worker, not resolved by a status
/// callback). Renews the lease for the request, clears `check_first` (a
/// lookup found nothing) and records when the attempt started, keeping an
/// earlier start while the earlier attempt's outcome was unknown, so that a
/// later lookup covers both.
pub async fn begin_send(
    conn: &mut Conn,
    claim: &Queued,
    now: Timestamp,
    lease_ms: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE outbox SET available_at = $3, check_first = 0, attempt_started_at = \
           CASE WHEN check_first = 1 AND attempt_started_at IS NOT NULL \
             THEN attempt_started_at ELSE $4 END \
         WHERE id = $1 AND status = 'sending' AND available_at = $2",
    )
    .bind(claim.id)
    .bind(claim.available_at.millis())
    .bind(now.millis() + lease_ms)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Extends a claim before a long step (a lookup at the provider): `Some`
/// with the claim as it now is if it was still ours (`sending` under that
/// very lease), `None` if it was taken over or resolved meanwhile.
pub async fn renew_claim(
    conn: &mut Conn,
    claim: &Queued,
    now: Timestamp,
    lease_ms: i64,
) -> Result<Option<Queued>> {
    let until = now.millis() + lease_ms;
    let renewed = sqlx::query(
        "UPDATE outbox SET available_at = $3 \
         WHERE id = $1 AND status = 'sending' AND available_at = $2",
    )
    .bind(claim.id)
    .bind(claim.available_at.millis())
    .bind(until)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    Ok(renewed.then(|| Queued {
        available_at: Timestamp(until),
        ..claim.clone()
    }))
}

/// Puts a claimed message back for another try at `next_at` (keeping
/// `check_first` as it is). Does nothing to a message no longer `sending`.
pub async fn retry_later(conn: &mut Conn, id: i64, error: &str, next_at: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'queued', last_error = $2, available_at = $3 \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(error)
    .bind(next_at.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The attempt's outcome is unknown: back in the queue for `next_at`, to be
/// looked up before anything is sent again. Does nothing to a message no
/// longer `sending` (a status callback may have resolved it meanwhile).
pub async fn mark_unknown(conn: &mut Conn, id: i64, error: &str, next_at: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'queued', check_first = 1, last_error = $2, available_at = $3 \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(error)
    .bind(next_at.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives up on a claimed message for good and forgets its body. Does
/// nothing to a message no longer `sending`.
pub async fn mark_failed(conn: &mut Conn, id: i64, error: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = $2, sent_at = $3, body = NULL \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(error)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many other messages of this kind to this number, queued since
/// `since`, are themselves in doubt (flagged for a lookup, or still being
/// sent): while one is, a call found by a lookup may be theirs, not this
/// message's (a call in the provider's list carries nothing of ours).
pub async fn others_in_doubt(
    conn: &mut Conn,
    kind: MessageKind,
    destination: &str,
    since: Timestamp,
    except_id: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM outbox WHERE destination = $1 AND kind = $2 AND id <> $3 \
         AND created_at >= $4 AND (status = 'sending' OR (status = 'queued' AND check_first = 1))",
    )
    .bind(destination)
    .bind(kind.as_str())
    .bind(except_id)
    .bind(since.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Provider references recorded for other messages of this kind to this
/// number since `since`: a lookup never takes one of them for this message.
pub async fn provider_refs_since(
    conn: &mut Conn,
    kind: MessageKind,
    destination: &str,
    since: Timestamp,
    except_id: i64,
) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT provider_ref FROM outbox WHERE destination = $1 AND kind = $2 AND sent_at >= $3 \
         AND id <> $4 AND provider_ref IS NOT NULL ORDER BY id",
    )
    .bind(destination)
    .bind(kind.as_str())
    .bind(since.millis())
    .bind(except_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// What a status callback changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusRecorded {
    /// The message was still waiting (outcome unknown, or a retry): the
    /// callback proves the provider created it, so it is now sent with the
    /// callback's reference.
    Resolved,
    /// The status was recorded on the sent message.
    Recorded,
    /// No such text or call, or it was recorded with another reference:
    /// nothing changed.
    Ignored,
}

/// Statuses after which a message or call changes no more: a late
/// intermediate status (callbacks may arrive out of order) does not replace
/// one of these.
const FINAL_STATUSES: &str = "'delivered', 'undelivered', 'failed', 'read', 'canceled', \
     'completed', 'busy', 'no-answer'";

/// Records a provider's status callback for message `id` (the marker in the
/// callback URL) about `provider_ref`. Idempotent; run it in a transaction.
pub async fn record_provider_status(
    conn: &mut Conn,
    id: i64,
    provider_ref: &str,
    status: &str,
    now: Timestamp,
) -> Result<StatusRecorded> {
    let resolved = sqlx::query(
        "UPDATE outbox SET status = 'sent', provider_ref = $2, provider_status = $3, \
           sent_at = $4, body = NULL, check_first = 0, last_error = NULL \
         WHERE id = $1 AND kind IN ('sms', 'call') \
           AND (status IN ('queued', 'sending') OR (status = 'failed' AND check_first = 1))",
    )
    .bind(id)
    .bind(provider_ref)
    .bind(status)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if resolved == 1 {
        return Ok(StatusRecorded::Resolved);
    }
    let recorded = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET provider_status = CASE \
           WHEN provider_status IN ({FINAL_STATUSES}) AND $3 NOT IN ({FINAL_STATUSES}) \
           THEN provider_status ELSE $3 END \
         WHERE id = $1 AND kind IN ('sms', 'call') AND provider_ref = $2"
    )))
    .bind(id)
    .bind(provider_ref)
    .bind(status)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(if recorded == 1 {
        StatusRecorded::Recorded
    } else {
        StatusRecorded::Ignored
    })
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Queued> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&r)
}

/// Messages per status (for metrics and tests).
pub async fn counts(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    sqlx::query("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The settings key of the delivery mode.
const DELIVERY_MODE_KEY: &str = "delivery_mode";

/// The delivery mode recorded for this database, if any.
pub async fn recorded_mode(conn: &mut Conn) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(DELIVERY_MODE_KEY)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

/// Records `mode` unless a mode is recorded already (one statement, so two
/// instances starting together agree on the first); returns the mode in
/// force and whether this call recorded it.
pub async fn record_mode_once(
    conn: &mut Conn,
    mode: &str,
    now: Timestamp,
) -> Result<(String, bool)> {
    let inserted = sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(DELIVERY_MODE_KEY)
    .bind(mode)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let recorded = recorded_mode(conn).await?.ok_or(StoreError::NotFound)?;
    Ok((recorded, inserted))
}

/// Records `mode` whatever was recorded before (the operator's deliberate
/// change); returns the mode recorded before.
pub async fn set_mode(conn: &mut Conn, mode: &str, now: Timestamp) -> Result<Option<String>> {
    let before = recorded_mode(conn).await?;
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = $3",
    )
    .bind(DELIVERY_MODE_KEY)
    .bind(mode)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(before)
}
