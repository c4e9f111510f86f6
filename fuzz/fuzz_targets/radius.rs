//! The RADIUS server's reading of a datagram from a known client
//! (`gatehouse_radius::decode_request`: length and code, the
//! Message-Authenticator of RFC 3579 §3.2, the attributes, User-Password
//! unhidden with the shared secret) and its answer to what passed
//! (`encode_reply`: Proxy-States copied, both authenticators signed).
//!
//! Input: a flags octet, the shared secret, then the datagram. The harness
//! can set the Length field to the datagram's length and put the right
//! Message-Authenticator in (as a NAS with the secret would), so that
//! mutations reach the attribute decoding.
//!
//! Properties: no panic; what passes carries the header it came with and a
//! right Message-Authenticator (or none, where the client allows that); a
//! reply is a well-formed packet of at most 4096 octets whose Response
//! Authenticator and Message-Authenticator verify (computed here, not with
//! the crate's code) and which carries the request's Proxy-States in order.
#![no_main]

use gatehouse_radius::{Client, Discard, Reply, decode_request, encode_reply};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use secrecy::ExposeSecret;

const HEADER_LEN: usize = 20;
const MESSAGE_AUTHENTICATOR: u8 = 80;
const PROXY_STATE: u8 = 33;

#[derive(Debug)]
struct Input<'a> {
    require_message_authenticator: bool,
    fix_length: bool,
    sign: bool,
    reply: u8,
    secret: &'a [u8],
    message: &'a str,
    datagram: Vec<u8>,
}

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let flags: u8 = u.arbitrary()?;
        let secret_len = u.int_in_range(1..=24)?;
        Ok(Self {
            require_message_authenticator: flags & 1 != 0,
            fix_length: flags & 2 != 0,
            sign: flags & 4 != 0,
            reply: flags >> 3,
            secret: u.bytes(secret_len)?,
            message: u.arbitrary()?,
            datagram: u.bytes(u.len())?.to_vec(),
        })
    }
}

fuzz_target!(|input: Input<'_>| {
    let Input {
        require_message_authenticator,
        fix_length,
        sign,
        reply,
        secret,
        message,
        mut datagram,
    } = input;
    if fix_length && datagram.len() >= 4 {
        let len = u16::try_from(datagram.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        datagram[2..4].copy_from_slice(&len);
    }
    let signed = sign && sign_message_authenticator(&mut datagram, secret);

    let mut client = Client::new(1, "nas", secret.to_vec());
    client.require_message_authenticator = require_message_authenticator;
    if reply & 1 != 0 {
        client.class = Some(b"gold".to_vec());
        client.filter_id = Some("vpn-users".to_owned());
    }
    let source = "192.0.2.10:40000".parse().unwrap();
    let incoming = match decode_request(&datagram, source, &client) {
        Ok(incoming) => incoming,
        Err(discard) => {
            assert!(!discard.reason().is_empty());
            if signed {
                assert_ne!(
                    discard,
                    Discard::BadAuthenticator,
                    "signed here, yet refused"
                );
            }
            return;
        }
    };
    // What passed is signed with the secret, checked here independently:
    // a Message-Authenticator, if present (and it must be when the client
    // requires one), is HMAC-MD5 over the packet with it zeroed.
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let packet = &datagram[..length];
    match attributes(packet)
        .into_iter()
        .find(|&(kind, _, _)| kind == MESSAGE_AUTHENTICATOR)
    {
        Some((_, start, len)) => {
            assert_eq!(len, 18);
            let mut zeroed = packet.to_vec();
            zeroed[start + 2..start + 18].fill(0);
            assert_eq!(
                &packet[start + 2..start + 18],
                &hmac_md5(secret, &zeroed)[..],
                "a request passed with a wrong Message-Authenticator"
            );
        }
        None => assert!(
            !require_message_authenticator,
            "an unsigned request passed a client that requires signing"
        ),
    }
    assert_eq!(datagram[0], 1, "only Access-Requests pass");
    let to = &incoming.reply_to;
    assert_eq!(to.identifier, datagram[1]);
    assert_eq!(&to.authenticator[..], &datagram[4..20]);
    assert_eq!(incoming.request.source, source);
    let _ = incoming
        .request
        .password
        .as_ref()
        .map(|p| p.expose_secret().len());

    let answer = match reply >> 1 & 3 {
        0 => Reply::Accept {
            message: message.to_owned(),
        },
        1 => Reply::Reject {
            message: message.to_owned(),
        },
        _ => Reply::Challenge {
            state: incoming
                .request
                .state
                .clone()
                .unwrap_or_else(|| b"state".to_vec()),
            message: message.to_owned(),
        },
    };
    let Ok(bytes) = encode_reply(to, &client, &answer) else {
        // Too long with the message and the Proxy-States: not sent.
        return;
    };
    check_reply(
        &bytes,
        secret,
        to.identifier,
        &to.authenticator,
        &to.proxy_states,
        &answer,
    );
});

