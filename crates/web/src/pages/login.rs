//! Sign-in, sign-out and the password change page.

use super::{FieldExtra, PageResult, alert, csrf_input, field, home_for, layout};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{
    Ctx, InSession, PasswordStep, SecondFactorStep, clear_cookie, form_csrf, session_cookie,
    step_page,
};
use crate::pages::Form;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::auth;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::CookieJar;
use gatehouse_domain::session::SessionState;
use maud::html;
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/login", get(page_login).post(login_submit))
        .route("/logout", post(logout_submit))
        .route("/password", get(page_password).post(password_submit))
        .route(
            "/login/security-code",
            get(page_security_code).post(security_code_submit),
        )
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Only same-origin paths, so `next` cannot send people to another site.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.and_then(crate::extract::safe_next)
}

fn login_form(
    csrf: &str,
    username: &str,
    next: Option<&str>,
    error: Option<&str>,
    info: Option<&str>,
) -> maud::Markup {
    layout(
        "Sign in",
        None,
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in" }
                (super::notice(info))
                (alert(error))
                form method="post" action="/login" {
                    (csrf_input(csrf))
                    @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                    (field("Username", "username", "text", username, None, FieldExtra { required: true, autofocus: username.is_empty(), autocomplete: Some("username"), ..Default::default() }))
                    (field("Password", "password", "password", "", None, FieldExtra { required: true, autofocus: !username.is_empty(), autocomplete: Some("current-password"), ..Default::default() }))
                    div.buttons { button.primary type="submit" { "Sign in" } }
                }
            }
        },
    )
}

