//! What a kernel is started with: retention, buffers, quotas, what actions may do, event
//! publishing ([`KernelConfig`]), and for a clustered kernel the lease it competes for
//! ([`Leadership`]). Settings are read once at start; nothing here changes while a kernel runs.

use std::{sync::Arc, time::Duration};

use crate::{actions, leadership, outbox, quota};

#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// How long SETTLED, FAILED and CANCELLED timers stay readable.
    pub timer_retention: Duration,
    /// How long events stay replayable for stream resume.
    pub event_retention: Duration,
    /// How often expired timers and events are purged.
    pub purge_interval: Duration,
    /// Live events buffered per subscriber before it falls back to reading the store.
    pub event_buffer: usize,
    /// Run the scheduler on a dedicated OS thread (production); tests may keep it on the runtime.
    pub scheduler_thread: bool,
    /// Quotas of tenants without their own (set with [`crate::Kernel::set_tenant_limits`]).
    pub default_limits: quota::Limits,
    /// How often per-tenant limits are re-read from the store (other processes may change them).
    pub limits_refresh: Duration,
    /// What actions may do (secrets, allow-lists, sandbox, timeouts, default retries).
    pub actions: actions::ActionConfig,
    /// Publish every event to NATS JetStream through the outbox.
    pub publishing: Option<outbox::Publishing>,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            timer_retention: Duration::from_secs(7 * 24 * 3_600),
            event_retention: Duration::from_secs(24 * 3_600),
            purge_interval: Duration::from_secs(60),
            event_buffer: 65_536,
            scheduler_thread: true,
            default_limits: quota::Limits {
                active_timers: Some(1_000_000),
                daily_timers: Some(10_000_000),
            },
            limits_refresh: Duration::from_secs(10),
            actions: actions::ActionConfig::default(),
            publishing: None,
        }
    }
}

/// Lease settings of a clustered kernel.
#[derive(Clone)]
pub struct Leadership {
    pub lease: Arc<dyn leadership::Lease>,
    /// Lease name and this kernel's identity in it (the node id).
    pub name: String,
    pub holder: String,
    /// How often the leader renews and a follower tries to take over.
    pub heartbeat: Duration,
    /// How long a lease lasts without renewal; a dead leader is replaced within about this.
    pub timeout: Duration,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}
