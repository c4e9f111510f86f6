//! Configuration in layers: defaults → TOML file → `GATEHOUSE_*`
//! environment → command-line flags. Unknown keys are errors, so a typo
//! does not silently leave a default in force.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gatehouse_domain::seal::MasterKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

/// The `delivery` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryChoice {
    None,
    Virtual,
    Gateway,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// `postgres://…` or `sqlite://PATH`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// A file holding the database URL (keeps a password out of the environment).
    pub database_url_file: Option<PathBuf>,
    /// Database connections per instance.
    pub database_max_connections: u32,
    /// SQLite: `normal` (a process crash loses nothing; a power loss at
    /// most the last moments) or `full` (every commit synced).
    pub durability: String,
    /// Mark the session cookie `Secure`; turn on when served over HTTPS.
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `gatehouse=debug,info`.
    pub log_level: String,
    pub session_idle_minutes: i64,
    pub session_absolute_minutes: i64,
    /// Consecutive wrong passwords that lock a user.
    pub lockout_failures: i64,
    /// Length of the first lockout (doubles on repeats, at most a day).
    pub lockout_minutes: i64,
    /// Failed sign-ins allowed per client address per 15 minutes.
    pub address_failure_limit: i64,
    /// Password hashes computed at once (default: the number of CPUs).
    pub hash_concurrency: Option<usize>,
    /// The portal's name in pages.
    pub portal_name: String,
    /// The 256-bit key (64 hex digits) that seals OATH seeds at rest.
    /// Default: `DATA_DIR/master.key`, created on first use. Every instance
    /// sharing a database needs the same key.
    pub master_key: Option<String>,
    /// A file holding the master key (hex).
    pub master_key_file: Option<PathBuf>,
    /// TOTP steps accepted on either side of now (30 s each).
    pub totp_window: i64,
    /// HOTP codes accepted ahead of the expected counter.
    pub hotp_look_ahead: i64,
    /// Consecutive wrong security codes that lock a credential.
    pub credential_max_failures: i64,
    /// Minutes after which a locked credential unlocks by itself (0: only
    /// an administrator unlocks it).
    pub credential_unlock_minutes: i64,
    /// The vendor's validation service (VIP Web Services `Validate`) for
    /// credentials registered as remote; unset = none.
    pub vip_endpoint: Option<String>,
    /// Client certificate chain (PEM) for the validation service.
    pub vip_client_cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub vip_client_key_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the service instead of the system roots.
    pub vip_ca_file: Option<PathBuf>,
    /// Time limit for one validation call, in milliseconds.
    pub vip_timeout_ms: u64,
    /// The portal's address as phones, gateways and the authenticator app
    /// reach it (call instructions, callbacks, pairing links); default
    /// `http://` + `listen`.
    pub public_url: Option<String>,
    /// Texts and calls per user per 15 minutes (PhoneFactor).
    pub phonefactor_sends_per_15_minutes: i64,
    /// Texts and calls per user per day.
    pub phonefactor_sends_per_day: i64,
    /// Texts and calls to one phone number per day.
    pub phonefactor_sends_per_number_per_day: i64,
    /// Texts and calls per customer account per day.
    pub phonefactor_sends_per_account_per_day: i64,
    /// Countries (ISO 3166 alpha-2) never called or texted.
    pub phonefactor_blocked_countries: Vec<String>,
    /// How long a fraud report blocks sign-in.
    pub phonefactor_fraud_block_days: i64,
    /// Default length of a one-time bypass.
    pub phonefactor_bypass_minutes: i64,
    /// Where PhoneFactor's texts and calls go: `gateway` (the `[twilio]` or
    /// `[http_sms]` table), `virtual` (the virtual phone, for demos and
    /// tests) or `none` (PhoneFactor cannot be ordered or activated).
    /// Unset: `gateway` if a gateway table is configured, else `none`.
    /// Never `virtual` unless asked for. Recorded in the database on the
    /// first start; an instance configured differently refuses to start.
    pub delivery: Option<DeliveryChoice>,
    /// Run the delivery worker in this instance.
    pub delivery_worker: bool,
    /// Bearer token a Prometheus scraper sends for `/metrics`
    /// (`GATEHOUSE_METRICS_TOKEN`); without one only this host and
    /// operators read the metrics.
    pub metrics_token: Option<String>,
    /// Where e-mail goes when no SMTP server is configured (`.eml` files);
    /// default `DATA_DIR/outbox`.
    pub mail_outbox_dir: Option<PathBuf>,
    /// The `From:` of e-mail.
    pub mail_from: String,
    /// A Twilio-compatible text and voice gateway (TOML table `[twilio]`).
    #[serde(skip_serializing)]
    pub twilio: Option<gatehouse_delivery::TwilioConfig>,
    /// A generic HTTP SMS gateway (TOML table `[http_sms]`).
    #[serde(skip_serializing)]
    pub http_sms: Option<gatehouse_delivery::HttpSmsConfig>,
    /// An SMTP server for e-mail (TOML table `[smtp]`).
    #[serde(skip_serializing)]
    pub smtp: Option<gatehouse_delivery::SmtpConfig>,
    /// The RADIUS front end (TOML table `[radius]`; off without it).
    #[serde(skip_serializing)]
    pub radius: Option<RadiusConfig>,
}

