//! The RADIUS front end's clients through the API (operators).

use super::ApiJson;
use crate::AppState;
use crate::error::Result;
use crate::extract::ApiCaller;
use crate::service::radius;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "vpn", "account": "10000001", "address": "192.0.2.0/24", "mode": "password-and-code"}))]
pub struct RadiusClientCreate {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// The customer account (number) whose users it authenticates.
    pub account: String,
    /// Its source address or CIDR range (`192.0.2.10`, `10.0.0.0/8`).
    pub address: String,
    /// `password-and-code` (default) or `code-only`.
    pub mode: Option<String>,
    /// The shared secret (16 to 128 characters); generated when left out.
    pub secret: Option<String>,
    /// Old gear that cannot send Message-Authenticator (avoid: BlastRADIUS).
    #[serde(default)]
    pub allow_missing_message_authenticator: bool,
    /// Users without a second factor pass on their password alone.
    #[serde(default)]
    pub allow_password_only: bool,
    /// Between password and code: `,` by default, `""` for none.
    pub separator: Option<String>,
    /// How long a request may be held (a phone call), 5 to 300 s; 60.
    pub timeout_secs: Option<i64>,
    /// `Class` sent with every Access-Accept.
    pub class: Option<String>,
    /// `Filter-Id` sent with every Access-Accept.
    pub filter_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RadiusClientSecret {
    /// The shared secret, shown only now.
    pub secret: String,
}

/// Register a RADIUS client (operator); answers its shared secret, once.
#[utoipa::path(post, path = "/api/v1/radius-clients", tag = "radius", request_body = RadiusClientCreate,
    responses((status = 201, body = RadiusClientSecret), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<RadiusClientCreate>,
) -> Result<(StatusCode, Json<RadiusClientSecret>)> {
    let new = radius::NewClient {
        name: req.name,
        account_number: req.account,
        address: req.address,
        mode: req.mode,
        secret: req.secret,
        allow_missing_message_authenticator: req.allow_missing_message_authenticator,
        allow_password_only: req.allow_password_only,
        separator: req.separator,
        timeout_secs: req.timeout_secs,
        class: req.class,
        filter_id: req.filter_id,
    };
    let secret = radius::create_client(&st, &caller, &new).await?;
    Ok((StatusCode::CREATED, Json(RadiusClientSecret { secret })))
}

#[derive(Serialize, ToSchema)]
pub struct RadiusClientView {
    pub name: String,
    pub account: String,
    pub address: String,
    pub mode: String,
    pub require_message_authenticator: bool,
    pub allow_password_only: bool,
    /// `""`: none.
    pub separator: String,
    pub timeout_secs: i64,
    pub class: Option<String>,
    pub filter_id: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RadiusClientList {
    pub clients: Vec<RadiusClientView>,
}

/// The RADIUS clients (operator); secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/radius-clients", tag = "radius",
    responses((status = 200, body = RadiusClientList), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
) -> Result<Json<RadiusClientList>> {
    let clients = radius::list_clients(&st, &caller).await?;
    Ok(Json(RadiusClientList {
        clients: clients
            .into_iter()
            .map(|c| RadiusClientView {
                name: c.name.to_string(),
                account: c.account_number,
                address: c.address.to_string(),
                mode: c.mode.to_string(),
                require_message_authenticator: c.require_message_authenticator,
                allow_password_only: c.allow_password_only,
                separator: c.separator.map(String::from).unwrap_or_default(),
                timeout_secs: c.timeout_secs,
                class: c.class,
                filter_id: c.filter_id,
                created_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    }))
}

/// Remove a RADIUS client (operator): its requests are dropped from then on.
#[utoipa::path(delete, path = "/api/v1/radius-clients/{name}", tag = "radius", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn remove(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    radius::remove_client(&st, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
