//! Test support: a fresh, empty, migrated database for each test.
//!
//! SQLite in a new temporary directory by default; PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set, each test in a schema of its own
//! (so tests run in parallel against one server). The same suites run on
//! both backends.

use crate::Store;
use std::path::PathBuf;

/// A database for one test; the SQLite directory is removed on drop.
pub struct TestDb {
    pub store: Store,
    dir: Option<PathBuf>,
    /// The URL the store was opened with (for a second instance).
    pub url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
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
                url,
            }
        }
    }
}