/// `[radius]`: where the RADIUS front end listens (SPEC §12). Its clients
/// are registered with `gatehouse radius-client create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusConfig {
    /// UDP address, e.g. `0.0.0.0:1812`.
    pub listen: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            database_url_file: None,
            database_max_connections: 16,
            durability: "normal".into(),
            secure_cookies: false,
            trust_forwarded_for: false,
            log_format: "text".into(),
            log_level: "info".into(),
            session_idle_minutes: 30,
            session_absolute_minutes: 12 * 60,
            lockout_failures: 10,
            lockout_minutes: 15,
            address_failure_limit: 100,
            hash_concurrency: None,
            portal_name: "Gatehouse".into(),
            master_key: None,
            master_key_file: None,
            totp_window: 1,
            hotp_look_ahead: 10,
            credential_max_failures: 10,
            credential_unlock_minutes: 0,
            vip_endpoint: None,
            vip_client_cert_file: None,
            vip_client_key_file: None,
            vip_ca_file: None,
            vip_timeout_ms: 10_000,
            public_url: None,
            phonefactor_sends_per_15_minutes: 5,
            phonefactor_sends_per_day: 20,
            phonefactor_sends_per_number_per_day: 20,
            phonefactor_sends_per_account_per_day: 500,
            phonefactor_blocked_countries: Vec::new(),
            phonefactor_fraud_block_days: 90,
            phonefactor_bypass_minutes: 5,
            delivery: None,
            delivery_worker: true,
            metrics_token: None,
            mail_outbox_dir: None,
            mail_from: gatehouse_delivery::DEFAULT_OUTBOX_FROM.into(),
            twilio: None,
            http_sms: None,
            smtp: None,
            radius: None,
        }
    }
}

/// `GATEHOUSE_*` variables that are not settings of the configuration: the
/// data directory (a command-line option) and the log filter.
const NOT_SETTINGS: &[&str] = &["data_dir", "log"];

/// The configuration's keys, from the defaults' serialization (so the list
/// cannot drift from the struct).
fn known_keys() -> Vec<String> {
    use figment::Provider;
    Serialized::defaults(Config::default())
        .data()
        .ok()
        .and_then(|mut d| d.remove(&figment::Profile::Default))
        .map(|dict| dict.into_keys().collect())
        .unwrap_or_default()
}

