//! The kernel's one error type and its one conversion to a gRPC `Status`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelError {
    /// A request field is wrong; `field` is its path in the request (`timers[2].labels`).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// No `kind` (a timer, a dead letter, an API key) with this id exists for the caller.
    #[error("{kind} {} not found", quote(id))]
    NotFound { kind: Kind, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A read-modify-write lost to a concurrent change (state_version moved on); read again.
    #[error("{0}")]
    Aborted(String),
    /// A stream asked to resume from a sequence whose events this store does not hold: purged
    /// past retention, or lost in a restore from backup. The client must list again.
    #[error(
        "cannot resume after sequence {requested}: its events are no longer held (purged, or lost in a restore from backup); the oldest retained sequence is {oldest}"
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
    /// A tenant quota would be exceeded: `burst` (active timers) or `daily` (timers scheduled
    /// this UTC day).
    #[error("{limit_type} quota exceeded: tenant {tenant} is limited to {limit} {what}", what = limit_type.counts())]
    QuotaExceeded {
        tenant: String,
        limit_type: LimitType,
        limit: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a [`KernelError::NotFound`] looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Timer,
    /// A timer looked up by its idempotency key.
    TimerKey,
    DeadLetter,
    ApiKey,
    Schedule,
    /// A schedule looked up by its idempotency key.
    ScheduleKey,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Timer => "timer",
            Self::TimerKey => "timer with idempotency key",
            Self::DeadLetter => "dead letter",
            Self::ApiKey => "API key",
            Self::Schedule => "schedule",
            Self::ScheduleKey => "schedule with idempotency key",
        })
    }
}

/// How many characters of an input an error message quotes; inputs can be megabytes long, and
/// a gRPC message travels in a header with a size limit.
pub const QUOTE_CHARS: usize = 64;

/// An input as an error message quotes it: whole (in quotes) when short, else its first
/// [`QUOTE_CHARS`] characters and its size, `"abc…" (60000 bytes)`.
pub fn quote(input: &str) -> String {
    match input.char_indices().nth(QUOTE_CHARS) {
        None => format!("{input:?}"),
        Some((end, _)) => format!(
            "{:?} ({} bytes)",
            format!("{}…", &input[..end]),
            input.len()
        ),
    }
}

/// Which limit refused a request; `limitType` in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    Burst,
    Daily,
    Rate,
}

impl LimitType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Daily => "daily",
            Self::Rate => "rate",
        }
    }

    fn counts(self) -> &'static str {
        match self {
            Self::Burst => "active timers",
            Self::Daily => "timers scheduled per UTC day",
            Self::Rate => "requests per second",
        }
    }
}

impl std::fmt::Display for LimitType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `ErrorInfo` domain and reason of quota and rate-limit errors; `limitType` is in its
/// metadata.
pub const ERROR_DOMAIN: &str = "minoots.io";
pub const QUOTA_REASON: &str = "QUOTA_EXCEEDED";
pub const LIMIT_TYPE_KEY: &str = "limitType";

pub type Result<T, E = KernelError> = std::result::Result<T, E>;

impl KernelError {
    pub fn not_found(kind: Kind, id: &str) -> Self {
        Self::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

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

/// The details of a RESOURCE_EXHAUSTED status (the gateway uses them for its rate limit too).
pub fn quota_details(
    limit_type: LimitType,
    limit: Option<u64>,
    subject: &str,
    message: &str,
) -> ErrorDetails {
    let mut metadata = std::collections::HashMap::from([(
        LIMIT_TYPE_KEY.to_owned(),
        limit_type.as_str().to_owned(),
    )]);
    if let Some(limit) = limit {
        metadata.insert("limit".to_owned(), limit.to_string());
    }
    let mut details = ErrorDetails::with_error_info(QUOTA_REASON, ERROR_DOMAIN, metadata);
    details.set_quota_failure(vec![tonic_types::QuotaViolation::new(subject, message)]);
    details
}

/// The `limitType` of a RESOURCE_EXHAUSTED status, if it carries one.
pub fn limit_type_of(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .filter(|info| info.domain == ERROR_DOMAIN)
        .and_then(|info| info.metadata.get(LIMIT_TYPE_KEY).cloned())
}

impl From<minoots_proto::json::InvalidField> for KernelError {
    fn from(e: minoots_proto::json::InvalidField) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<sqlx::Error> for KernelError {
    fn from(error: sqlx::Error) -> Self {
        if is_size_limit(&error) {
            // Sending it again would fail again: not UNAVAILABLE (which clients retry).
            return Self::invalid(
                "request",
                format!("too large or complex for the store: {error}"),
            );
        }
        Self::Unavailable(error.to_string())
    }
}

/// Whether the store refused a statement for its size or complexity (a request too large),
/// rather than for being unreachable or failing.
fn is_size_limit(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // Postgres class 54: program_limit_exceeded, statement_too_complex, too_many_...
            if code.starts_with("54") && code.len() == 5 {
                return true;
            }
            // SQLite: SQLITE_TOOBIG (18), and the limits it reports as plain SQLITE_ERROR.
            let message = db.message();
            code == "18"
                || message.contains("too many SQL variables")
                || message.contains("Expression tree is too large")
                || message.contains("too many terms in compound SELECT")
                || message.contains("string or blob too big")
                || message.contains("parser stack overflow")
        }
        // sqlx refuses more bind parameters than the protocol can carry before sending.
        sqlx::Error::Protocol(message) => message.contains("too many parameter"),
        _ => false,
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
            KernelError::Aborted(_) => Status::aborted(message),
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
            KernelError::QuotaExceeded {
                ref tenant,
                limit_type,
                limit,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                message.clone(),
                quota_details(limit_type, Some(limit), tenant, &message),
            ),
            KernelError::Internal(_) => Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_quoted_short() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "é".repeat(30_000);
        let quoted = quote(&long);
        assert!(quoted.ends_with("… (60000 bytes)") || quoted.contains("…\" (60000 bytes)"));
        assert!(quoted.len() < 200, "{quoted}");
        let error = KernelError::not_found(Kind::DeadLetter, &"x".repeat(100_000));
        assert!(error.to_string().starts_with("dead letter \"xxx"));
        assert!(error.to_string().len() < 200);
        assert_eq!(
            KernelError::not_found(Kind::ApiKey, "key_1").to_string(),
            "API key \"key_1\" not found"
        );
    }

    #[tokio::test]
    async fn a_statement_too_large_for_the_store_is_not_retryable() {
        use sqlx::Connection as _;
        let mut connection = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let sql = format!("SELECT 1 WHERE {}", vec!["1 = 1"; 2_000].join(" AND "));
        let error: KernelError = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .unwrap_err()
            .into();
        assert!(
            matches!(&error, KernelError::InvalidArgument { field, .. } if field == "request"),
            "{error:?}"
        );
        assert!(!error.is_retryable());
        let status = Status::from(error);
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}
