//! Application services: the flows of the portal, shared by pages, the API
//! and the CLI. Each checks permissions, writes in one transaction and
//! records its audit entry in that same transaction.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod credentials;
pub mod delivery;
pub mod orders;
pub mod phonefactor;
pub mod tokens;
pub mod users;
pub mod validate;
pub mod virtual_phone;

use crate::error::{AppError, Result};
use gatehouse_domain::audit::AuditRecord;
use gatehouse_domain::{Role, Timestamp, UserId};
use gatehouse_store::{Conn, Scope, User, Users};

/// The way a caller reached the application. Rights never come from the
/// channel alone, except for the command line (whoever runs it with the
/// configuration and the database has the operator's rights) — and a
/// `Cli` channel is only made by [`Caller::cli`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The command line on the server.
    Cli,
    /// The portal's pages.
    Web,
    /// The JSON API (sessions, bearer tokens, API clients, device and
    /// telephony callbacks).
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Web => "web",
            Channel::Api => "api",
        }
    }
}

/// Who is acting, and from where: the subject of permission checks and of
/// audit entries.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: Option<User>,
    pub addr: String,
    /// How the caller came in.
    pub via: Channel,
    /// The API client (validation API) acting, by name.
    pub client: Option<String>,
    /// Its id: names need not be unique, limits are kept per client.
    pub client_id: Option<i64>,
}

impl Caller {
    /// The command line, run by whoever operates the server: all rights.
    pub fn cli() -> Self {
        Self {
            user: None,
            addr: "local".into(),
            via: Channel::Cli,
            client: None,
            client_id: None,
        }
    }

    pub fn anonymous(addr: impl Into<String>, via: Channel) -> Self {
        Self {
            user: None,
            addr: addr.into(),
            via,
            client: None,
            client_id: None,
        }
    }

    pub fn user(user: User, addr: impl Into<String>, via: Channel) -> Self {
        Self {
            user: Some(user),
            addr: addr.into(),
            via,
            client: None,
            client_id: None,
        }
    }

    /// An API client of the validation API: no user rights at all.
    pub fn api_client(id: i64, name: impl Into<String>, addr: impl Into<String>) -> Self {
        Self {
            user: None,
            addr: addr.into(),
            via: Channel::Api,
            client: Some(name.into()),
            client_id: Some(id),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match (&self.user, self.via) {
            (Some(u), _) => Some(u.role),
            (None, Channel::Cli) => Some(Role::Operator),
            _ => None,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.role() == Some(Role::Operator)
    }

    /// Administrators (of an account, or the operator) only; `what` finishes
    /// "Only administrators can …".
    pub fn require_admin(&self, what: &str) -> crate::error::Result<()> {
        match self.role() {
            Some(r) if r.is_admin() => Ok(()),
            Some(_) => Err(crate::error::AppError::Forbidden(format!(
                "Only administrators can {what}."
            ))),
            None => Err(crate::error::AppError::Unauthorized(
                "Sign in first.".into(),
            )),
        }
    }

    /// The provider's operators only; `what` finishes "Only the provider's
    /// operators …".
    pub fn require_operator(&self, what: &str) -> crate::error::Result<()> {
        match self.role() {
            Some(Role::Operator) => Ok(()),
            Some(_) => Err(crate::error::AppError::Forbidden(format!(
                "Only the provider's operators {what}."
            ))),
            None => Err(crate::error::AppError::Unauthorized(
                "Sign in first.".into(),
            )),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The users this caller may reach (STYLE: role-limited views).
    pub fn scope(&self) -> Scope {
        match &self.user {
            None if self.via == Channel::Cli => Scope::All,
            // Anonymous callers reach no one: id -1 never exists.
            None => Scope::Own(UserId(-1)),
            Some(u) => match u.role {
                Role::Operator => Scope::All,
                Role::Admin => Scope::Account(u.account_id),
                Role::User => Scope::Own(u.id),
            },
        }
    }

    /// An audit record for an action by this caller.
    pub fn audit(
        &self,
        now: Timestamp,
        action: &str,
        target: impl Into<String>,
        outcome: &str,
        account_id: Option<i64>,
        detail: impl Into<String>,
    ) -> AuditRecord {
        AuditRecord {
            at: now,
            actor_id: self.user.as_ref().map(|u| u.id.0),
            actor: match (&self.user, &self.client, self.via) {
                (Some(u), _, _) => u.username.clone(),
                (None, Some(c), _) => format!("api-client:{c}"),
                (None, None, Channel::Cli) => "cli".into(),
                (None, None, _) => "anonymous".into(),
            },
            account_id,
            action: action.into(),
            target: target.into(),
            client_addr: self.addr.clone(),
            outcome: outcome.into(),
            detail: detail.into(),
        }
    }
}

/// The user `id` as the target of an administrative action by `caller`:
/// every service that modifies a user, or runs a second-factor recovery
/// action on one, reaches them through here. Applies the caller's scope
/// (another account's user is not found) and the role rule of
/// [`Role::may_administer`] (only operators act on operators). Takes a
/// connection so that a service can call it inside its write transaction.
pub async fn target_user(conn: &mut Conn, caller: &Caller, id: UserId) -> Result<User> {
    let Some(role) = caller.role() else {
        return Err(AppError::Unauthorized("Sign in first.".into()));
    };
    if !role.is_admin() {
        return Err(AppError::Forbidden(
            "Only administrators can manage users.".into(),
        ));
    }
    let user = Users::new(caller.scope()).get(conn, id).await?;
    if !role.may_administer(user.role) {
        return Err(AppError::Forbidden(
            "Only the provider's operators can change an operator or their sign-in.".into(),
        ));
    }
    Ok(user)
}

/// `user:42 (carol)`, the audit target for a user.
pub fn user_target(u: &User) -> String {
    format!("user:{} ({})", u.id.0, u.username)
}
