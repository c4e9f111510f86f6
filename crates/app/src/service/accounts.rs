//! Customer accounts (operator and CLI only) and the first run.

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::{AccountName, AccountNumber, Role, secret};
use gatehouse_store::accounts::{self, Account};
use gatehouse_store::{NewUser, Scope, StoreError, Users, audit};

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<Account>> {
    caller.require_operator("manage accounts")?;
    let mut conn = st.store.conn().await?;
    Ok(accounts::list(&mut conn).await?)
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: gatehouse_domain::AccountId,
) -> Result<Account> {
    match caller.scope() {
        Scope::All => {}
        Scope::Account(a) if a == id => {}
        _ => return Err(AppError::NotFound),
    }
    let mut conn = st.store.conn().await?;
    Ok(accounts::get(&mut conn, id).await?)
}

/// The id of the account with this number (for a user created into it;
/// the creation checks whether the caller may). 404 if there is none.
pub async fn id_of_number(
    st: &AppState,
    number: &AccountNumber,
) -> Result<gatehouse_domain::AccountId> {
    let mut conn = st.store.conn().await?;
    Ok(accounts::find_by_number(&mut conn, number.as_str())
        .await?
        .id)
}

/// Creates a customer account with a fresh account number.
pub async fn create(st: &AppState, caller: &Caller, name: &str) -> Result<Account> {
    caller.require_operator("manage accounts")?;
    let name = AccountName::parse(name)?;
    create_inner(st, caller, &name, false).await
}

async fn create_inner(
    st: &AppState,
    caller: &Caller,
    name: &AccountName,
    provider: bool,
) -> Result<Account> {
    let now = st.now();
    // A random number may collide with an existing one; try a few.
    for _ in 0..8 {
        let number = AccountNumber::generate();
        let mut tx = st.store.begin().await?;
        match accounts::create(&mut tx, number.as_str(), name.as_str(), provider, now).await {
            Ok(id) => {
                let rec = caller.audit(
                    now,
                    "account_create",
                    format!("account:{} ({})", id.0, number),
                    "success",
                    Some(id.0),
                    name.as_str(),
                );
                audit::append(&mut tx, &rec).await?;
                let acc = accounts::get(&mut tx, id).await?;
                tx.commit().await?;
                return Ok(acc);
            }
            Err(StoreError::Conflict { field: "number" }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(
        "could not find a free account number".into(),
    ))
}

/// What the first start created.
pub struct FirstRun {
    pub account: Account,
    pub username: String,
    pub one_time_password: String,
}

/// On the very first start: the provider's own account and an operator
/// with a one-time password that must be changed at first sign-in.
/// Returns `None` when an operator already exists.
pub async fn first_run(st: &AppState) -> Result<Option<FirstRun>> {
    {
        let mut conn = st.store.conn().await?;
        if Users::any_operator(&mut conn).await? {
            return Ok(None);
        }
    }
    let caller = Caller::system();
    let existing = {
        let mut conn = st.store.conn().await?;
        accounts::provider(&mut conn).await?
    };
    let account = match existing {
        Some(a) => a,
        None => create_inner(st, &caller, &AccountName::parse("Provider")?, true).await?,
    };
    let otp = secret::one_time_password();
    let pw = otp.clone();
    let phc = st
        .hashing(move || gatehouse_domain::password::hash(&pw))
        .await?;
    let now = st.now();
    let users = Users::system();
    let mut tx = st.store.begin().await?;
    let id = users
        .create(
            &mut tx,
            &NewUser {
                account_id: account.id,
                username: "operator",
                email: "operator@localhost.localdomain",
                name: "Operator",
                role: Role::Operator,
                password_hash: &phc,
                must_change_password: true,
            },
            now,
        )
        .await?;
    let rec = caller.audit(
        now,
        "user_create",
        format!("user:{} (operator)", id.0),
        "success",
        Some(account.id.0),
        "first run: operator with one-time password",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(Some(FirstRun {
        account,
        username: "operator".into(),
        one_time_password: otp,
    }))
}
