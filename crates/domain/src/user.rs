//! Portal users and the values that describe them.

use crate::error::ParseError;
use serde::{Deserialize, Serialize};

/// Database identity of a user; appears in URLs and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(pub i64);

/// A sign-in name: 3–64 characters of lower-case letters, digits, `.`, `_`,
/// `-` and `@`, starting with a letter or digit. Input is trimmed and
/// lower-cased, so `Alice` and `alice` are the same user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().to_lowercase();
        let len = s.chars().count();
        if !(3..=64).contains(&len) {
            return Err(ParseError::new(
                "username",
                "A username is 3 to 64 characters long.",
            ));
        }
        let first_ok = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = s.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        });
        if !first_ok || !rest_ok {
            return Err(ParseError::new(
                "username",
                "A username may contain letters, digits, '.', '_', '-' and '@', and starts with a letter or digit.",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked for shape (one `@`, a dotted domain, no
/// spaces, RFC 5321 lengths); the domain is lower-cased. Deliverability is
/// not checked here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("email", "Enter an e-mail address such as name@example.com.");
        let s = input.trim();
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad());
        }
        // Checked as it is kept, lower-cased: lower-casing can lengthen it
        // and add characters that are not letters (`İ` becomes `i` and a
        // combining dot), and what is kept must parse again.
        let domain = domain.to_lowercase();
        if local.len() + 1 + domain.len() > 254 {
            return Err(bad());
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown in the portal; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DisplayName(String);

impl DisplayName {
    /// At most 100 characters of [`crate::text::line`]: markup is text,
    /// control and invisible formatting characters are refused.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Ok(Self(crate::text::line("name", input, 100, "A name")?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user may do (SPEC §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The provider's staff: everything, across accounts.
    Operator,
    /// A customer's administrator: their own account's users.
    Admin,
    /// Anyone else with a login: their own profile.
    User,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Operator, Role::Admin, Role::User];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "operator" => Ok(Role::Operator),
            "admin" | "administrator" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            _ => Err(ParseError::new(
                "role",
                "The role is one of operator, admin or user.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Operator => "Operator",
            Role::Admin => "Administrator",
            Role::User => "User",
        }
    }

    /// Whether this role administers users (of its account, or all).
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    /// Whether a caller with this role may modify, or run a second-factor
    /// recovery action on, a user with role `target` (SPEC §1): only
    /// administrators act on users, and only operators act on operators, so
    /// an administrator of the provider's own account cannot disable an
    /// operator or weaken an operator's second factor. The account boundary
    /// is the caller's scope, checked separately.
    pub fn may_administer(self, target: Role) -> bool {
        self.is_admin() && (target != Role::Operator || self == Role::Operator)
    }
}

/// Whether a user may sign in at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            _ => Err(ParseError::new(
                "status",
                "The status is active or disabled.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UserStatus::Active => "Active",
            UserStatus::Disabled => "Disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("-alice").is_err());
        assert!(Username::parse("ali ce").is_err());
        assert!(Username::parse("alice.smith@corp").is_ok());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    /// Found by the `newtypes` fuzz target: the domain was checked before
    /// it was lower-cased, so what was kept could fail its own parse.
    #[test]
    fn emails_are_checked_as_they_are_kept() {
        // `İ` lower-cases to `i` and a combining dot, which is no letter.
        assert!(Email::parse("a@İ.com").is_err());
        // `Ⱥ` (2 bytes) lower-cases to `ⱥ` (3 bytes): 216 bytes typed, 321 kept.
        let long = format!("a@{}", vec!["Ⱥ".repeat(21); 5].join("."));
        assert!(long.len() <= 254);
        assert!(Email::parse(&long).is_err());
        let short = format!("a@{}", vec!["Ⱥ".repeat(21); 2].join("."));
        let kept = Email::parse(&short).unwrap();
        assert_eq!(Email::parse(kept.as_str()), Ok(kept));
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Carol@Example.TEST").unwrap().as_str(),
            "Carol@example.test"
        );
        for bad in [
            "",
            "carol",
            "carol@",
            "@example.com",
            "carol@example",
            "ca rol@example.com",
            "c@-x.com",
            "c@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_and_status() {
        assert_eq!(Role::parse("Admin").unwrap(), Role::Admin);
        assert!(Role::parse("root").is_err());
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert_eq!(UserStatus::parse("disabled").unwrap(), UserStatus::Disabled);
    }

    #[test]
    fn only_operators_administer_operators() {
        for target in Role::ALL {
            assert!(Role::Operator.may_administer(target));
            assert!(!Role::User.may_administer(target));
            assert_eq!(Role::Admin.may_administer(target), target != Role::Operator);
        }
    }

    proptest! {
        #[test]
        fn username_parse_is_idempotent(s in "\\PC{0,70}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert_eq!(Username::parse(u.as_str()).unwrap(), u.clone());
                prop_assert!(u.as_str().len() >= 3 && u.as_str().len() <= 64);
            }
        }

        #[test]
        fn valid_usernames_are_accepted(s in "[a-z0-9][a-z0-9._@-]{2,63}") {
            prop_assert!(Username::parse(&s).is_ok());
        }

        #[test]
        fn email_parse_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e.clone());
                prop_assert!(e.as_str().contains('@'));
            }
        }

        #[test]
        fn plain_emails_are_accepted(l in "[a-z0-9.+_]{1,20}", d in "[a-z0-9]{1,20}", t in "[a-z]{2,6}") {
            let e = format!("{l}@{d}.{t}");
            prop_assert!(Email::parse(&e).is_ok());
        }
    }
}
