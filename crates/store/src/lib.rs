//! Gatehouse's storage: SQLite (embedded default) and PostgreSQL (scale-out).
//!
//! Both backends go through sqlx's `Any` driver with portable SQL (`$n`
//! placeholders, `INSERT … RETURNING`, `ON CONFLICT`), so there is one
//! implementation of every query. What differs between the two lives in
//! this crate only: the migration files, how a connection is set up, and
//! how a write transaction begins (see [`Store::begin`]).
//!
//! Access to users goes through [`users::Users`], a view limited to a
//! [`Scope`]: an account administrator's view cannot reach another account's
//! rows because every query it makes carries the account condition.

pub mod accounts;
pub mod api_clients;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod code_check;
pub mod credentials;
mod db;
pub mod delivery;
mod error;
mod group;
mod migrate;
pub mod orders;
mod pg_batch;
pub mod phonefactor;
pub mod radius_clients;
mod scope;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod tokens;
pub mod users;
mod virtual_phone;

pub use db::{Backend, Checkpoint, Conn, Durability, Store, Tx, WAL_LIMIT_BYTES, savepoint};
pub use error::StoreError;
pub use scope::Scope;
/// The database driver's error, for `?` on transaction commits.
pub use sqlx::Error as DbError;
pub use users::{NewUser, User, UserPatch, Users};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A `LIKE … ESCAPE '\'` pattern for values that contain `text`: its `%`,
/// `_` and `\` match themselves, not any text or character.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `N` bytes from the operating system's CSPRNG (test databases' names).
#[cfg(feature = "testing")]
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    gatehouse_domain::secret::fill_random(&mut b);
    b
}
