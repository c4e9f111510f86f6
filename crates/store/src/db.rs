use crate::{Result, migrate};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A connection borrowed from a pool or a transaction.
pub type Conn = AnyConnection;
/// A write transaction; commit it or it rolls back when dropped.
///
/// On SQLite it also holds the process's write turn (see [`Store::begin`]).
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How soon a commit is on disk (SQLite; PostgreSQL keeps its own
/// `synchronous_commit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = NORMAL` in WAL mode: a process crash loses nothing;
    /// a power loss or OS crash may lose the last commits before the next
    /// checkpoint (never corrupts).
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is synced to disk before it
    /// returns.
    Full,
}

impl Durability {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Durability::Normal),
            "full" => Some(Durability::Full),
            _ => None,
        }
    }
}

/// A pooled connection idle this long is pinged before it is handed out.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// The largest the SQLite write-ahead log is left at after a checkpoint
/// (`journal_size_limit`), and the size beyond which the checkpointer
/// truncates it at once.
pub const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// What a checkpoint did (SQLite's `wal_checkpoint` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// A reader or writer kept it from finishing (it will be tried again).
    pub busy: bool,
    /// Frames in the log, and frames copied into the database.
    pub log_frames: i64,
    pub checkpointed_frames: i64,
}

/// The database, shared by all requests.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process queue here,
    /// in order, instead of in SQLite's busy handler, which sleeps and
    /// retries (long tail latencies under load). Other processes (the CLI)
    /// still meet the busy timeout.
    write_turn: Arc<tokio::sync::Mutex<()>>,
    /// The SQLite database file (for the size of its `-wal`).
    sqlite_file: Option<std::path::PathBuf>,
    /// SQLite's group-commit writer (file databases only).
    writer: Option<crate::group::GroupWriter>,
    /// PostgreSQL's batched code checks.
    batcher: Option<crate::pg_batch::PgBatcher>,
}

impl Store {
    /// Opens `url` (`sqlite://PATH` or `postgres://…`) and applies pending
    /// migrations, with the default durability.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        Self::open_with(url, max_connections, Durability::default()).await
    }

    /// [`Store::open`] with an explicit [`Durability`].
    pub async fn open_with(
        url: &str,
        max_connections: u32,
        durability: Durability,
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(crate::StoreError::Corrupt(format!(
                "unsupported database URL (use sqlite://PATH or postgres://…): {}",
                url.split('@').next_back().unwrap_or("")
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            // A ping before every acquire is one more round trip (on SQLite
            // one more hand-off to the connection's thread) per statement;
            // a connection that sat idle is checked, a busy one has just
            // shown it works (a broken one fails its statement and is
            // closed by the pool).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Per-connection settings; WAL is set once below and
                        // persists in the file.
                        // `journal_size_limit`: a log that grew under a
                        // burst is cut back to this size after a checkpoint
                        // rather than kept at its largest.
                        let sync = match durability {
                            Durability::Normal => "NORMAL",
                            Durability::Full => "FULL",
                        };
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA synchronous = {sync}; \
                             PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let mut sqlite_file = None;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL;").await?;
            let file: String = sqlx::Row::try_get(
                &sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(&pool)
                    .await?,
                0,
            )?;
            sqlite_file = Some(file).filter(|f| !f.is_empty()).map(Into::into);
        }
        let mut store = Self {
            pool,
            backend,
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
            sqlite_file,
            writer: None,
            batcher: None,
        };
        migrate::run(&store).await?;
        if let Some(file) = &store.sqlite_file {
            store.writer = Some(
                crate::group::GroupWriter::start(file, durability, store.write_turn.clone())
                    .map_err(|e| crate::StoreError::Corrupt(format!("opening the writer: {e}")))?,
            );
        }
        if backend == Backend::Postgres {
            store.batcher = Some(crate::pg_batch::PgBatcher::start(store.pool.clone()));
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pg_batcher(&self) -> Option<&crate::pg_batch::PgBatcher> {
        self.batcher.as_ref()
    }

    pub(crate) fn group_writer(&self) -> Option<&crate::group::GroupWriter> {
        self.writer.as_ref()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    /// writes fails with `SQLITE_BUSY` instead of waiting when another
    /// writer got in between.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                Tx {
                    inner: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                }
            }
            Backend::Postgres => Tx {
                inner: self.pool.begin().await?,
                _turn: None,
            },
        })
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// The size of SQLite's write-ahead log in bytes (0 when there is none,
    /// or on PostgreSQL).
    pub fn wal_bytes(&self) -> u64 {
        let Some(file) = &self.sqlite_file else {
            return 0;
        };
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Copies the write-ahead log into the database and truncates it
    /// (`wal_checkpoint(TRUNCATE)`), holding this process's write turn so
    /// that its writers queue in order rather than in SQLite's busy
    /// handler; readers on an older snapshot are waited for (busy
    /// timeout), then the log starts again from nothing. SQLite's own
    /// automatic checkpoints cannot restart the log while readers keep
    /// arriving, so under steady load it would otherwise only grow.
    /// `None` on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let _turn = self.write_turn.clone().lock_owned().await;
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        use sqlx::Row;
        Ok(Some(Checkpoint {
            busy: row.try_get::<i64, _>(0)? != 0,
            log_frames: row.try_get(1)?,
            checkpointed_frames: row.try_get(2)?,
        }))
    }

    /// `SELECT 1`, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A nested transaction (a SAVEPOINT on both backends) inside `tx`: roll it
/// back to undo a failed statement without losing the outer transaction.
pub async fn savepoint(tx: &mut Tx) -> Result<sqlx::Transaction<'_, sqlx::Any>> {
    Ok(sqlx::Connection::begin(&mut **tx).await?)
}
