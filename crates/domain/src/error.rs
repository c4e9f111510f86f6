//! Errors raised when outside input does not parse into a domain type.

/// Input that was refused, with the form field it came from so that the UI
/// can show the message next to that field and the API can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The form or JSON field the value came from (`username`, `email`, …).
    pub field: &'static str,
    /// A message for a person: what is wrong and what is expected.
    pub message: String,
}

impl ParseError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
