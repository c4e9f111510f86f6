//! An incoming datagram, checked and turned into a [`Request`].
//!
//! Everything here reads attacker bytes: it returns a [`Discard`] for anything
//! it does not like and never panics (property-tested below).

use std::net::{IpAddr, SocketAddr};

use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::{rfc2865, rfc3162};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::authenticators::{
    self, AUTHENTICATOR, HEADER_LEN, Placement, find_message_authenticator,
};
use crate::{Client, Request};

/// Largest packet (RFC 2865 §3).
pub(crate) const MAX_PACKET_LEN: usize = 4096;

/// Why a datagram gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Not a well-formed RADIUS packet, or an Access-Request without
    /// exactly one User-Name, with two User-Passwords or States, or with
    /// an attribute that does not decode.
    Malformed,
    /// A code other than Access-Request.
    UnsupportedCode,
    /// A Message-Authenticator that does not verify (a wrong secret).
    BadAuthenticator,
    /// No Message-Authenticator, and the client requires one.
    MissingMessageAuthenticator,
}

impl Discard {
    /// The `reason` label of `gatehouse_radius_dropped_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Discard::Malformed => "malformed",
            Discard::UnsupportedCode => "unsupported_code",
            Discard::BadAuthenticator => "bad_authenticator",
            Discard::MissingMessageAuthenticator => "missing_message_authenticator",
        }
    }
}

/// An Access-Request that passed every check.
#[derive(Debug)]
pub struct Incoming {
    /// What the reply needs from it.
    pub reply_to: ReplyTo,
    /// The request, for the [`Handler`](crate::Handler).
    pub request: Request,
}

/// What the reply takes from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// The request's Identifier, repeated in the reply.
    pub identifier: u8,
    /// The Request Authenticator.
    pub authenticator: [u8; 16],
    /// Every Proxy-State, in order, to be copied into the reply (RFC 2865 §5.33).
    pub proxy_states: Vec<Vec<u8>>,
}

/// Checks a datagram from `source`, which `client` is registered for, and
/// decodes it: what the server does with every datagram from a known
/// address before anything is cached or decided. The length and code
/// (RFC 2865 §3), the Message-Authenticator (RFC 3579 §3.2; required
/// unless the client says otherwise), the attributes, and User-Password
/// unhidden with the client's secret (RFC 2865 §5.2).
///
/// Reads attacker bytes: any datagram gives a [`Discard`] or an
/// [`Incoming`], never a panic.
pub fn decode_request(
    datagram: &[u8],
    source: SocketAddr,
    client: &Client,
) -> Result<Incoming, Discard> {
    // RFC 2865 §3: shorter than its Length field → silently discarded;
    // octets beyond it are padding and ignored.
    if datagram.len() < HEADER_LEN {
        return Err(Discard::Malformed);
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&length) || length > datagram.len() {
        return Err(Discard::Malformed);
    }
    let packet = &datagram[..length];
    if packet[0] != Code::AccessRequest as u8 {
        return Err(Discard::UnsupportedCode);
    }

    let secret = client.secret.expose_secret();
    // RFC 3579 §3.2: a Message-Authenticator that does not verify means the
    // packet is silently discarded. Checked before anything is decoded, so
    // that a wrong secret shows as `bad_authenticator`.
    match find_message_authenticator(packet).map_err(|_| Discard::Malformed)? {
        Placement::At(at) => {
            if !authenticators::verify_message_authenticator(secret, packet, at) {
                return Err(Discard::BadAuthenticator);
            }
        }
        Placement::Absent if client.require_message_authenticator => {
            return Err(Discard::MissingMessageAuthenticator);
        }
        Placement::Absent => {}
    }

    let decoded = Packet::decode(packet, secret).map_err(|_| Discard::Malformed)?;
    let identifier = packet[1];
    let authenticator: [u8; 16] = packet[AUTHENTICATOR]
        .try_into()
        .map_err(|_| Discard::Malformed)?;

    // RFC 2865 §5.44: User-Name, User-Password and State appear at most
    // once in an Access-Request; two would leave it open which one counts.
    let user_name = match rfc2865::lookup_all_user_name(&decoded) {
        Ok(names) if names.len() == 1 => names.into_iter().next().ok_or(Discard::Malformed)?,
        _ => return Err(Discard::Malformed),
    };
    let password = password(&decoded, secret)?;
    let state = match rfc2865::lookup_all_state(&decoded).as_slice() {
        [] => None,
        [state] => Some(state.clone()),
        _ => return Err(Discard::Malformed),
    };
    let nas_ip_address = match rfc2865::lookup_nas_ip_address(&decoded) {
        Some(Ok(v4)) => Some(IpAddr::V4(v4)),
        Some(Err(_)) => return Err(Discard::Malformed),
        None => match rfc3162::lookup_nas_ipv6_address(&decoded) {
            Some(Ok(v6)) => Some(IpAddr::V6(v6)),
            Some(Err(_)) => return Err(Discard::Malformed),
            None => None,
        },
    };
    let text = |kind| {
        decoded
            .lookup(kind)
            .map(|avp| String::from_utf8_lossy(&avp.encode_bytes()).into_owned())
    };
    let nas_identifier = text(rfc2865::NAS_IDENTIFIER_TYPE);
    let calling_station_id = text(rfc2865::CALLING_STATION_ID_TYPE);
    let proxy_states = rfc2865::lookup_all_proxy_state(&decoded);

    Ok(Incoming {
        reply_to: ReplyTo {
            identifier,
            authenticator,
            proxy_states,
        },
        request: Request {
            source,
            user_name,
            password,
            state,
            nas_ip_address,
            nas_identifier,
            calling_station_id,
        },
    })
}

