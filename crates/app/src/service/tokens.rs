//! Bearer API tokens (SPEC §5, §11 `api-token`): a token acts with its
//! user's rights until it expires, is revoked, or its user is disabled,
//! deleted or gets a new password.
//!
//! Who manages which tokens: the provider's operators (and the command
//! line) all of them; everyone else their own. An account administrator
//! may in addition list and revoke the tokens of their account's users
//! (never an operator's), but creates tokens only for themselves: a token
//! for someone else would let the administrator act as that user unseen.

use super::{Caller, target_user, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::{Role, Timestamp, UserId, UserStatus, Username, secret};
use gatehouse_store::tokens::{self, ApiToken, TokenFilter};
use gatehouse_store::{Scope, StoreError, User, Users, audit};

/// Lifetime of a token when none is asked for (SPEC §11).
pub const DEFAULT_DAYS: i64 = 90;
/// The longest lifetime a token may be given.
pub const MAX_DAYS: i64 = 366;
/// Every token starts with this, so that it is recognisable in a leak scan.
pub const PREFIX: &str = "gh_t_";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn invalid_token() -> AppError {
    AppError::Unauthorized("The API token is not valid (unknown, expired or revoked).".into())
}

/// The user a bearer token acts for, if the token is live and its user
/// active. Every refusal has the same answer.
pub async fn authenticate(st: &AppState, token: &str) -> Result<User> {
    let token = token.trim();
    if !token.starts_with(PREFIX) {
        return Err(invalid_token());
    }
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let id = match tokens::user_for(&mut conn, &secret::digest(token), now).await {
        Ok(id) => id,
        Err(StoreError::NotFound) => return Err(invalid_token()),
        Err(e) => return Err(e.into()),
    };
    let user = match Users::system().get(&mut conn, id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Err(invalid_token()),
        Err(e) => return Err(e.into()),
    };
    if user.status != UserStatus::Active {
        return Err(invalid_token());
    }
    Ok(user)
}

/// A token just made: its record, and the secret, shown this once.
pub struct Created {
    pub token: ApiToken,
    pub secret: String,
}

/// Makes a token for `user_id`; `name` is a label (default `api`),
/// `expires_in_days` 1 to [`MAX_DAYS`] (default [`DEFAULT_DAYS`]).
pub async fn create(
    st: &AppState,
    caller: &Caller,
    user_id: UserId,
    name: Option<&str>,
    expires_in_days: Option<i64>,
) -> Result<Created> {
    let days = expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "expires_in_days",
            format!("A token lasts from 1 to {MAX_DAYS} days."),
        ));
    }
    let name = gatehouse_domain::text::line("name", name.unwrap_or(""), 100, "A token's name")?;
    let name = if name.is_empty() {
        "api"
    } else {
        name.as_str()
    };
    let now = st.now();
    let expires = Timestamp(now.millis().saturating_add(days.saturating_mul(DAY_MS)));
    let mut tx = st.store.begin().await?;
    let user = if caller.is_operator() {
        target_user(&mut tx, caller, user_id).await?
    } else if caller.user_id() == Some(user_id) {
        caller
            .user_ref()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?
    } else {
        return Err(match caller.role() {
            None => AppError::Unauthorized("Sign in first.".into()),
            Some(_) => AppError::Forbidden("You can create API tokens only for yourself.".into()),
        });
    };
    if user.status != UserStatus::Active {
        return Err(AppError::invalid(
            "username",
            format!(
                "{} is disabled; a token for them would not work.",
                user.username
            ),
        ));
    }
    let secret = secret::new_token(PREFIX);
    let id = tokens::create(
        &mut tx,
        user.id,
        name,
        &secret::digest(&secret),
        now,
        expires,
    )
    .await?;
    let rec = caller.audit(
        now,
        "api_token_create",
        user_target(&user),
        "success",
        Some(user.account_id.0),
        format!("token {id} \"{name}\", expires {}", expires.to_rfc3339()),
    );
    audit::append(&mut tx, &rec).await?;
    let token = tokens::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Created { token, secret })
}

