//! The user's own Security Settings: profile, password, sign-in history.

use super::{PageResult, layout};
use crate::AppState;
use crate::extract::PageUser;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use maud::html;

pub fn routes() -> Router<AppState> {
    Router::new().route("/security", get(page_security))
}

async fn page_security(State(st): State<AppState>, PageUser(me, ctx): PageUser) -> PageResult {
    let history = {
        let mut conn = st.store.conn().await?;
        gatehouse_store::audit::sign_in_history(&mut conn, me.id, 20).await?
    };
    Ok(layout("Security Settings", Some(&me), ctx.csrf_token(), html! {
        h1 { "Security Settings" }
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
        section.card {
            h2 { "External authentication" }
            p.muted { "No external authentication is active for your user. Your administrator can order it for you." }
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
    }).into_response())
}
