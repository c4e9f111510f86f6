//! The application state: configuration, the store, the clock, the
//! password-hashing pool and the delivery worker's wake-up, shared by every
//! front end (pages, API, CLI, and protocol servers to come).

use gatehouse_domain::Clock;
use gatehouse_domain::lockout::LockoutPolicy;
use gatehouse_domain::session::SessionPolicy;
use gatehouse_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, mpsc};

/// How texts and calls leave Gatehouse (SPEC §10), as recorded in the
/// database: an instance whose mode differs from the recorded one refuses
/// to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// No delivery: PhoneFactor cannot be ordered or activated.
    None,
    /// The virtual phone (`serve --demo`, `delivery = "virtual"`).
    Virtual,
    /// A text and voice gateway (`[twilio]` or `[http_sms]`).
    Gateway,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::None => "none",
            DeliveryMode::Virtual => "virtual",
            DeliveryMode::Gateway => "gateway",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(DeliveryMode::None),
            "virtual" => Some(DeliveryMode::Virtual),
            "gateway" => Some(DeliveryMode::Gateway),
            _ => None,
        }
    }
}

impl std::fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where texts and calls go. There is no default to the virtual phone: it
/// is chosen explicitly, or nothing is delivered.
#[derive(Clone, Default)]
pub enum Delivery {
    /// Nothing is delivered; PhoneFactor cannot be ordered or activated.
    #[default]
    None,
    /// Texts, calls and app notifications go to `/virtual-phone`, shown to
    /// the user they are for and to operators.
    Virtual,
    /// A text and voice gateway.
    Gateway(Arc<dyn gatehouse_delivery::Gateway>),
}

impl Delivery {
    pub fn mode(&self) -> DeliveryMode {
        match self {
            Delivery::None => DeliveryMode::None,
            Delivery::Virtual => DeliveryMode::Virtual,
            Delivery::Gateway(_) => DeliveryMode::Gateway,
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Delivery::Virtual)
    }
}

/// What to tell someone who wants PhoneFactor while nothing delivers texts
/// and calls.
pub const DELIVERY_NOT_CONFIGURED: &str = "PhoneFactor is not available: no delivery for texts and calls is configured. \
     The provider's operator configures a text and voice gateway ([twilio] or [http_sms] in gatehouse.toml), \
     or for a demo the virtual phone (delivery = \"virtual\", GATEHOUSE_DELIVERY=virtual or serve --demo), then restarts Gatehouse.";

