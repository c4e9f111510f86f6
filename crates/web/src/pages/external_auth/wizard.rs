//! Add External Authentication: the order wizard (method, credential,
//! review), the placed order and the MSA.

use super::*;

// The form's fields and their reading into an order are the domain's, so
// that the fuzz targets (fuzz/) reach them without the web stack.
pub(super) use gatehouse_domain::order::WizardForm;

impl FormErrors {
    /// Errors that belong to the whole step rather than one of its fields.
    fn form_level(&self) -> Option<&str> {
        self.get("form")
            .or(self.get("method"))
            .or(self.get("msa_version"))
    }
}

pub(super) async fn target(st: &AppState, ctx: &Ctx, id: i64) -> Result<User, AppError> {
    crate::service::users::get(st, &ctx.caller(), UserId(id)).await
}

pub(super) fn step1(
    delivery: crate::DeliveryMode,
    me: &User,
    ctx: &Ctx,
    user: &User,
    f: &WizardForm,
    errors: &FormErrors,
) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let method = if f.method.is_empty() {
        "symantec_vip"
    } else {
        f.method.as_str()
    };
    layout(
        "Add External Authentication",
        Some(me),
        Some(csrf),
        html! {
            section.card {
                h1 { "Add External Authentication" }
                p.lead { "For " strong { (user.username) } @if !user.name.is_empty() { " (" (user.name) ")" } ". Both methods may be added per user for a small monthly fee." }
                (alert(errors.form_level()))
                form method="post" action=(format!("/users/{}/external-authentication", user.id.0)) novalidate {
                    (csrf_input(csrf))
                    fieldset.choices {
                        legend { "External Authentication Type" }
                        div.choice {
                            input type="radio" id="m-symantec" name="method" value="symantec_vip" checked[method == "symantec_vip"];
                            label for="m-symantec" { "Symantec Identity Protection" }
                            p.hint { "A security code from the user's token or VIP Access app, in addition to username and password." }
                        }
                        div.choice {
                            input type="radio" id="m-phonefactor" name="method" value="phonefactor" checked[method == "phonefactor"];
                            label for="m-phonefactor" { "PhoneFactor" }
                            p.hint { "Out-of-band authentication by phone call, SMS or mobile app; the user activates it with their phone at the next sign-in." }
                            @if delivery == crate::DeliveryMode::None {
                                p.hint.delivery-off { "Not available on this portal yet: no delivery for texts and calls is configured. The provider's operator must configure a text and voice gateway ([twilio] or [http_sms] in gatehouse.toml) and restart Gatehouse before PhoneFactor can be ordered." }
                            } @else if delivery == crate::DeliveryMode::Virtual {
                                p.hint { "Demo delivery: texts and calls go to the portal's virtual phone, not to real phones." }
                            }
                        }
                    }
                    (field("Credential ID", "credential_id", "text", &f.credential_id, errors.get("credential_id"), FieldExtra { autofocus: true, autocomplete: Some("off"), hint: Some("For Symantec Identity Protection: the ID printed on the token or shown in the app, e.g. VSST 1234 5678."), ..Default::default() }))
                    details.proof open[errors.get("security_code").is_some()] {
                        summary { "Prove possession of the credential (optional)" }
                        p.hint { "Enter the security code the credential shows now, and optionally the next one after it changes." }
                        (field("Security code", "security_code", "text", "", errors.get("security_code"), FieldExtra { optional: true, autocomplete: Some("one-time-code"), ..Default::default() }))
                        (field("Next security code", "next_security_code", "text", "", None, FieldExtra { optional: true, autocomplete: Some("off"), ..Default::default() }))
                    }
                    div.buttons {
                        button.primary type="submit" name="action" value="continue" { "Continue" }
                        a.button href="/users" { "Cancel" }
                    }
                }
            }
        },
    )
}

