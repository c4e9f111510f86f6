//! A server on 127.0.0.1:0 with a scripted handler, and a metrics recorder
//! that counts.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_radius::client::Connection;
use gatehouse_radius::{Client, Handler, Reply, ReplyFuture, Request, serve};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use secrecy::ExposeSecret;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &[u8] = b"testing123";
pub const LOCALHOST: [u8; 4] = [127, 0, 0, 1];
/// How long a test waits for an answer that is not coming.
pub const NO_ANSWER: Duration = Duration::from_millis(700);

/// The NAS at 127.0.0.1: Message-Authenticator required, Class and Filter-Id.
pub fn nas() -> Client {
    let mut client = Client::new(1, "vpn", SECRET.to_vec());
    client.class = Some(b"gold".to_vec());
    client.filter_id = Some("vpn-users".into());
    client.timeout = Duration::from_secs(5);
    client
}

/// The scripted decisions:
/// * alice/right → Accept "welcome alice";
/// * bob/right → Challenge (state "bob-1"), then bob/123456 with that
///   state → Accept "welcome bob";
/// * slow → Accept after 2 s; forever → never decides;
/// * long → Reject with a 600-octet message;
/// * anything else → Reject "denied".
#[derive(Default)]
pub struct TestHandler {
    clients: HashMap<IpAddr, Arc<Client>>,
    calls: Mutex<Vec<String>>,
}

impl TestHandler {
    /// How many times the handler was asked about `user`.
    pub fn calls(&self, user: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|name| *name == user)
            .count()
    }
}

impl Handler for TestHandler {
    fn client(&self, source: IpAddr) -> Option<Arc<Client>> {
        self.clients.get(&source).cloned()
    }

    fn access(&self, _client: Arc<Client>, request: Request) -> ReplyFuture {
        self.calls.lock().unwrap().push(request.user_name.clone());
        Box::pin(async move {
            let password = request
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned());
            match (
                request.user_name.as_str(),
                password.as_deref(),
                request.state.as_deref(),
            ) {
                ("alice", Some("right"), _) => Reply::Accept {
                    message: "welcome alice".into(),
                },
                ("bob", Some("right"), None) => Reply::Challenge {
                    state: b"bob-1".to_vec(),
                    message: "enter the code".into(),
                },
                ("bob", Some("123456"), Some(b"bob-1")) => Reply::Accept {
                    message: "welcome bob".into(),
                },
                ("slow", ..) => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Reply::Accept {
                        message: "slow but sure".into(),
                    }
                }
                ("forever", ..) => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Reply::Accept {
                        message: "too late".into(),
                    }
                }
                ("long", ..) => Reply::Reject {
                    message: "0123456789".repeat(60),
                },
                _ => Reply::Reject {
                    message: "denied".into(),
                },
            }
        })
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handler: Arc<TestHandler>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves the given clients, by address.
    pub async fn start(clients: Vec<(IpAddr, Client)>) -> Self {
        let handler = Arc::new(TestHandler {
            clients: clients
                .into_iter()
                .map(|(ip, client)| (ip, Arc::new(client)))
                .collect(),
            calls: Mutex::default(),
        });
        let socket = UdpSocket::bind(SocketAddr::from((LOCALHOST, 0)))
            .await
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(socket, Arc::clone(&handler), async {
            let _ = stop.await;
        }));
        Self {
            addr,
            handler,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// The usual NAS at 127.0.0.1.
    pub async fn with_nas() -> Self {
        Self::start(vec![(IpAddr::from(LOCALHOST), nas())]).await
    }

    /// A connection from 127.0.0.1 with the right secret.
    pub async fn connect(&self) -> Connection {
        self.connect_with(SECRET, Duration::from_secs(5)).await
    }

    pub async fn connect_with(&self, secret: &[u8], timeout: Duration) -> Connection {
        Connection::open(self.addr, secret, timeout).await.unwrap()
    }

    /// Stops `serve` and returns what it returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Counts counters by name and labels (`name{k=v,...}`); the rest is
/// thrown away. Installed per test thread with
/// `metrics::set_default_local_recorder`: `#[tokio::test]` runs the server
/// and its tasks on that one thread.
#[derive(Default)]
pub struct Counters {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Counters {
    pub fn get(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    pub fn dropped(&self, reason: &str) -> u64 {
        self.get(&format!(
            "gatehouse_radius_dropped_total{{reason={reason}}}"
        ))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let name = if labels.is_empty() {
            key.name().to_owned()
        } else {
            format!("{}{{{}}}", key.name(), labels.join(","))
        };
        let counter = Arc::clone(self.counters.lock().unwrap().entry(name).or_default());
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}