impl Config {
    /// Loads the layers. `file` is `--config`, else `DATA_DIR/gatehouse.toml`
    /// if it exists.
    pub fn load(data_dir: &Path, file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "configuration file {} not found", f.display());
                fig = fig.merge(Toml::file_exact(f));
            }
            None => {
                let default = data_dir.join("gatehouse.toml");
                if default.exists() {
                    fig = fig.merge(Toml::file_exact(default));
                }
            }
        }
        // The environment is shared with other programs (scripts, the test
        // suite), so only `GATEHOUSE_<KEY>` for a known key is read; other
        // `GATEHOUSE_*` variables draw a warning instead of an error.
        let keys = known_keys();
        for (name, _) in std::env::vars() {
            if let Some(rest) = name.strip_prefix("GATEHOUSE_") {
                let key = rest.to_ascii_lowercase();
                if !keys.contains(&key)
                    && !NOT_SETTINGS.contains(&key.as_str())
                    && !key.starts_with("test_")
                {
                    eprintln!("warning: ignoring {name}: not a Gatehouse setting");
                }
            }
        }
        let env = Env::prefixed("GATEHOUSE_")
            .filter(move |k| keys.iter().any(|known| k == known.as_str()));
        let mut config: Config = fig.merge(env).extract()?;
        if let Some(f) = &config.database_url_file {
            let url = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("reading database_url_file {}: {e}", f.display()))?;
            config.database_url = Some(url.trim().to_owned());
        }
        Ok(config)
    }

    pub fn database_url(&self, data_dir: &Path) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(data_dir)
            .map_err(|e| anyhow::anyhow!("creating data directory {}: {e}", data_dir.display()))?;
        Ok(format!(
            "sqlite://{}",
            data_dir.join("gatehouse.db").display()
        ))
    }

    /// The master key: given, read from a file, or the data directory's
    /// `master.key` (created with owner-only permissions on first use).
    pub fn master_key(&self, data_dir: &Path) -> anyhow::Result<MasterKey> {
        let parse = |hex: &str, from: &str| {
            MasterKey::from_hex(hex.trim()).map_err(|e| {
                anyhow::anyhow!("the master key from {from} is not 64 hex digits: {e}")
            })
        };
        if let Some(k) = &self.master_key {
            return parse(k, "the configuration");
        }
        let path = self
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("master.key"));
        match std::fs::read_to_string(&path) {
            Ok(k) => parse(&k, &path.display().to_string()),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && self.master_key_file.is_none() =>
            {
                std::fs::create_dir_all(data_dir)?;
                let key = MasterKey::generate();
                write_private(&path, &key.to_hex())?;
                tracing::warn!(path = %path.display(), "created a new master key; back it up: without it the stored credential seeds cannot be used");
                Ok(key)
            }
            Err(e) => Err(anyhow::anyhow!(
                "reading the master key {}: {e}",
                path.display()
            )),
        }
    }

    /// The settings of the HTTP front end alone.
    pub fn http(&self) -> gatehouse_web::HttpConfig {
        gatehouse_web::HttpConfig {
            secure_cookies: self.secure_cookies,
            trust_forwarded_for: self.trust_forwarded_for,
        }
    }

    pub fn web(&self, data_dir: &Path) -> anyhow::Result<gatehouse_app::AppConfig> {
        let mut w = gatehouse_app::AppConfig {
            portal_name: self.portal_name.clone(),
            address_failure_limit: self.address_failure_limit,
            ..Default::default()
        };
        w.session.idle_minutes = self.session_idle_minutes;
        w.session.absolute_minutes = self.session_absolute_minutes;
        w.lockout.max_failures = self.lockout_failures;
        w.lockout.base_minutes = self.lockout_minutes;
        if let Some(n) = self.hash_concurrency {
            w.hash_concurrency = n;
        }
        w.master_key = self.master_key(data_dir)?;
        w.oath_policy.totp_window = self.totp_window;
        w.oath_policy.hotp_look_ahead = self.hotp_look_ahead;
        w.credential_max_failures = self.credential_max_failures;
        w.credential_unlock_minutes = self.credential_unlock_minutes;
        if let Some(endpoint) = &self.vip_endpoint {
            let config = gatehouse_vip::VipSoapConfig {
                endpoint: endpoint.clone(),
                client_cert: self.vip_client_cert_file.clone(),
                client_key: self.vip_client_key_file.clone(),
                ca_bundle: self.vip_ca_file.clone(),
                timeout: std::time::Duration::from_millis(self.vip_timeout_ms.max(1)),
            };
            let validator = gatehouse_vip::VipSoapValidator::from_config(&config).map_err(|e| {
                anyhow::anyhow!("the remote validation settings (vip_*) are not usable: {e}")
            })?;
            w.remote_validator = Some(std::sync::Arc::new(validator));
        }
        w.public_url = match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        };
        w.send_limits = gatehouse_domain::phonefactor::SendLimits {
            per_user_15_minutes: self.phonefactor_sends_per_15_minutes,
            per_user_day: self.phonefactor_sends_per_day,
            per_number_day: self.phonefactor_sends_per_number_per_day,
            per_account_day: self.phonefactor_sends_per_account_per_day,
        };
        w.blocked_regions = self.phonefactor_blocked_countries.clone();
        w.phonefactor.fraud_block_days = self.phonefactor_fraud_block_days.max(1);
        w.phonefactor.bypass_default_minutes = self.phonefactor_bypass_minutes.max(1);
        w.delivery_worker = self.delivery_worker;
        w.metrics_token = self.metrics_token.clone().filter(|t| !t.is_empty());
        let gateway_error = |e: gatehouse_delivery::ConfigError| anyhow::anyhow!("{e}");
        let gateway: Option<std::sync::Arc<dyn gatehouse_delivery::Gateway>> =
            match (&self.twilio, &self.http_sms) {
                (Some(_), Some(_)) => {
                    anyhow::bail!(
                        "configure one text gateway: either [twilio] or [http_sms], not both"
                    )
                }
                (Some(t), None) => {
                    let gateway =
                        gatehouse_delivery::TwilioGateway::new(t).map_err(gateway_error)?;
                    w.twilio_webhooks = Some(gateway.webhook_verifier().clone());
                    Some(std::sync::Arc::new(gateway))
                }
                (None, Some(h)) => Some(std::sync::Arc::new(
                    gatehouse_delivery::HttpSmsGateway::new(h).map_err(gateway_error)?,
                )),
                (None, None) => None,
            };
        w.delivery = match (self.delivery, gateway) {
            (Some(DeliveryChoice::Gateway) | None, Some(g)) => gatehouse_app::Delivery::Gateway(g),
            (Some(DeliveryChoice::Gateway), None) => anyhow::bail!(
                "delivery = \"gateway\" needs a text and voice gateway: add a [twilio] or [http_sms] table to the configuration"
            ),
            (Some(DeliveryChoice::Virtual), Some(_)) => anyhow::bail!(
                "delivery = \"virtual\" (or serve --demo) would send texts and calls to the virtual phone although a gateway \
                 ([twilio] or [http_sms]) is configured: remove one of the two"
            ),
            (Some(DeliveryChoice::Virtual), None) => gatehouse_app::Delivery::Virtual,
            (Some(DeliveryChoice::None), Some(_)) => {
                tracing::warn!("delivery = \"none\": the configured gateway is not used");
                w.twilio_webhooks = None;
                gatehouse_app::Delivery::None
            }
            (Some(DeliveryChoice::None) | None, None) => gatehouse_app::Delivery::None,
        };
        let clock: std::sync::Arc<dyn gatehouse_domain::Clock> =
            std::sync::Arc::new(gatehouse_domain::SystemClock);
        w.mailer = Some(match &self.smtp {
            Some(smtp) => std::sync::Arc::new(
                gatehouse_delivery::SmtpMailer::new(smtp, clock).map_err(gateway_error)?,
            ),
            None => std::sync::Arc::new(
                gatehouse_delivery::OutboxMailer::new(
                    self.mail_outbox_dir
                        .clone()
                        .unwrap_or_else(|| data_dir.join("outbox")),
                    &self.mail_from,
                    clock,
                )
                .map_err(gateway_error)?,
            ),
        });
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gatehouse.toml"),
            "listen = \"0.0.0.0:9000\"\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), None).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        std::fs::write(dir.path().join("gatehouse.toml"), "lisen = \"x\"\n").unwrap();
        let err = Config::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn delivery_is_virtual_only_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), None).unwrap();
        assert_eq!(c.delivery, None);
        let w = c.web(dir.path()).unwrap();
        assert_eq!(w.delivery.mode(), gatehouse_app::DeliveryMode::None);
        std::fs::write(
            dir.path().join("gatehouse.toml"),
            "delivery = \"virtual\"\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), None).unwrap();
        let w = c.web(dir.path()).unwrap();
        assert_eq!(w.delivery.mode(), gatehouse_app::DeliveryMode::Virtual);
        std::fs::write(
            dir.path().join("gatehouse.toml"),
            "delivery = \"gateway\"\n",
        )
        .unwrap();
        let err = Config::load(dir.path(), None)
            .unwrap()
            .web(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("[twilio]"), "{err}");
        std::fs::write(dir.path().join("gatehouse.toml"), "delivery = \"virtul\"\n").unwrap();
        let err = Config::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("virtul"), "{err}");
    }

    #[test]
    fn known_keys_follow_the_struct() {
        let keys = known_keys();
        assert!(keys.contains(&"listen".to_owned()));
        assert!(keys.contains(&"database_url".to_owned()));
        // Settable from the environment (GATEHOUSE_METRICS_TOKEN).
        assert!(keys.contains(&"metrics_token".to_owned()));
        assert!(
            keys.contains(&"delivery".to_owned()),
            "GATEHOUSE_DELIVERY is read"
        );
        assert!(
            keys.contains(&"hash_concurrency".to_owned()),
            "None-valued keys are listed too: {keys:?}"
        );
    }
}
