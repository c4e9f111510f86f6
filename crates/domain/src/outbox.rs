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
    }
}
