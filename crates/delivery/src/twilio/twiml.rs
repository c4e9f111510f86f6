//! TwiML for the PhoneFactor call: what the portal serves at a call's
//! `instructions_url`.
//!
//! The person approves with `#` alone and reports fraud with `0#` (SPEC §3.2,
//! the PhoneFactor keys people know). Twilio's `<Gather>` cannot report a
//! `#` pressed alone when `#` is the finish key: its reference says
//! "finishOnKey only works when a digit sequence precedes it. It cannot be
//! used as a mechanism to stop a `<Gather>` without previous digit input",
//! and an older revision "if the caller enters the 'finishOnKey' value before
//! entering any other digits, Twilio will not make a request to the 'action'
//! URL". So the Gather has **no** finish key and collects `#` as a digit:
//!
//! * `finishOnKey=""` — the reference lists the allowed values as "0-9, #,
//!   *, and '' (the empty string)"; with the empty string no key ends the
//!   input, so `#` is part of `Digits`.
//! * `numDigits="2"` — "Once the caller enters the final digit …, Twilio will
//!   immediately submit the data to your action URL": `0#` is posted at once.
//! * `timeout="3"` — "the limit in seconds that Twilio will wait for the
//!   caller to press another digit … before moving on and making a request to
//!   the action URL": `#` alone is posted three seconds after it was pressed.
//!   "Twilio waits until all nested verbs execute before it begins the timeout
//!   period", so the prompt (read three times) is the time to answer.
//! * no `actionOnEmptyResult`: "By default, if `<Gather>` times out while
//!   waiting for DTMF input, it will continue on to the next TwiML
//!   instruction" — the goodbye, then `<Hangup/>`; the sign-in stays pending
//!   until it expires.
//!
//! | the person presses | `Digits` posted | when | meaning (`classify_keys`) |
//! |---|---|---|---|
//! | `#`               | `"#"`           | 3 s later   | approve |
//! | `0#`              | `"0#"`          | at once     | fraud |
//! | `0`, then nothing | `"0"`           | 3 s later   | fraud |
//! | anything else     | e.g. `"12"`     | at once     | not confirmed |
//! | nothing           | no request; the goodbye is said | — | — |
//!
//! The keys are read by `gatehouse_domain::phonefactor::classify_keys`, the
//! same function that reads the virtual phone's keypad.

use quick_xml::escape::escape;

/// Options of [`gather_twiml`]. `Default` gives what the PhoneFactor call
/// needs (see the module docs for why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherOptions {
    /// The key that ends the input and is left out of `Digits`; `""` for
    /// none (every key, `#` included, is collected). Default `""`.
    pub finish_on_key: String,
    /// Seconds to wait for the next key before submitting what was pressed
    /// (or, with nothing pressed, falling through). Default 3.
    pub timeout_secs: u32,
    /// Submit as soon as this many keys were pressed. Default 2 (`0#`).
    pub num_digits: Option<u32>,
    /// How many times to read the prompt (`<Say loop>`). Default 3: people
    /// often miss the start of a call, and the timeout only starts after it.
    pub prompt_repeats: u32,
    /// Said when nothing was pressed, before the call ends.
    pub goodbye: String,
    /// `language` attribute of `<Say>` (e.g. `en-US`), if any.
    pub language: Option<String>,
}

impl Default for GatherOptions {
    fn default() -> Self {
        Self {
            finish_on_key: String::new(),
            timeout_secs: 3,
            num_digits: Some(2),
            prompt_repeats: 3,
            goodbye: "We did not receive an answer. Goodbye.".to_owned(),
            language: None,
        }
    }
}

/// The content type to serve TwiML with.
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const XML_DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A TwiML document that reads `prompt` while gathering keys, posts them to
/// `action_url` (method POST), and says goodbye if nothing was pressed.
///
/// All text and attribute values are XML-escaped.
pub fn gather_twiml(prompt: &str, action_url: &str, options: &GatherOptions) -> String {
    let mut gather_attrs = format!(
        r#"input="dtmf" action="{}" method="POST" finishOnKey="{}" timeout="{}""#,
        escape(action_url),
        escape(options.finish_on_key.as_str()),
        options.timeout_secs
    );
    if let Some(n) = options.num_digits {
        gather_attrs.push_str(&format!(r#" numDigits="{n}""#));
    }
    let mut prompt_attrs = say_attrs(options.language.as_deref());
    if options.prompt_repeats > 1 {
        prompt_attrs.push_str(&format!(r#" loop="{}""#, options.prompt_repeats));
    }
    format!(
        "{XML_DECL}<Response><Gather {gather_attrs}><Say{prompt_attrs}>{}</Say></Gather>\
         <Say{}>{}</Say><Hangup/></Response>",
        escape(prompt),
        say_attrs(options.language.as_deref()),
        escape(options.goodbye.as_str()),
    )
}

/// A TwiML document that says `text` and hangs up (the answer to a Gather
/// action: "Thank you, you are signed in.").
pub fn say_twiml(text: &str) -> String {
    format!(
        "{XML_DECL}<Response><Say>{}</Say><Hangup/></Response>",
        escape(text)
    )
}

fn say_attrs(language: Option<&str>) -> String {
    match language {
        Some(l) => format!(r#" language="{}""#, escape(l)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gather_collects_pound_as_a_digit() {
        let x = gather_twiml(
            "Press <pound> & \"go\"",
            "https://portal.example/tw/gather?c=1&d=2",
            &GatherOptions::default(),
        );
        assert!(x.starts_with(XML_DECL));
        assert!(x.contains(
            r##"<Gather input="dtmf" action="https://portal.example/tw/gather?c=1&amp;d=2" method="POST" finishOnKey="" timeout="3" numDigits="2">"##
        ));
        assert!(
            x.contains(r#"<Say loop="3">Press &lt;pound&gt; &amp; &quot;go&quot;</Say></Gather>"#)
        );
        assert!(!x.contains("actionOnEmptyResult"));
        assert!(
            x.ends_with("<Say>We did not receive an answer. Goodbye.</Say><Hangup/></Response>")
        );
    }

    #[test]
    fn say_is_escaped() {
        assert_eq!(
            say_twiml("a < b"),
            format!("{XML_DECL}<Response><Say>a &lt; b</Say><Hangup/></Response>")
        );
    }
}
