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
    #[error(transparent)]
    Db(sqlx::Error),
}

/// Unique columns whose violation we report by name.
const UNIQUE_FIELDS: &[&str] = &[
    "username",
    "number",
    "token_hash",
    "email",
    "credential_id",
    "secret_hash",
    "device_id",
];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                // SQLite says "UNIQUE constraint failed: users.username",
                // PostgreSQL names the constraint "users_username_key"; both
                // contain the column name.
                let text = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
                match UNIQUE_FIELDS.iter().find(|f| text.contains(*f)) {
                    Some(field) => StoreError::Conflict { field },
                    None => StoreError::Db(e),
                }
            }
            other => StoreError::Db(other),
        }
    }
}
