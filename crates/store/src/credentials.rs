//! The credential inventory (Symantec Identity Protection tokens) and the
//! per-credential validation state. Seeds are stored sealed (AES-256-GCM);
//! this module never sees them in clear.
//!
//! Replay protection lives in [`accept`]: the last accepted time step or
//! counter is checked and advanced in the same `UPDATE`, so of two requests
//! with the same code (even on two server instances) only one can succeed.

use crate::throttle::Reservation;
use crate::{Conn, Result, StoreError, User};
use gatehouse_domain::oath::{HashAlg, Kind, OathParams, Validation};
use gatehouse_domain::{Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: i64,
    pub credential_id: String,
    /// TOTP (with its time step) or HOTP, the length and the hash.
    pub params: OathParams,
    pub sealed_secret: Option<Vec<u8>>,
    pub validation: Validation,
    pub source: String,
    pub last_used: Option<i64>,
    pub next_counter: i64,
    pub drift: i64,
    pub failures: i64,
    pub locked_until: Option<Timestamp>,
    pub enabled: bool,
    pub user_id: Option<UserId>,
    pub last_validated_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

pub struct NewCredential<'a> {
    pub credential_id: &'a str,
    pub params: OathParams,
    pub next_counter: i64,
    pub sealed_secret: Option<&'a [u8]>,
    pub validation: Validation,
    pub source: &'a str,
}

pub(crate) const COLUMNS: &str = "id, credential_id, kind, algorithm, digits, period, secret, validation, \
     source, last_used, next_counter, drift, failures, locked_until, enabled, user_id, \
     last_validated_at, created_at";

fn from_row(r: &AnyRow) -> Result<Credential> {
    from_row_at(r, 0)
}

/// A credential row's columns as read, before parsing (shared by the
/// pooled reads and the group-commit writer's).
pub(crate) struct Parts<'a> {
    pub id: i64,
    pub credential_id: String,
    pub kind: &'a str,
    pub algorithm: &'a str,
    pub digits: i64,
    pub period: i64,
    pub sealed_secret: Option<Vec<u8>>,
    pub validation: &'a str,
    pub source: String,
    pub last_used: Option<i64>,
    pub next_counter: i64,
    pub drift: i64,
    pub failures: i64,
    pub locked_until: Option<i64>,
    pub enabled: bool,
    pub user_id: Option<i64>,
    pub last_validated_at: Option<i64>,
    pub created_at: i64,
}

/// The credential from its columns; `Corrupt` for a kind, hash,
/// length or validation this version does not know.
pub(crate) fn assemble(p: Parts<'_>) -> Result<Credential> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("credential {}: {what}", p.credential_id));
    let params = OathParams {
        kind: Kind::from_name(p.kind, p.period.max(1) as u64)
            .ok_or_else(|| corrupt(format!("kind {}", p.kind)))?,
        digits: u32::try_from(p.digits).map_err(|_| corrupt(format!("digits {}", p.digits)))?,
        alg: HashAlg::parse(p.algorithm)
            .map_err(|_| corrupt(format!("algorithm {}", p.algorithm)))?,
    };
    let validation = Validation::parse(p.validation)
        .ok_or_else(|| corrupt(format!("validation {}", p.validation)))?;
    Ok(Credential {
        id: p.id,
        credential_id: p.credential_id,
        params,
        sealed_secret: p.sealed_secret,
        validation,
        source: p.source,
        last_used: p.last_used,
        next_counter: p.next_counter,
        drift: p.drift,
        failures: p.failures,
        locked_until: p.locked_until.map(Timestamp),
        enabled: p.enabled,
        user_id: p.user_id.map(UserId),
        last_validated_at: p.last_validated_at.map(Timestamp),
        created_at: Timestamp(p.created_at),
    })
}

