//! The administrators' recovery actions on a user's credential or
//! PhoneFactor. Most are a confirmation and its submission, described by
//! [`RecoveryAction`]; Temporary Security Code and Synchronize Credential
//! are forms with pages of their own.

use super::*;

/// Finishes "Only administrators can …" on every recovery page.
const ADMINS_ONLY: &str = "manage external authentication";

/// The user a recovery page is about, once the caller is known to be an
/// administrator.
async fn admin_target(st: &AppState, me: &User, ctx: &Ctx, id: i64) -> Result<User, AppError> {
    require_admin(me, ADMINS_ONLY)?;
    target(st, ctx, id).await
}

/// The checks every recovery action's form submission makes.
fn admin_form(me: &User, ctx: &Ctx, csrf: &str) -> Result<(), AppError> {
    require_admin(me, ADMINS_ONLY)?;
    ctx.check_csrf(csrf)
}

// ---- Confirmations -------------------------------------------------------

/// A recovery action that is one confirmation: its page asks about the
/// user (the title is also the button), its submission acts and returns to
/// Users with a notice.
#[derive(Clone, Copy)]
pub(super) enum RecoveryAction {
    Remove,
    Unlock,
    Disable,
    Enable,
    ClearBlock,
    DeactivatePhoneFactor,
    Bypass,
}

impl RecoveryAction {
    /// Every confirmation; each has its route.
    pub(super) const ALL: [Self; 7] = [
        Self::Remove,
        Self::Unlock,
        Self::Disable,
        Self::Enable,
        Self::ClearBlock,
        Self::DeactivatePhoneFactor,
        Self::Bypass,
    ];

    /// The path of the page, which its form posts to.
    pub(super) fn route(self) -> &'static str {
        match self {
            Self::Remove => "/users/{id}/external-authentication/remove",
            Self::Unlock => "/users/{id}/security-code/unlock",
            Self::Disable => "/users/{id}/security-code/disable",
            Self::Enable => "/users/{id}/security-code/enable",
            Self::ClearBlock => "/users/{id}/phonefactor/clear-block",
            Self::DeactivatePhoneFactor => "/users/{id}/phonefactor/deactivate",
            Self::Bypass => "/users/{id}/phonefactor/bypass",
        }
    }

    /// The page's title and its button.
    fn title(self) -> &'static str {
        match self {
            Self::Remove => "Remove External Authentication",
            Self::Unlock => "Unlock Credential",
            Self::Disable => "Disable Credential",
            Self::Enable => "Enable Credential",
            Self::ClearBlock => "Clear Fraud Block",
            Self::DeactivatePhoneFactor => "Deactivate PhoneFactor",
            Self::Bypass => "Grant One-time Bypass",
        }
    }

    /// Whether the button is marked as destructive.
    fn danger(self) -> bool {
        matches!(
            self,
            Self::Remove | Self::Disable | Self::DeactivatePhoneFactor
        )
    }

    /// Where a done action goes: Users, with its notice.
    fn done(self) -> &'static str {
        match self {
            Self::Remove => "/users?notice=external-auth-removed",
            Self::Unlock => "/users?notice=credential-unlocked",
            Self::Disable => "/users?notice=credential-disabled",
            Self::Enable => "/users?notice=credential-enabled",
            Self::ClearBlock => "/users?notice=fraud-block-cleared",
            Self::DeactivatePhoneFactor => "/users?notice=phonefactor-deactivated",
            Self::Bypass => "/users?notice=bypass-granted",
        }
    }

    /// What the page asks about `u`, with the fields the action reads.
    async fn question(self, st: &AppState, u: &User) -> Result<Markup, AppError> {
        Ok(match self {
            Self::Remove => remove_question(u, &methods_of(st, u).await?),
            Self::Unlock => html! {
                p { "Unlock the Symantec Identity Protection credential of " strong { (u.username) } "? Its count of wrong codes starts again at zero." }
            },
            Self::Disable => html! {
                p { "Disable the credential of " strong { (u.username) } "? Until it is enabled again, " (u.username) " can sign in only with a temporary security code. Billing continues." }
            },
            Self::Enable => html! {
                p { "Enable the credential of " strong { (u.username) } " again?" }
            },
            Self::ClearBlock => html! {
                p { "A sign-in of " strong { (u.username) } " was reported as fraud, so their sign-in is blocked. Clear the block only once you are sure the report was a mistake or the password has been changed." }
            },
            Self::DeactivatePhoneFactor => html! {
                p { "Deactivate PhoneFactor for " strong { (u.username) } "? Their sign-ins are no longer confirmed by phone until they activate it again; they are told by e-mail. The monthly fee continues until you use Remove External Authentication." }
            },
            Self::Bypass => html! {
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
            },
        })
    }

    /// Carries the action out on user `id` with what its form posted.
    async fn perform(
        self,
        st: &AppState,
        ctx: &Ctx,
        id: UserId,
        f: &impl ConfirmForm,
    ) -> Result<(), AppError> {
        use crate::service::phonefactor as pf;
        match self {
            Self::Remove => {
                let method = if f.method().is_empty() {
                    Method::SymantecVip
                } else {
                    Method::parse(f.method())?
                };
                creds::remove(st, &ctx.caller(), id, method).await
            }
            Self::Unlock => creds::unlock(st, &ctx.caller(), id).await,
            Self::Disable => creds::set_enabled(st, &ctx.caller(), id, false).await,
            Self::Enable => creds::set_enabled(st, &ctx.caller(), id, true).await,
            Self::ClearBlock => pf::clear_block(st, &ctx.caller(), id).await,
            Self::DeactivatePhoneFactor => pf::deactivate_for(st, &ctx.caller(), id).await,
            Self::Bypass => {
                pf::grant_bypass(st, &ctx.caller(), id, f.minutes()).await?;
                Ok(())
            }
        }
    }

    /// The page and the submission, the form read as this action posts it
    /// (a field another action posts is ignored, as on any form).
    pub(super) fn handlers(self) -> Methods {
        match self {
            Self::Remove => confirmation::<RemoveForm>(self),
            Self::Bypass => confirmation::<BypassForm>(self),
            _ => confirmation::<CsrfForm>(self),
        }
    }
}

