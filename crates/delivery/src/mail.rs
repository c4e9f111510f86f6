//! Mailers: [`SmtpMailer`] (an SMTP relay, with `lettre`) and
//! [`OutboxMailer`] (`.eml` files in a directory: the default when no SMTP
//! server is configured, and handy in development).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_domain::clock::Clock;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{BoxFuture, ConfigError, DeliveryError, Mail, Mailer};

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text. Only for a relay on the same host or a trusted network;
    /// credentials are refused with it unless the host is loopback.
    None,
    /// Plain connection upgraded with STARTTLS (RFC 3207), which is
    /// required: a server that does not offer it is an error. Default port
    /// 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", RFC 8314 §3.3). Default port
    /// 465.
    Tls,
}

/// Settings of an [`SmtpMailer`]. Unknown keys are an error.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its certificate must carry).
    pub host: String,
    /// Default: 25 for `none`, 587 for `starttls`, 465 for `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    /// User name for SMTP AUTH (PLAIN or LOGIN), with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Never logged.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The sender, `Gatehouse <no-reply@example.com>` or a bare address.
    pub from: String,
    /// Default `starttls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Limit for each SMTP command, seconds. Default 30.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    30
}

impl SmtpConfig {
    /// The port that will be used.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

/// Sends e-mail through an SMTP relay. Cheap to share (it keeps a pool of
/// connections).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks the settings and builds the mailer. Nothing is connected
    /// until the first mail. Must be called inside a tokio runtime (the
    /// connection pool starts a task); outside one it answers an error.
    pub fn new(config: &SmtpConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::new(
                "smtp",
                "the SMTP mailer must be built inside a tokio runtime",
            ));
        }
        let host = config.host.trim();
        if host.is_empty() {
            return Err(ConfigError::new("smtp.host", "must not be empty"));
        }
        let from: Mailbox =
            config.from.trim().parse().map_err(|e| {
                ConfigError::new("smtp.from", format!("not an e-mail address: {e}"))
            })?;
        if config.timeout_secs == 0 {
            return Err(ConfigError::new("smtp.timeout_secs", "must be more than 0"));
        }
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]");
        let credentials = match (&config.username, &config.password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.expose_secret().to_owned())),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    "smtp.username",
                    "username and password go together",
                ));
            }
        };
        if credentials.is_some() && config.tls == SmtpTls::None && !loopback {
            return Err(ConfigError::new(
                "smtp.tls",
                "refusing to send the SMTP password in plain text: use starttls or tls",
            ));
        }
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let params = TlsParameters::new(host.to_owned())
                    .map_err(|e| ConfigError::new("smtp.tls", format!("cannot set up TLS: {e}")))?;
                if config.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.effective_port())
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        Ok(Self {
            transport: builder.build(),
            from,
            host: host.to_owned(),
            clock,
        })
    }

    async fn deliver(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, mail, system_time(self.clock.as_ref()))?;
        let result = self.transport.send(message).await;
        match result {
            Ok(_) => {
                tracing::info!(
                    mailer = "smtp",
                    host = self.host,
                    to = mail.to,
                    body_len = mail.body.len(),
                    "mail sent"
                );
                Ok(())
            }
            Err(e) => {
                let error = if e.is_permanent() {
                    DeliveryError::Rejected(format!("the SMTP server refused the mail: {e}"))
                } else {
                    DeliveryError::Unavailable(format!("SMTP with {} failed: {e}", self.host))
                };
                tracing::warn!(mailer = "smtp", host = self.host, to = mail.to, %error, "mail not sent");
                Err(error)
            }
        }
    }
}

impl Mailer for SmtpMailer {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.deliver(mail))
    }
}

/// Writes each mail as an RFC 5322 message (`.eml`, readable by any mail
/// client) into a directory, instead of sending it.
///
/// Files are named `{unix millis}-{sequence}-{random}.eml`, so a listing in
/// name order is in time order, and two processes never collide. Each is
/// written to a hidden temporary file and renamed into place, so a reader
/// never sees half a mail.
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
    clock: Arc<dyn Clock>,
    sequence: AtomicU64,
}

impl fmt::Debug for OutboxMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMailer")
            .field("dir", &self.dir)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// The sender of [`OutboxMailer`] mail when none is configured.
pub const DEFAULT_OUTBOX_FROM: &str = "Gatehouse <gatehouse@localhost>";

impl OutboxMailer {
    /// A mailer writing into `dir` (created at the first mail if missing).
    /// `from` is the `From:` header, e.g. [`DEFAULT_OUTBOX_FROM`].
    pub fn new(
        dir: impl Into<PathBuf>,
        from: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let from: Mailbox = from
            .trim()
            .parse()
            .map_err(|e| ConfigError::new("outbox.from", format!("not an e-mail address: {e}")))?;
        Ok(Self {
            dir: dir.into(),
            from,
            clock,
            sequence: AtomicU64::new(0),
        })
    }

    /// The directory mails are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn write(&self, mail: &Mail) -> Result<(), DeliveryError> {
        let now = self.clock.now();
        let message = build_message(&self.from, mail, system_time(self.clock.as_ref()))?;
        let bytes = message.formatted();
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let mut random = [0u8; 4];
        getrandom::fill(&mut random)
            .map_err(|e| DeliveryError::Unavailable(format!("no randomness: {e}")))?;
        let name = format!(
            "{:013}-{sequence:06}-{:08x}.eml",
            now.millis().max(0),
            u32::from_be_bytes(random)
        );
        let dir = self.dir.clone();
        let path = self.dir.join(&name);
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(|e| DeliveryError::Unavailable(format!("outbox writer failed: {e}")))?
            .map_err(|e| {
                DeliveryError::Unavailable(format!("cannot write {}: {e}", target.display()))
            })?;
        tracing::info!(
            mailer = "outbox",
            to = mail.to,
            subject_len = mail.subject.len(),
            body_len = mail.body.len(),
            path = %path.display(),
            "mail written to the outbox"
        );
        Ok(())
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(name))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

impl Mailer for OutboxMailer {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.write(mail))
    }
}

fn system_time(clock: &dyn Clock) -> SystemTime {
    let millis = u64::try_from(clock.now().millis()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// A plain-text UTF-8 message; lettre picks the transfer encoding and
/// encodes non-ASCII subjects (RFC 2047).
fn build_message(from: &Mailbox, mail: &Mail, date: SystemTime) -> Result<Message, DeliveryError> {
    let to: Mailbox = mail.to.trim().parse().map_err(|e| {
        DeliveryError::Rejected(format!("{:?} is not an e-mail address: {e}", mail.to))
    })?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .date(date)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| DeliveryError::Rejected(format!("cannot build the mail: {e}")))
}
