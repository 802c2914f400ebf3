//! The scheduler: owns the timing wheel, fires due timers in batches.
//!
//! It runs as one task that alone touches the wheel; the rest of the kernel talks to it through a
//! channel. A due timer without actions is fired and settled by one durable write queued on the
//! group-commit writer. A due timer with actions goes straight to the dispatcher (no write in
//! front of its delivery), unless a caller's write to it is being committed at that moment: then
//! it is fired the same way, FIRED written first. The store only accepts FIRED from SCHEDULED
//! or ARMED and [`super::firing`] refuses caller writes to a timer in flight, which is what
//! makes a cancel racing a fire safe (exactly one of them wins).

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::Arc,
};

use hashbrown::HashTable;

use minoots_proto::v1::TimerStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    backoff,
    clock::{Clock, Micros},
    error::KernelError,
    lifecycle::{
        dispatch::Due,
        firing::{Firing, TimerKey, key_of},
        wheel::{EntryKey, Tick, TimingWheel},
        writer::Writer,
    },
    store::{Mutation, Outcome, Transition},
};

/// What the wheel holds for an armed timer (24 bytes, as the id and flag alone are padded to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Armed {
    key: TimerKey,
    /// Its tenant, as an index into the scheduler's table of tenant ids.
    tenant: u32,
    /// It goes to the dispatcher instead of settling with the fire.
    actions: bool,
}

/// The armed timers: the timing wheel, and an index from timer id to wheel entry that holds only
/// the 8-byte entry key (the id is read back from the wheel). By their sizes, a `HashMap` from id
/// to entry and a set of the timers with actions beside it came to about 130 bytes per armed
/// timer; this is about 60 (a 48-byte wheel node and 9 bytes of index table, plus the tables'
/// growth slack). Measured with 1M armed timers: docs/benchmarks.md, "Memory".
struct ArmedTimers {
    wheel: TimingWheel<Armed>,
    index: HashTable<EntryKey>,
    hasher: RandomState,
}

