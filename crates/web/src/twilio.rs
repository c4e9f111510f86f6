//! Twilio's callbacks: the call's instructions (TwiML with the Gather),
//! the keys gathered, inbound texts and delivery status. They answer XML
//! (TwiML), not the JSON API, and are authenticated by Twilio's request
//! signature alone (`gatehouse_delivery::WebhookVerifier`).

use crate::AppState;
use crate::error::{AppError, Result};
use crate::extract::Ctx;
use crate::service::phonefactor as svc;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::phonefactor::ChallengeStatus;

// ---- Twilio callbacks ---------------------------------------------------

/// Checks `X-Twilio-Signature` over the public URL Twilio called and the
/// body, as Twilio's own libraries do (port variants, `bodySHA256` for JSON
/// bodies, webhook keys named by `X-Twilio-Webhooks-Signature-Settings`);
/// returns the form parameters.
fn twilio_checked(
    st: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>> {
    let verifier = st
        .config
        .twilio_webhooks
        .as_ref()
        .ok_or(AppError::NotFound)?;
    let url = format!(
        "{}{}",
        st.config.public_url.trim_end_matches('/'),
        uri.0.path_and_query().map_or(uri.0.path(), |p| p.as_str())
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let sig = header(gatehouse_delivery::SIGNATURE_HEADER).unwrap_or("");
    let settings = header(gatehouse_delivery::SIGNATURE_SETTINGS_HEADER);
    let is_json = header(header::CONTENT_TYPE.as_str()).is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    let params = if is_json {
        Vec::new()
    } else {
        gatehouse_delivery::twilio::signature::form_pairs(body)
    };
    let signed = if is_json {
        gatehouse_delivery::WebhookBody::Raw(body)
    } else {
        gatehouse_delivery::WebhookBody::Form(&params)
    };
    if !verifier.verify(&url, signed, sig, settings) {
        tracing::warn!(path = %uri.0.path(), "Twilio callback with a wrong signature refused");
        return Err(AppError::Forbidden("The request signature is not valid.".into()).into());
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn twiml(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, gatehouse_delivery::TWIML_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

/// TwiML for a call: says the prompt and gathers the keys.
pub async fn twilio_voice(
    State(st): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(challenge): Path<String>,
    body: Bytes,
) -> Result<Response> {
    twilio_checked(&st, &uri, &headers, &body)?;
    let prompt = svc::prompt_of_call(&st, &challenge).await?;
    let action = format!(
        "{}/api/v1/telephony/twilio/gather/{challenge}",
        st.config.public_url.trim_end_matches('/')
    );
    Ok(twiml(gatehouse_delivery::gather_twiml(
        &prompt,
        &action,
        &gatehouse_delivery::GatherOptions::default(),
    )))
}

/// The keys gathered on a call.
pub async fn twilio_gather(
    State(st): State<AppState>,
    ctx: Ctx,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(challenge): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    // The Gather has no finish key, so `Digits` holds the keys as pressed,
    // `#` included ("#" approves, "0#" reports fraud): see
    // `gatehouse_delivery::twilio::twiml` for why and for the Twilio
    // reference each attribute rests on.
    let keys = param(&params, "Digits");
    let status =
        svc::answer_call(&st, &challenge, keys, "a key press on the call", &ctx.addr).await?;
    let said = match status {
        ChallengeStatus::Approved | ChallengeStatus::Used => {
            "Thank you. You are signed in. Goodbye."
        }
        ChallengeStatus::Fraud => {
            "Thank you. The sign-in was refused and your administrator has been told. Goodbye."
        }
        _ => "The sign-in was not confirmed. Goodbye.",
    };
    Ok(twiml(gatehouse_delivery::say_twiml(said)))
}

/// Inbound texts (replies): `FRAUD` reports the latest code sent to the number.
pub async fn twilio_sms(
    State(st): State<AppState>,
    ctx: Ctx,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    let from = param(&params, "From");
    let reported = svc::text_reply(
        &st,
        from,
        param(&params, "Body"),
        "a text-message reply",
        &ctx.addr,
    )
    .await?;
    let answer = if reported {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Thank you. The sign-in was refused and your administrator has been told.</Message></Response>"
    } else {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
    };
    Ok(twiml(answer.to_owned()))
}

/// Delivery status reports: logged, and recorded on the queue entry that the
/// callback URL's `outbox` marker names (resolving an entry whose send had
/// an unknown outcome as sent). A marker naming no text or call is ignored;
/// the answer is 204 either way, so that the provider does not retry.
pub async fn twilio_status(
    State(st): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    let params = twilio_checked(&st, &uri, &headers, &body)?;
    let sid = [param(&params, "MessageSid"), param(&params, "CallSid")].concat();
    let status = [
        param(&params, "MessageStatus"),
        param(&params, "CallStatus"),
    ]
    .concat();
    tracing::info!(sid = %sid, status = %status, "gateway delivery status");
    // Signed over the whole URL, query included; the marker's tag makes
    // sure the URL was not cut short (see `status_callback_url`).
    let outbox = uri
        .0
        .query()
        .and_then(|q| crate::service::delivery::status_callback_entry(&st, q));
    let known_status = !status.is_empty()
        && status.len() <= 32
        && status.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if let Some(id) = outbox
        && !sid.is_empty()
        && known_status
    {
        crate::service::delivery::record_status(&st, id, &sid, &status).await?;
    }
    metrics::counter!("gatehouse_gateway_status_total", "status" => status).increment(1);
    Ok(StatusCode::NO_CONTENT)
}