pub(super) fn step2(
    me: &User,
    ctx: &Ctx,
    c: &Checked,
    f: &WizardForm,
    errors: &FormErrors,
) -> Markup {
    let csrf = ctx.csrf_token().unwrap_or_default();
    let cur = c.currency.as_str();
    html! {
        (layout("Add External Authentication", Some(me), Some(csrf), html! {
            section.card {
                h1 { "Add External Authentication" }
                (alert(errors.form_level()))
                dl.props {
                    dt { "User" } dd { (c.user.username) @if !c.user.name.is_empty() { " (" (c.user.name) ")" } }
                    dt { "External Authentication Type" } dd { (c.method.label()) }
                    @if let Some(cred) = &c.credential { dt { "Credential ID" } dd { code { (cred.credential_id) } } }
                }
                form method="post" action=(format!("/users/{}/external-authentication", c.user.id.0)) novalidate {
                    (csrf_input(csrf))
                    input type="hidden" name="method" value=(c.method.as_str());
                    input type="hidden" name="credential_id" value=(f.credential_id);
                    input type="hidden" name="msa_version" value=(c.msa.version);
                    input type="hidden" name="idempotency_key" value=(f.idempotency_key);
                    @if !f.proof.is_empty() { input type="hidden" name="proof" value=(f.proof); }
                    h2 { "Promo Code" }
                    div.inline-field {
                        (field("Promo Code", "promo_code", "text", &f.promo_code, errors.get("promo_code"), FieldExtra { optional: true, autocomplete: Some("off"), ..Default::default() }))
                        button type="submit" name="action" value="apply" { "Apply" }
                    }
                    table.price {
                        caption.visually-hidden { "Monthly fee" }
                        tbody {
                            tr { th scope="row" { "Monthly fee" } td id="monthly-fee" { (format_money(c.quote.monthly_fee, cur)) } }
                            tr {
                                th scope="row" { "Discount" @if let Some(p) = &c.promo { " (" (p.code) ": " (p.describe(cur)) ")" } }
                                td id="discount" { @if c.quote.discount > 0 { "−" } (format_money(c.quote.discount, cur)) }
                            }
                            tr.total { th scope="row" { "Total per month" } td id="total" { (format_money(c.quote.total, cur)) } }
                        }
                    }
                    h2 { "MSA Acknowledgement" }
                    p { "Master Services Agreement, version " strong { (c.msa.version) } " (" a href=(format!("/msa/{}", c.msa.version)) target="_blank" rel="noopener" { "open in a new window" } ")." }
                    div.msa tabindex="0" role="document" aria-label="Master Services Agreement text" { pre { (c.msa.body) } }
                    div.field.check.has-error[errors.get("msa_acknowledged").is_some()] {
                        input id="f-msa" type="checkbox" name="msa_acknowledged" value="yes" checked[f.msa_acknowledged.is_some()] aria-describedby=[errors.get("msa_acknowledged").map(|_| "f-msa-error")];
                        label for="f-msa" { "I have read and acknowledge the Master Services Agreement (version " (c.msa.version) ")" }
                    }
                    @if let Some(e) = errors.get("msa_acknowledged") { p.error id="f-msa-error" role="alert" { (e) } }
                    div.buttons {
                        button.primary type="submit" name="action" value="order" { "Order External Authentication" }
                        button type="submit" name="action" value="cancel" formnovalidate { "Cancel" }
                    }
                }
            }
        }))
    }
}

pub(super) async fn page_wizard(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    let user = target(&st, &ctx, id).await?;
    Ok(step1(
        st.config.delivery.mode(),
        &me,
        &ctx,
        &user,
        &WizardForm::default(),
        &FormErrors::none(),
    )
    .into_response())
}

pub(super) async fn wizard_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(id): Path<i64>,
    Form(mut f): Form<WizardForm>,
) -> PageResult {
    require_admin(&me, "manage external authentication")?;
    ctx.check_csrf(&f.csrf)?;
    let user = target(&st, &ctx, id).await?;
    let caller = ctx.caller();
    match f.action.as_str() {
        "cancel" => Ok(Redirect::to("/users?notice=order-cancelled").into_response()),
        "order" => {
            // Placing first: a repeated submission finds its order by the
            // form's idempotency key before anything else is checked.
            let placed = svc::place(
                &st,
                &caller,
                user.id,
                &f.input(false),
                &f.msa_version,
                f.msa_acknowledged.is_some(),
                &f.idempotency_key,
            )
            .await;
            match placed {
                Ok(Placed::New(o) | Placed::Existing(o)) => {
                    Ok(Redirect::to(&format!("/orders/{}", o.number)).into_response())
                }
                Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
                    review_with_error(&st, &me, &ctx, &user, &f, e).await
                }
                Err(e) => Err(e.into()),
            }
        }
        "apply" => match svc::check(&st, &caller, user.id, &f.input(false)).await {
            Ok(checked) => Ok(step2(&me, &ctx, &checked, &f, &FormErrors::none()).into_response()),
            Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
                review_with_error(&st, &me, &ctx, &user, &f, e).await
            }
            Err(e) => Err(e.into()),
        },
        _ => match svc::check(&st, &caller, user.id, &f.input(true)).await {
            Ok(checked) => {
                // One key per wizard run: a double submission of the order
                // form finds the order placed by the first.
                f.idempotency_key = secret::new_token("wiz_");
                // The codes are checked now but recorded as used only by
                // the order; carry the result, sealed, to that step.
                if let (Some(c), Some(p)) = (&checked.credential, &checked.proof) {
                    f.proof = creds::seal_proof(&st, user.id, &c.credential_id, p);
                }
                Ok(step2(&me, &ctx, &checked, &f, &FormErrors::none()).into_response())
            }
            Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok((
                e.status(),
                step1(
                    st.config.delivery.mode(),
                    &me,
                    &ctx,
                    &user,
                    &f,
                    &FormErrors::from_app(&e),
                ),
            )
                .into_response()),
            Err(e) => Err(e.into()),
        },
    }
}

