//! The bad values put in fields, and what each rule must refuse.

use super::*;

pub(super) const MARKUP: [&str; 2] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];
/// What must never appear in an HTML answer: the markup above, unescaped.
pub(super) const RAW_MARKUP: [&str; 3] = [
    "<script>alert(1)",
    "<img src=x onerror=alert(1)>",
    "\"><img",
];
pub(super) const SQL: [&str; 5] = ["' OR '1'='1", "\"; DROP TABLE users; --", "%", "_", "\\"];

/// A bad value for one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// 100,000 characters.
    Huge,
    Nul,
    /// Bytes that are not UTF-8 (raw and percent-encoded in forms, raw in
    /// JSON).
    NotUtf8,
    Markup(usize),
    Sql(usize),
    /// 10,000 × U+1D518.
    LongUnicode,
    /// A letter with 9,999 combining accents.
    Combining,
    /// U+202E RIGHT-TO-LEFT OVERRIDE inside.
    Bidi,
    /// U+200B ZERO WIDTH SPACE inside.
    ZeroWidth,
    Negative,
    /// More than a 64-bit integer holds.
    Overflow,
    MaxInt,
    Fraction,
    /// The wrong JSON type (or letters for a number).
    WrongType,
}

pub(super) const TEXT_BAD: [Bad; 13] = [
    Bad::Huge,
    Bad::Nul,
    Bad::NotUtf8,
    Bad::Markup(0),
    Bad::Markup(1),
    Bad::Sql(0),
    Bad::Sql(1),
    Bad::Sql(2),
    Bad::Sql(3),
    Bad::Sql(4),
    Bad::LongUnicode,
    Bad::Combining,
    Bad::Bidi,
];
pub(super) const NUMBER_BAD: [Bad; 5] = [
    Bad::Negative,
    Bad::Overflow,
    Bad::MaxInt,
    Bad::Fraction,
    Bad::WrongType,
];

impl Bad {
    /// The value as text (`None` for bytes that are not text).
    pub(super) fn text(self) -> Option<String> {
        Some(match self {
            Bad::Huge => "a".repeat(100_000),
            Bad::Nul => "ab\0cd".into(),
            Bad::NotUtf8 => return None,
            Bad::Markup(i) => MARKUP[i].into(),
            Bad::Sql(i) => SQL[i].into(),
            Bad::LongUnicode => "𝔘".repeat(10_000),
            Bad::Combining => format!("e{}", "\u{301}".repeat(9_999)),
            Bad::Bidi => "abc\u{202E}fed".into(),
            Bad::ZeroWidth => "ab\u{200B}cd".into(),
            Bad::Negative => "-1".into(),
            Bad::Overflow => "99999999999999999999".into(),
            Bad::MaxInt => i64::MAX.to_string(),
            Bad::Fraction => "1.5".into(),
            Bad::WrongType => "abc".into(),
        })
    }

    /// A piece of the value distinctive enough to look for in the database.
    pub(super) fn trace(self) -> Option<String> {
        match self {
            Bad::Huge => Some("a".repeat(64)),
            Bad::Markup(_) => Some("alert(1)".into()),
            Bad::Sql(0) => Some("' OR '1'='1".into()),
            Bad::Sql(1) => Some("DROP TABLE".into()),
            Bad::LongUnicode => Some("𝔘".repeat(8)),
            Bad::Combining => Some("\u{301}".repeat(8)),
            Bad::Bidi => Some("\u{202E}".into()),
            Bad::ZeroWidth => Some("\u{200B}".into()),
            _ => None,
        }
    }

    /// Whether a field following `rule` must refuse this value.
    pub(super) fn refused_by(self, rule: Rule) -> bool {
        match (rule, self) {
            // Bytes that are not text and NUL: refused everywhere.
            (_, Bad::NotUtf8 | Bad::Nul) => true,
            (Rule::Lenient | Rule::Code, _) => false,
            (Rule::Strict | Rule::Number | Rule::Flag, _) => !matches!(self, Bad::Sql(_)),
            (Rule::Text(max), Bad::LongUnicode | Bad::Combining) => max < 10_000,
            (Rule::Text(_), Bad::Huge | Bad::Bidi | Bad::ZeroWidth) => true,
            (Rule::Text(_), _) => false,
            (Rule::Secret, Bad::Huge | Bad::LongUnicode | Bad::Combining) => true,
            (Rule::Secret, _) => false,
            (Rule::Search, Bad::Huge) => true,
            (Rule::Search, _) => false,
        }
    }
}
