//! TwiML for the PhoneFactor call: what the portal serves at a call's
//! `instructions_url`, and how to read the keys the person pressed.
//!
//! The call reads a prompt ("press pound to approve, or zero pound to report
//! fraud") inside a `<Gather>`, then says goodbye if nothing was pressed. With
//! `finishOnKey="#"` the provider does not include the `#` in the `Digits`
//! parameter it posts to the Gather action (it reports it separately as
//! `FinishedOnKey`), so:
//!
//! | the person presses | `Digits` posted | [`classify_digits`] |
//! |---|---|---|
//! | `#`                | `""`            | [`KeyPress::Approve`] |
//! | `0#`               | `"0"`           | [`KeyPress::Fraud`] |
//! | anything else      | e.g. `"12"`     | [`KeyPress::Other`] |
//! | nothing (timeout)  | no action request; the call falls through to the goodbye | — |
//!
//! The empty-`Digits` case is only reached through `#`, because the Gather
//! omits `actionOnEmptyResult` (so a timeout with no key does not request the
//! action at all).

use quick_xml::escape::escape;

/// What the person answered on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPress {
    /// `#` alone: approve the sign-in.
    Approve,
    /// `0#`: "I did not start this": report fraud (DOMAIN.md §2).
    Fraud,
    /// Any other key sequence: neither approve nor report; ask again or
    /// hang up.
    Other,
}

/// Reads the `Digits` parameter of a Gather action built by [`gather_twiml`]
/// with the default `finish_on_key` of `#`. See the module docs for the
/// table.
pub fn classify_digits(digits: &str) -> KeyPress {
    match digits.trim() {
        "" => KeyPress::Approve,
        "0" => KeyPress::Fraud,
        _ => KeyPress::Other,
    }
}

/// Options of [`gather_twiml`]. `Default` gives what the PhoneFactor call
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherOptions {
    /// The key that ends the input; not included in `Digits`. Default `#`.
    pub finish_on_key: String,
    /// Seconds to wait for the next key before submitting what was pressed
    /// (or, with nothing pressed, falling through). Default 10.
    pub timeout_secs: u32,
    /// Submit after this many keys even without the finish key. Default
    /// `None` (wait for the finish key).
    pub num_digits: Option<u32>,
    /// How many times to read the prompt (`<Say loop>`). Default 2: people
    /// often miss the start of a call.
    pub prompt_repeats: u32,
    /// Said when nothing was pressed, before the call ends.
    pub goodbye: String,
    /// `language` attribute of `<Say>` (e.g. `en-US`), if any.
    pub language: Option<String>,
}

impl Default for GatherOptions {
    fn default() -> Self {
        Self {
            finish_on_key: "#".to_owned(),
            timeout_secs: 10,
            num_digits: None,
            prompt_repeats: 2,
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
    fn digits_map_to_key_presses() {
        assert_eq!(classify_digits(""), KeyPress::Approve);
        assert_eq!(classify_digits("0"), KeyPress::Fraud);
        assert_eq!(classify_digits("00"), KeyPress::Other);
        assert_eq!(classify_digits("1"), KeyPress::Other);
        assert_eq!(classify_digits("#"), KeyPress::Other);
    }

    #[test]
    fn gather_is_escaped_and_has_the_attributes() {
        let x = gather_twiml(
            "Press <pound> & \"go\"",
            "https://portal.example/tw/gather?c=1&d=2",
            &GatherOptions::default(),
        );
        assert!(x.starts_with(XML_DECL));
        assert!(x.contains(
            r##"<Gather input="dtmf" action="https://portal.example/tw/gather?c=1&amp;d=2" method="POST" finishOnKey="#" timeout="10">"##
        ));
        assert!(
            x.contains(r#"<Say loop="2">Press &lt;pound&gt; &amp; &quot;go&quot;</Say></Gather>"#)
        );
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
