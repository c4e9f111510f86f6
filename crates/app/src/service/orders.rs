//! Ordering external authentication for a user (the seed's wizard, SPEC §2
//! and §4): quote with promo code, MSA acknowledgement, idempotent placing.

use super::catalog::applicable_promo;
use super::credentials::{Proof, apply_proof, check_proof, open_proof};
use super::{Caller, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::credential_id::CredentialId;
use gatehouse_domain::order;
use gatehouse_domain::pricing::{Discount, Promo, Quote, quote};
use gatehouse_domain::{Method, UserId, secret};
use gatehouse_store::catalog::{self, Msa};
use gatehouse_store::credentials::{self, Credential};
use gatehouse_store::orders::{self, NewOrder, Order};
use gatehouse_store::{StoreError, User, Users, audit};

// What the wizard's first step and the API supply, and the checks of it
// that need no storage, are the domain's (`gatehouse_domain::order`).
pub use gatehouse_domain::order::OrderInput;

/// A checked order, ready to show or place.
#[derive(Debug, Clone)]
pub struct Checked {
    pub user: User,
    pub method: Method,
    pub credential: Option<Credential>,
    pub quote: Quote,
    pub currency: String,
    pub promo: Option<Promo>,
    pub msa: Msa,
    /// The proof of possession, if codes (or the wizard's sealed proof)
    /// were given: applied by the order so the codes cannot be used again.
    pub proof: Option<Proof>,
}

/// Validates everything an order needs, without storing anything.
pub async fn check(
    st: &AppState,
    caller: &Caller,
    user_id: UserId,
    input: &OrderInput,
) -> Result<Checked> {
    caller.require_admin("order external authentication")?;
    let method = Method::parse(&input.method)?;
    let mut conn = st.store.conn().await?;
    let user = super::target_user(&mut conn, caller, user_id).await?;
    let active = orders::active_for_users(&mut conn, std::slice::from_ref(&user)).await?;
    if active.iter().any(|s| s.method == method) {
        return Err(AppError::Conflict {
            field: Some("method"),
            message: format!("{} already has {}.", user.username, method.label()),
        });
    }
    let credential = match method {
        Method::SymantecVip => {
            let id = order::credential_id(input)?;
            // An administrator learns nothing about credentials beyond their
            // account: unknown, held by another account's user and (not
            // theirs) disabled all get this same answer.
            let unavailable = || unavailable_credential(&id);
            let cred = match credentials::by_credential_id(&mut conn, id.as_str()).await {
                Ok(c) => c,
                Err(StoreError::NotFound) => return Err(unavailable()),
                Err(e) => return Err(e.into()),
            };
            if let Some(holder) = cred.user_id.filter(|u| *u != user.id) {
                // Only a holder in the caller's view may be named.
                return match Users::new(caller.scope()).get(&mut conn, holder).await {
                    Ok(h) => Err(AppError::Conflict {
                        field: Some("credential_id"),
                        message: format!(
                            "Credential {id} is assigned to another user, {}.",
                            h.username
                        ),
                    }),
                    Err(StoreError::NotFound) => Err(unavailable()),
                    Err(e) => Err(e.into()),
                };
            }
            if !cred.enabled {
                return Err(if cred.user_id.is_some() || caller.is_operator() {
                    AppError::invalid("credential_id", format!("Credential {id} is disabled."))
                } else {
                    unavailable()
                });
            }
            Some(cred)
        }
        Method::PhoneFactor => None,
    };
    let price = catalog::price(&mut conn, method.as_str())
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "method",
                format!(
                    "{} has no price yet; the provider must set one before it can be ordered.",
                    method.label()
                ),
            )
        })?;
    // Nothing would reach the user's phone: no activation, no sign-in.
    if method == Method::PhoneFactor && st.config.delivery.mode() == crate::DeliveryMode::None {
        return Err(AppError::invalid("method", crate::DELIVERY_NOT_CONFIGURED));
    }
    let msa = catalog::current_msa(&mut conn).await?.ok_or_else(|| {
        AppError::invalid(
            "msa_version",
            "No Master Services Agreement is published yet; the provider must publish one first.",
        )
    })?;
    drop(conn);
    let proof = match &credential {
        Some(c) => match check_proof(
            st,
            c,
            input.security_code.as_deref().unwrap_or(""),
            input.next_security_code.as_deref().unwrap_or(""),
        )? {
            Some(p) => Some(p),
            // The wizard's first step checked the codes; its sealed result
            // holds only for this user, this credential and the
            // credential's counters as they were then.
            None => match input.proof_token.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => Some(open_proof(st, user.id, c, t)?),
                None => None,
            },
        },
        None => None,
    };
    let promo = match order::promo_code(input) {
        Some(code) => Some(applicable_promo(st, code, method).await?),
        None => None,
    };
    Ok(Checked {
        user,
        method,
        credential,
        quote: quote(price.amount, promo.as_ref().map(|p| p.discount)),
        currency: price.currency,
        promo,
        msa,
        proof,
    })
}

