//! The user's own Security Settings: profile, password, sign-in history.

use super::{PageResult, csrf_input, layout};
use crate::AppState;
use crate::error::{AppError, AppErrorExt};
use crate::extract::PageUser;
use crate::pages::form::{Form, Query};
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::sessions;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use maud::html;

pub fn routes() -> Routes {
    Routes::new()
        .route("/security", get(page_security))
        .route("/security/sessions/end", post(sessions_end))
}

#[derive(serde::Deserialize, Default)]
struct SecurityQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "phonefactor-activated" => "PhoneFactor is active with your new number and mode.",
        "phonefactor-deactivated" => {
            "PhoneFactor is deactivated: your sign-ins are no longer confirmed by phone."
        }
        "session-ended" => "That session is ended: whoever used it must sign in again.",
        "sessions-ended" => {
            "Every other session is ended: no other browser is signed in as you. API tokens and paired devices are not sessions and stay."
        }
        _ => return None,
    })
}

async fn page_security(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<SecurityQuery>,
) -> PageResult {
    Ok(render(
        &st,
        &me,
        &ctx,
        q.notice.as_deref().and_then(notice_text),
        Errors::default(),
    )
    .await?
    .into_response())
}

/// Errors shown on the page's forms.
#[derive(Default)]
pub(super) struct Errors<'a> {
    /// On the PhoneFactor card's deactivation form.
    pub(super) phonefactor: Option<&'a str>,
    /// On the sessions card's password.
    pub(super) sessions: Option<&'a str>,
}

/// The Security Settings page, with a notice at the top or an error on one
/// of its forms.
pub(super) async fn render(
    st: &AppState,
    me: &gatehouse_app::model::User,
    ctx: &crate::extract::Ctx,
    notice: Option<&str>,
    errors: Errors<'_>,
) -> Result<maud::Markup, crate::error::AppError> {
    let pf_error = errors.phonefactor;
    let pf_card =
        super::phonefactor::security_card(st, me, ctx.csrf_token().unwrap_or_default(), pf_error)
            .await?;
    let history = crate::service::audit::sign_in_history(st, &ctx.caller(), 20).await?;
    let current = ctx.live.as_ref().map(|l| l.session.id_hash.as_str());
    let own = sessions::list_own(st, &ctx.caller(), current).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    Ok(layout(
        "Security Settings",
        Some(me),
        ctx.csrf_token(),
        html! {
            h1 { "Security Settings" }
            (super::notice(notice))
            section.card {
                h2 { "Your profile" }
                dl.props {
                    dt { "Username" } dd { (me.username) }
                    dt { "Name" } dd { (me.name) }
                    dt { "E-mail" } dd { (me.email) }
                    dt { "Account" } dd { (me.account_name) " (" (me.account_number) ")" }
                    dt { "Role" } dd { (me.role.label()) }
                }
            }
            section.card {
                h2 { "Password" }
                p { "Changing your password signs you out on every other device." }
                a.button href="/password" { "Change password" }
            }
            (pf_card)
            section.card {
                h2 { "Where you are signed in" }
                p { "A session you do not recognise — above all one that entered your password but not yet your second factor — means someone else knows your password: end it and change your password." }
                // One form: the password once, then the button of the session
                // to end (its value names it) or of every other one.
                form method="post" action="/security/sessions/end" {
                    (csrf_input(csrf))
                    div.table-wrap {
                        table {
                            thead { tr { th scope="col" { "Signed in" } th scope="col" { "Last active" } th scope="col" { "From" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Action" } } } }
                            tbody {
                                @for s in &own {
                                    tr {
                                        td { time datetime=(s.signed_in_at.to_rfc3339()) { (s.signed_in_at.display()) } }
                                        td { time datetime=(s.last_seen_at.to_rfc3339()) { (s.last_seen_at.display()) } }
                                        td { (s.client_addr) }
                                        td { (sessions::state_label(s.state)) @if s.current { " " span.badge { "This session" } } }
                                        td {
                                            @if !s.current {
                                                button type="submit" name="session" value=(s.reference) { "End session" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if own.iter().any(|s| !s.current) {
                        div.field.has-error[errors.sessions.is_some()] {
                            label for="sessions-password" { "Your password, to end sessions" }
                            p.hint id="sessions-password-hint" { "Needed to end a session." }
                            input id="sessions-password" name="password" type="password" required autocomplete="current-password"
                                aria-invalid=[errors.sessions.map(|_| "true")]
                                aria-describedby=(if errors.sessions.is_some() { "sessions-password-error" } else { "sessions-password-hint" });
                            @if let Some(e) = errors.sessions { p.error id="sessions-password-error" role="alert" { (e) } }
                        }
                        div.buttons { button.primary.danger type="submit" name="session" value="others" { "End every other session" } }
                    }
                }
            }
            section.card {
                h2 { "Recent sign-in activity" }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Outcome" } th scope="col" { "From" } } }
                        tbody {
                            @for e in &history {
                                tr {
                                    td { time datetime=(e.record.at.to_rfc3339()) { (e.record.at.display()) } }
                                    td { (e.record.action.replace('_', " ")) }
                                    td { span class=(format!("badge badge-{}", e.record.outcome)) { (e.record.outcome) } }
                                    td { (e.record.client_addr) }
                                }
                            }
                            @if history.is_empty() { tr { td.empty colspan="4" { "No activity yet." } } }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(serde::Deserialize)]
struct EndForm {
    csrf: String,
    /// A session's reference, or `others`.
    session: String,
    password: String,
}

async fn sessions_end(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    jar: axum_extra::extract::CookieJar,
    Form(f): Form<EndForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    let current = ctx.live.as_ref().map(|l| l.session.id_hash.as_str());
    let caller = ctx.caller();
    let outcome = if f.session == "others" {
        sessions::end_others(&st, &caller, current, &f.password)
            .await
            .map(|_| "/security?notice=sessions-ended")
    } else {
        sessions::end_own(&st, &caller, current, &f.session, &f.password)
            .await
            .map(|was_current| {
                if was_current {
                    "/login?signed_out=1"
                } else {
                    "/security?notice=session-ended"
                }
            })
    };
    match outcome {
        Ok(to) if to.starts_with("/login") => Ok((
            jar.add(crate::extract::clear_cookie(&ctx.http)),
            Redirect::to(to),
        )
            .into_response()),
        Ok(to) => Ok(Redirect::to(to).into_response()),
        // A wrong password (or too many): shown at the password field.
        Err(e @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let message = e.message();
            let errors = Errors {
                sessions: Some(&message),
                ..Errors::default()
            };
            let page = render(&st, &me, &ctx, None, errors).await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
