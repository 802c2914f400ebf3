//! Leadership. In a cluster, kernels on one database compete for a lease; the holder schedules
//! and writes, the others answer FAILED_PRECONDITION with a `retry-after-ms` hint. A lease comes
//! with a fencing token that only grows, and stores check it inside every write transaction.

use async_trait::async_trait;

use crate::error::Result;

/// Proof of holding a lease: the store refuses writes whose token is no longer current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub token: u64,
}

#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// Takes the lease if it is free or expired (or already ours), with a new, larger token.
    async fn try_acquire(&self) -> Result<Option<Fence>>;
    /// Extends the lease; false once it was lost.
    async fn renew(&self, fence: &Fence) -> Result<bool>;
    /// Lets it expire now, for a fast handover on clean shutdown.
    async fn release(&self, fence: &Fence) -> Result<()>;
}
