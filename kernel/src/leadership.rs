//! Leadership. In a cluster, kernels on one database compete for a lease; the holder schedules
//! and writes, the others answer FAILED_PRECONDITION with a `retry-after-ms` hint. A lease comes
//! with a fencing token that only grows, and stores check it inside every write transaction.
//!
//! Taking the lead recovers the pending timers (re-arms them, resumes settling fired ones);
//! losing it drops every armed timer and closes the open streams, so clients reconnect to the
//! new leader. A single-node kernel takes the lead once, at start.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use minoots_proto::v1::TimerStatus;
use tokio_util::sync::CancellationToken;

use crate::{
    Inner, KernelError, Leadership,
    error::Result,
    lifecycle::{
        scheduler::{ArmRequest, Command},
        writer::FiredTimer,
    },
    quota,
};

/// Pending timers per scheduler command during recovery.
const RECOVERY_CHUNK: usize = 8_192;

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

impl Inner {
    /// Whether this kernel currently leads (always true for a single node once started).
    pub(crate) fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Ok when this kernel serves writes; otherwise NotLeader with the retry hint.
    pub(crate) fn ensure_leader(&self) -> Result<()> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(KernelError::NotLeader {
                retry_after_ms: self.retry_after_ms,
            })
        }
    }

    /// Becomes the leader: loads every pending timer into the scheduler (overdue ones fire at
    /// once) and hands fired-but-unsettled ones to the dispatcher, then accepts requests.
    ///
    /// The pending timers are read as a stream and armed in chunks as they arrive: the first
    /// overdue ones fire while the rest still load, and a million of them never sit in memory
    /// all at once (a whole list of them left the allocator holding 900 MB after the restart).
    pub(crate) async fn take_lead(&self) -> Result<()> {
        let started = Instant::now();
        let now = self.clock.now();
        let mut active: HashMap<String, u64> = HashMap::new();
        let mut arm = Vec::with_capacity(RECOVERY_CHUNK);
        let (mut armed, mut fired) = (0, 0);
        let mut pending = self.store.pending();
        while let Some(timer) = pending.try_next().await? {
            match timer.status {
                TimerStatus::Scheduled | TimerStatus::Armed => {
                    if let Some(count) = active.get_mut(&timer.tenant_id) {
                        *count += 1;
                    } else {
                        active.insert(timer.tenant_id.clone(), 1);
                    }
                    arm.push(ArmRequest {
                        id: timer.id,
                        tenant_id: timer.tenant_id,
                        fire_at: timer.fire_at,
                        write_armed: timer.status == TimerStatus::Scheduled,
                        has_actions: timer.has_actions,
                    });
                    if arm.len() == RECOVERY_CHUNK {
                        armed += arm.len();
                        let chunk = std::mem::replace(&mut arm, Vec::with_capacity(RECOVERY_CHUNK));
                        self.scheduler
                            .send(Command::Arm(chunk))
                            .map_err(|_| KernelError::ShuttingDown)?;
                    }
                }
                TimerStatus::Fired => {
                    let _ = self.fired.send(FiredTimer {
                        tenant_id: timer.tenant_id,
                        id: timer.id,
                        has_actions: timer.has_actions,
                        timer: None,
                    });
                    fired += 1;
                }
                _ => {}
            }
        }
        drop(pending);
        armed += arm.len();
        if !arm.is_empty() {
            self.scheduler
                .send(Command::Arm(arm))
                .map_err(|_| KernelError::ShuttingDown)?;
        }
        let today = now - now.rem_euclid(quota::DAY_MICROS);
        let scheduled_today = self.store.created_since(today).await?;
        let overrides = self.store.tenant_limits().await?;
        {
            let mut usage = self.usage.lock().unwrap();
            usage.seed(active, scheduled_today, now);
            usage.set_overrides(overrides);
        }
        let schedules = self.store.live_schedules().await?;
        tracing::info!(rearmed = armed, fired_unsettled = fired, schedules = schedules.len(), took = ?started.elapsed(), "leading: recovered pending timers and schedules");
        self.leader.store(true, Ordering::SeqCst);
        // After leading is set: the runner steps only while this kernel leads.
        self.schedules.load(schedules);
        Ok(())
    }

    fn step_down(&self, why: &str) {
        if self.leader.swap(false, Ordering::SeqCst) {
            tracing::warn!(
                why,
                "no longer leading: dropping armed timers and closing streams"
            );
        }
        // The store keeps the old fence: any write still in flight is refused by the database.
        let _ = self.scheduler.send(Command::Reset);
        self.schedules.reset();
        let mut streams = self.streams.lock().unwrap();
        streams.cancel();
        *streams = CancellationToken::new();
    }
}

