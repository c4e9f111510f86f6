//! Who is calling: the session cookie or a bearer token, the client's
//! address, and the CSRF check for cookie-authenticated writes.

use crate::AppState;
use crate::error::AppError;
use crate::service::Caller;
use crate::service::auth::{self, COOKIE, IssuedSession, LiveSession};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use gatehouse_domain::secret;
use gatehouse_domain::session::SessionState;
use gatehouse_store::User;
use std::net::SocketAddr;

/// The client's network address: the TCP peer, or the last
/// `X-Forwarded-For` hop when configured to trust a reverse proxy.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        if st.config.trust_forwarded_for
            && let Some(v) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            && let Some(last) = v
                .rsplit(',')
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
        {
            return Ok(ClientAddr(last.to_owned()));
        }
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        Ok(ClientAddr(addr))
    }
}

/// The request's context: its session (if any), its bearer user (if any)
/// and its address.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub live: Option<LiveSession>,
    pub bearer: Option<User>,
    pub addr: String,
    csrf_header: Option<String>,
    method: Method,
    pub is_api: bool,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, st)
            .await
            .unwrap_or_else(|e| match e {});
        let is_api = parts.uri.path().starts_with("/api/");
        let bearer = match parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            Some(token) => Some(bearer_user(st, token.trim()).await?),
            None => None,
        };
        let jar = CookieJar::from_headers(&parts.headers);
        let live = match (&bearer, jar.get(COOKIE)) {
            (None, Some(c)) => auth::load_session(st, c.value()).await?,
            _ => None,
        };
        let ctx = Ctx {
            live,
            bearer,
            addr,
            csrf_header: parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            method: parts.method.clone(),
            is_api,
        };
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

async fn bearer_user(st: &AppState, token: &str) -> Result<User, AppError> {
    crate::service::tokens::authenticate(st, token).await
}

impl Ctx {
    fn via(&self) -> &'static str {
        if self.is_api { "api" } else { "web" }
    }

    /// The signed-in user, if the session is fully authenticated (or a
    /// bearer token is used).
    pub fn user(&self) -> Option<&User> {
        if let Some(u) = &self.bearer {
            return Some(u);
        }
        self.live
            .as_ref()
            .filter(|l| l.session.state == SessionState::Authenticated)
            .and_then(|l| l.user.as_ref())
    }

    /// The caller for services: the signed-in user, or anonymous.
    pub fn caller(&self) -> Caller {
        match self.user() {
            Some(u) => Caller::user(u.clone(), self.addr.clone(), self.via()),
            None => Caller::anonymous(self.addr.clone(), self.via()),
        }
    }

    pub fn session_state(&self) -> Option<SessionState> {
        self.live.as_ref().map(|l| l.session.state)
    }

    pub fn csrf_token(&self) -> Option<&str> {
        self.live.as_ref().map(|l| l.session.csrf_token.as_str())
    }

    /// Checks a form's CSRF token against the session's (constant time).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        match self.csrf_token() {
            Some(expected) if secret::ct_eq(expected, submitted) => Ok(()),
            _ => Err(AppError::Forbidden(
                "The form has expired or did not come from this site. Go back, reload the page and try again."
                    .into(),
            )),
        }
    }

    /// For API writes: cookie-authenticated calls must carry `X-CSRF-Token`;
    /// bearer-authenticated calls need none (no ambient credential).
    pub fn check_api_csrf(&self) -> Result<(), AppError> {
        if self.bearer.is_some()
            || matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
        {
            return Ok(());
        }
        match (&self.live, &self.csrf_header) {
            (None, _) => Ok(()),
            (Some(_), Some(h)) => self.check_csrf(h),
            (Some(_), None) => Err(AppError::Forbidden(
                "Missing X-CSRF-Token header (get it from GET /api/v1/session).".into(),
            )),
        }
    }
}

/// An authenticated API caller (session cookie with CSRF for writes, or a
/// bearer token).
pub struct ApiCaller(pub Caller, pub Ctx);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        if ctx.user().is_none() {
            return Err(AppError::Unauthorized("Sign in first.".into()));
        }
        ctx.check_api_csrf()?;
        Ok(ApiCaller(ctx.caller(), ctx))
    }
}

/// A signed-in user on a page; otherwise a redirect to where they must go.
pub struct PageUser(pub User, pub Ctx);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, st)
            .await
            .map_err(crate::pages::error_page)?;
        match (ctx.session_state(), ctx.user().cloned()) {
            (_, Some(u)) => Ok(PageUser(u, ctx)),
            (Some(SessionState::PasswordChangeRequired), _) => {
                Err(Redirect::to("/password").into_response())
            }
            (Some(SessionState::SecondFactorRequired), _) => {
                Err(Redirect::to("/login/second-factor").into_response())
            }
            (Some(SessionState::ActivationRequired), _) => {
                Err(Redirect::to("/phonefactor/activate").into_response())
            }
            _ => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let target = if next == "/" || !next.starts_with('/') || next.starts_with("//") {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(next))
                };
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The cookie that carries a session token.
pub fn session_cookie(st: &AppState, issued: &IssuedSession) -> Cookie<'static> {
    Cookie::build((COOKIE, issued.token.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.config.secure_cookies)
        .build()
}

/// A cookie that removes the session cookie.
pub fn clear_cookie(st: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build((COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.config.secure_cookies)
        .build();
    c.make_removal();
    c
}

/// Makes sure the request has a session (an anonymous one if need be) so a
/// form can carry a CSRF token; returns its CSRF token and, when a new
/// session was made, the cookie to set.
pub async fn ensure_session(
    st: &AppState,
    ctx: &Ctx,
) -> Result<(String, Option<Cookie<'static>>), AppError> {
    if let Some(t) = ctx.csrf_token() {
        return Ok((t.to_owned(), None));
    }
    let mut conn = st.store.conn().await?;
    let issued = auth::issue_session(
        st,
        &mut conn,
        None,
        SessionState::Anonymous,
        &ctx.addr,
        None,
    )
    .await?;
    Ok((issued.csrf_token.clone(), Some(session_cookie(st, &issued))))
}
