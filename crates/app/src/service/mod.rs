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
pub mod radius;
pub mod sessions;
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
    /// The RADIUS front end.
    Radius,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Radius => "radius",
        }
    }
}

/// Who is acting. Rights come from the actor; the channel only says how it
/// came in.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The application itself: first-run set-up, background jobs, start-up
    /// checks. Never made from a request.
    System,
    /// The command line on the server, run by whoever holds the
    /// configuration and the database: the operator's rights.
    Cli,
    /// A signed-in portal user (by session or bearer token).
    User(User),
    /// An API client of the validation API: no user rights at all. Names
    /// need not be unique; limits are kept per id.
    ApiClient { id: i64, name: String },
    /// A RADIUS client (a VPN concentrator, a gateway): no user rights; it
    /// authenticates users of its own account only.
    RadiusClient {
        id: i64,
        name: String,
        account: gatehouse_domain::AccountId,
    },
    /// Nobody signed in (sign-in forms, telephony and device callbacks).
    Anonymous,
}

/// Who is acting, and from where: the subject of permission checks and of
/// audit entries. The only source of a caller's [`Scope`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub addr: String,
    /// How the caller came in.
    pub via: Channel,
}

impl Caller {
    /// The command line, run by whoever operates the server: all rights.
    pub fn cli() -> Self {
        Self {
            actor: Actor::Cli,
            addr: "local".into(),
            via: Channel::Cli,
        }
    }

    /// The application acting on its own (first run, jobs, start-up).
    pub fn system() -> Self {
        Self {
            actor: Actor::System,
            addr: "local".into(),
            via: Channel::Cli,
        }
    }

    pub fn anonymous(addr: impl Into<String>, via: Channel) -> Self {
        Self {
            actor: Actor::Anonymous,
            addr: addr.into(),
            via,
        }
    }

    pub fn user(user: User, addr: impl Into<String>, via: Channel) -> Self {
        Self {
            actor: Actor::User(user),
            addr: addr.into(),
            via,
        }
    }

    /// An API client of the validation API: no user rights at all.
    pub fn api_client(id: i64, name: impl Into<String>, addr: impl Into<String>) -> Self {
        Self {
            actor: Actor::ApiClient {
                id,
                name: name.into(),
            },
            addr: addr.into(),
            via: Channel::Api,
        }
    }

    /// The signed-in user acting, if any.
    pub fn user_ref(&self) -> Option<&User> {
        match &self.actor {
            Actor::User(u) => Some(u),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::User(u) => Some(u.role),
            Actor::Cli | Actor::System => Some(Role::Operator),
            Actor::ApiClient { .. } | Actor::RadiusClient { .. } | Actor::Anonymous => None,
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
        self.user_ref().map(|u| u.id)
    }

    /// The rows this caller may reach (STYLE: role-limited views). Every
    /// account-scoped read and write of a caller goes through it; the
    /// application's own lookups use [`Scope::System`] instead, which no
    /// caller is ever given.
    pub fn scope(&self) -> Scope {
        match &self.actor {
            Actor::Cli | Actor::System => Scope::All,
            // Anonymous callers and API clients reach no one's rows.
            Actor::ApiClient { .. } | Actor::RadiusClient { .. } | Actor::Anonymous => {
                Scope::Nobody
            }
            Actor::User(u) => match u.role {
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
            actor_id: self.user_id().map(|id| id.0),
            actor: match &self.actor {
                Actor::User(u) => u.username.clone(),
                Actor::ApiClient { name, .. } => format!("api-client:{name}"),
                Actor::RadiusClient { name, .. } => format!("radius:{name}"),
                Actor::Cli => "cli".into(),
                Actor::System => "system".into(),
                Actor::Anonymous => "anonymous".into(),
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
