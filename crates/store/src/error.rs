/// What can go wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or is outside the caller's scope (the two
    /// are deliberately indistinguishable).
    #[error("not found")]
    NotFound,
    /// A unique value is already taken; `field` names it (`username`, …).
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The stored data is not what the schema promises.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A statement's outcome is unknown (e.g. the connection broke while
    /// it ran), reported from a task that ran it on the caller's behalf.
    #[error("database: {0}")]
    Unknown(String),
    #[error(transparent)]
    Db(sqlx::Error),
}

/// The unique constraints whose violation is reported by field: each by
/// its columns as SQLite names them ("UNIQUE constraint failed:
/// users.username") and by its name as PostgreSQL reports it
/// ("users_username_key"); both come from the migrations. A violation of
/// any other constraint stays a database error.
const UNIQUE: &[(&str, &str, &str)] = &[
    ("accounts.number", "accounts_number_key", "number"),
    ("users.username", "users_username_key", "username"),
    (
        "api_tokens.token_hash",
        "api_tokens_token_hash_key",
        "token_hash",
    ),
    (
        "credentials.credential_id",
        "credentials_credential_id_key",
        "credential_id",
    ),
    ("orders.number", "orders_number_key", "number"),
    (
        "orders.account_id, orders.idempotency_key",
        "orders_idempotency_key",
        "idempotency_key",
    ),
    (
        "subscriptions.user_id, subscriptions.method",
        "subscriptions_one_active",
        "method",
    ),
    (
        "api_clients.secret_hash",
        "api_clients_secret_hash_key",
        "secret_hash",
    ),
    ("phonefactor.device_id", "phonefactor_device", "device_id"),
    ("radius_clients.name", "radius_clients_name_key", "name"),
];

/// The field a unique violation is about, found by `table.column` (SQLite)
/// or by constraint name (PostgreSQL) — never by a word that happens to
/// appear in the message.
pub(crate) fn unique_violation_field(db: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    if !db.is_unique_violation() {
        return None;
    }
    let sqlite_columns = db
        .message()
        .strip_prefix("UNIQUE constraint failed: ")
        .map(str::trim);
    UNIQUE.iter().find_map(|(columns, constraint, field)| {
        let hit = sqlite_columns == Some(*columns) || db.constraint() == Some(*constraint);
        hit.then_some(*field)
    })
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                match unique_violation_field(db.as_ref()) {
                    Some(field) => StoreError::Conflict { field },
                    None => StoreError::Db(e),
                }
            }
            other => StoreError::Db(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UNIQUE;

    #[test]
    fn every_mapped_constraint_is_in_both_schemas() {
        let schema = |dir: &str| -> String {
            let base = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/");
            let mut all = String::new();
            for entry in std::fs::read_dir(format!("{base}{dir}")).expect("migrations") {
                let path = entry.expect("entry").path();
                all.push_str(&std::fs::read_to_string(path).expect("read"));
            }
            all
        };
        for dir in ["sqlite", "postgres"] {
            let sql = schema(dir);
            for (columns, constraint, _) in UNIQUE {
                assert!(sql.contains(constraint), "{dir}: {constraint} ({columns})");
            }
        }
    }
}
