//! The operator's screens for the Symantec path: the token inventory
//! (PSKC import, soft credentials) and the catalog (prices, promo codes,
//! MSA versions).

use super::{FieldExtra, PageResult, alert, csrf_input, field, layout, notice};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::pages::form::{Query, Upload};
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::{catalog, credentials as creds};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use gatehouse_app::model::User;
use gatehouse_domain::Role;
use gatehouse_domain::oath::Validation;
use gatehouse_domain::pricing::format_money;
use gatehouse_domain::pskc::DecryptionKey;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/tokens", get(page_tokens))
        .route("/tokens/import", post(tokens_import_submit))
        .route("/tokens/soft", post(tokens_soft_submit))
        .route("/tokens/remote", post(tokens_remote_submit))
        .route("/catalog", get(page_catalog))
        .route("/catalog/price", post(price_submit))
        .route("/catalog/promo", post(promo_submit))
        .route("/catalog/msa", post(msa_submit))
}

pub(super) fn require_operator(user: &User) -> Result<(), AppError> {
    if user.role == Role::Operator {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Only the provider's operators can open this page.".into(),
        ))
    }
}

#[derive(Deserialize)]
struct TokensQuery {
    q: Option<String>,
    page: Option<i64>,
}

const PER_PAGE: i64 = 50;

