//! The operator's catalog: prices, promo codes, MSA versions.

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::pricing::{
    Currency, Discount, Promo, PromoCode, PromoRejection, parse_amount,
};
use gatehouse_domain::{Method, Timestamp};
use gatehouse_store::catalog::{self, Msa, Price, PromoRow};
use gatehouse_store::{StoreError, audit};
use sha2::{Digest, Sha256};

pub async fn set_price(
    st: &AppState,
    caller: &Caller,
    method: &str,
    amount: i64,
    currency: &str,
) -> Result<Price> {
    caller.require_operator("manage the catalog")?;
    let method = Method::parse(method)?;
    let amount = parse_amount(amount)?;
    let currency = Currency::parse(currency)?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    catalog::set_price(&mut tx, method.as_str(), amount, currency.as_str(), now).await?;
    let rec = caller.audit(
        now,
        "price_set",
        format!("method:{}", method.as_str()),
        "success",
        None,
        format!("{amount} {}", currency.as_str()),
    );
    audit::append(&mut tx, &rec).await?;
    let price = catalog::price(&mut tx, method.as_str())
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(price)
}

pub async fn prices(st: &AppState) -> Result<Vec<Price>> {
    let mut conn = st.store.conn().await?;
    Ok(catalog::prices(&mut conn).await?)
}

/// What `promo create` and the Catalog page supply.
#[derive(Debug, Clone, Default)]
pub struct NewPromo {
    pub code: String,
    pub percent_off: Option<i64>,
    pub amount_off: Option<i64>,
    pub months: Option<i64>,
    pub max_redemptions: Option<i64>,
    /// `YYYY-MM-DD`: the last day (UTC) the code can be used.
    pub valid_until: Option<String>,
    pub method: Option<String>,
}

/// The first moment after the given day (UTC).
fn end_of_day(date: &str) -> Result<Timestamp> {
    let d: jiff::civil::Date = date
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("valid_until", "Give the last valid day as YYYY-MM-DD."))?;
    let next = d
        .tomorrow()
        .map_err(|_| AppError::invalid("valid_until", "That date is out of range."))?;
    let ts = next
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|_| AppError::invalid("valid_until", "That date is out of range."))?
        .timestamp();
    Ok(Timestamp(ts.as_millisecond()))
}

pub async fn create_promo(st: &AppState, caller: &Caller, p: NewPromo) -> Result<PromoRow> {
    caller.require_operator("manage the catalog")?;
    let code = PromoCode::parse(&p.code)?;
    let discount = match (p.percent_off, p.amount_off) {
        (Some(pct), None) => Discount::parse("percent", pct)?,
        (None, Some(amt)) => Discount::parse("amount", amt)?,
        _ => {
            return Err(AppError::invalid(
                "percent_off",
                "Give either a percentage or an amount off, not both.",
            ));
        }
    };
    if p.months.is_some_and(|m| !(1..=120).contains(&m)) {
        return Err(AppError::invalid(
            "months",
            "Months are from 1 to 120 (leave empty for ever).",
        ));
    }
    if p.max_redemptions
        .is_some_and(|m| !(1..=1_000_000).contains(&m))
    {
        return Err(AppError::invalid(
            "max_redemptions",
            "The maximum number of redemptions is from 1 to 1,000,000 (leave empty for no limit).",
        ));
    }
    let method = p
        .method
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .map(Method::parse)
        .transpose()?;
    let valid_until = p
        .valid_until
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(end_of_day)
        .transpose()?;
    let now = st.now();
    let row = PromoRow {
        code: code.as_str().to_owned(),
        kind: discount.kind().into(),
        value: discount.value(),
        months: p.months,
        max_redemptions: p.max_redemptions,
        redemptions: 0,
        valid_from: None,
        valid_until,
        method: method.map(|m| m.as_str().to_owned()),
        created_at: now,
    };
    let mut tx = st.store.begin().await?;
    catalog::insert_promo(&mut tx, &row)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => AppError::Conflict {
                field: Some("code"),
                message: format!("Promo code {} already exists.", row.code),
            },
            other => other.into(),
        })?;
    let desc = to_promo(&row)?.describe("");
    let rec = caller.audit(
        now,
        "promo_create",
        format!("promo:{}", row.code),
        "success",
        None,
        desc,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(row)
}

