//! The kernel's one error type and its one conversion to a gRPC `Status`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelError {
    /// A request field is wrong; `field` is its path in the request (`timers[2].labels`).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("timer {id} not found")]
    NotFound { id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A stream asked to resume from a sequence whose events were already purged.
    #[error(
        "events after sequence {requested} are no longer retained; the oldest retained sequence is {oldest}"
    )]
    OutOfRange { requested: u64, oldest: u64 },
    /// The store could not be reached or failed; safe to retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("the kernel is shutting down")]
    ShuttingDown,
    /// This kernel does not hold the lease; another one serves writes.
    #[error("this kernel is not the leader; retry in {retry_after_ms} ms or on another kernel")]
    NotLeader { retry_after_ms: u64 },
    /// The store refused a write because the lease's token moved on.
    #[error("write refused: fencing token {token} is no longer the lease's current token")]
    Fenced { token: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = KernelError> = std::result::Result<T, E>;

impl KernelError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Whether the same request may succeed if sent again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_)
                | Self::ShuttingDown
                | Self::NotLeader { .. }
                | Self::Fenced { .. }
        )
    }

    /// Prefixes the field path, for errors of an item inside a batch.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::InvalidArgument { field, message } => Self::InvalidArgument {
                field: format!("{prefix}.{field}"),
                message,
            },
            other => other,
        }
    }
}

impl From<sqlx::Error> for KernelError {
    fn from(error: sqlx::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<KernelError> for Status {
    fn from(error: KernelError) -> Self {
        let message = error.to_string();
        match error {
            KernelError::InvalidArgument {
                field,
                message: description,
            } => Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request_violation(field, description),
            ),
            KernelError::NotFound { .. } => Status::not_found(message),
            KernelError::AlreadyExists(_) => Status::already_exists(message),
            KernelError::FailedPrecondition(_) => Status::failed_precondition(message),
            KernelError::NotLeader { retry_after_ms } => {
                let mut status = Status::failed_precondition(message);
                status
                    .metadata_mut()
                    .insert("retry-after-ms", retry_after_ms.into());
                status
            }
            KernelError::Fenced { .. } => {
                let mut status = Status::failed_precondition(message);
                status
                    .metadata_mut()
                    .insert("retry-after-ms", 100u64.into());
                status
            }
            KernelError::OutOfRange { .. } => Status::out_of_range(message),
            KernelError::Unavailable(_) | KernelError::ShuttingDown => Status::unavailable(message),
            KernelError::Internal(_) => Status::internal(message),
        }
    }
}
