//! A small RADIUS client, for tests and benchmarks (not for production
//! use: one request at a time per [`Connection`], no retries of its own).
//!
//! It builds Access-Requests with PAP (User-Password hidden with the shared
//! secret, RFC 2865 §5.2), optional State, NAS-IP-Address and Proxy-States,
//! and a Message-Authenticator that is right, absent or deliberately wrong;
//! it checks the Response Authenticator (RFC 2865 §3) and the
//! Message-Authenticator (RFC 3579 §3.2) of replies.
//!
//! ```no_run
//! # async fn example() -> Result<(), gatehouse_radius::client::ClientError> {
//! use std::time::Duration;
//! use gatehouse_radius::client::{AccessRequest, Code, Connection};
//!
//! let server = "127.0.0.1:1812".parse().unwrap();
//! let connection = Connection::open(server, b"secret", Duration::from_secs(3)).await?;
//! let response = connection.exchange(&AccessRequest::new("alice").password("123456")).await?;
//! assert_eq!(response.code, Code::Accept);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use radius::core::avp::AVP;
use radius::core::code::Code as PacketCode;
use radius::core::packet::Packet;
use radius::core::rfc2865;
use tokio::net::UdpSocket;
use zeroize::Zeroizing;

use crate::authenticators::{
    self, AUTHENTICATOR, HEADER_LEN, MESSAGE_AUTHENTICATOR_LEN, MESSAGE_AUTHENTICATOR_TYPE,
    Placement,
};
use crate::request::MAX_PACKET_LEN;

/// What an Access-Request carries as Message-Authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageAuthenticator {
    /// Computed with the shared secret (first attribute).
    #[default]
    Correct,
    /// None (old gear).
    Absent,
    /// Present, but one bit off (what a wrong secret looks like).
    Wrong,
}

/// An Access-Request to be built.
#[derive(Debug, Clone, Default)]
pub struct AccessRequest {
    pub user_name: String,
    /// PAP password, hidden with the secret when encoded (at most 128 octets).
    pub password: Option<String>,
    pub state: Option<Vec<u8>>,
    pub nas_ip_address: Option<Ipv4Addr>,
    /// Proxy-State attributes, in order.
    pub proxy_states: Vec<Vec<u8>>,
    pub message_authenticator: MessageAuthenticator,
    /// The Identifier; random when `None`.
    pub identifier: Option<u8>,
}

impl AccessRequest {
    pub fn new(user_name: impl Into<String>) -> Self {
        Self {
            user_name: user_name.into(),
            ..Self::default()
        }
    }

    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    pub fn state(mut self, state: impl Into<Vec<u8>>) -> Self {
        self.state = Some(state.into());
        self
    }

    pub fn nas_ip_address(mut self, address: Ipv4Addr) -> Self {
        self.nas_ip_address = Some(address);
        self
    }

    pub fn proxy_state(mut self, proxy_state: impl Into<Vec<u8>>) -> Self {
        self.proxy_states.push(proxy_state.into());
        self
    }

    pub fn message_authenticator(mut self, message_authenticator: MessageAuthenticator) -> Self {
        self.message_authenticator = message_authenticator;
        self
    }

    pub fn identifier(mut self, identifier: u8) -> Self {
        self.identifier = Some(identifier);
        self
    }

