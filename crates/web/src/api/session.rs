use super::ApiJson;
use crate::AppState;
use crate::api::users::UserDto;
use crate::error::Result;
use crate::extract::{Ctx, InSession, PasswordStep, SignedInStep, clear_cookie, session_cookie};
use crate::service::auth;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_domain::session::SessionState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// `authenticated`, `password_change_required` (a one-time password was
    /// used; change it with `POST /api/v1/me/password`), later also
    /// `second_factor_required` or `activation_required`.
    pub state: String,
    /// Second-factor methods available to finish signing in.
    pub methods: Vec<String>,
}

/// Sign in with username and password.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response> {
    ctx.check_api_csrf()?;
    let previous = ctx.live.as_ref().map(|l| l.session.id_hash.clone());
    let signed = auth::sign_in(
        &st,
        &ctx.caller(),
        &req.username,
        &req.password,
        previous.as_deref(),
    )
    .await?;
    let methods = signed.methods.iter().map(|m| (*m).to_owned()).collect();
    let body = LoginResponse {
        state: signed.session.state.as_str().to_owned(),
        methods,
    };
    Ok((
        jar.add(session_cookie(&ctx.http, &signed.session)),
        Json(body),
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// The signed-in user, or null.
    pub user: Option<UserDto>,
    /// `anonymous`, `password_change_required` or `authenticated`.
    pub state: String,
    /// Send this as `X-CSRF-Token` on writes made with the session cookie.
    pub csrf_token: String,
}

/// The current session. Without one, a CSRF token for the sign-in call
/// (a signed double-submit cookie; nothing is stored).
#[utoipa::path(get, path = "/api/v1/session", tag = "session", responses((status = 200, body = SessionResponse)))]
pub async fn session_get(State(st): State<AppState>, ctx: Ctx, jar: CookieJar) -> Result<Response> {
    if let Some(u) = &ctx.bearer {
        return Ok(Json(SessionResponse {
            user: Some(UserDto::from(u)),
            state: SessionState::Authenticated.as_str().into(),
            csrf_token: String::new(),
        })
        .into_response());
    }
    let (csrf, cookie) = crate::extract::form_csrf(&st, &ctx);
    let body = SessionResponse {
        user: ctx
            .live
            .as_ref()
            .and_then(|l| l.user.as_ref())
            .map(UserDto::from),
        state: ctx
            .session_state()
            .unwrap_or(SessionState::Anonymous)
            .as_str()
            .into(),
        csrf_token: csrf,
    };
    Ok(match cookie {
        Some(c) => (jar.add(c), Json(body)).into_response(),
        None => Json(body).into_response(),
    })
}

/// Sign out: ends the session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", responses((status = 204)))]
pub async fn logout(State(st): State<AppState>, ctx: Ctx, jar: CookieJar) -> Result<Response> {
    ctx.check_api_csrf()?;
    if let Some(live) = &ctx.live {
        auth::end_session(&st, live, &ctx.caller()).await?;
    }
    Ok((jar.add(clear_cookie(&ctx.http)), StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a longer passphrase of mine"}))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's own password (also completes a forced change after a
/// one-time password). Ends the user's other sessions.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn password_change(
    State(st): State<AppState>,
    s: InSession<PasswordStep>,
    jar: CookieJar,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Response> {
    let issued = auth::change_password(
        &st,
        &s.caller(),
        &s.live,
        &req.current_password,
        &req.new_password,
    )
    .await?;
    Ok((
        jar.add(session_cookie(&s.ctx.http, &issued)),
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// One of the caller's sessions (never its token).
#[derive(Serialize, ToSchema)]
pub struct OwnSessionDto {
    /// Names the session in `POST /api/v1/me/sessions/end`.
    #[schema(example = "3f9a1c2b7d4e8f60a1b2c3d4")]
    pub reference: String,
    /// `authenticated`, `second_factor_required` (the password was entered,
    /// the second factor not yet), `activation_required` or
    /// `password_change_required`.
    pub state: String,
    pub signed_in_at: String,
    /// Refreshed at most once a minute.
    pub last_seen_at: String,
    /// The client address the session was opened from.
    pub client_addr: String,
    /// The session this request came with.
    pub current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OwnSessionList {
    /// The 100 most recently used at most.
    pub sessions: Vec<OwnSessionDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reference": "3f9a1c2b7d4e8f60a1b2c3d4", "password": "correct horse battery staple"}))]
pub struct SessionEnd {
    /// From `GET /api/v1/me/sessions`.
    pub reference: String,
    /// Your password, again.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct SessionsEndOthers {
    /// Your password, again.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// How many sessions ended.
    pub ended: u64,
}

/// Where the caller is signed in: their sessions that have not expired,
/// most recently used first, including sign-ins still waiting for a
/// second factor (a password someone else knows shows here). A session
/// cookie only: an API token does not see its user's sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "session",
    responses((status = 200, body = OwnSessionList), (status = 401, body = super::ErrorBody)))]
pub async fn my_sessions(
    State(st): State<AppState>,
    s: InSession<SignedInStep>,
) -> Result<Json<OwnSessionList>> {
    let current = Some(s.live.session.id_hash.as_str());
    let list = crate::service::sessions::list_own(&st, &s.caller(), current).await?;
    Ok(Json(OwnSessionList {
        sessions: list
            .into_iter()
            .map(|s| OwnSessionDto {
                reference: s.reference,
                state: s.state.as_str().to_owned(),
                signed_in_at: s.signed_in_at.to_rfc3339(),
                last_seen_at: s.last_seen_at.to_rfc3339(),
                client_addr: s.client_addr,
                current: s.current,
            })
            .collect(),
    }))
}

/// Ends one of the caller's sessions, with their password again (ending
/// the current one signs out and clears the cookie). Another user's
/// session, or one already ended, is 404; a wrong password 401.
#[utoipa::path(post, path = "/api/v1/me/sessions/end", tag = "session", request_body = SessionEnd,
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn my_session_end(
    State(st): State<AppState>,
    s: InSession<SignedInStep>,
    jar: CookieJar,
    ApiJson(req): ApiJson<SessionEnd>,
) -> Result<Response> {
    let current = Some(s.live.session.id_hash.as_str());
    let ended_current =
        crate::service::sessions::end_own(&st, &s.caller(), current, &req.reference, &req.password)
            .await?;
    Ok(if ended_current {
        (jar.add(clear_cookie(&s.ctx.http)), StatusCode::NO_CONTENT).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// Ends every session of the caller but the one this request came with,
/// with their password again. API tokens are not sessions and stay.
#[utoipa::path(post, path = "/api/v1/me/sessions/end-others", tag = "session", request_body = SessionsEndOthers,
    responses((status = 200, body = SessionsEnded), (status = 401, body = super::ErrorBody)))]
pub async fn my_sessions_end_others(
    State(st): State<AppState>,
    s: InSession<SignedInStep>,
    ApiJson(req): ApiJson<SessionsEndOthers>,
) -> Result<Json<SessionsEnded>> {
    let current = Some(s.live.session.id_hash.as_str());
    let ended =
        crate::service::sessions::end_others(&st, &s.caller(), current, &req.password).await?;
    Ok(Json(SessionsEnded { ended }))
}
