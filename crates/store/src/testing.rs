//! Test support: a fresh, empty, migrated database for each test.
//!
//! SQLite in a new temporary directory by default; PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set, each test in a schema of its own
//! (so tests run in parallel against one server). The same suites run on
//! both backends.
//!
//! Built only with the `testing` feature (test suites turn it on through
//! their dev-dependencies), so it never ships in the server.

use crate::Store;
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
                    // The test's own connections may still hold locks in the
                    // schema: a transaction dropped without a commit only
                    // queues its ROLLBACK, sent when the connection is next
                    // used, and the runtime that would use it is the one
                    // waiting for this thread. End them, then drop; a lock
                    // timeout catches one that took a lock meanwhile.
                    for _ in 0..5 {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                             JOIN pg_class c ON c.oid = l.relation \
                             JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE n.nspname = '{schema}' AND l.pid <> pg_backend_pid()"
                        )))
                        .execute(&admin)
                        .await;
                        let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                        )))
                        .execute(&admin)
                        .await;
                        if dropped.is_ok() {
                            break;
                        }
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
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
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
