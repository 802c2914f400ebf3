//! Why the door refused a request, and its one conversion to a gRPC `Status` (REST maps that
//! status like any other).

use minoots_kernel::{KernelError, error::LimitType};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The API key sent more requests than its tier allows.
    #[error("rate limit exceeded for this API key; retry in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// Reading the key store failed, or a request field (`tenant_id`) is wrong.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::Unauthenticated(_) => Status::unauthenticated(message),
            AuthError::PermissionDenied(_) => Status::permission_denied(message),
            AuthError::RateLimited { retry_after_ms } => {
                let mut status = Status::with_error_details(
                    Code::ResourceExhausted,
                    message.clone(),
                    minoots_kernel::error::quota_details(
                        LimitType::Rate,
                        None,
                        "api-key",
                        &message,
                    ),
                );
                status
                    .metadata_mut()
                    .insert("retry-after-ms", retry_after_ms.into());
                status
            }
            AuthError::Kernel(error) => error.into(),
        }
    }
}
