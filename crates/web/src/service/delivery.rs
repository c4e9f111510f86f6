//! The delivery worker: hands queued texts, calls and e-mail to the
//! gateway, the virtual phone or the mailer.
//!
//! Exactly-once on the virtual phone: the delivery and "sent" are one
//! transaction, and a delivery is keyed by its queue id. At-least-once with
//! a stable idempotency key for outside gateways: a worker that dies after
//! claiming a message leaves it to be claimed again when its lease runs out.

use super::phonefactor::OUTBOX_AAD;
use crate::error::Result;
use crate::{AppState, Delivery, DeliveryMode};
use gatehouse_delivery::{CallRequest, DeliveryError, Mail, SmsRequest};
use gatehouse_store::delivery::{self, Queued};
use std::time::Duration;

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE_MS: i64 = 30_000;
/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 8;

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
        let item = delivery::claim_due(&mut tx, now, LEASE_MS).await?;
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
        let item = delivery::claim(&mut tx, id, st.now(), LEASE_MS).await?;
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
    let outcome = match (item.kind.as_str(), &st.config.delivery) {
        ("sms" | "call", Delivery::Virtual) => return deliver_virtual(st, &item, &body).await,
        ("sms" | "call", Delivery::None) => {
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
        ("sms", Delivery::Gateway(g)) => {
            g.send_sms(&SmsRequest {
                to: item.destination.clone(),
                body,
                idempotency_key: idempotency_key(&item),
                status_callback: Some(format!(
                    "{}/api/v1/telephony/twilio/status",
                    st.config.public_url
                )),
            })
            .await
        }
        ("call", Delivery::Gateway(g)) => {
            let challenge = item.challenge_id.clone().unwrap_or_default();
            g.place_call(&CallRequest {
                to: item.destination.clone(),
                prompt: body,
                instructions_url: format!(
                    "{}/api/v1/telephony/twilio/voice/{challenge}",
                    st.config.public_url
                ),
                idempotency_key: idempotency_key(&item),
                status_callback: Some(format!(
                    "{}/api/v1/telephony/twilio/status",
                    st.config.public_url
                )),
            })
            .await
        }
        ("email", _) => send_mail(st, &item, body).await,
        (other, _) => Err(DeliveryError::Rejected(format!("unknown kind {other}"))),
    };
    let now = st.now();
    let mut tx = st.store.begin().await?;
    match outcome {
        Ok(sent) => {
            delivery::mark_sent(&mut tx, item.id, &sent.provider_ref, now).await?;
            metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.clone(), "outcome" => "sent").increment(1);
        }
        Err(DeliveryError::Unavailable(e)) if item.attempts < MAX_ATTEMPTS => {
            let backoff = 5_000 * item.attempts * item.attempts;
            tracing::warn!(id = item.id, kind = %item.kind, attempt = item.attempts, error = %e, "delivery failed; will retry");
            delivery::retry_later(&mut tx, item.id, &e, now.plus_seconds(backoff / 1000)).await?;
        }
        Err(e) => {
            tracing::error!(id = item.id, kind = %item.kind, error = %e, "delivery failed for good");
            delivery::mark_failed(&mut tx, item.id, &e.to_string(), now).await?;
            metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.clone(), "outcome" => "failed").increment(1);
        }
    }
    tx.commit().await?;
    Ok(())
}

fn idempotency_key(item: &Queued) -> String {
    format!("gatehouse-outbox-{}-{}", item.id, item.created_at.millis())
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
    let provider_ref = if item.kind == "sms" {
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
    metrics::counter!("gatehouse_deliveries_total", "kind" => item.kind.clone(), "outcome" => "virtual").increment(1);
    Ok(())
}

async fn send_mail(
    st: &AppState,
    item: &Queued,
    body: String,
) -> std::result::Result<gatehouse_delivery::Sent, DeliveryError> {
    let mail = Mail {
        to: item.destination.clone(),
        subject: item.subject.clone(),
        body,
    };
    match &st.config.mailer {
        Some(m) => m.send(&mail).await.map(|()| gatehouse_delivery::Sent {
            provider_ref: m.name().to_owned(),
        }),
        None => {
            tracing::info!(to = %mail.to, subject = %mail.subject, "e-mail (no mailer configured; not sent)");
            Ok(gatehouse_delivery::Sent {
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
        let rec = super::Caller::cli().audit(
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
