//! Flow control set by the caller (QStash-style): a webhook or agent prompt may carry
//! `flow_control {key, max_concurrent, max_per_second}`, which limits how many of its tenant's
//! attempts to `key` run at once and how many start per second. The key defaults to the
//! destination's `host:port` (`nats:<subject>` for a NATS agent, `agent:<name>` for a registered
//! agent); callers give one key to many URLs (a URL prefix, an API) to make them share a limit.
//!
//! Limits are kept per (tenant, key), so one tenant's setting never touches another tenant's
//! deliveries. When attempts carry different limits for the same key, the latest wins: each
//! attempt applies its own limits to the key as it starts waiting (a lower `max_concurrent`
//! takes effect as running attempts finish). Starts are spaced `1 / max_per_second` apart.
//!
//! These are the narrowest permits of an attempt, taken before [`super::fairness`]'s: an
//! attempt waits for its flow slot and then for its turn to start while holding nothing else,
//! so a tenant throttled at one destination holds no per-tenant or global slot and delays no
//! other tenant.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use minoots_proto::v1::FlowControl;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use crate::error::{KernelError, Result};

const MAX_KEY: usize = 256;
const MAX_CONCURRENT: u32 = 1_000;
const MAX_PER_SECOND: u32 = 100_000;
/// Unused keys are dropped every this many acquisitions.
const SWEEP_EVERY: u64 = 1_024;

/// Checks a `flow_control` at `field` (`action_bundle.actions[0].webhook.flow_control`).
pub(crate) fn validate(flow: &FlowControl, field: &str) -> Result<()> {
    if flow.key.chars().count() > MAX_KEY {
        return Err(KernelError::invalid(
            format!("{field}.key"),
            format!("at most {MAX_KEY} characters"),
        ));
    }
    if flow.key.chars().any(char::is_control) {
        return Err(KernelError::invalid(
            format!("{field}.key"),
            "contains a control character",
        ));
    }
    if flow.max_concurrent > MAX_CONCURRENT {
        return Err(KernelError::invalid(
            format!("{field}.max_concurrent"),
            format!("at most {MAX_CONCURRENT} (0: no limit of its own)"),
        ));
    }
    if flow.max_per_second > MAX_PER_SECOND {
        return Err(KernelError::invalid(
            format!("{field}.max_per_second"),
            format!("at most {MAX_PER_SECOND} (0: no rate limit)"),
        ));
    }
    if flow.max_concurrent == 0 && flow.max_per_second == 0 {
        return Err(KernelError::invalid(
            field,
            "set max_concurrent, max_per_second or both",
        ));
    }
    Ok(())
}

/// The flow state of every (tenant, key) in use.
#[derive(Default)]
pub(crate) struct Flows {
    keys: Mutex<HashMap<String, Arc<Flow>>>,
    acquisitions: AtomicU64,
}

/// One (tenant, key): a semaphore sized to the latest `max_concurrent`, and the next start
/// the rate allows.
struct Flow {
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The limit the semaphore's permits add up to (the last non-zero `max_concurrent`).
    sized_for: u32,
    /// Permits to retire as they come back, after the limit was lowered while they were out.
    debt: u32,
    /// Zero: attempts do not take a permit.
    max_concurrent: u32,
    max_per_second: u32,
    next_start: Option<Instant>,
}

/// Held by an attempt while it runs (with its fairness permits); dropping it frees the slot.
pub(crate) struct FlowSlot {
    flow: Arc<Flow>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for FlowSlot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.flow.state.lock().expect("flow lock");
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
    }
}

impl Flows {
    /// Waits until an attempt of `tenant` under `flow` may start: a slot of the key's
    /// concurrency, then its turn under the key's rate. `key` is the flow's own key or, when it
    /// has none, the destination's.
    pub(crate) async fn acquire(&self, tenant: &str, key: &str, flow: &FlowControl) -> FlowSlot {
        let entry = self.entry(tenant, key);
        entry.apply(flow);
        let permit = if flow.max_concurrent > 0 {
            Some(
                entry
                    .semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("flow semaphores are never closed"),
            )
        } else {
            None
        };
        // The rate is read after the slot: the latest limits are the ones that count.
        let start = {
            let mut state = entry.state.lock().expect("flow lock");
            match state.max_per_second {
                0 => None,
                rate => {
                    let now = Instant::now();
                    let start = state.next_start.map_or(now, |next| next.max(now));
                    state.next_start = Some(start + Duration::from_secs_f64(1.0 / f64::from(rate)));
                    Some(start)
                }
            }
        };
        let slot = FlowSlot {
            flow: entry,
            permit,
        };
        if let Some(start) = start {
            tokio::time::sleep_until(start).await;
        }
        slot
    }

