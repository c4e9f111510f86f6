//! The operator's catalog: monthly prices per method, promo codes and
//! Master Services Agreement versions.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub method: String,
    pub amount: i64,
    pub currency: String,
    pub updated_at: Timestamp,
}

pub async fn set_price(
    conn: &mut Conn,
    method: &str,
    amount: i64,
    currency: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO prices (method, amount, currency, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (method) DO UPDATE SET amount = $2, currency = $3, updated_at = $4",
    )
    .bind(method)
    .bind(amount)
    .bind(currency)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn price(conn: &mut Conn, method: &str) -> Result<Option<Price>> {
    let r =
        sqlx::query("SELECT method, amount, currency, updated_at FROM prices WHERE method = $1")
            .bind(method)
            .fetch_optional(&mut *conn)
            .await?;
    r.map(|r| {
        Ok(Price {
            method: r.try_get(0)?,
            amount: r.try_get(1)?,
            currency: r.try_get(2)?,
            updated_at: Timestamp(r.try_get(3)?),
        })
    })
    .transpose()
}

pub async fn prices(conn: &mut Conn) -> Result<Vec<Price>> {
    sqlx::query("SELECT method, amount, currency, updated_at FROM prices ORDER BY method")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Price {
                method: r.try_get(0)?,
                amount: r.try_get(1)?,
                currency: r.try_get(2)?,
                updated_at: Timestamp(r.try_get(3)?),
            })
        })
        .collect()
}

/// A promo code as stored (the code upper-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoRow {
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub months: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub method: Option<String>,
    pub created_at: Timestamp,
}

const PROMO_COLUMNS: &str = "code, kind, value, months, max_redemptions, redemptions, valid_from, valid_until, method, created_at";

fn promo_from_row(r: &AnyRow) -> Result<PromoRow> {
    Ok(PromoRow {
        code: r.try_get(0)?,
        kind: r.try_get(1)?,
        value: r.try_get(2)?,
        months: r.try_get(3)?,
        max_redemptions: r.try_get(4)?,
        redemptions: r.try_get(5)?,
        valid_from: r.try_get::<Option<i64>, _>(6)?.map(Timestamp),
        valid_until: r.try_get::<Option<i64>, _>(7)?.map(Timestamp),
        method: r.try_get(8)?,
        created_at: Timestamp(r.try_get(9)?),
    })
}

pub async fn insert_promo(conn: &mut Conn, p: &PromoRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO promo_codes (code, kind, value, months, max_redemptions, redemptions, \
         valid_from, valid_until, method, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)",
    )
    .bind(&p.code)
    .bind(&p.kind)
    .bind(p.value)
    .bind(p.months)
    .bind(p.max_redemptions)
    .bind(p.valid_from.map(|t| t.millis()))
    .bind(p.valid_until.map(|t| t.millis()))
    .bind(p.method.as_deref())
    .bind(p.created_at.millis())
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => StoreError::Conflict { field: "code" },
        other => other,
    })?;
    Ok(())
}

pub async fn promo(conn: &mut Conn, code: &str) -> Result<Option<PromoRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMO_COLUMNS} FROM promo_codes WHERE code = $1"
    )))
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(promo_from_row).transpose()
}

pub async fn promos(conn: &mut Conn) -> Result<Vec<PromoRow>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROMO_COLUMNS} FROM promo_codes ORDER BY created_at DESC"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(promo_from_row)
    .collect()
}

/// Counts one redemption if the code is not used up, atomically.
pub async fn redeem_promo(conn: &mut Conn, code: &str) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE promo_codes SET redemptions = redemptions + 1 WHERE code = $1 \
         AND (max_redemptions IS NULL OR redemptions < max_redemptions)",
    )
    .bind(code)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msa {
    pub version: String,
    pub body: String,
    pub sha256: String,
    pub published_at: Timestamp,
}

fn msa_from_row(r: &AnyRow) -> Result<Msa> {
    Ok(Msa {
        version: r.try_get(0)?,
        body: r.try_get(1)?,
        sha256: r.try_get(2)?,
        published_at: Timestamp(r.try_get(3)?),
    })
}

pub async fn publish_msa(
    conn: &mut Conn,
    version: &str,
    body: &str,
    sha256: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO msa_versions (version, body, sha256, published_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(version)
    .bind(body)
    .bind(sha256)
    .bind(now.millis())
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            StoreError::Conflict { field: "version" }
        }
        other => other,
    })?;
    Ok(())
}

/// The version in force: the last one published.
pub async fn current_msa(conn: &mut Conn) -> Result<Option<Msa>> {
    let r = sqlx::query(
        "SELECT version, body, sha256, published_at FROM msa_versions ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(msa_from_row).transpose()
}

pub async fn msa(conn: &mut Conn, version: &str) -> Result<Option<Msa>> {
    let r = sqlx::query(
        "SELECT version, body, sha256, published_at FROM msa_versions WHERE version = $1",
    )
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(msa_from_row).transpose()
}

pub async fn msas(conn: &mut Conn) -> Result<Vec<Msa>> {
    sqlx::query("SELECT version, body, sha256, published_at FROM msa_versions ORDER BY id DESC")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(msa_from_row)
        .collect()
}
