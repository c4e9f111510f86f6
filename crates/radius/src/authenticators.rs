//! The two integrity checks of a RADIUS packet: the Message-Authenticator
//! attribute (RFC 3579 §3.2) and the Response Authenticator (RFC 2865 §3).
//!
//! Written here rather than taken from the `radius` crate: it has no
//! Message-Authenticator at all, and its Response Authenticator is computed
//! inside `Packet::encode` over the attributes as they are, so the order
//! that RFC 3579 §3.2 needs (the Message-Authenticator first, over the
//! packet carrying the Request Authenticator, then the Response
//! Authenticator over the result) cannot be had from it.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// RADIUS header: Code, Identifier, Length, Authenticator (RFC 2865 §3).
pub(crate) const HEADER_LEN: usize = 20;
/// Where the 16-octet Authenticator sits in the header.
pub(crate) const AUTHENTICATOR: std::ops::Range<usize> = 4..20;
/// Attribute type of Message-Authenticator (RFC 3579 §3.2).
pub(crate) const MESSAGE_AUTHENTICATOR_TYPE: u8 = 80;
/// Its value is always 16 octets (the HMAC-MD5 output).
pub(crate) const MESSAGE_AUTHENTICATOR_LEN: usize = 16;

/// Where the Message-Authenticator of a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    Absent,
    /// Offset of its 16-octet value in the packet.
    At(usize),
}

/// Why the attributes of a packet cannot carry a usable Message-Authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LayoutError {
    #[error("attributes overrun the packet")]
    Truncated,
    #[error("Message-Authenticator is not 16 octets")]
    BadLength,
    /// RFC 3579 §3.2: at most one per packet.
    #[error("more than one Message-Authenticator")]
    Repeated,
}

/// Finds the Message-Authenticator among the attributes of `packet` (which
/// is cut to its Length field already).
pub(crate) fn find_message_authenticator(packet: &[u8]) -> Result<Placement, LayoutError> {
    let mut found = Placement::Absent;
    let mut at = HEADER_LEN;
    while at < packet.len() {
        let (Some(&kind), Some(&len)) = (packet.get(at), packet.get(at + 1)) else {
            return Err(LayoutError::Truncated);
        };
        let len = usize::from(len);
        if len < 2 || at + len > packet.len() {
            return Err(LayoutError::Truncated);
        }
        if kind == MESSAGE_AUTHENTICATOR_TYPE {
            if len != 2 + MESSAGE_AUTHENTICATOR_LEN {
                return Err(LayoutError::BadLength);
            }
            if found != Placement::Absent {
                return Err(LayoutError::Repeated);
            }
            found = Placement::At(at + 2);
        }
        at += len;
    }
    Ok(found)
}

/// HMAC-MD5 keyed with the shared secret over `packet` (RFC 3579 §3.2).
///
/// The caller has zeroed the Message-Authenticator's value and put the
/// right Authenticator in the header: the request's own for an
/// Access-Request, the Request Authenticator for a reply.
pub(crate) fn message_authenticator(secret: &[u8], packet: &[u8]) -> [u8; 16] {
    let mut mac =
        <Hmac<Md5> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(packet);
    mac.finalize().into_bytes().into()
}

/// Writes the Message-Authenticator at `value_at` into `packet`, whose
/// header already holds the Authenticator the MAC is computed over.
pub(crate) fn sign_message_authenticator(secret: &[u8], packet: &mut [u8], value_at: usize) {
    let value = value_at..value_at + MESSAGE_AUTHENTICATOR_LEN;
    packet[value.clone()].fill(0);
    let mac = message_authenticator(secret, packet);
    packet[value].copy_from_slice(&mac);
}

/// Whether the Message-Authenticator at `value_at` is right, compared in
/// constant time. `packet` is as received (cut to its Length field), with
/// the Authenticator the sender computed the MAC over in its header.
pub(crate) fn verify_message_authenticator(secret: &[u8], packet: &[u8], value_at: usize) -> bool {
    let value = value_at..value_at + MESSAGE_AUTHENTICATOR_LEN;
    let mut zeroed = packet.to_vec();
    zeroed[value.clone()].fill(0);
    let expected = message_authenticator(secret, &zeroed);
    expected.ct_eq(&packet[value]).into()
}

/// MD5(Code + Identifier + Length + Request Authenticator + Attributes +
/// Secret) (RFC 2865 §3), for a reply whose header holds the Request
/// Authenticator.
pub(crate) fn response_authenticator(secret: &[u8], reply: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(reply);
    md5.update(secret);
    md5.finalize().into()
}

/// Turns a reply assembled with the Request Authenticator in its header (and
/// a zeroed Message-Authenticator at `value_at`) into the one to send: the
/// Message-Authenticator first, then the Response Authenticator over the
/// result (RFC 3579 §3.2, RFC 2865 §3).
pub(crate) fn sign_reply(secret: &[u8], reply: &mut [u8], value_at: Option<usize>) {
    if let Some(value_at) = value_at {
        sign_message_authenticator(secret, reply, value_at);
    }
    let authenticator = response_authenticator(secret, reply);
    reply[AUTHENTICATOR].copy_from_slice(&authenticator);
}

