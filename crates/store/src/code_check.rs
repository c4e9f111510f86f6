//! The fast path of a Security Code check (the validation API's common
//! case): everything it needs read in one query, and a right code accepted
//! in one write — on SQLite through group commit, on PostgreSQL in one
//! statement. Anything unusual (no credential, a lock, a temporary code,
//! a fraud block, a wrong or replayed code) is left to the full check,
//! which counts and audits failures.

use crate::credentials::{self, Credential};
use crate::group::Job;
use crate::users;
use crate::{Backend, Result, Store, StoreError, User};
use gatehouse_domain::audit::AuditRecord;
use gatehouse_domain::{Timestamp, UserId};
use sqlx::Row;
use std::sync::LazyLock;

/// What a code check reads about a user, in one query.
#[derive(Debug, Clone)]
pub struct CodeCheckRow {
    pub user: User,
    pub credential: Option<Credential>,
    pub fraud_blocked_until: Option<Timestamp>,
    /// A temporary security code is stored (live or not).
    pub has_temporary_code: bool,
    /// The throttle counter named in the query: slots taken and when its
    /// window started.
    pub throttle: Option<(i64, Timestamp)>,
}

/// The read's columns, built once: the user's and the credential's (the
/// latter prefixed for the join), then the fraud block, whether a temporary
/// code exists, and the throttle counter. Tables: `u` users, `a` accounts,
/// `c` credentials, `pf` phonefactor, `th` throttles.
pub(crate) static READ_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let credential_columns = credentials::COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}, {credential_columns}, pf.fraud_blocked_until, \
           (SELECT COUNT(*) FROM temporary_codes t WHERE t.user_id = u.id), \
           th.count, th.window_start",
        users::COLUMNS
    )
});

/// The joins behind [`READ_COLUMNS`], after `users u`; the throttle's key
/// is `{key}`.
pub(crate) fn read_joins(key: &str) -> String {
    format!(
        "JOIN accounts a ON a.id = u.account_id \
         LEFT JOIN credentials c ON c.user_id = u.id \
         LEFT JOIN phonefactor pf ON pf.user_id = u.id \
         LEFT JOIN throttles th ON th.key = {key}"
    )
}

/// The read of one user (`$1`) and throttle counter (`$2`).
static READ_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM users u {} WHERE u.username = $1",
        *READ_COLUMNS,
        read_joins("$2")
    )
});

/// Where the credential's columns start in [`READ_SQL`], and where the
/// columns after them start.
static OFFSETS: LazyLock<(usize, usize)> = LazyLock::new(|| {
    let uc = users::COLUMNS.split(',').count();
    (uc, uc + credentials::COLUMNS.split(',').count())
});

/// The user named `username` (any account: the application's own lookup)
/// with their credential, fraud block, whether a temporary code exists and
/// the throttle counter `throttle_key`. `None` if there is no such user.
pub async fn read(
    store: &Store,
    username: &str,
    throttle_key: &str,
) -> Result<Option<CodeCheckRow>> {
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(READ_SQL.as_str()))
        .bind(username)
        .bind(throttle_key)
        .fetch_optional(store.pool())
        .await?
    else {
        return Ok(None);
    };
    parse(&r, 0).map(Some)
}

/// A row of [`READ_SQL`]'s columns, starting at column `base`.
pub(crate) fn parse(r: &sqlx::any::AnyRow, base: usize) -> Result<CodeCheckRow> {
    let (uc, at) = *OFFSETS;
    let (uc, at) = (base + uc, base + at);
    let user = users::from_row_at(r, base)?;
    let credential = match r.try_get::<Option<i64>, _>(uc)? {
        Some(_) => Some(credentials::from_row_at(r, uc)?),
        None => None,
    };
    let throttle = match (
        r.try_get::<Option<i64>, _>(at + 2)?,
        r.try_get::<Option<i64>, _>(at + 3)?,
    ) {
        (Some(count), Some(start)) => Some((count, Timestamp(start))),
        _ => None,
    };
    Ok(CodeCheckRow {
        user,
        credential,
        fraud_blocked_until: r.try_get::<Option<i64>, _>(at)?.map(Timestamp),
        has_temporary_code: r.try_get::<i64, _>(at + 1)? > 0,
        throttle,
    })
}