/// The live tokens the caller may see: of `user` if given (which must be
/// in reach), otherwise all of them in reach (everything for operators,
/// the account for administrators, one's own for users).
pub async fn list(st: &AppState, caller: &Caller, user: Option<UserId>) -> Result<Vec<ApiToken>> {
    let role = caller
        .role()
        .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?;
    let now = st.now();
    let mut conn = st.store.conn().await?;
    let filter = match user {
        Some(id) if caller.user_id() == Some(id) => TokenFilter::User(id),
        Some(id) if role.is_admin() => {
            // In scope: another account's user is not found; nor is an
            // operator for an administrator (as in `revoke`).
            let u = Users::new(caller.scope()).get(&mut conn, id).await?;
            if !role.may_administer(u.role) {
                return Err(AppError::NotFound);
            }
            TokenFilter::User(id)
        }
        Some(_) => return Err(AppError::NotFound),
        None => match caller.scope() {
            Scope::All | Scope::System => TokenFilter::All,
            Scope::Account(a) => TokenFilter::Account(a),
            Scope::Own(u) => TokenFilter::User(u),
            Scope::Nobody => return Err(AppError::Unauthorized("Sign in first.".into())),
        },
    };
    let mut live = tokens::list_live(&mut conn, filter, now).await?;
    if let TokenFilter::Account(_) = filter {
        // An administrator of the provider's own account has the
        // operators in scope, but their tokens are out of reach.
        let mut reachable = std::collections::HashMap::new();
        let mut kept = Vec::with_capacity(live.len());
        for t in live {
            let ok = match reachable.get(&t.user_id) {
                Some(ok) => *ok,
                None => {
                    let u = Users::new(caller.scope()).get(&mut conn, t.user_id).await?;
                    let ok = caller.user_id() == Some(u.id) || role.may_administer(u.role);
                    reachable.insert(t.user_id, ok);
                    ok
                }
            };
            if ok {
                kept.push(t);
            }
        }
        live = kept;
    }
    Ok(live)
}

/// Revokes a live token: the caller's own, or one they may administer.
/// A token out of reach is not found, like one that does not exist.
pub async fn revoke(st: &AppState, caller: &Caller, id: i64) -> Result<()> {
    let role = caller
        .role()
        .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let token = match tokens::get(&mut tx, id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let owner = if caller.user_id() == Some(token.user_id) {
        caller
            .user_ref()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?
    } else if role.is_admin() {
        match target_user(&mut tx, caller, token.user_id).await {
            Ok(u) => u,
            // An operator's token is out of an administrator's reach, and
            // so not theirs to know of.
            Err(AppError::Forbidden(_)) if role != Role::Operator => {
                return Err(AppError::NotFound);
            }
            Err(e) => return Err(e),
        }
    } else {
        return Err(AppError::NotFound);
    };
    if !tokens::revoke(&mut tx, token.id, now).await? {
        return Err(AppError::Conflict {
            field: None,
            message: format!("API token {id} has already ended (revoked or expired)."),
        });
    }
    let rec = caller.audit(
        now,
        "api_token_revoke",
        user_target(&owner),
        "success",
        Some(owner.account_id.0),
        format!("token {id} \"{}\"", token.name),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// The user named `username` for a token call: 404 unless in the caller's
/// view (their account for administrators, everyone for operators,
/// themselves for users), so a username elsewhere is not revealed.
pub async fn owner_named(st: &AppState, caller: &Caller, username: &str) -> Result<UserId> {
    let name = Username::parse(username)?;
    if let Some(me) = caller.user_ref()
        && me.username == name.as_str()
    {
        return Ok(me.id);
    }
    let mut conn = st.store.conn().await?;
    let scope = match caller.scope() {
        Scope::Own(_) => return Err(AppError::NotFound),
        s => s,
    };
    Ok(Users::new(scope)
        .find_by_username(&mut conn, name.as_str())
        .await
        .map_err(|_| AppError::NotFound)?
        .id)
}
