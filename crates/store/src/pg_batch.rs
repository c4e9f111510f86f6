//! Code checks on PostgreSQL, batched: the fast path of concurrent
//! validations ([`crate::code_check::check`]) run together, a batch in two
//! statements — one read of every user in it, one update of every right
//! code with its audit entries — instead of two statements each.
//!
//! A statement costs PostgreSQL far more to start, finish and commit
//! (executor set-up, a WAL flush per commit) than to touch one more row,
//! and each statement is a round trip for the process too. A few
//! [`BATCHERS`] take turns, so one batch's commit overlaps the next one's
//! read; a batch takes whatever is waiting (up to [`MAX_BATCH`]) and never
//! waits to fill up, so a lone validation goes at once.
//!
//! The rules are those of the single check: the update repeats every
//! condition (the step or counter still ahead of the last one used, the
//! user active, no lock, temporary code or fraud block), so two checks of
//! one code — in one batch or in two, here or on another instance — accept
//! it once. A check whose read failed, or whose write certainly rolled back
//! (a lock or statement timeout), is answered "not accepted here": the
//! caller takes the full check, which decides it again and says why. A
//! write whose outcome is unknown (the connection broke) is an error: it
//! may have committed, and must not be decided a second time.

use crate::Result;
use crate::code_check::{AUDIT_COLUMNS, Accept, CodeCheckRow, Decide, READ_COLUMNS};
use crate::code_check::{accept_statement, parse, read_joins};
use serde_json::json;
use sqlx::AnyPool;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Batches running at once (each holds one pooled connection while it runs).
pub const BATCHERS: usize = 4;
/// The most checks in one batch.
pub const MAX_BATCH: usize = 128;

/// One validation's fast path, waiting for a batch.
struct Check {
    username: String,
    key: String,
    decide: Decide,
    answer: oneshot::Sender<Answer>,
}

/// A check's answer: accepted or not, or a statement that may have
/// committed without our hearing so.
type Answer = std::result::Result<bool, String>;

/// The queue of checks and the tasks that run them. The tasks end when the
/// last [`PgBatcher`] (every clone of the store) is gone.
#[derive(Debug, Clone)]
pub struct PgBatcher {
    queue: mpsc::Sender<Check>,
}

impl PgBatcher {
    /// Starts the batchers on `pool` (on the current Tokio runtime).
    pub fn start(pool: AnyPool) -> Self {
        let (queue, rx) = mpsc::channel::<Check>(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..BATCHERS {
            tokio::spawn(run(pool.clone(), rx.clone()));
        }
        Self { queue }
    }

    /// Queues a check; `true` once its code is committed as used, `false`
    /// if it was not accepted here (left to the full check); an error when
    /// the write's outcome is unknown (it may have committed: the full
    /// check would then count the accepted code as a replay).
    pub async fn check(&self, username: &str, key: &str, decide: Decide) -> Result<bool> {
        let (answer, rx) = oneshot::channel();
        let check = Check {
            username: username.to_owned(),
            key: key.to_owned(),
            decide,
            answer,
        };
        if self.queue.send(check).await.is_err() {
            return Ok(false);
        }
        match rx.await {
            Ok(answer) => answer.map_err(crate::StoreError::Unknown),
            Err(_) => Ok(false),
        }
    }
}

async fn run(pool: AnyPool, rx: Arc<Mutex<mpsc::Receiver<Check>>>) {
    loop {
        let mut batch = Vec::new();
        {
            // One batcher gathers at a time; the others are running theirs.
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(c) => batch.push(c),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
        }
        let n = batch.len();
        let answers = match run_batch(&pool, batch).await {
            Ok(answers) => answers,
            Err((e, answers)) => {
                tracing::warn!(error = %e, checks = n, "a batch of code checks failed");
                answers
            }
        };
        for (answer, accepted) in answers {
            let _ = answer.send(accepted);
        }
    }
}

type Answers = Vec<(oneshot::Sender<Answer>, Answer)>;

/// The batch's read: each `(i, username, key)` of the JSON parameter with
/// its user's row (no row for an unknown user).
static BATCH_READ_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT q.i, {} FROM json_to_recordset($1::json) \
           AS q(i bigint, username text, key text) \
         JOIN users u ON u.username = q.username {}",
        *READ_COLUMNS,
        read_joins("q.key")
    )
});

