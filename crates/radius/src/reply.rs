//! The reply to an Access-Request, as bytes on the wire.

use radius::core::avp::AVP;
use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::rfc2865;
use secrecy::ExposeSecret;

use crate::authenticators::{
    self, AUTHENTICATOR, HEADER_LEN, MESSAGE_AUTHENTICATOR_LEN, MESSAGE_AUTHENTICATOR_TYPE,
};
use crate::request::{MAX_PACKET_LEN, ReplyTo};
use crate::{Client, Reply};

/// Longest attribute value (RFC 2865 §5: Length is one octet, header included).
const MAX_VALUE_LEN: usize = 253;

/// Why a reply cannot be sent (a handler or configuration mistake, or
/// Proxy-States too many to fit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("{0} must be 1 to 253 octets")]
    BadLength(&'static str),
    #[error("the reply would exceed 4096 octets")]
    TooLarge,
    #[error("encoding: {0}")]
    Encoding(String),
}

impl Reply {
    /// The label of `gatehouse_radius_replies_total`.
    pub(crate) fn code_label(&self) -> &'static str {
        match self {
            Reply::Accept { .. } => "accept",
            Reply::Reject { .. } => "reject",
            Reply::Challenge { .. } => "challenge",
        }
    }
}

/// The signed reply to the request `to`, from `client`.
///
/// Attributes: Message-Authenticator first (the BlastRADIUS advice,
/// CVE-2024-3596: a NAS that checks it then cannot be fed a forged
/// prefix), Reply-Message (split over several attributes when longer than
/// 253 octets, RFC 2865 §5.18; none when empty, text is 1 octet at least),
/// State on a Challenge (§5.24), Class and Filter-Id on an Accept (§5.25,
/// §5.11), then every Proxy-State of the request in order (§5.33).
///
/// What the server sends; public for the fuzz targets (`fuzz/`).
pub fn encode_reply(to: &ReplyTo, client: &Client, reply: &Reply) -> Result<Vec<u8>, ReplyError> {
    let secret = client.secret.expose_secret();
    let (code, message) = match reply {
        Reply::Accept { message } => (Code::AccessAccept, message),
        Reply::Reject { message } => (Code::AccessReject, message),
        Reply::Challenge { message, .. } => (Code::AccessChallenge, message),
    };

    let mut attributes = vec![AVP::from_bytes(
        MESSAGE_AUTHENTICATOR_TYPE,
        &[0; MESSAGE_AUTHENTICATOR_LEN],
    )];
    for part in split_text(message, MAX_VALUE_LEN) {
        attributes.push(AVP::from_string(rfc2865::REPLY_MESSAGE_TYPE, part));
    }
    match reply {
        Reply::Challenge { state, .. } => {
            attributes.push(AVP::from_bytes(
                rfc2865::STATE_TYPE,
                bounded(state, "State")?,
            ));
        }
        Reply::Accept { .. } => {
            if let Some(class) = &client.class {
                attributes.push(AVP::from_bytes(
                    rfc2865::CLASS_TYPE,
                    bounded(class, "Class")?,
                ));
            }
            if let Some(filter_id) = &client.filter_id {
                bounded(filter_id.as_bytes(), "Filter-Id")?;
                attributes.push(AVP::from_string(rfc2865::FILTER_ID_TYPE, filter_id));
            }
        }
        Reply::Reject { .. } => {}
    }
    for proxy_state in &to.proxy_states {
        // Came in as an attribute, so fits in one.
        attributes.push(AVP::from_bytes(rfc2865::PROXY_STATE_TYPE, proxy_state));
    }

    // Checked here: the radius crate adds the lengths in a u16.
    let length: usize = HEADER_LEN
        + attributes
            .iter()
            .map(|avp| 2 + avp.encode_bytes().len())
            .sum::<usize>();
    if length > MAX_PACKET_LEN {
        return Err(ReplyError::TooLarge);
    }

    let mut packet = Packet::new_with_identifier(code, secret, to.identifier);
    packet.extend(attributes);
    let mut bytes = packet
        .encode()
        .map_err(|error| ReplyError::Encoding(error.to_string()))?;
    // `encode` put a Response Authenticator over the zeroed MAC; both are
    // computed again, in the order RFC 3579 §3.2 asks for, from the
    // Request Authenticator.
    bytes[AUTHENTICATOR].copy_from_slice(&to.authenticator);
    authenticators::sign_reply(secret, &mut bytes, Some(HEADER_LEN + 2));
    Ok(bytes)
}

