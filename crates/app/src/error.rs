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

    /// The message for a person; generic for internal errors.
    pub fn message(&self) -> String {
        match self {
            AppError::NotFound => "Not found.".into(),
            AppError::Internal(_) => "Something went wrong on our side; please try again.".into(),
            other => other.to_string(),
        }
    }
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
