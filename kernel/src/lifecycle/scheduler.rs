//! The scheduler: owns the timing wheel, fires due timers in batches.
//!
//! It runs as one task that alone touches the wheel; the rest of the kernel talks to it through a
//! channel. Firing is a durable transition ARMED -> FIRED queued on the group-commit writer; the
//! store only accepts it from SCHEDULED or ARMED, which is what makes a cancel racing a fire safe
//! (exactly one of them wins) and a restart unable to fire a timer twice.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use minoots_proto::v1::TimerStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    backoff,
    clock::{Clock, Micros},
    error::KernelError,
    lifecycle::{
        wheel::{EntryKey, Tick, TimingWheel},
        writer::Writer,
    },
    store::{Mutation, Outcome, Transition},
};

type TimerKey = (u64, u64);

#[derive(Debug)]
pub(crate) struct ArmRequest {
    pub id: String,
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
    metrics: Arc<crate::metrics::Metrics>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Its own queue, to arm again a timer whose fire was refused because it was moved later.
    rearm: mpsc::UnboundedSender<Command>,
    wheel: TimingWheel<TimerKey>,
    entries: HashMap<TimerKey, EntryKey>,
    /// The few armed timers that have actions (they stay FIRED for the action executor).
    with_actions: HashSet<TimerKey>,
    /// Timers whose deadline had already passed when armed.
    due: Vec<TimerKey>,
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

fn key_of(id: &str) -> Option<TimerKey> {
    Uuid::try_parse(id).ok().map(|u| u.as_u64_pair())
}

impl Scheduler {
    pub fn new(
        clock: Arc<dyn Clock>,
        writer: Writer,
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
            metrics,
            commands,
            rearm,
            wheel: TimingWheel::new(now),
            entries: HashMap::new(),
            with_actions: HashSet::new(),
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
            self.wheel.poll((now.max(0) / 1_000) as Tick, &mut expired);
            expired.append(&mut self.due);
            if !expired.is_empty() {
                self.fire(&mut expired, now);
            }
            self.metrics.armed.store(
                self.wheel.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let next = self
                .wheel
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
        tracing::debug!(armed = self.wheel.len(), "scheduler stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Arm(requests) => {
                for request in requests {
                    let Some(key) = key_of(&request.id) else {
                        continue;
                    };
                    if self.entries.contains_key(&key) {
                        continue;
                    }
                    match self.wheel.insert(deadline_tick(request.fire_at), key) {
                        Ok(entry) => {
                            self.entries.insert(key, entry);
                        }
                        Err(key) => self.due.push(key),
                    }
                    if request.has_actions {
                        self.with_actions.insert(key);
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
                self.wheel = TimingWheel::new(now);
                self.entries.clear();
                self.with_actions.clear();
                self.due.clear();
                self.arm_writes.clear();
            }
            Command::Disarm(id) => {
                if let Some(key) = key_of(&id) {
                    self.with_actions.remove(&key);
                    if let Some(entry) = self.entries.remove(&key) {
                        self.wheel.remove(entry);
                    }
                }
            }
        }
    }

    fn flush_arm_writes(&mut self) {
        let mut mutations = std::mem::take(&mut self.arm_writes);
        while !mutations.is_empty() {
            let rest = mutations.split_off(mutations.len().min(FIRE_CHUNK));
            self.commit(mutations);
            mutations = rest;
        }
    }

    fn fire(&mut self, expired: &mut Vec<TimerKey>, now: Micros) {
        // Arm writes queued in this same loop must commit before the fires.
        self.flush_arm_writes();
        let mut mutations = Vec::with_capacity(expired.len() * 2);
        for key in expired.drain(..) {
            self.entries.remove(&key);
            let id = Uuid::from_u64_pair(key.0, key.1).to_string();
            let settle = !self.with_actions.remove(&key);
            mutations.push(system_transition(id.clone(), TimerStatus::Fired, now));
            if settle {
                // Nothing to run: FIRED then SETTLED, two events, one row write.
                mutations.push(system_transition(id, TimerStatus::Settled, now));
            }
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
