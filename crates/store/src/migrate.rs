//! Schema migrations, embedded in the binary, one list per backend.
//!
//! Hand-written rather than `sqlx::migrate!`: that macro needs sqlx's
//! compile-time macro stack, and the runtime `Migrator` reads files from
//! disk, while a self-contained binary must carry its schema. The
//! bookkeeping is a table of applied versions; each migration runs in its
//! own transaction, and on PostgreSQL an advisory lock keeps two instances
//! that start together from migrating at once.
//!
//! Versions are applied in ascending order and each one only if it is not
//! recorded yet, so numbering may have gaps and a version filled in later
//! (developed alongside a higher one) is still applied to a database that
//! already has the higher one. Independent migrations only may be numbered
//! that way.

use crate::{Backend, Result, Store, StoreError};
use sqlx::{Executor, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "symantec",
        sqlite: include_str!("../migrations/sqlite/0002_symantec.sql"),
        postgres: include_str!("../migrations/postgres/0002_symantec.sql"),
    },
    Migration {
        version: 3,
        name: "phonefactor",
        sqlite: include_str!("../migrations/sqlite/0003_phonefactor.sql"),
        postgres: include_str!("../migrations/postgres/0003_phonefactor.sql"),
    },
    Migration {
        version: 4,
        name: "billing",
        sqlite: include_str!("../migrations/sqlite/0004_billing.sql"),
        postgres: include_str!("../migrations/postgres/0004_billing.sql"),
    },
    Migration {
        version: 5,
        name: "limits",
        sqlite: include_str!("../migrations/sqlite/0005_limits.sql"),
        postgres: include_str!("../migrations/postgres/0005_limits.sql"),
    },
    Migration {
        version: 6,
        name: "api_tokens",
        sqlite: include_str!("../migrations/sqlite/0006_api_tokens.sql"),
        postgres: include_str!("../migrations/postgres/0006_api_tokens.sql"),
    },
    Migration {
        version: 7,
        name: "delivery_mode",
        sqlite: include_str!("../migrations/sqlite/0007_delivery_mode.sql"),
        postgres: include_str!("../migrations/postgres/0007_delivery_mode.sql"),
    },
    Migration {
        version: 8,
        name: "outbox_outcomes",
        sqlite: include_str!("../migrations/sqlite/0008_outbox_outcomes.sql"),
        postgres: include_str!("../migrations/postgres/0008_outbox_outcomes.sql"),
    },
    Migration {
        version: 9,
        name: "housekeeping",
        sqlite: include_str!("../migrations/sqlite/0009_housekeeping.sql"),
        postgres: include_str!("../migrations/postgres/0009_housekeeping.sql"),
    },
    Migration {
        version: 10,
        name: "radius",
        sqlite: include_str!("../migrations/sqlite/0010_radius.sql"),
        postgres: include_str!("../migrations/postgres/0010_radius.sql"),
    },
    Migration {
        version: 11,
        name: "number_in_push",
        sqlite: include_str!("../migrations/sqlite/0011_number_in_push.sql"),
        postgres: include_str!("../migrations/postgres/0011_number_in_push.sql"),
    },
];

/// Advisory lock key for migrations ("GATEHOUS" in ASCII).
const PG_LOCK: i64 = 0x4741_5445_484f_5553;

pub(crate) async fn run(store: &Store) -> Result<()> {
    let mut conn = store.pool().acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(store, &mut conn).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(store: &Store, conn: &mut sqlx::AnyConnection) -> Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    if let Some(newest) = applied.last()
        && *newest > MIGRATIONS.last().map_or(0, |m| m.version)
    {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {newest}, newer than this program knows; \
             upgrade Gatehouse"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match store.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_ascend_and_are_unique() {
        let v: Vec<i64> = super::MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
    }
}
