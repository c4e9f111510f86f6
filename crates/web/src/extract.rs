//! Who is calling: the session cookie or a bearer token, the client's
//! address, and the CSRF check for cookie-authenticated writes.

use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::service::Caller;
use crate::service::auth::{self, COOKIE, IssuedSession, LiveSession};
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use gatehouse_app::model::User;
use gatehouse_domain::secret;
use gatehouse_domain::session::SessionState;
use std::marker::PhantomData;
use std::net::SocketAddr;

/// The HTTP front end's settings, as the router was built with them.
pub fn http_config(parts: &Parts) -> crate::HttpConfig {
    parts
        .extensions
        .get::<crate::HttpConfig>()
        .copied()
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for crate::HttpConfig {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(http_config(parts))
    }
}

/// The client's network address: the TCP peer, or the last
/// `X-Forwarded-For` hop when configured to trust a reverse proxy.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        if http_config(parts).trust_forwarded_for
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
    /// The anonymous CSRF token of the double-submit cookie, only if its
    /// signature and age check out (forms shown before any session exists).
    anon_csrf: Option<String>,
    method: Method,
    pub is_api: bool,
    /// The HTTP front end's settings (cookie names and flags).
    pub http: crate::HttpConfig,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = crate::error::HttpError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
        let ClientAddr(addr) = ClientAddr::from_request_parts(parts, st)
            .await
            .unwrap_or_else(|e| match e {});
        // Inside the nested `/api/v1` router the URI has lost its prefix.
        let is_api = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |o| o.0.path())
            .starts_with("/api/");
        // Bearer tokens are for the API; pages are for browsers, which
        // sign in with the session cookie.
        let bearer = match parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|_| is_api)
        {
            Some(token) => Some(bearer_user(st, token.trim()).await?),
            None => None,
        };
        let http = http_config(parts);
        let jar = CookieJar::from_headers(&parts.headers);
        let live = match (&bearer, jar.get(session_cookie_name(&http))) {
            (None, Some(c)) => auth::load_session(st, c.value()).await?,
            _ => None,
        };
        let anon_csrf = jar
            .get(csrf_cookie_name(&http))
            .map(|c| c.value().to_owned())
            .filter(|t| anon_csrf_valid(st, t));
        let ctx = Ctx {
            live,
            bearer,
            addr,
            csrf_header: parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            anon_csrf,
            method: parts.method.clone(),
            is_api,
            http,
        };
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

async fn bearer_user(st: &AppState, token: &str) -> Result<User, AppError> {
    crate::service::tokens::authenticate(st, token).await
}

impl Ctx {
    pub fn via(&self) -> crate::service::Channel {
        if self.is_api {
            crate::service::Channel::Api
        } else {
            crate::service::Channel::Web
        }
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

    /// Checks a form's CSRF token (constant time) against the session's or,
    /// before there is a session, against the signed double-submit cookie.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        let expected = match &self.live {
            Some(l) => Some(l.session.csrf_token.as_str()),
            None => self.anon_csrf.as_deref(),
        };
        match expected {
            Some(expected) if !submitted.is_empty() && secret::ct_eq(expected, submitted) => Ok(()),
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
    type Rejection = crate::error::HttpError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, st).await?;
        if ctx.user().is_none() {
            return Err(AppError::Unauthorized("Sign in first.".into()).into());
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
            .map_err(|e| crate::pages::error_page(e.0))?;
        match ctx.user().cloned() {
            Some(u) => Ok(PageUser(u, ctx)),
            None => Err(redirect_for(&ctx, parts)),
        }
    }
}

/// Where a page request that may not go on is sent: the step its session
/// must finish first, or the sign-in form (coming back here afterwards).
fn redirect_for(ctx: &Ctx, parts: &Parts) -> Response {
    // Signed in already (the step is behind them): their home page.
    if ctx.user().is_some() {
        return Redirect::to("/").into_response();
    }
    if let Some(step) = ctx.session_state().and_then(step_page) {
        return Redirect::to(step).into_response();
    }
    let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let target = match safe_next(next) {
        Some(n) if n != "/" => format!("/login?next={}", urlencode(n)),
        _ => "/login".to_owned(),
    };
    Redirect::to(&target).into_response()
}

/// The page that finishes a half-signed-in session's current step.
pub fn step_page(state: SessionState) -> Option<&'static str> {
    match state {
        SessionState::PasswordChangeRequired => Some("/password"),
        SessionState::SecondFactorRequired => Some("/login/second-factor"),
        SessionState::ActivationRequired => Some("/phonefactor/activate"),
        _ => None,
    }
}