/// [`read`] on the writer's connection (SQLite). The columns are those of
/// [`READ_SQL`]; the records are parsed as the pooled reads parse them.
fn read_on(
    conn: &rusqlite::Connection,
    username: &str,
    key: &str,
) -> rusqlite::Result<Option<CodeCheckRow>> {
    use rusqlite::OptionalExtension;
    let mut stmt = conn.prepare_cached(&READ_SQL)?;
    // By name: `$2` comes before `$1` in the text, and SQLite numbers
    // parameters in order of appearance.
    stmt.query_row(rusqlite::named_params! {"$1": username, "$2": key}, |r| {
        let (uc, at) = *OFFSETS;
        let corrupt = |what: String| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into())
        };
        let role: String = r.get(7)?;
        let status: String = r.get(8)?;
        let user = crate::users::assemble(crate::users::Parts {
            id: r.get(0)?,
            account_id: r.get(1)?,
            account_number: r.get(2)?,
            account_name: r.get(3)?,
            username: r.get(4)?,
            email: r.get(5)?,
            name: r.get(6)?,
            role: &role,
            status: &status,
            must_change_password: r.get::<_, i64>(9)? != 0,
            failures: r.get(10)?,
            lockouts: r.get(11)?,
            locked_until: r.get(12)?,
            last_login_at: r.get(13)?,
            created_at: r.get(14)?,
        })
        .map_err(|e| corrupt(e.to_string()))?;
        let credential = match r.get::<_, Option<i64>>(uc)? {
            None => None,
            Some(_) => {
                let c = uc;
                let kind: String = r.get(c + 2)?;
                let algorithm: String = r.get(c + 3)?;
                let validation: String = r.get(c + 7)?;
                Some(
                    crate::credentials::assemble(crate::credentials::Parts {
                        id: r.get(c)?,
                        credential_id: r.get(c + 1)?,
                        kind: &kind,
                        algorithm: &algorithm,
                        digits: r.get(c + 4)?,
                        period: r.get(c + 5)?,
                        sealed_secret: r.get(c + 6)?,
                        validation: &validation,
                        source: r.get(c + 8)?,
                        last_used: r.get(c + 9)?,
                        next_counter: r.get(c + 10)?,
                        drift: r.get(c + 11)?,
                        failures: r.get(c + 12)?,
                        locked_until: r.get(c + 13)?,
                        enabled: r.get::<_, i64>(c + 14)? != 0,
                        user_id: r.get(c + 15)?,
                        last_validated_at: r.get(c + 16)?,
                        created_at: r.get(c + 17)?,
                    })
                    .map_err(|e| corrupt(e.to_string()))?,
                )
            }
        };
        let throttle = match (
            r.get::<_, Option<i64>>(at + 2)?,
            r.get::<_, Option<i64>>(at + 3)?,
        ) {
            (Some(count), Some(start)) => Some((count, Timestamp(start))),
            _ => None,
        };
        Ok(CodeCheckRow {
            user,
            credential,
            fraud_blocked_until: r.get::<_, Option<i64>>(at)?.map(Timestamp),
            has_temporary_code: r.get::<_, i64>(at + 1)? > 0,
            throttle,
        })
    })
    .optional()
}

/// Decides on a read row: the code to record, or `None` to leave it to
/// the full check.
pub type Decide = Box<dyn FnOnce(&CodeCheckRow) -> Option<Accept> + Send>;

