//! Bearer API tokens: list, create (the secret is in the answer, once) and
//! revoke (SPEC §11 `api-token`).

use super::ApiJson;
use crate::AppState;
use crate::error::{AppError, Result};
use crate::extract::ApiCaller;
use crate::service::tokens;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_app::model::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A live token (never its secret).
#[derive(Serialize, ToSchema)]
pub struct ApiTokenDto {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<&ApiToken> for ApiTokenDto {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id.0,
            username: t.username.clone(),
            name: t.name.clone(),
            created_at: t.created_at.to_rfc3339(),
            expires_at: t.expires_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    pub tokens: Vec<ApiTokenDto>,
}

#[derive(Deserialize, IntoParams)]
pub struct TokenListQuery {
    /// Only this user's tokens (by username).
    pub username: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "deploy script", "expires_in_days": 30}))]
pub struct TokenCreate {
    /// Whose token: yourself when absent; operators may name anyone.
    pub username: Option<String>,
    /// A label, default `api`.
    pub name: Option<String>,
    /// 1 to 366 days, default 90.
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    /// The bearer token; shown only in this answer.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenDto,
}

/// The live API tokens the caller may see: all for operators, their
/// account's for administrators, their own for everyone else.
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens", params(TokenListQuery),
    responses((status = 200, body = ApiTokenList), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn api_token_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<TokenListQuery>,
) -> Result<Json<ApiTokenList>> {
    let user = match q.username.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => Some(tokens::owner_named(&st, &caller, u).await?),
        None => None,
    };
    let list = tokens::list(&st, &caller, user).await?;
    Ok(Json(ApiTokenList {
        tokens: list.iter().map(ApiTokenDto::from).collect(),
    }))
}

/// Create an API token acting with a user's rights (your own; operators
/// for anyone). The token is in this answer only. Not with a bearer token:
/// a token must not be able to outlive its own revocation.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn api_token_create(
    State(st): State<AppState>,
    ApiCaller(caller, ctx): ApiCaller,
    ApiJson(req): ApiJson<TokenCreate>,
) -> Result<Response> {
    if ctx.bearer.is_some() {
        return Err(AppError::Forbidden(
            "Create API tokens from a signed-in session, not with another token.".into(),
        )
        .into());
    }
    let user = match req.username.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => tokens::owner_named(&st, &caller, u).await?,
        None => caller
            .user_id()
            .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?,
    };
    let created =
        tokens::create(&st, &caller, user, req.name.as_deref(), req.expires_in_days).await?;
    let body = TokenCreated {
        token: created.secret,
        info: ApiTokenDto::from(&created.token),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Revoke an API token: refused from then on.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api-tokens", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn api_token_revoke(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    tokens::revoke(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