/// A sign-in stage: which session states an endpoint of that stage admits.
/// Each half-signed-in step has its own, so an endpoint of one step cannot
/// be reached from another (a password-only session cannot change the
/// password, a forced password change cannot activate PhoneFactor).
pub trait Stage: Send + Sync + 'static {
    fn admits(state: SessionState) -> bool;
}

/// Password accepted, second factor pending.
pub struct SecondFactorStep;
impl Stage for SecondFactorStep {
    fn admits(state: SessionState) -> bool {
        state == SessionState::SecondFactorRequired
    }
}

/// PhoneFactor ordered but not activated (signed in otherwise), or a
/// signed-in user re-activating or changing their number.
pub struct ActivationStep;
impl Stage for ActivationStep {
    fn admits(state: SessionState) -> bool {
        matches!(
            state,
            SessionState::ActivationRequired | SessionState::Authenticated
        )
    }
}

/// A forced password change (after a one-time password), or a signed-in
/// user changing their password.
pub struct PasswordStep;
impl Stage for PasswordStep {
    fn admits(state: SessionState) -> bool {
        matches!(
            state,
            SessionState::PasswordChangeRequired | SessionState::Authenticated
        )
    }
}

/// Fully signed in with a session cookie (not a bearer token).
pub struct SignedInStep;
impl Stage for SignedInStep {
    fn admits(state: SessionState) -> bool {
        state == SessionState::Authenticated
    }
}

/// A cookie session at stage `S` and its user; the only way a handler gets
/// at a half-signed-in session. API writes are CSRF-checked here; page
/// forms check the token from their body with `ctx.check_csrf`.
pub struct InSession<S: Stage> {
    pub live: LiveSession,
    pub user: User,
    pub ctx: Ctx,
    _stage: PhantomData<S>,
}

impl<S: Stage> InSession<S> {
    /// The session's user as the caller of their own actions.
    pub fn caller(&self) -> Caller {
        Caller::user(self.user.clone(), self.ctx.addr.clone(), self.ctx.via())
    }

    pub fn state(&self) -> SessionState {
        self.live.session.state
    }

    pub fn csrf_token(&self) -> &str {
        &self.live.session.csrf_token
    }
}

impl<S: Stage> FromRequestParts<AppState> for InSession<S> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, st).await.map_err(|e| {
            if parts
                .extensions
                .get::<OriginalUri>()
                .map_or(parts.uri.path(), |o| o.0.path())
                .starts_with("/api/")
            {
                e.into_response()
            } else {
                crate::pages::error_page(e.0)
            }
        })?;
        let admitted = ctx.live.as_ref().and_then(|l| match &l.user {
            Some(u) if S::admits(l.session.state) => Some((l.clone(), u.clone())),
            _ => None,
        });
        let Some((live, user)) = admitted else {
            return Err(if ctx.is_api {
                AppError::Unauthorized(
                    "This needs a session at another step of signing in: sign in with your username and password (and second factor) first."
                        .into(),
                )
                .into_response()
            } else {
                redirect_for(&ctx, parts)
            });
        };
        if ctx.is_api {
            ctx.check_api_csrf()
                .map_err(|e| crate::error::HttpError(e).into_response())?;
        }
        Ok(InSession {
            live,
            user,
            ctx,
            _stage: PhantomData,
        })
    }
}

/// `next` as a same-origin path, or nothing. Parsed as a URL against the
/// portal's own origin: only a result on that origin survives, so values
/// that browsers resolve to another site (`//evil`, `/\evil`, `/\tevil`,
/// control characters, `https:evil`) are dropped.
pub fn safe_next(next: &str) -> Option<&str> {
    // Browsers strip ASCII tab and newline anywhere and C0 controls and
    // space at the ends before parsing (WHATWG URL); refuse them outright.
    // Non-ASCII is refused too: browsers percent-encode it in real links,
    // and raw it would go out in the `Location` header as is.
    if next.is_empty()
        || next.len() > 2000
        || !next.is_ascii()
        || next
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return None;
    }
    const ORIGIN: &str = "http://gatehouse.invalid";
    let base = url::Url::parse(ORIGIN).ok()?;
    let joined = base.join(next).ok()?;
    if joined.origin() != base.origin() || !next.starts_with('/') || next.starts_with("//") {
        return None;
    }
    Some(next)
}

pub use gatehouse_app::urlencode;

