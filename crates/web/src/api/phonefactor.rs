//! PhoneFactor over the API: sign-in challenges, activation, deactivation,
//! administrators' actions, the virtual phone, the authenticator app's
//! device-signed calls and the Twilio callbacks.

use super::ApiJson;
use crate::AppState;
use crate::error::{AppError, Result};
use crate::extract::{ActivationStep, ApiCaller, Ctx, InSession, SecondFactorStep, session_cookie};
use crate::service::auth;
use crate::service::phonefactor::{self as svc, ChallengeView};
use crate::service::virtual_phone::{self as vps, Viewer};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_domain::UserId;
use gatehouse_domain::device;
use gatehouse_domain::phonefactor::ChallengeStatus;
use gatehouse_domain::session::SessionState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ChallengeDto {
    pub id: String,
    /// `call`, `sms` or `app`.
    pub mode: String,
    /// `pending`, `pairing`, `approved`, `denied`, `fraud`, `expired` or `used`.
    pub status: String,
    /// App mode: the two digits to type into the app.
    pub number_match: Option<i64>,
    /// The number called or texted, masked.
    pub phone: String,
    pub expires_at: String,
    /// App activation: the link to pair the app from.
    pub pairing_uri: Option<String>,
}

impl From<&ChallengeView> for ChallengeDto {
    fn from(c: &ChallengeView) -> Self {
        Self {
            id: c.id.clone(),
            mode: c.mode.as_str().into(),
            status: c.status.as_str().into(),
            number_match: c.number_match,
            phone: c.phone_masked.clone(),
            expires_at: c.expires_at.to_rfc3339(),
            pairing_uri: c.pairing_uri.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChallengeResponse {
    pub challenge: ChallengeDto,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// The 6-digit code from the text message (or the app's verification code).
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: String,
    /// The session's state after this call.
    pub state: String,
}

fn with_session(
    st: &AppState,
    jar: CookieJar,
    issued: Option<auth::IssuedSession>,
    body: Response,
) -> Response {
    match issued {
        Some(i) => (jar.add(session_cookie(st, &i)), body).into_response(),
        None => body,
    }
}

/// Sends the sign-in challenge (text, call or app push) in the user's mode.
#[utoipa::path(post, path = "/api/v1/login/phonefactor/start", tag = "phonefactor",
    responses((status = 200, body = ChallengeResponse), (status = 401, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn login_start(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
) -> Result<Json<ChallengeResponse>> {
    let c = svc::start_sign_in(&st, &s.caller(), &s.live).await?;
    Ok(Json(ChallengeResponse {
        challenge: (&c).into(),
    }))
}

/// Finishes sign-in with the text message's code or the app's verification code.
#[utoipa::path(post, path = "/api/v1/login/phonefactor/verify", tag = "phonefactor", request_body = CodeBody,
    responses((status = 200, body = StatusResponse), (status = 401, body = super::ErrorBody)))]
pub async fn login_verify(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    ApiJson(req): ApiJson<CodeBody>,
) -> Result<Response> {
    let issued = svc::verify_sign_in(&st, &s.caller(), &s.live, &req.code).await?;
    let body = Json(StatusResponse {
        status: "approved".into(),
        state: issued.state.as_str().into(),
    })
    .into_response();
    Ok(with_session(&st, jar, Some(issued), body))
}

/// The sign-in challenge's status; once approved (call or app), this call
/// completes the sign-in and renews the session cookie.
#[utoipa::path(get, path = "/api/v1/login/phonefactor/status", tag = "phonefactor",
    responses((status = 200, body = StatusResponse), (status = 404, body = super::ErrorBody)))]
pub async fn login_status(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
) -> Result<Response> {
    let (status, issued) = svc::sign_in_status(&st, &s.caller(), &s.live).await?;
    let state = issued.as_ref().map_or(s.state(), |i| i.state);
    let body = Json(StatusResponse {
        status: status.as_str().into(),
        state: state.as_str().into(),
    })
    .into_response();
    Ok(with_session(&st, jar, issued, body))
}

#[derive(Deserialize, ToSchema)]
pub struct ActivationRequest {
    /// The phone number: `+` and country code, or national with `country`.
    pub phone: String,
    /// ISO 3166 country for numbers written without `+` (e.g. `US`).
    pub country: Option<String>,
    /// `call`, `sms` or `app`.
    pub mode: String,
    /// The user's password: needed to change an active PhoneFactor from a
    /// signed-in session.
    pub password: Option<String>,
}

/// Starts activation (or a change of number or mode) with a first challenge.
#[utoipa::path(post, path = "/api/v1/me/phonefactor/activation", tag = "phonefactor", request_body = ActivationRequest,
    responses((status = 201, body = ChallengeResponse), (status = 422, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn activation_start(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    ApiJson(req): ApiJson<ActivationRequest>,
) -> Result<Response> {
    let c = svc::start_activation(
        &st,
        &s.caller(),
        &s.live,
        &req.phone,
        req.country.as_deref(),
        &req.mode,
        req.password.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChallengeResponse {
            challenge: (&c).into(),
        }),
    )
        .into_response())
}

/// Finishes a text-message activation with its code.
#[utoipa::path(post, path = "/api/v1/me/phonefactor/activation/verify", tag = "phonefactor", request_body = CodeBody,
    responses((status = 204), (status = 401, body = super::ErrorBody)))]
