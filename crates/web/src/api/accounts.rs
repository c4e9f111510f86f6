use super::ApiJson;
use crate::AppState;
use crate::error::Result;
use crate::extract::ApiCaller;
use crate::service::accounts;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_app::model::Account;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AccountDto {
    pub id: i64,
    pub number: String,
    pub name: String,
    /// The provider's own account (home of the operators).
    pub is_provider: bool,
    pub users: i64,
    pub created_at: String,
}

impl From<&Account> for AccountDto {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.0,
            number: a.number.clone(),
            name: a.name.clone(),
            is_provider: a.is_provider,
            users: a.user_count,
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

/// All accounts (operator only).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = Vec<AccountDto>), (status = 403, body = super::ErrorBody)))]
pub async fn account_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
) -> Result<Json<Vec<AccountDto>>> {
    Ok(Json(
        accounts::list(&st, &caller)
            .await?
            .iter()
            .map(AccountDto::from)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Example Co"}))]
pub struct AccountCreate {
    pub name: String,
}

/// Create a customer account (operator only).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountCreate,
    responses((status = 201, body = AccountDto), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn account_create(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<AccountCreate>,
) -> Result<(StatusCode, Json<AccountDto>)> {
    let acc = accounts::create(&st, &caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(AccountDto::from(&acc))))
}