/// The record from the columns of `COLUMNS` starting at index `at`.
pub(crate) fn from_row_at(r: &AnyRow, at: usize) -> Result<Credential> {
    let kind: String = r.try_get(at + 2)?;
    let algorithm: String = r.try_get(at + 3)?;
    let validation: String = r.try_get(at + 7)?;
    assemble(Parts {
        id: r.try_get(at)?,
        credential_id: r.try_get(at + 1)?,
        kind: &kind,
        algorithm: &algorithm,
        digits: r.try_get(at + 4)?,
        period: r.try_get(at + 5)?,
        sealed_secret: r.try_get(at + 6)?,
        validation: &validation,
        source: r.try_get(at + 8)?,
        last_used: r.try_get(at + 9)?,
        next_counter: r.try_get(at + 10)?,
        drift: r.try_get(at + 11)?,
        failures: r.try_get(at + 12)?,
        locked_until: r.try_get(at + 13)?,
        enabled: r.try_get::<i64, _>(at + 14)? != 0,
        user_id: r.try_get(at + 15)?,
        last_validated_at: r.try_get(at + 16)?,
        created_at: r.try_get(at + 17)?,
    })
}

/// Adds a credential; `Conflict { field: "credential_id" }` if the ID is
/// already in the inventory. `ON CONFLICT DO NOTHING` rather than catching
/// the violation: on PostgreSQL a failed statement aborts the transaction,
/// and an import goes on with its other keys after a refused one.
pub async fn insert(conn: &mut Conn, c: &NewCredential<'_>, now: Timestamp) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO credentials (credential_id, kind, algorithm, digits, period, next_counter, \
         secret, validation, source, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (credential_id) DO NOTHING RETURNING id",
    )
    .bind(c.credential_id)
    .bind(c.params.kind.name())
    .bind(c.params.alg.as_str())
    .bind(i64::from(c.params.digits))
    // HOTP has no time step; the column keeps RFC 6238's default.
    .bind(c.params.kind.period().unwrap_or(30) as i64)
    .bind(c.next_counter)
    .bind(c.sealed_secret.map(<[u8]>::to_vec))
    .bind(c.validation.as_str())
    .bind(c.source)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Conflict {
        field: "credential_id",
    })?;
    Ok(row.try_get(0)?)
}

pub async fn by_credential_id(conn: &mut Conn, credential_id: &str) -> Result<Credential> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE credential_id = $1"
    )))
    .bind(credential_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&r)
}

/// The credential assigned to a user, if any.
pub async fn for_user(conn: &mut Conn, user: &User) -> Result<Option<Credential>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE user_id = $1"
    )))
    .bind(user.id.0)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(from_row).transpose()
}

