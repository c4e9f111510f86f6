//! Activate PhoneFactor: number, mode and the first challenge.

use super::*;

// ---- Activation ----------------------------------------------------------

#[derive(Deserialize, Default)]
pub(super) struct ActivateQuery {
    change: Option<String>,
}

/// Countries offered in the selector (numbers starting with + need none).
pub(super) const COUNTRIES: &[(&str, &str)] = &[
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
pub(super) struct ActivateForm {
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

pub(super) struct ActivateErrors<'a> {
    password: Option<String>,
    phone: Option<String>,
    mode: Option<String>,
    form: Option<String>,
    values: &'a ActivateForm,
}

impl<'a> ActivateErrors<'a> {
    /// The form with `values` and no error.
    fn none(values: &'a ActivateForm) -> Self {
        Self {
            password: None,
            phone: None,
            mode: None,
            form: None,
            values,
        }
    }

    /// The form with `values` and `message` next to `field` (at the top
    /// for a field the form does not show).
    fn at(values: &'a ActivateForm, field: Option<&str>, message: String) -> Self {
        let mut e = Self::none(values);
        let slot = match field {
            Some("phone") | Some("country") => &mut e.phone,
            Some("mode") => &mut e.mode,
            Some("password") => &mut e.password,
            _ => &mut e.form,
        };
        *slot = Some(message);
        e
    }
}

/// Whether the session is signed in already (changing the number or mode
/// from Security Settings), rather than activating at a sign-in.
fn signed_in_already(live: &LiveSession) -> bool {
    live.session.state == SessionState::Authenticated
}

/// The form to start (again), empty, with `error` at the top.
fn empty_form(ctx: &Ctx, user: &User, signed_in: bool, error: Option<String>) -> Markup {
    let values = ActivateForm::default();
    let errors = match error {
        Some(message) => ActivateErrors::at(&values, None, message),
        None => ActivateErrors::none(&values),
    };
    activate_form(ctx, user, signed_in, &errors)
}

/// The activation is confirmed: on with the sign-in it was part of, or
/// back to Security Settings.
fn activated(
    http: &crate::HttpConfig,
    jar: CookieJar,
    issued: Option<IssuedSession>,
    user: &User,
) -> Response {
    match issued {
        Some(i) => finish_sign_in(http, jar, &i, user),
        None => Redirect::to("/security?notice=phonefactor-activated").into_response(),
    }
}

pub(super) fn activate_form(
    ctx: &Ctx,
    user: &User,
    signed_in: bool,
    e: &ActivateErrors<'_>,
) -> Markup {
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

pub(super) async fn page_activate(
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
        && is_active(&st, &user).await?
        && let (_, _, Some(issued)) =
            svc::activation_status(&st, &caller_for(&ctx, &user), &live).await?
    {
        return Ok(finish_sign_in(&ctx.http, jar, &issued, &user));
    }
    let signed_in = signed_in_already(&live);
    if q.change.is_none()
        && let Some(view) = svc::latest_activation(&st, &live).await?
        && view.status.is_open()
    {
        return Ok(activation_challenge_page(&ctx, &user, signed_in, &view, None).into_response());
    }
    Ok(empty_form(&ctx, &user, signed_in, None).into_response())
}

pub(super) fn activation_challenge_page(
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

pub(super) async fn activate_start(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    Form(f): Form<ActivateForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    let signed_in = signed_in_already(&live);
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
            let errors = ActivateErrors::at(&f, e.field(), e.message());
            Ok((
                e.status(),
                crate::error::RetryAfter::of(&e),
                activate_form(&ctx, &user, signed_in, &errors),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn activate_verify(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    Form(f): Form<CodeForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    let signed_in = signed_in_already(&live);
    match svc::verify_activation(&st, &caller_for(&ctx, &user), &live, &f.code).await {
        Ok(issued) => Ok(activated(&ctx.http, jar, issued, &user)),
        Err(e @ (AppError::Unauthorized(_) | AppError::Invalid { .. })) => {
            let view = svc::latest_activation(&st, &live).await?;
            match view {
                Some(v) if v.status.is_open() => Ok((
                    StatusCode::UNAUTHORIZED,
                    activation_challenge_page(&ctx, &user, signed_in, &v, Some(&e.message())),
                )
                    .into_response()),
                _ => Ok((
                    StatusCode::UNAUTHORIZED,
                    empty_form(&ctx, &user, signed_in, Some(e.message())),
                )
                    .into_response()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn activate_check(
    State(st): State<AppState>,
    s: InSession<ActivationStep>,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let (live, user, ctx) = checked(s, &f.csrf)?;
    let signed_in = signed_in_already(&live);
    let (status, view, issued) =
        svc::activation_status(&st, &caller_for(&ctx, &user), &live).await?;
    match (status, view) {
        ("active", _) => Ok(activated(&ctx.http, jar, issued, &user)),
        ("pending", Some(v)) => {
            Ok(
                activation_challenge_page(&ctx, &user, signed_in, &v, Some(NOT_CONFIRMED))
                    .into_response(),
            )
        }
        // The poll of the status API may already have renewed the session
        // (the activation signed the user in): nothing is left to check.
        ("none", _) if signed_in && is_active(&st, &user).await? => {
            Ok(Redirect::to(home_for(&user)).into_response())
        }
        (_, v) => {
            let msg = v
                .and_then(|v| status_message(v.status))
                .unwrap_or("Start the activation.");
            Ok(empty_form(&ctx, &user, signed_in, Some(msg.into())).into_response())
        }
    }
}