/// User-Password unhidden (RFC 2865 §5.2): 16 to 128 octets, a multiple of 16.
fn password(decoded: &Packet, secret: &[u8]) -> Result<Option<SecretString>, Discard> {
    let hidden = decoded.lookup_all(rfc2865::USER_PASSWORD_TYPE);
    let hidden = match hidden.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(Discard::Malformed),
    };
    if hidden.encode_bytes().len() % 16 != 0 {
        return Err(Discard::Malformed);
    }
    let plain = hidden
        .encode_user_password(secret, decoded.get_authenticator())
        .map(Zeroizing::new)
        .map_err(|_| Discard::Malformed)?;
    Ok(Some(SecretString::from(
        String::from_utf8_lossy(&plain).into_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::client::{AccessRequest, MessageAuthenticator};

    fn client(require: bool) -> Client {
        let mut client = Client::new(1, "vpn", b"s3cret".to_vec());
        client.require_message_authenticator = require;
        client
    }

    fn source() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn request() -> Vec<u8> {
        request_signed(MessageAuthenticator::Correct)
    }

    fn request_signed(signing: MessageAuthenticator) -> Vec<u8> {
        AccessRequest::new("alice")
            .message_authenticator(signing)
            .password("right")
            .state(b"st".to_vec())
            .nas_ip_address([10, 0, 0, 1].into())
            .proxy_state(b"p1".to_vec())
            .proxy_state(b"p2".to_vec())
            .encode(b"s3cret")
            .unwrap()
            .bytes()
            .to_vec()
    }

    #[test]
    fn reads_a_request() {
        let bytes = request();
        let incoming = decode_request(&bytes, source(), &client(true)).unwrap();
        assert_eq!(incoming.reply_to.identifier, bytes[1]);
        assert_eq!(&incoming.reply_to.authenticator[..], &bytes[4..20]);
        assert_eq!(
            incoming.reply_to.proxy_states,
            vec![b"p1".to_vec(), b"p2".to_vec()]
        );
        let request = incoming.request;
        assert_eq!(request.user_name, "alice");
        assert_eq!(request.password.unwrap().expose_secret(), "right");
        assert_eq!(request.state.as_deref(), Some(&b"st"[..]));
        assert_eq!(request.nas_ip_address, Some("10.0.0.1".parse().unwrap()));
        assert!(
            !format!(
                "{:?}",
                decode_request(&bytes, source(), &client(true)).unwrap()
            )
            .contains("right")
        );
    }

    #[test]
    fn padding_beyond_length_is_ignored() {
        let mut bytes = request();
        bytes.extend_from_slice(&[0xff; 7]);
        assert!(decode_request(&bytes, source(), &client(true)).is_ok());
    }

    #[test]
    fn drops() {
        let bytes = request();
        let parse =
            |bytes: &[u8], require| decode_request(bytes, source(), &client(require)).map(|_| ());

        assert_eq!(parse(&bytes[..19], true), Err(Discard::Malformed));
        assert_eq!(
            parse(&bytes[..bytes.len() - 1], true),
            Err(Discard::Malformed)
        );
        let mut short_length = bytes.clone();
        short_length[3] = 19;
        short_length[2] = 0;
        assert_eq!(parse(&short_length, true), Err(Discard::Malformed));

        let mut accounting = bytes.clone();
        accounting[0] = 4;
        assert_eq!(parse(&accounting, true), Err(Discard::UnsupportedCode));

        let wrong_secret = AccessRequest::new("alice")
            .password("right")
            .encode(b"other")
            .unwrap();
        assert_eq!(
            parse(wrong_secret.bytes(), true),
            Err(Discard::BadAuthenticator)
        );

        let wrong_mac = AccessRequest::new("alice")
            .message_authenticator(MessageAuthenticator::Wrong)
            .encode(b"s3cret")
            .unwrap();
        assert_eq!(
            parse(wrong_mac.bytes(), false),
            Err(Discard::BadAuthenticator)
        );

        let unsigned = AccessRequest::new("alice")
            .password("right")
            .message_authenticator(MessageAuthenticator::Absent)
            .encode(b"s3cret")
            .unwrap();
        assert_eq!(
            parse(unsigned.bytes(), true),
            Err(Discard::MissingMessageAuthenticator)
        );
        assert_eq!(parse(unsigned.bytes(), false), Ok(()));

        // Tampering after signing breaks the MAC.
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(parse(&tampered, true), Err(Discard::BadAuthenticator));
    }

    #[test]
    fn no_user_name_is_malformed() {
        let mut bytes = vec![1, 7, 0, 20];
        bytes.extend_from_slice(&[0; 16]);
        assert_eq!(
            decode_request(&bytes, source(), &client(false)).map(|_| ()),
            Err(Discard::Malformed)
        );
    }

    #[test]
    fn a_garbled_password_still_reaches_the_handler() {
        let unsigned = AccessRequest::new("alice")
            .password("right")
            .message_authenticator(MessageAuthenticator::Absent)
            .encode(b"other")
            .unwrap();
        let incoming = decode_request(unsigned.bytes(), source(), &client(false)).unwrap();
        assert_ne!(incoming.request.password.unwrap().expose_secret(), "right");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_request(&bytes, source(), &client(false));
            let _ = decode_request(&bytes, source(), &client(true));
        }

        /// A valid request with a few octets changed, cut or extended: the
        /// header and attribute lengths are where decoders break.
        #[test]
        fn mutated_requests_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            tail in proptest::collection::vec(any::<u8>(), 0..40),
            signed in any::<bool>(),
        ) {
            // Unsigned (and not required) gets past the MAC to the decoder.
            let mut bytes = if signed {
                request()
            } else {
                request_signed(MessageAuthenticator::Absent)
            };
            for (at, value) in edits {
                let at = at.index(bytes.len());
                bytes[at] = value;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes.extend_from_slice(&tail);
            // The Length field matching the bytes, so that attribute decoding runs.
            if bytes.len() >= 4 {
                let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
                bytes[2] = len[0];
                bytes[3] = len[1];
            }
            let _ = decode_request(&bytes, source(), &client(signed));
        }
    }
}
