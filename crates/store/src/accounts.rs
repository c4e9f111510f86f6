//! Customer accounts (operator-only writes).

use crate::{Conn, Result, StoreError};
use gatehouse_domain::{AccountId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub number: String,
    pub name: String,
    pub is_provider: bool,
    pub created_at: Timestamp,
    pub user_count: i64,
}

const SELECT: &str = "SELECT a.id, a.number, a.name, a.is_provider, a.created_at, \
     (SELECT COUNT(*) FROM users u WHERE u.account_id = a.id) FROM accounts a";

fn from_row(r: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: AccountId(r.try_get(0)?),
        number: r.try_get(1)?,
        name: r.try_get(2)?,
        is_provider: r.try_get::<i64, _>(3)? != 0,
        created_at: Timestamp(r.try_get(4)?),
        user_count: r.try_get(5)?,
    })
}

pub async fn create(
    conn: &mut Conn,
    number: &str,
    name: &str,
    is_provider: bool,
    now: Timestamp,
) -> Result<AccountId> {
    let id: i64 = sqlx::query(
        "INSERT INTO accounts (number, name, is_provider, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(number)
    .bind(name)
    .bind(i64::from(is_provider))
    .bind(now.millis())
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    Ok(AccountId(id))
}

pub async fn get(conn: &mut Conn, id: AccountId) -> Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.id = $1")))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

pub async fn find_by_number(conn: &mut Conn, number: &str) -> Result<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.number = $1")))
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

pub async fn provider(conn: &mut Conn) -> Result<Option<Account>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE a.is_provider = 1 ORDER BY a.id LIMIT 1"
    )))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Account>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} ORDER BY a.name, a.id"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
