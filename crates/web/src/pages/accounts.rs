//! The operator's Accounts screen.

use super::{FieldExtra, PageResult, csrf_input, field, layout, notice};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::PageUser;
use crate::pages::Form;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::get;
use crate::service::accounts as svc;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new().route("/accounts", get(page_accounts).post(account_create_submit))
}

#[derive(Deserialize)]
struct AccountsQuery {
    created: Option<String>,
}

async fn render(
    st: &AppState,
    me: &gatehouse_app::model::User,
    ctx: &crate::extract::Ctx,
    name: &str,
    error: Option<&str>,
    created: Option<&str>,
) -> Result<maud::Markup, AppError> {
    let accounts = svc::list(st, &ctx.caller()).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    let msg = created.map(|n| format!("Account {n} was created."));
    Ok(layout(
        "Accounts",
        Some(me),
        Some(csrf),
        html! {
            div.page-head { h1 { "Accounts" } }
            (notice(msg.as_deref()))
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Account number" } th scope="col" { "Name" } th scope="col" { "Users" } th scope="col" { "Created" } th scope="col" { span.visually-hidden { "Open" } } } }
                    tbody {
                        @for a in &accounts {
                            tr {
                                td { code { (a.number) } }
                                td { (a.name) @if a.is_provider { " " span.badge { "Provider" } } }
                                td { (a.user_count) }
                                td { (a.created_at.display()) }
                                td { a href=(format!("/users?account={}", a.id.0)) { "Manage users" } }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Create account" }
                form method="post" action="/accounts" {
                    (csrf_input(csrf))
                    (field("Account name", "name", "text", name, error, FieldExtra { required: true, ..Default::default() }))
                    div.buttons { button.primary type="submit" { "Create account" } }
                }
            }
        },
    ))
}

async fn page_accounts(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<AccountsQuery>,
) -> PageResult {
    Ok(render(&st, &me, &ctx, "", None, q.created.as_deref())
        .await?
        .into_response())
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    name: String,
}

async fn account_create_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<CreateForm>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    match svc::create(&st, &ctx.caller(), &f.name).await {
        Ok(a) => Ok(Redirect::to(&format!("/accounts?created={}", a.number)).into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let page = render(&st, &me, &ctx, &f.name, Some(&e.message()), None).await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
