//! The Users screen (SPEC §2 step 1) and its Actions.

use super::{
    FieldExtra, FormErrors, PageResult, alert, confirm_page, csrf_input, field, layout, notice,
    require_admin,
};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::PageUser;
use crate::pages::Form;
use crate::pages::form::{Path, Query};
use crate::routing::Routes;
use crate::routing::get;
use crate::service::orders::ExternalAuth;
use crate::service::users::{self as svc, CreateUser, EditUser};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_app::model::User;
use gatehouse_domain::{AccountId, Role, UserId, UserStatus};
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/users", get(page_users))
        .route("/users/new", get(page_user_new).post(user_create_submit))
        .route("/users/{id}/action", get(user_action_dispatch))
        .route(
            "/users/{id}/edit",
            get(page_user_edit).post(user_edit_submit),
        )
        .route(
            "/users/{id}/reset-password",
            get(page_user_reset).post(user_reset_submit),
        )
        .route(
            "/users/{id}/disable",
            get(page_user_disable).post(user_disable_submit),
        )
        .route(
            "/users/{id}/enable",
            get(page_user_enable).post(user_enable_submit),
        )
        .route(
            "/users/{id}/delete",
            get(page_user_delete).post(user_delete_submit),
        )
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "The user was created.",
        "updated" => "The user was updated.",
        "deleted" => "The user was deleted.",
        "disabled" => "The user was disabled and signed out everywhere.",
        "enabled" => "The user was enabled.",
        "order-cancelled" => "The order was cancelled; nothing was stored.",
        "external-auth-removed" => {
            "External authentication was removed; its monthly fee stops today."
        }
        "credential-unlocked" => "The credential was unlocked.",
        "credential-disabled" => "The credential was disabled.",
        "credential-enabled" => "The credential was enabled.",
        "credential-synchronized" => "The credential was synchronized.",
        "fraud-block-cleared" => "The fraud block was cleared; the user can sign in again.",
        "phonefactor-deactivated" => {
            "PhoneFactor was deactivated; the user was told by e-mail. Billing continues until you remove it."
        }
        "bypass-granted" => {
            "One-time bypass granted: the user's next sign-in skips PhoneFactor once."
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    account: Option<i64>,
    notice: Option<String>,
}

fn external_auth_cell(ext: &[ExternalAuth]) -> Markup {
    html! {
        @if ext.is_empty() {
            span.muted { "None" }
        } @else {
            ul.ext {
                @for e in ext {
                    li { (e.label()) " " span class=(format!("badge badge-{}", e.state.as_str())) { (e.state_label()) } }
                }
            }
        }
    }
}

