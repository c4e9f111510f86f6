//! The virtual phone's page: texts, calls with a keypad, replies.

use super::*;

// ---- The virtual phone ---------------------------------------------------

#[derive(Deserialize, Default)]
pub(super) struct PhoneQuery {
    number: Option<String>,
    notice: Option<String>,
}

pub(super) async fn page_virtual_phone(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PhoneQuery>,
) -> PageResult {
    let viewer = match crate::extract::virtual_viewer(&st, &ctx) {
        Ok(v) => v,
        Err(AppError::Unauthorized(_)) => {
            let next = match q.number.as_deref() {
                Some(n) => format!("/virtual-phone?number={}", crate::extract::urlencode(n)),
                None => "/virtual-phone".to_owned(),
            };
            return Ok(
                Redirect::to(&format!("/login?next={}", crate::extract::urlencode(&next)))
                    .into_response(),
            );
        }
        Err(e) => return Err(e.into()),
    };
    let csrf = ctx.csrf_token().unwrap_or_default().to_owned();
    let numbers = vps::numbers(&st, &viewer).await?;
    let number = match q.number.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => Some(vps::open(&st, &viewer, n).await?),
        None => None,
    };
    let (messages, calls, pushes) = match &number {
        Some(n) => (
            vps::messages(&st, &viewer, n).await?,
            vps::calls(&st, &viewer, n).await?,
            vps::notifications(&st, &viewer, n, 20).await?,
        ),
        None => (vec![], vec![], vec![]),
    };
    let now = st.now();
    let me = ctx.user().cloned();
    let operator = matches!(viewer, vps::Viewer::Operator(_));
    Ok(layout("Virtual Phone", me.as_ref(), Some(&csrf), html! {
        h1 { "Virtual Phone" }
        p.lead { "Delivery is set to the virtual phone (demo and test mode): texts and calls go to this page instead of real phones." }
        @if operator {
            p.muted { "As an operator you see every number's texts, calls and notifications." }
        } @else {
            p.muted { "You see only your own numbers, and on them only what was sent for you." }
        }
        (notice(q.notice.as_deref().and_then(notice_text)))
        form.search method="get" action="/virtual-phone" {
            label for="vp-number" { "Phone number" }
            input id="vp-number" name="number" type="tel" value=(number.clone().unwrap_or_default()) placeholder="+14155550123";
            button type="submit" { "Open" }
        }
        @if !numbers.is_empty() {
            p { "Numbers with activity: " @for n in &numbers { a href=(format!("/virtual-phone?number={}", crate::extract::urlencode(n))) { (n) } " " } }
        }
        @if let Some(n) = &number {
            div data-poll-reload="5000" {
            section.card {
                h2 { "Calls" }
                @if calls.is_empty() { p.muted { "No calls." } }
                @for c in calls.iter().rev() {
                    article.call {
                        p { strong { @if c.status == "ringing" { "Incoming call" } @else { "Call" } } " · " (c.created_at.display()) " · " span class=(format!("badge badge-{}", c.status)) { (c.status) } }
                        p { "“" (c.prompt) "”" }
                        @if c.status == "ringing" {
                            form method="post" action="/virtual-phone/keys" {
                                (csrf_input(&csrf))
                                input type="hidden" name="number" value=(n);
                                input type="hidden" name="call" value=(c.id);
                                div.buttons {
                                    button.primary type="submit" name="digits" value="#" { "Press #" }
                                    button.danger type="submit" name="digits" value="0#" { "Press 0#" }
                                }
                            }
                        } @else if let Some(d) = &c.digits { p.muted { "Keys pressed: " (d) } }
                    }
                }
            }
            section.card {
                h2 { "Text messages" }
                @if messages.is_empty() { p.muted { "No text messages." } }
                ul.messages {
                    @for m in messages.iter().rev() {
                        li class=(format!("msg-{}", m.direction)) { span.muted { (m.created_at.display()) @if m.direction == "in" { " · you replied" } } br; span.body { (m.body) } }
                    }
                }
                form method="post" action="/virtual-phone/reply" {
                    (csrf_input(&csrf))
                    input type="hidden" name="number" value=(n);
                    (field("Reply", "body", "text", "", None, FieldExtra { hint: Some("Reply FRAUD to report a code you did not ask for."), ..Default::default() }))
                    div.buttons { button type="submit" { "Send reply" } }
                }
            }
            section.card {
                h2 { "Mobile app notifications" }
                @if pushes.is_empty() { p.muted { "No notifications. Answer them with the authenticator program (see the README)." } }
                ul {
                    @for c in &pushes {
                        li { (c.created_at.display()) " · " (if c.purpose == gatehouse_domain::phonefactor::Purpose::Activation { "Activation request" } else { "Sign-in request" }) " · "
                            span.badge { (c.status.at(c.expires_at, now).as_str()) } }
                    }
                }
            }
            }
        }
    }).into_response())
}

/// What a notice code in the address says (the address carries a code, not
/// the text, so that a link cannot put words on the page).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "call-approved" => "You pressed the key; the call ended and the sign-in was confirmed.",
        "call-fraud" => "You reported fraud; the call ended.",
        "call-ended" => "The call ended.",
        "reply-sent" => "Reply sent.",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub(super) struct KeysForm {
    csrf: String,
    number: String,
    call: String,
    digits: String,
}

pub(super) async fn virtual_keys(
    State(st): State<AppState>,
    ctx: Ctx,
    Form(f): Form<KeysForm>,
) -> PageResult {
    let viewer = crate::extract::virtual_viewer(&st, &ctx)?;
    ctx.check_csrf(&f.csrf)?;
    let number = vps::open(&st, &viewer, &f.number).await?;
    let status = vps::press_keys(&st, &viewer, &number, &f.call, &f.digits, &ctx.addr).await?;
    let said = match status {
        ChallengeStatus::Approved | ChallengeStatus::Used => "call-approved",
        ChallengeStatus::Fraud => "call-fraud",
        _ => "call-ended",
    };
    Ok(Redirect::to(&format!(
        "/virtual-phone?number={}&notice={said}",
        crate::extract::urlencode(&number),
    ))
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct ReplyForm {
    csrf: String,
    number: String,
    body: String,
}

pub(super) async fn virtual_reply(
    State(st): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    let viewer = crate::extract::virtual_viewer(&st, &ctx)?;
    ctx.check_csrf(&f.csrf)?;
    let number = vps::open(&st, &viewer, &f.number).await?;
    vps::reply(&st, &viewer, &number, &f.body, &ctx.addr).await?;
    Ok(Redirect::to(&format!(
        "/virtual-phone?number={}&notice=reply-sent",
        crate::extract::urlencode(&number)
    ))
    .into_response())
}
