//! User administration: the Users screen's actions (SPEC §1, §2).

use super::{Caller, target_user, user_target};
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::{
    AccountId, DisplayName, Email, Role, UserId, UserStatus, Username, password, secret,
};
use gatehouse_store::users::UserPage;
use gatehouse_store::{NewUser, User, UserPatch, Users, accounts, audit, sessions, tokens};

pub const PER_PAGE: i64 = 25;

pub async fn list(
    st: &AppState,
    caller: &Caller,
    query: &str,
    account: Option<AccountId>,
    page: i64,
) -> Result<UserPage> {
    caller.require_admin("manage users")?;
    let query = gatehouse_domain::text::search("query", query)?;
    // Only the operator narrows by account; an administrator's scope is
    // already their account.
    let account = account.filter(|_| caller.scope() == gatehouse_store::Scope::All);
    let mut conn = st.store.conn().await?;
    Ok(Users::new(caller.scope())
        .list(&mut conn, &query, account, page, PER_PAGE)
        .await?)
}

pub async fn get(st: &AppState, caller: &Caller, id: UserId) -> Result<User> {
    let mut conn = st.store.conn().await?;
    Ok(Users::new(caller.scope()).get(&mut conn, id).await?)
}

/// What the Add User form and `POST /api/v1/users` supply.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    /// The account; administrators may omit it (their own).
    pub account: Option<AccountId>,
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: String,
    /// The initial password; `None` generates a one-time password.
    pub password: Option<String>,
    /// Require a new password at first sign-in.
    pub must_change_password: bool,
}

/// The new user, and the generated one-time password if one was made.
pub struct Created {
    pub user: User,
    pub one_time_password: Option<String>,
}

/// Checks that `caller` may give `role` to a user of `account`.
async fn check_role_assignment(
    st: &AppState,
    caller: &Caller,
    account: AccountId,
    role: Role,
) -> Result<()> {
    if role == Role::Operator {
        if !caller.is_operator() {
            return Err(AppError::Forbidden(
                "Only the provider's operators can create operators.".into(),
            ));
        }
        let mut conn = st.store.conn().await?;
        let acc = accounts::get(&mut conn, account).await?;
        if !acc.is_provider {
            return Err(AppError::invalid(
                "role",
                "Operators belong to the provider's own account.",
            ));
        }
    }
    Ok(())
}

pub async fn create(st: &AppState, caller: &Caller, input: CreateUser) -> Result<Created> {
    caller.require_admin("manage users")?;
    let account = match (caller.scope(), input.account) {
        (gatehouse_store::Scope::Account(own), None) => own,
        (gatehouse_store::Scope::Account(own), Some(a)) if a == own => own,
        (gatehouse_store::Scope::Account(_), Some(_)) => return Err(AppError::NotFound),
        (_, Some(a)) => a,
        (_, None) => return Err(AppError::invalid("account", "Choose the account.")),
    };
    let username = Username::parse(&input.username)?;
    let email = Email::parse(&input.email)?;
    let name = DisplayName::parse(&input.name)?;
    let role = Role::parse(&input.role)?;
    check_role_assignment(st, caller, account, role).await?;
    let (pw, generated) = match input.password.filter(|p| !p.is_empty()) {
        Some(p) => {
            password::check_policy(&p, &[username.as_str(), email.as_str()])?;
            (p, None)
        }
        None => {
            let p = secret::one_time_password();
            (p.clone(), Some(p))
        }
    };
    let must_change = input.must_change_password || generated.is_some();
    let phc = st.hashing(move || password::hash(&pw)).await?;
    let now = st.now();
    let users = Users::new(caller.scope());
    let mut tx = st.store.begin().await?;
    {
        // The account must exist (the operator may name any).
        accounts::get(&mut tx, account).await?;
    }
    let id = users
        .create(
            &mut tx,
            &NewUser {
                account_id: account,
                username: username.as_str(),
                email: email.as_str(),
                name: name.as_str(),
                role,
                password_hash: &phc,
                must_change_password: must_change,
            },
            now,
        )
        .await?;
    let user = users.get(&mut tx, id).await?;
    let rec = caller.audit(
        now,
        "user_create",
        user_target(&user),
        "success",
        Some(account.0),
        format!("role {}", role.as_str()),
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(Created {
        user,
        one_time_password: generated,
    })
}

/// What an edit supplies; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct EditUser {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub status: Option<String>,
}

