//! The Billing page: an administrator's current charges and closed
//! statements; the operator's view of every account with the run button.

use super::{FieldExtra, PageResult, alert, csrf_input, field, layout, notice, require_admin};
use crate::AppState;
use crate::error::AppError;
use crate::error::AppErrorExt as _;
use crate::extract::csv_response;
use crate::extract::{Ctx, PageUser};
use crate::pages::Form;
use crate::pages::form::Query;
use crate::routing::Routes;
use crate::routing::{get, post};
use crate::service::billing as svc;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use gatehouse_app::model::Line;
use gatehouse_app::model::User;
use gatehouse_domain::billing::{Period, Totals};
use gatehouse_domain::pricing::format_money;
use gatehouse_domain::{Method, Role};
use maud::{Markup, html};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .route("/billing", get(page_billing))
        .route("/billing/run", post(billing_run_submit))
        .route("/billing/statements.csv", get(billing_csv))
}

fn method_label(m: &str) -> String {
    Method::parse(m).map_or_else(|_| m.to_owned(), |m| m.label().to_owned())
}

fn csv_href(period: &str, account: Option<&str>) -> String {
    match account {
        Some(a) => format!(
            "/billing/statements.csv?period={period}&account={}",
            crate::extract::urlencode(a)
        ),
        None => format!("/billing/statements.csv?period={period}"),
    }
}

fn lines_table(lines: &[Line], totals: &Totals, caption: &str) -> Markup {
    html! {
        div.table-wrap {
            table.billing {
                caption.visually-hidden { (caption) }
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Method" } th scope="col" { "Order" }
                    th.num scope="col" { "Days" } th.num scope="col" { "Monthly price" }
                    th.num scope="col" { "Discount" } th.num scope="col" { "Amount" }
                } }
                tbody {
                    @for l in lines {
                        tr {
                            td { (l.username) }
                            td { (method_label(&l.method)) }
                            td { code { (l.order_number) } }
                            td.num { (l.days) " of " (l.days_in_month) }
                            td.num { (format_money(l.monthly_price, &l.currency)) }
                            td.num { @if l.discount > 0 { "−" (format_money(l.discount, &l.currency)) } @else { "—" } }
                            td.num { (format_money(l.amount, &l.currency)) }
                        }
                    }
                    @if lines.is_empty() { tr { td.empty colspan="7" { "No charges." } } }
                }
                @if !lines.is_empty() {
                    tfoot { tr.total { th scope="row" colspan="6" { "Total" } td.num { (totals.display()) } } }
                }
            }
        }
    }
}

struct RunForm<'a> {
    value: &'a str,
    error: Option<&'a str>,
}

