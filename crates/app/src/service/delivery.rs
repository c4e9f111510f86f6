//! The delivery worker: hands queued texts, calls and e-mail to the
//! gateway, the virtual phone or the mailer.
//!
//! Exactly-once on the virtual phone: the delivery and "sent" are one
//! transaction, and a delivery is keyed by its queue id.
//!
//! At most once for texts and calls through a gateway. No provider promises
//! to recognise a repeated request (Twilio defines no idempotency token for
//! creating messages or calls), so a request that may have reached the
//! provider is never simply sent again:
//!
//! * accepted → sent; refused → failed; "not now" (`Unavailable`: the
//!   connection was never made, HTTP 503/429) → retried with back-off;
//! * outcome unknown (a timeout or broken connection after the request went
//!   out, another 5xx) → queued again with `check_first`, after
//!   [`LOOKUP_DELAY_MS`]; a claim of a message still `sending` whose lease
//!   ran out (its worker died mid-send) is flagged the same way;
//! * a flagged claim first asks [`Gateway::find_sent`]: found → sent with
//!   that reference, nothing sent; not found → sent now; the lookup failed
//!   for now → looked up again later; the gateway cannot look up (the
//!   generic HTTP SMS gateway) → failed, [`GAVE_UP_UNKNOWN`]: a user who
//!   got nothing asks for another code, while a second text or call of a
//!   second factor is what must not happen;
//! * a status callback naming the queue entry (`?outbox={id}&tag={tag}`
//!   on the callback URL, see [`status_callback_url`]) records the provider's status, and resolves an entry
//!   still waiting as sent.
//!
//! E-mail (notices) is resent after an unknown outcome: a repeated notice
//! does no harm and the mailers cannot look up.
//!
//! [`Gateway::find_sent`]: gatehouse_delivery::Gateway::find_sent

use super::phonefactor::OUTBOX_AAD;
use crate::error::Result;
use crate::{AppState, Delivery, DeliveryMode};
use gatehouse_delivery::{
    CallRequest, DeliveryError, Gateway, Lookup, LookupKind, Mail, Sent, SmsRequest,
};
use gatehouse_domain::outbox::MessageKind;
use gatehouse_store::delivery::{self, Queued, StatusRecorded};
use std::time::Duration;

/// How long a claimed message is reserved without a gateway.
const LEASE_WITHOUT_GATEWAY_MS: i64 = 30_000;
/// Requests a lookup makes at most: the Twilio adapter reads up to four
/// pages of a list.
const LOOKUP_REQUESTS: i64 = 4;

/// The gateway's timeout of one request, in milliseconds.
fn gateway_timeout_ms(g: &dyn Gateway) -> i64 {
    i64::try_from(g.request_timeout().as_millis()).unwrap_or(i64::MAX / 8)
}

/// The claim lease: a request to the gateway has ended (its timeout) and
/// what it created shows in the provider's lists ([`LOOKUP_DELAY_MS`])
/// before the message can be claimed again, so a worker that takes over
/// from one that died mid-send looks it up only once the lookup can see it.
fn lease_ms(st: &AppState) -> i64 {
    match &st.config.delivery {
        Delivery::Gateway(g) => gateway_timeout_ms(g.as_ref()) + LOOKUP_DELAY_MS,
        _ => LEASE_WITHOUT_GATEWAY_MS,
    }
}

/// The lease renewed before a lookup: its requests, then the usual margin,
/// so nobody else claims the message while the lookup still runs.
fn lookup_lease_ms(g: &dyn Gateway) -> i64 {
    LOOKUP_REQUESTS * gateway_timeout_ms(g) + LOOKUP_DELAY_MS
}

/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 8;
/// How long after an attempt with an unknown outcome the first lookup
/// waits: the provider may still be working on a request we stopped waiting
/// for, and a list read may not show a resource created a moment ago.
pub const LOOKUP_DELAY_MS: i64 = 30_000;
/// Why a message whose outcome stayed unknown is failed without a resend.
pub const GAVE_UP_UNKNOWN: &str =
    "outcome unknown; not resent, so the user may ask for another code";
/// How far before an attempt other messages' provider references are
/// excluded from its lookup (generous: none of them can be this one).
const EXCLUDE_BEFORE_S: i64 = 3_600;

