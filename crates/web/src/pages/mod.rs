//! Server-rendered pages (maud). They work without JavaScript; `app.js`
//! only adds conveniences (the Actions drop-down acts on selection).

mod accounts;
mod audit;
mod billing;
mod external_auth;
pub mod form;
mod login;
mod operator;
mod phonefactor;
mod radius;
mod security;
mod users;

use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::routing::Routes;
use crate::routing::get;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_app::model::User;
use gatehouse_domain::Role;
use maud::{DOCTYPE, Markup, html};

pub use form::Form;

pub fn routes() -> Routes {
    Routes::new()
        .route("/", get(page_home))
        .route("/static/app.css", get(static_css))
        .route("/static/app.js", get(static_js))
        .merge(login::routes())
        .merge(users::routes())
        .merge(external_auth::routes())
        .merge(operator::routes())
        .merge(radius::routes())
        .merge(accounts::routes())
        .merge(audit::routes())
        .merge(billing::routes())
        .merge(security::routes())
        .merge(phonefactor::routes())
        .fallback(|| async { error_page(AppError::NotFound) })
}

async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

async fn static_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.js"),
    )
        .into_response()
}

/// Where a signed-in user starts.
async fn page_home(crate::extract::PageUser(user, _): crate::extract::PageUser) -> Redirect {
    Redirect::to(home_for(&user))
}

pub fn home_for(user: &User) -> &'static str {
    match user.role {
        Role::Operator | Role::Admin => "/users",
        Role::User => "/security",
    }
}

/// The page frame: header with navigation for `user` (if signed in).
pub fn layout(title: &str, user: Option<&User>, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse Customer Portal" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.brand { a href="/" { span.logo aria-hidden="true" { "◆" } " Gatehouse" } span.sub { "Customer Portal" } }
                    @if let Some(u) = user {
                        nav aria-label="Main" {
                            ul {
                                @if u.role.is_admin() {
                                    li { a href="/users" { "Users" } }
                                }
                                @if u.role == Role::Operator {
                                    li { a href="/accounts" { "Accounts" } }
                                    li { a href="/tokens" { "Token Inventory" } }
                                    li { a href="/catalog" { "Catalog" } }
                                    li { a href="/radius-clients" { "RADIUS" } }
                                }
                                @if u.role.is_admin() {
                                    li { a href="/billing" { "Billing" } }
                                    li { a href="/audit" { "Audit Log" } }
                                }
                                li { a href="/security" { "Security Settings" } }
                            }
                        }
                        div.who {
                            span { (u.username) " · " (u.account_name) }
                            @if let Some(t) = csrf {
                                form method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(t);
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main id="main" { (body) }
                footer { "Gatehouse · two-factor authentication for your portal users" }
            }
        }
    }
}

/// A labelled text input with its error (if any) right below it.
pub fn field(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    extra: FieldExtra,
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { (label) @if extra.optional { span.optional { " (optional)" } } }
            @if let Some(h) = extra.hint { p.hint id=(hint_id) { (h) } }
            input id=(id) name=(name) type=(kind) value=(value)
                required[extra.required] autofocus[extra.autofocus]
                autocomplete=[extra.autocomplete]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| err_id.as_str()).or(extra.hint.map(|_| hint_id.as_str()))];
            @if let Some(e) = error { p.error id=(err_id) role="alert" { (e) } }
        }
    }
}

#[derive(Default, Clone, Copy)]
pub struct FieldExtra<'a> {
    pub required: bool,
    pub optional: bool,
    pub autofocus: bool,
    pub autocomplete: Option<&'a str>,
    pub hint: Option<&'a str>,
}

/// The hidden CSRF input every form carries.
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A form-level error summary (for errors not tied to a field).
pub fn alert(message: Option<&str>) -> Markup {
    html! { @if let Some(m) = message { div.alert.alert-error role="alert" { (m) } } }
}

pub fn notice(message: Option<&str>) -> Markup {
    html! { @if let Some(m) = message { div.alert.alert-ok role="status" { (m) } } }
}

/// What an error page said, kept on the response so that
/// [`with_navigation`] can render it again inside the signed-in user's frame.
#[derive(Clone)]
struct ErrorPageInfo {
    title: &'static str,
    message: String,
}

fn error_body(title: &str, message: &str) -> Markup {
    html! {
        section.card.narrow {
            h1 { (title) }
            p { (message) }
            p { a href="/" { "Back to the portal" } }
        }
    }
}

/// Gives error pages the navigation of the signed-in user. Error pages are
/// made where the user is not at hand (extractors, `?` in handlers); this
/// layer knows the request's context (the same one the handler used, cached
/// in the request) and re-renders them.
pub async fn with_navigation(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path().starts_with("/static/") {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ctx =
        <crate::extract::Ctx as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &st,
        )
        .await
        .ok();
    let resp = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    let (Some(info), Some(ctx)) = (resp.extensions().get::<ErrorPageInfo>().cloned(), ctx) else {
        return resp;
    };
    match ctx.user() {
        Some(user) => (
            resp.status(),
            layout(
                info.title,
                Some(user),
                ctx.csrf_token(),
                error_body(info.title, &info.message),
            ),
        )
            .into_response(),
        None => resp,
    }
}

/// A whole-page error (not found, forbidden, internal).
pub fn error_page(err: AppError) -> Response {
    // An internal error's message logs its cause under the reference it
    // names.
    status_page(err.status(), &err.message())
}

/// A whole-page error with `status` and `message`.
pub fn status_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign in required",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        _ if status.is_server_error() => "Something went wrong",
        _ => "Cannot do that",
    };
    let mut resp = (
        status,
        layout(title, None, None, error_body(title, message)),
    )
        .into_response();
    resp.extensions_mut().insert(ErrorPageInfo {
        title,
        message: message.to_owned(),
    });
    resp
}

/// Converts any error into an HTML error page for page handlers.
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

/// A short script-free confirmation of a destructive action.
pub fn confirm_page(
    title: &str,
    user: &User,
    csrf: &str,
    question: Markup,
    action: &str,
    button: &str,
    danger: bool,
) -> Markup {
    layout(
        title,
        Some(user),
        Some(csrf),
        html! {
            section.card.narrow {
                h1 { (title) }
                form method="post" action=(action) {
                    (csrf_input(csrf))
                    (question)
                    div.buttons {
                        button.primary.danger[danger] type="submit" { (button) }
                        a.button href="/users" { "Cancel" }
                    }
                }
            }
        },
    )
}

/// Errors of a form, by field; `form` for those tied to no field.
#[derive(Default)]
pub struct FormErrors(Vec<(&'static str, String)>);

impl FormErrors {
    pub fn none() -> Self {
        Self::default()
    }

    /// The error next to the field it names (or at the top of the form).
    pub fn from_app(e: &AppError) -> Self {
        FormErrors(vec![(e.field().unwrap_or("form"), e.message())])
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.as_str())
    }
}

/// Pages for administrators only; `what` finishes "Only administrators can …".
pub fn require_admin(user: &User, what: &str) -> Result<(), AppError> {
    if user.role.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "Only administrators can {what}."
        )))
    }
}