pub async fn activation_verify(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    ApiJson(req): ApiJson<CodeBody>,
) -> Result<Response> {
    let issued = svc::verify_activation(&st, &s.caller(), &s.live, &req.code).await?;
    Ok(with_session(
        &st,
        jar,
        issued,
        StatusCode::NO_CONTENT.into_response(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ActivationStatus {
    /// `pending`, `active`, `failed`, `expired` (or `none` before any start).
    pub status: String,
    pub challenge: Option<ChallengeDto>,
    pub state: String,
}

/// The activation's status (call and app modes); when active, an
/// `activation_required` session becomes signed in.
#[utoipa::path(get, path = "/api/v1/me/phonefactor/activation/status", tag = "phonefactor",
    responses((status = 200, body = ActivationStatus)))]
pub async fn activation_status(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
) -> Result<Response> {
    let (status, view, issued) = svc::activation_status(&st, &s.caller(), &s.live).await?;
    let state = issued.as_ref().map_or(s.state(), |i| i.state);
    let body = Json(ActivationStatus {
        status: status.into(),
        challenge: view.as_ref().map(Into::into),
        state: state.as_str().into(),
    })
    .into_response();
    Ok(with_session(&st, jar, issued, body))
}

#[derive(Serialize, ToSchema)]
pub struct MyPhoneFactor {
    /// `none`, `awaiting_activation`, `active`, `deactivated`.
    pub status: String,
    pub mode: Option<String>,
    pub phone: Option<String>,
    pub app_paired: bool,
    pub blocked_until: Option<String>,
}

/// The caller's own PhoneFactor.
#[utoipa::path(get, path = "/api/v1/me/phonefactor", tag = "phonefactor",
    responses((status = 200, body = MyPhoneFactor)))]
