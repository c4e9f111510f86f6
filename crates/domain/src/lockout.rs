//! Account lockout after repeated password failures (OWASP ASVS 2.2.1).
//!
//! After `max_failures` consecutive failures the user is locked for
//! `base_minutes`; each further lockout before a successful sign-in doubles
//! the time, up to `max_minutes`. While locked, sign-in is refused with the
//! same generic message as a wrong password, so the lock reveals nothing.
//!
//! The store applies this rule when it reserves an attempt, before the
//! password is checked (`gatehouse_store::users::Users::reserve_password_attempt`,
//! which tabulates [`LockoutPolicy::lock_minutes`]): the attempt that
//! reaches `max_failures` locks at once, and a right password undoes that.

use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: i64,
    pub base_minutes: i64,
    pub max_minutes: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            base_minutes: 15,
            max_minutes: 24 * 60,
        }
    }
}

/// The sign-in counters kept per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginCounters {
    /// Consecutive failures since the last success or lockout.
    pub failures: i64,
    /// Lockouts since the last successful sign-in.
    pub lockouts: i64,
    pub locked_until: Option<Timestamp>,
}

impl LockoutPolicy {
    pub fn is_locked(&self, c: &LoginCounters, now: Timestamp) -> bool {
        c.locked_until.is_some_and(|t| now < t)
    }

    /// How long the `n`-th lockout (1-based) lasts, in minutes.
    pub fn lock_minutes(&self, n: i64) -> i64 {
        let doublings = (n - 1).clamp(0, 20) as u32;
        self.base_minutes
            .saturating_mul(1i64 << doublings)
            .min(self.max_minutes)
    }

    /// The counters after one more failure; `locked` says whether this
    /// failure started a lockout.
    pub fn after_failure(&self, c: &LoginCounters, now: Timestamp) -> (LoginCounters, bool) {
        let failures = c.failures + 1;
        if failures >= self.max_failures {
            let lockouts = c.lockouts + 1;
            let until = now.plus_minutes(self.lock_minutes(lockouts));
            (
                LoginCounters {
                    failures: 0,
                    lockouts,
                    locked_until: Some(until),
                },
                true,
            )
        } else {
            (LoginCounters { failures, ..*c }, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenth_failure_locks_for_fifteen_minutes_then_doubles() {
        let p = LockoutPolicy::default();
        let now = Timestamp(0);
        let mut c = LoginCounters::default();
        for i in 1..10 {
            let (n, locked) = p.after_failure(&c, now);
            assert!(!locked, "failure {i}");
            c = n;
        }
        let (c, locked) = p.after_failure(&c, now);
        assert!(locked);
        assert_eq!(c.locked_until, Some(now.plus_minutes(15)));
        assert!(p.is_locked(&c, now.plus_minutes(14)));
        assert!(!p.is_locked(&c, now.plus_minutes(15)));
        let mut c2 = c;
        for _ in 0..10 {
            c2 = p.after_failure(&c2, now).0;
        }
        assert_eq!(c2.locked_until, Some(now.plus_minutes(30)));
        assert_eq!(p.lock_minutes(100), 24 * 60);
    }
}