async fn tokens_page(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    q: &str,
    page: i64,
    message: Option<Markup>,
) -> Result<Markup, AppError> {
    let (list, total) =
        creds::inventory(st, &ctx.caller(), q, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    let now = st.now();
    Ok(layout(
        "Token Inventory",
        Some(me),
        Some(csrf),
        html! {
            div.page-head { h1 { "Token Inventory" } }
            @if let Some(m) = message { (m) }
            div.grid2 {
                section.card {
                    h2 { "Import a PSKC file" }
                    p.hint { "The vendor's seed file (RFC 6030). Each key's serial number becomes its Credential ID. A file that fails to decrypt or whose MAC does not match imports nothing." }
                    form method="post" action="/tokens/import" enctype="multipart/form-data" {
                        (csrf_input(csrf))
                        div.field { label for="f-file" { "PSKC file" } input id="f-file" type="file" name="file" accept=".xml,.pskc" required; }
                        (field("Pre-shared key (hex)", "preshared_key", "text", "", None, FieldExtra { optional: true, autocomplete: Some("off"), hint: Some("For files encrypted with a pre-shared AES-128 key."), ..Default::default() }))
                        (field("Passphrase", "passphrase", "password", "", None, FieldExtra { optional: true, autocomplete: Some("off"), hint: Some("For files encrypted with a key derived from a passphrase (PBKDF2)."), ..Default::default() }))
                        div.buttons { button.primary type="submit" { "Import" } }
                    }
                }
                section.card {
                    h2 { "Issue soft credentials" }
                    p.hint { "New TOTP credentials for any authenticator app: each gets a Credential ID and a QR code, shown once." }
                    form method="post" action="/tokens/soft" {
                        (csrf_input(csrf))
                        (field("Number of credentials", "count", "number", "1", None, FieldExtra { required: true, ..Default::default() }))
                        div.buttons { button.primary type="submit" { "Issue soft credentials" } }
                    }
                }
            }
            form.search method="get" action="/tokens" role="search" {
                label for="q" { "Search credentials" }
                input id="q" name="q" type="search" value=(q) placeholder="Credential ID";
                button type="submit" { "Search" }
            }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Credential ID" } th scope="col" { "Type" } th scope="col" { "Validation" } th scope="col" { "Source" } th scope="col" { "Assigned" } th scope="col" { "State" } th scope="col" { "Last validated" } } }
                    tbody {
                        @for c in &list {
                            tr {
                                td { code { (c.credential_id) } }
                                td { (c.params.kind.name().to_uppercase()) " " (c.params.alg) " · " (c.params.digits) " digits" @if let Some(period) = c.params.kind.period() { " · " (period) " s" } }
                                td { @if c.validation == Validation::Remote { "remote (vendor)" } @else { "local" } }
                                td { (c.source) }
                                td { @if c.user_id.is_some() { "yes" } @else { span.muted { "available" } } }
                                td {
                                    @if !c.enabled { span.badge.badge-disabled { "disabled" } }
                                    @else if c.locked_until.is_some_and(|t| now < t) { span.badge.badge-failure { "locked" } }
                                    @else { span.badge.badge-active { "enabled" } }
                                }
                                td { @if let Some(t) = c.last_validated_at { (t.display()) } @else { span.muted { "never" } } }
                            }
                        }
                        @if list.is_empty() { tr { td.empty colspan="7" { "No credentials yet. Import a PSKC file or issue soft credentials." } } }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                span { (total) " credentials" }
                @if page > 1 { a href=(format!("/tokens?page={}&q={}", page - 1, crate::extract::urlencode(q))) { "Previous" } }
                @if page * PER_PAGE < total { a href=(format!("/tokens?page={}&q={}", page + 1, crate::extract::urlencode(q))) { "Next" } }
            }
        },
    ))
}

async fn page_tokens(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<TokensQuery>,
) -> PageResult {
    require_operator(&me)?;
    let page = crate::extract::page_or_first(q.page);
    Ok(
        tokens_page(&st, &me, &ctx, q.q.as_deref().unwrap_or(""), page, None)
            .await?
            .into_response(),
    )
}

async fn tokens_import_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    upload: Upload,
) -> PageResult {
    require_operator(&me)?;
    let csrf = upload.text("csrf");
    let file = upload
        .get("file")
        .map(|p| p.bytes.to_vec())
        .unwrap_or_default();
    let file_name = upload
        .get("file")
        .and_then(|p| p.file_name.clone())
        .unwrap_or_else(|| "upload".to_owned());
    let preshared = upload.text("preshared_key");
    let passphrase = upload.text("passphrase").to_owned();
    ctx.check_csrf(csrf)?;
    let key = if !preshared.trim().is_empty() {
        match hex::decode(preshared.trim()) {
            Ok(k) => Some(DecryptionKey::PreShared(k)),
            Err(_) => {
                let m = html! { (alert(Some("The pre-shared key must be hexadecimal, e.g. 000102030405060708090a0b0c0d0e0f."))) };
                return Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    tokens_page(&st, &me, &ctx, "", 1, Some(m)).await?,
                )
                    .into_response());
            }
        }
    } else if !passphrase.is_empty() {
        Some(DecryptionKey::Passphrase(passphrase))
    } else {
        None
    };
    match creds::import_pskc(&st, &ctx.caller(), &file, key, &file_name).await {
        Ok(report) => {
            let m = report_message(
                &format!(
                    "Imported {} credential(s) from {file_name}.",
                    report.imported.len()
                ),
                &report,
            );
            Ok(tokens_page(&st, &me, &ctx, "", 1, Some(m))
                .await?
                .into_response())
        }
        Err(e @ AppError::Invalid { .. }) => {
            let m = html! { (alert(Some(&format!("Nothing was imported from {file_name}: {}", e.message())))) };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                tokens_page(&st, &me, &ctx, "", 1, Some(m)).await?,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct RemoteForm {
    csrf: String,
    credential_ids: String,
}

async fn tokens_remote_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<RemoteForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    let ids: Vec<String> = f
        .credential_ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    match creds::add_remote(&st, &ctx.caller(), &ids).await {
        Ok(report) => {
            let m = report_message(
                &format!("Registered {} remote credential(s).", report.imported.len()),
                &report,
            );
            Ok(tokens_page(&st, &me, &ctx, "", 1, Some(m))
                .await?
                .into_response())
        }
        Err(e @ AppError::Invalid { .. }) => {
            let m = html! { (alert(Some(&e.message()))) };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                tokens_page(&st, &me, &ctx, "", 1, Some(m)).await?,
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct SoftForm {
    csrf: String,
    count: usize,
}

/// What an import did: the count, and each refused Credential ID with why.
fn report_message(done: &str, report: &creds::ImportReport) -> Markup {
    html! {
        (notice(Some(done)))
        @if !report.refused.is_empty() {
            div.alert.alert-error role="alert" {
                "Refused:"
                ul { @for (id, why) in &report.refused { li { code { (id) } ": " (why) } } }
            }
        }
    }
}

pub(crate) fn qr_svg(data: &str) -> Markup {
    match qrcode::QrCode::new(data.as_bytes()) {
        // Our own data rendered by the qrcode crate: safe to embed.
        Ok(code) => PreEscaped(
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(180, 180)
                .build(),
        ),
        Err(_) => html! { span.muted { "(too long for a QR code)" } },
    }
}

async fn tokens_soft_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<SoftForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    let issued = creds::issue_soft(&st, &ctx.caller(), f.count).await?;
    Ok(layout("Soft credentials", Some(&me), ctx.csrf_token(), html! {
        h1 { "Soft credentials issued" }
        p { "Each QR code is shown only now. Scan it with an authenticator app (or hand the key URI to the user over a channel you trust); the Credential ID is what an administrator enters in Add External Authentication." }
        @for c in &issued {
            section.card.soft {
                h2 { code.credential-id { (c.credential_id) } }
                div.qr { (qr_svg(&c.uri)) }
                p { code.uri { (c.uri) } }
            }
        }
        p { a.button.primary href="/tokens" { "Back to the inventory" } }
    }).into_response())
}

#[derive(Deserialize)]
struct CatalogQuery {
    notice: Option<String>,
}

/// What the operator is told about PhoneFactor's delivery, and how to change it.
fn delivery_card(mode: crate::DeliveryMode) -> Markup {
    html! {
        section.card #delivery {
            h2 { "Text and call delivery" }
            @match mode {
                crate::DeliveryMode::None => {
                    p.alert { strong { "PhoneFactor is off: " } "no delivery for texts and calls is configured, so PhoneFactor cannot be ordered or activated." }
                    p { "To offer PhoneFactor, add a " code { "[twilio]" } " or " code { "[http_sms]" } " table to " code { "gatehouse.toml" } " (see the README). For a demo, start with " code { "gatehouse serve --demo" } " or set " code { "delivery = "virtual"" } " (" code { "GATEHOUSE_DELIVERY=virtual" } "). The mode is recorded in the database: run " code { "gatehouse delivery-mode set gateway" } " (or " code { "virtual" } ") once, then restart every instance with the new configuration." }
                }
                crate::DeliveryMode::Virtual => {
                    p.alert { strong { "Virtual delivery (demo and test mode): " } "texts and calls go to the " a href="/virtual-phone" { "virtual phone" } ", not to real phones. Each user sees only their own numbers there; operators see all." }
                    p { "For real users, configure a " code { "[twilio]" } " or " code { "[http_sms]" } " table, run " code { "gatehouse delivery-mode set gateway" } " and restart." }
                }
                crate::DeliveryMode::Gateway => {
                    p { "Texts and calls are sent through the configured gateway." }
                }
            }
        }
    }
}

async fn catalog_page(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    message: Option<Markup>,
) -> Result<Markup, AppError> {
    let prices = catalog::prices(st).await?;
    let promos = catalog::promos(st).await?;
    let msas = catalog::msas(st).await?;
    let csrf = ctx.csrf_token().unwrap_or_default();
    let price_of = |m: &str| prices.iter().find(|p| p.method == m);
    Ok(layout(
        "Catalog",
        Some(me),
        Some(csrf),
        html! {
            h1 { "Catalog" }
            @if let Some(m) = message { (m) }
            (delivery_card(st.config.delivery.mode()))
            section.card {
                h2 { "Monthly prices" }
                p.hint { "The price at order time is kept on each order; a change applies to new orders only." }
                @for m in gatehouse_domain::Method::ALL {
                    form.inline method="post" action="/catalog/price" {
                        (csrf_input(csrf))
                        input type="hidden" name="method" value=(m.as_str());
                        strong { (m.label()) }
                        span { @if let Some(p) = price_of(m.as_str()) { (format_money(p.amount, &p.currency)) } @else { span.muted { "no price" } } }
                        label for=(format!("amount-{}", m.as_str())) { "Amount in cents" }
                        input id=(format!("amount-{}", m.as_str())) name="amount" type="number" min="0" required value=[price_of(m.as_str()).map(|p| p.amount)];
                        label for=(format!("currency-{}", m.as_str())) { "Currency" }
                        input id=(format!("currency-{}", m.as_str())) name="currency" type="text" size="4" required value=(price_of(m.as_str()).map_or("USD", |p| p.currency.as_str()));
                        button type="submit" { "Set price" }
                    }
                }
            }
            section.card {
                h2 { "Promo codes" }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Code" } th scope="col" { "Discount" } th scope="col" { "Method" } th scope="col" { "Used" } th scope="col" { "Valid until" } } }
                        tbody {
                            @for p in &promos {
                                tr {
                                    td { code { (p.code) } }
                                    td { (catalog::to_promo(p).map(|x| x.describe("")).unwrap_or_default()) }
                                    td { (p.method.as_deref().unwrap_or("any")) }
                                    td { (p.redemptions) @if let Some(m) = p.max_redemptions { " of " (m) } }
                                    td { @if let Some(u) = p.valid_until { (u.display()) } @else { "—" } }
                                }
                            }
                            @if promos.is_empty() { tr { td.empty colspan="5" { "No promo codes yet." } } }
                        }
                    }
                }
                h3 { "Create a promo code" }
                form method="post" action="/catalog/promo" {
                    (csrf_input(csrf))
                    div.grid3 {
                        (field("Code", "code", "text", "", None, FieldExtra { required: true, ..Default::default() }))
                        (field("Percent off", "percent_off", "number", "", None, FieldExtra { optional: true, ..Default::default() }))
                        (field("Amount off (cents)", "amount_off", "number", "", None, FieldExtra { optional: true, ..Default::default() }))
                        (field("For months", "months", "number", "", None, FieldExtra { optional: true, hint: Some("Empty: for as long as the subscription lasts."), ..Default::default() }))
                        (field("Maximum redemptions", "max_redemptions", "number", "", None, FieldExtra { optional: true, ..Default::default() }))
                        (field("Valid until", "valid_until", "date", "", None, FieldExtra { optional: true, ..Default::default() }))
                        div.field {
                            label for="f-method" { "Only for" }
                            select id="f-method" name="method" {
                                option value="" { "Any method" }
                                @for m in gatehouse_domain::Method::ALL { option value=(m.as_str()) { (m.label()) } }
                            }
                        }
                    }
                    div.buttons { button.primary type="submit" { "Create promo code" } }
                }
            }
            section.card {
                h2 { "Master Services Agreement" }
                ul {
                    @for (i, m) in msas.iter().enumerate() {
                        li { a href=(format!("/msa/{}", m.version)) { "Version " (m.version) } " — published " (m.published_at.display()) @if i == 0 { " " span.badge.badge-active { "current" } } }
                    }
                    @if msas.is_empty() { li.muted { "None published: orders cannot be placed until one is." } }
                }
                h3 { "Publish a new version" }
                form method="post" action="/catalog/msa" {
                    (csrf_input(csrf))
                    (field("Version", "version", "text", "", None, FieldExtra { required: true, hint: Some("e.g. 2026.2; a published version never changes."), ..Default::default() }))
                    div.field { label for="f-text" { "Text" } textarea id="f-text" name="text" rows="10" required {} }
                    div.buttons { button.primary type="submit" { "Publish" } }
                }
            }
        },
    ))
}

