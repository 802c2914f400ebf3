//! The one conversion from the SDK's error to Kotlin/Swift: a small error enum, one variant per
//! kind (`MinootsException.NotFound` in Kotlin).

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum MinootsError {
    #[error("invalid argument: {field}: {detail}")]
    InvalidArgument { field: String, detail: String },
    #[error("{detail}")]
    NotFound { detail: String },
    #[error("{detail}")]
    AlreadyExists { detail: String },
    #[error("{detail}")]
    FailedPrecondition { detail: String },
    /// A change lost to a concurrent one (state_version moved on).
    #[error("{detail}")]
    Aborted { detail: String },
    #[error("{detail}")]
    OutOfRange { detail: String },
    #[error("{detail}")]
    Unauthenticated { detail: String },
    #[error("{detail}")]
    PermissionDenied { detail: String },
    #[error("{detail}")]
    QuotaExceeded {
        limit_type: String,
        detail: String,
        retry_after_ms: Option<u64>,
    },
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after_ms: Option<u64>,
    },
    #[error("{detail}")]
    Transport { detail: String },
    #[error("{detail}")]
    DeadlineExceeded { detail: String },
    #[error("invalid signature: {part}: {detail}")]
    InvalidSignature { part: String, detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

impl From<minoots::Error> for MinootsError {
    fn from(error: minoots::Error) -> Self {
        use minoots::Error as E;
        let detail = error.to_string();
        let retry_after_ms = error.retry_after().map(|d| d.as_millis() as u64);
        match error {
            E::InvalidArgument { field, message } => Self::InvalidArgument {
                field,
                detail: message,
            },
            E::NotFound(_) => Self::NotFound { detail },
            E::AlreadyExists(_) => Self::AlreadyExists { detail },
            E::FailedPrecondition(_) => Self::FailedPrecondition { detail },
            E::Aborted(_) => Self::Aborted { detail },
            E::OutOfRange(_) => Self::OutOfRange { detail },
            E::Unauthenticated(_) => Self::Unauthenticated { detail },
            E::PermissionDenied(_) => Self::PermissionDenied { detail },
            E::QuotaExceeded { limit_type, .. } => Self::QuotaExceeded {
                limit_type,
                detail,
                retry_after_ms,
            },
            E::Unavailable { .. } => Self::Unavailable {
                detail,
                retry_after_ms,
            },
            E::Transport(_) => Self::Transport { detail },
            E::DeadlineExceeded(_) => Self::DeadlineExceeded { detail },
            E::InvalidSignature { part, message } => Self::InvalidSignature {
                part,
                detail: message,
            },
            E::Other { .. } => Self::Internal { detail },
        }
    }
}