    /// The packet, with a fresh random Request Authenticator.
    pub fn encode(&self, secret: &[u8]) -> Result<EncodedRequest, ClientError> {
        let identifier = match self.identifier {
            Some(identifier) => identifier,
            None => getrandom::u32()
                .map_err(|error| ClientError::Encode(error.to_string()))?
                .to_be_bytes()[0],
        };
        // The radius crate draws the Request Authenticator from rand's
        // thread RNG (a CSPRNG), as RFC 2865 §3 asks.
        let mut packet = Packet::new_with_identifier(PacketCode::AccessRequest, secret, identifier);
        let signed = self.message_authenticator != MessageAuthenticator::Absent;
        if signed {
            packet.add(AVP::from_bytes(
                MESSAGE_AUTHENTICATOR_TYPE,
                &[0; MESSAGE_AUTHENTICATOR_LEN],
            ));
        }
        packet.add(AVP::from_string(rfc2865::USER_NAME_TYPE, &self.user_name));
        if let Some(password) = &self.password {
            rfc2865::add_user_password(&mut packet, password.as_bytes())
                .map_err(|error| ClientError::Encode(error.to_string()))?;
        }
        if let Some(state) = &self.state {
            rfc2865::add_state(&mut packet, state);
        }
        if let Some(address) = &self.nas_ip_address {
            rfc2865::add_nas_ip_address(&mut packet, address);
        }
        for proxy_state in &self.proxy_states {
            rfc2865::add_proxy_state(&mut packet, proxy_state);
        }
        let mut bytes = packet
            .encode()
            .map_err(|error| ClientError::Encode(error.to_string()))?;
        if signed {
            let at = HEADER_LEN + 2;
            authenticators::sign_message_authenticator(secret, &mut bytes, at);
            if self.message_authenticator == MessageAuthenticator::Wrong {
                bytes[at] ^= 1;
            }
        }
        Ok(EncodedRequest { bytes })
    }
}

/// An Access-Request as sent; the same bytes sent twice are a retransmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRequest {
    bytes: Vec<u8>,
}

impl EncodedRequest {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn identifier(&self) -> u8 {
        self.bytes[1]
    }

    pub fn authenticator(&self) -> [u8; 16] {
        let mut authenticator = [0; 16];
        authenticator.copy_from_slice(&self.bytes[AUTHENTICATOR]);
        authenticator
    }
}

/// The kind of reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Accept,
    Reject,
    Challenge,
}

/// A reply whose authenticators were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: Code,
    pub identifier: u8,
    /// Every Reply-Message, in order.
    pub reply_messages: Vec<String>,
    pub state: Option<Vec<u8>>,
    pub class: Option<Vec<u8>>,
    pub filter_id: Option<String>,
    pub proxy_states: Vec<Vec<u8>>,
    /// Whether it carried a Message-Authenticator (checked if so).
    pub message_authenticator: bool,
    /// The reply as received.
    pub bytes: Vec<u8>,
}

impl Response {
    /// The Reply-Messages joined (a long message comes split).
    pub fn message(&self) -> String {
        self.reply_messages.concat()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot encode the request: {0}")]
    Encode(String),
    #[error("network: {0}")]
    Io(#[from] io::Error),
    #[error("no reply in time")]
    Timeout,
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("reply to another request (Identifier {0})")]
    OtherIdentifier(u8),
    #[error("unexpected reply code {0}")]
    UnexpectedCode(u8),
    #[error("wrong Response Authenticator")]
    BadResponseAuthenticator,
    #[error("wrong Message-Authenticator")]
    BadMessageAuthenticator,
}

/// Checks `reply` against the request it answers and reads it.
pub fn verify_reply(
    request: &EncodedRequest,
    reply: &[u8],
    secret: &[u8],
) -> Result<Response, ClientError> {
    if reply.len() < HEADER_LEN {
        return Err(ClientError::Malformed("shorter than a header".into()));
    }
    let length = usize::from(u16::from_be_bytes([reply[2], reply[3]]));
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&length) || length > reply.len() {
        return Err(ClientError::Malformed(format!(
            "Length {length} for {} octets",
            reply.len()
        )));
    }
    let reply = &reply[..length];
    if reply[1] != request.identifier() {
        return Err(ClientError::OtherIdentifier(reply[1]));
    }
    let code = match reply[0] {
        2 => Code::Accept,
        3 => Code::Reject,
        11 => Code::Challenge,
        other => return Err(ClientError::UnexpectedCode(other)),
    };
    let request_authenticator = request.authenticator();
    if !authenticators::verify_response_authenticator(secret, reply, &request_authenticator) {
        return Err(ClientError::BadResponseAuthenticator);
    }
    let placement = authenticators::find_message_authenticator(reply)
        .map_err(|error| ClientError::Malformed(error.to_string()))?;
    if let Placement::At(at) = placement {
        // RFC 3579 §3.2: over the reply with the Request Authenticator.
        let mut with_request = reply.to_vec();
        with_request[AUTHENTICATOR].copy_from_slice(&request_authenticator);
        if !authenticators::verify_message_authenticator(secret, &with_request, at) {
            return Err(ClientError::BadMessageAuthenticator);
        }
    }
    let packet =
        Packet::decode(reply, secret).map_err(|error| ClientError::Malformed(error.to_string()))?;
    let text = |error: radius::core::avp::AVPError| ClientError::Malformed(error.to_string());
    Ok(Response {
        code,
        identifier: reply[1],
        reply_messages: rfc2865::lookup_all_reply_message(&packet).map_err(text)?,
        state: rfc2865::lookup_state(&packet),
        class: rfc2865::lookup_class(&packet),
        filter_id: rfc2865::lookup_filter_id(&packet)
            .transpose()
            .map_err(text)?,
        proxy_states: rfc2865::lookup_all_proxy_state(&packet),
        message_authenticator: placement != Placement::Absent,
        bytes: reply.to_vec(),
    })
}