async fn page_login(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> PageResult {
    if let Some(u) = ctx.user() {
        return Ok(Redirect::to(home_for(u)).into_response());
    }
    if let Some(step) = ctx.session_state().and_then(step_page) {
        return Ok(Redirect::to(step).into_response());
    }
    let (csrf, cookie) = form_csrf(&st, &ctx);
    let info = q.signed_out.as_ref().map(|_| "You have signed out.");
    let page = login_form(&csrf, "", safe_next(q.next.as_deref()), None, info);
    Ok(match cookie {
        Some(c) => (jar.add(c), page).into_response(),
        None => page.into_response(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> PageResult {
    if let Err(e) = ctx.check_csrf(&f.csrf) {
        // A stale or missing token: give a fresh form rather than a dead end.
        let (csrf, cookie) = form_csrf(&st, &ctx);
        let page = login_form(
            &csrf,
            &f.username,
            safe_next(f.next.as_deref()),
            Some(&e.message()),
            None,
        );
        return Ok(match cookie {
            Some(c) => (StatusCode::FORBIDDEN, jar.add(c), page).into_response(),
            None => (StatusCode::FORBIDDEN, page).into_response(),
        });
    }
    let previous = ctx.live.as_ref().map(|l| l.session.id_hash.clone());
    match auth::sign_in(
        &st,
        &ctx.caller(),
        &f.username,
        &f.password,
        previous.as_deref(),
    )
    .await
    {
        Ok(signed) => {
            let target = match signed.session.state {
                SessionState::PasswordChangeRequired => "/password".to_owned(),
                SessionState::SecondFactorRequired if signed.methods.contains(&"phonefactor") => {
                    "/login/phonefactor".to_owned()
                }
                SessionState::SecondFactorRequired => "/login/security-code".to_owned(),
                SessionState::ActivationRequired => "/phonefactor/activate".to_owned(),
                _ => safe_next(f.next.as_deref())
                    .unwrap_or(home_for(&signed.user))
                    .to_owned(),
            };
            Ok((
                jar.add(session_cookie(&ctx.http, &signed.session)),
                Redirect::to(&target),
            )
                .into_response())
        }
        Err(e @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let (csrf, _) = form_csrf(&st, &ctx);
            Ok((
                e.status(),
                crate::error::RetryAfter::of(&e),
                login_form(
                    &csrf,
                    &f.username,
                    safe_next(f.next.as_deref()),
                    Some(&e.message()),
                    None,
                ),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout_submit(
    State(st): State<AppState>,
    ctx: Ctx,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    if let Some(live) = &ctx.live {
        auth::end_session(&st, live, &ctx.caller()).await?;
    }
    Ok((
        jar.add(clear_cookie(&ctx.http)),
        Redirect::to("/login?signed_out=1"),
    )
        .into_response())
}

#[derive(Default)]
struct PasswordErrors {
    current: Option<String>,
    new: Option<String>,
    confirm: Option<String>,
    form: Option<String>,
}

fn password_form(s: &InSession<PasswordStep>, errors: &PasswordErrors) -> maud::Markup {
    let forced = is_forced(s);
    let csrf = s.csrf_token();
    layout(
        "Change password",
        if forced { None } else { Some(&s.user) },
        Some(csrf),
        html! {
            section.card.narrow {
                h1 { "Change password" }
                @if forced {
                    p.lead { "You signed in with a one-time password. Choose your own password to continue." }
                }
                (alert(errors.form.as_deref()))
                form method="post" action="/password" {
                    (csrf_input(csrf))
                    (field(if forced { "One-time password" } else { "Current password" }, "current_password", "password", "", errors.current.as_deref(), FieldExtra { required: true, autofocus: true, autocomplete: Some("current-password"), ..Default::default() }))
                    (field("New password", "new_password", "password", "", errors.new.as_deref(), FieldExtra { required: true, autocomplete: Some("new-password"), hint: Some("At least 12 characters. A few unrelated words make a strong, memorable password."), ..Default::default() }))
                    (field("Confirm new password", "confirm_password", "password", "", errors.confirm.as_deref(), FieldExtra { required: true, autocomplete: Some("new-password"), ..Default::default() }))
                    div.buttons {
                        button.primary type="submit" { "Change password" }
                        @if !forced { a.button href="/security" { "Cancel" } }
                    }
                }
                @if forced {
                    form method="post" action="/logout" {
                        (csrf_input(csrf))
                        button.link type="submit" { "Sign out instead" }
                    }
                }
            }
        },
    )
}

/// A forced change after a one-time password (rather than the user's own choice).
fn is_forced(s: &InSession<PasswordStep>) -> bool {
    s.state() == SessionState::PasswordChangeRequired
}

async fn page_password(s: InSession<PasswordStep>) -> PageResult {
    Ok(password_form(&s, &PasswordErrors::default()).into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

async fn password_submit(
    State(st): State<AppState>,
    s: InSession<PasswordStep>,
    jar: CookieJar,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let forced = is_forced(&s);
    s.ctx.check_csrf(&f.csrf)?;
    if f.new_password != f.confirm_password {
        let errors = PasswordErrors {
            confirm: Some("The two new passwords do not match.".into()),
            ..Default::default()
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, password_form(&s, &errors)).into_response());
    }
    let caller = s.caller();
    match auth::change_password(&st, &caller, &s.live, &f.current_password, &f.new_password).await {
        Ok(issued) => Ok((
            jar.add(session_cookie(&s.ctx.http, &issued)),
            Redirect::to(home_for(&s.user)),
        )
            .into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let msg = Some(match (forced, e.field()) {
                (true, Some("current_password")) => {
                    "The one-time password is not right.".to_owned()
                }
                _ => e.message(),
            });
            let errors = match e.field() {
                Some("current_password") => PasswordErrors {
                    current: msg,
                    ..Default::default()
                },
                Some("password") | Some("new_password") => PasswordErrors {
                    new: msg,
                    ..Default::default()
                },
                _ => PasswordErrors {
                    form: msg,
                    ..Default::default()
                },
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, password_form(&s, &errors)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn security_code_form(s: &InSession<SecondFactorStep>, error: Option<&str>) -> maud::Markup {
    let csrf = s.csrf_token();
    let who = s.user.username.clone();
    layout(
        "Security Code",
        None,
        None,
        html! {
            section.card.narrow {
                h1 { "Security Code" }
                p.lead { "Signing in as " strong { (who) } ". Enter the security code your Symantec Identity Protection credential shows now." }
                form method="post" action="/login/security-code" novalidate {
                    (csrf_input(csrf))
                    (field("Security Code", "code", "text", "", error, FieldExtra { required: true, autofocus: true, autocomplete: Some("one-time-code"), hint: Some("6 digits, from your token or the VIP Access app. A temporary security code from your administrator works here too."), ..Default::default() }))
                    div.buttons { button.primary type="submit" { "Verify" } }
                }
                p { a href="/login/phonefactor" { "Confirm with PhoneFactor instead" } }
                form method="post" action="/logout" {
                    (csrf_input(csrf))
                    button.link type="submit" { "Cancel and sign out" }
                }
            }
        },
    )
}

async fn page_security_code(s: InSession<SecondFactorStep>) -> PageResult {
    Ok(security_code_form(&s, None).into_response())
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

async fn security_code_submit(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> PageResult {
    s.ctx.check_csrf(&f.csrf)?;
    match auth::complete_security_code(&st, &s.ctx.caller(), &s.live, &f.code).await {
        Ok(issued) => {
            let target = step_page(issued.state).unwrap_or(home_for(&s.user));
            Ok((
                jar.add(session_cookie(&s.ctx.http, &issued)),
                Redirect::to(target),
            )
                .into_response())
        }
        Err(e @ AppError::Unauthorized(_)) => Ok((
            StatusCode::UNAUTHORIZED,
            security_code_form(&s, Some(&e.message())),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}
