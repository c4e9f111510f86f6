//! PhoneFactor over the API: sign-in challenges, activation, deactivation,
//! administrators' actions; the virtual phone and the authenticator app's
//! device-signed calls in their own modules. (Twilio's callbacks serve
//! TwiML, not JSON: `crate::twilio`.)

use super::ApiJson;
use crate::AppState;
use crate::error::{AppError, Result};
use crate::extract::{ActivationStep, ApiCaller, Ctx, InSession, SecondFactorStep, session_cookie};
use crate::service::auth;
use crate::service::phonefactor::{self as svc, ChallengeView};
use crate::service::virtual_phone::{self as vps};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_domain::UserId;
use gatehouse_domain::device;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod authenticator;
mod virtual_phone;

pub use authenticator::*;
pub use virtual_phone::*;

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
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
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
    http: &crate::HttpConfig,
    jar: CookieJar,
    issued: Option<auth::IssuedSession>,
    body: Response,
) -> Response {
    match issued {
        Some(i) => (jar.add(session_cookie(http, &i)), body).into_response(),
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
    Ok(with_session(&s.ctx.http, jar, Some(issued), body))
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
    Ok(with_session(&s.ctx.http, jar, issued, body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "+1 415 555 0123", "mode": "sms"}))]
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
        &s.ctx.http,
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
    Ok(with_session(&s.ctx.http, jar, issued, body))
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
    let p = svc::own(&st, user).await?;
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
            status: p.status.as_str().to_owned(),
            mode: p.mode.map(|m| m.as_str().to_owned()),
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
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
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
        .user_ref()
        .cloned()
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
#[serde(deny_unknown_fields)]
#[schema(example = json!({"minutes": 30}))]
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
    OptionalJson(req): OptionalJson<BypassBody>,
) -> Result<StatusCode> {
    svc::grant_bypass(&st, &caller, UserId(id), req.minutes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON body that may be left out (then the defaults), and otherwise is
/// read as `ApiJson` reads one: 415 when it is not sent as JSON, 400 when it
/// is not JSON, 422 when it is JSON of the wrong shape.
pub struct OptionalJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                let t = t.trim().to_ascii_lowercase();
                t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
            });
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !is_json {
            return Err(crate::error::error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON, with Content-Type: application/json (or no body).",
                None,
            ));
        }
        serde_json::from_slice(&body)
            .map(OptionalJson)
            .map_err(|e| {
                let status = match e.classify() {
                    serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_REQUEST,
                };
                crate::error::error_response(
                    status,
                    &format!("The body cannot be read: {e}."),
                    None,
                )
            })
    }
}
