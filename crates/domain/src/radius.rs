//! RADIUS clients and what their users type: the rules of the RADIUS front
//! end that need no network (SPEC §12).
//!
//! A VPN concentrator or gateway sends one PAP `User-Password`. In
//! password-and-code mode it carries the portal password and the second
//! factor together, as Duo's Authentication Proxy reads it: the password, a
//! separator (`,` unless the client says otherwise, split at the *last*
//! one, so a password may contain it) and a code or a PhoneFactor mode
//! (`push`, `phone`, `sms`); or, without a separator, the password followed
//! by the code's digits. OpenVPN's static challenge sends
//! `SCRV1:base64(password):base64(response)`.

use crate::ParseError;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// How a client's `User-Password` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// The portal password followed by the second factor.
    PasswordAndCode,
    /// The code alone: the client checked the first factor itself.
    CodeOnly,
}

impl ClientMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::PasswordAndCode => "password-and-code",
            ClientMode::CodeOnly => "code-only",
        }
    }
}

impl fmt::Display for ClientMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientMode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.trim() {
            "password-and-code" => Ok(ClientMode::PasswordAndCode),
            "code-only" => Ok(ClientMode::CodeOnly),
            other => Err(ParseError::new(
                "mode",
                format!("{other:?} is not a mode: use password-and-code or code-only."),
            )),
        }
    }
}

/// A client's name: what the operator calls it, and the audit's actor
/// (`radius:NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(
                "name",
                "Give the client a name of 1 to 64 letters, digits, '-', '_' or '.'.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The source addresses a client may send from: an address or a CIDR range
/// (`192.0.2.10`, `10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRange(ipnet::IpNet);

impl SourceRange {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let net = match s.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => match s.parse::<IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => {
                    return Err(ParseError::new(
                        "address",
                        format!(
                            "{s:?} is not an address or range: use e.g. 192.0.2.10, 10.0.0.0/8 or 2001:db8::/32."
                        ),
                    ));
                }
            },
        };
        // `10.1.2.3/8` names the range by one of its addresses: keep the range.
        Ok(Self(net.trunc()))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 sender seen on an IPv6 socket (`::ffff:192.0.2.10`).
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }

    /// How many addresses it covers, as a prefix length (the longest match
    /// wins when ranges overlap).
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }
}

impl fmt::Display for SourceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What follows the password in password-and-code mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// A Security Code, or the code of a PhoneFactor text.
    Code(String),
    /// PhoneFactor by the mobile app.
    Push,
    /// PhoneFactor by a phone call.
    Phone,
    /// PhoneFactor by a text message (the code comes back as a challenge).
    Sms,
}

impl SecondFactor {
    fn from_word(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "push" => Some(SecondFactor::Push),
            "phone" => Some(SecondFactor::Phone),
            "sms" => Some(SecondFactor::Sms),
            _ if is_code(s) => Some(SecondFactor::Code(s.to_owned())),
            _ => None,
        }
    }
}

/// A code as people type them: 6 or 8 digits.
pub fn is_code(s: &str) -> bool {
    matches!(s.len(), 6 | 8) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A password-and-code `User-Password`, read.
#[derive(Clone, PartialEq, Eq)]
pub struct Split {
    pub password: String,
    /// `None`: the password alone (the server answers with a challenge).
    pub second: Option<SecondFactor>,
}

impl fmt::Debug for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Split")
            .field("password", &"…")
            .field("second", &self.second)
            .finish()
    }
}

/// Reads `input` as password and second factor. `separator` is the
/// client's (`None`: the code is the trailing `digits` digits, the length
/// of the user's codes). What does not end in a code or a mode word is all
/// password.
pub fn split_password(input: &str, separator: Option<char>, digits: usize) -> Split {
    if let Some(rest) = input.strip_prefix("SCRV1:")
        && let Some(split) = static_challenge(rest)
    {
        return split;
    }
    let all_password = || Split {
        password: input.to_owned(),
        second: None,
    };
    match separator {
        Some(sep) => match input.rsplit_once(sep) {
            Some((password, tail)) if !password.is_empty() => match SecondFactor::from_word(tail) {
                Some(second) => Split {
                    password: password.to_owned(),
                    second: Some(second),
                },
                None => all_password(),
            },
            _ => all_password(),
        },
        None => {
            let n = input.len();
            if n > digits
                && input.is_char_boundary(n - digits)
                && input[n - digits..].bytes().all(|b| b.is_ascii_digit())
                && matches!(digits, 6 | 8)
            {
                Split {
                    password: input[..n - digits].to_owned(),
                    second: Some(SecondFactor::Code(input[n - digits..].to_owned())),
                }
            } else {
                all_password()
            }
        }
    }
}

