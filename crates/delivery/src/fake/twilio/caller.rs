//! The fake's side of a call and of status callbacks: a person who answers
//! a placed call and presses keys at its `<Gather>`
//! ([`FakeTwilio::answer_call`]), and the signed requests Twilio makes to
//! the portal.

use quick_xml::events::Event;

use super::FakeTwilio;
use crate::fake::lock;
use crate::twilio::API_VERSION;
use crate::twilio::signature::{SIGNATURE_HEADER, twilio_signature};

/// What happened when the fake answered a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsweredCall {
    /// HTTP status of the instructions request.
    pub instructions_status: u16,
    /// The TwiML it answered.
    pub instructions: String,
    /// The Gather action request, if the keys led to one (no keys before
    /// the timeout, or TwiML without a `<Gather>`, means none).
    pub action: Option<GatherAction>,
    /// When the Gather ended without an action request: the text of the
    /// `<Say>` verbs after it, which Twilio goes on to ("By default, if
    /// `<Gather>` times out while waiting for DTMF input, it will continue on
    /// to the next TwiML instruction").
    pub fell_through_to: Vec<String>,
}

impl AnsweredCall {
    /// The status of the last request the fake made for the call: the
    /// Gather action's if there was one, else the instructions'.
    pub fn status(&self) -> u16 {
        self.action
            .as_ref()
            .map_or(self.instructions_status, |a| a.status)
    }
}

/// The Gather action request of an answered call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherAction {
    /// The absolute URL posted to.
    pub url: String,
    /// The `Digits` posted (without the finish key, if one ended the input).
    pub digits: String,
    /// The `FinishedOnKey` posted (`""` when input ended otherwise).
    pub finished_on_key: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Its body (TwiML).
    pub body: String,
}

/// Why [`FakeTwilio::answer_call`] could not play the call through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fake call: {0}")]
pub struct FakeCallError(pub String);

