//! Users, reached only through a [`Users`] view limited to a [`Scope`].

use crate::throttle::Reservation;
use crate::{Conn, Result, Scope, StoreError};
use gatehouse_domain::lockout::{LockoutPolicy, LoginCounters};
use gatehouse_domain::{AccountId, Role, Timestamp, UserId, UserStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A user as stored (without the password hash). Only this crate makes
/// one, from a scoped lookup: holding a `User` means a scope reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub account_number: String,
    pub account_name: String,
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    pub must_change_password: bool,
    pub counters: LoginCounters,
    pub last_login_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub account_id: AccountId,
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub must_change_password: bool,
}

/// Fields an edit may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// One page of a user listing.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub total: i64,
}

pub(crate) const COLUMNS: &str = "u.id, u.account_id, a.number, a.name, u.username, u.email, u.name, \
     u.role, u.status, u.must_change_password, u.failed_logins, u.lockouts, u.locked_until, \
     u.last_login_at, u.created_at";

fn from_row(r: &AnyRow) -> Result<User> {
    from_row_at(r, 0)
}

/// A user row's columns as read, before parsing (shared by the pooled
/// reads and the group-commit writer's).
pub(crate) struct Parts<'a> {
    pub id: i64,
    pub account_id: i64,
    pub account_number: String,
    pub account_name: String,
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: &'a str,
    pub status: &'a str,
    pub must_change_password: bool,
    pub failures: i64,
    pub lockouts: i64,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

/// The user from its columns; `Corrupt` for a role or status this
/// version does not know.
pub(crate) fn assemble(p: Parts<'_>) -> Result<User> {
    Ok(User {
        id: UserId(p.id),
        account_id: AccountId(p.account_id),
        account_number: p.account_number,
        account_name: p.account_name,
        username: p.username,
        email: p.email,
        name: p.name,
        role: Role::parse(p.role).map_err(|_| StoreError::Corrupt(format!("role {}", p.role)))?,
        status: UserStatus::parse(p.status)
            .map_err(|_| StoreError::Corrupt(format!("status {}", p.status)))?,
        must_change_password: p.must_change_password,
        counters: LoginCounters {
            failures: p.failures,
            lockouts: p.lockouts,
            locked_until: p.locked_until.map(Timestamp),
        },
        last_login_at: p.last_login_at.map(Timestamp),
        created_at: Timestamp(p.created_at),
    })
}

/// The record from the columns of `COLUMNS` starting at index `at`.
pub(crate) fn from_row_at(r: &AnyRow, at: usize) -> Result<User> {
    let role: String = r.try_get(at + 7)?;
    let status: String = r.try_get(at + 8)?;
    assemble(Parts {
        id: r.try_get(at)?,
        account_id: r.try_get(at + 1)?,
        account_number: r.try_get(at + 2)?,
        account_name: r.try_get(at + 3)?,
        username: r.try_get(at + 4)?,
        email: r.try_get(at + 5)?,
        name: r.try_get(at + 6)?,
        role: &role,
        status: &status,
        must_change_password: r.try_get::<i64, _>(at + 9)? != 0,
        failures: r.try_get(at + 10)?,
        lockouts: r.try_get(at + 11)?,
        locked_until: r.try_get(at + 12)?,
        last_login_at: r.try_get(at + 13)?,
        created_at: r.try_get(at + 14)?,
    })
}

/// A `LIKE … ESCAPE '\'` pattern for names containing `query`
/// (case-insensitively, against lower-cased columns).
fn like_pattern(query: &str) -> String {
    crate::contains_pattern(&query.trim().to_lowercase())
}

/// The users a scope may reach. Every query below binds the scope as
/// `(kind, account, user)` and filters with the same condition, so no
/// method can forget it.
#[derive(Debug, Clone, Copy)]
pub struct Users {
    scope: Scope,
}

use crate::scope::USER_CONDITION as SCOPE_CONDITION;

