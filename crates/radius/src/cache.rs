//! Duplicate detection (RFC 5080 §2.2.2): a retransmitted Access-Request
//! is recognised by its source, Identifier and Request Authenticator, and
//! never reaches the handler twice.
//!
//! Time is passed in (`now`), so expiry is tested without waiting.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// What identifies a request and its retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) source: SocketAddr,
    pub(crate) identifier: u8,
    pub(crate) authenticator: [u8; 16],
}

/// What to do with a datagram, given the cache.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time: decide it, then [`Cache::answer`] or [`Cache::abandon`]
    /// with this ticket.
    New(Ticket),
    /// Being decided; drop the retransmission.
    InProgress,
    /// Answered; send these bytes again.
    Answered(Arc<[u8]>),
}

/// Proof of which entry a task owns: an entry evicted and made again for
/// the same key is not the task's to answer or abandon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

#[derive(Debug)]
enum State {
    Pending,
    Answered { reply: Arc<[u8]>, expires: Instant },
}

#[derive(Debug)]
struct Entry {
    ticket: Ticket,
    state: State,
}

/// Requests being decided and the answers recently sent, bounded in number
/// (the oldest goes first).
#[derive(Debug)]
pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they came in; some may be gone from `entries`
    /// (answered and expired, abandoned), recognised by their ticket.
    order: VecDeque<(Key, Ticket)>,
    next_ticket: u64,
    capacity: usize,
    keep_answers: Duration,
}

impl Cache {
    /// At most `capacity` entries; answers kept for `keep_answers`.
    pub(crate) fn new(capacity: usize, keep_answers: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_ticket: 0,
            capacity: capacity.max(1),
            keep_answers,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Looks `key` up, and makes a pending entry for it if it is new.
    pub(crate) fn begin(&mut self, key: Key, now: Instant) -> Seen {
        match self.entries.get(&key).map(|entry| &entry.state) {
            Some(State::Pending) => return Seen::InProgress,
            Some(State::Answered { reply, expires }) if *expires > now => {
                return Seen::Answered(Arc::clone(reply));
            }
            Some(State::Answered { .. }) => {
                self.entries.remove(&key);
            }
            None => {}
        }
        while self.entries.len() >= self.capacity {
            let Some((old, ticket)) = self.order.pop_front() else {
                break;
            };
            self.remove_if_owned(old, ticket);
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.entries.insert(
            key,
            Entry {
                ticket,
                state: State::Pending,
            },
        );
        self.order.push_back((key, ticket));
        // Keys removed out of order leave stale records; keep the queue
        // from growing past a small multiple of the entries.
        if self.order.len() > 2 * self.capacity {
            self.compact();
        }
        Seen::New(ticket)
    }

    /// The answer to the request `ticket` was given for, kept until
    /// `now + keep_answers` for retransmissions.
    pub(crate) fn answer(&mut self, key: Key, ticket: Ticket, reply: Arc<[u8]>, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&key)
            && entry.ticket == ticket
        {
            entry.state = State::Answered {
                reply,
                expires: now + self.keep_answers,
            };
        }
    }

    /// No answer (timed out, failed): a retransmission is a new request.
    pub(crate) fn abandon(&mut self, key: Key, ticket: Ticket) {
        self.remove_if_owned(key, ticket);
    }

    /// Forgets the answers that expired.
    pub(crate) fn purge(&mut self, now: Instant) {
        self.entries.retain(|_, entry| match entry.state {
            State::Pending => true,
            State::Answered { expires, .. } => expires > now,
        });
        self.compact();
    }

    fn remove_if_owned(&mut self, key: Key, ticket: Ticket) {
        if self
            .entries
            .get(&key)
            .is_some_and(|entry| entry.ticket == ticket)
        {
            self.entries.remove(&key);
        }
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        self.order.retain(|(key, ticket)| {
            entries
                .get(key)
                .is_some_and(|entry| entry.ticket == *ticket)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(identifier: u8) -> Key {
        Key {
            source: "127.0.0.1:5000".parse().unwrap(),
            identifier,
            authenticator: [identifier; 16],
        }
    }

    fn reply(byte: u8) -> Arc<[u8]> {
        Arc::from(vec![byte; 20])
    }

    fn ticket(seen: Seen) -> Ticket {
        match seen {
            Seen::New(ticket) => ticket,
            other => panic!("expected a new entry, got {other:?}"),
        }
    }

    #[test]
    fn pending_then_answered_then_expired() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10, Duration::from_secs(60));
        let first = ticket(cache.begin(key(1), t0));
        assert_eq!(cache.begin(key(1), t0), Seen::InProgress);
        cache.answer(key(1), first, reply(7), t0 + Duration::from_secs(5));
        assert_eq!(
            cache.begin(key(1), t0 + Duration::from_secs(64)),
            Seen::Answered(reply(7))
        );
        // 60 s after the answer, not after the request.
        assert!(matches!(
            cache.begin(key(1), t0 + Duration::from_secs(65)),
            Seen::New(_)
        ));
    }

    #[test]
    fn other_identifier_source_or_authenticator_is_another_request() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10, Duration::from_secs(60));
        ticket(cache.begin(key(1), t0));
        ticket(cache.begin(key(2), t0));
        let mut other_source = key(1);
        other_source.source = "127.0.0.1:5001".parse().unwrap();
        ticket(cache.begin(other_source, t0));
        let mut other_authenticator = key(1);
        other_authenticator.authenticator[0] ^= 1;
        ticket(cache.begin(other_authenticator, t0));
    }

