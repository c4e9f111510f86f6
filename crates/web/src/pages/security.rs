//! The user's own Security Settings: profile, password, sign-in history.

use super::{PageResult, layout};
use crate::AppState;
use crate::extract::PageUser;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::get;
use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;

pub fn routes() -> Routes {
    Routes::new().route("/security", get(page_security))
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
