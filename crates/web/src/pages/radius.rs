//! The operator's RADIUS clients page: the VPN concentrators and gateways
//! that ask the RADIUS front end (SPEC §12).

use super::operator::require_operator;
use super::{FieldExtra, PageResult, alert, csrf_input, field, layout, notice};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::radius;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use gatehouse_app::model::User;
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/radius-clients", get(page))
        .route("/radius-clients/create", post(create_submit))
        .route("/radius-clients/remove", post(remove_submit))
}

async fn render(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    message: Option<Markup>,
) -> Result<Markup, AppError> {
    let clients = radius::list_clients(st, &ctx.caller()).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    Ok(layout(
        "RADIUS Clients",
        Some(me),
        Some(csrf),
        html! {
            h1 { "RADIUS Clients" }
            @if let Some(m) = message { (m) }
            p.hint {
                "VPN concentrators, remote-desktop gateways and network gear that ask for the second factor over RADIUS. "
                "Each authenticates only the users of its own customer account. See docs/radius.md for their configuration."
            }
            section.card {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Account" } th scope="col" { "Address" }
                            th scope="col" { "Mode" } th scope="col" { "Message-Authenticator" } th scope="col" { "Password only" }
                            th scope="col" { "Timeout" } th scope="col" { span.sr-only { "Actions" } }
                        } }
                        tbody {
                            @for c in &clients {
                                tr {
                                    td { (c.name.as_str()) }
                                    td { (c.account_number) }
                                    td { code { (c.address.to_string()) } }
                                    td { (c.mode.as_str()) }
                                    td { @if c.require_message_authenticator { "required" } @else { span.badge.badge-warn { "not required" } } }
                                    td { @if c.allow_password_only { "allowed" } @else { "no" } }
                                    td { (c.timeout_secs) " s" }
                                    td {
                                        form.inline method="post" action="/radius-clients/remove" {
                                            (csrf_input(csrf))
                                            input type="hidden" name="name" value=(c.name.as_str());
                                            button.danger type="submit" { "Remove" }
                                        }
                                    }
                                }
                            }
                            @if clients.is_empty() { tr { td.empty colspan="8" { "No RADIUS clients yet." } } }
                        }
                    }
                }
            }
            section.card {
                h2 { "Register a client" }
                form method="post" action="/radius-clients/create" {
                    (csrf_input(csrf))
                    div.grid3 {
                        (field("Name", "name", "text", "", None, FieldExtra { required: true, hint: Some("Letters, digits, '-', '_' or '.'."), ..Default::default() }))
                        (field("Account number", "account", "text", "", None, FieldExtra { required: true, ..Default::default() }))
                        (field("Source address or range", "address", "text", "", None, FieldExtra { required: true, hint: Some("e.g. 192.0.2.10 or 10.0.0.0/8"), ..Default::default() }))
                        div.field {
                            label for="f-mode" { "Mode" }
                            select id="f-mode" name="mode" {
                                option value="password-and-code" { "Password and code" }
                                option value="code-only" { "Code only" }
                            }
                        }
                        (field("Separator", "separator", "text", ",", None, FieldExtra { optional: true, hint: Some("Between password and code; empty for none."), ..Default::default() }))
                        (field("Timeout (seconds)", "timeout_secs", "number", "60", None, FieldExtra { optional: true, ..Default::default() }))
                        (field("Class", "class", "text", "", None, FieldExtra { optional: true, ..Default::default() }))
                        (field("Filter-Id", "filter_id", "text", "", None, FieldExtra { optional: true, ..Default::default() }))
                    }
                    div.field {
                        label { input type="checkbox" name="allow_password_only" value="1"; " Users without a second factor may sign in with their password alone" }
                    }
                    div.field {
                        label { input type="checkbox" name="allow_missing_message_authenticator" value="1"; " Old gear: accept requests without Message-Authenticator (unsafe: BlastRADIUS)" }
                    }
                    div.buttons { button.primary type="submit" { "Register client" } }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    notice: Option<String>,
}

async fn page(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<PageQuery>,
) -> PageResult {
    require_operator(&me)?;
    let m =
        (q.notice.as_deref() == Some("removed")).then(|| notice(Some("The client was removed.")));
    Ok(render(&st, &me, &ctx, m).await?.into_response())
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    name: String,
    account: String,
    address: String,
    mode: String,
    #[serde(default)]
    separator: String,
    #[serde(default)]
    timeout_secs: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    filter_id: String,
    #[serde(default)]
    allow_password_only: Option<String>,
    #[serde(default)]
    allow_missing_message_authenticator: Option<String>,
}

async fn create_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<CreateForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    let timeout_secs = match f.timeout_secs.trim() {
        "" => None,
        t => match t.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                let e = AppError::invalid("timeout_secs", "The timeout is a number of seconds.");
                return failed(&st, &me, &ctx, e).await;
            }
        },
    };
    let new = radius::NewClient {
        name: f.name,
        account_number: f.account,
        address: f.address,
        mode: Some(f.mode),
        secret: None,
        allow_missing_message_authenticator: f.allow_missing_message_authenticator.is_some(),
        allow_password_only: f.allow_password_only.is_some(),
        separator: Some(f.separator),
        timeout_secs,
        class: Some(f.class),
        filter_id: Some(f.filter_id),
    };
    match radius::create_client(&st, &ctx.caller(), &new).await {
        // The secret is shown on this answer only: never in a URL or a log.
        Ok(secret) => {
            let m = html! {
                div.alert.alert-ok role="status" {
                    "The client was registered. Its shared secret, shown only now: "
                    code.secret { (secret) }
                }
            };
            Ok(render(&st, &me, &ctx, Some(m)).await?.into_response())
        }
        Err(e) => failed(&st, &me, &ctx, e).await,
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    csrf: String,
    name: String,
}

async fn remove_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<RemoveForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    match radius::remove_client(&st, &ctx.caller(), &f.name).await {
        Ok(()) => Ok(Redirect::to("/radius-clients?notice=removed").into_response()),
        // A name from a stale page: said on the page, as a form's error.
        Err(AppError::NotFound) => {
            let e = AppError::invalid(
                "name",
                format!("There is no RADIUS client named {}.", f.name),
            );
            failed(&st, &me, &ctx, e).await
        }
        Err(e) => failed(&st, &me, &ctx, e).await,
    }
}

async fn failed(st: &AppState, me: &User, ctx: &Ctx, e: AppError) -> PageResult {
    match e {
        AppError::Invalid { .. } | AppError::Conflict { .. } => {
            let m = alert(Some(&e.message()));
            Ok((
                e.status(),
                crate::error::RetryAfter::of(&e),
                render(st, me, ctx, Some(m)).await?,
            )
                .into_response())
        }
        e => Err(e.into()),
    }
}
