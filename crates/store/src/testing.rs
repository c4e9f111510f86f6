//! Test support: a fresh, empty, migrated database for each test.
//!
//! SQLite in a new temporary directory by default; PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set, each test in a schema of its own
//! (so tests run in parallel against one server). The same suites run on
//! both backends.
//!
//! Built only with the `testing` feature (test suites turn it on through
//! their dev-dependencies), so it never ships in the server.

use crate::{Backend, Store};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A database for one test; on drop the SQLite directory is removed, or
/// the PostgreSQL schema dropped.
pub struct TestDb {
    pub store: Store,
    dir: Option<PathBuf>,
    /// PostgreSQL: (server URL, schema).
    schema: Option<(String, String)>,
    /// The URL the store was opened with (for a second instance).
    pub url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some((base, schema)) = self.schema.take() {
            // Drop runs outside async code (and possibly outside any
            // runtime), so the schema is dropped from a thread of its own.
            // Connections of the test may still be open, some inside a
            // transaction (a task the test left running): they are ended
            // first (they carry the schema's name as `application_name`),
            // and the DROP gives up after a few seconds rather than wait.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    let Ok(admin) = sqlx::AnyPool::connect(&base).await else {
                        return;
                    };
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&admin)
                    .await;
                    if let Ok(mut conn) = admin.acquire().await {
                        let _ = sqlx::query("SET lock_timeout = '5s'")
                            .execute(&mut *conn)
                            .await;
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS {schema} CASCADE"
                        )))
                        .execute(&mut *conn)
                        .await;
                    }
                    admin.close().await;
                });
            })
            .join();
        }
    }
}

fn unique_name() -> String {
    format!("gh_test_{}", hex::encode(crate::random_bytes::<8>()))
}

/// Opens a fresh database on the backend the environment selects.
pub async fn fresh() -> TestDb {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            sqlx::any::install_default_drivers();
            let schema = unique_name();
            let admin = sqlx::AnyPool::connect(&base)
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("create test schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            let url =
                format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
            let store = Store::open(&url, 8)
                .await
                .expect("open PostgreSQL test store");
            TestDb {
                store,
                dir: None,
                schema: Some((base, schema)),
                url,
            }
        }
        _ => {
            let dir = std::env::temp_dir().join(unique_name());
            std::fs::create_dir_all(&dir).expect("create temp dir");
            let url = format!("sqlite://{}", dir.join("test.db").display());
            let store = Store::open(&url, 8).await.expect("open SQLite test store");
            TestDb {
                store,
                dir: Some(dir),
                schema: None,
                url,
            }
        }
    }
}

/// Every row of every table (migrations' bookkeeping aside), each as one
/// line of text, by table: what a test compares before and after a request
/// to see that nothing was stored or changed.
pub async fn snapshot(store: &Store) -> crate::Result<BTreeMap<String, Vec<String>>> {
    let query = snapshot_query(store).await?;
    snapshot_with(store, &query).await
}

/// The one query that [`snapshot_with`] runs: made once per database, so
/// that a snapshot after every request of a long sweep stays cheap.
pub async fn snapshot_query(store: &Store) -> crate::Result<String> {
    let mut conn = store.conn().await?;
    let backend = store.backend();
    let tables: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
             ORDER BY name",
        ),
        Backend::Postgres => sqlx::query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name",
        ),
    }
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>(0))
    .collect::<Result<_, _>>()?;
    let mut selects = Vec::new();
    for table in &tables {
        // Table and column names come from the catalogue, not from input.
        let row_text = match backend {
            Backend::Sqlite => {
                let columns: Vec<String> =
                    sqlx::query("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(table)
                        .fetch_all(&mut *conn)
                        .await?
                        .iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<_, _>>()?;
                columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ")
            }
            Backend::Postgres => "t::text".to_owned(),
        };
        selects.push(format!(
            "SELECT '{table}' AS tbl, {row_text} AS row_text FROM {table} t"
        ));
    }
    Ok(format!("{} ORDER BY 1, 2", selects.join(" UNION ALL ")))
}

/// Runs a [`snapshot_query`]: rows as text, by table (tables without rows
/// are absent).
pub async fn snapshot_with(
    store: &Store,
    query: &str,
) -> crate::Result<BTreeMap<String, Vec<String>>> {
    let mut conn = store.conn().await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_all(&mut *conn)
        .await?
    {
        let table: String = r.try_get(0)?;
        let row: Option<String> = r.try_get(1)?;
        out.entry(table).or_default().push(row.unwrap_or_default());
    }
    Ok(out)
}
