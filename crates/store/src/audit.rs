//! The append-only, hash-chained audit log (SPEC §6).
//!
//! Writing and chaining are separate steps. [`append`] inserts an entry in
//! the caller's transaction (so an action and its record commit together)
//! without touching the chain; [`seal_pending`] then links unsealed entries
//! into the chain in order, one sealer at a time. Writers therefore never
//! queue behind a single "last hash" row — the hot spot that would
//! otherwise serialise every sign-in and validation across all instances.
//! An entry is unsealed only for the moments until the next sealing pass
//! (the server seals several times a second; the CLI before it exits and
//! before `audit verify`).

use crate::{Conn, Result, Scope, Store, User};
use gatehouse_domain::Timestamp;
use gatehouse_domain::audit::{AuditEntry, AuditRecord, ChainError, ChainVerifier, entry_hash};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An entry as stored: sealed (`seq`, hashes set) or waiting to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub id: i64,
    pub seq: Option<i64>,
    pub record: AuditRecord,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Records an entry; call it inside the transaction of the action it records.
pub async fn append(conn: &mut Conn, r: &AuditRecord) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, account_id, action, target, client_addr, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(r.at.millis())
    .bind(r.actor_id)
    .bind(&r.actor)
    .bind(r.account_id)
    .bind(&r.action)
    .bind(&r.target)
    .bind(&r.client_addr)
    .bind(&r.outcome)
    .bind(&r.detail)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

const COLUMNS: &str = "id, seq, at, actor_id, actor, account_id, action, target, client_addr, \
     outcome, detail, prev_hash, hash";

fn from_row(r: &AnyRow) -> Result<StoredEntry> {
    Ok(StoredEntry {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        record: AuditRecord {
            at: Timestamp(r.try_get(2)?),
            actor_id: r.try_get(3)?,
            actor: r.try_get(4)?,
            account_id: r.try_get(5)?,
            action: r.try_get(6)?,
            target: r.try_get(7)?,
            client_addr: r.try_get(8)?,
            outcome: r.try_get(9)?,
            detail: r.try_get(10)?,
        },
        prev_hash: r.try_get(11)?,
        hash: r.try_get(12)?,
    })
}

/// Links up to `max` unsealed entries into the chain, oldest first, in one
/// transaction; returns how many. The first statement locks the chain's
/// head (row lock on PostgreSQL, write lock on SQLite), so concurrent
/// sealers — one per instance — take turns and never fork the chain.
pub async fn seal_pending(store: &Store, max: i64) -> Result<usize> {
    let mut tx = store.begin().await?;
    let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *tx)
        .await?;
    let (mut seq, mut prev): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1"
    )))
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    for r in &rows {
        let e = from_row(r)?;
        seq += 1;
        let hash = entry_hash(&prev, seq, &e.record);
        sqlx::query("UPDATE audit_log SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1")
            .bind(e.id)
            .bind(seq)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Seals everything pending; returns how many entries were sealed.
pub async fn seal_all(store: &Store) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = seal_pending(store, 500).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// The newest entries first that `scope` reaches: every account's, or one
/// account's (a user's own scope reaches none).
pub async fn page(
    conn: &mut Conn,
    scope: Scope,
    page: i64,
    per_page: i64,
) -> Result<(Vec<StoredEntry>, i64)> {
    let Some(acc) = scope.account_arg() else {
        return Ok((Vec::new(), 0));
    };
    let total: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_log WHERE ($1 = 0 OR account_id = $1)")
            .bind(acc)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ($1 = 0 OR account_id = $1) \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(acc)
    .bind(per_page)
    .bind((page.max(1) - 1).saturating_mul(per_page))
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

/// Walks the sealed chain in batches and checks it against the head.
/// Returns the number of sealed entries, or the first bad one. (Seal
/// pending entries first to include them.)
pub async fn verify(conn: &mut Conn) -> Result<Result<i64, ChainError>> {
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let mut v = ChainVerifier::default();
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000"
        )))
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let e = from_row(r)?;
            let seq = e.seq.unwrap_or_default();
            after = seq;
            let entry = AuditEntry {
                seq,
                record: e.record,
                prev_hash: e.prev_hash.unwrap_or_default(),
                hash: e.hash.unwrap_or_default(),
            };
            if let Err(err) = v.push(&entry) {
                return Ok(Err(err));
            }
        }
    }
    Ok(v.finish(head_seq, &head_hash))
}

/// Every entry `scope` reaches in writing order, for export (JSON lines).
pub async fn all(conn: &mut Conn, scope: Scope) -> Result<Vec<StoredEntry>> {
    let Some(acc) = scope.account_arg() else {
        return Ok(Vec::new());
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ($1 = 0 OR account_id = $1) ORDER BY id"
    )))
    .bind(acc)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// A user's own recent sign-in events (successes, failures, lockouts,
/// password changes), newest first.
pub async fn sign_in_history(conn: &mut Conn, user: &User, limit: i64) -> Result<Vec<StoredEntry>> {
    let prefix = format!("user:{} (%", user.id.0);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE target LIKE $1 \
         AND action IN ('sign_in', 'sign_out', 'user_locked', 'password_change', 'password_reset', \
         'security_code') \
         ORDER BY id DESC LIMIT $2"
    )))
    .bind(prefix)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
