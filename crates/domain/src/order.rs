//! What an order of external authentication is asked with (SPEC §2, §4):
//! the fields of the order wizard's form as the browser posts them, the
//! input the application layer checks, and the checks of that input that
//! need no storage.
//!
//! The web front end decodes the wizard's form into [`WizardForm`] (an
//! `application/x-www-form-urlencoded` body, read with `serde_urlencoded`);
//! the application layer's `orders::check` and `orders::place` call
//! [`credential_id`], [`promo_code`] and [`idempotency_key`] at their places
//! in the flow, between the lookups, so that the order of its answers stays
//! the flow's. The fuzz targets (`fuzz/`) drive the same code.

use serde::Deserialize;

use crate::credential_id::CredentialId;
use crate::error::ParseError;

/// The order wizard's form. Its three steps post the same fields (later
/// steps carry the earlier ones as hidden fields); a field left out is
/// empty. No `Debug`: it carries the CSRF token and the sealed proof.
#[derive(Deserialize, Default, Clone)]
pub struct WizardForm {
    #[serde(default)]
    pub csrf: String,
    /// The button pressed: `continue` (first step), `apply` (the promo
    /// code), `order`, `cancel`.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub credential_id: String,
    #[serde(default)]
    pub security_code: String,
    #[serde(default)]
    pub next_security_code: String,
    #[serde(default)]
    pub promo_code: String,
    #[serde(default)]
    pub msa_version: String,
    /// Present (whatever its value) when the box was ticked.
    #[serde(default)]
    pub msa_acknowledged: Option<String>,
    #[serde(default)]
    pub idempotency_key: String,
    /// The sealed result of the proof of possession, from the first step.
    #[serde(default)]
    pub proof: String,
}

impl WizardForm {
    /// The order as the application layer takes it. `with_proof`: the
    /// first step, whose security codes are checked now; the later steps
    /// carry the sealed proof instead, and their code fields are ignored.
    pub fn input(&self, with_proof: bool) -> OrderInput {
        OrderInput {
            method: self.method.clone(),
            credential_id: Some(self.credential_id.clone()).filter(|c| !c.trim().is_empty()),
            security_code: Some(self.security_code.clone()).filter(|_| with_proof),
            next_security_code: Some(self.next_security_code.clone()).filter(|_| with_proof),
            promo_code: Some(self.promo_code.clone()).filter(|p| !p.trim().is_empty()),
            proof_token: Some(self.proof.clone()).filter(|p| !p.is_empty() && !with_proof),
        }
    }
}

/// What the wizard's first step and the API supply.
#[derive(Debug, Clone, Default)]
pub struct OrderInput {
    pub method: String,
    pub credential_id: Option<String>,
    /// Optional proof of possession: one code, or two consecutive ones.
    pub security_code: Option<String>,
    pub next_security_code: Option<String>,
    pub promo_code: Option<String>,
    /// The wizard's sealed proof of possession (see `credentials::seal_proof`).
    pub proof_token: Option<String>,
}

/// The Credential ID a Symantec Identity Protection order names: required,
/// and a valid ID ([`CredentialId::parse`]).
pub fn credential_id(input: &OrderInput) -> Result<CredentialId, ParseError> {
    let raw = input.credential_id.as_deref().unwrap_or("");
    if raw.trim().is_empty() {
        return Err(ParseError::new(
            "credential_id",
            "Enter the user's Credential ID, e.g. VSST 1234 5678.",
        ));
    }
    CredentialId::parse(raw)
}

/// The promo code asked for, trimmed; `None` when the field is blank. Its
/// shape and terms are the catalog's to check.
pub fn promo_code(input: &OrderInput) -> Option<&str> {
    input
        .promo_code
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// An order's idempotency key (the wizard's hidden field, the API's
/// `Idempotency-Key` header), trimmed: 1 to 200 bytes.
pub fn idempotency_key(key: &str) -> Result<&str, ParseError> {
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ParseError::new(
            "idempotency_key",
            "Send an Idempotency-Key header (1–200 characters), e.g. a UUID.",
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> WizardForm {
        let mut f = WizardForm::default();
        for (name, value) in pairs {
            let value = (*value).to_owned();
            match *name {
                "method" => f.method = value,
                "credential_id" => f.credential_id = value,
                "security_code" => f.security_code = value,
                "next_security_code" => f.next_security_code = value,
                "promo_code" => f.promo_code = value,
                "proof" => f.proof = value,
                other => panic!("no field {other}"),
            }
        }
        f
    }

    #[test]
    fn first_step_carries_codes_later_steps_the_proof() {
        let f = form(&[
            ("method", "symantec_vip"),
            ("credential_id", " VSST 1234 5678 "),
            ("security_code", "123456"),
            ("next_security_code", ""),
            ("promo_code", "  "),
            ("proof", "sealed"),
        ]);
        let first = f.input(true);
        assert_eq!(first.method, "symantec_vip");
        assert_eq!(first.credential_id.as_deref(), Some(" VSST 1234 5678 "));
        assert_eq!(first.security_code.as_deref(), Some("123456"));
        assert_eq!(first.next_security_code.as_deref(), Some(""));
        assert_eq!(first.promo_code, None);
        assert_eq!(first.proof_token, None);

        let later = f.input(false);
        assert_eq!(later.security_code, None);
        assert_eq!(later.next_security_code, None);
        assert_eq!(later.proof_token.as_deref(), Some("sealed"));
        assert_eq!(
            form(&[("credential_id", " \t")]).input(true).credential_id,
            None
        );
    }

    #[test]
    fn credential_id_is_required_and_parsed() {
        let input = |id: Option<&str>| OrderInput {
            credential_id: id.map(str::to_owned),
            ..OrderInput::default()
        };
        for blank in [None, Some(""), Some("  ")] {
            let e = credential_id(&input(blank)).unwrap_err();
            assert_eq!(e.field, "credential_id");
            assert!(e.message.starts_with("Enter the user's Credential ID"));
        }
        assert_eq!(
            credential_id(&input(Some("vsst 1234 5678")))
                .unwrap()
                .as_str(),
            "VSST12345678"
        );
        let e = credential_id(&input(Some("VSST1234"))).unwrap_err();
        assert!(e.message.starts_with("A Credential ID is"));
    }

    #[test]
    fn promo_codes_are_trimmed_and_blank_is_none() {
        let input = |p: Option<&str>| OrderInput {
            promo_code: p.map(str::to_owned),
            ..OrderInput::default()
        };
        assert_eq!(promo_code(&input(None)), None);
        assert_eq!(promo_code(&input(Some(" \n"))), None);
        assert_eq!(promo_code(&input(Some(" spring25 "))), Some("spring25"));
    }

    #[test]
    fn idempotency_keys_are_1_to_200_bytes_trimmed() {
        assert_eq!(idempotency_key(" wiz_abc ").unwrap(), "wiz_abc");
        assert_eq!(idempotency_key(" ").unwrap_err().field, "idempotency_key");
        assert!(idempotency_key(&"k".repeat(200)).is_ok());
        assert!(idempotency_key(&"k".repeat(201)).is_err());
        // Bytes, not characters: 67 three-byte characters are 201 bytes.
        assert!(idempotency_key(&"€".repeat(67)).is_err());
    }
}
