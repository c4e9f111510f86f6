//! Which rows a query may reach. Every account-scoped read takes a
//! [`Scope`]; every per-user function takes a [`User`](crate::User), which
//! only comes out of a scoped lookup (the type cannot be built outside this
//! crate). So "an administrator of account A reads account B's rows" cannot
//! be written without naming another scope.
//!
//! A `User` cannot be made up outside this crate:
//!
//! ```compile_fail
//! use gatehouse_domain::{AccountId, Role, Timestamp, UserId, UserStatus};
//! let forged = gatehouse_store::User {
//!     id: UserId(7),
//!     account_id: AccountId(2),
//!     account_number: String::new(),
//!     account_name: String::new(),
//!     username: String::new(),
//!     email: String::new(),
//!     name: String::new(),
//!     role: Role::User,
//!     status: UserStatus::Active,
//!     must_change_password: false,
//!     counters: Default::default(),
//!     last_login_at: None,
//!     created_at: Timestamp(0),
//! };
//! ```

use gatehouse_domain::{AccountId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The application's own lookups: sign-in by name, telephony and device
    /// callbacks, background jobs. No caller is ever given this scope; it
    /// reaches every account, like [`Scope::All`], and is named apart so
    /// that each use stands out.
    System,
    /// The provider's operators and the command line: every account.
    All,
    /// An account administrator: that account only.
    Account(AccountId),
    /// A portal user: themselves only.
    Own(UserId),
    /// Anonymous callers and API clients: no one's rows.
    Nobody,
}

impl Scope {
    /// The scope as the `(kind, account, user)` triple bound by
    /// [`USER_CONDITION`]: kind 0 = all, 1 = one account, 2 = one user.
    /// [`Scope::Nobody`] is a user scope on id -1, which never exists.
    pub(crate) fn args(self) -> (i64, i64, i64) {
        match self {
            Scope::System | Scope::All => (0, 0, 0),
            Scope::Account(a) => (1, a.0, 0),
            Scope::Own(u) => (2, 0, u.0),
            Scope::Nobody => (2, 0, -1),
        }
    }

    /// For tables kept per account and read by administrators only
    /// (orders, billing, audit): `Some(0)` for every account, `Some(id)`
    /// for one, `None` when the scope reaches no account as a whole.
    pub(crate) fn account_arg(self) -> Option<i64> {
        match self {
            Scope::System | Scope::All => Some(0),
            Scope::Account(a) => Some(a.0),
            Scope::Own(_) | Scope::Nobody => None,
        }
    }

    /// Whether this scope reaches every account.
    pub fn is_all(self) -> bool {
        matches!(self, Scope::System | Scope::All)
    }
}

/// The condition over users `u` for a scope bound as `$1, $2, $3`
/// ([`Scope::args`]).
pub(crate) const USER_CONDITION: &str =
    "($1 = 0 OR ($1 = 1 AND u.account_id = $2) OR ($1 = 2 AND u.id = $3))";