impl Users {
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    /// The application's own lookups (sign-in by name, callbacks, jobs):
    /// every account, never a caller's view.
    pub fn system() -> Self {
        Self {
            scope: Scope::System,
        }
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    fn scope_args(&self) -> (i64, i64, i64) {
        self.scope.args()
    }

    /// Users whose username, name or e-mail contains `query`
    /// (case-insensitive), ordered by username, `per_page` from `page` (1-based).
    pub async fn list(
        &self,
        conn: &mut Conn,
        query: &str,
        account: Option<AccountId>,
        page: i64,
        per_page: i64,
    ) -> Result<UserPage> {
        let (k, a, u) = self.scope_args();
        let pattern = like_pattern(query);
        let account_filter = account.map_or(0, |a| a.0);
        let filter = format!(
            "FROM users u JOIN accounts a ON a.id = u.account_id WHERE {SCOPE_CONDITION} \
             AND ($4 = 0 OR u.account_id = $4) \
             AND (LOWER(u.username) LIKE $5 ESCAPE '\\' OR LOWER(u.name) LIKE $5 ESCAPE '\\' \
                  OR LOWER(u.email) LIKE $5 ESCAPE '\\')"
        );
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
            .bind(k)
            .bind(a)
            .bind(u)
            .bind(account_filter)
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let offset = (page.max(1) - 1).saturating_mul(per_page);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} {filter} ORDER BY u.username LIMIT $6 OFFSET $7"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(account_filter)
        .bind(&pattern)
        .bind(per_page)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
        let users = rows.iter().map(from_row).collect::<Result<_>>()?;
        Ok(UserPage { users, total })
    }