/// The confirmation page of `a` (GET) and its submission (POST) with form `F`.
fn confirmation<F: ConfirmForm>(a: RecoveryAction) -> Methods {
    get(move |st, who, id| page_confirm(a, st, who, id))
        .post(move |st, who, id, form| confirm_submit::<F>(a, st, who, id, form))
}

async fn page_confirm(
    a: RecoveryAction,
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    let u = admin_target(&st, &me, &ctx, id).await?;
    let question = a.question(&st, &u).await?;
    Ok(super::super::confirm_page(
        a.title(),
        &me,
        ctx.csrf_token().unwrap_or_default(),
        question,
        &a.route().replace("{id}", &id.to_string()),
        a.title(),
        a.danger(),
    )
    .into_response())
}

async fn confirm_submit<F: ConfirmForm>(
    a: RecoveryAction,
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<F>,
) -> PageResult {
    admin_form(&me, &ctx, f.csrf())?;
    a.perform(&st, &ctx, UserId(id), &f).await?;
    Ok(Redirect::to(a.done()).into_response())
}

/// What a confirmation posts: the CSRF token and the action's own fields.
trait ConfirmForm: serde::de::DeserializeOwned + Send + Sync + 'static {
    fn csrf(&self) -> &str;
    /// Remove External Authentication: the method (empty: Symantec).
    fn method(&self) -> &str {
        ""
    }
    /// Grant One-time Bypass: how long it is valid.
    fn minutes(&self) -> Option<i64> {
        None
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

impl ConfirmForm for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
struct RemoveForm {
    csrf: String,
    #[serde(default)]
    method: String,
}

impl ConfirmForm for RemoveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
    fn method(&self) -> &str {
        &self.method
    }
}

#[derive(Deserialize)]
struct BypassForm {
    csrf: String,
    minutes: Option<i64>,
}

impl ConfirmForm for BypassForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
    fn minutes(&self) -> Option<i64> {
        self.minutes
    }
}

/// The methods a user has, for the remove page.
async fn methods_of(st: &AppState, u: &User) -> Result<Vec<Method>, AppError> {
    let ext = svc::external_auth_for(st, std::slice::from_ref(u)).await?;
    Ok(ext
        .get(&u.id)
        .map(|v| v.iter().map(|e| e.method).collect())
        .unwrap_or_default())
}

/// Remove External Authentication asks which method when there are two.
fn remove_question(u: &User, methods: &[Method]) -> Markup {
    html! {
        @match methods {
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
                    @for m in methods {
                        div.radio {
                            input type="radio" id=(format!("rm-{}", m.as_str())) name="method" value=(m.as_str()) required;
                            label for=(format!("rm-{}", m.as_str())) { (m.label()) }
                        }
                    }
                }
            }
        }
    }
}

// ---- Temporary Security Code ---------------------------------------------

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
    let u = admin_target(&st, &me, &ctx, id).await?;
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
    admin_form(&me, &ctx, &f.csrf)?;
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

// ---- Synchronize Credential ----------------------------------------------

#[derive(Deserialize)]
pub(super) struct SyncForm {
    csrf: String,
    code1: String,
    code2: String,
}

fn sync_page(me: &User, ctx: &Ctx, u: &User, error: Option<&str>) -> Markup {
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
    let u = admin_target(&st, &me, &ctx, id).await?;
    Ok(sync_page(&me, &ctx, &u, None).into_response())
}

pub(super) async fn sync_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<SyncForm>,
) -> PageResult {
    admin_form(&me, &ctx, &f.csrf)?;
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