impl ArmedTimers {
    fn new(now: Tick) -> Self {
        Self {
            wheel: TimingWheel::new(now),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    fn len(&self) -> usize {
        self.wheel.len()
    }

    fn next_deadline(&self) -> Option<Tick> {
        self.wheel.next_deadline()
    }

    #[cfg(test)]
    fn contains(&self, key: TimerKey) -> bool {
        let wheel = &self.wheel;
        self.index
            .find(self.hasher.hash_one(key), |&e| holds(wheel, e, key))
            .is_some()
    }

    /// Arms a timer: `Ok(true)`, or `Ok(false)` when it is armed already (nothing changes);
    /// one whose deadline has passed comes back as `Err` for the caller to fire now.
    fn insert(&mut self, deadline: Tick, armed: Armed) -> Result<bool, Armed> {
        let Self {
            wheel,
            index,
            hasher,
        } = self;
        let hash = hasher.hash_one(armed.key);
        if index.find(hash, |&e| holds(wheel, e, armed.key)).is_some() {
            return Ok(false);
        }
        let entry = wheel.insert(deadline, armed)?;
        index.insert_unique(hash, entry, |&e| {
            hasher.hash_one(wheel.get(e).expect("indexed entries are in the wheel").key)
        });
        Ok(true)
    }

    fn remove(&mut self, key: TimerKey) -> Option<Armed> {
        let wheel = &self.wheel;
        let found = self
            .index
            .find_entry(self.hasher.hash_one(key), |&e| holds(wheel, e, key))
            .ok()?;
        let (entry, _) = found.remove();
        self.wheel.remove(entry)
    }

    /// Appends every timer due at `now` to `expired`.
    fn poll(&mut self, now: Tick, expired: &mut Vec<Armed>) {
        let Self {
            wheel,
            index,
            hasher,
        } = self;
        wheel.poll_entries(now, |entry, armed| {
            if let Ok(found) = index.find_entry(hasher.hash_one(armed.key), |&e| e == entry) {
                found.remove();
            }
            expired.push(armed);
        });
    }
}

fn holds(wheel: &TimingWheel<Armed>, entry: EntryKey, key: TimerKey) -> bool {
    wheel.get(entry).is_some_and(|armed| armed.key == key)
}

#[derive(Debug)]
pub(crate) struct ArmRequest {
    pub id: String,
    pub tenant_id: String,
    pub fire_at: Micros,
    /// The timer is still SCHEDULED in the store: write the ARMED transition.
    pub write_armed: bool,
    /// Without actions a timer settles in the same transaction that fires it.
    pub has_actions: bool,
}

#[derive(Debug)]
pub(crate) enum Command {
    Arm(Vec<ArmRequest>),
    Disarm(String),
    /// Leadership was lost: forget every armed timer (the next leader owns them).
    Reset,
}

pub(crate) struct Scheduler {
    clock: Arc<dyn Clock>,
    writer: Writer,
    firing: Arc<Firing>,
    /// Due timers with actions, for the dispatcher to deliver.
    deliver: mpsc::UnboundedSender<Vec<Due>>,
    /// The tenants of armed timers, each once: the wheel holds an index into this.
    tenants: Vec<Arc<str>>,
    tenant_index: HashMap<Arc<str>, u32>,
    metrics: Arc<crate::metrics::Metrics>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Its own queue, to arm again a timer whose fire was refused because it was moved later.
    rearm: mpsc::UnboundedSender<Command>,
    armed: ArmedTimers,
    /// Timers whose deadline had already passed when armed.
    due: Vec<Armed>,
    arm_writes: Vec<Mutation>,
    /// Where write-completion tasks run (the scheduler may be on its own thread).
    runtime: tokio::runtime::Handle,
    stop: CancellationToken,
}

/// Ticks are whole milliseconds; a timer is due at the first tick at or after its fire time, so
/// it never fires early.
fn deadline_tick(fire_at: Micros) -> Tick {
    (fire_at.max(0) as u64).div_ceil(1_000)
}

impl Scheduler {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clock: Arc<dyn Clock>,
        writer: Writer,
        firing: Arc<Firing>,
        deliver: mpsc::UnboundedSender<Vec<Due>>,
        metrics: Arc<crate::metrics::Metrics>,
        commands: mpsc::UnboundedReceiver<Command>,
        rearm: mpsc::UnboundedSender<Command>,
        runtime: tokio::runtime::Handle,
        stop: CancellationToken,
    ) -> Self {
        let now = (clock.now().max(0) / 1_000) as Tick;
        Self {
            clock,
            writer,
            firing,
            deliver,
            tenants: Vec::new(),
            tenant_index: HashMap::new(),
            metrics,
            commands,
            rearm,
            armed: ArmedTimers::new(now),
            due: Vec::new(),
            arm_writes: Vec::new(),
            runtime,
            stop,
        }
    }

    pub async fn run(mut self) {
        let mut expired = Vec::new();
        loop {
            let now = self.clock.now();
            self.armed.poll((now.max(0) / 1_000) as Tick, &mut expired);
            expired.append(&mut self.due);
            if !expired.is_empty() {
                self.fire(&mut expired, now);
            }
            self.metrics.armed.store(
                self.armed.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let next = self
                .armed
                .next_deadline()
                .map(|tick| tick as Micros * 1_000);
            tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                command = self.commands.recv() => {
                    let Some(command) = command else { break };
                    self.handle(command);
                    while let Ok(command) = self.commands.try_recv() {
                        self.handle(command);
                    }
                    self.flush_arm_writes();
                }
                () = self.clock.sleep_until(next.unwrap_or(Micros::MAX)), if next.is_some() => {}
            }
        }
        tracing::debug!(armed = self.armed.len(), "scheduler stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Arm(requests) => {
                for request in requests {
                    let Some(key) = key_of(&request.id) else {
                        continue;
                    };
                    let armed = Armed {
                        key,
                        tenant: self.tenant(&request.tenant_id),
                        actions: request.has_actions,
                    };
                    match self.armed.insert(deadline_tick(request.fire_at), armed) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(armed) => self.due.push(armed),
                    }
                    if request.write_armed {
                        self.arm_writes.push(system_transition(
                            request.id,
                            TimerStatus::Armed,
                            self.clock.now(),
                        ));
                    }
                }
            }
            Command::Reset => {
                let now = (self.clock.now().max(0) / 1_000) as Tick;
                self.armed = ArmedTimers::new(now);
                self.due.clear();
                self.arm_writes.clear();
            }
            Command::Disarm(id) => {
                if let Some(key) = key_of(&id) {
                    // One already in `due` still goes to the store, which refuses the fire.
                    self.armed.remove(key);
                }
            }
        }
    }

    /// The index of `tenant` in the tenant table, adding it if new.
    fn tenant(&mut self, tenant: &str) -> u32 {
        if let Some(&index) = self.tenant_index.get(tenant) {
            return index;
        }
        let index = self.tenants.len() as u32;
        let tenant: Arc<str> = tenant.into();
        self.tenants.push(tenant.clone());
        self.tenant_index.insert(tenant, index);
        index
    }

    fn flush_arm_writes(&mut self) {
        let mut mutations = std::mem::take(&mut self.arm_writes);
        while !mutations.is_empty() {
            let rest = mutations.split_off(mutations.len().min(FIRE_CHUNK));
            self.commit(mutations);
            mutations = rest;
        }
    }

    fn fire(&mut self, expired: &mut Vec<Armed>, now: Micros) {
        // Arm writes queued in this same loop must commit before the fires.
        self.flush_arm_writes();
        let mut mutations = Vec::with_capacity(expired.len() * 2);
        let mut deliver = Vec::new();
        for Armed {
            key,
            tenant,
            actions,
        } in expired.drain(..)
        {
            let id = Uuid::from_u64_pair(key.0, key.1).to_string();
            if actions && self.firing.start(key) {
                deliver.push(Due {
                    tenant_id: self.tenants[tenant as usize].to_string(),
                    id,
                    fired_at: now,
                });
                continue;
            }
            mutations.push(system_transition(id.clone(), TimerStatus::Fired, now));
            if !actions {
                // Nothing to run: FIRED then SETTLED, two events, one row write.
                mutations.push(system_transition(id, TimerStatus::Settled, now));
            }
        }
        if !deliver.is_empty() {
            let _ = self.deliver.send(deliver);
        }
        // In requests of bounded size: after a restart with a million overdue timers the first
        // fires commit (and are seen) within milliseconds instead of after one giant
        // transaction; the writer still groups consecutive requests into shared commits.
        while !mutations.is_empty() {
            let rest = mutations.split_off(mutations.len().min(FIRE_CHUNK));
            self.commit(mutations);
            mutations = rest;
        }
    }

    /// Queues system transitions on the writer in call order and retries them until they commit:
    /// a fire must not be lost to a transient store error.
    fn commit(&self, mutations: Vec<Mutation>) {
        let writer = self.writer.clone();
        let stop = self.stop.clone();
        let rearm = self.rearm.clone();
        let first = writer.enqueue_urgent(mutations.clone());
        self.runtime.spawn(async move {
            let mut result = first.await;
            let mut backoff = backoff::STORE_WRITE;
            while let Err(error) = &result {
                if matches!(
                    error,
                    KernelError::ShuttingDown | KernelError::Fenced { .. }
                ) || stop.is_cancelled()
                {
                    // Still durable as SCHEDULED/ARMED: the next leader (or start) fires it.
                    return;
                }
                let retry_in = backoff.next();
                tracing::warn!(%error, ?retry_in, "scheduler write failed");
                tokio::time::sleep(retry_in).await;
                result = writer.enqueue_urgent(mutations.clone()).await;
            }
            if let Ok(outcomes) = result {
                let mut again = Vec::new();
                for outcome in outcomes {
                    // An update moved the fire time later after the timer came due here: it
                    // fires at its new time.
                    if let Outcome::NotDue(timer) = &outcome {
                        again.push(ArmRequest {
                            id: timer.id.clone(),
                            tenant_id: timer.tenant_id.clone(),
                            fire_at: crate::store::fire_at(timer),
                            write_armed: false,
                            has_actions: crate::store::has_actions(timer),
                        });
                        continue;
                    }
                    // Losing a race against a cancel or a pause is the expected way for a fire
                    // to be refused.
                    if let Outcome::Rejected(
                        TimerStatus::Cancelled
                        | TimerStatus::Paused
                        | TimerStatus::Fired
                        | TimerStatus::Settled
                        | TimerStatus::Failed,
                    )
                    | Outcome::NotFound = outcome
                    {
                        continue;
                    }
                    if let Outcome::Rejected(status) = outcome {
                        tracing::warn!(?status, "scheduler transition rejected");
                    }
                }
                if !again.is_empty() {
                    let _ = rearm.send(Command::Arm(again));
                }
            }
        });
    }
}

