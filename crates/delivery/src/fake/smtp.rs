//! [`FakeSmtp`]: a plain-text SMTP server (RFC 5321 subset: EHLO/HELO,
//! AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that keeps what it
//! receives. No TLS: use it with `SmtpTls::None`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::lock;
use crate::mail::{SmtpConfig, SmtpTls};

/// Largest message the fake accepts.
const MAX_MESSAGE: usize = 1024 * 1024;

/// One message as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address.
    pub mail_from: String,
    /// The accepted `RCPT TO` addresses.
    pub rcpt_to: Vec<String>,
    /// The message (headers and body), CRLF line ends, dot-stuffing undone.
    pub data: String,
    /// The user name of a successful `AUTH PLAIN`, if any.
    pub auth_user: Option<String>,
}

#[derive(Debug, Default)]
struct FakeState {
    mails: Vec<ReceivedMail>,
    rejected: HashSet<String>,
    credentials: Option<(String, String)>,
}

/// The running fake. Dropping it stops accepting connections.
pub struct FakeSmtp {
    port: u16,
    state: Arc<Mutex<FakeState>>,
    accept_loop: JoinHandle<()>,
}

impl std::fmt::Debug for FakeSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmtp")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl FakeSmtp {
    /// Starts the fake on `127.0.0.1:0`. Needs a tokio runtime; panics if it
    /// cannot bind.
    pub async fn start() -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("fake SMTP: bind: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let state = Arc::new(Mutex::new(FakeState::default()));
        let shared = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = session(stream, state).await;
                });
            }
        });
        Self {
            port,
            state,
            accept_loop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A configuration aimed at this fake (`127.0.0.1`, no TLS).
    pub fn config(&self, from: &str) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port: Some(self.port),
            username: None,
            password: None,
            from: from.to_owned(),
            tls: SmtpTls::None,
            timeout_secs: 5,
        }
    }

    /// Require `AUTH PLAIN` with these credentials before `MAIL`.
    pub fn require_auth(&self, username: &str, password: &str) {
        lock(&self.state).credentials = Some((username.to_owned(), password.to_owned()));
    }

    /// `RCPT TO` this address answers `550` (a permanent refusal).
    pub fn reject_recipient(&self, address: &str) {
        lock(&self.state)
            .rejected
            .insert(address.to_ascii_lowercase());
    }

    /// The messages received, in order.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.state).mails.clone()
    }
}

/// The address inside `FROM:<…>` / `TO:<…>`.
fn angle_address(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].to_owned())
}

async fn session(stream: TcpStream, state: Arc<Mutex<FakeState>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 fake.smtp ESMTP ready\r\n").await?;
    let mut auth_user: Option<String> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => "250-fake.smtp\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SIZE 1048576".into(),
            "HELO" => "250 fake.smtp".into(),
            "AUTH" => {
                let mut parts = arg.split_whitespace();
                let mechanism = parts.next().unwrap_or_default();
                let initial = parts.next();
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    "504 only PLAIN".into()
                } else {
                    let encoded = match initial {
                        Some(i) => i.to_owned(),
                        None => {
                            write.write_all(b"334 \r\n").await?;
                            let mut answer = String::new();
                            lines.read_line(&mut answer).await?;
                            answer.trim().to_owned()
                        }
                    };
                    // RFC 4616: [authzid] NUL authcid NUL passwd
                    let decoded = BASE64.decode(encoded).unwrap_or_default();
                    let fields: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                    let expected = lock(&state).credentials.clone();
                    match (fields.as_slice(), expected) {
                        ([_, user, pass], Some((u, p)))
                            if *user == u.as_bytes() && *pass == p.as_bytes() =>
                        {
                            auth_user = Some(u);
                            "235 2.7.0 authenticated".into()
                        }
                        ([_, user, _], None) => {
                            auth_user = Some(String::from_utf8_lossy(user).into_owned());
                            "235 2.7.0 authenticated".into()
                        }
                        _ => "535 5.7.8 bad credentials".into(),
                    }
                }
            }
            "MAIL" => {
                let needs_auth = lock(&state).credentials.is_some();
                if needs_auth && auth_user.is_none() {
                    "530 5.7.0 authentication required".into()
                } else {
                    mail_from = angle_address(arg);
                    rcpt_to.clear();
                    "250 2.1.0 ok".into()
                }
            }
            "RCPT" => match (angle_address(arg), &mail_from) {
                (_, None) => "503 5.5.1 MAIL first".into(),
                (None, _) => "501 5.1.3 bad address".into(),
                (Some(a), Some(_)) => {
                    if lock(&state).rejected.contains(&a.to_ascii_lowercase()) {
                        "550 5.1.1 no such user".into()
                    } else {
                        rcpt_to.push(a);
                        "250 2.1.5 ok".into()
                    }
                }
            },
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    "503 5.5.1 RCPT first".into()
                } else {
                    write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if lines.read_line(&mut l).await? == 0 {
                            return Ok(());
                        }
                        if l == ".\r\n" || l == ".\n" {
                            break;
                        }
                        // RFC 5321 §4.5.2: undo dot-stuffing.
                        let l = l.strip_prefix('.').unwrap_or(&l);
                        data.push_str(l);
                        if data.len() > MAX_MESSAGE {
                            write.write_all(b"552 5.3.4 too big\r\n").await?;
                            return Ok(());
                        }
                    }
                    lock(&state).mails.push(ReceivedMail {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        data,
                        auth_user: auth_user.clone(),
                    });
                    "250 2.0.0 queued".into()
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 not implemented".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}
