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
use crate::extract::{ActivationStep, Ctx, InSession, PageUser, SecondFactorStep, session_cookie};
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::Caller;
use crate::service::auth::{IssuedSession, LiveSession};
use crate::service::phonefactor::{self as svc, ChallengeView};
use crate::service::virtual_phone as vps;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use gatehouse_domain::phonefactor::{ChallengeStatus, Mode};
use gatehouse_domain::session::SessionState;
use gatehouse_store::User;
use maud::{Markup, html};
use serde::Deserialize;

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
    Caller::user(user.clone(), ctx.addr.clone(), "web")
}

fn with_cookie(st: &AppState, jar: CookieJar, issued: &IssuedSession, to: &str) -> Response {
    (jar.add(session_cookie(st, issued)), Redirect::to(to)).into_response()
}

fn after_sign_in(issued: &IssuedSession, user: &User) -> &'static str {
    match issued.state {
        SessionState::PasswordChangeRequired => "/password",
        SessionState::ActivationRequired => "/phonefactor/activate",
        _ => home_for(user),
    }
}

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

// ---- Sign-in -------------------------------------------------------------

async fn login_page(
    st: &AppState,
    ctx: &Ctx,
    live: &LiveSession,
    user: &User,
    error: Option<&str>,
) -> PageResult {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let p = svc::own(st, user.id).await?;
    let mode = p
        .as_ref()
        .and_then(|p| p.mode.as_deref())
        .and_then(|m| Mode::parse(m).ok())
        .unwrap_or(Mode::Sms);
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
async fn page_second_factor(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
) -> PageResult {
    let user = s.user;
    let active = svc::own(&st, user.id)
        .await?
        .is_some_and(|p| p.status == "active");
    Ok(Redirect::to(if active {
        "/login/phonefactor"
    } else {
        "/login/security-code"
    })
    .into_response())
}

async fn page_login(State(st): State<AppState>, s: InSession<SecondFactorStep>) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    login_page(&st, &ctx, &live, &user, None).await
}