fn catalog_notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "price" => "The price was set.",
        "promo" => "The promo code was created.",
        "msa" => "The new MSA version was published; new orders acknowledge it.",
        _ => return None,
    })
}

async fn page_catalog(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<CatalogQuery>,
) -> PageResult {
    require_operator(&me)?;
    let m = q
        .notice
        .as_deref()
        .and_then(catalog_notice)
        .map(|t| notice(Some(t)));
    Ok(catalog_page(&st, &me, &ctx, m).await?.into_response())
}

async fn catalog_error(st: &AppState, me: &User, ctx: &Ctx, e: AppError) -> PageResult {
    match e {
        AppError::Invalid { .. } | AppError::Conflict { .. } => {
            let m = alert(Some(&e.message()));
            Ok((
                e.status(),
                crate::error::RetryAfter::of(&e),
                catalog_page(st, me, ctx, Some(m)).await?,
            )
                .into_response())
        }
        e => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct PriceForm {
    csrf: String,
    method: String,
    amount: i64,
    currency: String,
}

async fn price_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<PriceForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    match catalog::set_price(&st, &ctx.caller(), &f.method, f.amount, &f.currency).await {
        Ok(_) => Ok(Redirect::to("/catalog?notice=price").into_response()),
        Err(e) => catalog_error(&st, &me, &ctx, e).await,
    }
}

#[derive(Deserialize)]
struct PromoForm {
    csrf: String,
    code: String,
    #[serde(default)]
    percent_off: String,
    #[serde(default)]
    amount_off: String,
    #[serde(default)]
    months: String,
    #[serde(default)]
    max_redemptions: String,
    #[serde(default)]
    valid_until: String,
    #[serde(default)]
    method: String,
}

fn opt_int(s: &str, field: &'static str) -> Result<Option<i64>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, "Enter a whole number."))
}

async fn promo_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<PromoForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    let parsed = (|| {
        Ok::<_, AppError>(catalog::NewPromo {
            code: f.code.clone(),
            percent_off: opt_int(&f.percent_off, "percent_off")?,
            amount_off: opt_int(&f.amount_off, "amount_off")?,
            months: opt_int(&f.months, "months")?,
            max_redemptions: opt_int(&f.max_redemptions, "max_redemptions")?,
            valid_until: Some(f.valid_until.clone()).filter(|v| !v.trim().is_empty()),
            method: Some(f.method.clone()).filter(|v| !v.trim().is_empty()),
        })
    })();
    let result = match parsed {
        Ok(p) => catalog::create_promo(&st, &ctx.caller(), p)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/catalog?notice=promo").into_response()),
        Err(e) => catalog_error(&st, &me, &ctx, e).await,
    }
}

#[derive(Deserialize)]
struct MsaForm {
    csrf: String,
    version: String,
    text: String,
}

async fn msa_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<MsaForm>,
) -> PageResult {
    require_operator(&me)?;
    ctx.check_csrf(&f.csrf)?;
    match catalog::publish_msa(&st, &ctx.caller(), &f.version, &f.text).await {
        Ok(_) => Ok(Redirect::to("/catalog?notice=msa").into_response()),
        Err(e) => catalog_error(&st, &me, &ctx, e).await,
    }
}
