//! PhoneFactor's pages: the sign-in confirmation, Activate PhoneFactor,
//! deactivation from Security Settings, and the virtual phone.
//!
//! Every page works without JavaScript: a call or app confirmation is
//! checked with the "I answered" button; with JavaScript the page checks by
//! itself (`data-poll` in app.js).

use super::{FieldExtra, PageResult, alert, csrf_input, field, home_for, layout, notice};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{
    ActivationStep, Ctx, InSession, PageUser, SecondFactorStep, Stage, session_cookie,
};
use crate::pages::Form;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::Caller;
use crate::service::auth::{IssuedSession, LiveSession};
use crate::service::phonefactor::{self as svc, ChallengeView};
use crate::service::virtual_phone as vps;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use gatehouse_app::model::User;
use gatehouse_domain::phonefactor::{ChallengeStatus, Mode, PhoneFactorStatus};
use gatehouse_domain::session::SessionState;
use maud::{Markup, html};
use serde::Deserialize;

mod activation;
mod sign_in;
mod virtual_phone;

use activation::*;
use sign_in::*;
use virtual_phone::*;

pub fn routes() -> Routes {
    Routes::new()
        .route("/login/second-factor", get(page_second_factor))
        .route("/login/phonefactor", get(page_login))
        .route("/login/phonefactor/start", post(login_start))
        .route("/login/phonefactor/verify", post(login_verify))
        .route("/login/phonefactor/check", post(login_check))
        .route(
            "/phonefactor/activate",
            get(page_activate).post(activate_start),
        )
        .route("/phonefactor/activate/verify", post(activate_verify))
        .route("/phonefactor/activate/check", post(activate_check))
        .route("/security/phonefactor/deactivate", post(own_deactivate))
        .route("/virtual-phone", get(page_virtual_phone))
        .route("/virtual-phone/keys", post(virtual_keys))
        .route("/virtual-phone/reply", post(virtual_reply))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

fn caller_for(ctx: &Ctx, user: &User) -> Caller {
    Caller::user(user.clone(), ctx.addr.clone(), crate::service::Channel::Web)
}

/// A form posted in a sign-in or activation step: the session, its user
/// and the request's context, once the form's CSRF token is checked.
fn checked<S: Stage>(s: InSession<S>, csrf: &str) -> Result<(LiveSession, User, Ctx), AppError> {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(csrf)?;
    Ok((live, user, ctx))
}

/// The confirmation finished a sign-in: the new session's cookie, and on
/// to what the session still needs or the user's home.
fn finish_sign_in(
    http: &crate::HttpConfig,
    jar: CookieJar,
    issued: &IssuedSession,
    user: &User,
) -> Response {
    let to = match issued.state {
        SessionState::PasswordChangeRequired => "/password",
        SessionState::ActivationRequired => "/phonefactor/activate",
        _ => home_for(user),
    };
    (jar.add(session_cookie(http, issued)), Redirect::to(to)).into_response()
}

/// Whether the user's PhoneFactor is active.
async fn is_active(st: &AppState, user: &User) -> Result<bool, AppError> {
    Ok(svc::own(st, user)
        .await?
        .is_some_and(|p| p.status == PhoneFactorStatus::Active))
}

/// The answer to "I answered" while the call or the app is not answered.
const NOT_CONFIRMED: &str = "Not confirmed yet. Answer the call or the app, then try again.";

/// What the user is asked to do for an open challenge.
fn challenge_body(c: &ChallengeView, csrf: &str, base: &str, error: Option<&str>) -> Markup {
    html! {
        @match c.mode {
            Mode::Sms => {
                p.lead { "We sent a text message with a 6-digit code to " strong { (c.phone_masked) } ". It is valid for 5 minutes." }
                form method="post" action=(format!("{base}/verify")) novalidate {
                    (csrf_input(csrf))
                    (field("Code", "code", "text", "", error, FieldExtra { required: true, autofocus: true, autocomplete: Some("one-time-code"), hint: Some("6 digits, from the text message."), ..Default::default() }))
                    div.buttons { button.primary type="submit" { "Verify" } }
                }
            }
            Mode::Call => {
                p.lead { "We are calling " strong { (c.phone_masked) } ". Answer the call and press " kbd { "#" } " to confirm, or " kbd { "0" } kbd { "#" } " if you did not ask for it." }
                (alert(error))
                form method="post" action=(format!("{base}/check")) data-poll=(format!("{base}/check")) {
                    (csrf_input(csrf))
                    div.buttons { button.primary type="submit" { "I answered" } }
                }
            }
            Mode::App => {
                @if let Some(uri) = &c.pairing_uri {
                    p.lead { "Open the authenticator app and scan this code, or paste the link into it." }
                    div.qr { (super::operator::qr_svg(uri)) }
                    p { code.pairing { (uri) } }
                    p.hint { "The link works once, for 15 minutes. After pairing, this page shows a number to type into the app." }
                } @else if let Some(n) = c.number_match {
                    p.lead { "We sent a request to your authenticator app. Type this number into the app to approve it:" }
                    p.number-match aria-live="polite" { strong { (format!("{n:02}")) } }
                } @else {
                    p.lead { "Waiting for the app to pair…" }
                }
                (alert(error))
                form method="post" action=(format!("{base}/check")) data-poll=(format!("{base}/check")) data-pairing[c.status == ChallengeStatus::Pairing] {
                    (csrf_input(csrf))
                    div.buttons { button.primary type="submit" { "I approved it in the app" } }
                }
            }
        }
    }
}

fn status_message(s: ChallengeStatus) -> Option<&'static str> {
    match s {
        ChallengeStatus::Denied => {
            Some("The request was denied. Start again if that was a mistake.")
        }
        ChallengeStatus::Expired => Some("The confirmation expired. Start again."),
        ChallengeStatus::Fraud => Some(
            "You reported this as fraud: the sign-in was refused and your administrator was told.",
        ),
        _ => None,
    }
}