/// Puts the right Message-Authenticator into a packet that has one (at an
/// attribute boundary, 18 octets long); returns whether it did.
fn sign_message_authenticator(packet: &mut [u8], secret: &[u8]) -> bool {
    if packet.len() < HEADER_LEN {
        return false;
    }
    let length = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if length < HEADER_LEN || length > packet.len() {
        return false;
    }
    let Some(at) = attributes(&packet[..length])
        .into_iter()
        .find(|&(kind, _, len)| kind == MESSAGE_AUTHENTICATOR && len == 18)
        .map(|(_, start, _)| start + 2)
    else {
        return false;
    };
    packet[at..at + 16].fill(0);
    let mac = hmac_md5(secret, &packet[..length]);
    packet[at..at + 16].copy_from_slice(&mac);
    true
}

/// The attributes of a packet as (type, offset, length), as far as they
/// are well-formed.
fn attributes(packet: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at + 2 <= packet.len() {
        let len = usize::from(packet[at + 1]);
        if len < 2 || at + len > packet.len() {
            break;
        }
        out.push((packet[at], at, len));
        at += len;
    }
    out
}

fn hmac_md5(secret: &[u8], data: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn check_reply(
    bytes: &[u8],
    secret: &[u8],
    identifier: u8,
    request_authenticator: &[u8; 16],
    proxy_states: &[Vec<u8>],
    answer: &Reply,
) {
    let code = match answer {
        Reply::Accept { .. } => 2,
        Reply::Reject { .. } => 3,
        Reply::Challenge { .. } => 11,
    };
    assert_eq!(bytes[0], code);
    assert_eq!(bytes[1], identifier);
    assert!(bytes.len() <= 4096);
    assert_eq!(
        usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        bytes.len()
    );
    let attrs = attributes(bytes);
    let covered: usize = HEADER_LEN + attrs.iter().map(|&(_, _, len)| len).sum::<usize>();
    assert_eq!(covered, bytes.len(), "attributes fill the packet exactly");

    // RFC 2865 §3: MD5(Code+Identifier+Length+Request Authenticator+Attributes+Secret).
    let mut with_request = bytes.to_vec();
    with_request[4..20].copy_from_slice(request_authenticator);
    let mut md5 = Md5::new();
    md5.update(&with_request);
    md5.update(secret);
    let expected: [u8; 16] = md5.finalize().into();
    assert_eq!(&bytes[4..20], &expected[..], "Response Authenticator");

    // RFC 3579 §3.2: first, and over the reply with the Request Authenticator.
    let (kind, start, len) = attrs[0];
    assert_eq!((kind, len), (MESSAGE_AUTHENTICATOR, 18));
    let mac = &bytes[start + 2..start + 18];
    with_request[start + 2..start + 18].fill(0);
    assert_eq!(
        mac,
        &hmac_md5(secret, &with_request)[..],
        "Message-Authenticator"
    );

    let copied: Vec<&[u8]> = attrs
        .iter()
        .filter(|&&(kind, _, _)| kind == PROXY_STATE)
        .map(|&(_, start, len)| &bytes[start + 2..start + len])
        .collect();
    let sent: Vec<&[u8]> = proxy_states.iter().map(Vec::as_slice).collect();
    assert_eq!(copied, sent, "Proxy-States in order");
}
