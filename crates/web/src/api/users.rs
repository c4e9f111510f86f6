use super::{ApiJson, page_or_first};
use crate::AppState;
use crate::error::Result;
use crate::extract::ApiCaller;
use crate::service::users::{self, CreateUser, EditUser};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_app::model::User;
use gatehouse_domain::{AccountId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub account_number: String,
    pub account_name: String,
    pub username: String,
    pub email: String,
    pub name: String,
    /// `operator`, `admin` or `user`.
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Set when the user must choose a new password at the next sign-in.
    pub must_change_password: bool,
    /// Ordered external authentication, one entry per method.
    pub external_authentication: Vec<ExternalAuthDto>,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

/// One external authentication method of a user.
#[derive(Serialize, ToSchema)]
pub struct ExternalAuthDto {
    /// `symantec_vip` or `phonefactor`.
    pub method: String,
    pub state: String,
    pub credential_id: Option<String>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            account_number: u.account_number.clone(),
            account_name: u.account_name.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str().into(),
            status: u.status.as_str().into(),
            must_change_password: u.must_change_password,
            external_authentication: vec![],
            created_at: u.created_at.to_rfc3339(),
            last_login_at: u.last_login_at.map(|t| t.to_rfc3339()),
        }
    }
}

impl UserDto {
    /// Adds the user's external authentication.
    pub fn with_external(
        mut self,
        ext: Option<&Vec<crate::service::orders::ExternalAuth>>,
    ) -> Self {
        self.external_authentication = ext
            .map(|v| {
                v.iter()
                    .map(|e| ExternalAuthDto {
                        method: e.method.as_str().into(),
                        state: e.state.as_str().into(),
                        credential_id: e.credential_id.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Part of a username, name or e-mail address (case-insensitive).
    pub query: Option<String>,
    /// 1-based page of 25 users.
    pub page: Option<i64>,
    /// Operator only: limit to one account (its internal id).
    pub account: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserDto>,
    /// Users matching the query, over all pages.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// The users the caller administers (their account; all for the operator).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = UserList), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn user_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<UserList>> {
    let page = page_or_first(q.page);
    let result = users::list(
        &st,
        &caller,
        q.query.as_deref().unwrap_or(""),
        q.account.map(AccountId),
        page,
    )
    .await?;
    let ext = crate::service::orders::external_auth_for(&st, &result.users).await?;
    Ok(Json(UserList {
        users: result
            .users
            .iter()
            .map(|u| UserDto::from(u).with_external(ext.get(&u.id)))
            .collect(),
        total: result.total,
        page,
        per_page: users::PER_PAGE,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "name": "Alice Example", "role": "user", "password": "correct horse battery staple"}))]
pub struct UserCreate {
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// `admin` or `user` (operators may also create `operator`s in the
    /// provider's account).
    pub role: String,
    /// Initial password (policy: at least 12 characters, not a common
    /// password). Omit it to have a one-time password generated.
    pub password: Option<String>,
    /// Require a new password at first sign-in (default false; always true
    /// for a generated one-time password).
    #[serde(default)]
    pub must_change_password: bool,
    /// Operator only: the account's number (administrators: their own).
    pub account_number: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserCreated {
    #[serde(flatten)]
    pub user: UserDto,
    /// Present when the password was generated; shown only this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = UserCreated), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn user_create(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<Response> {
    let account = match &req.account_number {
        Some(n) => {
            let number = gatehouse_domain::AccountNumber::parse(n)?;
            Some(crate::service::accounts::id_of_number(&st, &number).await?)
        }
        None => None,
    };
    let created = users::create(
        &st,
        &caller,
        CreateUser {
            account,
            username: req.username,
            email: req.email,
            name: req.name,
            role: req.role,
            password: req.password,
            must_change_password: req.must_change_password,
        },
    )
    .await
    .map_err(|e| e.field_renamed("account", "account_number"))?;
    let body = UserCreated {
        user: UserDto::from(&created.user),
        one_time_password: created.one_time_password,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = super::ErrorBody)))]
pub async fn user_get(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<UserDto>> {
    Ok(Json(UserDto::from(
        &users::get(&st, &caller, UserId(id)).await?,
    )))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Alice Example", "role": "admin"}))]
pub struct UserUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    /// `active` or `disabled` (disabling ends the user's sessions).
    pub status: Option<String>,
}

/// Change a user's e-mail, name, role or status.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserDto), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn user_update(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Json<UserDto>> {
    let user = users::update(
        &st,
        &caller,
        UserId(id),
        EditUser {
            email: req.email,
            name: req.name,
            role: req.role,
            status: req.status,
        },
    )
    .await?;
    Ok(Json(UserDto::from(&user)))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn user_delete(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    users::delete(&st, &caller, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    /// The new one-time password; the user must change it at next sign-in.
    pub one_time_password: String,
}

/// Reset a user's password to a one-time password (ends their sessions).
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = PasswordReset), (status = 404, body = super::ErrorBody)))]
pub async fn user_reset_password(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<PasswordReset>> {
    let otp = users::reset_password(&st, &caller, UserId(id)).await?;
    Ok(Json(PasswordReset {
        one_time_password: otp,
    }))
}