fn bounded<'a>(value: &'a [u8], what: &'static str) -> Result<&'a [u8], ReplyError> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(ReplyError::BadLength(what));
    }
    Ok(value)
}

/// `text` in pieces of at most `max` octets, cut between characters so each
/// piece is UTF-8 on its own.
fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticators::{verify_message_authenticator, verify_response_authenticator};

    fn incoming(proxy_states: Vec<Vec<u8>>) -> ReplyTo {
        ReplyTo {
            identifier: 42,
            authenticator: [9; 16],
            proxy_states,
        }
    }

    fn attributes(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = HEADER_LEN;
        while at < bytes.len() {
            let len = usize::from(bytes[at + 1]);
            out.push((bytes[at], bytes[at + 2..at + len].to_vec()));
            at += len;
        }
        out
    }

    #[test]
    fn accept_carries_everything_in_order_and_verifies() {
        let mut client = Client::new(1, "vpn", b"s3cret".to_vec());
        client.class = Some(b"gold".to_vec());
        client.filter_id = Some("vpn-users".into());
        let incoming = incoming(vec![b"p1".to_vec(), b"p2".to_vec()]);
        let bytes = encode_reply(
            &incoming,
            &client,
            &Reply::Accept {
                message: "welcome".into(),
            },
        )
        .unwrap();

        assert_eq!(bytes[0], 2);
        assert_eq!(bytes[1], 42);
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            bytes.len()
        );
        let attributes = attributes(&bytes);
        let kinds: Vec<u8> = attributes.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, [80, 18, 25, 11, 33, 33]);
        assert_eq!(attributes[1].1, b"welcome");
        assert_eq!(attributes[2].1, b"gold");
        assert_eq!(attributes[3].1, b"vpn-users");
        assert_eq!(attributes[4].1, b"p1");
        assert_eq!(attributes[5].1, b"p2");

        assert!(verify_response_authenticator(b"s3cret", &bytes, &[9; 16]));
        let mut with_request = bytes.clone();
        with_request[AUTHENTICATOR].copy_from_slice(&[9; 16]);
        assert!(verify_message_authenticator(b"s3cret", &with_request, 22));
    }

    #[test]
    fn challenge_and_reject() {
        let client = Client::new(1, "vpn", b"s3cret".to_vec());
        let challenge = Reply::Challenge {
            state: b"abc".to_vec(),
            message: "code?".into(),
        };
        let bytes = encode_reply(&incoming(vec![]), &client, &challenge).unwrap();
        assert_eq!(bytes[0], 11);
        let kinds: Vec<_> = attributes(&bytes)
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        assert_eq!(kinds, [80, 18, 24]);

        let bytes = encode_reply(
            &incoming(vec![]),
            &client,
            &Reply::Reject {
                message: String::new(),
            },
        )
        .unwrap();
        assert_eq!(bytes[0], 3);
        let kinds: Vec<_> = attributes(&bytes)
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        assert_eq!(kinds, [80], "no Reply-Message for an empty message");
    }

    #[test]
    fn long_messages_are_split_between_characters() {
        let client = Client::new(1, "vpn", b"s3cret".to_vec());
        let message = "é".repeat(300); // 600 octets
        let bytes = encode_reply(
            &incoming(vec![]),
            &client,
            &Reply::Reject {
                message: message.clone(),
            },
        )
        .unwrap();
        let parts: Vec<String> = attributes(&bytes)
            .into_iter()
            .filter(|(kind, _)| *kind == 18)
            .map(|(_, value)| String::from_utf8(value).unwrap())
            .collect();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|part| part.len() <= 253));
        assert_eq!(parts.concat(), message);
    }

    #[test]
    fn bad_replies_are_errors_not_panics() {
        let client = Client::new(1, "vpn", b"s3cret".to_vec());
        let empty_state = Reply::Challenge {
            state: vec![],
            message: "x".into(),
        };
        assert_eq!(
            encode_reply(&incoming(vec![]), &client, &empty_state),
            Err(ReplyError::BadLength("State"))
        );
        let huge = Reply::Reject {
            message: "x".repeat(70_000),
        };
        assert_eq!(
            encode_reply(&incoming(vec![]), &client, &huge),
            Err(ReplyError::TooLarge)
        );
        let mut client = Client::new(1, "vpn", b"s3cret".to_vec());
        client.class = Some(vec![0; 254]);
        let accept = Reply::Accept {
            message: "x".into(),
        };
        assert_eq!(
            encode_reply(&incoming(vec![]), &client, &accept),
            Err(ReplyError::BadLength("Class"))
        );
    }
}
