//! Server-side sessions: their states and timeouts (OWASP ASVS 3.3).

use crate::clock::Timestamp;

/// Where a session stands in the sign-in flow. Each step up renews the
/// session id (ASVS 3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No one signed in; holds the CSRF token for the sign-in form.
    Anonymous,
    /// The password was right but must be changed before anything else.
    PasswordChangeRequired,
    /// The password was right; a second factor (Security Code or
    /// PhoneFactor) is due.
    SecondFactorRequired,
    /// Every factor is done but PhoneFactor was ordered and must be
    /// activated before anything else.
    ActivationRequired,
    /// Password and every required factor done.
    Authenticated,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Anonymous => "anonymous",
            SessionState::PasswordChangeRequired => "password_change_required",
            SessionState::SecondFactorRequired => "second_factor_required",
            SessionState::ActivationRequired => "activation_required",
            SessionState::Authenticated => "authenticated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "anonymous" => SessionState::Anonymous,
            "password_change_required" => SessionState::PasswordChangeRequired,
            "second_factor_required" => SessionState::SecondFactorRequired,
            "activation_required" => SessionState::ActivationRequired,
            "authenticated" => SessionState::Authenticated,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Inactivity after which a session ends.
    pub idle_minutes: i64,
    /// Lifetime after which a session ends whatever the activity.
    pub absolute_minutes: i64,
    /// How stale `last_seen` may get before we write it again; saves a
    /// database write on most requests.
    pub touch_after_seconds: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_minutes: 30,
            absolute_minutes: 12 * 60,
            touch_after_seconds: 60,
        }
    }
}

impl SessionPolicy {
    pub fn is_live(&self, created: Timestamp, last_seen: Timestamp, now: Timestamp) -> bool {
        now < created.plus_minutes(self.absolute_minutes)
            && now < last_seen.plus_minutes(self.idle_minutes)
    }

    pub fn needs_touch(&self, last_seen: Timestamp, now: Timestamp) -> bool {
        now >= last_seen.plus_seconds(self.touch_after_seconds)
    }

    /// The moment after which a session last seen at `last_seen` is dead;
    /// used to purge old rows.
    pub fn expires_at(&self, created: Timestamp, last_seen: Timestamp) -> Timestamp {
        created
            .plus_minutes(self.absolute_minutes)
            .min(last_seen.plus_minutes(self.idle_minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_timeouts() {
        let p = SessionPolicy::default();
        let t0 = Timestamp(0);
        assert!(p.is_live(t0, t0, t0.plus_minutes(29)));
        assert!(!p.is_live(t0, t0, t0.plus_minutes(30)));
        let seen = t0.plus_minutes(12 * 60 - 5);
        assert!(p.is_live(t0, seen, seen.plus_minutes(4)));
        assert!(!p.is_live(t0, seen, seen.plus_minutes(5)));
        assert!(!p.needs_touch(t0, t0.plus_seconds(59)));
        assert!(p.needs_touch(t0, t0.plus_seconds(60)));
        assert_eq!(p.expires_at(t0, seen), t0.plus_minutes(12 * 60));
    }

    #[test]
    fn states_round_trip() {
        for s in [
            SessionState::Anonymous,
            SessionState::PasswordChangeRequired,
            SessionState::SecondFactorRequired,
            SessionState::ActivationRequired,
            SessionState::Authenticated,
        ] {
            assert_eq!(SessionState::parse(s.as_str()), Some(s));
        }
    }
}
