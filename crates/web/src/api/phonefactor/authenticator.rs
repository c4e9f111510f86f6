//! The authenticator app's device-signed endpoints: pairing, its open
//! requests, its answers.

use super::*;

// ---- The authenticator app ---------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "pt_3q2-7wEVmG0VZQkq8pfnHg", "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))]
pub struct PairRequest {
    /// The `token` of the pairing link.
    pub token: String,
    /// The device's Ed25519 public key, base64url without padding.
    pub public_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct PairResponse {
    /// Sent as `X-Gatehouse-Device` on every later call.
    pub device_id: String,
    pub username: String,
}

/// The app pairs with an activation: registers its public key.
#[utoipa::path(post, path = "/api/v1/authenticator/pair", tag = "authenticator", request_body = PairRequest,
    responses((status = 201, body = PairResponse), (status = 401, body = crate::api::ErrorBody)))]
pub async fn app_pair(
    State(st): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<PairRequest>,
) -> Result<Response> {
    let p = svc::pair_device(&st, &req.token, &req.public_key, &ctx.addr).await?;
    Ok((
        StatusCode::CREATED,
        Json(PairResponse {
            device_id: p.device_id,
            username: p.username,
        }),
    )
        .into_response())
}

/// Checks a device-signed request (see `gatehouse_domain::device`);
/// returns the device id.
pub(super) async fn signed_device(
    st: &AppState,
    method: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String> {
    let refused = || AppError::Unauthorized("The request is not signed by a paired device.".into());
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let device_id = get(device::DEVICE_HEADER).ok_or_else(refused)?;
    let timestamp: i64 = get(device::TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or_else(refused)?;
    let signature = get(device::SIGNATURE_HEADER).ok_or_else(refused)?;
    if !device::fresh(timestamp, st.now().millis()) {
        return Err(AppError::Unauthorized(
            "The request's timestamp is too far from the server's clock.".into(),
        )
        .into());
    }
    let key = svc::device_key(st, &device_id).await?.ok_or_else(refused)?;
    let path = uri.0.path_and_query().map_or(uri.0.path(), |p| p.as_str());
    let canonical = device::canonical_request(method, path, timestamp, body);
    if !key.verify(&canonical, &signature) {
        return Err(refused().into());
    }
    Ok(device_id)
}

#[derive(Serialize, ToSchema)]
pub struct AppRequestDto {
    pub id: String,
    /// `activation` or `sign_in`.
    pub purpose: String,
    pub username: String,
    pub portal: String,
    pub expires_at: String,
    /// The number to confirm, for a sign-in with no page to show it (through
    /// RADIUS); absent otherwise (type the number the page shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
}

/// The device's open requests (device-signed).
#[utoipa::path(get, path = "/api/v1/authenticator/requests", tag = "authenticator",
    responses((status = 200, body = [AppRequestDto]), (status = 401, body = crate::api::ErrorBody)))]
pub async fn app_requests(
    State(st): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Json<Vec<AppRequestDto>>> {
    let device_id = signed_device(&st, "GET", &uri, &headers, b"").await?;
    Ok(Json(
        svc::device_requests(&st, &device_id)
            .await?
            .into_iter()
            .map(|r| AppRequestDto {
                id: r.id,
                purpose: r.purpose.as_str().into(),
                username: r.username,
                portal: r.portal,
                expires_at: r.expires_at.to_rfc3339(),
                number: r.number,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "approve", "number": 42}))]
pub struct AnswerRequest {
    /// `approve`, `deny` or `fraud`.
    pub decision: String,
    /// To approve: the number the portal shows.
    pub number: Option<i64>,
}

/// The app answers a request (device-signed). Each request can be answered
/// once; a wrong number denies it.
#[utoipa::path(post, path = "/api/v1/authenticator/requests/{id}/answer", tag = "authenticator",
    params(("id" = String, Path)), request_body = AnswerRequest,
    responses((status = 200, body = KeysResponse), (status = 401, body = crate::api::ErrorBody),
        (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)))]
pub async fn app_answer(
    State(st): State<AppState>,
    ctx: Ctx,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<KeysResponse>> {
    let device_id = signed_device(&st, "POST", &uri, &headers, &body).await?;
    let req: AnswerRequest =
        serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let status =
        svc::device_answer(&st, &device_id, &id, &req.decision, req.number, &ctx.addr).await?;
    Ok(Json(KeysResponse {
        status: status.as_str().into(),
    }))
}
