//! The operator's catalog and token inventory through the API.

use super::{ApiJson, page_or_first};
use crate::AppState;
use crate::error::{AppError, Result};
use crate::extract::ApiCaller;
use crate::service::{catalog, credentials as creds, orders, validate};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use gatehouse_domain::pskc::DecryptionKey;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct PriceDto {
    pub method: String,
    /// Minor units (cents) per month.
    pub amount: i64,
    pub currency: String,
}

/// Monthly prices per method.
#[utoipa::path(get, path = "/api/v1/prices", tag = "catalog", responses((status = 200, body = Vec<PriceDto>)))]
pub async fn price_list(
    State(st): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Vec<PriceDto>>> {
    Ok(Json(
        catalog::prices(&st)
            .await?
            .into_iter()
            .map(|p| PriceDto {
                method: p.method,
                amount: p.amount,
                currency: p.currency,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": 300, "currency": "USD"}))]
pub struct PriceSet {
    pub amount: i64,
    pub currency: String,
}

/// Set a method's monthly price (operator). New orders use it.
#[utoipa::path(put, path = "/api/v1/prices/{method}", tag = "catalog", params(("method" = String, Path)), request_body = PriceSet,
    responses((status = 200, body = PriceDto), (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn price_set(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(method): Path<String>,
    ApiJson(req): ApiJson<PriceSet>,
) -> Result<Json<PriceDto>> {
    let p = catalog::set_price(&st, &caller, &method, req.amount, &req.currency).await?;
    Ok(Json(PriceDto {
        method: p.method,
        amount: p.amount,
        currency: p.currency,
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "WELCOME10", "percent_off": 10, "months": 3}))]
pub struct PromoDto {
    pub code: String,
    pub percent_off: Option<i64>,
    /// Minor units off per month.
    pub amount_off: Option<i64>,
    /// Billing months it applies to; null = for ever.
    pub months: Option<i64>,
    pub max_redemptions: Option<i64>,
    /// Last valid day, YYYY-MM-DD (UTC), on creation; the end instant on reads.
    pub valid_until: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub redemptions: i64,
}

/// Promo codes (operator).
#[utoipa::path(get, path = "/api/v1/promo-codes", tag = "catalog", responses((status = 200, body = Vec<PromoDto>), (status = 403, body = super::ErrorBody)))]
pub async fn promo_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
) -> Result<Json<Vec<PromoDto>>> {
    if !caller.is_operator() {
        return Err(AppError::Forbidden("Only operators see the promo codes.".into()).into());
    }
    Ok(Json(
        catalog::promos(&st)
            .await?
            .into_iter()
            .map(|p| PromoDto {
                percent_off: (p.kind == "percent").then_some(p.value),
                amount_off: (p.kind == "amount").then_some(p.value),
                code: p.code,
                months: p.months,
                max_redemptions: p.max_redemptions,
                valid_until: p.valid_until.map(|t| t.to_rfc3339()),
                method: p.method,
                redemptions: p.redemptions,
            })
            .collect(),
    ))
}

/// Create a promo code (operator).
#[utoipa::path(post, path = "/api/v1/promo-codes", tag = "catalog", request_body = PromoDto,
    responses((status = 201), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn promo_create(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<PromoDto>,
) -> Result<StatusCode> {
    let p = catalog::NewPromo {
        code: req.code,
        percent_off: req.percent_off,
        amount_off: req.amount_off,
        months: req.months,
        max_redemptions: req.max_redemptions,
        valid_until: req.valid_until,
        method: req.method,
    };
    catalog::create_promo(&st, &caller, p).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": "2026-01", "text": "Master Services Agreement\n\n1. Services …"}))]
pub struct MsaDto {
    pub version: String,
    pub text: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub published_at: String,
}

/// The Master Services Agreement in force.
#[utoipa::path(get, path = "/api/v1/msa", tag = "catalog", responses((status = 200, body = MsaDto), (status = 404, body = super::ErrorBody)))]
pub async fn msa_current(State(st): State<AppState>, _caller: ApiCaller) -> Result<Json<MsaDto>> {
    let m = catalog::current_msa(&st).await?.ok_or(AppError::NotFound)?;
    Ok(Json(MsaDto {
        version: m.version,
        text: m.body,
        sha256: m.sha256,
        published_at: m.published_at.to_rfc3339(),
    }))
}

/// Publish a new MSA version (operator); versions never change.
#[utoipa::path(post, path = "/api/v1/msa", tag = "catalog", request_body = MsaDto,
    responses((status = 201, body = MsaDto), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn msa_publish(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<MsaDto>,
) -> Result<(StatusCode, Json<MsaDto>)> {
    let m = catalog::publish_msa(&st, &caller, &req.version, &req.text).await?;
    Ok((
        StatusCode::CREATED,
        Json(MsaDto {
            version: m.version,
            text: m.body,
            sha256: m.sha256,
            published_at: m.published_at.to_rfc3339(),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct TokenQuery {
    pub query: Option<String>,
    pub page: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenDto {
    pub credential_id: String,
    /// `totp` or `hotp`.
    pub kind: String,
    pub algorithm: String,
    pub digits: i64,
    /// `local` or `remote`.
    pub validation: String,
    pub source: String,
    pub assigned: bool,
    pub enabled: bool,
    pub locked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenDto>,
    pub total: i64,
}

/// The credential inventory (operator), 50 per page.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenQuery), responses((status = 200, body = TokenList), (status = 403, body = super::ErrorBody)))]
pub async fn token_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Query(q): Query<TokenQuery>,
) -> Result<Json<TokenList>> {
    if !caller.is_operator() {
        return Err(AppError::Forbidden("Only operators see the token inventory.".into()).into());
    }
    let page = page_or_first(q.page);
    let (list, total) = crate::service::credentials::inventory(
        &st,
        &caller,
        q.query.as_deref().unwrap_or(""),
        50,
        (page - 1) * 50,
    )
    .await?;
    let now = st.now();
    Ok(Json(TokenList {
        tokens: list
            .into_iter()
            .map(|c| TokenDto {
                locked: c.locked_until.is_some_and(|t| now < t),
                credential_id: c.credential_id,
                kind: c.params.kind.name().to_owned(),
                algorithm: c.params.alg.as_str().to_owned(),
                digits: i64::from(c.params.digits),
                validation: c.validation.as_str().to_owned(),
                source: c.source,
                assigned: c.user_id.is_some(),
                enabled: c.enabled,
            })
            .collect(),
        total,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"pskc": "<?xml version=\"1.0\"?><KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">…</KeyContainer>", "preshared_key": "12345678901234567890123456789012"}))]
pub struct TokenImport {
    /// The PSKC document (XML text).
    pub pskc: String,
    /// Pre-shared AES key, hex.
    pub preshared_key: Option<String>,
    /// Passphrase for PBKDF2-protected files.
    pub passphrase: Option<String>,
    /// A name for the audit log.
    pub file_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenImportResult {
    pub imported: Vec<String>,
    /// `[credential_id, reason]` for refused keys.
    pub refused: Vec<(String, String)>,
}

/// Import a PSKC file (operator). All-or-nothing for file errors; IDs
/// already in the inventory are refused one by one.
#[utoipa::path(post, path = "/api/v1/tokens/import", tag = "tokens", request_body = TokenImport,
    responses((status = 200, body = TokenImportResult), (status = 422, body = super::ErrorBody)))]
pub async fn token_import(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<TokenImport>,
) -> Result<Json<TokenImportResult>> {
    let key = match (
        req.preshared_key.as_deref().filter(|k| !k.is_empty()),
        req.passphrase,
    ) {
        (Some(k), _) => Some(DecryptionKey::PreShared(hex::decode(k.trim()).map_err(
            |_| AppError::invalid("preshared_key", "The pre-shared key must be hexadecimal."),
        )?)),
        (None, Some(p)) if !p.is_empty() => Some(DecryptionKey::Passphrase(p)),
        _ => None,
    };
    let name = req.file_name.unwrap_or_else(|| "api upload".into());
    let r = creds::import_pskc(&st, &caller, req.pskc.as_bytes(), key, &name).await?;
    Ok(Json(TokenImportResult {
        imported: r.imported,
        refused: r.refused,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"count": 10}))]
pub struct SoftRequest {
    pub count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SoftDto {
    pub credential_id: String,
    /// `otpauth://totp/…`, shown only now.
    pub uri: String,
}

/// Issue soft credentials (operator).
#[utoipa::path(post, path = "/api/v1/tokens/soft", tag = "tokens", request_body = SoftRequest, responses((status = 201, body = Vec<SoftDto>)))]
pub async fn token_soft(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<SoftRequest>,
) -> Result<(StatusCode, Json<Vec<SoftDto>>)> {
    let issued = creds::issue_soft(&st, &caller, req.count).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            issued
                .into_iter()
                .map(|c| SoftDto {
                    credential_id: c.credential_id,
                    uri: c.uri,
                })
                .collect(),
        ),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "vpn-gateway"}))]
pub struct ApiClientCreate {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiClientSecret {
    /// Bearer secret for `POST /api/v1/validate`, shown only now.
    pub secret: String,
}

/// Create a validation API client (operator).
#[utoipa::path(post, path = "/api/v1/api-clients", tag = "validation", request_body = ApiClientCreate, responses((status = 201, body = ApiClientSecret)))]
pub async fn api_client_create(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<ApiClientCreate>,
) -> Result<(StatusCode, Json<ApiClientSecret>)> {
    let secret = validate::create_client(&st, &caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(ApiClientSecret { secret })))
}

#[derive(Serialize, ToSchema)]
pub struct ApiClientView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiClientList {
    pub clients: Vec<ApiClientView>,
}

/// The validation API's clients (operator); secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/api-clients", tag = "validation",
    responses((status = 200, body = ApiClientList), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn api_client_list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
) -> Result<Json<ApiClientList>> {
    let clients = validate::list_clients(&st, &caller).await?;
    Ok(Json(ApiClientList {
        clients: clients
            .into_iter()
            .map(|c| ApiClientView {
                id: c.id,
                name: c.name,
                created_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    }))
}

/// Revoke a validation API client (operator): its secret is refused from then on.
#[utoipa::path(delete, path = "/api/v1/api-clients/{id}", tag = "validation", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn api_client_revoke(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    validate::revoke_client(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub number: String,
    pub method: String,
    pub username: String,
    pub credential_id: Option<String>,
    pub monthly_fee: i64,
    pub currency: String,
    pub promo_code: Option<String>,
    pub msa_version: String,
    pub msa_sha256: String,
    pub acknowledged_by: String,
    pub acknowledged_at: String,
    pub acknowledged_addr: String,
    pub created_at: String,
}

/// One order (administrators: their account's).
#[utoipa::path(get, path = "/api/v1/orders/{number}", tag = "external authentication", params(("number" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = super::ErrorBody)))]
pub async fn order_get(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(number): Path<String>,
) -> Result<Json<OrderView>> {
    let o = orders::get(&st, &caller, &number).await?;
    Ok(Json(OrderView {
        number: o.number,
        method: o.method.as_str().to_owned(),
        username: o.username,
        credential_id: o.credential_id,
        monthly_fee: o.monthly_price,
        currency: o.currency,
        promo_code: o.promo_code,
        msa_version: o.msa_version,
        msa_sha256: o.msa_sha256,
        acknowledged_by: o.acknowledged_name,
        acknowledged_at: o.acknowledged_at.to_rfc3339(),
        acknowledged_addr: o.acknowledged_addr,
        created_at: o.created_at.to_rfc3339(),
    }))
}