async fn page_users(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<ListQuery>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let caller = ctx.caller();
    let query = q.q.clone().unwrap_or_default();
    let page = crate::extract::page_or_first(q.page);
    let account = q
        .account
        .filter(|_| me.role == Role::Operator)
        .map(AccountId);
    let result = svc::list(&st, &caller, &query, account, page).await?;
    let ext = crate::service::orders::external_auth_for(&st, &result.users).await?;
    let none: Vec<ExternalAuth> = vec![];
    let account_label = match account {
        Some(a) => Some(crate::service::accounts::get(&st, &caller, a).await?.name),
        None if me.role == Role::Admin => Some(me.account_name.clone()),
        None => None,
    };
    let pages = ((result.total + svc::PER_PAGE - 1) / svc::PER_PAGE).max(1);
    let first = if result.total == 0 {
        0
    } else {
        (page - 1) * svc::PER_PAGE + 1
    };
    let last = ((page - 1) * svc::PER_PAGE + result.users.len() as i64).max(0);
    let link = |p: i64| {
        let mut s = format!("/users?page={p}");
        if !query.is_empty() {
            s.push_str(&format!("&q={}", crate::extract::urlencode(&query)));
        }
        if let Some(a) = account {
            s.push_str(&format!("&account={}", a.0));
        }
        s
    };
    let new_link = match account {
        Some(a) => format!("/users/new?account={}", a.0),
        None => "/users/new".to_owned(),
    };
    let csrf = ctx.csrf_token().unwrap_or_default();
    let show_account = me.role == Role::Operator && account.is_none();
    let body = html! {
        div.page-head {
            div {
                h1 { "Users" }
                @if let Some(a) = &account_label { p.muted { "Account: " (a) } }
            }
            a.button.primary href=(new_link) { "Add User" }
        }
        (notice(q.notice.as_deref().and_then(notice_text)))
        form.search method="get" action="/users" role="search" {
            @if let Some(a) = account { input type="hidden" name="account" value=(a.0); }
            label for="q" { "Search users" }
            input id="q" name="q" type="search" value=(query) placeholder="Username, name or e-mail";
            button type="submit" { "Search" }
            @if !query.is_empty() { a href=(if let Some(a) = account { format!("/users?account={}", a.0) } else { "/users".to_owned() }) { "Clear" } }
        }
        div.table-wrap {
            table.users {
                caption.visually-hidden { "Users of the account" }
                thead {
                    tr {
                        th scope="col" { "Username" }
                        th scope="col" { "Name" }
                        th scope="col" { "E-mail" }
                        @if show_account { th scope="col" { "Account" } }
                        th scope="col" { "Role" }
                        th scope="col" { "Status" }
                        th scope="col" { "External Authentication" }
                        th scope="col" { "Actions" }
                    }
                }
                tbody {
                    @for u in &result.users {
                        tr data-username=(u.username) {
                            td { (u.username) }
                            td { (u.name) }
                            td { (u.email) }
                            @if show_account { td { a href=(format!("/users?account={}", u.account_id.0)) { (u.account_name) } } }
                            td { (u.role.label()) }
                            td { span class=(format!("badge badge-{}", u.status.as_str())) { (u.status.label()) } }
                            td { (external_auth_cell(ext.get(&u.id).unwrap_or(&none))) }
                            td {
                                form.actions method="get" action=(format!("/users/{}/action", u.id.0)) {
                                    label.visually-hidden for=(format!("action-{}", u.id.0)) { "Actions for " (u.username) }
                                    select id=(format!("action-{}", u.id.0)) name="action" data-autosubmit {
                                        option value="" { "Actions" }
                                        @for (value, label) in super::external_auth::actions_for(&me, u, ext.get(&u.id).unwrap_or(&none)) {
                                            option value=(value) { (label) }
                                        }
                                    }
                                    button type="submit" { "Go" }
                                }
                            }
                        }
                    }
                    @if result.users.is_empty() {
                        tr { td.empty colspan="8" { @if query.is_empty() { "No users yet." } @else { "No users match “" (query) "”." } } }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            span { "Showing " (first) "–" (last) " of " (result.total) }
            @if page > 1 { a href=(link(page - 1)) rel="prev" { "Previous" } }
            span { "Page " (page) " of " (pages) }
            @if page < pages { a href=(link(page + 1)) rel="next" { "Next" } }
        }
    };
    Ok(layout("Users", Some(&me), Some(csrf), body).into_response())
}

#[derive(Deserialize)]
struct ActionQuery {
    action: Option<String>,
}

/// The Actions drop-down's target: sends the browser to the chosen action.
async fn user_action_dispatch(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Query(q): Query<ActionQuery>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    // A user out of reach (or none) is not found here, not on the page
    // this would send the browser to.
    let id = load_target(&st, &ctx, id).await?.id.0;
    let target = match q.action.as_deref().unwrap_or("") {
        "change-password" => "/password".to_owned(),
        "add-external-authentication" => format!("/users/{id}/external-authentication"),
        "remove-external-authentication" => format!("/users/{id}/external-authentication/remove"),
        "temporary-security-code" => format!("/users/{id}/security-code/temporary"),
        "unlock-credential" => format!("/users/{id}/security-code/unlock"),
        "synchronize-credential" => format!("/users/{id}/security-code/sync"),
        "disable-credential" => format!("/users/{id}/security-code/disable"),
        "enable-credential" => format!("/users/{id}/security-code/enable"),
        "clear-fraud-block" => format!("/users/{id}/phonefactor/clear-block"),
        "phonefactor-bypass" => format!("/users/{id}/phonefactor/bypass"),
        "deactivate-phonefactor" => format!("/users/{id}/phonefactor/deactivate"),
        a @ ("edit" | "reset-password" | "disable" | "enable" | "delete") => {
            format!("/users/{id}/{a}")
        }
        _ => "/users".to_owned(),
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Deserialize)]
struct NewQuery {
    account: Option<i64>,
}

#[derive(Deserialize, Default)]
struct UserForm {
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    account: Option<i64>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    must_change_password: Option<String>,
}

fn role_select(me: &User, selected: Role, error: Option<&str>) -> Markup {
    html! {
        div.field.has-error[error.is_some()] {
            label for="f-role" { "Role" }
            select id="f-role" name="role" {
                @for r in Role::ALL {
                    @if r != Role::Operator || me.role == Role::Operator {
                        option value=(r.as_str()) selected[r == selected] { (r.label()) }
                    }
                }
            }
            @if let Some(e) = error { p.error role="alert" { (e) } }
        }
    }
}

async fn account_select(
    st: &AppState,
    ctx: &crate::extract::Ctx,
    selected: Option<i64>,
    error: Option<&str>,
) -> Result<Markup, AppError> {
    let accounts = crate::service::accounts::list(st, &ctx.caller()).await?;
    Ok(html! {
        div.field.has-error[error.is_some()] {
            label for="f-account" { "Account" }
            select id="f-account" name="account" required {
                option value="" { "Choose an account" }
                @for a in &accounts {
                    option value=(a.id.0) selected[Some(a.id.0) == selected] { (a.name) " (" (a.number) ")" }
                }
            }
            @if let Some(e) = error { p.error role="alert" { (e) } }
        }
    })
}

async fn new_user_page(
    st: &AppState,
    me: &User,
    ctx: &crate::extract::Ctx,
    f: &UserForm,
    errors: &FormErrors,
) -> Result<Markup, AppError> {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let role = Role::parse(&f.role).unwrap_or(Role::User);
    let accounts = if me.role == Role::Operator {
        Some(account_select(st, ctx, f.account, errors.get("account")).await?)
    } else {
        None
    };
    let must_change = f.must_change_password.is_some() || f.csrf.is_empty();
    Ok(layout(
        "Add User",
        Some(me),
        Some(csrf),
        html! {
            section.card {
                h1 { "Add User" }
                (alert(errors.get("form").or(errors.get("user"))))
                form method="post" action="/users/new" novalidate {
                    (csrf_input(csrf))
                    @if let Some(a) = accounts { (a) }
                    (field("Username", "username", "text", &f.username, errors.get("username"), FieldExtra { required: true, autofocus: true, autocomplete: Some("off"), hint: Some("3–64 characters: letters, digits, '.', '_', '-', '@'."), ..Default::default() }))
                    (field("Name", "name", "text", &f.name, errors.get("name"), FieldExtra { optional: true, ..Default::default() }))
                    (field("E-mail", "email", "email", &f.email, errors.get("email"), FieldExtra { required: true, ..Default::default() }))
                    (role_select(me, role, errors.get("role")))
                    (field("Password", "password", "password", "", errors.get("password"), FieldExtra { optional: true, autocomplete: Some("new-password"), hint: Some("Leave empty to generate a one-time password, shown once on the next page."), ..Default::default() }))
                    div.field.check {
                        input id="f-must-change" type="checkbox" name="must_change_password" value="on" checked[must_change];
                        label for="f-must-change" { "Require a new password at first sign-in" }
                    }
                    div.buttons {
                        button.primary type="submit" { "Add User" }
                        a.button href="/users" { "Cancel" }
                    }
                }
            }
        },
    ))
}

async fn page_user_new(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<NewQuery>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let f = UserForm {
        account: q.account,
        ..Default::default()
    };
    Ok(new_user_page(&st, &me, &ctx, &f, &FormErrors::none())
        .await?
        .into_response())
}

async fn user_create_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<UserForm>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    ctx.check_csrf(&f.csrf)?;
    let input = CreateUser {
        account: f.account.map(AccountId),
        username: f.username.clone(),
        email: f.email.clone(),
        name: f.name.clone(),
        role: f.role.clone(),
        password: Some(f.password.clone()).filter(|p| !p.is_empty()),
        must_change_password: f.must_change_password.is_some(),
    };
    match svc::create(&st, &ctx.caller(), input).await {
        Ok(created) => match created.one_time_password {
            Some(otp) => Ok(
                one_time_password_page(&me, &ctx, &created.user, &otp, "User created")
                    .into_response(),
            ),
            None => Ok(Redirect::to("/users?notice=created").into_response()),
        },
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let page = new_user_page(&st, &me, &ctx, &f, &FormErrors::from_app(&e)).await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn one_time_password_page(
    me: &User,
    ctx: &crate::extract::Ctx,
    user: &User,
    otp: &str,
    title: &str,
) -> Markup {
    layout(
        title,
        Some(me),
        ctx.csrf_token(),
        html! {
            section.card.narrow {
                h1 { (title) }
                p { "Give this one-time password to " strong { (user.username) } " over a channel you trust. It is shown only now; " (user.username) " must choose a new password at the next sign-in." }
                p.secret { code id="one-time-password" { (otp) } }
                p { a.button.primary href="/users" { "Back to Users" } }
            }
        },
    )
}

async fn load_target(st: &AppState, ctx: &crate::extract::Ctx, id: i64) -> Result<User, AppError> {
    svc::get(st, &ctx.caller(), UserId(id)).await
}

fn edit_page(
    me: &User,
    ctx: &crate::extract::Ctx,
    target: &User,
    f: &UserForm,
    errors: &FormErrors,
) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let role = Role::parse(&f.role).unwrap_or(target.role);
    let status = UserStatus::parse(&f.status).unwrap_or(target.status);
    html! {
        (layout("Edit User", Some(me), Some(csrf), html! {
            section.card {
                h1 { "Edit User " span.muted { (target.username) } }
                (alert(errors.get("form").or(errors.get("user"))))
                form method="post" action=(format!("/users/{}/edit", target.id.0)) novalidate {
                    (csrf_input(csrf))
                    (field("Name", "name", "text", &f.name, errors.get("name"), FieldExtra { optional: true, autofocus: true, ..Default::default() }))
                    (field("E-mail", "email", "email", &f.email, errors.get("email"), FieldExtra { required: true, ..Default::default() }))
                    (role_select(me, role, errors.get("role")))
                    div.field.has-error[errors.get("status").is_some()] {
                        label for="f-status" { "Status" }
                        select id="f-status" name="status" {
                            option value="active" selected[status == UserStatus::Active] { "Active" }
                            option value="disabled" selected[status == UserStatus::Disabled] { "Disabled" }
                        }
                        @if let Some(e) = errors.get("status") { p.error role="alert" { (e) } }
                    }
                    div.buttons {
                        button.primary type="submit" { "Save" }
                        a.button href="/users" { "Cancel" }
                    }
                }
            }
        }))
    }
}

async fn page_user_edit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let target = load_target(&st, &ctx, id).await?;
    let f = UserForm {
        name: target.name.clone(),
        email: target.email.clone(),
        role: target.role.as_str().into(),
        status: target.status.as_str().into(),
        ..Default::default()
    };
    Ok(edit_page(&me, &ctx, &target, &f, &FormErrors::none()).into_response())
}

async fn user_edit_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<UserForm>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    ctx.check_csrf(&f.csrf)?;
    let target = load_target(&st, &ctx, id).await?;
    let input = EditUser {
        email: Some(f.email.clone()),
        name: Some(f.name.clone()),
        role: Some(f.role.clone()).filter(|r| !r.is_empty()),
        status: Some(f.status.clone()).filter(|s| !s.is_empty()),
    };
    match svc::update(&st, &ctx.caller(), target.id, input).await {
        Ok(_) => Ok(Redirect::to("/users?notice=updated").into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok((
            e.status(),
            edit_page(&me, &ctx, &target, &f, &FormErrors::from_app(&e)),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// A confirmation page whose title and button are both `action`.
fn confirm(
    me: &User,
    ctx: &crate::extract::Ctx,
    target: &User,
    action: &str,
    question: Markup,
    path: &str,
    danger: bool,
) -> Response {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let url = format!("/users/{}/{path}", target.id.0);
    confirm_page(action, me, csrf, question, &url, action, danger).into_response()
}

async fn page_user_reset(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let t = load_target(&st, &ctx, id).await?;
    let q = html! { p { "Give " strong { (t.username) } " a new one-time password? Their current password stops working, they are signed out everywhere, and they must choose a new password at the next sign-in." } };
    Ok(confirm(
        &me,
        &ctx,
        &t,
        "Reset Password",
        q,
        "reset-password",
        false,
    ))
}

async fn user_reset_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    ctx.check_csrf(&f.csrf)?;
    let t = load_target(&st, &ctx, id).await?;
    let otp = svc::reset_password(&st, &ctx.caller(), t.id).await?;
    Ok(one_time_password_page(&me, &ctx, &t, &otp, "Password reset").into_response())
}

async fn page_user_disable(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let t = load_target(&st, &ctx, id).await?;
    let q = html! { p { "Disable " strong { (t.username) } "? They are signed out everywhere and cannot sign in until enabled again." } };
    Ok(confirm(&me, &ctx, &t, "Disable User", q, "disable", true))
}

async fn user_disable_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    status_submit(st, me, ctx, id, f, UserStatus::Disabled).await
}

async fn page_user_enable(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let t = load_target(&st, &ctx, id).await?;
    let q = html! { p { "Enable " strong { (t.username) } " so they can sign in again?" } };
    Ok(confirm(&me, &ctx, &t, "Enable User", q, "enable", false))
}

async fn user_enable_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    status_submit(st, me, ctx, id, f, UserStatus::Active).await
}

async fn status_submit(
    st: AppState,
    me: User,
    ctx: crate::extract::Ctx,
    id: i64,
    f: CsrfForm,
    status: UserStatus,
) -> PageResult {
    require_admin(&me, "manage users")?;
    ctx.check_csrf(&f.csrf)?;
    svc::set_status(&st, &ctx.caller(), UserId(id), status).await?;
    let code = match status {
        UserStatus::Active => "enabled",
        UserStatus::Disabled => "disabled",
    };
    Ok(Redirect::to(&format!("/users?notice={code}")).into_response())
}

async fn page_user_delete(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    let t = load_target(&st, &ctx, id).await?;
    let q = html! { p { "Delete " strong { (t.username) } " (" (t.email) ")? This cannot be undone." } };
    Ok(confirm(&me, &ctx, &t, "Delete User", q, "delete", true))
}

async fn user_delete_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    require_admin(&me, "manage users")?;
    ctx.check_csrf(&f.csrf)?;
    match svc::delete(&st, &ctx.caller(), UserId(id)).await {
        Ok(()) => Ok(Redirect::to("/users?notice=deleted").into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, super::error_page(e)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