pub fn to_promo(r: &PromoRow) -> Result<Promo> {
    Ok(Promo {
        code: r.code.clone(),
        discount: Discount::parse(&r.kind, r.value).map_err(|e| AppError::Internal(e.message))?,
        months: r.months,
        max_redemptions: r.max_redemptions,
        redemptions: r.redemptions,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        method: r
            .method
            .as_deref()
            .map(Method::parse)
            .transpose()
            .map_err(|e| AppError::Internal(e.message))?,
    })
}

/// Looks a code up (case-insensitively) and checks it for `method` now.
pub async fn applicable_promo(st: &AppState, code: &str, method: Method) -> Result<Promo> {
    let code = PromoCode::parse(code)?;
    let mut conn = st.store.conn().await?;
    let row = catalog::promo(&mut conn, code.as_str())
        .await?
        .ok_or_else(|| promo_error(PromoRejection::Unknown(code.as_str().to_owned())))?;
    let promo = to_promo(&row)?;
    promo.check(method, st.now()).map_err(promo_error)?;
    Ok(promo)
}

pub fn promo_error(r: PromoRejection) -> AppError {
    AppError::invalid("promo_code", r.to_string())
}

pub async fn promos(st: &AppState) -> Result<Vec<PromoRow>> {
    let mut conn = st.store.conn().await?;
    Ok(catalog::promos(&mut conn).await?)
}

/// The longest agreement text taken, in characters (some 10,000 words).
pub const MSA_MAX_CHARS: usize = 60_000;

pub async fn publish_msa(st: &AppState, caller: &Caller, version: &str, body: &str) -> Result<Msa> {
    caller.require_operator("manage the catalog")?;
    // A version names the agreement in addresses (`/msa/{version}`) and in
    // orders: letters, digits and a few separators only.
    let version = version.trim();
    if version.is_empty()
        || version.len() > 40
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(AppError::invalid(
            "version",
            "A version is 1–40 letters, digits, '.', '-' or '_', e.g. 2026.1.",
        ));
    }
    // Checked, but kept as given (its final line break too): the SHA-256
    // recorded with each order is of the text as published.
    let text =
        gatehouse_domain::text::paragraphs("text", body, MSA_MAX_CHARS, "The agreement's text")?;
    if text.is_empty() {
        return Err(AppError::invalid("text", "The agreement's text is empty."));
    }
    let sha = hex::encode(Sha256::digest(body.as_bytes()));
    let now = st.now();
    let mut tx = st.store.begin().await?;
    catalog::publish_msa(&mut tx, version, body, &sha, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => AppError::Conflict {
                field: Some("version"),
                message: format!(
                    "MSA version {version} is already published; versions never change."
                ),
            },
            other => other.into(),
        })?;
    let rec = caller.audit(
        now,
        "msa_publish",
        format!("msa:{version}"),
        "success",
        None,
        format!("sha256 {sha}"),
    );
    audit::append(&mut tx, &rec).await?;
    let msa = catalog::msa(&mut tx, version)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(msa)
}

pub async fn current_msa(st: &AppState) -> Result<Option<Msa>> {
    let mut conn = st.store.conn().await?;
    Ok(catalog::current_msa(&mut conn).await?)
}

pub async fn msa(st: &AppState, version: &str) -> Result<Msa> {
    // Versions published under the older, looser rule stay reachable; what
    // no version can be is not looked for.
    if version.is_empty() || version.len() > 40 || version.chars().any(char::is_control) {
        return Err(AppError::NotFound);
    }
    let mut conn = st.store.conn().await?;
    catalog::msa(&mut conn, version)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn msas(st: &AppState) -> Result<Vec<Msa>> {
    let mut conn = st.store.conn().await?;
    Ok(catalog::msas(&mut conn).await?)
}
