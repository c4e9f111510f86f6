//! What the outbox queue carries.

/// The kind of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text message to a phone.
    Sms,
    /// A phone call (its words and keys come from the portal's TwiML).
    Call,
    /// An e-mail (administrators' and users' notices).
    Email,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Sms => "sms",
            MessageKind::Call => "call",
            MessageKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(MessageKind::Sms),
            "call" => Some(MessageKind::Call),
            "email" => Some(MessageKind::Email),
            _ => None,
        }
    }
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting to be sent (or to be looked up first, after an attempt
    /// whose outcome is unknown).
    Queued,
    /// Claimed by a worker, whose lease runs until `available_at`.
    Sending,
    /// Accepted by the provider (or delivered to the virtual phone).
    Sent,
    /// Given up.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(OutboxStatus::Queued),
            "sending" => Some(OutboxStatus::Sending),
            "sent" => Some(OutboxStatus::Sent),
            "failed" => Some(OutboxStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in [MessageKind::Sms, MessageKind::Call, MessageKind::Email] {
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MessageKind::parse("fax"), None);
        for s in [
            OutboxStatus::Queued,
            OutboxStatus::Sending,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ] {
            assert_eq!(OutboxStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OutboxStatus::parse("delivered"), None);
    }
}
