//! The external authentication methods a user can be given.

use crate::error::ParseError;

/// An orderable method (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Symantec Identity Protection: OATH security codes from a credential.
    SymantecVip,
    /// PhoneFactor: out-of-band by phone call, text message or mobile app.
    PhoneFactor,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::SymantecVip, Method::PhoneFactor];

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "symantec_vip" | "symantec" => Ok(Method::SymantecVip),
            "phonefactor" => Ok(Method::PhoneFactor),
            _ => Err(ParseError::new(
                "method",
                "Choose Symantec Identity Protection (symantec_vip) or PhoneFactor (phonefactor).",
            )),
        }
    }

    /// The API and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SymantecVip => "symantec_vip",
            Method::PhoneFactor => "phonefactor",
        }
    }

    /// The name people see (the help article's labels).
    pub fn label(self) -> &'static str {
        match self {
            Method::SymantecVip => "Symantec Identity Protection",
            Method::PhoneFactor => "PhoneFactor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()).unwrap(), m);
        }
        assert_eq!(Method::parse("bogus").unwrap_err().field, "method");
    }
}