impl FakeTwilio {
    /// Plays a person answering the call `call_sid` and pressing `keys`, as
    /// Twilio's `<Gather>` reference describes it:
    ///
    /// 1. POSTs the call's instructions URL with the parameters Twilio sends
    ///    (`CallSid`, `From`, `To`, `CallStatus=in-progress`, …), signed with
    ///    `X-Twilio-Signature`;
    /// 2. reads the first `<Gather>` of the TwiML answer (attributes
    ///    `action`, `method`, `finishOnKey` default `#`, `numDigits`,
    ///    `actionOnEmptyResult`);
    /// 3. types `keys`, e.g. `"#"` or `"0#"`, then stays silent:
    ///    * the finish key ends the input and is left out of `Digits` — but
    ///      "finishOnKey only works when a digit sequence precedes it. It
    ///      cannot be used as a mechanism to stop a `<Gather>` without
    ///      previous digit input": pressed first, it is ignored;
    ///    * with `finishOnKey=""` "no key will end the `<Gather>`": every
    ///      key, `#` included, is collected;
    ///    * after `numDigits` keys the input is submitted at once;
    ///    * the silence after the last key is the timeout: what was
    ///      collected is submitted; with nothing collected there is no
    ///      action request ("if `<Gather>` times out while waiting for DTMF
    ///      input, it will continue on to the next TwiML instruction") unless
    ///      `actionOnEmptyResult="true"`;
    /// 4. POSTs the Gather action (relative URLs resolved against the
    ///    instructions URL; default: the instructions URL) with `Digits` and
    ///    `FinishedOnKey`, signed.
    pub async fn answer_call(
        &self,
        call_sid: &str,
        keys: &str,
    ) -> Result<AnsweredCall, FakeCallError> {
        let call = self
            .calls()
            .into_iter()
            .find(|c| c.sid == call_sid)
            .ok_or_else(|| FakeCallError(format!("no call {call_sid}")))?;
        if call
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        {
            return Err(FakeCallError(
                "the fake fetches call instructions with POST only".to_owned(),
            ));
        }
        let base = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("CallSid".to_owned(), call.sid.clone()),
            ("CallStatus".to_owned(), "in-progress".to_owned()),
            ("Called".to_owned(), call.to.clone()),
            ("Caller".to_owned(), call.from.clone()),
            ("Direction".to_owned(), "outbound-api".to_owned()),
            ("From".to_owned(), call.from.clone()),
            ("To".to_owned(), call.to.clone()),
        ];
        let (instructions_status, instructions) = self.signed_post(&call.url, &base).await?;
        let mut answered = AnsweredCall {
            instructions_status,
            instructions,
            action: None,
            fell_through_to: Vec::new(),
        };
        if !(200..300).contains(&instructions_status) {
            return Ok(answered);
        }
        let Some(gather) = first_gather(&answered.instructions)? else {
            return Ok(answered);
        };
        if gather
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        {
            return Err(FakeCallError(
                "the fake posts Gather actions with POST only".to_owned(),
            ));
        }
        let (digits, finished_on_key) = gather.collect(keys)?;
        if digits.is_empty() && !gather.action_on_empty_result {
            answered.fell_through_to = says_after_gather(&answered.instructions)?;
            return Ok(answered);
        }
        let instructions_url = reqwest::Url::parse(&call.url)
            .map_err(|e| FakeCallError(format!("instructions URL {}: {e}", call.url)))?;
        let action_url = match gather.action.as_deref() {
            Some(a) if !a.is_empty() => instructions_url
                .join(a)
                .map_err(|e| FakeCallError(format!("Gather action {a:?}: {e}")))?
                .to_string(),
            _ => call.url.clone(),
        };
        let mut params = base;
        params.push(("Digits".to_owned(), digits.clone()));
        params.push(("FinishedOnKey".to_owned(), finished_on_key.clone()));
        let (status, body) = self.signed_post(&action_url, &params).await?;
        answered.action = Some(GatherAction {
            url: action_url,
            digits,
            finished_on_key,
            status,
            body,
        });
        Ok(answered)
    }

    /// POSTs the message's status callback (`MessageSid`, `MessageStatus`,
    /// e.g. `delivered`, `undelivered`), signed. Answers the HTTP status.
    pub async fn report_message_status(
        &self,
        message_sid: &str,
        status: &str,
    ) -> Result<u16, FakeCallError> {
        let m = self
            .messages()
            .into_iter()
            .find(|m| m.sid == message_sid)
            .ok_or_else(|| FakeCallError(format!("no message {message_sid}")))?;
        let url = m
            .status_callback
            .ok_or_else(|| FakeCallError(format!("message {message_sid} has no StatusCallback")))?;
        if let Some(stored) = lock(&self.shared.state)
            .messages
            .iter_mut()
            .find(|x| x.sid == message_sid)
        {
            stored.status = status.to_owned();
        }
        let params = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("From".to_owned(), m.from.unwrap_or_default()),
            ("MessageSid".to_owned(), m.sid.clone()),
            ("MessageStatus".to_owned(), status.to_owned()),
            ("SmsSid".to_owned(), m.sid),
            ("SmsStatus".to_owned(), status.to_owned()),
            ("To".to_owned(), m.to),
        ];
        Ok(self.signed_post(&url, &params).await?.0)
    }

    /// POSTs the call's status callback (`CallSid`, `CallStatus`, e.g.
    /// `completed`, `no-answer`, `busy`), signed. Answers the HTTP status.
    pub async fn report_call_status(
        &self,
        call_sid: &str,
        status: &str,
    ) -> Result<u16, FakeCallError> {
        let c = self
            .calls()
            .into_iter()
            .find(|c| c.sid == call_sid)
            .ok_or_else(|| FakeCallError(format!("no call {call_sid}")))?;
        let url = c
            .status_callback
            .ok_or_else(|| FakeCallError(format!("call {call_sid} has no StatusCallback")))?;
        if let Some(stored) = lock(&self.shared.state)
            .calls
            .iter_mut()
            .find(|x| x.sid == call_sid)
        {
            stored.status = status.to_owned();
        }
        let params = vec![
            ("AccountSid".to_owned(), self.shared.account_sid.clone()),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
            ("CallSid".to_owned(), c.sid),
            ("CallStatus".to_owned(), status.to_owned()),
            ("Direction".to_owned(), "outbound-api".to_owned()),
            ("From".to_owned(), c.from),
            ("To".to_owned(), c.to),
        ];
        Ok(self.signed_post(&url, &params).await?.0)
    }

    async fn signed_post(
        &self,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), FakeCallError> {
        let signature = twilio_signature(&self.shared.auth_token, url, params);
        let response = self
            .http
            .post(url)
            .header(SIGNATURE_HEADER, signature)
            .form(params)
            .send()
            .await
            .map_err(|e| FakeCallError(format!("POST {url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| FakeCallError(format!("POST {url}: {e}")))?;
        Ok((status, body))
    }
}

struct Gather {
    action: Option<String>,
    method: Option<String>,
    /// `finishOnKey` as written; `None` when absent (Twilio's default `#`).
    finish_on_key: Option<String>,
    num_digits: Option<usize>,
    action_on_empty_result: bool,
}

impl Gather {
    /// The keys Twilio would post for a person who types `keys` and then
    /// stays silent: (`Digits`, `FinishedOnKey`). See
    /// [`FakeTwilio::answer_call`].
    fn collect(&self, keys: &str) -> Result<(String, String), FakeCallError> {
        // "finishOnKey: 0-9, #, *, and '' (the empty string)"; default "#".
        let finish = match self.finish_on_key.as_deref() {
            None => Some('#'),
            Some("") => None,
            Some(k) => {
                let mut chars = k.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_digit() || c == '#' || c == '*' => Some(c),
                    // Twilio warning 13310: "The value of the finishOnKey
                    // attribute must be one of the following characters
                    // \"0123456789#*\"".
                    _ => {
                        return Err(FakeCallError(format!(
                            "Gather: invalid finishOnKey value {k:?} (Twilio warning 13310)"
                        )));
                    }
                }
            }
        };
        let mut digits = String::new();
        for c in keys.chars() {
            if Some(c) == finish {
                if digits.is_empty() {
                    // "finishOnKey only works when a digit sequence precedes
                    // it": ignored, the Gather goes on waiting.
                    continue;
                }
                return Ok((digits, c.to_string()));
            }
            digits.push(c);
            if self.num_digits.is_some_and(|n| digits.chars().count() >= n) {
                break;
            }
        }
        Ok((digits, String::new()))
    }
}

fn first_gather(twiml: &str) -> Result<Option<Gather>, FakeCallError> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    loop {
        let event = reader
            .read_event()
            .map_err(|e| FakeCallError(format!("the instructions are not XML: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Gather" => {
                let mut gather = Gather {
                    action: None,
                    method: None,
                    finish_on_key: None,
                    num_digits: None,
                    action_on_empty_result: false,
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| FakeCallError(format!("bad attribute: {e}")))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| FakeCallError(format!("bad attribute: {e}")))?
                        .into_owned();
                    match a.key.local_name().as_ref() {
                        "action" => gather.action = Some(value),
                        "method" => gather.method = Some(value),
                        "finishOnKey" => gather.finish_on_key = Some(value),
                        "numDigits" => gather.num_digits = value.parse().ok(),
                        "actionOnEmptyResult" => {
                            gather.action_on_empty_result = value.eq_ignore_ascii_case("true");
                        }
                        _ => {}
                    }
                }
                return Ok(Some(gather));
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// The text of the `<Say>` verbs that follow the first `<Gather>` (what the
/// call goes on to when the Gather ends without an action request).
fn says_after_gather(twiml: &str) -> Result<Vec<String>, FakeCallError> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut depth_in_gather = 0usize;
    let mut after = false;
    let mut in_say = false;
    let mut said = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| FakeCallError(format!("the instructions are not XML: {e}")))?;
        match event {
            Event::Start(e) if e.local_name().as_ref() == "Gather" => depth_in_gather += 1,
            Event::End(e) if e.local_name().as_ref() == "Gather" => {
                depth_in_gather = depth_in_gather.saturating_sub(1);
                after = true;
            }
            Event::Empty(e) if e.local_name().as_ref() == "Gather" => after = true,
            Event::Start(e)
                if after && depth_in_gather == 0 && e.local_name().as_ref() == "Say" =>
            {
                in_say = true;
                said.push(String::new());
            }
            Event::End(e) if e.local_name().as_ref() == "Say" => in_say = false,
            Event::Text(t) if in_say => {
                if let Some(last) = said.last_mut() {
                    last.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_say => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|e| FakeCallError(format!("bad reference: {e}")))?
                {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| FakeCallError(format!("unknown entity &{};", &*r)))?
                        .to_owned(),
                };
                if let Some(last) = said.last_mut() {
                    last.push_str(&resolved);
                }
            }
            Event::Eof => return Ok(said),
            _ => {}
        }
    }
}