/// Reads the row for `username` and the counter `throttle_key`, lets
/// `decide` check the code, and records what it accepts ([`accept`]'s
/// conditions), all in one trip: on SQLite one job of the group-commit
/// writer (read, decision and write under one write lock, so nothing can
/// change in between); elsewhere one read and one statement. `true` only
/// once the acceptance is committed.
pub async fn check(
    store: &Store,
    username: &str,
    throttle_key: &str,
    decide: Decide,
) -> Result<bool> {
    if let Some(writer) = store.group_writer() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(CheckJob {
            username: username.to_owned(),
            key: throttle_key.to_owned(),
            decide: Some(decide),
            accepted: false,
            answer: Some(tx),
        });
        if writer.submit(job).await.is_err() {
            return Err(StoreError::Corrupt("the SQLite writer has stopped".into()));
        }
        return rx
            .await
            .map_err(|_| StoreError::Corrupt("the SQLite writer has stopped".into()))?
            .map_err(StoreError::Corrupt);
    }
    if let Some(batcher) = store.pg_batcher() {
        return batcher.check(username, throttle_key, decide).await;
    }
    let Some(row) = read(store, username, throttle_key).await? else {
        return Ok(false);
    };
    match decide(&row) {
        Some(a) => accept(store, a).await,
        None => Ok(false),
    }
}

struct CheckJob {
    username: String,
    key: String,
    decide: Option<Decide>,
    accepted: bool,
    answer: Option<tokio::sync::oneshot::Sender<std::result::Result<bool, String>>>,
}

impl Job for CheckJob {
    fn run(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        let Some(row) = read_on(conn, &self.username, &self.key)? else {
            return Ok(());
        };
        let Some(decide) = self.decide.take() else {
            return Ok(());
        };
        if let Some(a) = decide(&row) {
            self.accepted = accept_on(conn, &a)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: std::result::Result<(), String>) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(outcome.map(|()| self.accepted));
        }
    }
}

/// A right code to record: the credential's new counters, under the
/// conditions the full check would have required, with its audit entry.
#[derive(Debug, Clone)]
pub struct Accept {
    pub credential: i64,
    pub user: UserId,
    pub step_or_counter: i64,
    pub next_counter: i64,
    pub drift: i64,
    pub now: Timestamp,
    /// Consecutive wrong codes that lock the credential: the code is
    /// accepted only while fewer have been made.
    pub max_failures: i64,
    pub audit: AuditRecord,
}

/// The conditional update of [`accept`], with its values named: `from`
/// is an optional `FROM` clause, `also` further conditions (`AND …`), `v`
/// the step or counter, next counter,
/// drift, now, credential, user and failure limit.
pub(crate) fn accept_statement(from: &str, also: &str, v: [&str; 7]) -> String {
    let [step, next, drift, now, cred, user, max] = v;
    format!(
        "UPDATE credentials SET last_used = {step}, next_counter = {next}, drift = {drift}, \
         failures = 0, last_validated_at = {now} {from} \
         WHERE id = {cred} {also} AND user_id = {user} AND (last_used IS NULL OR last_used < {step}) \
         AND enabled = 1 AND (locked_until IS NULL OR locked_until <= {now}) AND failures < {max} \
         AND NOT EXISTS (SELECT 1 FROM temporary_codes t WHERE t.user_id = {user}) \
         AND EXISTS (SELECT 1 FROM users u WHERE u.id = {user} AND u.status = 'active') \
         AND NOT EXISTS (SELECT 1 FROM phonefactor p WHERE p.user_id = {user} \
           AND p.fraud_blocked_until > {now})"
    )
}

static ACCEPT_SQL: LazyLock<String> =
    LazyLock::new(|| accept_statement("", "", ["$1", "$2", "$3", "$4", "$5", "$6", "$7"]));

pub(crate) const AUDIT_COLUMNS: &str =
    "at, actor_id, actor, account_id, action, target, client_addr, outcome, detail";

