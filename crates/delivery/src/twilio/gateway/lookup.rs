//! Lookups: whether an attempt with an unknown outcome created a Message or
//! a Call, read from Twilio's Messages and Calls lists
//! ([`Gateway::find_sent`](crate::Gateway::find_sent) of [`TwilioGateway`]).

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{API_VERSION, LOOKUP_PAGE_SIZE, Sender, TwilioGateway, describe_error};
use crate::http;
use crate::{DeliveryError, Lookup, LookupKind, Sent};

/// List pages read at most in one lookup.
/// (The delivery worker renews its claim for this many requests before a
/// lookup: `LOOKUP_REQUESTS` in `gatehouse_app::service::delivery`.)
const LOOKUP_MAX_PAGES: usize = 4;
/// Allowed difference between our clock and Twilio's `date_created` (which
/// has whole seconds), on either side of a lookup's window.
const CLOCK_SKEW_MS: i64 = 60_000;

impl TwilioGateway {
    /// Looks in the Messages or Calls list for what an attempt with an
    /// unknown outcome may have created. What it relies on:
    ///
    /// * The list filters `To` and `From` ("Filter by recipient", "Filter by
    ///   sender"; for calls "Only show calls made to this phone number", "Only
    ///   include calls from this phone number") and `PageSize` (default 50,
    ///   maximum 1000), and the answer's `next_page_uri` for further pages.
    /// * No date filter. Messages can only be filtered on `DateSent` ("Filter
    ///   by Message `sent_date`"), and a message accepted seconds ago is
    ///   still queued and has no `date_sent` yet; calls only on `StartTime`,
    ///   "Empty if the call has not yet been dialed". Both have
    ///   `date_created` ("when the Message resource was created", RFC 2822,
    ///   in GMT), which is matched here instead.
    /// * The v2010 definition states no order for the lists. Twilio answers
    ///   newest first; reading stops at a page whose resources are all older
    ///   than the window, and after [`LOOKUP_MAX_PAGES`] pages in any case.
    /// * Texts match on the exact body (which holds the one-time code), the
    ///   recipient, our sender (the number, or the messaging service whose
    ///   pool picks the number, so no `From` filter then) and
    ///   `direction` `outbound-api`. Calls carry nothing of ours that the
    ///   list shows (not the instructions URL), so they match on recipient,
    ///   caller id, `direction` and `date_created` within the window, and
    ///   never a sid the portal recorded for another message.
    /// * A read changes nothing on Twilio's side, so every failure of a
    ///   lookup is [`DeliveryError::Unavailable`] (try again), except a
    ///   refusal (4xx: credentials, a compatible provider without lists),
    ///   which is [`DeliveryError::Rejected`].
    pub(super) async fn find(&self, q: &Lookup) -> Result<Option<Sent>, DeliveryError> {
        let to = q.to.trim();
        let (mut url, key) = match q.kind {
            LookupKind::Sms => (self.messages_url.clone(), "messages"),
            LookupKind::Call => (self.calls_url.clone(), "calls"),
        };
        let mut filter: Vec<(&str, String)> = vec![("To", to.to_owned())];
        match (q.kind, &self.sender) {
            (LookupKind::Sms, Sender::Number(n)) => filter.push(("From", n.clone())),
            (LookupKind::Sms, Sender::MessagingService(_)) => {}
            (LookupKind::Call, _) => match &self.call_from {
                Some(n) => filter.push(("From", n.clone())),
                None => {
                    return Err(DeliveryError::Rejected(
                        "calls need a caller number: set twilio.call_from".to_owned(),
                    ));
                }
            },
        }
        filter.push(("PageSize", LOOKUP_PAGE_SIZE.to_string()));
        url.query_pairs_mut().extend_pairs(filter.iter());
        let from_ms = q.since.millis().saturating_sub(CLOCK_SKEW_MS);
        let until_ms = q.until.millis().saturating_add(CLOCK_SKEW_MS);
        let mut best: Option<(i64, String)> = None;
        for _ in 0..LOOKUP_MAX_PAGES {
            let page = self.list_page(&url, key).await?;
            let mut any_in_or_after_window = false;
            for r in &page.items {
                let Some(created) = r.date_created.as_deref().and_then(parse_rfc2822_ms) else {
                    continue;
                };
                if created >= from_ms {
                    any_in_or_after_window = true;
                }
                if created < from_ms || created > until_ms {
                    continue;
                }
                if r.to.as_deref() != Some(to)
                    || r.direction.as_deref() != Some("outbound-api")
                    || r.sid.is_empty()
                    || q.exclude.contains(&r.sid)
                {
                    continue;
                }
                let ours = match (q.kind, &self.sender) {
                    (LookupKind::Sms, sender) => {
                        r.body.as_deref() == Some(q.body.as_str())
                            && match sender {
                                Sender::Number(n) => r.from.as_deref() == Some(n.as_str()),
                                Sender::MessagingService(s) => {
                                    r.messaging_service_sid.as_deref() == Some(s.as_str())
                                }
                            }
                    }
                    (LookupKind::Call, _) => r.from.as_deref() == self.call_from.as_deref(),
                };
                // The earliest match is the one closest to our attempt.
                if ours && best.as_ref().is_none_or(|(t, _)| created < *t) {
                    best = Some((created, r.sid.clone()));
                }
            }
            if !any_in_or_after_window {
                break;
            }
            match page
                .next_page_uri
                .as_deref()
                .and_then(|u| self.next_page(u))
            {
                Some(next) => url = next,
                None => break,
            }
        }
        let masked = crate::mask_number(to);
        match &best {
            Some((_, sid)) => {
                tracing::info!(gateway = "twilio", kind = ?q.kind, to = masked, sid, "lookup: found");
            }
            None => {
                tracing::info!(gateway = "twilio", kind = ?q.kind, to = masked, "lookup: not found")
            }
        }
        Ok(best.map(|(_, sid)| Sent { provider_ref: sid }))
    }

