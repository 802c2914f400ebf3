use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Every failure a caller may want to tell apart. Bindings map each variant to their own error
/// kind (a Python exception class, a JS `code`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A change lost to a concurrent one (the timer's state_version moved on): read it again.
    #[error("aborted: {0}")]
    Aborted(String),
    #[error("out of range: {0}")]
    OutOfRange(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A tenant quota (`limit_type` "burst" or "daily") or the key's request rate ("rate", with
    /// `retry_after`).
    #[error("quota exceeded ({limit_type}): {message}")]
    QuotaExceeded {
        limit_type: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("connection failed: {0}")]
    Transport(String),
    /// A wait or call ran past its deadline.
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    /// A webhook delivery failed verification; `part` names the header (or `secrets`).
    #[error("invalid webhook signature: {part}: {message}")]
    InvalidSignature { part: String, message: String },
    #[error("{code:?}: {message}")]
    Other { code: Code, message: String },
}

impl Error {
    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Transport(_))
    }

    /// A stable machine-readable name of the kind, the `code` bindings expose
    /// (`NOT_FOUND`, `INVALID_ARGUMENT`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::AlreadyExists(_) => "ALREADY_EXISTS",
            Self::FailedPrecondition(_) => "FAILED_PRECONDITION",
            Self::Aborted(_) => "ABORTED",
            Self::OutOfRange(_) => "OUT_OF_RANGE",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::PermissionDenied(_) => "PERMISSION_DENIED",
            Self::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            Self::Unavailable { .. } => "UNAVAILABLE",
            Self::Transport(_) => "TRANSPORT",
            Self::DeadlineExceeded(_) => "DEADLINE_EXCEEDED",
            Self::InvalidSignature { .. } => "INVALID_SIGNATURE",
            Self::Other { .. } => "INTERNAL",
        }
    }

    /// How long the server asked the caller to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::QuotaExceeded { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

impl From<minoots_proto::json::InvalidField> for Error {
    fn from(e: minoots_proto::json::InvalidField) -> Self {
        Self::InvalidArgument {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<minoots_proto::signing::VerifyError> for Error {
    fn from(e: minoots_proto::signing::VerifyError) -> Self {
        Self::InvalidSignature {
            part: e.part.to_owned(),
            message: e.message,
        }
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        // tonic makes a status locally, carrying the cause as its source, when the connection
        // broke before the server answered: the call may be sent again.
        if std::error::Error::source(&status).is_some() {
            return Self::Unavailable {
                message,
                retry_after: None,
            };
        }
        match status.code() {
            Code::InvalidArgument => {
                let violation = status
                    .get_details_bad_request()
                    .and_then(|b| b.field_violations.into_iter().next());
                match violation {
                    Some(v) => Self::InvalidArgument {
                        field: v.field,
                        message: v.description,
                    },
                    None => Self::InvalidArgument {
                        field: String::new(),
                        message,
                    },
                }
            }
            Code::NotFound => Self::NotFound(message),
            Code::AlreadyExists => Self::AlreadyExists(message),
            Code::FailedPrecondition => Self::FailedPrecondition(message),
            Code::Aborted => Self::Aborted(message),
            Code::OutOfRange => Self::OutOfRange(message),
            Code::Unauthenticated => Self::Unauthenticated(message),
            Code::PermissionDenied => Self::PermissionDenied(message),
            Code::ResourceExhausted => Self::QuotaExceeded {
                limit_type: status
                    .get_details_error_info()
                    .and_then(|info| info.metadata.get("limitType").cloned())
                    .unwrap_or_default(),
                retry_after: retry_after(&status),
                message,
            },
            Code::Unavailable => Self::Unavailable {
                retry_after: retry_after(&status),
                message,
            },
            Code::DeadlineExceeded => Self::DeadlineExceeded(message),
            code => Self::Other { code, message },
        }
    }
}

fn retry_after(status: &Status) -> Option<Duration> {
    status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(Duration::from_millis)
}

impl From<tonic::transport::Error> for Error {
    fn from(error: tonic::transport::Error) -> Self {
        Self::Transport(error.to_string())
    }
}
