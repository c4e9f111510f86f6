//! The user's own Security Settings: profile, password, sign-in history.

use super::{PageResult, csrf_input, layout};
use crate::AppState;
use crate::extract::PageUser;
use crate::pages::form::{Form, Path, Query};
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::sessions;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use maud::html;

pub fn routes() -> Routes {
    Routes::new()
        .route("/security", get(page_security))
        .route("/security/sessions/{reference}/end", post(session_end))
        .route("/security/sessions/end-others", post(sessions_end_others))
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
        "sessions-ended" => "Every other session is ended: you are signed in here only.",
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
        None,
    )
    .await?
    .into_response())
}

/// The Security Settings page, with a notice at the top or an error on the
/// PhoneFactor card's deactivation form.
pub(super) async fn render(
    st: &AppState,
    me: &gatehouse_app::model::User,
    ctx: &crate::extract::Ctx,
    notice: Option<&str>,
    pf_error: Option<&str>,
) -> Result<maud::Markup, crate::error::AppError> {
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
                                            form method="post" action=(format!("/security/sessions/{}/end", s.reference)) {
                                                (csrf_input(csrf))
                                                button type="submit" { "End session" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if own.iter().any(|s| !s.current) {
                    form method="post" action="/security/sessions/end-others" {
                        (csrf_input(csrf))
                        div.buttons { button.primary.danger type="submit" { "End every other session" } }
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
struct CsrfForm {
    csrf: String,
}

async fn session_end(
    State(st): State<AppState>,
    PageUser(_, ctx): PageUser,
    jar: axum_extra::extract::CookieJar,
    Path(reference): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    let current = ctx.live.as_ref().map(|l| l.session.id_hash.as_str());
    let ended_current = sessions::end_own(&st, &ctx.caller(), current, &reference).await?;
    Ok(if ended_current {
        (
            jar.add(crate::extract::clear_cookie(&ctx.http)),
            Redirect::to("/login?signed_out=1"),
        )
            .into_response()
    } else {
        Redirect::to("/security?notice=session-ended").into_response()
    })
}

async fn sessions_end_others(
    State(st): State<AppState>,
    PageUser(_, ctx): PageUser,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    let current = ctx.live.as_ref().map(|l| l.session.id_hash.as_str());
    sessions::end_others(&st, &ctx.caller(), current).await?;
    Ok(Redirect::to("/security?notice=sessions-ended").into_response())
}