    fn entry(&self, tenant: &str, key: &str) -> Arc<Flow> {
        let mut keys = self.keys.lock().expect("flows lock");
        if self.acquisitions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Unused: nobody holds or waits for a slot, and the rate would let one start now.
            let now = Instant::now();
            keys.retain(|_, flow| {
                Arc::strong_count(flow) > 1
                    || flow
                        .state
                        .lock()
                        .expect("flow lock")
                        .next_start
                        .is_some_and(|next| next > now)
            });
        }
        keys.entry(format!("{tenant}\n{key}"))
            .or_insert_with(|| {
                Arc::new(Flow {
                    semaphore: Arc::new(Semaphore::new(0)),
                    state: Mutex::new(State::default()),
                })
            })
            .clone()
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.keys.lock().expect("flows lock").len()
    }
}

impl Flow {
    /// Makes `flow`'s limits the key's (the latest wins).
    fn apply(&self, flow: &FlowControl) {
        let mut state = self.state.lock().expect("flow lock");
        state.max_per_second = flow.max_per_second;
        state.max_concurrent = flow.max_concurrent;
        let limit = flow.max_concurrent;
        if limit == 0 || limit == state.sized_for {
            return;
        }
        if limit > state.sized_for {
            let mut more = limit - state.sized_for;
            // Permits still owed from a lower limit are simply no longer owed.
            let forgiven = more.min(state.debt);
            state.debt -= forgiven;
            more -= forgiven;
            self.semaphore.add_permits(more as usize);
        } else {
            let fewer = state.sized_for - limit;
            let retired = self.semaphore.forget_permits(fewer as usize) as u32;
            state.debt += fewer - retired;
        }
        state.sized_for = limit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ready;

    fn limits(max_concurrent: u32, max_per_second: u32) -> FlowControl {
        FlowControl {
            key: String::new(),
            max_concurrent,
            max_per_second,
        }
    }

    #[test]
    fn concurrency_is_per_tenant_and_key_and_the_latest_limit_wins() {
        let flows = Flows::default();
        let two = limits(2, 0);
        let a1 = ready(flows.acquire("a", "api", &two)).unwrap();
        let a2 = ready(flows.acquire("a", "api", &two)).unwrap();
        assert!(ready(flows.acquire("a", "api", &two)).is_none());
        // Another key of A's, and the same key of another tenant, are not affected.
        let _other = ready(flows.acquire("a", "other", &two)).unwrap();
        let _b = ready(flows.acquire("b", "api", &limits(1, 0))).unwrap();
        // A timer raising the limit lets a third in at once.
        let a3 = ready(flows.acquire("a", "api", &limits(3, 0))).unwrap();
        // Lowered to 1 while three run: none starts until two of them have finished.
        let one = limits(1, 0);
        assert!(ready(flows.acquire("a", "api", &one)).is_none());
        drop(a1);
        assert!(ready(flows.acquire("a", "api", &one)).is_none());
        drop(a2);
        assert!(ready(flows.acquire("a", "api", &one)).is_none());
        drop(a3);
        let _a4 = ready(flows.acquire("a", "api", &one)).unwrap();
        assert!(ready(flows.acquire("a", "api", &one)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_rate_per_tenant_and_key() {
        let flows = Arc::new(Flows::default());
        let began = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let _slot = flows.acquire("a", "api", &limits(0, 4)).await;
            starts.push(began.elapsed());
        }
        assert_eq!(
            starts,
            [0, 250, 500, 750, 1_000].map(Duration::from_millis),
            "four a second, spaced"
        );
        // Another tenant's key is not behind A's turns.
        let before = Instant::now();
        let _b = flows.acquire("b", "api", &limits(0, 4)).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        // Rate and concurrency together: the third waits for a slot, then its turn.
        let both = limits(2, 10);
        let s1 = flows.acquire("c", "api", &both).await;
        let _s2 = flows.acquire("c", "api", &both).await;
        let third = {
            let flows = flows.clone();
            tokio::spawn(async move { flows.acquire("c", "api", &limits(2, 10)).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!third.is_finished(), "two are running");
        drop(s1);
        third.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn unused_keys_are_dropped() {
        let flows = Flows::default();
        for i in 0..SWEEP_EVERY {
            drop(flows.acquire("a", &format!("k{i}"), &limits(1, 0)).await);
        }
        assert!(flows.kept() <= 1, "{}", flows.kept());
        // A key whose rate still spaces the next start is kept.
        drop(flows.acquire("a", "paced", &limits(0, 1)).await);
        for i in 0..SWEEP_EVERY {
            drop(flows.acquire("a", &format!("j{i}"), &limits(1, 0)).await);
        }
        assert!(flows.keys.lock().unwrap().contains_key("a\npaced"));
    }

    #[test]
    fn bad_limits_name_the_field() {
        let field = |flow: FlowControl| {
            validate(&flow, "action_bundle.actions[0].webhook.flow_control")
                .unwrap_err()
                .to_string()
        };
        assert!(field(limits(0, 0)).contains("webhook.flow_control"));
        assert!(field(limits(1_001, 0)).contains("flow_control.max_concurrent"));
        assert!(field(limits(0, 100_001)).contains("flow_control.max_per_second"));
        let long = FlowControl {
            key: "k".repeat(257),
            ..limits(1, 0)
        };
        assert!(field(long).contains("flow_control.key"));
        assert!(validate(&limits(1_000, 100_000), "f").is_ok());
    }
}
