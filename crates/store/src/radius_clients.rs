//! RADIUS clients (SPEC §12), each tied to one customer account. The
//! shared secret is stored sealed; opening it is the application's job.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::radius::{ClientMode, ClientName, SourceRange};
use gatehouse_domain::{AccountId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewRadiusClient<'a> {
    pub name: &'a ClientName,
    pub account_id: AccountId,
    pub address: SourceRange,
    /// The shared secret, sealed under the master key.
    pub sealed_secret: &'a [u8],
    pub mode: ClientMode,
    pub require_message_authenticator: bool,
    pub allow_password_only: bool,
    /// `None`: no separator (the code is the password's trailing digits).
    pub separator: Option<char>,
    pub timeout_secs: i64,
    pub class: Option<&'a str>,
    pub filter_id: Option<&'a str>,
}

/// A registered client, with its account's number.
#[derive(Clone)]
pub struct RadiusClient {
    pub id: i64,
    pub name: ClientName,
    pub account_id: AccountId,
    pub account_number: String,
    pub address: SourceRange,
    pub sealed_secret: Vec<u8>,
    pub mode: ClientMode,
    pub require_message_authenticator: bool,
    pub allow_password_only: bool,
    pub separator: Option<char>,
    pub timeout_secs: i64,
    pub class: Option<String>,
    pub filter_id: Option<String>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("account_number", &self.account_number)
            .field("address", &self.address)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "r.id, r.name, r.account_id, a.number, r.address, r.secret, r.mode, \
     r.require_message_authenticator, r.allow_password_only, r.separator, r.timeout_secs, \
     r.class, r.filter_id, r.created_at";

fn from_row(r: &AnyRow) -> Result<RadiusClient> {
    let corrupt = |what: &str, e: gatehouse_domain::ParseError| {
        StoreError::Corrupt(format!("radius_clients.{what}: {}", e.message))
    };
    let name: String = r.try_get(1)?;
    let address: String = r.try_get(4)?;
    let mode: String = r.try_get(6)?;
    let separator: String = r.try_get(9)?;
    Ok(RadiusClient {
        id: r.try_get(0)?,
        name: ClientName::parse(&name).map_err(|e| corrupt("name", e))?,
        account_id: AccountId(r.try_get(2)?),
        account_number: r.try_get(3)?,
        address: SourceRange::parse(&address).map_err(|e| corrupt("address", e))?,
        sealed_secret: r.try_get(5)?,
        mode: mode.parse().map_err(|e| corrupt("mode", e))?,
        require_message_authenticator: r.try_get::<i64, _>(7)? != 0,
        allow_password_only: r.try_get::<i64, _>(8)? != 0,
        separator: gatehouse_domain::radius::parse_separator(&separator)
            .map_err(|e| corrupt("separator", e))?,
        timeout_secs: r.try_get(10)?,
        class: r.try_get(11)?,
        filter_id: r.try_get(12)?,
        created_at: Timestamp(r.try_get(13)?),
    })
}

/// Registers a client; `Conflict { field: "name" }` if the name is taken.
pub async fn create(conn: &mut Conn, c: &NewRadiusClient<'_>, now: Timestamp) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO radius_clients (name, account_id, address, secret, mode, \
           require_message_authenticator, allow_password_only, separator, timeout_secs, \
           class, filter_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(c.name.as_str())
    .bind(c.account_id.0)
    .bind(c.address.to_string())
    .bind(c.sealed_secret)
    .bind(c.mode.as_str())
    .bind(i64::from(c.require_message_authenticator))
    .bind(i64::from(c.allow_password_only))
    .bind(c.separator.map(String::from).unwrap_or_default())
    .bind(c.timeout_secs)
    .bind(c.class)
    .bind(c.filter_id)
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Every client, by name.
pub async fn list(conn: &mut Conn) -> Result<Vec<RadiusClient>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM radius_clients r JOIN accounts a ON a.id = r.account_id \
         ORDER BY r.name"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes the client named `name`; `NotFound` if there is none.
pub async fn remove(conn: &mut Conn, name: &ClientName) -> Result<RadiusClient> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM radius_clients r JOIN accounts a ON a.id = r.account_id \
         WHERE r.name = $1"
    )))
    .bind(name.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let client = from_row(&found)?;
    sqlx::query("DELETE FROM radius_clients WHERE id = $1")
        .bind(client.id)
        .execute(&mut *conn)
        .await?;
    Ok(client)
}

/// A number that changes whenever the clients do (the largest id and the
/// count), so an instance knows when to reload its copy.
pub async fn version(conn: &mut Conn) -> Result<(i64, i64)> {
    let r = sqlx::query("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM radius_clients")
        .fetch_one(&mut *conn)
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}