/// The one answer for a Credential ID the caller cannot order: unknown,
/// held in another account, or otherwise not available.
fn unavailable_credential(id: &CredentialId) -> AppError {
    AppError::invalid(
        "credential_id",
        format!(
            "Credential {id} is not known to us or not available. Check the ID printed on the token; if it is right, ask your provider about it."
        ),
    )
}

/// Whether a placed order is new or was found by its idempotency key.
pub enum Placed {
    New(Order),
    Existing(Order),
}

/// Places the order: order + subscription + credential assignment + promo
/// redemption + audit entry in one transaction. The same idempotency key
/// within the account returns the order it placed before.
pub async fn place(
    st: &AppState,
    caller: &Caller,
    user_id: UserId,
    input: &OrderInput,
    msa_version: &str,
    msa_acknowledged: bool,
    idempotency_key: &str,
) -> Result<Placed> {
    caller.require_admin("order external authentication")?;
    let key = order::idempotency_key(idempotency_key)?;
    let account = {
        let mut conn = st.store.conn().await?;
        let user = super::target_user(&mut conn, caller, user_id).await?;
        if let Some(o) = orders::by_idempotency_key(&mut conn, user.account_id, key).await? {
            return Ok(Placed::Existing(o));
        }
        user.account_id
    };
    let checked = match check(st, caller, user_id, input).await {
        Ok(c) => c,
        Err(e) => {
            // A concurrent submission with the same key may have placed the
            // order meanwhile (and so made this one look like a duplicate).
            let mut conn = st.store.conn().await?;
            return match orders::by_idempotency_key(&mut conn, account, key).await? {
                Some(o) => Ok(Placed::Existing(o)),
                None => Err(e),
            };
        }
    };
    if !msa_acknowledged {
        return Err(AppError::invalid(
            "msa_acknowledged",
            "Tick the box to acknowledge the Master Services Agreement.",
        ));
    }
    if msa_version.trim() != checked.msa.version {
        return Err(AppError::invalid(
            "msa_version",
            format!(
                "The Master Services Agreement changed to version {}; read it and acknowledge it again.",
                checked.msa.version
            ),
        ));
    }
    let actor = caller.user_ref().ok_or_else(|| {
        AppError::Forbidden("Orders are placed by a signed-in administrator.".into())
    })?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let mut result = None;
    for _ in 0..5 {
        let number = format!("EA-{:08}", secret::random_below(100_000_000));
        let discount = checked.promo.as_ref().map(|p| p.discount);
        let new = NewOrder {
            number: &number,
            account_id: account,
            user_id: checked.user.id,
            username: &checked.user.username,
            method: checked.method,
            credential_id: checked
                .credential
                .as_ref()
                .map(|c| c.credential_id.as_str()),
            monthly_price: checked.quote.monthly_fee,
            currency: &checked.currency,
            promo_code: checked.promo.as_ref().map(|p| p.code.as_str()),
            promo_kind: discount.map(Discount::kind),
            promo_value: discount.map(Discount::value),
            promo_months: checked.promo.as_ref().and_then(|p| p.months),
            msa_version: &checked.msa.version,
            msa_sha256: &checked.msa.sha256,
            acknowledged_by: actor.id,
            acknowledged_name: &actor.username,
            acknowledged_addr: &caller.addr,
            idempotency_key: key,
        };
        // A savepoint, so that a taken order number (which aborts the
        // statement, and on PostgreSQL the transaction) can be retried.
        let mut attempt = gatehouse_store::savepoint(&mut tx).await?;
        let placed = orders::place(&mut attempt, &new, now).await;
        if placed.is_ok() {
            attempt.commit().await?;
        } else {
            attempt.rollback().await?;
        }
        match placed {
            Ok(id) => {
                result = Some((id, number));
                break;
            }
            Err(StoreError::Conflict { field: "number" }) => continue,
            Err(StoreError::Conflict {
                field: "idempotency_key",
            }) => {
                // A concurrent submission with the same key won.
                drop(tx);
                let mut conn = st.store.conn().await?;
                let o = orders::by_idempotency_key(&mut conn, account, key)
                    .await?
                    .ok_or(AppError::NotFound)?;
                return Ok(Placed::Existing(o));
            }
            Err(StoreError::Conflict { field: "method" }) => {
                drop(tx);
                let mut conn = st.store.conn().await?;
                if let Some(o) = orders::by_idempotency_key(&mut conn, account, key).await? {
                    return Ok(Placed::Existing(o));
                }
                return Err(AppError::Conflict {
                    field: Some("method"),
                    message: format!(
                        "{} already has {}.",
                        checked.user.username,
                        checked.method.label()
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (_, number) = result.ok_or_else(|| AppError::Internal("no free order number".into()))?;
    if let Some(c) = &checked.credential
        && c.user_id.is_none()
        && !credentials::assign(&mut tx, c.id, &checked.user).await?
    {
        // Taken meanwhile, perhaps in another account: the same answer as
        // for any credential out of reach.
        return Err(match CredentialId::parse(&c.credential_id) {
            Ok(id) => unavailable_credential(&id),
            Err(e) => e.into(),
        });
    }
    if let (Some(c), Some(p)) = (&checked.credential, &checked.proof) {
        apply_proof(&mut tx, c, p).await?;
    }
    if checked.method == Method::PhoneFactor {
        super::phonefactor::on_order(&mut tx, &checked.user, now).await?;
    }
    if let Some(p) = &checked.promo
        && !catalog::redeem_promo(&mut tx, &p.code).await?
    {
        return Err(AppError::invalid(
            "promo_code",
            format!("Promo code {} has been used up.", p.code),
        ));
    }
    let detail = format!(
        "order {number}: {}{}; {} {} per month; MSA {}",
        checked.method.label(),
        checked
            .credential
            .as_ref()
            .map(|c| format!(" ({})", c.credential_id))
            .unwrap_or_default(),
        checked.quote.total,
        checked.currency,
        checked.msa.version
    );
    let rec = caller.audit(
        now,
        "external_auth_order",
        user_target(&checked.user),
        "success",
        Some(account.0),
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    let order = orders::by_number(&mut tx, gatehouse_store::Scope::System, &number).await?;
    tx.commit().await?;
    Ok(Placed::New(order))
}

/// One method a user has, as the Users screen and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAuth {
    pub method: Method,
    pub state: AuthState,
    pub credential_id: Option<String>,
    /// PhoneFactor: the mode and masked number, once active.
    pub detail: Option<String>,
    pub order_number: String,
}

impl ExternalAuth {
    /// `Symantec Identity Protection (VSST••••5678)`,
    /// `PhoneFactor (Text message, +1••••0123)`.
    pub fn label(&self) -> String {
        match (&self.credential_id, &self.detail) {
            (Some(id), _) => {
                let masked = CredentialId::parse(id)
                    .map(|c| c.masked())
                    .unwrap_or_else(|_| id.clone());
                format!("{} ({masked})", self.method.label())
            }
            (None, Some(d)) => format!("{} ({d})", self.method.label()),
            (None, None) => self.method.label().to_owned(),
        }
    }

    /// The state as people read it.
    pub fn state_label(&self) -> &'static str {
        self.state.label()
    }
}

/// Where a user's external authentication stands. Symantec: active,
/// locked or disabled. PhoneFactor: awaiting activation, active,
/// deactivated or blocked (fraud).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    Active,
    Locked,
    Disabled,
    AwaitingActivation,
    Deactivated,
    Blocked,
}

impl AuthState {
    /// The API's name (and the page's badge class).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Active => "active",
            AuthState::Locked => "locked",
            AuthState::Disabled => "disabled",
            AuthState::AwaitingActivation => "awaiting_activation",
            AuthState::Deactivated => "deactivated",
            AuthState::Blocked => "blocked",
        }
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            AuthState::AwaitingActivation => "awaiting activation",
            AuthState::Blocked => "blocked (fraud)",
            s => s.as_str(),
        }
    }
}

/// The external authentication of each of `users` (one query per kind of
/// row, not per user).
pub async fn external_auth_for(
    st: &AppState,
    users: &[User],
) -> Result<std::collections::HashMap<UserId, Vec<ExternalAuth>>> {
    let mut conn = st.store.conn().await?;
    let subs = orders::active_for_users(&mut conn, users).await?;
    let creds = credentials::for_users(&mut conn, users).await?;
    let pfs = gatehouse_store::phonefactor::for_users(&mut conn, users).await?;
    let now = st.now();
    let mut out: std::collections::HashMap<UserId, Vec<ExternalAuth>> =
        std::collections::HashMap::new();
    for s in subs {
        let method = s.method;
        let cred = creds.iter().find(|c| c.user_id == Some(s.user_id));
        let pf = pfs.iter().find(|p| p.user_id == s.user_id);
        let state = match (method, cred, pf) {
            (Method::SymantecVip, Some(c), _) if !c.enabled => AuthState::Disabled,
            (Method::SymantecVip, Some(c), _) if c.locked_until.is_some_and(|t| now < t) => {
                AuthState::Locked
            }
            (Method::PhoneFactor, _, Some(p)) if p.fraud_blocked_until.is_some_and(|t| now < t) => {
                AuthState::Blocked
            }
            (Method::PhoneFactor, _, Some(p))
                if p.status
                    == gatehouse_domain::phonefactor::PhoneFactorStatus::AwaitingActivation =>
            {
                AuthState::AwaitingActivation
            }
            (Method::PhoneFactor, _, Some(p))
                if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Deactivated =>
            {
                AuthState::Deactivated
            }
            (Method::PhoneFactor, _, None) => AuthState::AwaitingActivation,
            _ => AuthState::Active,
        };
        let detail = match (method, pf) {
            (Method::PhoneFactor, Some(p))
                if p.status == gatehouse_domain::phonefactor::PhoneFactorStatus::Active =>
            {
                Some(format!(
                    "{}, {}",
                    p.mode.map_or("?", |m| m.label()),
                    p.phone
                        .as_deref()
                        .map(gatehouse_domain::phonefactor::mask)
                        .unwrap_or_default()
                ))
            }
            _ => None,
        };
        out.entry(s.user_id).or_default().push(ExternalAuth {
            method,
            state,
            credential_id: match method {
                Method::SymantecVip => cred.map(|c| c.credential_id.clone()).or(s.credential_id),
                Method::PhoneFactor => None,
            },
            detail,
            order_number: s.order_number,
        });
    }
    Ok(out)
}

/// An order the caller may see (their account's; all for the operator).
pub async fn get(st: &AppState, caller: &Caller, number: &str) -> Result<Order> {
    caller.require_admin("order external authentication")?;
    if !gatehouse_domain::text::is_key(number, 32) {
        return Err(AppError::NotFound);
    }
    let mut conn = st.store.conn().await?;
    // The caller's scope is part of the query: another account's order is
    // never read.
    Ok(orders::by_number(&mut conn, caller.scope(), number).await?)
}
