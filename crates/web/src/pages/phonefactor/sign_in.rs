//! The sign-in confirmation: the challenge in the user's mode, the text's
//! code, the "I answered" check.

use super::*;

// ---- Sign-in -------------------------------------------------------------

pub(super) async fn login_page(
    st: &AppState,
    ctx: &Ctx,
    live: &LiveSession,
    user: &User,
    error: Option<&str>,
) -> PageResult {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let p = svc::own(st, user).await?;
    let mode = p.as_ref().and_then(|p| p.mode).unwrap_or(Mode::Sms);
    let current = svc::current_sign_in(st, live).await?;
    let has_code = crate::service::credentials::requires_security_code(st, user).await?;
    let open = current
        .as_ref()
        .filter(|c| c.status == ChallengeStatus::Pending);
    let ended = current.as_ref().and_then(|c| status_message(c.status));
    Ok(layout("PhoneFactor", None, None, html! {
        section.card.narrow {
            h1 { "Confirm your sign-in" }
            p { "Signing in as " strong { (user.username) } " with PhoneFactor (" (mode.label()) ")." }
            @if let Some(c) = open {
                (challenge_body(c, csrf, "/login/phonefactor", error))
                @if c.mode == Mode::Sms {
                    form method="post" action="/login/phonefactor/start" {
                        (csrf_input(csrf))
                        button.link type="submit" { "Send again" }
                    }
                }
            } @else {
                (alert(error.or(ended)))
                form method="post" action="/login/phonefactor/start" {
                    (csrf_input(csrf))
                    div.buttons { button.primary type="submit" { @match mode { Mode::Sms => "Text me a code", Mode::Call => "Call me", Mode::App => "Send a request to my app" } } }
                }
            }
            @if mode == Mode::App {
                details {
                    summary { "Phone offline? Use the app's verification code" }
                    form method="post" action="/login/phonefactor/verify" novalidate {
                        (csrf_input(csrf))
                        (field("Verification code", "code", "text", "", None, FieldExtra { autocomplete: Some("one-time-code"), hint: Some("The 6 digits the app shows under Verification code."), ..Default::default() }))
                        div.buttons { button type="submit" { "Verify" } }
                    }
                }
            }
            @if has_code { p { a href="/login/security-code" { "Use your Symantec security code instead" } } }
            form method="post" action="/logout" {
                (csrf_input(csrf))
                button.link type="submit" { "Cancel and sign out" }
            }
        }
    }).into_response())
}

/// Sends a half-signed-in user to the second factor they have: PhoneFactor
/// if active, else the Security Code.
pub(super) async fn page_second_factor(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
) -> PageResult {
    Ok(Redirect::to(if is_active(&st, &s.user).await? {
        "/login/phonefactor"
    } else {
        "/login/security-code"
    })
    .into_response())
}

pub(super) async fn page_login(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    login_page(&st, &ctx, &live, &user, None).await
}

pub(super) async fn login_start(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    match svc::start_sign_in(&st, &caller_for(&ctx, &user), &live).await {
        Ok(_) => Ok(Redirect::to("/login/phonefactor").into_response()),
        Err(
            e @ (AppError::TooManyRequests { .. }
            | AppError::Invalid { .. }
            | AppError::Forbidden(_)),
        ) => {
            let page = login_page(&st, &ctx, &live, &user, Some(&e.message())).await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn login_verify(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    match svc::verify_sign_in(&st, &caller_for(&ctx, &user), &live, &f.code).await {
        Ok(issued) => Ok(finish_sign_in(&ctx.http, jar, &issued, &user)),
        Err(
            e @ (AppError::Unauthorized(_) | AppError::Invalid { .. } | AppError::Forbidden(_)),
        ) => {
            let page = login_page(&st, &ctx, &live, &user, Some(&e.message())).await?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn login_check(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    match svc::sign_in_status(&st, &caller_for(&ctx, &user), &live).await {
        Ok((_, Some(issued))) => Ok(finish_sign_in(&ctx.http, jar, &issued, &user)),
        Ok((ChallengeStatus::Pending, None)) => {
            login_page(&st, &ctx, &live, &user, Some(NOT_CONFIRMED)).await
        }
        Ok(_) | Err(AppError::NotFound) => Ok(Redirect::to("/login/phonefactor").into_response()),
        Err(e) => Err(e.into()),
    }
}