async fn login_start(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    match svc::start_sign_in(&st, &caller_for(&ctx, &user), &live).await {
        Ok(_) => Ok(Redirect::to("/login/phonefactor").into_response()),
        Err(
            e @ (AppError::TooManyRequests { .. }
            | AppError::Invalid { .. }
            | AppError::Forbidden(_)),
        ) => {
            let status = e.status();
            let page = login_page(&st, &ctx, &live, &user, Some(&e.message())).await?;
            Ok((status, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn login_verify(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    match svc::verify_sign_in(&st, &caller_for(&ctx, &user), &live, &f.code).await {
        Ok(issued) => Ok(with_cookie(
            &st,
            jar,
            &issued,
            after_sign_in(&issued, &user),
        )),
        Err(
            e @ (AppError::Unauthorized(_) | AppError::Invalid { .. } | AppError::Forbidden(_)),
        ) => {
            let page = login_page(&st, &ctx, &live, &user, Some(&e.message())).await?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn login_check(
    State(st): State<AppState>,
    s: InSession<SecondFactorStep>,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    match svc::sign_in_status(&st, &caller_for(&ctx, &user), &live).await {
        Ok((_, Some(issued))) => Ok(with_cookie(
            &st,
            jar,
            &issued,
            after_sign_in(&issued, &user),
        )),
        Ok((ChallengeStatus::Pending, None)) => {
            let page = login_page(
                &st,
                &ctx,
                &live,
                &user,
                Some("Not confirmed yet. Answer the call or the app, then try again."),
            )
            .await?;
            Ok(page)
        }
        Ok(_) | Err(AppError::NotFound) => Ok(Redirect::to("/login/phonefactor").into_response()),
        Err(e) => Err(e.into()),
    }
}

// ---- Activation ----------------------------------------------------------

#[derive(Deserialize, Default)]
struct ActivateQuery {
    change: Option<String>,
}

/// Countries offered in the selector (numbers starting with + need none).
const COUNTRIES: &[(&str, &str)] = &[
    ("US", "United States (+1)"),
    ("CA", "Canada (+1)"),
    ("GB", "United Kingdom (+44)"),
    ("IE", "Ireland (+353)"),
    ("DE", "Germany (+49)"),
    ("AT", "Austria (+43)"),
    ("CH", "Switzerland (+41)"),
    ("FR", "France (+33)"),
    ("NL", "Netherlands (+31)"),
    ("BE", "Belgium (+32)"),
    ("ES", "Spain (+34)"),
    ("IT", "Italy (+39)"),
    ("SE", "Sweden (+46)"),
    ("NO", "Norway (+47)"),
    ("DK", "Denmark (+45)"),
    ("FI", "Finland (+358)"),
    ("PL", "Poland (+48)"),
    ("AU", "Australia (+61)"),
    ("NZ", "New Zealand (+64)"),
    ("IN", "India (+91)"),
    ("JP", "Japan (+81)"),
    ("SG", "Singapore (+65)"),
    ("BR", "Brazil (+55)"),
    ("MX", "Mexico (+52)"),
    ("ZA", "South Africa (+27)"),
];

#[derive(Deserialize, Default)]
struct ActivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    mode: String,
    password: Option<String>,
}

struct ActivateErrors<'a> {
    password: Option<String>,
    phone: Option<String>,
    mode: Option<String>,
    form: Option<String>,
    values: &'a ActivateForm,
}

fn activate_form(ctx: &Ctx, user: &User, signed_in: bool, e: &ActivateErrors<'_>) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let f = e.values;
    let mode = if f.mode.is_empty() {
        "sms"
    } else {
        f.mode.as_str()
    };
    let country = if f.country.is_empty() {
        "US"
    } else {
        f.country.as_str()
    };
    layout(
        "Activate PhoneFactor",
        signed_in.then_some(user),
        signed_in.then_some(csrf),
        html! {
            section.card.narrow {
                h1 { "Activate PhoneFactor" }
                p.lead { "Your administrator added PhoneFactor to your user. From now on every sign-in is confirmed on your phone. Enter a phone number you always have with you." }
                (alert(e.form.as_deref()))
                form method="post" action="/phonefactor/activate" novalidate {
                    (csrf_input(csrf))
                    div.field {
                        label for="f-country" { "Country" }
                        p.hint id="f-country-hint" { "Not needed if you type the number with + and the country code." }
                        select id="f-country" name="country" aria-describedby="f-country-hint" {
                            @for (code, name) in COUNTRIES {
                                option value=(code) selected[*code == country] { (name) }
                            }
                        }
                    }
                    (field("Phone number", "phone", "tel", &f.phone, e.phone.as_deref(), FieldExtra { required: true, autofocus: true, autocomplete: Some("tel"), hint: Some("For example +1 415 555 0123. Premium-rate and toll-free numbers cannot be used."), ..Default::default() }))
                    fieldset.field.has-error[e.mode.is_some()] {
                        legend { "How do you want to confirm sign-ins?" }
                        @for m in Mode::ALL {
                            div.radio {
                                input type="radio" id=(format!("mode-{}", m.as_str())) name="mode" value=(m.as_str()) checked[m.as_str() == mode];
                                label for=(format!("mode-{}", m.as_str())) { (m.label()) }
                            }
                        }
                        @if let Some(m) = &e.mode { p.error role="alert" { (m) } }
                    }
                    @if signed_in {
                        (field("Your password", "password", "password", "", e.password.as_deref(), FieldExtra { optional: true, autocomplete: Some("current-password"), hint: Some("Needed to change an active PhoneFactor."), ..Default::default() }))
                    }
                    div.buttons { button.primary type="submit" { "Continue" } }
                }
                @if !signed_in {
                    form method="post" action="/logout" {
                        (csrf_input(csrf))
                        button.link type="submit" { "Sign out" }
                    }
                } @else {
                    p { a href="/security" { "Cancel" } }
                }
            }
        },
    )
}

async fn page_activate(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    Query(q): Query<ActivateQuery>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    // Activated already (e.g. the page was reloaded after the call was
    // answered): finish this session's sign-in.
    if live.session.state == SessionState::ActivationRequired
        && svc::own(&st, user.id)
            .await?
            .is_some_and(|p| p.status == "active")
        && let (_, _, Some(issued)) =
            svc::activation_status(&st, &caller_for(&ctx, &user), &live).await?
    {
        return Ok(with_cookie(
            &st,
            jar,
            &issued,
            after_sign_in(&issued, &user),
        ));
    }
    let signed_in = live.session.state == SessionState::Authenticated;
    if q.change.is_none()
        && let Some(view) = svc::latest_activation(&st, &live).await?
        && view.status.is_open()
    {
        return Ok(activation_challenge_page(&ctx, &user, signed_in, &view, None).into_response());
    }
    let values = ActivateForm::default();
    Ok(activate_form(
        &ctx,
        &user,
        signed_in,
        &ActivateErrors {
            password: None,
            phone: None,
            mode: None,
            form: None,
            values: &values,
        },
    )
    .into_response())
}

fn activation_challenge_page(
    ctx: &Ctx,
    user: &User,
    signed_in: bool,
    c: &ChallengeView,
    error: Option<&str>,
) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    layout(
        "Activate PhoneFactor",
        signed_in.then_some(user),
        signed_in.then_some(csrf),
        html! {
            section.card.narrow {
                h1 { "Activate PhoneFactor" }
                p { "Step 2 of 2: confirm that " (c.phone_masked) " is yours (" (c.mode.label()) ")." }
                (challenge_body(c, csrf, "/phonefactor/activate", error))
                p { a href="/phonefactor/activate?change=1" { "Use a different number or mode" } }
            }
        },
    )
}

async fn activate_start(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    Form(f): Form<ActivateForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    let signed_in = live.session.state == SessionState::Authenticated;
    match svc::start_activation(
        &st,
        &caller_for(&ctx, &user),
        &live,
        &f.phone,
        Some(&f.country),
        &f.mode,
        f.password.as_deref(),
    )
    .await
    {
        Ok(view) => {
            Ok(activation_challenge_page(&ctx, &user, signed_in, &view, None).into_response())
        }
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::TooManyRequests { .. }
            | AppError::Forbidden(_)),
        ) => {
            let msg = e.message();
            let errors = match e.field() {
                Some("phone") | Some("country") => ActivateErrors {
                    password: None,
                    phone: Some(msg),
                    mode: None,
                    form: None,
                    values: &f,
                },
                Some("mode") => ActivateErrors {
                    password: None,
                    phone: None,
                    mode: Some(msg),
                    form: None,
                    values: &f,
                },
                Some("password") => ActivateErrors {
                    password: Some(msg),
                    phone: None,
                    mode: None,
                    form: None,
                    values: &f,
                },
                _ => ActivateErrors {
                    password: None,
                    phone: None,
                    mode: None,
                    form: Some(msg),
                    values: &f,
                },
            };
            Ok((e.status(), activate_form(&ctx, &user, signed_in, &errors)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn activated_target(issued: Option<&IssuedSession>, user: &User) -> &'static str {
    match issued {
        Some(i) => after_sign_in(i, user),
        None => "/security?notice=phonefactor-activated",
    }
}

async fn activate_verify(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    let signed_in = live.session.state == SessionState::Authenticated;
    match svc::verify_activation(&st, &caller_for(&ctx, &user), &live, &f.code).await {
        Ok(issued) => {
            let to = activated_target(issued.as_ref(), &user);
            Ok(match issued {
                Some(i) => with_cookie(&st, jar, &i, to),
                None => Redirect::to(to).into_response(),
            })
        }
        Err(e @ (AppError::Unauthorized(_) | AppError::Invalid { .. })) => {
            let view = svc::latest_activation(&st, &live).await?;
            match view {
                Some(v) if v.status.is_open() => Ok((
                    StatusCode::UNAUTHORIZED,
                    activation_challenge_page(&ctx, &user, signed_in, &v, Some(&e.message())),
                )
                    .into_response()),
                _ => {
                    let values = ActivateForm::default();
                    Ok((
                        StatusCode::UNAUTHORIZED,
                        activate_form(
                            &ctx,
                            &user,
                            signed_in,
                            &ActivateErrors {
                                password: None,
                                phone: None,
                                mode: None,
                                form: Some(e.message()),
                                values: &values,
                            },
                        ),
                    )
                        .into_response())
                }
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn activate_check(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let InSession {
        live, user, ctx, ..
    } = s;
    ctx.check_csrf(&f.csrf)?;
    let signed_in = live.session.state == SessionState::Authenticated;
    let (status, view, issued) =
        svc::activation_status(&st, &caller_for(&ctx, &user), &live).await?;
    match (status, view) {
        ("active", _) => {
            let to = activated_target(issued.as_ref(), &user);
            Ok(match issued {
                Some(i) => with_cookie(&st, jar, &i, to),
                None => Redirect::to(to).into_response(),
            })
        }
        ("pending", Some(v)) => Ok(activation_challenge_page(
            &ctx,
            &user,
            signed_in,
            &v,
            Some("Not confirmed yet. Answer the call or the app, then try again."),
        )
        .into_response()),
        // The poll of the status API may already have renewed the session
        // (the activation signed the user in): nothing is left to check.
        ("none", _)
            if live.session.state == SessionState::Authenticated
                && svc::own(&st, user.id)
                    .await?
                    .is_some_and(|p| p.status == "active") =>
        {
            Ok(Redirect::to(home_for(&user)).into_response())
        }
        (_, v) => {
            let values = ActivateForm::default();
            let msg = v
                .and_then(|v| status_message(v.status))
                .unwrap_or("Start the activation.");
            Ok(activate_form(
                &ctx,
                &user,
                signed_in,
                &ActivateErrors {
                    password: None,
                    phone: None,
                    mode: None,
                    form: Some(msg.into()),
                    values: &values,
                },
            )
            .into_response())
        }
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
    let Some(p) = svc::own(st, user.id).await? else {
        return Ok(html! {});
    };
    let now = st.now();
    let mode = p.mode.as_deref().and_then(|m| Mode::parse(m).ok());
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
        Err(e @ AppError::Unauthorized(_)) => Ok(Redirect::to(&format!(
            "/security?error={}#phonefactor",
            crate::extract::urlencode(&e.message())
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

// ---- The virtual phone ---------------------------------------------------

#[derive(Deserialize, Default)]
struct PhoneQuery {
    number: Option<String>,
    notice: Option<String>,
}

async fn page_virtual_phone(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PhoneQuery>,
) -> PageResult {
    let viewer = match crate::api::phonefactor::virtual_viewer(&st, &ctx) {
        Ok(v) => v,
        Err(AppError::Unauthorized(_)) => {
            let next = match q.number.as_deref() {
                Some(n) => format!("/virtual-phone?number={}", crate::extract::urlencode(n)),
                None => "/virtual-phone".to_owned(),
            };
            return Ok(
                Redirect::to(&format!("/login?next={}", crate::extract::urlencode(&next)))
                    .into_response(),
            );
        }
        Err(e) => return Err(e.into()),
    };
    let csrf = ctx.csrf_token().unwrap_or_default().to_owned();
    let numbers = vps::numbers(&st, &viewer).await?;
    let number = match q.number.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => Some(vps::open(&st, &viewer, n).await?),
        None => None,
    };
    let (messages, calls, pushes) = match &number {
        Some(n) => (
            vps::messages(&st, &viewer, n).await?,
            vps::calls(&st, &viewer, n).await?,
            vps::notifications(&st, &viewer, n, 20).await?,
        ),
        None => (vec![], vec![], vec![]),
    };
    let now = st.now();
    let me = ctx.user().cloned();
    let operator = matches!(viewer, vps::Viewer::Operator(_));
    Ok(layout("Virtual Phone", me.as_ref(), Some(&csrf), html! {
        h1 { "Virtual Phone" }
        p.lead { "Delivery is set to the virtual phone (demo and test mode): texts and calls go to this page instead of real phones." }
        @if operator {
            p.muted { "As an operator you see every number's texts, calls and notifications." }
        } @else {
            p.muted { "You see only your own numbers, and on them only what was sent for you." }
        }
        (notice(q.notice.as_deref()))
        form.search method="get" action="/virtual-phone" {
            label for="vp-number" { "Phone number" }
            input id="vp-number" name="number" type="tel" value=(number.clone().unwrap_or_default()) placeholder="+14155550123";
            button type="submit" { "Open" }
        }
        @if !numbers.is_empty() {
            p { "Numbers with activity: " @for n in &numbers { a href=(format!("/virtual-phone?number={}", crate::extract::urlencode(n))) { (n) } " " } }
        }
        @if let Some(n) = &number {
            div data-poll-reload="5000" {
            section.card {
                h2 { "Calls" }
                @if calls.is_empty() { p.muted { "No calls." } }
                @for c in calls.iter().rev() {
                    article.call {
                        p { strong { @if c.status == "ringing" { "Incoming call" } @else { "Call" } } " · " (c.created_at.display()) " · " span class=(format!("badge badge-{}", c.status)) { (c.status) } }
                        p { "“" (c.prompt) "”" }
                        @if c.status == "ringing" {
                            form method="post" action="/virtual-phone/keys" {
                                (csrf_input(&csrf))
                                input type="hidden" name="number" value=(n);
                                input type="hidden" name="call" value=(c.id);
                                div.buttons {
                                    button.primary type="submit" name="digits" value="#" { "Press #" }
                                    button.danger type="submit" name="digits" value="0#" { "Press 0#" }
                                }
                            }
                        } @else if let Some(d) = &c.digits { p.muted { "Keys pressed: " (d) } }
                    }
                }
            }
            section.card {
                h2 { "Text messages" }
                @if messages.is_empty() { p.muted { "No text messages." } }
                ul.messages {
                    @for m in messages.iter().rev() {
                        li class=(format!("msg-{}", m.direction)) { span.muted { (m.created_at.display()) @if m.direction == "in" { " · you replied" } } br; span.body { (m.body) } }
                    }
                }
                form method="post" action="/virtual-phone/reply" {
                    (csrf_input(&csrf))
                    input type="hidden" name="number" value=(n);
                    (field("Reply", "body", "text", "", None, FieldExtra { hint: Some("Reply FRAUD to report a code you did not ask for."), ..Default::default() }))
                    div.buttons { button type="submit" { "Send reply" } }
                }
            }
            section.card {
                h2 { "Mobile app notifications" }
                @if pushes.is_empty() { p.muted { "No notifications. Answer them with the authenticator program (see the README)." } }
                ul {
                    @for c in &pushes {
                        li { (c.created_at.display()) " · " (if c.purpose == "activation" { "Activation request" } else { "Sign-in request" }) " · "
                            span.badge { (ChallengeStatus::stored(&c.status, c.expires_at, now).as_str()) } }
                    }
                }
            }
            }
        }
    }).into_response())
}

#[derive(Deserialize)]
struct KeysForm {
    csrf: String,
    number: String,
    call: String,
    digits: String,
}

async fn virtual_keys(State(st): State<AppState>, ctx: Ctx, Form(f): Form<KeysForm>) -> PageResult {
    let viewer = crate::api::phonefactor::virtual_viewer(&st, &ctx)?;
    ctx.check_csrf(&f.csrf)?;
    let number = vps::open(&st, &viewer, &f.number).await?;
    let status = vps::press_keys(&st, &viewer, &number, &f.call, &f.digits, &ctx.addr).await?;
    let said = match status {
        ChallengeStatus::Approved | ChallengeStatus::Used => {
            "You pressed the key; the call ended and the sign-in was confirmed."
        }
        ChallengeStatus::Fraud => "You reported fraud; the call ended.",
        _ => "The call ended.",
    };
    Ok(Redirect::to(&format!(
        "/virtual-phone?number={}&notice={}",
        crate::extract::urlencode(&number),
        crate::extract::urlencode(said)
    ))
    .into_response())
}

#[derive(Deserialize)]
struct ReplyForm {
    csrf: String,
    number: String,
    body: String,
}

async fn virtual_reply(
    State(st): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    let viewer = crate::api::phonefactor::virtual_viewer(&st, &ctx)?;
    ctx.check_csrf(&f.csrf)?;
    let number = vps::open(&st, &viewer, &f.number).await?;
    vps::reply(&st, &viewer, &number, &f.body, &ctx.addr).await?;
    Ok(Redirect::to(&format!(
        "/virtual-phone?number={}&notice=Reply+sent.",
        crate::extract::urlencode(&number)
    ))
    .into_response())
}