/// OpenVPN's static challenge: `base64(password):base64(response)`.
fn static_challenge(rest: &str) -> Option<Split> {
    let (p, r) = rest.split_once(':')?;
    let decode = |s: &str| {
        data_encoding::BASE64
            .decode(s.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let password = decode(p)?;
    let response = decode(r)?;
    let response = response.trim();
    Some(Split {
        password,
        second: if response.is_empty() {
            None
        } else {
            Some(
                SecondFactor::from_word(response)
                    .unwrap_or(SecondFactor::Code(response.to_owned())),
            )
        },
    })
}

/// The separator setting of a client: one character, or none.
pub fn parse_separator(s: &str) -> Result<Option<char>, ParseError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if !c.is_alphanumeric() && !c.is_whitespace() => Ok(Some(c)),
        _ => Err(ParseError::new(
            "separator",
            "The separator is one character that is not a letter, digit or space (`,` by default), or empty for none.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> Option<SecondFactor> {
        Some(SecondFactor::Code(s.into()))
    }

    #[test]
    fn the_last_separator_splits_so_passwords_may_contain_it() {
        let s = split_password("pa,ss,word,123456", Some(','), 6);
        assert_eq!(s.password, "pa,ss,word");
        assert_eq!(s.second, code("123456"));
        let s = split_password("secret,12345678", Some(','), 6);
        assert_eq!(s.second, code("12345678"), "8-digit codes too");
    }

    #[test]
    fn mode_words_pick_a_phonefactor_mode() {
        for (word, want) in [
            ("push", SecondFactor::Push),
            ("PHONE", SecondFactor::Phone),
            ("sms", SecondFactor::Sms),
        ] {
            let s = split_password(&format!("hunter2,{word}"), Some(','), 6);
            assert_eq!((s.password.as_str(), s.second), ("hunter2", Some(want)));
        }
    }

    #[test]
    fn anything_else_is_all_password() {
        for input in [
            "hunter2",
            "pass,word",
            "pass,12345",
            ",123456",
            "pw,1234567",
        ] {
            let s = split_password(input, Some(','), 6);
            assert_eq!(s.password, input);
            assert_eq!(s.second, None, "{input}");
        }
    }

    #[test]
    fn without_a_separator_the_trailing_digits_are_the_code() {
        let s = split_password("hunter2123456", None, 6);
        assert_eq!((s.password.as_str(), s.second), ("hunter2", code("123456")));
        let s = split_password("hunter212345678", None, 8);
        assert_eq!(
            (s.password.as_str(), s.second),
            ("hunter2", code("12345678"))
        );
        assert_eq!(
            split_password("123456", None, 6).second,
            None,
            "no password"
        );
        assert_eq!(split_password("hunter2abcdef", None, 6).second, None);
        assert_eq!(split_password("pässwörd12345", None, 6).second, None);
    }

    #[test]
    fn openvpn_static_challenge() {
        let b = |s: &str| data_encoding::BASE64.encode(s.as_bytes());
        let input = format!("SCRV1:{}:{}", b("pa:ss"), b("654321"));
        let s = split_password(&input, Some(','), 6);
        assert_eq!((s.password.as_str(), s.second), ("pa:ss", code("654321")));
        let input = format!("SCRV1:{}:{}", b("pw"), b("push"));
        assert_eq!(
            split_password(&input, Some(','), 6).second,
            Some(SecondFactor::Push)
        );
        let input = format!("SCRV1:{}:", b("pw"));
        let s = split_password(&input, Some(','), 6);
        assert_eq!((s.password.as_str(), s.second), ("pw", None));
        // Not base64: read as an ordinary password.
        assert_eq!(
            split_password("SCRV1:!!:!!", Some(','), 6).password,
            "SCRV1:!!:!!"
        );
    }

    #[test]
    fn source_ranges() {
        let r = SourceRange::parse("10.1.2.3/8").unwrap();
        assert_eq!(r.to_string(), "10.0.0.0/8");
        assert!(r.contains("10.200.0.1".parse().unwrap()));
        assert!(
            r.contains("::ffff:10.0.0.9".parse().unwrap()),
            "mapped IPv4"
        );
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        let one = SourceRange::parse("192.0.2.10").unwrap();
        assert_eq!(
            (one.to_string().as_str(), one.prefix_len()),
            ("192.0.2.10/32", 32)
        );
        assert!(
            SourceRange::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0"] {
            assert!(SourceRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_modes_and_separators() {
        assert!(ClientName::parse("vpn-1.example_a").is_ok());
        assert!(ClientName::parse("").is_err());
        assert!(ClientName::parse("a b").is_err());
        assert!(ClientName::parse(&"x".repeat(65)).is_err());
        assert_eq!(
            "code-only".parse::<ClientMode>().unwrap(),
            ClientMode::CodeOnly
        );
        assert!("both".parse::<ClientMode>().is_err());
        assert_eq!(parse_separator(",").unwrap(), Some(','));
        assert_eq!(parse_separator("").unwrap(), None);
        assert!(parse_separator("ab").is_err());
        assert!(parse_separator("1").is_err());
    }
}