    #[test]
    fn abandoned_requests_are_new_again() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10, Duration::from_secs(60));
        let first = ticket(cache.begin(key(1), t0));
        cache.abandon(key(1), first);
        assert!(matches!(cache.begin(key(1), t0), Seen::New(_)));
    }

    #[test]
    fn bounded_oldest_first_and_stale_tickets_are_ignored() {
        let t0 = Instant::now();
        let mut cache = Cache::new(2, Duration::from_secs(60));
        let one = ticket(cache.begin(key(1), t0));
        ticket(cache.begin(key(2), t0));
        ticket(cache.begin(key(3), t0)); // evicts 1
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.begin(key(2), t0), Seen::InProgress);
        // 1's task finishes late: its ticket no longer owns anything.
        let again = ticket(cache.begin(key(1), t0)); // evicts 2
        cache.answer(key(1), one, reply(1), t0);
        assert_eq!(cache.begin(key(1), t0), Seen::InProgress);
        cache.abandon(key(1), one);
        assert_eq!(cache.begin(key(1), t0), Seen::InProgress);
        cache.answer(key(1), again, reply(2), t0);
        assert_eq!(cache.begin(key(1), t0), Seen::Answered(reply(2)));
    }

    #[test]
    fn purge_forgets_expired_answers_and_stale_order() {
        let t0 = Instant::now();
        let mut cache = Cache::new(100, Duration::from_secs(60));
        for identifier in 0..50 {
            let ticket = ticket(cache.begin(key(identifier), t0));
            if identifier % 2 == 0 {
                cache.answer(key(identifier), ticket, reply(identifier), t0);
            } else if identifier % 5 == 0 {
                cache.abandon(key(identifier), ticket);
            }
        }
        cache.purge(t0 + Duration::from_secs(61));
        // The pending ones stay: odd identifiers not divisible by 5.
        assert_eq!(cache.len(), 20);
        assert_eq!(cache.order.len(), 20);
    }

    #[test]
    fn order_stays_bounded_without_purge() {
        let t0 = Instant::now();
        let mut cache = Cache::new(4, Duration::from_secs(60));
        for round in 0..1000u32 {
            let mut k = key(0);
            k.authenticator[..4].copy_from_slice(&round.to_be_bytes());
            let ticket = ticket(cache.begin(k, t0));
            cache.abandon(k, ticket);
        }
        assert!(cache.order.len() <= 8);
    }
}