/// Runs until `shutdown` resolves: delivers what is due, then sleeps until
/// woken or for a short while (other instances may queue too).
pub async fn run_worker(st: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        loop {
            match deliver_next(&st).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery worker");
                    break;
                }
            }
        }
        tokio::select! {
            _ = st.delivery_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Delivers the oldest due message, if any; `true` if there was one.
pub async fn deliver_next(st: &AppState) -> Result<bool> {
    let now = st.now();
    {
        let mut conn = st.store.conn().await?;
        if !delivery::any_due(&mut conn, now).await? {
            return Ok(false);
        }
    }
    let item = {
        let mut tx = st.store.begin().await?;
        let item = delivery::claim_due(&mut tx, now, lease_ms(st)).await?;
        tx.commit().await?;
        item
    };
    match item {
        Some(item) => deliver(st, item).await.map(|()| true),
        None => Ok(false),
    }
}

/// Sends one queued message right away (the request that queued it does
/// this after its commit, so a code is on the phone when the page answers).
/// If it is already claimed or sent, nothing happens; if this process dies
/// first, the worker sends it.
pub async fn deliver_now(st: &AppState, id: i64) -> Result<()> {
    let item = {
        let mut tx = st.store.begin().await?;
        let item = delivery::claim(&mut tx, id, st.now(), lease_ms(st)).await?;
        tx.commit().await?;
        item
    };
    match item {
        Some(item) => deliver(st, item).await,
        None => Ok(()),
    }
}

async fn deliver(st: &AppState, item: Queued) -> Result<()> {
    let now = st.now();
    let body = match item
        .body
        .as_deref()
        .map(|b| st.config.master_key.open(b, OUTBOX_AAD))
    {
        Some(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => {
            let mut tx = st.store.begin().await?;
            delivery::mark_failed(&mut tx, item.id, "body missing or does not open", now).await?;
            tx.commit().await?;
            return Ok(());
        }
    };
    let outcome = match (item.kind, &st.config.delivery) {
        (MessageKind::Sms | MessageKind::Call, Delivery::Virtual) => {
            return deliver_virtual(st, &item, &body).await;
        }
        (MessageKind::Sms | MessageKind::Call, Delivery::None) => {
            // Never to the virtual phone by default: without a configured
            // delivery a text or call is not sent at all.
            let mut tx = st.store.begin().await?;
            delivery::mark_failed(
                &mut tx,
                item.id,
                "no delivery for texts and calls is configured",
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::error!(id = item.id, kind = %item.kind, "a text or call was queued but no delivery is configured");
            return Ok(());
        }
        (MessageKind::Sms | MessageKind::Call, Delivery::Gateway(g)) => {
            return deliver_gateway(st, g.as_ref(), &item, body).await;
        }
        // A repeated notice does no harm: an unknown outcome is retried.
        (MessageKind::Email, _) => send_mail(st, &item, body).await.map_err(|e| match e {
            DeliveryError::Unknown(why) => DeliveryError::Unavailable(why),
            other => other,
        }),
    };
    finish(st, &item, outcome).await
}

/// Records a send's outcome, in one transaction.
async fn finish(
    st: &AppState,
    item: &Queued,
    outcome: std::result::Result<Sent, DeliveryError>,
) -> Result<()> {
    let now = st.now();
    let backoff_s = 5 * item.attempts * item.attempts;
    let mut tx = st.store.begin().await?;
    match outcome {
        Ok(sent) => {
            delivery::mark_sent(&mut tx, item.id, &sent.provider_ref, now).await?;
            metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.as_str(), "outcome" => "sent").increment(1);
        }
        Err(DeliveryError::Unavailable(e)) if item.attempts < MAX_ATTEMPTS => {
            tracing::warn!(id = item.id, kind = %item.kind, attempt = item.attempts, error = %e, "delivery failed; will retry");
            delivery::retry_later(&mut tx, item.id, &e, now.plus_seconds(backoff_s)).await?;
        }
        Err(DeliveryError::Unknown(e)) => {
            // Even after the last attempt: the lookup decides, and fails it
            // if nothing was sent.
            let wait_s = backoff_s.max(LOOKUP_DELAY_MS / 1000);
            tracing::warn!(id = item.id, kind = %item.kind, attempt = item.attempts, error = %e,
                "delivery outcome unknown; will look it up before sending again");
            delivery::mark_unknown(&mut tx, item.id, &e, now.plus_seconds(wait_s)).await?;
            metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.as_str(), "outcome" => "unknown").increment(1);
        }
        Err(e) => {
            tracing::error!(id = item.id, kind = %item.kind, error = %e, "delivery failed for good");
            delivery::mark_failed(&mut tx, item.id, &e.to_string(), now).await?;
            metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.as_str(), "outcome" => "failed").increment(1);
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A text or call through the gateway: looked up first when an earlier
/// attempt's outcome is unknown, sent only under a claim still held.
async fn deliver_gateway(
    st: &AppState,
    g: &dyn Gateway,
    item: &Queued,
    body: String,
) -> Result<()> {
    let call = item.kind == MessageKind::Call;
    let renewed;
    let item = if item.check_first {
        // The lookup may take several requests: the claim must outlast it.
        let mut tx = st.store.begin().await?;
        renewed = delivery::renew_claim(&mut tx, item, st.now(), lookup_lease_ms(g)).await?;
        tx.commit().await?;
        let Some(item) = renewed.as_ref() else {
            tracing::warn!(id = item.id, kind = %item.kind, "the claim was lost before the lookup; not sent");
            return Ok(());
        };
        if !look_up_first(st, g, item, &body).await? {
            return Ok(());
        }
        item
    } else {
        item
    };
    // The claim must still be ours: a lease taken over by another worker,
    // or a status callback that resolved the message, means no send.
    {
        let mut tx = st.store.begin().await?;
        let ours = delivery::begin_send(&mut tx, item, st.now(), lease_ms(st)).await?;
        tx.commit().await?;
        if !ours {
            tracing::warn!(id = item.id, kind = %item.kind, "the claim was lost before sending; not sent");
            return Ok(());
        }
    }
    let public = st.config.public_url.trim_end_matches('/');
    let status_callback = Some(status_callback_url(st, item.id));
    let outcome = if call {
        let challenge = item.challenge_id.clone().unwrap_or_default();
        g.place_call(&CallRequest {
            to: item.destination.clone(),
            prompt: body,
            instructions_url: format!("{public}/api/v1/telephony/twilio/voice/{challenge}"),
            idempotency_key: reference(item),
            status_callback,
        })
        .await
    } else {
        g.send_sms(&SmsRequest {
            to: item.destination.clone(),
            body,
            idempotency_key: reference(item),
            status_callback,
        })
        .await
    };
    finish(st, item, outcome).await
}

/// Asks the gateway whether an attempt with an unknown outcome created the
/// message; `true` if it did not and sending is safe. Otherwise records
/// what was decided (sent, look again later, or failed) and answers
/// `false`.
async fn look_up_first(st: &AppState, g: &dyn Gateway, item: &Queued, body: &str) -> Result<bool> {
    let now = st.now();
    let since = item.attempt_started_at.unwrap_or(item.created_at);
    let exclude = {
        let mut conn = st.store.conn().await?;
        delivery::provider_refs_since(
            &mut conn,
            item.kind,
            &item.destination,
            since.plus_seconds(-EXCLUDE_BEFORE_S),
            item.id,
        )
        .await?
    };
    let lookup = Lookup {
        kind: if item.kind == MessageKind::Call {
            LookupKind::Call
        } else {
            LookupKind::Sms
        },
        to: item.destination.clone(),
        body: body.to_owned(),
        since,
        until: now,
        exclude,
    };
    let found = g.find_sent(&lookup).await;
    // A call in Twilio's list shows nothing of ours (only number, caller id
    // and time): while another call to this number is in doubt too, the one
    // found may be theirs. Then this one gives up rather than take it — the
    // other's lookup takes it once this one is settled — so no challenge
    // gets a call twice, nor one that belongs to another.
    let ambiguous = item.kind == MessageKind::Call && matches!(found, Ok(Some(_))) && {
        let mut conn = st.store.conn().await?;
        delivery::others_in_doubt(
            &mut conn,
            item.kind,
            &item.destination,
            since.plus_seconds(-EXCLUDE_BEFORE_S),
            item.id,
        )
        .await?
            > 0
    };
    if matches!(found, Ok(None)) && item.attempts <= MAX_ATTEMPTS {
        tracing::info!(id = item.id, kind = %item.kind, "the earlier attempt sent nothing; sending");
        return Ok(true);
    }
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let outcome = match found {
        Ok(None) => {
            let why = format!("not sent after {} attempts", item.attempts - 1);
            delivery::mark_failed(&mut tx, item.id, &why, now).await?;
            "failed"
        }
        Ok(Some(_)) if ambiguous => {
            tracing::error!(id = item.id, kind = %item.kind, "{GAVE_UP_UNKNOWN} (another call to this number was in doubt at the same time)");
            delivery::mark_failed(
                &mut tx,
                item.id,
                &format!(
                    "{GAVE_UP_UNKNOWN} (another call to this number was in doubt at the same time)"
                ),
                now,
            )
            .await?;
            "ambiguous"
        }
        Ok(Some(sent)) => {
            tracing::info!(id = item.id, kind = %item.kind, provider_ref = %sent.provider_ref,
                "the earlier attempt was sent; not sending again");
            delivery::mark_sent(&mut tx, item.id, &sent.provider_ref, now).await?;
            "found"
        }
        Err(DeliveryError::Rejected(e)) => {
            tracing::error!(id = item.id, kind = %item.kind, error = %e, "{GAVE_UP_UNKNOWN}");
            delivery::mark_failed(&mut tx, item.id, &format!("{GAVE_UP_UNKNOWN} ({e})"), now)
                .await?;
            "gave_up"
        }
        Err(e) if item.attempts < MAX_ATTEMPTS => {
            let backoff_s = 5 * item.attempts * item.attempts;
            tracing::warn!(id = item.id, kind = %item.kind, error = %e, "lookup failed; will look again");
            delivery::retry_later(
                &mut tx,
                item.id,
                &format!("lookup: {e}"),
                now.plus_seconds(backoff_s),
            )
            .await?;
            "lookup_retry"
        }
        Err(e) => {
            tracing::error!(id = item.id, kind = %item.kind, error = %e, "{GAVE_UP_UNKNOWN}");
            delivery::mark_failed(&mut tx, item.id, &format!("{GAVE_UP_UNKNOWN} ({e})"), now)
                .await?;
            "gave_up"
        }
    };
    tx.commit().await?;
    metrics::counter!("gatehouse_delivery_lookups_total", "kind" => item.kind.as_str(), "outcome" => outcome).increment(1);
    Ok(false)
}

/// Our reference for a queued message: the same on every attempt. Logged,
/// and passed to gateways that take one (`{id}` of the HTTP SMS gateway);
/// not relied on to stop a provider from sending twice.
fn reference(item: &Queued) -> String {
    format!("gatehouse-outbox-{}-{}", item.id, item.created_at.millis())
}

/// The status callback URL of queue entry `id`:
/// `…/api/v1/telephony/twilio/status?outbox={id}&tag={tag}`.
///
/// The callback is signed, but Twilio's signature does not separate the URL
/// from the parameters after it (the URL, then each name and value, nothing
/// in between): the same signature holds for the URL cut short with the
/// cut-off characters moved to the front of the first parameter's name, so
/// a callback for entry 57 could be replayed as one for entry 5 (first
/// name `7AccountSid`). And the official validators also accept the URL
/// without its port, so another portal on the same host and Twilio account
/// (with entries of the same ids) could be heard too. The tag, keyed with
/// this portal's master key, is the one that names `id` here: a cut URL
/// loses it, another portal's is not this one's.
pub fn status_callback_url(st: &AppState, id: i64) -> String {
    format!(
        "{}/api/v1/telephony/twilio/status?outbox={id}&tag={}",
        st.config.public_url.trim_end_matches('/'),
        outbox_tag(st, id)
    )
}

fn outbox_tag(st: &AppState, id: i64) -> String {
    let mut tag = st
        .config
        .master_key
        .keyed_digest(format!("twilio-status-callback:{id}").as_bytes());
    tag.truncate(32);
    tag
}

/// The queue entry a status callback's query names (`outbox={id}&tag={tag}`,
/// see [`status_callback_url`]): `None` without a marker, or with a tag that
/// is not this portal's for that id.
pub fn status_callback_entry(st: &AppState, query: &str) -> Option<i64> {
    let pairs = gatehouse_delivery::twilio::signature::form_pairs(query.as_bytes());
    let first = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let id = first("outbox")?.parse::<i64>().ok()?;
    let tag = first("tag")?;
    if gatehouse_domain::secret::ct_eq(tag, &outbox_tag(st, id)) {
        Some(id)
    } else {
        tracing::warn!(
            id,
            "a status callback whose marker is not this portal's; ignored"
        );
        None
    }
}

/// A provider's status callback for queue entry `id` (the marker of its
/// callback URL) about `provider_ref`: recorded, and an entry still waiting
/// (its outcome unknown) resolved as sent. Idempotent.
pub async fn record_status(
    st: &AppState,
    id: i64,
    provider_ref: &str,
    status: &str,
) -> Result<StatusRecorded> {
    let mut tx = st.store.begin().await?;
    let recorded =
        delivery::record_provider_status(&mut tx, id, provider_ref, status, st.now()).await?;
    tx.commit().await?;
    match recorded {
        StatusRecorded::Resolved => tracing::info!(
            id,
            provider_ref,
            status,
            "a status callback shows the message was sent; resolved"
        ),
        StatusRecorded::Recorded => {}
        StatusRecorded::Ignored => tracing::info!(
            id,
            provider_ref,
            status,
            "a status callback for no known message; ignored"
        ),
    }
    Ok(recorded)
}

/// The virtual phone: the text or call appears on the number's page (for
/// the user it is sent for), and the queue entry is marked sent, in one
/// transaction.
async fn deliver_virtual(st: &AppState, item: &Queued, body: &str) -> Result<()> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let user = match item.challenge_id.as_deref() {
        Some(c) => match gatehouse_store::phonefactor::challenge(&mut tx, c).await {
            Ok(c) => Some(c.user_id),
            Err(gatehouse_store::StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let provider_ref = if item.kind == MessageKind::Sms {
        delivery::virtual_text(
            &mut tx,
            &item.destination,
            "out",
            body,
            Some(item.id),
            user,
            now,
        )
        .await?;
        format!("virtual-sms-{}", item.id)
    } else {
        // Random, not the queue id: a call id is all a key press names, so
        // it must not be guessable from another call's.
        let id = gatehouse_domain::secret::new_token("call_");
        delivery::virtual_ring(
            &mut tx,
            &delivery::NewVirtualCall {
                id: &id,
                phone: &item.destination,
                prompt: body,
                challenge_id: item.challenge_id.as_deref(),
                user_id: user,
                outbox_id: item.id,
            },
            now,
        )
        .await?;
        id
    };
    delivery::mark_sent(&mut tx, item.id, &provider_ref, now).await?;
    tx.commit().await?;
    metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.as_str(), "outcome" => "virtual").increment(1);
    Ok(())
}

async fn send_mail(
    st: &AppState,
    item: &Queued,
    body: String,
) -> std::result::Result<Sent, DeliveryError> {
    let mail = Mail {
        to: item.destination.clone(),
        subject: item.subject.clone(),
        body,
    };
    match &st.config.mailer {
        Some(m) => m.send(&mail).await.map(|()| Sent {
            provider_ref: m.name().to_owned(),
        }),
        None => {
            tracing::info!(to = %mail.to, subject = %mail.subject, "e-mail (no mailer configured; not sent)");
            Ok(Sent {
                provider_ref: "log".into(),
            })
        }
    }
}

/// How the configured delivery mode compares with the database's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeCheck {
    /// No mode was recorded: this start recorded the configured one.
    Recorded,
    /// The configured mode is the recorded one.
    Matches,
    /// The database records another mode: this instance must not start.
    Differs { recorded: String },
}

/// Compares the configured delivery mode with the one recorded in the
/// database, recording it on the first start (audited). Run before serving:
/// an instance that would deliver differently from the others on the same
/// database (e.g. to the virtual phone, diverting real users' codes) must
/// refuse to start.
pub async fn check_mode(st: &AppState) -> Result<ModeCheck> {
    let mode = st.config.delivery.mode();
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let (recorded, inserted) = delivery::record_mode_once(&mut tx, mode.as_str(), now).await?;
    if inserted {
        let rec = super::Caller::system().audit(
            now,
            "delivery_mode_record",
            "delivery",
            "success",
            None,
            format!("delivery mode {mode} recorded at the first start"),
        );
        gatehouse_store::audit::append(&mut tx, &rec).await?;
    }
    tx.commit().await?;
    Ok(if inserted {
        ModeCheck::Recorded
    } else if recorded == mode.as_str() {
        ModeCheck::Matches
    } else {
        ModeCheck::Differs { recorded }
    })
}

/// The operator's deliberate change of the recorded delivery mode (CLI);
/// audited. Returns the mode recorded before.
pub async fn set_mode(
    st: &AppState,
    caller: &super::Caller,
    mode: DeliveryMode,
) -> Result<Option<String>> {
    let now = st.now();
    let mut tx = st.store.begin().await?;
    let before = delivery::set_mode(&mut tx, mode.as_str(), now).await?;
    let rec = caller.audit(
        now,
        "delivery_mode_set",
        "delivery",
        "success",
        None,
        format!(
            "delivery mode {} (was {})",
            mode,
            before.as_deref().unwrap_or("not recorded")
        ),
    );
    gatehouse_store::audit::append(&mut tx, &rec).await?;
    tx.commit().await?;
    Ok(before)
}

/// The delivery mode recorded in the database, if any.
pub async fn recorded_mode(st: &AppState) -> Result<Option<String>> {
    let mut conn = st.store.conn().await?;
    Ok(delivery::recorded_mode(&mut conn).await?)
}
