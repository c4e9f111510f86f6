//! The UDP loop: one task per new request, retransmissions through the
//! cache, every other datagram dropped with a reason.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cache::{Cache, Key, Seen, Ticket};
use crate::request::{self, Incoming, MAX_PACKET_LEN};
use crate::{Client, Handler, reply};

/// Requests in progress and answers kept. At 100 requests a second and
/// answers kept a minute that is 6,000; past it the oldest go first.
const CACHE_CAPACITY: usize = 16_384;
/// How long an answer is kept for retransmissions, counted from the
/// answer: longer than a NAS keeps retrying (RFC 5080 §2.2.2 suggests a
/// few seconds; a NAS waiting on a phone call retries for longer).
const KEEP_ANSWERS: Duration = Duration::from_secs(60);
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Requests decided at once; past it new ones are dropped (`overloaded`)
/// and the NAS retries.
const MAX_IN_FLIGHT: usize = 4_096;

/// Serves Access-Requests arriving on `socket` until `shutdown` resolves.
///
/// Requests still being decided then are abandoned (their futures dropped,
/// no answer sent; the NAS retries elsewhere or later). Returns an error
/// only when the socket fails for good.
pub async fn serve<H: Handler>(
    socket: UdpSocket,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Server {
        socket: Arc::new(socket),
        cache: Arc::new(Mutex::new(Cache::new(CACHE_CAPACITY, KEEP_ANSWERS))),
        handler,
    };
    if let Ok(local) = server.socket.local_addr() {
        tracing::info!(%local, "RADIUS server listening");
    }
    let mut tasks = JoinSet::new();
    let mut purge = tokio::time::interval(PURGE_EVERY);
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One octet more than the largest packet: the excess is padding
    // (RFC 2865 §3), so a longer datagram cut short here loses nothing.
    let mut buffer = vec![0u8; MAX_PACKET_LEN + 1];
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            received = server.socket.recv_from(&mut buffer) => match received {
                Ok((len, source)) => {
                    while let Some(done) = tasks.try_join_next() {
                        reaped(done);
                    }
                    server.datagram(&buffer[..len], source, &mut tasks).await;
                }
                // ICMP errors of earlier sends surface here on some
                // systems; they say nothing about the socket.
                Err(error) if transient(&error) => {
                    tracing::debug!(%error, "RADIUS receive error, ignored");
                }
                Err(error) => return Err(error),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => reaped(done),
            _ = purge.tick() => server.cache().purge(Instant::now()),
        }
    }
    tracing::info!(abandoned = tasks.len(), "RADIUS server stopping");
    // Aborted and waited for, so that no answer leaves after `serve` returned.
    tasks.shutdown().await;
    Ok(())
}

fn transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn reaped(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done
        && error.is_panic()
    {
        dropped("handler_failed");
        tracing::error!("RADIUS handler panicked; no answer sent");
    }
}

fn dropped(reason: &'static str) {
    metrics::counter!("gatehouse_radius_dropped_total", "reason" => reason).increment(1);
}

struct Server<H> {
    socket: Arc<UdpSocket>,
    cache: Arc<Mutex<Cache>>,
    handler: Arc<H>,
}

impl<H: Handler> Server<H> {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn datagram(&self, datagram: &[u8], source: SocketAddr, tasks: &mut JoinSet<()>) {
        // A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d.
        let Some(client) = self.handler.client(source.ip().to_canonical()) else {
            dropped("unknown_client");
            tracing::debug!(%source, "RADIUS datagram from an unknown address dropped");
            return;
        };
        let Incoming { reply_to, request } = match request::decode_request(
            datagram, source, &client,
        ) {
            Ok(incoming) => incoming,
            Err(discard) => {
                dropped(discard.reason());
                tracing::debug!(%source, client = %client.name, reason = discard.reason(), "RADIUS request dropped");
                return;
            }
        };
        let key = Key {
            source,
            identifier: reply_to.identifier,
            authenticator: reply_to.authenticator,
        };
        let seen = self.cache().begin(key, Instant::now());
        match seen {
            Seen::InProgress => {
                dropped("retransmission_in_progress");
                tracing::debug!(%source, client = %client.name, "RADIUS retransmission of a request in progress dropped");
            }
            Seen::Answered(reply) => {
                metrics::counter!("gatehouse_radius_replayed_replies_total").increment(1);
                tracing::debug!(%source, client = %client.name, "RADIUS retransmission answered again");
                if let Err(error) = self.socket.send_to(&reply, source).await {
                    tracing::warn!(%source, %error, "RADIUS reply not sent");
                }
            }
            // Checked here, so that answers already given are still replayed.
            Seen::New(ticket) if tasks.len() >= MAX_IN_FLIGHT => {
                self.cache().abandon(key, ticket);
                dropped("overloaded");
                tracing::warn!(%source, client = %client.name, "RADIUS request dropped: too many in progress");
            }
            Seen::New(ticket) => {
                let task = Decision {
                    handler: Arc::clone(&self.handler),
                    client,
                    socket: Arc::clone(&self.socket),
                    entry: Entry {
                        cache: Arc::clone(&self.cache),
                        key,
                        ticket,
                        open: true,
                    },
                };
                tasks.spawn(task.run(reply_to, request));
            }
        }
    }
}

/// One request being decided.
struct Decision<H> {
    handler: Arc<H>,
    client: Arc<Client>,
    socket: Arc<UdpSocket>,
    entry: Entry,
}

impl<H: Handler> Decision<H> {
    async fn run(mut self, reply_to: request::ReplyTo, request: crate::Request) {
        let source = request.source;
        let client = Arc::clone(&self.client);
        let started = Instant::now();
        let decided = tokio::time::timeout(
            client.timeout,
            self.handler.access(Arc::clone(&client), request),
        )
        .await;
        // On every early return `entry` is dropped open, which forgets the
        // request: a retransmission is then decided afresh.
        let Ok(reply) = decided else {
            dropped("timeout");
            tracing::info!(%source, client = %client.name, timeout = ?client.timeout, "RADIUS request not decided in time; no answer sent");
            return;
        };
        metrics::histogram!("gatehouse_radius_handler_duration_seconds").record(started.elapsed());
        let bytes = match reply::encode_reply(&reply_to, &client, &reply) {
            Ok(bytes) => Arc::<[u8]>::from(bytes),
            Err(error) => {
                dropped("reply_error");
                tracing::error!(%source, client = %client.name, %error, "RADIUS reply cannot be encoded; no answer sent");
                return;
            }
        };
        // Cached before it is sent, so that a retransmission racing the
        // send is answered from the cache rather than dropped.
        self.entry.answered(Arc::clone(&bytes));
        metrics::counter!("gatehouse_radius_replies_total", "code" => reply.code_label())
            .increment(1);
        tracing::debug!(%source, client = %client.name, code = reply.code_label(), "RADIUS reply");
        if let Err(error) = self.socket.send_to(&bytes, source).await {
            tracing::warn!(%source, %error, "RADIUS reply not sent");
        }
    }
}

/// The cache entry a decision owns. Dropped open (timeout, encoding error,
/// panic, shutdown) it is removed.
struct Entry {
    cache: Arc<Mutex<Cache>>,
    key: Key,
    ticket: Ticket,
    open: bool,
}

impl Entry {
    fn answered(&mut self, reply: Arc<[u8]>) {
        self.open = false;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .answer(self.key, self.ticket, reply, Instant::now());
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.open {
            self.cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .abandon(self.key, self.ticket);
        }
    }
}