async fn render(
    st: &AppState,
    me: &User,
    ctx: &Ctx,
    selected: Option<&str>,
    run: RunForm<'_>,
    message: Option<Markup>,
) -> Result<Markup, AppError> {
    let caller = ctx.caller();
    let operator = me.role == Role::Operator;
    let (period, current) = svc::current(st, &caller).await?;
    let current_total = svc::grand_total(&current);
    let csrf = ctx.csrf_token().unwrap_or_default();
    let body = if operator {
        let periods = svc::closed_periods(st, &caller).await?;
        let shown = selected
            .map(str::to_owned)
            .or_else(|| periods.first().map(|p| p.period.clone()));
        let statements = match &shown {
            Some(p) => svc::statements(st, &caller, Some(p), None).await?,
            None => Vec::new(),
        };
        let shown_total = svc::grand_total(&statements);
        html! {
            section.card {
                h2 { "Close a billing period" }
                p.hint { "Closing a month writes one statement per account with charges; a closed month never changes, and closing it again shows the same statements. Only months that have ended can be closed." }
                form.inline-field method="post" action="/billing/run" {
                    (csrf_input(csrf))
                    (field("Period (YYYY-MM)", "period", "text", run.value, run.error, FieldExtra { required: true, hint: Some("For example the last month that has ended."), ..Default::default() }))
                    button.primary type="submit" { "Run billing" }
                }
            }
            section.card {
                h2 { "Current charges, " (period) " so far" }
                div.table-wrap {
                    table.billing {
                        thead { tr { th scope="col" { "Account" } th scope="col" { "Name" } th.num scope="col" { "Lines" } th.num scope="col" { "So far" } } }
                        tbody {
                            @for s in &current {
                                tr { td { code { (s.account_number) } } td { (s.account_name) } td.num { (s.lines.len()) } td.num { (s.totals.display()) } }
                            }
                            @if current.is_empty() { tr { td.empty colspan="4" { "No charges this month yet." } } }
                        }
                        @if !current.is_empty() { tfoot { tr.total { th scope="row" colspan="3" { "Total" } td.num { (current_total.display()) } } } }
                    }
                }
            }
            section.card {
                h2 { "Statements" }
                @if periods.is_empty() {
                    p.muted { "No period has been closed yet." }
                } @else {
                    nav.periods aria-label="Closed periods" {
                        "Closed periods: "
                        @for p in &periods {
                            @if shown.as_deref() == Some(p.period.as_str()) {
                                strong aria-current="page" { (p.period) }
                            } @else {
                                a href=(format!("/billing?period={}", p.period)) { (p.period) }
                            }
                            " "
                        }
                    }
                }
                @if let Some(p) = &shown {
                    div.page-head {
                        h3 { (p) ": " (statements.len()) " statement(s), total " (shown_total.display()) }
                        @if !statements.is_empty() { a.button href=(csv_href(p, None)) download { "Download all (CSV)" } }
                    }
                    div.table-wrap {
                        table.billing {
                            thead { tr { th scope="col" { "Account" } th scope="col" { "Name" } th.num scope="col" { "Lines" } th.num scope="col" { "Total" } th scope="col" { span.visually-hidden { "Download" } } } }
                            tbody {
                                @for s in &statements {
                                    tr {
                                        td { code { (s.account_number) } } td { (s.account_name) } td.num { (s.lines.len()) } td.num { (s.totals.display()) }
                                        td { a href=(csv_href(p, Some(&s.account_number))) download { "CSV" } }
                                    }
                                }
                                @if statements.is_empty() { tr { td.empty colspan="5" { "No account had charges in " (p) "." } } }
                            }
                        }
                    }
                }
            }
        }
    } else {
        let statements = svc::statements(st, &caller, None, None).await?;
        html! {
            section.card {
                h2 { "Current charges, " (period) " so far" }
                p.hint { "Each subscription is charged per day of the month, at the price on its order; the month closes into a statement after it ends." }
                (lines_table(current.first().map_or(&[][..], |s| s.lines.as_slice()), &current_total, "Current charges"))
            }
            section.card {
                h2 { "Statements" }
                @if statements.is_empty() { p.muted { "No statements yet. A statement appears after a month has been closed." } }
                @for s in &statements {
                    details.statement {
                        summary { strong { (s.period) } " — " (s.totals.display()) " · " (s.lines.len()) " line(s)" }
                        p { a.button href=(csv_href(&s.period, Some(&s.account_number))) download { "Download CSV" } }
                        (lines_table(&s.lines, &s.totals, &format!("Statement {}", s.period)))
                    }
                }
            }
        }
    };
    Ok(layout(
        "Billing",
        Some(me),
        Some(csrf),
        html! {
            div.page-head { h1 { "Billing" } }
            @if let Some(m) = message { (m) }
            (body)
        },
    ))
}

#[derive(Deserialize)]
struct BillingQuery {
    period: Option<String>,
    notice: Option<String>,
}

fn default_run_period(st: &AppState) -> String {
    Period::containing(st.now()).prev().to_string()
}

async fn page_billing(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Query(q): Query<BillingQuery>,
) -> PageResult {
    require_admin(&me, "see billing")?;
    let selected = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(Period::parse(p)?.to_string()),
        None => None,
    };
    let message = match q.notice.as_deref() {
        Some("closed") => Some(notice(Some(
            "The period was closed and its statements written.",
        ))),
        Some("unchanged") => Some(notice(Some(
            "That period was already closed; its statements are unchanged.",
        ))),
        _ => None,
    };
    let run_value = default_run_period(&st);
    let page = render(
        &st,
        &me,
        &ctx,
        selected.as_deref(),
        RunForm {
            value: &run_value,
            error: None,
        },
        message,
    )
    .await?;
    Ok(page.into_response())
}

#[derive(Deserialize)]
struct RunSubmit {
    csrf: String,
    #[serde(default)]
    period: String,
}

async fn billing_run_submit(
    State(st): State<AppState>,
    PageUser(me, ctx): PageUser,
    Form(f): Form<RunSubmit>,
) -> PageResult {
    ctx.check_csrf(&f.csrf)?;
    match svc::run(&st, &ctx.caller(), &f.period).await {
        Ok(out) => Ok(Redirect::to(&format!(
            "/billing?period={}&notice={}",
            out.period,
            if out.newly_closed {
                "closed"
            } else {
                "unchanged"
            }
        ))
        .into_response()),
        Err(e @ AppError::Invalid { .. }) => {
            let msg = e.message();
            let page = render(
                &st,
                &me,
                &ctx,
                None,
                RunForm {
                    value: &f.period,
                    error: Some(&msg),
                },
                Some(alert(Some("Nothing was closed."))),
            )
            .await?;
            Ok((e.status(), crate::error::RetryAfter::of(&e), page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsvQuery {
    #[serde(default)]
    period: String,
    account: Option<String>,
}

async fn billing_csv(
    State(st): State<AppState>,
    PageUser(_, ctx): PageUser,
    Query(q): Query<CsvQuery>,
) -> PageResult {
    let (name, csv) =
        svc::download_csv(&st, &ctx.caller(), &q.period, q.account.as_deref()).await?;
    Ok(csv_response(&name, csv))
}
