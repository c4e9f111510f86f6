//! The administrators' recovery actions on a user's credential or
//! PhoneFactor, each a confirmation page and its submit.

use super::*;

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) fn confirm(
    me: &User,
    ctx: &Ctx,
    title: &str,
    question: Markup,
    action: &str,
    danger: bool,
) -> Response {
    super::super::confirm_page(
        title,
        me,
        ctx.csrf_token().unwrap_or_default(),
        question,
        action,
        title,
        danger,
    )
    .into_response()
}

/// A recovery action's confirmation page for user `id`: the title is also
/// the button; the question is about the user.
/// What a recovery action's confirmation asks: its title (also the button),
/// where the form posts, and whether the action is destructive.
pub(super) struct Ask<'a> {
    title: &'a str,
    action: String,
    danger: bool,
}

pub(super) async fn confirm_for(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    id: i64,
    ask: Ask<'_>,
    question: impl FnOnce(&User) -> Markup,
) -> PageResult {
    require_admin(me, "manage external authentication")?;
    let u = target(st, ctx, id).await?;
    Ok(confirm(
        me,
        ctx,
        ask.title,
        question(&u),
        &ask.action,
        ask.danger,
    ))
}

/// The checks every recovery action's form submission makes.
pub(super) fn admin_form(me: &User, ctx: &Ctx, csrf: &str) -> Result<(), AppError> {
    require_admin(me, "manage external authentication")?;
    ctx.check_csrf(csrf)
}

/// The methods a user has, for the remove page.
pub(super) async fn methods_of(st: &AppState, u: &User) -> Result<Vec<Method>, AppError> {
    let ext = svc::external_auth_for(st, std::slice::from_ref(u)).await?;
    Ok(ext
        .get(&u.id)
        .map(|v| v.iter().map(|e| e.method).collect())
        .unwrap_or_default())
}

pub(super) async fn page_remove(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    let u = target(&st, &ctx, id).await?;
    let methods = methods_of(&st, &u).await?;
    Ok(confirm(
        &me,
        &ctx,
        "Remove External Authentication",
        html! {
            @match methods.as_slice() {
                [] => p { strong { (u.username) } " has no external authentication." },
                [m] => {
                    input type="hidden" name="method" value=(m.as_str());
                    p { "Remove " (m.label()) " from " strong { (u.username) } "? The monthly fee stops, "
                        @if *m == Method::SymantecVip { "the credential goes back to the inventory, " }
                        @else { "the phone number and paired app are forgotten, " }
                        "and " (u.username) " signs in without it." }
                }
                _ => {
                    p { "Which external authentication do you want to remove from " strong { (u.username) } "? Its monthly fee stops." }
                    fieldset {
                        legend { "Method" }
                        @for m in &methods {
                            div.radio {
                                input type="radio" id=(format!("rm-{}", m.as_str())) name="method" value=(m.as_str()) required;
                                label for=(format!("rm-{}", m.as_str())) { (m.label()) }
                            }
                        }
                    }
                }
            }
        },
        &format!("/users/{id}/external-authentication/remove"),
        true,
    ))
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    csrf: String,
    #[serde(default)]
    method: String,
}

pub(super) async fn remove_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<RemoveForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    let method = if f.method.is_empty() {
        Method::SymantecVip
    } else {
        Method::parse(&f.method)?
    };
    creds::remove(&st, &ctx.caller(), UserId(id), method).await?;
    Ok(Redirect::to("/users?notice=external-auth-removed").into_response())
}

pub(super) async fn page_clear_block(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(&st, &me, &ctx, id, Ask { title: "Clear Fraud Block", action: format!("/users/{id}/phonefactor/clear-block"), danger: false }, |u| html! {
        p { "A sign-in of " strong { (u.username) } " was reported as fraud, so their sign-in is blocked. Clear the block only once you are sure the report was a mistake or the password has been changed." }
    })
    .await
}

pub(super) async fn clear_block_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    crate::service::phonefactor::clear_block(&st, &ctx.caller(), UserId(id)).await?;
    Ok(Redirect::to("/users?notice=fraud-block-cleared").into_response())
}

pub(super) async fn page_pf_deactivate(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(&st, &me, &ctx, id, Ask { title: "Deactivate PhoneFactor", action: format!("/users/{id}/phonefactor/deactivate"), danger: true }, |u| html! {
        p { "Deactivate PhoneFactor for " strong { (u.username) } "? Their sign-ins are no longer confirmed by phone until they activate it again; they are told by e-mail. The monthly fee continues until you use Remove External Authentication." }
    })
    .await
}

pub(super) async fn pf_deactivate_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    crate::service::phonefactor::deactivate_for(&st, &ctx.caller(), UserId(id)).await?;
    Ok(Redirect::to("/users?notice=phonefactor-deactivated").into_response())
}