/// Settings of the application (the binary fills them from configuration;
/// every front end reads the same).
#[derive(Clone)]
pub struct AppConfig {
    /// The portal's name in page titles and messages.
    pub portal_name: String,
    pub session: SessionPolicy,
    pub lockout: LockoutPolicy,
    /// Failed sign-ins allowed per client address per window.
    pub address_failure_limit: i64,
    pub address_window_seconds: i64,
    /// Password hashes computed at once; the rest wait their turn.
    pub hash_concurrency: usize,
    /// The key that seals OATH seeds and keys temporary-code digests.
    pub master_key: gatehouse_domain::seal::MasterKey,
    /// TOTP window and HOTP look-ahead.
    pub oath_policy: gatehouse_domain::oath::ValidationPolicy,
    /// Consecutive wrong security codes that lock a credential.
    pub credential_max_failures: i64,
    /// Minutes after which a locked credential unlocks by itself; 0 = only
    /// an administrator unlocks it.
    pub credential_unlock_minutes: i64,
    /// The vendor's validation service, for credentials marked `remote`.
    pub remote_validator: Option<Arc<dyn gatehouse_vip::CredentialValidator>>,
    /// PhoneFactor's timings (code lifetime, fraud block, bypass).
    pub phonefactor: gatehouse_domain::phonefactor::PhoneFactorPolicy,
    /// Limits on texts and calls per user, number and account.
    pub send_limits: gatehouse_domain::phonefactor::SendLimits,
    /// Countries (ISO 3166 alpha-2) never called or texted.
    pub blocked_regions: Vec<String>,
    /// The portal's address as the outside world reaches it, for call
    /// instructions, callbacks and pairing links (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Where texts and calls go: nowhere (the default), the virtual phone,
    /// or a gateway.
    pub delivery: Delivery,
    /// Checks the signatures of Twilio's callbacks (the auth token, and the
    /// webhook keys if any), if Twilio is the gateway.
    pub twilio_webhooks: Option<gatehouse_delivery::WebhookVerifier>,
    /// Sends e-mail; `None` only logs each message.
    pub mailer: Option<Arc<dyn gatehouse_delivery::Mailer>>,
    /// Send queued texts, calls and e-mail from this process (the worker,
    /// and requests sending what they queued). Off holds the queue, e.g. on
    /// an instance that should not send.
    pub delivery_worker: bool,
    /// A bearer token for Prometheus scrapers of `/metrics`; without one,
    /// only this host (loopback) and operators read the metrics.
    pub metrics_token: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            portal_name: "Gatehouse".into(),
            session: SessionPolicy::default(),
            lockout: LockoutPolicy::default(),
            address_failure_limit: 100,
            address_window_seconds: 15 * 60,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            master_key: gatehouse_domain::seal::MasterKey::generate(),
            oath_policy: gatehouse_domain::oath::ValidationPolicy::default(),
            credential_max_failures: 10,
            credential_unlock_minutes: 0,
            remote_validator: None,
            phonefactor: Default::default(),
            send_limits: Default::default(),
            blocked_regions: Vec::new(),
            public_url: "http://127.0.0.1:8080".into(),
            delivery: Delivery::None,
            twilio_webhooks: None,
            mailer: None,
            delivery_worker: true,
            metrics_token: None,
        }
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: AppConfig,
    pub metrics: Option<PrometheusHandle>,
    hashing: mpsc::SyncSender<HashJob>,
    hashing_queued: Arc<AtomicI64>,
    /// Wakes the delivery worker when a message is queued.
    pub delivery_wake: Arc<tokio::sync::Notify>,
    /// API clients recently authenticated, by secret digest (see
    /// `service::validate::authenticate_client`).
    pub(crate) api_clients:
        Mutex<std::collections::HashMap<String, (i64, String, std::time::Instant)>>,
    /// RADIUS sign-ins waiting for their second factor, by `State`
    /// (`service::radius`).
    pub(crate) radius_pending: crate::service::radius::Pending,
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Password hashes waiting for a hashing thread before new ones are refused.
const HASH_QUEUE: usize = 256;

/// Starts `n` long-lived threads that run password hashing jobs.
///
/// Dedicated threads rather than `spawn_blocking`: Argon2id allocates 19 MiB
/// per hash, and the allocator keeps such a block in a per-thread arena
/// after it is freed. Tokio's blocking pool runs jobs on many different
/// threads, so the process would keep one block per thread it ever used
/// (hundreds of MiB under load); a fixed set of threads keeps it to `n`.
fn start_hashers(n: usize, queued: Arc<AtomicI64>) -> mpsc::SyncSender<HashJob> {
    let (tx, rx) = mpsc::sync_channel::<HashJob>(HASH_QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        let queued = queued.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("password-hash-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let left = queued.fetch_sub(1, Ordering::Relaxed) - 1;
                    metrics::gauge!("gatehouse_password_hash_queue").set(left as f64);
                    job();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    tx
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: AppConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let queued = Arc::new(AtomicI64::new(0));
        let hashing = start_hashers(config.hash_concurrency.max(1), queued.clone());
        Self(Arc::new(Inner {
            store,
            clock,
            config,
            metrics,
            hashing,
            hashing_queued: queued,
            delivery_wake: Arc::new(tokio::sync::Notify::new()),
            api_clients: Mutex::new(std::collections::HashMap::new()),
            radius_pending: Default::default(),
        }))
    }

    pub fn now(&self) -> gatehouse_domain::Timestamp {
        self.clock.now()
    }

    /// Runs a CPU-heavy password operation on one of the hashing threads,
    /// at most `hash_concurrency` at once, so the async workers keep serving
    /// other requests (SPEC §9: `/healthz` stays fast while sign-ins saturate
    /// the CPU). When the queue is full the request is refused with 429.
    pub async fn hashing<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, crate::error::AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = tx.send(f());
        });
        let queued = self.hashing_queued.fetch_add(1, Ordering::Relaxed) + 1;
        if self.hashing.try_send(job).is_err() {
            self.hashing_queued.fetch_sub(1, Ordering::Relaxed);
            return Err(crate::error::AppError::TooManyRequests {
                message: "The server is busy; please try again in a moment.".into(),
                retry_after: 1,
            });
        }
        metrics::gauge!("gatehouse_password_hash_queue").set(queued as f64);
        rx.await.map_err(|_| {
            crate::error::AppError::Internal("a password hashing thread stopped".into())
        })
    }
}
