//! Symantec VIP Credential IDs.
//!
//! A Credential ID names one OATH credential (an app install, a hardware
//! token, a card). Observed IDs are four letters and eight digits
//! (`VSST12345678`, `SYMC26070843`, `UBHE57586348`), printed by Symantec in
//! groups (`SYMC 1212 1212`); hardware tokens use shorter prefixes such as
//! `FT`. We accept 2–4 letters and 8–10 digits and do not reject unknown
//! prefixes, because Symantec's prefix table is not public (DOMAIN.md §1).

use crate::error::ParseError;
use serde::Serialize;

const FIELD: &str = "credential_id";
const MESSAGE: &str =
    "A Credential ID is 2–4 letters and 8–10 digits, e.g. VSST12345678 (spaces are ignored).";

/// A Credential ID in canonical form: upper-case letters then digits, no
/// spaces, e.g. `VSST12345678`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CredentialId(String);

impl CredentialId {
    /// Parses what a person typed: all whitespace is removed (so the printed
    /// form `VSST 1234 5678` works), letters are upper-cased, and the result
    /// must be 2–4 ASCII letters followed by 8–10 ASCII digits.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
        let digits = &s[letters..];
        let ok = (2..=4).contains(&letters)
            && (8..=10).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s))
        } else {
            Err(ParseError::new(FIELD, MESSAGE))
        }
    }

    /// The canonical form, e.g. `VSST12345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The letter prefix, e.g. `VSST`; it hints at the credential model.
    pub fn prefix(&self) -> &str {
        let letters = self.0.bytes().take_while(u8::is_ascii_uppercase).count();
        &self.0[..letters]
    }

    /// A form safe to show in lists and e-mails: the prefix, four bullets
    /// and the last four digits, e.g. `VSST••••5678`.
    pub fn masked(&self) -> String {
        let last4 = &self.0[self.0.len() - 4..];
        format!("{}••••{last4}", self.prefix())
    }
}

impl std::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for CredentialId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_observed_forms() {
        for (input, canonical) in [
            ("VSST12345678", "VSST12345678"),
            ("SYMC 2607 0843", "SYMC26070843"),
            ("  ubhe57586348\n", "UBHE57586348"),
            ("FT0123456789", "FT0123456789"),
            ("vs st 1234\t5678", "VSST12345678"),
        ] {
            assert_eq!(CredentialId::parse(input).unwrap().as_str(), canonical);
        }
    }

    #[test]
    fn refuses_bad_shapes_with_a_field_and_message() {
        for bad in [
            "",
            "V12345678",
            "VSSTX12345678",
            "VSST1234567",
            "VSST12345678901",
            "VSST1234567A",
            "1234VSST5678",
            "VSST-1234-5678",
            "ÄSST12345678",
            "VSST１２３４５６７８",
        ] {
            let err = CredentialId::parse(bad).unwrap_err();
            assert_eq!(err.field, "credential_id", "{bad}");
            assert!(err.message.contains("VSST12345678"));
        }
    }

    #[test]
    fn masks_all_but_prefix_and_last_four() {
        let id = CredentialId::parse("VSST12345678").unwrap();
        assert_eq!(id.masked(), "VSST••••5678");
        assert_eq!(id.prefix(), "VSST");
        assert_eq!(id.to_string(), "VSST12345678");
        let ft = CredentialId::parse("FT0123456789").unwrap();
        assert_eq!(ft.masked(), "FT••••6789");
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(prefix in "[A-Za-z]{2,4}", digits in "[0-9]{8,10}") {
            let canonical = format!("{}{digits}", prefix.to_ascii_uppercase());
            let id = CredentialId::parse(&format!("{prefix}{digits}")).unwrap();
            prop_assert_eq!(id.as_str(), canonical.as_str());
            // Parsing is idempotent on the canonical form.
            prop_assert_eq!(CredentialId::parse(id.as_str()).unwrap(), id.clone());
            let masked = id.masked();
            prop_assert!(masked.ends_with(&digits[digits.len() - 4..]));
            prop_assert!(masked.starts_with(&prefix.to_ascii_uppercase()));
        }

        #[test]
        fn whitespace_anywhere_is_ignored(
            prefix in "[A-Z]{2,4}",
            digits in "[0-9]{8,10}",
            cuts in proptest::collection::vec((0usize..14, "[ \t\n]{1,2}"), 0..4),
        ) {
            let mut s = format!("{prefix}{digits}");
            for (at, ws) in cuts {
                let at = at.min(s.len());
                s.insert_str(at, &ws);
            }
            let id = CredentialId::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), format!("{prefix}{digits}"));
        }

        #[test]
        fn never_panics_and_output_is_canonical(s in "\\PC{0,20}") {
            if let Ok(id) = CredentialId::parse(&s) {
                let letters = id.prefix().len();
                prop_assert!((2..=4).contains(&letters));
                prop_assert!((8..=10).contains(&(id.as_str().len() - letters)));
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            }
        }

        #[test]
        fn wrong_lengths_are_refused(prefix in "[A-Z]{0,6}", digits in "[0-9]{0,12}") {
            let ok = (2..=4).contains(&prefix.len()) && (8..=10).contains(&digits.len());
            prop_assert_eq!(CredentialId::parse(&format!("{prefix}{digits}")).is_ok(), ok);
        }
    }
}