/// Shows the review step again with `e` next to its field; errors that
/// belong to the first step (credential, method) go back to it.
pub(super) async fn review_with_error(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    user: &User,
    f: &WizardForm,
    e: AppError,
) -> PageResult {
    let caller = ctx.caller();
    let mut without_promo = f.clone();
    if e.field() == Some("promo_code") {
        without_promo.promo_code.clear();
    }
    match svc::check(st, &caller, user.id, &without_promo.input(false)).await {
        Ok(c) => Ok((
            e.status(),
            crate::error::RetryAfter::of(&e),
            step2(me, ctx, &c, f, &FormErrors::from_app(&e)),
        )
            .into_response()),
        Err(first @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok((
            first.status(),
            step1(
                st.config.delivery.mode(),
                me,
                ctx,
                user,
                f,
                &FormErrors::from_app(&first),
            ),
        )
            .into_response()),
        Err(other) => Err(other.into()),
    }
}

pub(super) fn what_happens_next(method: Method) -> Markup {
    match method {
        Method::SymantecVip => html! {
            p { "From the user's next sign-in, our systems will require the Security Code associated with the user's Credential ID entered in the system at the time Symantec Identity Protection was added to the account, in addition to the username and password." }
            p { "If the user loses the credential, use " em { "Temporary Security Code" } " in the Actions drop-down; if codes are refused because the credential's clock drifted, use " em { "Synchronize Credential" } "." }
        },
        Method::PhoneFactor => html! {
            p { "The user must activate PhoneFactor in order to use this type of two-factor authentication with the account. PhoneFactor requires a valid phone number that the user must have access to any time he or she attempts to authenticate to our systems. PhoneFactor may be deactivated by the user or an administrator at any time." }
        },
    }
}

pub(super) async fn page_order(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(number): Path<String>,
) -> PageResult {
    let order = svc::get(&st, &ctx.caller(), &number).await?;
    let method = order.method;
    let discount = order
        .promo_kind
        .as_deref()
        .zip(order.promo_value)
        .and_then(|(k, v)| gatehouse_domain::pricing::Discount::parse(k, v).ok());
    let q = gatehouse_domain::pricing::quote(order.monthly_price, discount);
    let cur = order.currency.as_str();
    Ok(layout("Order placed", Some(&me), ctx.csrf_token(), html! {
        section.card {
            h1 { "Order " span id="order-number" { (order.number) } " placed" }
            (super::super::notice(Some("External authentication was ordered.")))
            dl.props {
                dt { "Order number" } dd { (order.number) }
                dt { "User" } dd { (order.username) }
                dt { "External Authentication Type" } dd { (method.label()) }
                @if let Some(c) = &order.credential_id { dt { "Credential ID" } dd { code { (c) } } }
                dt { "Monthly fee" } dd { (format_money(q.monthly_fee, cur)) }
                @if let Some(p) = &order.promo_code { dt { "Promo Code" } dd { (p) " (−" (format_money(q.discount, cur)) @if let Some(m) = order.promo_months { " for " (m) " months" } ")" } }
                dt { "Total per month" } dd { (format_money(q.total, cur)) }
                dt { "MSA acknowledged" } dd { "version " (order.msa_version) " by " (order.acknowledged_name) " on " (order.acknowledged_at.display()) " from " (order.acknowledged_addr) }
            }
            h2 { "What happens next" }
            (what_happens_next(method))
            p { a.button.primary href="/users" { "Back to Users" } }
        }
    }).into_response())
}

pub(super) async fn page_msa(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Path(version): Path<String>,
) -> PageResult {
    let msa = crate::service::catalog::msa(&st, &version).await?;
    Ok(layout("Master Services Agreement", Some(&me), ctx.csrf_token(), html! {
        section.card {
            h1 { "Master Services Agreement " span.muted { "version " (msa.version) } }
            p.muted { "Published " (msa.published_at.display()) ". SHA-256 " code { (msa.sha256) } }
            div.msa.full { pre { (msa.body) } }
        }
    }).into_response())
}