/// The session cookie's name. `__Host-` (Secure, `Path=/`, no `Domain`)
/// means no other host — a sibling subdomain, a plain-http page — can set
/// or overwrite it; browsers accept that prefix only on Secure cookies.
pub fn session_cookie_name(http: &crate::HttpConfig) -> &'static str {
    if http.secure_cookies {
        "__Host-gatehouse_session"
    } else {
        COOKIE
    }
}

/// The name of the anonymous CSRF cookie (double submit).
pub fn csrf_cookie_name(http: &crate::HttpConfig) -> &'static str {
    if http.secure_cookies {
        "__Host-gatehouse_csrf"
    } else {
        "gatehouse_csrf"
    }
}

fn base_cookie(http: &crate::HttpConfig, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(http.secure_cookies)
        .build()
}

/// The cookie that carries a session token.
pub fn session_cookie(http: &crate::HttpConfig, issued: &IssuedSession) -> Cookie<'static> {
    base_cookie(http, session_cookie_name(http), issued.token.clone())
}

/// A cookie that removes the session cookie.
pub fn clear_cookie(http: &crate::HttpConfig) -> Cookie<'static> {
    let mut c = base_cookie(http, session_cookie_name(http), String::new());
    c.make_removal();
    c
}

/// How long a sign-in form's anonymous CSRF token stays good.
const ANON_CSRF_HOURS: i64 = 12;

fn anon_csrf_mac(st: &AppState, issued_ms: i64, nonce: &str) -> String {
    st.config
        .master_key
        .keyed_digest(format!("anonymous-csrf:{issued_ms}:{nonce}").as_bytes())
}

/// A signed anonymous CSRF token: `a.ISSUED_MS.NONCE.MAC`, MAC keyed by a
/// key derived from the master key.
fn new_anon_csrf(st: &AppState) -> String {
    let issued = st.now().millis();
    let nonce = secret::new_token("");
    let mac = anon_csrf_mac(st, issued, &nonce);
    format!("a.{issued}.{nonce}.{mac}")
}

fn anon_csrf_valid(st: &AppState, token: &str) -> bool {
    let mut it = token.splitn(4, '.');
    let (Some("a"), Some(issued), Some(nonce), Some(mac)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    let Ok(issued) = issued.parse::<i64>() else {
        return false;
    };
    let age = st.now().millis() - issued;
    (0..ANON_CSRF_HOURS * 3_600_000).contains(&age)
        && secret::ct_eq(&anon_csrf_mac(st, issued, nonce), mac)
}

/// The CSRF token for a form: the session's, or — before any session
/// exists — a signed double-submit token, with the cookie to set when a new
/// one was made. Writes nothing to the database: anonymous requests (the
/// sign-in form, `GET /api/v1/session`) create no session row; a row is
/// made only once a password has been accepted.
pub fn form_csrf(st: &AppState, ctx: &Ctx) -> (String, Option<Cookie<'static>>) {
    if let Some(t) = ctx.csrf_token() {
        return (t.to_owned(), None);
    }
    if let Some(t) = &ctx.anon_csrf {
        return (t.clone(), None);
    }
    let token = new_anon_csrf(st);
    // A browser-session cookie; the server refuses it after ANON_CSRF_HOURS.
    let cookie = base_cookie(&ctx.http, csrf_cookie_name(&ctx.http), token.clone());
    (token, Some(cookie))
}

/// Who looks at the virtual phone: the session's user at any sign-in stage
/// (or a bearer token's); 404 unless delivery is virtual, 401 if nobody.
pub fn virtual_viewer(
    st: &AppState,
    ctx: &Ctx,
) -> std::result::Result<crate::service::virtual_phone::Viewer, AppError> {
    let partial = ctx
        .live
        .as_ref()
        .filter(|l| l.session.state != SessionState::Anonymous)
        .and_then(|l| l.user.as_ref());
    crate::service::virtual_phone::Viewer::of(st, ctx.user(), partial)
}

/// A CSV attachment.
pub fn csv_response(name: &str, csv: String) -> Response {
    let headers = [
        (
            axum::http::header::CONTENT_TYPE,
            "text/csv; charset=utf-8".to_owned(),
        ),
        (
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
    ];
    axum::response::IntoResponse::into_response((headers, csv))
}

/// The highest page number a list is asked for: far past any real list,
/// low enough that no offset computed from it overflows.
pub const MAX_PAGE: i64 = 1_000_000;

/// A page number from a query string: 1 when absent or below 1, at most
/// [`MAX_PAGE`] (a page past the last is empty).
pub fn page_or_first(p: Option<i64>) -> i64 {
    p.unwrap_or(1).clamp(1, MAX_PAGE)
}
