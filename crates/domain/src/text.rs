//! Text that people type and other people read: names, labels, replies,
//! agreements. It may hold markup and quotes (pages escape what they show),
//! but not characters that are invisible or that change how the text around
//! them is shown: control characters (NUL among them, which PostgreSQL
//! cannot store), and the bidirectional overrides, embeddings and isolates
//! that make a name read differently from what it holds (Unicode TR 36 §2;
//! "Trojan Source", CVE-2021-42574), and invisible spaces.
//!
//! The zero-width joiner and non-joiner (U+200C, U+200D) stay allowed:
//! several scripts (Persian, the Indic scripts) and emoji need them.

use crate::error::ParseError;

/// Invisible characters that change how text is shown or compared, or that
/// hide text: the zero-width space, the bidirectional embeddings and
/// overrides (U+202A–U+202E), the word joiner and invisible operators
/// (U+2060–U+2064), the isolates (U+2066–U+2069), the deprecated format
/// characters (U+206A–U+206F), the byte order mark, the soft hyphen, the
/// combining grapheme joiner, the Hangul and Khmer fillers and vowels that
/// show as nothing, the Mongolian free variation selectors and vowel
/// separator, the line and paragraph separators, the interlinear
/// annotation characters, the shorthand format controls, the musical
/// symbol format controls, and the tag characters (which can carry text
/// nobody sees).
///
/// Allowed on purpose: the zero-width joiner and non-joiner (U+200C,
/// U+200D; Persian, the Indic scripts and emoji need them), the variation
/// selectors (emoji presentation), and the left-to-right, right-to-left
/// and Arabic letter marks (U+200E, U+200F, U+061C), which fix how mixed
/// Hebrew or Arabic text is shown, come along when such text is pasted, and
/// cannot reorder text the way an override does.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Characters that draw nothing of their own: white space, the invisible
/// formatting above, the joiners and marks allowed beside it, variation
/// selectors, and combining marks (which draw on the character before).
fn draws_nothing(c: char) -> bool {
    c.is_whitespace()
        || is_invisible_format(c)
        || is_combining(c)
        || matches!(
            c,
            '\u{200C}' | '\u{200D}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
        || matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// The combining-mark blocks used to pile marks on a letter ("Zalgo"
/// text): Combining Diacritical Marks and their Extended and Supplement
/// blocks, those for symbols, and the half marks.
fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// The most combining marks taken on one character: more than any
/// language writes (Vietnamese stacks two), fewer than text piled to spill
/// over the lines around it.
const MAX_COMBINING_RUN: usize = 4;

/// Refuses what makes a name read differently from what it holds: see
/// [`is_invisible_format`]; a value with nothing visible in it; marks piled
/// on a character.
fn check_shown(field: &'static str, s: &str, what: &str) -> Result<(), ParseError> {
    if s.chars().any(is_invisible_format) {
        return Err(ParseError::new(
            field,
            format!(
                "{what} cannot contain invisible formatting characters (such as a \
                 right-to-left override or a zero-width space)."
            ),
        ));
    }
    if !s.trim().is_empty() && s.chars().all(draws_nothing) {
        return Err(ParseError::new(
            field,
            format!("{what} has nothing visible in it."),
        ));
    }
    let mut run = 0;
    for c in s.chars() {
        run = if is_combining(c) { run + 1 } else { 0 };
        if run > MAX_COMBINING_RUN {
            return Err(ParseError::new(
                field,
                format!("{what} has more than {MAX_COMBINING_RUN} accents on one character."),
            ));
        }
    }
    Ok(())
}

/// One line of text for `field`, trimmed, at most `max` characters (`what`
/// names it in messages: "A name", "The client's name"). Empty is allowed;
/// callers that need a value check for it.
pub fn line(
    field: &'static str,
    input: &str,
    max: usize,
    what: &str,
) -> Result<String, ParseError> {
    checked(field, input, max, what, false)
}

/// Text of several lines for `field` (line breaks and tabs allowed), with
/// surrounding white space trimmed, at most `max` characters.
pub fn paragraphs(
    field: &'static str,
    input: &str,
    max: usize,
    what: &str,
) -> Result<String, ParseError> {
    checked(field, input, max, what, true)
}

/// [`line`] and [`paragraphs`]: the trimmed text, once its length, its
/// control characters and what it shows are checked — for paragraphs on
/// the whole input, since a caller may keep the text as given (an agreement
/// is stored and hashed as published).
fn checked(
    field: &'static str,
    input: &str,
    max: usize,
    what: &str,
    lines: bool,
) -> Result<String, ParseError> {
    let s = input.trim();
    let whole = if lines { input } else { s };
    if whole.chars().count() > max {
        return Err(ParseError::new(
            field,
            format!("{what} is at most {max} characters."),
        ));
    }
    if whole
        .chars()
        .any(|c| c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t')))
    {
        let example = if lines { "NUL" } else { "line breaks or NUL" };
        return Err(ParseError::new(
            field,
            format!("{what} cannot contain control characters (such as {example})."),
        ));
    }
    check_shown(field, whole, what)?;
    Ok(s.to_owned())
}

/// Whether `s` can be a name the system made (an order number, a version,
/// an id): 1 to `max` ASCII letters, digits, `_`, `-` and `.`. Anything else
/// names nothing, and is not looked for (PostgreSQL refuses NUL in text).
pub fn is_key(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The longest search term taken, in characters: longer than any name or
/// Credential ID, far shorter than what makes a `LIKE` pattern expensive
/// (SQLite refuses patterns over 50,000 bytes).
pub const SEARCH_MAX: usize = 100;

/// A search term for `field`: one line of at most [`SEARCH_MAX`]
/// characters. Markup, quotes and wildcards are searched for as they are.
pub fn search(field: &'static str, input: &str) -> Result<String, ParseError> {
    let s = input.trim();
    if s.chars().count() > SEARCH_MAX {
        return Err(ParseError::new(
            field,
            format!("Search for at most {SEARCH_MAX} characters."),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ParseError::new(
            field,
            "A search cannot contain control characters (such as NUL).",
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_of_every_script_pass_and_invisible_or_blank_ones_do_not() {
        for ok in [
            "José Müller",
            "王小明",
            "سارة\u{200f}",
            "שרה כהן",
            "می\u{200c}خواهم",
            "👩\u{200d}💻 Ops",
            "Nguyê\u{0302}\u{0303}n",
            "<b>Bold</b> & 'quotes'",
        ] {
            assert!(line("name", ok, 100, "A name").is_ok(), "{ok:?}");
        }
        for bad in [
            "\u{3164}",
            "\u{115f}",
            "\u{034f}",
            "Ad\u{00ad}min",
            "Bob\u{2028}Admin",
            "Eve\u{206e}\u{206f}x",
            "Mallory\u{E0041}\u{E0042}",
            "x\u{180e}y",
            "ab\u{202e}cd",
            "\u{200d}\u{200d}",
            "Z\u{0300}\u{0301}\u{0302}\u{0303}\u{0304}algo",
        ] {
            assert!(line("name", bad, 100, "A name").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paragraphs_check_the_text_as_given() {
        assert!(paragraphs("text", "\u{0085}Agreement", 100, "The text").is_err());
        assert!(paragraphs("text", "\u{000B}Agreement\n", 100, "The text").is_err());
        let padded = format!("Agreement{}", " ".repeat(200));
        assert!(paragraphs("text", &padded, 100, "The text").is_err());
        assert_eq!(
            paragraphs("text", "Agreement\n\n1. Terms\n", 100, "The text").unwrap(),
            "Agreement\n\n1. Terms"
        );
    }

    #[test]
    fn lines_take_markup_quotes_and_any_script() {
        for ok in [
            "<script>alert(1)</script>",
            "' OR '1'='1",
            "Zoë Ängström",
            "山田 太郎",
            "می‌خواهم",
            "👩‍💻",
        ] {
            assert_eq!(line("name", ok, 100, "A name").unwrap(), ok);
        }
        assert_eq!(line("name", "  padded  ", 100, "A name").unwrap(), "padded");
    }

    #[test]
    fn lines_refuse_controls_invisible_formatting_and_length() {
        for bad in [
            "a\0b",
            "a\nb",
            "a\u{7}b",
            "abc\u{202E}fed",
            "a\u{200B}b",
            "a\u{2066}b\u{2069}",
            "\u{FEFF}a",
        ] {
            assert!(line("name", bad, 100, "A name").is_err(), "{bad:?}");
        }
        assert!(line("name", &"x".repeat(101), 100, "A name").is_err());
        assert!(line("name", &"𝔘".repeat(100), 100, "A name").is_ok());
        assert!(
            line(
                "name",
                &format!("e{}", "\u{301}".repeat(100)),
                100,
                "A name"
            )
            .is_err()
        );
    }

    #[test]
    fn paragraphs_take_line_breaks_but_not_nul() {
        assert!(paragraphs("text", "1. Terms.\r\n\t2. More.", 100, "The text").is_ok());
        assert!(paragraphs("text", "a\0b", 100, "The text").is_err());
        assert!(paragraphs("text", "a\u{202E}b", 100, "The text").is_err());
        let e = paragraphs("text", &"a".repeat(11), 10, "The text").unwrap_err();
        assert_eq!(e.field, "text");
    }

    #[test]
    fn keys() {
        assert!(is_key("EA-12345678", 32));
        assert!(is_key("2026.1", 40));
        assert!(is_key("call_0a1b", 100));
        for bad in ["", "a\0b", "a b", "<script>", "' OR '1'='1", "ä"] {
            assert!(!is_key(bad, 100), "{bad:?}");
        }
        assert!(!is_key(&"a".repeat(41), 40));
    }

    #[test]
    fn searches() {
        assert_eq!(search("q", " 50% _off' \\ ").unwrap(), "50% _off' \\");
        assert!(search("q", &"a".repeat(SEARCH_MAX + 1)).is_err());
        assert!(search("q", "a\0b").is_err());
    }

    proptest! {
        #[test]
        fn what_a_line_takes_has_no_control_or_invisible_character(s in "\\PC{0,40}") {
            if let Ok(v) = line("name", &s, 100, "A name") {
                prop_assert!(!v.chars().any(|c| c.is_control() || is_invisible_format(c)));
                prop_assert!(v.chars().count() <= 100);
            }
        }
    }
}
