//! The one source of time. Everything that depends on "now" (session
//! timeouts, lockouts, audit timestamps, later OATH time steps and billing
//! periods) takes a [`Clock`], so tests can move time deterministically.

use std::sync::atomic::{AtomicI64, Ordering};

/// A point in time as Unix milliseconds. Stored as a plain integer in both
/// databases (sqlx has no portable timestamp type across SQLite and
/// PostgreSQL through the `Any` driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn plus_seconds(self, s: i64) -> Self {
        Timestamp(self.0.saturating_add(s.saturating_mul(1000)))
    }
    pub fn plus_minutes(self, m: i64) -> Self {
        self.plus_seconds(m.saturating_mul(60))
    }
    /// RFC 3339 in UTC, second precision, for people and exports.
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Err(_) => self.0.to_string(),
        }
    }
    /// A short human form, `2026-11-30 14:05 UTC`.
    pub fn display(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            Err(_) => self.0.to_string(),
        }
    }
}

/// Something that tells the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one permitted read of the system clock
    fn now(&self) -> Timestamp {
        Timestamp(jiff::Timestamp::now().as_millisecond())
    }
}

/// A clock for tests that only moves when told to.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        Self(AtomicI64::new(t.0))
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        let t = Timestamp(1_700_000_000_000);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(t.display(), "2023-11-14 22:13 UTC");
        assert_eq!(t.plus_minutes(1).seconds(), 1_700_000_060);
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::at(Timestamp(5_000));
        assert_eq!(c.now(), Timestamp(5_000));
        c.advance_seconds(2);
        assert_eq!(c.now(), Timestamp(7_000));
    }
}
