//! The validation API for integrations (VPN, other applications): is this
//! user's Security Code (and optionally password) right, right now?

use super::Caller;
use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::{UserStatus, Username, password, secret};
use gatehouse_store::{Scope, StoreError, Users, api_clients, audit};

/// Creates an API client; returns its secret, shown once.
pub async fn create_client(st: &AppState, caller: &Caller, name: &str) -> Result<String> {
    if !caller.is_operator() {
        return Err(AppError::Forbidden(
            "Only operators create API clients.".into(),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::invalid(
            "name",
            "Give the client a name of 1 to 100 characters.",
        ));
    }
    let token = secret::new_token("gh_c_");
    let now = st.now();
    let mut tx = st.store.begin().await?;
    api_clients::create(&mut tx, name, &secret::digest(&token), now).await?;
    let rec = caller.audit(
        now,
        "api_client_create",
        format!("api-client:{name}"),
        "success",
        None,
        "",
    );
    audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(token)
}

/// The API client a bearer secret belongs to.
pub async fn authenticate_client(
    st: &AppState,
    bearer: Option<&str>,
    addr: &str,
) -> Result<Caller> {
    let invalid = || {
        AppError::Unauthorized(
            "A valid API client secret is required (Authorization: Bearer …).".into(),
        )
    };
    let token = bearer.ok_or_else(invalid)?;
    let mut conn = st.store.conn().await?;
    match api_clients::by_secret(&mut conn, &secret::digest(token)).await {
        Ok((_, name)) => Ok(Caller::api_client(name, addr)),
        Err(StoreError::NotFound) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

/// `true` when the user exists, is active, has a credential, the code is
/// right under the usual rules (replay, lock, temporary code) and, if given,
/// the password is right too.
pub async fn validate(
    st: &AppState,
    client: &Caller,
    username: &str,
    code: &str,
    password_input: Option<&str>,
) -> Result<bool> {
    let Ok(name) = Username::parse(username) else {
        return Ok(false);
    };
    let (user, phc) = {
        let mut conn = st.store.conn().await?;
        let users = Users::new(Scope::All);
        match users.find_by_username(&mut conn, name.as_str()).await {
            Ok(u) => {
                let phc = match password_input {
                    Some(_) => Some(users.password_hash(&mut conn, u.id).await?),
                    None => None,
                };
                (u, phc)
            }
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    };
    if user.status != UserStatus::Active {
        return Ok(false);
    }
    if let (Some(pw), Some(phc)) = (password_input, phc) {
        let pw = pw.to_owned();
        if st.config.lockout.is_locked(&user.counters, st.now())
            || !st.hashing(move || password::verify(&pw, &phc)).await?
        {
            return Ok(false);
        }
    }
    super::credentials::check_security_code(st, client, &user, code).await
}