    pub async fn get(&self, conn: &mut Conn, id: UserId) -> Result<User> {
        let (k, a, u) = self.scope_args();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE {SCOPE_CONDITION} AND u.id = $4"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    pub async fn find_by_username(&self, conn: &mut Conn, username: &str) -> Result<User> {
        let (k, a, u) = self.scope_args();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE {SCOPE_CONDITION} AND u.username = $4"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(username)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Creates a user. In an account scope the account must be the scope's;
    /// a user scope cannot create anyone.
    pub async fn create(
        &self,
        conn: &mut Conn,
        new: &NewUser<'_>,
        now: Timestamp,
    ) -> Result<UserId> {
        match self.scope {
            Scope::All | Scope::System => {}
            Scope::Account(a) if a == new.account_id => {}
            _ => return Err(StoreError::NotFound),
        }
        let id: i64 = sqlx::query(
            "INSERT INTO users (account_id, username, email, name, role, status, password_hash, \
             must_change_password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8) RETURNING id",
        )
        .bind(new.account_id.0)
        .bind(new.username)
        .bind(new.email)
        .bind(new.name)
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(i64::from(new.must_change_password))
        .bind(now.millis())
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        Ok(UserId(id))
    }

    pub async fn update(
        &self,
        conn: &mut Conn,
        id: UserId,
        patch: &UserPatch,
        now: Timestamp,
    ) -> Result<()> {
        let (k, a, u) = self.scope_args();
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET email = COALESCE($5, email), name = COALESCE($6, name), \
             role = COALESCE($7, role), status = COALESCE($8, status), updated_at = $9 \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(patch.email.as_deref())
        .bind(patch.name.as_deref())
        .bind(patch.role.map(Role::as_str))
        .bind(patch.status.map(UserStatus::as_str))
        .bind(now.millis())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Sets a new password hash; `must_change` forces a change at next sign-in.
    /// Also clears the lockout, as a reset by an administrator should.
    pub async fn set_password(
        &self,
        conn: &mut Conn,
        id: UserId,
        hash: &str,
        must_change: bool,
        now: Timestamp,
    ) -> Result<()> {
        let (k, a, u) = self.scope_args();
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET password_hash = $5, must_change_password = $6, failed_logins = 0, \
             locked_until = NULL, updated_at = $7 \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now.millis())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete(&self, conn: &mut Conn, id: UserId) -> Result<()> {
        let (k, a, u) = self.scope_args();
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM users WHERE id IN \
             (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The password hash, for sign-in and re-authentication.
    pub async fn password_hash(&self, conn: &mut Conn, id: UserId) -> Result<String> {
        let (k, a, u) = self.scope_args();
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT u.password_hash FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_get(0)?)
    }

    /// Stores the sign-in counters after a failure or lockout.
    pub async fn set_counters(&self, conn: &mut Conn, id: UserId, c: &LoginCounters) -> Result<()> {
        let (k, a, u) = self.scope_args();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET failed_logins = $5, lockouts = $6, locked_until = $7 \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(c.failures)
        .bind(c.lockouts)
        .bind(c.locked_until.map(|t| t.millis()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Reserves one password attempt (OWASP ASVS 2.2.1), before the
    /// password is checked: refused while the user is locked; otherwise the
    /// consecutive failures go up by one in the same statement. The attempt
    /// that reaches `policy.max_failures` locks the user at once (for the
    /// lockout's escalating time), so while it is being checked no other
    /// attempt gets in; `last` tells the caller, who undoes that lock with
    /// [`Users::password_accepted`] if the password turns out right.
    pub async fn reserve_password_attempt(
        &self,
        conn: &mut Conn,
        id: UserId,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> Result<Reservation> {
        let (k, a, u) = self.scope_args();
        // The lock time of the next lockout, by lockouts so far, tabulated
        // from the policy (integers formatted here, so inlining is safe).
        let mut durations = String::from("CASE lockouts");
        let mut n = 0;
        loop {
            let ms = policy.lock_minutes(n + 1).saturating_mul(60_000);
            durations.push_str(&format!(" WHEN {n} THEN {ms}"));
            if ms >= policy.max_minutes.saturating_mul(60_000) || n >= 20 {
                durations.push_str(&format!(" ELSE {ms} END"));
                break;
            }
            n += 1;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET \
               failed_logins = CASE WHEN failed_logins + 1 >= $5 THEN 0 \
                               ELSE failed_logins + 1 END, \
               lockouts = CASE WHEN failed_logins + 1 >= $5 THEN lockouts + 1 ELSE lockouts END, \
               locked_until = CASE WHEN failed_logins + 1 >= $5 THEN $6 + ({durations}) \
                              ELSE locked_until END \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4) \
               AND (locked_until IS NULL OR locked_until <= $6) \
             RETURNING failed_logins, locked_until"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(policy.max_failures)
        .bind(now.millis())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            let failures: i64 = r.try_get(0)?;
            let locked = r
                .try_get::<Option<i64>, _>(1)?
                .is_some_and(|t| t > now.millis());
            return Ok(Reservation::Reserved {
                count: if locked {
                    policy.max_failures
                } else {
                    failures
                },
                window_start: now,
                last: locked,
            });
        }
        // Refused (or no such user in this scope): say until when.
        let until = self
            .get(conn, id)
            .await?
            .counters
            .locked_until
            .unwrap_or(now);
        Ok(Reservation::Refused { until })
    }

    /// A right password: the consecutive failures start again from zero,
    /// and the lock that this attempt's own reservation set (`undo_lock`,
    /// the reservation's `last`) is lifted, as if it had never counted.
    pub async fn password_accepted(
        &self,
        conn: &mut Conn,
        id: UserId,
        undo_lock: bool,
    ) -> Result<()> {
        let (k, a, u) = self.scope_args();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET failed_logins = 0, \
               lockouts = CASE WHEN $5 = 1 AND lockouts > 0 THEN lockouts - 1 ELSE lockouts END, \
               locked_until = CASE WHEN $5 = 1 THEN NULL ELSE locked_until END \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(i64::from(undo_lock))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Records a successful sign-in: counters cleared, time noted.
    pub async fn record_sign_in(&self, conn: &mut Conn, id: UserId, now: Timestamp) -> Result<()> {
        let (k, a, u) = self.scope_args();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = NULL, \
             last_login_at = $5 \
             WHERE id IN (SELECT u.id FROM users u WHERE {SCOPE_CONDITION} AND u.id = $4)"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .bind(id.0)
        .bind(now.millis())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Whether any operator exists (first-run detection).
    pub async fn any_operator(conn: &mut Conn) -> Result<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'operator'")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    /// The number of users in an account (or all).
    pub async fn count(&self, conn: &mut Conn) -> Result<i64> {
        let (k, a, u) = self.scope_args();
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM users u WHERE {SCOPE_CONDITION}"
        )))
        .bind(k)
        .bind(a)
        .bind(u)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(super::like_pattern(" Al%_\\ "), "%al\\%\\_\\\\%");
    }
}