    async fn list_page(&self, url: &reqwest::Url, key: &str) -> Result<ListPage, DeliveryError> {
        let response = self
            .http
            .get(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| http::read_transport_error("Twilio", &e))?;
        let status = response.status();
        let body = http::read_body("Twilio", response)
            .await
            .map_err(|e| match e {
                DeliveryError::Unknown(why) => DeliveryError::Unavailable(why),
                other => other,
            })?;
        if !status.is_success() {
            let described = describe_error(status, &body);
            return Err(
                if status.is_client_error() && !matches!(status.as_u16(), 408 | 425 | 429) {
                    DeliveryError::Rejected(described)
                } else {
                    DeliveryError::Unavailable(described)
                },
            );
        }
        let mut json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            DeliveryError::Unavailable(format!("Twilio's {key} list is not JSON: {e}"))
        })?;
        let items = match json.get_mut(key).map(serde_json::Value::take) {
            Some(v) => serde_json::from_value::<Vec<Listed>>(v)
                .map_err(|e| DeliveryError::Unavailable(format!("Twilio's {key} list: {e}")))?,
            None => {
                return Err(DeliveryError::Unavailable(format!(
                    "Twilio's answer has no `{key}` list"
                )));
            }
        };
        let next_page_uri = json
            .get("next_page_uri")
            .and_then(serde_json::Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(ListPage {
            items,
            next_page_uri,
        })
    }

    /// The URL of a `next_page_uri`: a path of this account's API below the
    /// base URL. Anything else is not followed (the request carries the
    /// credentials).
    fn next_page(&self, uri: &str) -> Option<reqwest::Url> {
        let prefix = format!("/{API_VERSION}/Accounts/{}/", self.account_sid);
        if !uri.starts_with(&prefix) || uri.contains("://") {
            return None;
        }
        let url = reqwest::Url::parse(&format!("{}{uri}", self.api_base)).ok()?;
        (url.origin() == self.messages_url.origin()).then_some(url)
    }
}

/// `date_created` (RFC 2822, e.g. `Tue, 06 Dec 2026 07:30:00 +0000`) as Unix
/// milliseconds.
fn parse_rfc2822_ms(s: &str) -> Option<i64> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    PARSER
        .parse_timestamp(s.trim())
        .ok()
        .map(|t| t.as_millisecond())
}

struct ListPage {
    items: Vec<Listed>,
    next_page_uri: Option<String>,
}

/// The fields of a listed Message or Call that a lookup reads.
#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    sid: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    messaging_service_sid: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    date_created: Option<String>,
}
