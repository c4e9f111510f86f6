//! The append-only, hash-chained audit log (SPEC §6).

use crate::{Conn, Result};
use gatehouse_domain::audit::{AuditEntry, AuditRecord, ChainError, ChainVerifier, entry_hash};
use gatehouse_domain::{AccountId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Appends an entry. Call it inside the transaction of the action it
/// records. The first statement takes the head row's write lock (a row lock
/// on PostgreSQL, the database write lock on SQLite), so concurrent appends
/// from any number of instances form one chain.
pub async fn append(conn: &mut Conn, r: &AuditRecord) -> Result<i64> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get(0)?;
    let prev: String = head.try_get(1)?;
    let hash = entry_hash(&prev, seq, r);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, actor, account_id, action, target, \
         client_addr, outcome, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(seq)
    .bind(r.at.millis())
    .bind(r.actor_id)
    .bind(&r.actor)
    .bind(r.account_id)
    .bind(&r.action)
    .bind(&r.target)
    .bind(&r.client_addr)
    .bind(&r.outcome)
    .bind(&r.detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

const COLUMNS: &str = "seq, at, actor_id, actor, account_id, action, target, client_addr, \
     outcome, detail, prev_hash, hash";

fn from_row(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.try_get(0)?,
        record: AuditRecord {
            at: Timestamp(r.try_get(1)?),
            actor_id: r.try_get(2)?,
            actor: r.try_get(3)?,
            account_id: r.try_get(4)?,
            action: r.try_get(5)?,
            target: r.try_get(6)?,
            client_addr: r.try_get(7)?,
            outcome: r.try_get(8)?,
            detail: r.try_get(9)?,
        },
        prev_hash: r.try_get(10)?,
        hash: r.try_get(11)?,
    })
}

/// The newest entries first, optionally for one account only.
pub async fn page(
    conn: &mut Conn,
    account: Option<AccountId>,
    page: i64,
    per_page: i64,
) -> Result<(Vec<AuditEntry>, i64)> {
    let acc = account.map_or(0, |a| a.0);
    let total: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_log WHERE ($1 = 0 OR account_id = $1)")
            .bind(acc)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ($1 = 0 OR account_id = $1) \
         ORDER BY seq DESC LIMIT $2 OFFSET $3"
    )))
    .bind(acc)
    .bind(per_page)
    .bind((page.max(1) - 1) * per_page)
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

/// Walks the whole chain in batches and checks it against the head.
/// Returns the number of entries, or the first bad one.
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
            after = e.seq;
            if let Err(err) = v.push(&e) {
                return Ok(Err(err));
            }
        }
    }
    Ok(v.finish(head_seq, &head_hash))
}

/// Every entry in order, for export (JSON lines).
pub async fn all(conn: &mut Conn, account: Option<AccountId>) -> Result<Vec<AuditEntry>> {
    let acc = account.map_or(0, |a| a.0);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE ($1 = 0 OR account_id = $1) ORDER BY seq"
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
pub async fn sign_in_history(
    conn: &mut Conn,
    user: gatehouse_domain::UserId,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let prefix = format!("user:{} (%", user.0);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE target LIKE $1 \
         AND action IN ('sign_in', 'sign_out', 'user_locked', 'password_change', 'password_reset') \
         ORDER BY seq DESC LIMIT $2"
    )))
    .bind(prefix)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
