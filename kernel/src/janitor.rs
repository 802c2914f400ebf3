//! Housekeeping while the kernel runs: purging finished timers and old events past their
//! retention (only the leader purges), and re-reading per-tenant limits that other processes
//! may have changed. Both run on the kernel's clock, so tests drive them with a manual one.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use crate::{Inner, KernelConfig, Micros};

/// Every `purge_interval`, while leading, deletes finished timers and events past retention.
pub(crate) async fn purge(inner: Arc<Inner>, config: KernelConfig) {
    let (store, clock, stop) = (inner.store.clone(), inner.clock.clone(), inner.stop.clone());
    loop {
        let next = clock.now() + config.purge_interval.as_micros() as Micros;
        tokio::select! {
            () = stop.cancelled() => return,
            () = clock.sleep_until(next) => {}
        }
        if !inner.leader.load(Ordering::SeqCst) {
            continue;
        }
        let now = clock.now();
        let timers_before = now - config.timer_retention.as_micros() as Micros;
        let events_before = now - config.event_retention.as_micros() as Micros;
        // With NATS publishing, events the outbox has not sent yet outlive their retention.
        let keep_unpublished = config.publishing.is_some();
        match store
            .purge(timers_before, events_before, keep_unpublished)
            .await
        {
            Ok((0, 0)) => {}
            Ok((timers, events)) => tracing::info!(timers, events, "purged past retention"),
            Err(error) => tracing::warn!(%error, "purge failed; will retry"),
        }
    }
}

/// Re-reads per-tenant limits, which other processes (a gateway, `minoots tenants`) may change.
pub(crate) async fn refresh_limits(inner: Arc<Inner>, every: Duration) {
    loop {
        let next = inner.clock.now() + every.as_micros() as Micros;
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.clock.sleep_until(next) => {}
        }
        match inner.store.tenant_limits().await {
            Ok(overrides) => inner.usage.lock().unwrap().set_overrides(overrides),
            Err(error) => tracing::warn!(%error, "reading tenant limits failed; will retry"),
        }
    }
}