/// The batch's write: every accepted code's update, under the single
/// check's conditions, and for each update that took its audit entry; the
/// answer is the `i` of each accepted check. Two checks of one credential
/// in one batch update it once (PostgreSQL updates a row once per
/// statement), and only the one that did is returned. The credentials are
/// locked first, in id order, skipping any that another transaction holds:
/// a batch never waits on (or deadlocks with) another batch or a slow
/// transaction, and the checks it skipped take the full check, which waits
/// its turn.
static BATCH_ACCEPT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH q AS (SELECT * FROM json_to_recordset($1::json) AS x(i bigint, cred bigint, \
           uid bigint, step bigint, next bigint, drift bigint, now bigint, maxf bigint, \
           at bigint, actor_id bigint, actor text, account_id bigint, action text, \
           target text, client_addr text, outcome text, detail text)), \
         locked AS (SELECT c.id FROM credentials c WHERE c.id IN (SELECT cred FROM q) \
           ORDER BY c.id FOR UPDATE SKIP LOCKED), \
         accepted AS ({} RETURNING q.*), \
         audited AS (INSERT INTO audit_log ({AUDIT_COLUMNS}) \
           SELECT at, actor_id, actor, account_id, action, target, client_addr, outcome, \
             detail FROM accepted ORDER BY i) \
         SELECT i FROM accepted",
        accept_statement(
            "FROM q",
            "AND id IN (SELECT id FROM locked)",
            [
                "q.step", "q.next", "q.drift", "q.now", "q.cred", "q.uid", "q.maxf"
            ]
        )
    )
});

/// Runs one batch; the answers to send, also when a statement failed
/// (then with `false` for every check not yet decided).
async fn run_batch(
    pool: &AnyPool,
    batch: Vec<Check>,
) -> std::result::Result<Answers, (crate::StoreError, Answers)> {
    let reads: Vec<_> = batch
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"i": i, "username": c.username, "key": c.key}))
        .collect();
    let mut answers: Answers = Vec::with_capacity(batch.len());
    let rows = match read_rows(pool, &serde_json::Value::Array(reads).to_string()).await {
        Ok(rows) => rows,
        Err(e) => {
            // Nothing was written: each takes the full check.
            return Err((
                e,
                batch.into_iter().map(|c| (c.answer, Ok(false))).collect(),
            ));
        }
    };
    // Decide each check on its row; the right codes go to the write.
    let mut accepts = Vec::new();
    let mut waiting = HashMap::new();
    for (i, check) in batch.into_iter().enumerate() {
        let decision = rows.get(&i).and_then(|row| {
            let decide = check.decide;
            // A panicking decision is a bug in that check, not the batch's.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(row)))
                .ok()
                .flatten()
        });
        match decision {
            Some(a) => {
                accepts.push(accept_json(i, &a));
                waiting.insert(i, check.answer);
            }
            None => answers.push((check.answer, Ok(false))),
        }
    }
    if accepts.is_empty() {
        return Ok(answers);
    }
    let accepted = sqlx::query(sqlx::AssertSqlSafe(BATCH_ACCEPT_SQL.as_str()))
        .bind(serde_json::Value::Array(accepts).to_string())
        .fetch_all(pool)
        .await
        .map_err(crate::StoreError::from)
        .and_then(|rows| {
            rows.iter()
                .map(|r| Ok(r.try_get::<i64, _>(0)? as usize))
                .collect::<Result<std::collections::HashSet<usize>>>()
        });
    match accepted {
        Ok(accepted) => {
            answers.extend(
                waiting
                    .into_iter()
                    .map(|(i, a)| (a, Ok(accepted.contains(&i)))),
            );
            Ok(answers)
        }
        Err(e) => {
            // Rolled back for certain (a deadlock, a serialization failure,
            // a lock or statement timeout): the full check decides. Anything
            // else may have committed: an error, never a second decision.
            let rolled_back = matches!(&e, crate::StoreError::Db(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("40P01" | "40001" | "55P03" | "57014")));
            let answer: Answer = if rolled_back {
                Ok(false)
            } else {
                Err(e.to_string())
            };
            answers.extend(waiting.into_values().map(|a| (a, answer.clone())));
            Err((e, answers))
        }
    }
}

/// Every check's row, by its index in the batch.
async fn read_rows(pool: &AnyPool, reads: &str) -> Result<HashMap<usize, CodeCheckRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(BATCH_READ_SQL.as_str()))
        .bind(reads)
        .fetch_all(pool)
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let i = r.try_get::<i64, _>(0)? as usize;
        out.insert(i, parse(r, 1)?);
    }
    Ok(out)
}

fn accept_json(i: usize, a: &Accept) -> serde_json::Value {
    let r = &a.audit;
    json!({
        "i": i,
        "cred": a.credential,
        "uid": a.user.0,
        "step": a.step_or_counter,
        "next": a.next_counter,
        "drift": a.drift,
        "now": a.now.millis(),
        "maxf": a.max_failures,
        "at": r.at.millis(),
        "actor_id": r.actor_id,
        "actor": r.actor,
        "account_id": r.account_id,
        "action": r.action,
        "target": r.target,
        "client_addr": r.client_addr,
        "outcome": r.outcome,
        "detail": r.detail,
    })
}
