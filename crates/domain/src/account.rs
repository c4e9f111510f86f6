//! Customer accounts: the provider's own account and its customers'.

use crate::error::ParseError;
use serde::{Deserialize, Serialize};

/// Database identity of an account. Never shown to customers; they know
/// their [`AccountNumber`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// The number a customer quotes to the provider: eight digits, not starting
/// with zero (so it survives spreadsheets), e.g. `40817263`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AccountNumber(String);

impl AccountNumber {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        let ok = s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(
                "account",
                "An account number is eight digits, e.g. 40817263.",
            ))
        }
    }

    /// Makes a number from eight random decimal digits' worth of entropy.
    pub fn generate() -> Self {
        let n = crate::secret::random_u64() % 90_000_000 + 10_000_000;
        Self(n.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's (or the provider's) name as shown in the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountName(String);

impl AccountName {
    /// 1–100 characters of [`crate::text::line`]: markup is text, control
    /// and invisible formatting characters are refused.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = crate::text::line("name", input, 100, "An account name")?;
        if s.is_empty() {
            return Err(ParseError::new("name", "Enter the account's name."));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_numbers() {
        assert!(AccountNumber::parse("40817263").is_ok());
        assert!(AccountNumber::parse(" 40817263 ").is_ok());
        assert!(AccountNumber::parse("04081726").is_err());
        assert!(AccountNumber::parse("4081726").is_err());
        assert!(AccountNumber::parse("4081726a").is_err());
    }

    #[test]
    fn account_names() {
        assert_eq!(AccountName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(AccountName::parse("").is_err());
        assert!(AccountName::parse("a\u{0}b").is_err());
        assert!(AccountName::parse(&"x".repeat(101)).is_err());
        assert!(AccountName::parse("Acme\u{202E}gnitsoH").is_err());
        assert_eq!(
            AccountName::parse("<b>Acme</b> & Co").unwrap().as_str(),
            "<b>Acme</b> & Co"
        );
    }

    proptest! {
        #[test]
        fn generated_numbers_parse(_ in 0..50u8) {
            let n = AccountNumber::generate();
            prop_assert_eq!(AccountNumber::parse(n.as_str()).unwrap(), n);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_eight_digits(s in "\\PC{0,12}") {
            if let Ok(n) = AccountNumber::parse(&s) {
                prop_assert_eq!(n.as_str().len(), 8);
            }
        }
    }
}