pub(super) async fn page_bypass(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(&st, &me, &ctx, id, Ask { title: "Grant One-time Bypass", action: format!("/users/{id}/phonefactor/bypass"), danger: false }, |u| html! {
        p { "Let " strong { (u.username) } " sign in once without the PhoneFactor confirmation, e.g. when their phone is lost. The bypass is used by the next sign-in, or expires." }
        div.field {
            label for="minutes" { "Valid for" }
            select id="minutes" name="minutes" {
                option value="5" selected { "5 minutes" }
                option value="15" { "15 minutes" }
                option value="60" { "1 hour" }
                option value="1440" { "1 day" }
            }
        }
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct BypassForm {
    csrf: String,
    minutes: Option<i64>,
}

pub(super) async fn bypass_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<BypassForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    crate::service::phonefactor::grant_bypass(&st, &ctx.caller(), UserId(id), f.minutes).await?;
    Ok(Redirect::to("/users?notice=bypass-granted").into_response())
}

#[derive(Deserialize)]
pub(super) struct TemporaryForm {
    csrf: String,
    hours: i64,
    single_use: Option<String>,
}

pub(super) async fn page_temporary(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    let u = target(&st, &ctx, id).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    Ok(layout("Temporary Security Code", Some(&me), Some(csrf), html! {
        section.card.narrow {
            h1 { "Temporary Security Code" }
            p { "For " strong { (u.username) } " when the credential is lost or not at hand. The code works in place of the credential's Security Code until it expires, and is cleared as soon as " (u.username) " signs in with the real credential." }
            form method="post" action=(format!("/users/{id}/security-code/temporary")) {
                (csrf_input(csrf))
                div.field {
                    label for="f-hours" { "Valid for" }
                    select id="f-hours" name="hours" {
                        option value="1" { "1 hour" }
                        option value="8" { "8 hours" }
                        option value="24" selected { "1 day" }
                        option value="72" { "3 days" }
                        option value="168" { "7 days" }
                        option value="720" { "30 days" }
                    }
                }
                div.field.check {
                    input id="f-single" type="checkbox" name="single_use" value="yes" checked;
                    label for="f-single" { "Single use (the code stops working after one sign-in)" }
                }
                div.buttons {
                    button.primary type="submit" { "Issue Temporary Security Code" }
                    a.button href="/users" { "Cancel" }
                }
            }
        }
    }).into_response())
}

pub(super) async fn temporary_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<TemporaryForm>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    ctx.check_csrf(&f.csrf)?;
    let u = target(&st, &ctx, id).await?;
    let code =
        creds::issue_temporary_code(&st, &ctx.caller(), u.id, f.hours, f.single_use.is_some())
            .await?;
    Ok(layout("Temporary Security Code", Some(&me), ctx.csrf_token(), html! {
        section.card.narrow {
            h1 { "Temporary Security Code" }
            p { "Give this code to " strong { (u.username) } " over a channel you trust. It is shown only now." }
            p.secret { code id="temporary-code" { (code) } }
            p.muted { "Valid for " (f.hours) @if f.hours == 1 { " hour" } @else { " hours" } @if f.single_use.is_some() { ", single use" } "." }
            p { a.button.primary href="/users" { "Back to Users" } }
        }
    }).into_response())
}

pub(super) async fn page_unlock(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(&st, &me, &ctx, id, Ask { title: "Unlock Credential", action: format!("/users/{id}/security-code/unlock"), danger: false }, |u| html! {
        p { "Unlock the Symantec Identity Protection credential of " strong { (u.username) } "? Its count of wrong codes starts again at zero." }
    })
    .await
}

pub(super) async fn unlock_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    creds::unlock(&st, &ctx.caller(), UserId(id)).await?;
    Ok(Redirect::to("/users?notice=credential-unlocked").into_response())
}

pub(super) async fn page_disable(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(&st, &me, &ctx, id, Ask { title: "Disable Credential", action: format!("/users/{id}/security-code/disable"), danger: true }, |u| html! {
        p { "Disable the credential of " strong { (u.username) } "? Until it is enabled again, " (u.username) " can sign in only with a temporary security code. Billing continues." }
    })
    .await
}

pub(super) async fn disable_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    creds::set_enabled(&st, &ctx.caller(), UserId(id), false).await?;
    Ok(Redirect::to("/users?notice=credential-disabled").into_response())
}

pub(super) async fn page_enable(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    confirm_for(
        &st,
        &me,
        &ctx,
        id,
        Ask {
            title: "Enable Credential",
            action: format!("/users/{id}/security-code/enable"),
            danger: false,
        },
        |u| {
            html! {
                p { "Enable the credential of " strong { (u.username) } " again?" }
            }
        },
    )
    .await
}

pub(super) async fn enable_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
    creds::set_enabled(&st, &ctx.caller(), UserId(id), true).await?;
    Ok(Redirect::to("/users?notice=credential-enabled").into_response())
}

#[derive(Deserialize)]
pub(super) struct SyncForm {
    csrf: String,
    code1: String,
    code2: String,
}

pub(super) fn sync_page(me: &User, ctx: &Ctx, u: &User, error: Option<&str>) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    layout(
        "Synchronize Credential",
        Some(me),
        Some(csrf),
        html! {
            section.card.narrow {
                h1 { "Synchronize Credential" }
                p { "When " strong { (u.username) } "'s codes are refused because the credential's clock or counter drifted: enter two security codes the credential shows one after the other." }
                form method="post" action=(format!("/users/{}/security-code/sync", u.id.0)) novalidate {
                    (csrf_input(csrf))
                    (field("Security code", "code1", "text", "", None, FieldExtra { required: true, autofocus: true, autocomplete: Some("off"), ..Default::default() }))
                    (field("Next security code", "code2", "text", "", error, FieldExtra { required: true, autocomplete: Some("off"), ..Default::default() }))
                    div.buttons {
                        button.primary type="submit" { "Synchronize Credential" }
                        a.button href="/users" { "Cancel" }
                    }
                }
            }
        },
    )
}

pub(super) async fn page_sync(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    let u = target(&st, &ctx, id).await?;
    Ok(sync_page(&me, &ctx, &u, None).into_response())
}

pub(super) async fn sync_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<SyncForm>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    ctx.check_csrf(&f.csrf)?;
    let u = target(&st, &ctx, id).await?;
    match creds::synchronize(&st, &ctx.caller(), u.id, &f.code1, &f.code2).await {
        Ok(()) => Ok(Redirect::to("/users?notice=credential-synchronized").into_response()),
        Err(e @ AppError::Invalid { .. }) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            sync_page(&me, &ctx, &u, Some(&e.message())),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}