/// A UDP socket talking to one RADIUS server with one shared secret.
pub struct Connection {
    socket: UdpSocket,
    server: SocketAddr,
    secret: Zeroizing<Vec<u8>>,
    timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.socket.local_addr().ok())
            .field("server", &self.server)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Binds an ephemeral port on the unspecified address of the server's
    /// family (the loopback for a loopback server).
    pub async fn open(server: SocketAddr, secret: &[u8], timeout: Duration) -> io::Result<Self> {
        let local: SocketAddr = match server {
            SocketAddr::V4(v4) if v4.ip().is_loopback() => (*v4.ip(), 0).into(),
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(v6) if v6.ip().is_loopback() => (*v6.ip(), 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        Self::open_from(local, server, secret, timeout).await
    }

    /// Binds `local` (e.g. `127.0.0.2:0`, to be another NAS).
    pub async fn open_from(
        local: SocketAddr,
        server: SocketAddr,
        secret: &[u8],
        timeout: Duration,
    ) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind(local).await?,
            server,
            secret: Zeroizing::new(secret.to_vec()),
            timeout,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Encodes `request` with this connection's secret.
    pub fn encode(&self, request: &AccessRequest) -> Result<EncodedRequest, ClientError> {
        request.encode(&self.secret)
    }

    /// Sends the bytes (again, for a retransmission).
    pub async fn send(&self, request: &EncodedRequest) -> Result<(), ClientError> {
        self.socket.send_to(request.bytes(), self.server).await?;
        Ok(())
    }

    /// Sends any bytes at all (malformed packets, other codes).
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), ClientError> {
        self.socket.send_to(bytes, self.server).await?;
        Ok(())
    }

    /// The next datagram from the server, as it came, within the timeout.
    pub async fn receive_raw(&self) -> Result<Vec<u8>, ClientError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut buffer = vec![0u8; MAX_PACKET_LEN + 1];
        loop {
            let (len, from) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buffer))
                .await
                .map_err(|_| ClientError::Timeout)??;
            if from == self.server {
                return Ok(buffer[..len].to_vec());
            }
        }
    }

    /// The server's reply to `request`, checked, within the timeout.
    /// Replies to other requests (other Identifiers) are skipped.
    pub async fn receive(&self, request: &EncodedRequest) -> Result<Response, ClientError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let bytes = tokio::time::timeout(remaining, self.receive_raw())
                .await
                .map_err(|_| ClientError::Timeout)??;
            match verify_reply(request, &bytes, &self.secret) {
                Err(ClientError::OtherIdentifier(_)) => continue,
                result => return result,
            }
        }
    }

    /// Encodes, sends once and waits for the checked reply.
    pub async fn exchange(&self, request: &AccessRequest) -> Result<Response, ClientError> {
        let encoded = self.encode(request)?;
        self.send(&encoded).await?;
        self.receive(&encoded).await
    }
}
