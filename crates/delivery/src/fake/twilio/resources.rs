//! The Messages and Calls resources: creating a text or a call (`POST
//! …/Messages.json`, `POST …/Calls.json`), with the checks, answers and
//! errors both share.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use gatehouse_domain::Timestamp;
use serde_json::json;

use super::{FakeCall, FakeMessage, Shared};
use crate::fake::{lock, random_hex};
use crate::http::is_e164;
use crate::twilio::API_VERSION;
use crate::twilio::signature::form_pairs;

pub(super) fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

pub(super) fn authorized(shared: &Shared, sid: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = BASE64.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", shared.account_sid, shared.auth_token);
    sid == shared.account_sid && decoded == expected.as_bytes()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A create request that passed the checks both resources share: its form
/// parameters and the time of creation.
type Admitted = (Vec<(String, String)>, Timestamp);

/// The checks both resources share; `Err` is the answer to send.
fn admit(
    shared: &Shared,
    sid: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Admitted, Box<Response>> {
    let mut state = lock(&shared.state);
    state.request_count += 1;
    if !authorized(shared, sid, headers) {
        return Err(Box::new(twilio_error(401, 20003, "Authenticate")));
    }
    if let Some(status) = state.failure {
        return Err(Box::new(twilio_error(
            status,
            20500,
            "Internal Server Error",
        )));
    }
    // No idempotency header is read: Twilio defines none for these creates
    // (see the docs of the parent module), so a repeat is a new message.
    let params = form_pairs(body);
    let to = param(&params, "To").unwrap_or_default();
    if to.is_empty() {
        return Err(Box::new(twilio_error(
            400,
            21604,
            "A 'To' phone number is required.",
        )));
    }
    if let Some((status, code, message)) = state.number_errors.get(to) {
        return Err(Box::new(twilio_error(*status, *code, message)));
    }
    if !is_e164(to) {
        return Err(Box::new(twilio_error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        )));
    }
    Ok((params, state.clock.now()))
}

/// `date_created` and friends: RFC 2822 with a two-digit day and `+0000`,
/// as Twilio writes them (`Tue, 06 Dec 2026 07:30:00 +0000`).
fn rfc2822(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.millis()) {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        Err(_) => String::new(),
    }
}

pub(super) fn message_json(account_sid: &str, m: &FakeMessage) -> serde_json::Value {
    let created = rfc2822(m.date_created);
    json!({
        "sid": m.sid,
        "account_sid": account_sid,
        "to": m.to,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "body": m.body,
        "status": m.status,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "num_segments": "1",
        "num_media": "0",
        "price": null,
        "price_unit": null,
        "error_code": null,
        "error_message": null,
        "date_created": created,
        "date_updated": created,
        // "For an outgoing message, this is when Twilio sent the message":
        // the fake never sends a queued one on its own.
        "date_sent": if m.status == "queued" { serde_json::Value::Null } else { json!(created) },
        "uri": format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{}.json", m.sid),
    })
}

pub(super) fn call_json(account_sid: &str, c: &FakeCall) -> serde_json::Value {
    let created = rfc2822(c.date_created);
    json!({
        "sid": c.sid,
        "account_sid": account_sid,
        "to": c.to,
        "from": c.from,
        "status": c.status,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": created,
        "date_updated": created,
        // "Empty if the call has not yet been dialed."
        "start_time": null,
        "end_time": null,
        "uri": format!("/{API_VERSION}/Accounts/{account_sid}/Calls/{}.json", c.sid),
    })
}

/// The answer to an accepted create: at once, after the configured stall,
/// or a body that breaks off (the connection is cut after the headers).
async fn accepted(shared: &Shared, answer: serde_json::Value) -> Response {
    let (stall, drop) = {
        let state = lock(&shared.state);
        (state.stall_after_accept, state.drop_after_accept)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    if drop {
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "the fake cut the connection after accepting",
            ))
        });
        return (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            axum::body::Body::from_stream(broken),
        )
            .into_response();
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, now) = match admit(&shared, &sid, &headers, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let from = param(&params, "From").map(str::to_owned);
    let service = param(&params, "MessagingServiceSid").map(str::to_owned);
    if from.is_none() && service.is_none() {
        return twilio_error(
            400,
            21603,
            "A 'From' phone number or a MessagingServiceSid is required.",
        );
    }
    let Some(text) = param(&params, "Body").map(str::to_owned) else {
        return twilio_error(400, 21602, "Message body is required.");
    };
    let message = FakeMessage {
        sid: format!("SM{}", random_hex(16)),
        to: param(&params, "To").unwrap_or_default().to_owned(),
        from,
        messaging_service_sid: service,
        body: text,
        status_callback: param(&params, "StatusCallback").map(str::to_owned),
        status: "queued".to_owned(),
        date_created: now,
        params: params.clone(),
    };
    let answer = message_json(&shared.account_sid, &message);
    lock(&shared.state).messages.push(message);
    accepted(&shared, answer).await
}

pub(super) async fn create_call(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, now) = match admit(&shared, &sid, &headers, &body) {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let Some(from) = param(&params, "From").map(str::to_owned) else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let Some(url) = param(&params, "Url").map(str::to_owned) else {
        return twilio_error(400, 21205, "Url parameter is required.");
    };
    if reqwest::Url::parse(&url).is_err() {
        return twilio_error(400, 21205, "Url is not a valid URL.");
    }
    let call = FakeCall {
        sid: format!("CA{}", random_hex(16)),
        to: param(&params, "To").unwrap_or_default().to_owned(),
        from,
        url,
        method: param(&params, "Method").map(str::to_owned),
        status_callback: param(&params, "StatusCallback").map(str::to_owned),
        status: "queued".to_owned(),
        date_created: now,
        params: params.clone(),
    };
    let answer = call_json(&shared.account_sid, &call);
    lock(&shared.state).calls.push(call);
    accepted(&shared, answer).await
}
