//! Ordering and managing external authentication, the Security Code step
//! of sign-in, and the validation API.

use super::ApiJson;
use crate::AppState;
use crate::error::Result;
use crate::extract::{ApiCaller, ClientAddr, InSession, SecondFactorStep, session_cookie};
use crate::service::orders::{self, OrderInput, Placed};
use crate::service::{auth, credentials as creds, validate};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_domain::{Method, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct CodeRequest {
    /// The credential's current security code, or a temporary code.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct StateResponse {
    pub state: String,
}

/// Second step of sign-in for users with Symantec Identity Protection.
#[utoipa::path(post, path = "/api/v1/login/security-code", tag = "session", request_body = CodeRequest,
    responses((status = 200, body = StateResponse), (status = 401, body = super::ErrorBody)))]
pub async fn login_security_code(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response> {
    let issued = auth::complete_security_code(&st, &s.ctx.caller(), &s.live, &req.code).await?;
    let body = StateResponse {
        state: issued.state.as_str().into(),
    };
    Ok((jar.add(session_cookie(&s.ctx.http, &issued)), Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "symantec_vip", "credential_id": "VSST12345678", "promo_code": "WELCOME10"}))]
pub struct QuoteRequest {
    /// `symantec_vip` or `phonefactor`.
    pub method: String,
    /// Symantec: the Credential ID (spaces and case do not matter).
    pub credential_id: Option<String>,
    pub promo_code: Option<String>,
    /// Optional proof of possession: the current security code…
    pub security_code: Option<String>,
    /// …and the next one.
    pub next_security_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MsaRef {
    pub version: String,
    pub sha256: String,
    /// Where people read it.
    pub text_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct QuoteResponse {
    /// Minor units (cents).
    pub monthly_fee: i64,
    pub discount: i64,
    pub total: i64,
    pub currency: String,
    /// How the promo applies, e.g. "50 % off for 3 months".
    pub promo: Option<String>,
    pub msa: MsaRef,
}

fn input(
    method: String,
    credential_id: Option<String>,
    promo_code: Option<String>,
    code1: Option<String>,
    code2: Option<String>,
) -> OrderInput {
    OrderInput {
        method,
        credential_id,
        security_code: code1,
        next_security_code: code2,
        promo_code,
        proof_token: None,
    }
}

/// The monthly fee of an order before and after a promo code, and the MSA
/// to acknowledge; 422 naming the field when something is wrong.
#[utoipa::path(post, path = "/api/v1/users/{id}/external-authentication/quote", tag = "external authentication",
    params(("id" = i64, Path)), request_body = QuoteRequest,
    responses((status = 200, body = QuoteResponse), (status = 422, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn quote(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<QuoteRequest>,
) -> Result<Json<QuoteResponse>> {
    let c = orders::check(
        &st,
        &caller,
        UserId(id),
        &input(
            req.method,
            req.credential_id,
            req.promo_code,
            req.security_code,
            req.next_security_code,
        ),
    )
    .await?;
    Ok(Json(QuoteResponse {
        monthly_fee: c.quote.monthly_fee,
        discount: c.quote.discount,
        total: c.quote.total,
        promo: c.promo.as_ref().map(|p| p.describe(&c.currency)),
        currency: c.currency,
        msa: MsaRef {
            text_url: format!("/msa/{}", c.msa.version),
            version: c.msa.version,
            sha256: c.msa.sha256,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "symantec_vip", "credential_id": "VSST12345678", "promo_code": "WELCOME10", "msa_version": "2026-01", "msa_acknowledged": true}))]
pub struct OrderRequest {
    pub method: String,
    pub credential_id: Option<String>,
    pub promo_code: Option<String>,
    /// The MSA version acknowledged (from the quote).
    pub msa_version: String,
    /// Must be true.
    pub msa_acknowledged: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OrderDto {
    pub number: String,
    pub method: String,
    pub username: String,
    pub credential_id: Option<String>,
    pub monthly_fee: i64,
    pub currency: String,
    pub promo_code: Option<String>,
    pub msa_version: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    pub order: OrderDto,
}

/// Places an order. Send an `Idempotency-Key` header: the same key again
/// answers 200 with the order placed the first time.
#[utoipa::path(post, path = "/api/v1/users/{id}/external-authentication/orders", tag = "external authentication",
    params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = OrderRequest,
    responses((status = 201, body = OrderResponse), (status = 200, body = OrderResponse), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn order_place(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<OrderRequest>,
) -> Result<Response> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let placed = orders::place(
        &st,
        &caller,
        UserId(id),
        &input(req.method, req.credential_id, req.promo_code, None, None),
        &req.msa_version,
        req.msa_acknowledged,
        key,
    )
    .await?;
    let (status, o) = match placed {
        Placed::New(o) => (StatusCode::CREATED, o),
        Placed::Existing(o) => (StatusCode::OK, o),
    };
    let order = OrderDto {
        number: o.number,
        method: o.method.as_str().to_owned(),
        username: o.username,
        credential_id: o.credential_id,
        monthly_fee: o.monthly_price,
        currency: o.currency,
        promo_code: o.promo_code,
        msa_version: o.msa_version,
        created_at: o.created_at.to_rfc3339(),
    };
    Ok((status, Json(OrderResponse { order })).into_response())
}

/// Remove External Authentication: ends the subscription (and billing).
#[utoipa::path(delete, path = "/api/v1/users/{id}/external-authentication/{method}", tag = "external authentication",
    params(("id" = i64, Path), ("method" = String, Path)), responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn remove(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path((id, method)): Path<(i64, String)>,
) -> Result<StatusCode> {
    creds::remove(&st, &caller, UserId(id), Method::parse(&method)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"hours": 4, "single_use": true}))]
pub struct TemporaryRequest {
    /// Validity in hours, 1 to 720 (30 days).
    pub hours: i64,
    /// Stop working after one use (default true).
    #[serde(default = "single_use_default")]
    pub single_use: bool,
}

fn single_use_default() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
pub struct TemporaryResponse {
    /// Six digits, shown only now.
    pub code: String,
}

/// Issue a Temporary Security Code.
#[utoipa::path(post, path = "/api/v1/users/{id}/security-code/temporary", tag = "external authentication",
    params(("id" = i64, Path)), request_body = TemporaryRequest, responses((status = 200, body = TemporaryResponse), (status = 422, body = super::ErrorBody)))]
pub async fn temporary(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<TemporaryRequest>,
) -> Result<Json<TemporaryResponse>> {
    let code =
        creds::issue_temporary_code(&st, &caller, UserId(id), req.hours, req.single_use).await?;
    Ok(Json(TemporaryResponse { code }))
}

/// Unlock Credential.
#[utoipa::path(post, path = "/api/v1/users/{id}/security-code/unlock", tag = "external authentication",
    params(("id" = i64, Path)), responses((status = 204), (status = 422, body = super::ErrorBody)))]
