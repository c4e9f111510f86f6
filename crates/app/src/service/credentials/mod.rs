//! Symantec Identity Protection credentials: the inventory (PSKC import,
//! soft credentials), the Security Code check used at sign-in and by the
//! validation API, and the administrators' recovery actions.

use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::credential_id::CredentialId;
use gatehouse_domain::oath::{self, CredentialCounters, HashAlg, Kind, OathParams, Validation};
use gatehouse_domain::pskc::{self, DecryptionKey};
use gatehouse_domain::{Method, Timestamp, UserId, secret};
use gatehouse_store::credentials::{self, Credential, NewCredential};
use gatehouse_store::throttle::Reservation;
use gatehouse_store::{StoreError, User, audit, code_check, orders};

/// Locked "until an administrator unlocks": far enough to never pass.
mod check;
mod proof;
mod recovery;
mod remote;

pub use check::*;
pub use proof::*;
pub use recovery::*;
pub use remote::*;

const LOCKED_FOR_GOOD: Timestamp = Timestamp(i64::MAX / 2);

/// The longest a temporary security code may live (VIP: 30 days).
pub const TEMPORARY_CODE_MAX_HOURS: i64 = 30 * 24;

fn counters_of(c: &Credential) -> CredentialCounters {
    CredentialCounters {
        last_used: c.last_used,
        drift: c.drift,
        next_counter: c.next_counter,
    }
}

fn open_secret(st: &AppState, c: &Credential) -> Result<Vec<u8>> {
    let sealed = c.sealed_secret.as_deref().ok_or_else(|| {
        AppError::Internal(format!(
            "credential {} has no local secret",
            c.credential_id
        ))
    })?;
    st.config
        .master_key
        .open(sealed, c.credential_id.as_bytes())
        .map_err(|_| {
            AppError::Internal(format!(
                "credential {}: the secret does not open with this master key",
                c.credential_id
            ))
        })
}

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<String>,
    /// Credential IDs refused, with the reason (already in the inventory).
    pub refused: Vec<(String, String)>,
}

/// Imports a PSKC file. A file that does not parse, decrypt or pass its
/// MAC imports nothing; a Credential ID already in the inventory is
/// refused on its own (never overwritten) and the rest go in.
pub async fn import_pskc(
    st: &AppState,
    caller: &Caller,
    xml: &[u8],
    key: Option<DecryptionKey>,
    source: &str,
) -> Result<ImportReport> {
    caller.require_operator("manage the token inventory")?;
    let keys =
        pskc::parse(xml, key.as_ref()).map_err(|e| AppError::invalid("file", e.to_string()))?;
    if keys.is_empty() {
        return Err(AppError::invalid("file", "The file holds no key packages."));
    }
    let mut parsed = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let id = CredentialId::parse(&k.serial).map_err(|e| {
            AppError::invalid(
                "file",
                format!(
                    "Key package {} (serial {:?}): {}",
                    i + 1,
                    k.serial,
                    e.message
                ),
            )
        })?;
        parsed.push((id, k));
    }
    let now = st.now();
    let mut report = ImportReport::default();
    let mut tx = st.store.begin().await?;
    for (id, k) in parsed {
        let sealed = st.config.master_key.seal(&k.secret, id.as_str().as_bytes());
        let new = NewCredential {
            credential_id: id.as_str(),
            params: k.oath_params(),
            next_counter: k.counter as i64,
            sealed_secret: Some(&sealed),
            validation: Validation::Local,
            source,
        };
        match credentials::insert(&mut tx, &new, now).await {
            Ok(_) => report.imported.push(id.as_str().to_owned()),
            Err(StoreError::Conflict { .. }) => report.refused.push((
                id.as_str().to_owned(),
                "already in the inventory; not overwritten".into(),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let detail = format!(
        "{} imported, {} refused",
        report.imported.len(),
        report.refused.len()
    );
    let rec = caller.audit(
        now,
        "tokens_import",
        format!("file:{source}"),
        "success",
        None,
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(report)
}

/// A soft credential, shown once.
pub struct SoftCredential {
    pub credential_id: String,
    pub uri: String,
}

/// Issues `count` soft credentials: new TOTP seeds with generated IDs
/// (`GHST` + 8 digits) and `otpauth://` URIs for any authenticator app.
pub async fn issue_soft(
    st: &AppState,
    caller: &Caller,
    count: usize,
) -> Result<Vec<SoftCredential>> {
    caller.require_operator("manage the token inventory")?;
    if !(1..=1000).contains(&count) {
        return Err(AppError::invalid(
            "count",
            "Issue from 1 to 1000 soft credentials at a time.",
        ));
    }
    let now = st.now();
    let params = OathParams {
        kind: Kind::Totp { period: 30 },
        digits: 6,
        alg: HashAlg::Sha1,
    };
    let mut out = Vec::new();
    let mut tx = st.store.begin().await?;
    while out.len() < count {
        let id = format!("GHST{:08}", secret::random_below(100_000_000));
        let seed = oath::generate_secret();
        let sealed = st.config.master_key.seal(&seed, id.as_bytes());
        let new = NewCredential {
            credential_id: &id,
            params,
            next_counter: 0,
            sealed_secret: Some(&sealed),
            validation: Validation::Local,
            source: "soft",
        };
        match credentials::insert(&mut tx, &new, now).await {
            Ok(_) => {
                let uri = oath::key_uri(&st.config.portal_name, &id, &seed, &params, 0);
                out.push(SoftCredential {
                    credential_id: id,
                    uri,
                });
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let rec = caller.audit(
        now,
        "tokens_issue_soft",
        "inventory",
        "success",
        None,
        format!("{count} soft credentials"),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(out)
}

/// The token inventory (operators only): credentials whose Credential ID
/// contains `query`, a page at a time, with the number of matches.
pub async fn inventory(
    st: &AppState,
    caller: &Caller,
    query: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Credential>, i64)> {
    caller.require_operator("see the token inventory")?;
    let query = gatehouse_domain::text::search("query", query)?;
    let mut conn = st.store.conn().await?;
    Ok(credentials::list(&mut conn, &query, limit, offset).await?)
}