pub async fn me(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
) -> Result<Json<MyPhoneFactor>> {
    let user = &s.user;
    let p = svc::own(&st, user.id).await?;
    let now = st.now();
    Ok(Json(match p {
        None => MyPhoneFactor {
            status: "none".into(),
            mode: None,
            phone: None,
            app_paired: false,
            blocked_until: None,
        },
        Some(p) => MyPhoneFactor {
            status: p.status.clone(),
            mode: p.mode.clone(),
            phone: p.phone.as_deref().map(gatehouse_domain::phonefactor::mask),
            app_paired: p.device_id.is_some(),
            blocked_until: p
                .fraud_blocked_until
                .filter(|t| now < *t)
                .map(|t| t.to_rfc3339()),
        },
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    pub password: String,
}

/// Deactivates the caller's own PhoneFactor (password required).
#[utoipa::path(post, path = "/api/v1/me/phonefactor/deactivate", tag = "phonefactor", request_body = PasswordBody,
    responses((status = 204), (status = 401, body = super::ErrorBody)))]
pub async fn me_deactivate(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    ApiJson(req): ApiJson<PasswordBody>,
) -> Result<StatusCode> {
    let user = caller
        .user
        .clone()
        .ok_or_else(|| AppError::Unauthorized("Sign in first.".into()))?;
    svc::deactivate_own(&st, &caller, &user, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An administrator deactivates a user's PhoneFactor.
#[utoipa::path(post, path = "/api/v1/users/{id}/phonefactor/deactivate", tag = "phonefactor",
    params(("id" = i64, Path)), responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn user_deactivate(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    svc::deactivate_for(&st, &caller, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An administrator clears a fraud block.
#[utoipa::path(post, path = "/api/v1/users/{id}/phonefactor/clear-block", tag = "phonefactor",
    params(("id" = i64, Path)), responses((status = 204), (status = 409, body = super::ErrorBody)))]
pub async fn user_clear_block(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    svc::clear_block(&st, &caller, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
pub struct BypassBody {
    /// How long the bypass waits for the sign-in (default 5).
    pub minutes: Option<i64>,
}

/// An administrator grants a one-time bypass.
#[utoipa::path(post, path = "/api/v1/users/{id}/phonefactor/bypass", tag = "phonefactor",
    params(("id" = i64, Path)), request_body = BypassBody,
    responses((status = 204), (status = 422, body = super::ErrorBody)))]
pub async fn user_bypass(
    State(st): State<AppState>,
    ApiCaller(caller, _): ApiCaller,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<StatusCode> {
    let req: BypassBody = if body.iter().all(u8::is_ascii_whitespace) {
        BypassBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(e.to_string()))?
    };
    svc::grant_bypass(&st, &caller, UserId(id), req.minutes).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- The virtual phone -------------------------------------------------

/// Who looks at the virtual phone: the session's user at any sign-in stage
/// (or a bearer token's); 404 unless delivery is virtual, 401 if nobody.
pub fn virtual_viewer(st: &AppState, ctx: &Ctx) -> std::result::Result<Viewer, AppError> {
    let partial = ctx
        .live
        .as_ref()
        .filter(|l| l.session.state != SessionState::Anonymous)
        .and_then(|l| l.user.as_ref());
    Viewer::of(st, ctx.user(), partial)
}

#[derive(Serialize, ToSchema)]
pub struct VirtualMessageDto {
    pub id: i64,
    /// `out` (to the phone) or `in` (a reply from it).
    pub direction: String,
    pub body: String,
    pub received_at: String,
}

/// Texts received by a number on the virtual phone (virtual delivery only;
/// the number's user at any sign-in stage, or an operator).
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/messages", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [VirtualMessageDto]),
    (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn vp_messages(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<VirtualMessageDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    Ok(Json(
        vps::messages(&st, &viewer, &number)
            .await?
            .into_iter()
            .map(|m| VirtualMessageDto {
                id: m.id,
                direction: m.direction,
                body: m.body,
                received_at: m.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ReplyBody {
    pub body: String,
}

/// Replies from the virtual phone (e.g. `FRAUD`).
#[utoipa::path(post, path = "/api/v1/virtual-phone/{e164}/messages", tag = "virtual-phone",
    params(("e164" = String, Path)), request_body = ReplyBody, responses((status = 204),
    (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn vp_reply(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
    ApiJson(req): ApiJson<ReplyBody>,
) -> Result<StatusCode> {
    let viewer = virtual_viewer(&st, &ctx)?;
    ctx.check_api_csrf()?;
    let number = vps::open(&st, &viewer, &number).await?;
    vps::reply(&st, &viewer, &number, &req.body, &ctx.addr).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct VirtualCallDto {
    /// Random: it cannot be guessed from another call's.
    pub id: String,
    /// `ringing` or `completed`.
    pub status: String,
    pub prompt: String,
    pub digits: Option<String>,
    pub received_at: String,
}

/// Calls to a number on the virtual phone.
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/calls", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [VirtualCallDto]),
    (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn vp_calls(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<VirtualCallDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    Ok(Json(
        vps::calls(&st, &viewer, &number)
            .await?
            .into_iter()
            .map(|c| VirtualCallDto {
                id: c.id,
                status: c.status,
                prompt: c.prompt,
                digits: c.digits,
                received_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct KeysBody {
    /// Keys pressed: `#` approves, `0#` reports fraud.
    pub digits: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeysResponse {
    /// The challenge's status after the key press.
    pub status: String,
}

/// Presses keys on a ringing call of the virtual phone (which then hangs up).
#[utoipa::path(post, path = "/api/v1/virtual-phone/{e164}/calls/{id}/keys", tag = "virtual-phone",
    params(("e164" = String, Path), ("id" = String, Path)), request_body = KeysBody,
    responses((status = 200, body = KeysResponse), (status = 401, body = super::ErrorBody),
    (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn vp_keys(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((number, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<KeysBody>,
) -> Result<Json<KeysResponse>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    ctx.check_api_csrf()?;
    let number = vps::open(&st, &viewer, &number).await?;
    let status = vps::press_keys(&st, &viewer, &number, &id, &req.digits, &ctx.addr).await?;
    Ok(Json(KeysResponse {
        status: status.as_str().into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationDto {
    pub id: String,
    /// `activation` or `sign_in`.
    pub purpose: String,
    pub status: String,
    pub received_at: String,
}

/// App notifications sent to the owner of a number (virtual delivery only).
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/notifications", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [NotificationDto]),
    (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn vp_notifications(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<NotificationDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    let now = st.now();
    Ok(Json(
        vps::notifications(&st, &viewer, &number, 50)
            .await?
            .into_iter()
            .map(|c| NotificationDto {
                status: ChallengeStatus::stored(&c.status, c.expires_at, now)
                    .as_str()
                    .into(),
                id: c.id,
                purpose: c.purpose,
                received_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

// ---- The authenticator app ---------------------------------------------

#[derive(Deserialize, ToSchema)]
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
    responses((status = 201, body = PairResponse), (status = 401, body = super::ErrorBody)))]
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
async fn signed_device(
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
}

/// The device's open requests (device-signed).
#[utoipa::path(get, path = "/api/v1/authenticator/requests", tag = "authenticator",
    responses((status = 200, body = [AppRequestDto]), (status = 401, body = super::ErrorBody)))]
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
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
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
    responses((status = 200, body = KeysResponse), (status = 401, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
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

// ---- Twilio callbacks ---------------------------------------------------

/// Checks `X-Twilio-Signature` over the public URL Twilio called and the
/// body, as Twilio's own libraries do (port variants, `bodySHA256` for JSON
/// bodies, webhook keys named by `X-Twilio-Webhooks-Signature-Settings`);
/// returns the form parameters.
fn twilio_checked(
    st: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>> {
    let verifier = st
        .config
        .twilio_webhooks
        .as_ref()
        .ok_or(AppError::NotFound)?;
    let url = format!(
        "{}{}",
        st.config.public_url.trim_end_matches('/'),
        uri.0.path_and_query().map_or(uri.0.path(), |p| p.as_str())
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let sig = header(gatehouse_delivery::SIGNATURE_HEADER).unwrap_or("");
    let settings = header(gatehouse_delivery::SIGNATURE_SETTINGS_HEADER);
    let is_json = header(header::CONTENT_TYPE.as_str()).is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    let params = if is_json {
        Vec::new()
    } else {
        gatehouse_delivery::twilio::signature::form_pairs(body)
    };
    let signed = if is_json {
        gatehouse_delivery::WebhookBody::Raw(body)
    } else {
        gatehouse_delivery::WebhookBody::Form(&params)
    };
    if !verifier.verify(&url, signed, sig, settings) {
        tracing::warn!(path = %uri.0.path(), "Twilio callback with a wrong signature refused");
        return Err(AppError::Forbidden("The request signature is not valid.".into()).into());
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn twiml(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, gatehouse_delivery::TWIML_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

/// TwiML for a call: says the prompt and gathers the keys.
pub async fn twilio_voice(
    State(st): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(challenge): Path<String>,
    body: Bytes,
) -> Result<Response> {
    twilio_checked(&st, &uri, &headers, &body)?;
    let prompt = svc::prompt_of_call(&st, &challenge).await?;
    let action = format!(
        "{}/api/v1/telephony/twilio/gather/{challenge}",
        st.config.public_url.trim_end_matches('/')
    );
    Ok(twiml(gatehouse_delivery::gather_twiml(
        &prompt,
        &action,
        &gatehouse_delivery::GatherOptions::default(),
    )))
}

/// The keys gathered on a call.
pub async fn twilio_gather(
    State(st): State<AppState>,
    ctx: Ctx,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(challenge): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    // The Gather has no finish key, so `Digits` holds the keys as pressed,
    // `#` included ("#" approves, "0#" reports fraud): see
    // `gatehouse_delivery::twilio::twiml` for why and for the Twilio
    // reference each attribute rests on.
    let keys = param(&params, "Digits");
    let status =
        svc::answer_call(&st, &challenge, keys, "a key press on the call", &ctx.addr).await?;
    let said = match status {
        ChallengeStatus::Approved | ChallengeStatus::Used => {
            "Thank you. You are signed in. Goodbye."
        }
        ChallengeStatus::Fraud => {
            "Thank you. The sign-in was refused and your administrator has been told. Goodbye."
        }
        _ => "The sign-in was not confirmed. Goodbye.",
    };
    Ok(twiml(gatehouse_delivery::say_twiml(said)))
}

/// Inbound texts (replies): `FRAUD` reports the latest code sent to the number.
pub async fn twilio_sms(
    State(st): State<AppState>,
    ctx: Ctx,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    let from = param(&params, "From");
    let reported = svc::text_reply(
        &st,
        from,
        param(&params, "Body"),
        "a text-message reply",
        &ctx.addr,
    )
    .await?;
    let answer = if reported {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Thank you. The sign-in was refused and your administrator has been told.</Message></Response>"
    } else {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
    };
    Ok(twiml(answer.to_owned()))
}

/// Delivery status reports: logged, and recorded on the queue entry that the
/// callback URL's `outbox` marker names (resolving an entry whose send had
/// an unknown outcome as sent). A marker naming no text or call is ignored;
/// the answer is 204 either way, so that the provider does not retry.
pub async fn twilio_status(
    State(st): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    let sid = [param(&params, "MessageSid"), param(&params, "CallSid")].concat();
    let status = [
        param(&params, "MessageStatus"),
        param(&params, "CallStatus"),
    ]
    .concat();
    tracing::info!(sid = %sid, status = %status, "gateway delivery status");
    // Signed over the whole URL, query included; the marker's tag makes
    // sure the URL was not cut short (see `status_callback_url`).
    let outbox = uri
        .0
        .query()
        .and_then(|q| crate::service::delivery::status_callback_entry(&st, q));
    let known_status = !status.is_empty()
        && status.len() <= 32
        && status.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if let Some(id) = outbox
        && !sid.is_empty()
        && known_status
    {
        crate::service::delivery::record_status(&st, id, &sid, &status).await?;
    }
    metrics::counter!("gatehouse_gateway_status_total", "status" => status).increment(1);
    Ok(StatusCode::NO_CONTENT)
}