/// The audit entry's insert on the writer's connection (the pooled path
/// uses `audit::append`).
const AUDIT_INSERT: &str = "INSERT INTO audit_log (at, actor_id, actor, account_id, action, target, \
     client_addr, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Records the code if the credential is still as the check saw it: still
/// the user's, enabled, not locked, below the failure limit, no temporary
/// code, the user active and not blocked after a fraud report, and the
/// step or counter still ahead of the last one used — so a code is
/// accepted once, and never for a user disabled or blocked meanwhile,
/// whatever runs concurrently. `false` when any of
/// that changed (the caller falls back to the full check). `true` only
/// after the commit.
pub async fn accept(store: &Store, a: Accept) -> Result<bool> {
    if let Some(writer) = store.group_writer() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Box::new(AcceptJob {
            accept: a,
            accepted: false,
            answer: Some(tx),
        });
        if writer.submit(job).await.is_err() {
            return Err(StoreError::Corrupt("the SQLite writer has stopped".into()));
        }
        return rx
            .await
            .map_err(|_| StoreError::Corrupt("the SQLite writer has stopped".into()))?
            .map_err(StoreError::Corrupt);
    }
    match store.backend() {
        // One statement: the update and, only if it happened, the audit
        // entry — one round trip, atomic without a transaction.
        Backend::Postgres => {
            let sql = format!(
                "WITH accepted AS ({} RETURNING id) \
                 INSERT INTO audit_log ({AUDIT_COLUMNS}) \
                 SELECT $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM accepted RETURNING id",
                *ACCEPT_SQL
            );
            let r = bind_accept(sqlx::query(sqlx::AssertSqlSafe(sql)), &a)
                .bind(a.audit.at.millis())
                .bind(a.audit.actor_id)
                .bind(&a.audit.actor)
                .bind(a.audit.account_id)
                .bind(&a.audit.action)
                .bind(&a.audit.target)
                .bind(&a.audit.client_addr)
                .bind(&a.audit.outcome)
                .bind(&a.audit.detail)
                .fetch_optional(store.pool())
                .await?;
            Ok(r.is_some())
        }
        // SQLite without a writer thread (an in-memory database).
        Backend::Sqlite => {
            let mut tx = store.begin().await?;
            let n = bind_accept(sqlx::query(sqlx::AssertSqlSafe(ACCEPT_SQL.as_str())), &a)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            crate::audit::append(&mut tx, &a.audit).await?;
            tx.commit().await?;
            Ok(true)
        }
    }
}

fn bind_accept<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &Accept,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(a.step_or_counter)
        .bind(a.next_counter)
        .bind(a.drift)
        .bind(a.now.millis())
        .bind(a.credential)
        .bind(a.user.0)
        .bind(a.max_failures)
}

struct AcceptJob {
    accept: Accept,
    accepted: bool,
    answer: Option<tokio::sync::oneshot::Sender<std::result::Result<bool, String>>>,
}

/// [`ACCEPT_SQL`] and, if it took, the audit entry, on the writer's
/// connection.
fn accept_on(conn: &rusqlite::Connection, a: &Accept) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(&ACCEPT_SQL)?
        .execute(rusqlite::named_params! {
            "$1": a.step_or_counter,
            "$2": a.next_counter,
            "$3": a.drift,
            "$4": a.now.millis(),
            "$5": a.credential,
            "$6": a.user.0,
            "$7": a.max_failures,
        })?;
    if n != 1 {
        return Ok(false);
    }
    let r = &a.audit;
    conn.prepare_cached(AUDIT_INSERT)?
        .execute(rusqlite::params![
            r.at.millis(),
            r.actor_id,
            r.actor,
            r.account_id,
            r.action,
            r.target,
            r.client_addr,
            r.outcome,
            r.detail,
        ])?;
    Ok(true)
}

impl Job for AcceptJob {
    fn run(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        self.accepted = accept_on(conn, &self.accept)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: std::result::Result<(), String>) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(outcome.map(|()| self.accepted));
        }
    }
}