pub async fn update(st: &AppState, caller: &Caller, id: UserId, input: EditUser) -> Result<User> {
    let users = Users::new(caller.scope());
    let current = {
        let mut conn = st.store.conn().await?;
        target_user(&mut conn, caller, id).await?
    };
    let mut patch = UserPatch::default();
    if let Some(e) = &input.email {
        patch.email = Some(Email::parse(e)?.as_str().to_owned());
    }
    if let Some(n) = &input.name {
        patch.name = Some(DisplayName::parse(n)?.as_str().to_owned());
    }
    if let Some(r) = &input.role {
        let role = Role::parse(r)?;
        if role != current.role {
            if caller.user_id() == Some(id) {
                return Err(AppError::invalid(
                    "role",
                    "You cannot change your own role.",
                ));
            }
            check_role_assignment(st, caller, current.account_id, role).await?;
            patch.role = Some(role);
        }
    }
    if let Some(s) = &input.status {
        let status = UserStatus::parse(s)?;
        if status != current.status {
            if caller.user_id() == Some(id) {
                return Err(AppError::invalid(
                    "status",
                    "You cannot disable your own user.",
                ));
            }
            patch.status = Some(status);
        }
    }
    let now = st.now();
    let mut tx = st.store.begin().await?;
    // Again inside the write: the target may have become an operator since.
    target_user(&mut tx, caller, id).await?;
    users.update(&mut tx, id, &patch, now).await?;
    let mut changes = Vec::new();
    if patch.email.as_ref().is_some_and(|e| *e != current.email) {
        changes.push("email".to_owned());
    }
    if patch.name.as_ref().is_some_and(|n| *n != current.name) {
        changes.push("name".to_owned());
    }
    if let Some(r) = patch.role {
        changes.push(format!("role {} -> {}", current.role.as_str(), r.as_str()));
    }
    let action = match patch.status {
        Some(UserStatus::Disabled) => {
            sessions::delete_for_user(&mut tx, id, None).await?;
            // A disabled user's API tokens end for good (enabling the
            // user again does not bring them back).
            let ended = tokens::revoke_for_user(&mut tx, id, now).await?;
            if ended > 0 {
                changes.push(format!("{ended} API tokens revoked"));
            }
            "user_disable"
        }
        Some(UserStatus::Active) => "user_enable",
        None => "user_update",
    };
    let rec = caller.audit(
        now,
        action,
        user_target(&current),
        "success",
        Some(current.account_id.0),
        changes.join(", "),
    );
    audit::append(&mut tx, &rec).await?;
    let user = users.get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn set_status(
    st: &AppState,
    caller: &Caller,
    id: UserId,
    status: UserStatus,
) -> Result<User> {
    update(
        st,
        caller,
        id,
        EditUser {
            status: Some(status.as_str().into()),
            ..Default::default()
        },
    )
    .await
}

pub async fn delete(st: &AppState, caller: &Caller, id: UserId) -> Result<()> {
    caller.require_admin("manage users")?;
    if caller.user_id() == Some(id) {
        return Err(AppError::invalid(
            "user",
            "You cannot delete your own user.",
        ));
    }
    let users = Users::new(caller.scope());
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let current = target_user(&mut tx, caller, id).await?;
    // A deleted user's external authentication ends with them: billing
    // stops today and the credential goes back to the inventory.
    let mut ended = Vec::new();
    for m in gatehouse_domain::Method::ALL {
        if gatehouse_store::orders::end(&mut tx, &current, m, now).await? {
            ended.push(m.label());
        }
    }
    if let Some(c) = gatehouse_store::credentials::for_user(&mut tx, &current).await? {
        gatehouse_store::credentials::unassign(&mut tx, c.id).await?;
    }
    users.delete(&mut tx, id).await?;
    let detail = if ended.is_empty() {
        String::new()
    } else {
        format!("ended: {}", ended.join(", "))
    };
    let rec = caller.audit(
        now,
        "user_delete",
        user_target(&current),
        "success",
        Some(current.account_id.0),
        detail,
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives the user a new one-time password that must be changed at the next
/// sign-in; ends their sessions and lifts a lockout. Returns the password,
/// to be shown once.
pub async fn reset_password(st: &AppState, caller: &Caller, id: UserId) -> Result<String> {
    caller.require_admin("manage users")?;
    if caller.user_id() == Some(id) {
        return Err(AppError::invalid(
            "user",
            "Use Change password for your own user; a reset would sign you out.",
        ));
    }
    let users = Users::new(caller.scope());
    {
        let mut conn = st.store.conn().await?;
        target_user(&mut conn, caller, id).await?;
    }
    let otp = secret::one_time_password();
    let pw = otp.clone();
    let phc = st.hashing(move || password::hash(&pw)).await?;
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let current = target_user(&mut tx, caller, id).await?;
    users.set_password(&mut tx, id, &phc, true, now).await?;
    sessions::delete_for_user(&mut tx, id, None).await?;
    // A reset is for a password that may be known to someone else: what
    // was opened with it ends, API tokens included.
    let ended = tokens::revoke_for_user(&mut tx, id, now).await?;
    let rec = caller.audit(
        now,
        "password_reset",
        user_target(&current),
        "success",
        Some(current.account_id.0),
        if ended > 0 {
            format!("one-time password issued; {ended} API tokens revoked")
        } else {
            "one-time password issued".to_owned()
        },
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(otp)
}
