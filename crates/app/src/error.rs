//! The application's one error type. It says what went wrong in the terms
//! of the flows (invalid input, not allowed, not found, conflict, too many
//! tries); each front end maps it to its protocol once (the web layer to
//! HTTP statuses and its JSON error body).

use gatehouse_domain::ParseError;
use gatehouse_store::StoreError;

/// Errors as the outside world sees them. The detail of an internal error
/// is for the log, never for the caller (see [`AppError::message`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// Malformed request (unparseable JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: i64 },
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// The same error, about `to` where it was about `from`: for an adapter
    /// whose input names a field differently from the service's.
    pub fn field_renamed(mut self, from: &str, to: &'static str) -> Self {
        if let AppError::Invalid { field, .. } | AppError::Conflict { field, .. } = &mut self
            && *field == Some(from)
        {
            *field = Some(to);
        }
        self
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Invalid { field, .. } | AppError::Conflict { field, .. } => *field,
            _ => None,
        }
    }

    /// The message for a person. An internal error's is generic with a
    /// new reference, and its cause is logged once under that reference
    /// here (ASVS 7.4.1), so every front end that shows the message — the
    /// API's error body, an error page, a form's alert — also leaves the
    /// log line that support finds by it.
    pub fn message(&self) -> String {
        match self {
            AppError::NotFound => "Not found.".into(),
            AppError::Internal(cause) => internal_message(cause),
            other => other.to_string(),
        }
    }
}

/// The first sentence of every internal error's message.
pub const INTERNAL: &str = "Something went wrong on our side; please try again.";

/// Logs `cause` under a new reference and gives the message that names it:
/// `Something went wrong on our side; please try again. Reference: 9F2C41A7.`
/// The reference is 32 random bits: it tells nothing about the cause and
/// is unique enough to find one log line among a day's errors.
pub fn internal_message(cause: &str) -> String {
    let reference = format!("{:08X}", gatehouse_domain::secret::random_u64() >> 32);
    // `?`: the cause quoted and escaped, so a cause that carries input (a
    // panic's message) cannot forge a line of its own.
    tracing::error!(%reference, cause = ?cause, "internal error");
    format!("{INTERNAL} Reference: {reference}.")
}

impl From<ParseError> for AppError {
    fn from(e: ParseError) -> Self {
        AppError::Invalid {
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict { field } => AppError::Conflict {
                field: Some(field),
                message: match field {
                    "username" => "This username is already taken.".into(),
                    "number" => "This account number is already taken.".into(),
                    other => format!("This {other} is already taken."),
                },
            },
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl From<gatehouse_store::DbError> for AppError {
    fn from(e: gatehouse_store::DbError) -> Self {
        StoreError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference in a message made by [`internal_message`], if there is one.
    fn reference_in(message: &str) -> Option<&str> {
        let rest = message
            .strip_prefix(INTERNAL)?
            .strip_prefix(" Reference: ")?;
        let reference = rest.strip_suffix('.')?;
        (reference.len() == 8
            && reference
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
        .then_some(reference)
    }

    #[test]
    fn an_internal_message_names_a_new_reference_and_not_the_cause() {
        let a = AppError::Internal("disk I/O error at /var/lib/x".into()).message();
        let b = AppError::Internal("disk I/O error at /var/lib/x".into()).message();
        assert!(a.starts_with(INTERNAL), "{a}");
        assert!(!a.contains("disk"), "{a}");
        let (ra, rb) = (reference_in(&a).unwrap(), reference_in(&b).unwrap());
        assert_eq!(ra.len(), 8);
        assert_ne!(ra, rb, "a new reference for each error");
    }

    #[test]
    fn only_a_whole_reference_is_read_back() {
        for m in [
            "Something went wrong on our side; please try again.",
            "Something went wrong on our side; please try again. Reference: 12345.",
            "Something went wrong on our side; please try again. Reference: 1234567G.",
            "Something went wrong on our side; please try again. Reference: 12345678",
            "Oops. Reference: 12345678.",
        ] {
            assert_eq!(reference_in(m), None, "{m}");
        }
        assert_eq!(
            reference_in(
                "Something went wrong on our side; please try again. Reference: 0A1b2C3d."
            ),
            None,
            "made in upper case only"
        );
        assert_eq!(
            reference_in(
                "Something went wrong on our side; please try again. Reference: 0A1B2C3D."
            ),
            Some("0A1B2C3D")
        );
    }
}