/// Whether `reply` carries the Response Authenticator due for a request
/// with `request_authenticator` (RFC 2865 §3), compared in constant time.
pub(crate) fn verify_response_authenticator(
    secret: &[u8],
    reply: &[u8],
    request_authenticator: &[u8; 16],
) -> bool {
    let mut with_request = reply.to_vec();
    with_request[AUTHENTICATOR].copy_from_slice(request_authenticator);
    let expected = response_authenticator(secret, &with_request);
    expected.ct_eq(&reply[AUTHENTICATOR]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Access-Request as radclient 3.2.1 (Debian's freeradius-utils) sent
    /// it, captured on a UDP socket:
    /// `echo 'User-Name = "alice", User-Password = "right",
    /// Message-Authenticator = 0x00, NAS-IP-Address = 10.0.0.1' |
    /// radclient -x 127.0.0.1:18120 auth testing123`.
    const RADCLIENT_REQUEST: &str = "01f70045285d264aeca2dbb1d3d009b678abd2f7\
        0107616c696365\
        0212dc9f3df70b596a1f566ed755a9ad1b3f\
        5012f1aafd92ee91ba3e34fe1bba900d5410\
        04060a000001";

    #[test]
    fn radclient_message_authenticator_verifies() {
        let packet = hex::decode(RADCLIENT_REQUEST).unwrap();
        let at = match find_message_authenticator(&packet).unwrap() {
            Placement::At(at) => at,
            Placement::Absent => panic!("radclient sent a Message-Authenticator"),
        };
        assert_eq!(at, 20 + 7 + 18 + 2);
        assert!(verify_message_authenticator(b"testing123", &packet, at));
        assert!(!verify_message_authenticator(b"testing124", &packet, at));

        let mut tampered = packet.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!verify_message_authenticator(b"testing123", &tampered, at));
    }

    #[test]
    fn signing_reproduces_radclient_message_authenticator() {
        let mut packet = hex::decode(RADCLIENT_REQUEST).unwrap();
        let sent = packet.clone();
        let at = 20 + 7 + 18 + 2;
        packet[at..at + 16].fill(0xAA);
        sign_message_authenticator(b"testing123", &mut packet, at);
        assert_eq!(packet, sent);
    }

    /// RFC 2865 §7.1: the Access-Accept for nemo, secret "xyzzy5461".
    #[test]
    fn response_authenticator_of_rfc2865_example() {
        let request_authenticator: [u8; 16] = hex::decode("0f403f9473978057bd83d5cb98f4227a")
            .unwrap()
            .try_into()
            .unwrap();
        // The RFC's listing: Service-Type, Login-Service, Login-IP-Host.
        let reply = hex::decode(
            "0200002686fe220e7624ba2a1005f6bf9b55e0b2\
             060600000001\
             0f0600000000\
             0e06c0a80103",
        )
        .unwrap();
        assert!(verify_response_authenticator(
            b"xyzzy5461",
            &reply,
            &request_authenticator
        ));
        assert!(!verify_response_authenticator(
            b"xyzzy5462",
            &reply,
            &request_authenticator
        ));

        let mut rebuilt = reply.clone();
        rebuilt[AUTHENTICATOR].copy_from_slice(&request_authenticator);
        sign_reply(b"xyzzy5461", &mut rebuilt, None);
        assert_eq!(rebuilt, reply);
    }

    #[test]
    fn reply_message_authenticator_is_over_the_request_authenticator() {
        let request_authenticator = [7u8; 16];
        // Access-Accept, id 9, Message-Authenticator first then Reply-Message "ok".
        let mut reply = vec![2, 9, 0, 42];
        reply.extend_from_slice(&request_authenticator);
        reply.extend_from_slice(&[80, 18]);
        reply.extend_from_slice(&[0; 16]);
        reply.extend_from_slice(&[18, 4, b'o', b'k']);
        sign_reply(b"s3cret", &mut reply, Some(22));

        // The MAC: over the reply with the Request Authenticator and a zero MAC.
        let mut check = reply.clone();
        check[AUTHENTICATOR].copy_from_slice(&request_authenticator);
        assert!(verify_message_authenticator(b"s3cret", &check, 22));
        assert!(verify_response_authenticator(
            b"s3cret",
            &reply,
            &request_authenticator
        ));
    }

    #[test]
    fn layout_errors() {
        let header = [1u8; 20];
        let with = |attrs: &[u8]| [&header[..], attrs].concat();
        assert_eq!(
            find_message_authenticator(&with(&[])),
            Ok(Placement::Absent)
        );
        assert_eq!(
            find_message_authenticator(&with(&[1])),
            Err(LayoutError::Truncated)
        );
        assert_eq!(
            find_message_authenticator(&with(&[1, 1])),
            Err(LayoutError::Truncated)
        );
        assert_eq!(
            find_message_authenticator(&with(&[1, 4, 0])),
            Err(LayoutError::Truncated)
        );
        assert_eq!(
            find_message_authenticator(&with(&[80, 3, 0])),
            Err(LayoutError::BadLength)
        );
        let ma = [&[80u8, 18][..], &[0; 16]].concat();
        assert_eq!(
            find_message_authenticator(&with(&ma)),
            Ok(Placement::At(22))
        );
        assert_eq!(
            find_message_authenticator(&with(&[ma.clone(), ma].concat())),
            Err(LayoutError::Repeated)
        );
    }
}