// ---- Security Settings ---------------------------------------------------

/// The PhoneFactor card of Security Settings.
pub async fn security_card(
    st: &AppState,
    user: &User,
    csrf: &str,
    error: Option<&str>,
) -> Result<Markup, AppError> {
    let Some(p) = svc::own(st, user).await? else {
        return Ok(html! {});
    };
    let now = st.now();
    let mode = p.mode;
    Ok(html! {
        section.card id="phonefactor" {
            h2 { "PhoneFactor" }
            @if let Some(until) = p.fraud_blocked_until.filter(|t| now < *t) {
                div.alert.alert-error { "A sign-in was reported as fraud; sign-in is blocked until " (until.display()) " unless your administrator clears it." }
            }
            @match p.status.as_str() {
                "active" => {
                    dl.props {
                        dt { "Status" } dd { span.badge.badge-active { "active" } }
                        dt { "Mode" } dd { (mode.map_or("?", |m| m.label())) }
                        dt { "Phone number" } dd { (p.phone.as_deref().map(gatehouse_domain::phonefactor::mask).unwrap_or_default()) }
                        @if p.device_id.is_some() { dt { "Mobile app" } dd { "paired" } }
                    }
                    p { a.button href="/phonefactor/activate?change=1" { "Change number or mode" } }
                    h3 { "Deactivate PhoneFactor" }
                    p { "Your sign-ins will no longer be confirmed by phone. You can activate it again at any time." }
                    form method="post" action="/security/phonefactor/deactivate" novalidate {
                        (csrf_input(csrf))
                        (field("Your password", "password", "password", "", error, FieldExtra { required: true, autocomplete: Some("current-password"), ..Default::default() }))
                        div.buttons { button.danger type="submit" { "Deactivate PhoneFactor" } }
                    }
                }
                "deactivated" => {
                    p { "PhoneFactor is " span.badge.badge-deactivated { "deactivated" } ". Your sign-ins are not confirmed by phone." }
                    p { a.button.primary href="/phonefactor/activate?change=1" { "Activate PhoneFactor" } }
                }
                _ => {
                    p { "PhoneFactor was ordered for you and is waiting for activation." }
                    p { a.button.primary href="/phonefactor/activate?change=1" { "Activate PhoneFactor" } }
                }
            }
        }
    })
}

#[derive(Deserialize)]
struct DeactivateForm {
    csrf: String,
    password: String,
}

async fn own_deactivate(
    State(st): State<AppState>,
    PageUser(user, ctx): PageUser,
    Form(f): Form<DeactivateForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    match svc::deactivate_own(&st, &caller_for(&ctx, &user), &user, &f.password).await {
        Ok(()) => Ok(Redirect::to("/security?notice=phonefactor-deactivated").into_response()),
        // The page again, with the error at the password (and the status
        // that says the password was not right).
        Err(e @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let message = e.message();
            let errors = super::security::Errors {
                phonefactor: Some(&message),
                ..Default::default()
            };
            let page = super::security::render(&st, &user, &ctx, None, errors).await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