/// Starts competing for the lease on a thread of its own: CPU-heavy batches on the main runtime
/// must not delay renewals past the lease timeout.
pub(crate) fn spawn(
    inner: Arc<Inner>,
    leadership: Leadership,
) -> Result<std::thread::JoinHandle<()>> {
    let main = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("minoots-lease".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("lease runtime");
            runtime.block_on(lead(inner, leadership, main));
        })
        .map_err(|e| KernelError::Internal(format!("spawning the lease thread: {e}")))
}

/// Holds the lease while it can: acquires it when free, renews it every heartbeat, steps down
/// when a renewal fails or has not succeeded for a whole lease timeout.
/// Runs on the lease thread; recovery, which is CPU-heavy with many timers, runs on `main`.
async fn lead(inner: Arc<Inner>, leadership: Leadership, main: tokio::runtime::Handle) {
    let mut fence: Option<Fence> = None;
    let mut renewed_at = Instant::now();
    // Recovery (loading and arming every pending timer) can take longer than the lease timeout
    // with a million timers, so it runs beside the renewals instead of blocking them.
    let mut recovery: Option<tokio::task::JoinHandle<Result<()>>> = None;
    loop {
        match &fence {
            None => match leadership.lease.try_acquire().await {
                Ok(Some(acquired)) => {
                    tracing::info!(token = acquired.token, holder = %acquired.holder, "acquired the kernel lease");
                    inner.store.set_fence(Some(acquired.clone()));
                    renewed_at = Instant::now();
                    let recovering = inner.clone();
                    recovery = Some(main.spawn(async move { recovering.take_lead().await }));
                    fence = Some(acquired);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "lease acquisition failed"),
            },
            Some(current) => {
                let renewal =
                    tokio::time::timeout(leadership.heartbeat, leadership.lease.renew(current))
                        .await;
                let lost = match renewal {
                    Ok(Ok(true)) => {
                        renewed_at = Instant::now();
                        None
                    }
                    Ok(Ok(false)) => Some("the lease was taken over"),
                    Ok(Err(_)) | Err(_) if renewed_at.elapsed() >= leadership.timeout => {
                        Some("the lease could not be renewed within its timeout")
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "lease renewal failed; retrying");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("lease renewal timed out; retrying");
                        None
                    }
                };
                if let Some(why) = lost {
                    if let Some(recovering) = recovery.take() {
                        recovering.abort();
                    }
                    inner.step_down(why);
                    fence = None;
                }
            }
        }
        if recovery
            .as_ref()
            .is_some_and(tokio::task::JoinHandle::is_finished)
            && let Some(finished) = recovery.take()
        {
            let failed = match finished.await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(error) => Some(error.to_string()),
            };
            if let Some(error) = failed
                && let Some(current) = fence.take()
            {
                tracing::warn!(%error, "recovery failed; releasing the lease");
                inner.step_down("recovery failed");
                let _ = leadership.lease.release(&current).await;
            }
        }
        // Followers poll twice per heartbeat, so a free lease is noticed quickly.
        let pause = if fence.is_some() {
            leadership.heartbeat
        } else {
            leadership.heartbeat / 2
        };
        tokio::select! {
            () = inner.stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    if let Some(recovering) = recovery.take() {
        recovering.abort();
    }
    if let Some(current) = fence {
        inner.leader.store(false, Ordering::SeqCst);
        if let Err(error) = leadership.lease.release(&current).await {
            tracing::warn!(%error, "releasing the lease on shutdown failed; it expires on its own");
        }
    }
}