/// Transitions per writer request from the scheduler (one FIRED and one SETTLED per timer).
const FIRE_CHUNK: usize = 4_096;

pub(crate) fn system_transition(timer_id: String, to: TimerStatus, at: Micros) -> Mutation {
    Mutation::Transition(Transition {
        timer_id,
        tenant_id: None,
        to,
        at,
        reason: String::new(),
        actor: String::new(),
        results: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> TimerKey {
        (i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i)
    }

    /// The id index follows the wheel: what is armed is found, a timer is armed once, a disarmed
    /// one never expires, an expired one leaves the index and can be armed again.
    #[test]
    fn armed_timers_index_follows_the_wheel_through_arm_disarm_and_expiry() {
        const N: u64 = 20_000;
        let mut armed = ArmedTimers::new(1_000);
        for i in 0..N {
            let timer = Armed {
                key: key(i),
                tenant: 0,
                actions: i % 3 == 0,
            };
            assert_eq!(armed.insert(1_001 + i % 500, timer), Ok(true));
        }
        assert_eq!(armed.len(), N as usize);
        let again = Armed {
            key: key(7),
            tenant: 0,
            actions: false,
        };
        assert_eq!(armed.insert(5_000, again), Ok(false), "armed once");
        assert_eq!(armed.len(), N as usize);
        assert!((0..N).all(|i| armed.contains(key(i))));
        assert!(!armed.contains(key(N)));
        assert!(
            armed
                .insert(
                    999,
                    Armed {
                        key: key(N),
                        tenant: 0,
                        actions: false
                    }
                )
                .is_err(),
            "a passed deadline is due at once"
        );

        for i in (0..N).step_by(2) {
            assert_eq!(armed.remove(key(i)).map(|a| a.key), Some(key(i)));
        }
        assert!(armed.remove(key(0)).is_none(), "removed once");
        assert_eq!(armed.len(), N as usize / 2);

        let mut expired = Vec::new();
        armed.poll(1_001 + 499, &mut expired);
        assert_eq!(expired.len(), N as usize / 2);
        for timer in &expired {
            let i = timer.key.1;
            assert_eq!(i % 2, 1, "only the ones not disarmed expire");
            assert_eq!(timer.actions, i % 3 == 0, "the action flag travels along");
        }
        assert_eq!(armed.len(), 0);
        assert!(
            (0..N).all(|i| !armed.contains(key(i))),
            "the index is empty"
        );
        assert!(armed.index.is_empty());

        let again = Armed {
            key: key(1),
            tenant: 0,
            actions: true,
        };
        assert_eq!(armed.insert(2_000, again), Ok(true));
        assert!(armed.contains(key(1)));
    }
}