/// Credentials of several users at once (for the Users screen).
pub async fn for_users(conn: &mut Conn, users: &[User]) -> Result<Vec<Credential>> {
    if users.is_empty() {
        return Ok(vec![]);
    }
    let list: Vec<String> = users.iter().map(|u| u.id.0.to_string()).collect();
    // The ids are integers we formatted ourselves, so inlining them is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE user_id IN ({})",
        list.join(",")
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The inventory, newest first, optionally only unassigned ones.
pub async fn list(
    conn: &mut Conn,
    query: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Credential>, i64)> {
    let pattern = crate::contains_pattern(&query.trim().to_uppercase());
    let total: i64 =
        sqlx::query("SELECT COUNT(*) FROM credentials WHERE credential_id LIKE $1 ESCAPE '\\'")
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE credential_id LIKE $1 ESCAPE '\\' \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

/// Assigns an unassigned credential; `false` if someone else has it.
pub async fn assign(conn: &mut Conn, id: i64, user: &User) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE credentials SET user_id = $2 WHERE id = $1 AND user_id IS NULL")
            .bind(id)
            .bind(user.id.0)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Returns a credential to the inventory, clearing its per-user state.
pub async fn unassign(conn: &mut Conn, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE credentials SET user_id = NULL, failures = 0, locked_until = NULL, enabled = 1 \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an accepted code: advances the last used step/counter only if
/// it moves forward and the credential is usable, in one statement.
/// `false` means another request got there first (a replay) or the
/// credential was locked or disabled meanwhile. `own_lock` is the `last`
/// of this attempt's [`reserve_attempt`]: the lock that reservation set
/// does not stop its own attempt, and is lifted by the success.
pub async fn accept(
    conn: &mut Conn,
    id: i64,
    step_or_counter: i64,
    next_counter: i64,
    drift: i64,
    now: Timestamp,
    own_lock: bool,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE credentials SET last_used = $2, next_counter = $3, drift = $4, failures = 0, \
         last_validated_at = $5, locked_until = CASE WHEN $6 = 1 THEN NULL ELSE locked_until END \
         WHERE id = $1 AND (last_used IS NULL OR last_used < $2) AND enabled = 1 \
         AND (locked_until IS NULL OR locked_until <= $5 OR $6 = 1)",
    )
    .bind(id)
    .bind(step_or_counter)
    .bind(next_counter)
    .bind(drift)
    .bind(now.millis())
    .bind(i64::from(own_lock))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Reserves one code attempt on an enabled, unlocked credential before the
/// code is checked (see `throttle`): the consecutive failures go up by one
/// in the statement that decides, and the attempt that reaches
/// `max_failures` locks the credential until `lock_until` at once (`last`),
/// so no other attempt gets in while it is checked. A right code then
/// clears the count ([`accept`], [`record_remote_success`]); an attempt
/// that was no guess gives its slot back ([`release_attempt`]).
pub async fn reserve_attempt(
    conn: &mut Conn,
    id: i64,
    max_failures: i64,
    lock_until: Timestamp,
    now: Timestamp,
) -> Result<Reservation> {
    let row = sqlx::query(
        "UPDATE credentials SET failures = failures + 1, \
         locked_until = CASE WHEN failures + 1 >= $2 THEN $3 ELSE locked_until END \
         WHERE id = $1 AND enabled = 1 AND (locked_until IS NULL OR locked_until <= $4) \
         RETURNING failures",
    )
    .bind(id)
    .bind(max_failures)
    .bind(lock_until.millis())
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => {
            let count: i64 = r.try_get(0)?;
            Reservation::Reserved {
                count,
                window_start: now,
                last: count >= max_failures,
            }
        }
        None => Reservation::Refused { until: lock_until },
    })
}

/// Gives back an attempt's slot (the check could not be made), lifting
/// the lock its reservation set, if it did (`own_lock`).
pub async fn release_attempt(conn: &mut Conn, id: i64, own_lock: bool) -> Result<()> {
    sqlx::query(
        "UPDATE credentials SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, \
         locked_until = CASE WHEN $2 = 1 THEN NULL ELSE locked_until END WHERE id = $1",
    )
    .bind(id)
    .bind(i64::from(own_lock))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn lock(conn: &mut Conn, id: i64, until: Timestamp) -> Result<()> {
    sqlx::query("UPDATE credentials SET locked_until = $2 WHERE id = $1")
        .bind(id)
        .bind(until.millis())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn unlock(conn: &mut Conn, id: i64) -> Result<()> {
    sqlx::query("UPDATE credentials SET locked_until = NULL, failures = 0 WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn set_enabled(conn: &mut Conn, id: i64, enabled: bool) -> Result<()> {
    sqlx::query("UPDATE credentials SET enabled = $2 WHERE id = $1")
        .bind(id)
        .bind(i64::from(enabled))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores the counters found by a resynchronisation (and unlocks).
pub async fn resync(
    conn: &mut Conn,
    id: i64,
    last_used: i64,
    next_counter: i64,
    drift: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE credentials SET last_used = $2, next_counter = $3, drift = $4, failures = 0, \
         locked_until = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(last_used)
    .bind(next_counter)
    .bind(drift)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Moves a credential's counters to the given values only if it is still
/// at `from_last_used`/`from_next_counter` (compare and set in one
/// statement): for a proof of possession checked earlier, which must not be
/// applied once anything else moved the credential on. `false` if it moved.
pub async fn advance_from(
    conn: &mut Conn,
    id: i64,
    from_last_used: Option<i64>,
    from_next_counter: i64,
    last_used: i64,
    next_counter: i64,
    drift: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE credentials SET last_used = $2, next_counter = $3, drift = $4, failures = 0, \
         locked_until = NULL \
         WHERE id = $1 AND COALESCE(last_used, -1) = $5 AND next_counter = $6",
    )
    .bind(id)
    .bind(last_used)
    .bind(next_counter)
    .bind(drift)
    .bind(from_last_used.unwrap_or(-1))
    .bind(from_next_counter)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A temporary security code issued by an administrator.
#[derive(Debug, Clone)]
pub struct TemporaryCode {
    pub code_hash: String,
    pub expires_at: Timestamp,
    pub single_use: bool,
    /// Tries so far (wrong ones, and any being checked).
    pub attempts: i64,
}

/// Stores a new temporary code (replacing any), with no tries used.
pub async fn set_temporary_code(
    conn: &mut Conn,
    user: &User,
    code_hash: &str,
    expires_at: Timestamp,
    single_use: bool,
    created_by: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO temporary_codes (user_id, code_hash, expires_at, single_use, created_by, \
         created_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, 0) \
         ON CONFLICT (user_id) DO UPDATE SET code_hash = $2, expires_at = $3, single_use = $4, \
         created_by = $5, created_at = $6, attempts = 0",
    )
    .bind(user.id.0)
    .bind(code_hash)
    .bind(expires_at.millis())
    .bind(i64::from(single_use))
    .bind(created_by)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The user's temporary code, if one is stored (live or not).
pub async fn temporary_code(conn: &mut Conn, user: &User) -> Result<Option<TemporaryCode>> {
    let r = sqlx::query(
        "SELECT code_hash, expires_at, single_use, attempts FROM temporary_codes \
         WHERE user_id = $1",
    )
    .bind(user.id.0)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(temporary_from_row).transpose()
}

fn temporary_from_row(r: &AnyRow) -> Result<TemporaryCode> {
    Ok(TemporaryCode {
        code_hash: r.try_get(0)?,
        expires_at: Timestamp(r.try_get(1)?),
        single_use: r.try_get::<i64, _>(2)? != 0,
        attempts: r.try_get(3)?,
    })
}

/// Reserves one try of the user's temporary code before it is compared
/// (see `throttle`), whatever the state of the credential: `None` when
/// there is no code, it has expired, or its `max_attempts` tries are
/// spent. The code comes back with the reservation, so the comparison is
/// against the code whose try was counted.
pub async fn reserve_temporary_attempt(
    conn: &mut Conn,
    user: &User,
    max_attempts: i64,
    now: Timestamp,
) -> Result<Option<TemporaryCode>> {
    let r = sqlx::query(
        "UPDATE temporary_codes SET attempts = attempts + 1 \
         WHERE user_id = $1 AND expires_at > $2 AND attempts < $3 \
         RETURNING code_hash, expires_at, single_use, attempts",
    )
    .bind(user.id.0)
    .bind(now.millis())
    .bind(max_attempts)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(temporary_from_row).transpose()
}

/// A right temporary code: a single-use one is consumed (`false` if a
/// concurrent request consumed it first, or it was replaced meanwhile);
/// a reusable one gets its try back.
pub async fn temporary_code_used(conn: &mut Conn, user: &User, t: &TemporaryCode) -> Result<bool> {
    let sql = if t.single_use {
        "DELETE FROM temporary_codes WHERE user_id = $1 AND code_hash = $2"
    } else {
        "UPDATE temporary_codes SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
         WHERE user_id = $1 AND code_hash = $2"
    };
    Ok(sqlx::query(sql)
        .bind(user.id.0)
        .bind(&t.code_hash)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

/// Ends the temporary code `code_hash` once its tries are spent; `true` if
/// this call ended it.
pub async fn end_spent_temporary_code(
    conn: &mut Conn,
    user: &User,
    code_hash: &str,
    max_attempts: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "DELETE FROM temporary_codes WHERE user_id = $1 AND code_hash = $2 AND attempts >= $3",
    )
    .bind(user.id.0)
    .bind(code_hash)
    .bind(max_attempts)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Removes the temporary code; `false` if there was none (already used).
pub async fn clear_temporary_code(conn: &mut Conn, user: &User) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM temporary_codes WHERE user_id = $1")
            .bind(user.id.0)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Records a success reported by the vendor's service (remote credentials
/// have no local step or counter); `own_lock` as for [`accept`].
pub async fn record_remote_success(
    conn: &mut Conn,
    id: i64,
    now: Timestamp,
    own_lock: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE credentials SET failures = 0, last_validated_at = $2, \
         locked_until = CASE WHEN $3 = 1 THEN NULL ELSE locked_until END WHERE id = $1",
    )
    .bind(id)
    .bind(now.millis())
    .bind(i64::from(own_lock))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