pub async fn unlock(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    creds::unlock(&st, &caller, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable Credential.
#[utoipa::path(post, path = "/api/v1/users/{id}/security-code/disable", tag = "external authentication",
    params(("id" = i64, Path)), responses((status = 204), (status = 422, body = super::ErrorBody)))]
pub async fn disable(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    creds::set_enabled(&st, &caller, UserId(id), false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable Credential.
#[utoipa::path(post, path = "/api/v1/users/{id}/security-code/enable", tag = "external authentication",
    params(("id" = i64, Path)), responses((status = 204), (status = 422, body = super::ErrorBody)))]
pub async fn enable(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    creds::set_enabled(&st, &caller, UserId(id), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code1": "755224", "code2": "287082"}))]
pub struct SyncRequest {
    pub code1: String,
    pub code2: String,
}

/// Synchronize Credential with two consecutive codes.
#[utoipa::path(post, path = "/api/v1/users/{id}/security-code/sync", tag = "external authentication",
    params(("id" = i64, Path)), request_body = SyncRequest, responses((status = 204), (status = 422, body = super::ErrorBody)))]
pub async fn sync(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<StatusCode> {
    creds::synchronize(&st, &caller, UserId(id), &req.code1, &req.code2).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "alice", "code": "123456"}))]
pub struct ValidateRequest {
    pub username: String,
    /// Security code or temporary code.
    pub code: String,
    /// Also check the password (for integrations that do both).
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub result: bool,
}

/// Validation API for integrations (bearer API client secret from
/// `gatehouse api-client create`). Same rules as sign-in: each code once,
/// forward only, lock after repeated failures, temporary codes.
#[utoipa::path(post, path = "/api/v1/validate", tag = "validation", request_body = ValidateRequest,
    responses((status = 200, body = ValidateResponse), (status = 401, body = super::ErrorBody)))]
pub async fn validate_code(
    State(st): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ValidateRequest>,
) -> Result<Json<ValidateResponse>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let client = validate::authenticate_client(&st, bearer, &addr).await?;
    let result = validate::validate(
        &st,
        &client,
        &req.username,
        &req.code,
        req.password.as_deref(),
    )
    .await?;
    Ok(Json(ValidateResponse { result }))
}
