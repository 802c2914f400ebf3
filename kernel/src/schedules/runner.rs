//! The schedule runner: one task that, while this kernel leads, creates each active schedule's
//! occurrence when its slot comes, applying the catch-up policy to slots missed while no kernel
//! led and the overlap policy while the previous occurrence still runs.
//!
//! It holds only (when to step, id) per active schedule; the schedule itself is read from the
//! store when its step comes. Each schedule's step is one write: its occurrences and its new state
//! in one transaction (concurrent steps share the writer's group commit).
//!
//! A schedule is stepped [`LEAD`] before its slot, so the occurrence is durable and armed in the
//! timing wheel when the slot comes and fires with a timer's precision, however many schedules
//! share the slot. A step that depends on the state at the slot itself (the previous occurrence
//! still running under SKIP or BUFFER_ONE) is taken again at the slot.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use minoots_proto::v1::{
    CatchUpPolicy, LatePolicy, OverlapPolicy, Schedule, ScheduleState, ScheduleTimerRequest,
    TimerEventType, TimerStatus, schedule_timer_request,
};
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Spec, occurrence_key, spec_of, state};
use crate::{
    Inner, KernelError, Result,
    clock::{Micros, from_timestamp, to_timestamp},
    store::{Mutation, ScheduleWrite},
    timers, validate,
};

/// A slot reached more than this late counts as missed (no kernel led at its time): the
/// catch-up policy decides whether it still fires.
pub const MISSED_AFTER: Micros = 10_000_000;
/// Due schedules stepped together; the rest wait for the next round.
const BATCH: usize = 1_000;
/// Slots one step looks at; a schedule with more due (catch-up after a long outage of a
/// schedule firing every second) goes on in the next round.
const MAX_SLOTS_PER_STEP: usize = 1_000;
/// How soon a step that could not be written (store unavailable) is tried again.
const RETRY: Micros = 1_000_000;
/// How long before its slot an occurrence is created.
pub const LEAD: Micros = 2_000_000;

pub(crate) enum Command {
    Set {
        id: String,
        tenant: String,
        due: Micros,
    },
    Remove(String),
    /// A new leadership term: every live schedule.
    Load(Vec<Schedule>),
    /// Stepped down: forget everything.
    Reset,
}

/// The handle the kernel holds: the runner's inbox and the lock every schedule write takes.
pub(crate) struct Runner {
    tx: mpsc::UnboundedSender<Command>,
    pub(crate) lock: Mutex<()>,
}

impl Runner {
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                tx,
                lock: Mutex::new(()),
            },
            rx,
        )
    }

    /// Steps the schedule for its next slot, `slot` (a [`LEAD`] ahead of it).
    pub(crate) fn set(&self, id: &str, tenant: &str, slot: Micros) {
        let _ = self.tx.send(Command::Set {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            due: slot - LEAD,
        });
    }

    pub(crate) fn remove(&self, id: &str) {
        let _ = self.tx.send(Command::Remove(id.to_owned()));
    }

    pub(crate) fn load(&self, schedules: Vec<Schedule>) {
        let _ = self.tx.send(Command::Load(schedules));
    }

    pub(crate) fn reset(&self) {
        let _ = self.tx.send(Command::Reset);
    }
}

#[derive(Default)]
struct Queue {
    due: BTreeSet<(Micros, String)>,
    /// id -> (due, tenant)
    index: HashMap<String, (Micros, String)>,
    /// Schedules holding a buffered slot: the occurrence they wait on -> (schedule, tenant).
    waiting: HashMap<String, (String, String)>,
}

impl Queue {
    fn set(&mut self, id: String, tenant: String, due: Micros) {
        self.remove(&id);
        self.due.insert((due, id.clone()));
        self.index.insert(id, (due, tenant));
    }

    fn remove(&mut self, id: &str) {
        if let Some((due, _)) = self.index.remove(id) {
            self.due.remove(&(due, id.to_owned()));
        }
    }

    fn take_due(&mut self, now: Micros) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while out.len() < BATCH {
            match self.due.first() {
                Some((at, _)) if *at <= now => {
                    let (_, id) = self.due.pop_first().expect("first exists");
                    if let Some((_, tenant)) = self.index.remove(&id) {
                        out.push((id, tenant));
                    }
                }
                _ => break,
            }
        }
        out
    }
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    stop: CancellationToken,
) {
    let mut queue = Queue::default();
    let mut events = inner.bus.subscribe_internal();
    loop {
        let next = queue.due.first().map(|(at, _)| *at);
        let sleep = async {
            match next {
                Some(at) => inner.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            command = rx.recv() => match command {
                None => break,
                Some(command) => apply(&inner, &mut queue, command).await,
            },
            _ = sleep => {
                if inner.is_leader() {
                    let due = queue.take_due(inner.clock.now());
                    step_all(&inner, &mut queue, due).await;
                } else {
                    // Stepped down (its Reset is on the way): nothing is due until a new term.
                    queue = Queue::default();
                }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    let finished = event.timer.as_ref().is_some_and(|t| {
                        TimerStatus::try_from(t.status).unwrap_or_default().is_final()
                    });
                    if finished && queue.waiting.contains_key(&event.timer_id) {
                        let (schedule, tenant) = queue.waiting.remove(&event.timer_id).expect("present");
                        release(&inner, &mut queue, &schedule, &tenant).await;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => recheck_waiting(&inner, &mut queue).await,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}

async fn apply(inner: &Inner, queue: &mut Queue, command: Command) {
    match command {
        Command::Set { id, tenant, due } => queue.set(id, tenant, due),
        Command::Remove(id) => {
            queue.remove(&id);
            queue.waiting.retain(|_, (schedule, _)| *schedule != id);
        }
        Command::Reset => *queue = Queue::default(),
        Command::Load(schedules) => {
            *queue = Queue::default();
            for schedule in schedules {
                if state(&schedule) != ScheduleState::Active {
                    continue;
                }
                if schedule.buffered_at.is_some() && !schedule.last_timer_id.is_empty() {
                    queue.waiting.insert(
                        schedule.last_timer_id.clone(),
                        (schedule.id.clone(), schedule.tenant_id.clone()),
                    );
                }
                if let Some(next) = &schedule.next_fire_at {
                    queue.set(schedule.id, schedule.tenant_id, from_timestamp(next) - LEAD);
                }
            }
            // Occurrences that finished while no kernel led release their buffered slot now.
            recheck_waiting(inner, queue).await;
        }
    }
}

/// What one step of a schedule decided.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Step {
    /// Slots that get an occurrence now, in order.
    pub fire: Vec<Micros>,
    pub skipped: u64,
    pub last_skipped: Option<Micros>,
    /// The slot held until the previous occurrence finishes (BUFFER_ONE).
    pub buffered: Option<Micros>,
    /// The next slot to step, None when the schedule ran out.
    pub next: Option<Micros>,
}

/// Decides a schedule's step at `now`: which due slots fire, which are skipped (missed beyond
/// the catch-up policy, overlapping a running occurrence, past max_runs), what waits.
/// `running`: the previous occurrence has not finished.
pub(crate) fn step(
    spec: &Spec,
    next: Micros,
    buffered: Option<Micros>,
    runs: u64,
    running: bool,
    now: Micros,
) -> Step {
    let mut out = Step {
        buffered,
        ..Step::default()
    };
    let skip = |out: &mut Step, slot: Micros| {
        out.skipped += 1;
        out.last_skipped = Some(slot);
    };
    // Slots older than the catch-up window are skipped whatever the policy (counted up to a
    // bound, then jumped over).
    let horizon = now - spec.catch_up_window;
    let mut at = Some(next);
    let mut counted = 0;
    while let Some(slot) = at.filter(|s| *s < horizon) {
        if counted == MAX_SLOTS_PER_STEP {
            at = spec.next_after(horizon - 1);
            break;
        }
        skip(&mut out, slot);
        counted += 1;
        at = spec.next_after(slot);
    }
    let mut due = Vec::new();
    while let Some(slot) = at.filter(|s| *s <= now) {
        if due.len() == MAX_SLOTS_PER_STEP {
            break;
        }
        due.push(slot);
        at = spec.next_after(slot);
    }
    out.next = at;
    let (missed, on_time): (Vec<Micros>, Vec<Micros>) =
        due.into_iter().partition(|slot| now - slot > MISSED_AFTER);
    let mut candidates = Vec::new();
    match spec.catch_up {
        CatchUpPolicy::All => candidates.extend(&missed),
        CatchUpPolicy::Latest if on_time.is_empty() => {
            if let Some((last, older)) = missed.split_last() {
                older.iter().for_each(|s| skip(&mut out, *s));
                candidates.push(*last);
            }
        }
        _ => missed.iter().for_each(|s| skip(&mut out, *s)),
    }
    candidates.extend(on_time);
    let mut running = running;
    // A slot buffered behind an occurrence that has finished goes first.
    if let Some(slot) = out.buffered.filter(|_| !running) {
        out.buffered = None;
        out.fire.push(slot);
        running = true;
    }
    for slot in candidates {
        if spec.max_runs > 0 && runs + out.fire.len() as u64 >= spec.max_runs {
            out.next = None;
            break;
        }
        match spec.overlap {
            OverlapPolicy::AllowAll => out.fire.push(slot),
            _ if !running => {
                out.fire.push(slot);
                running = true;
            }
            OverlapPolicy::BufferOne if out.buffered.is_none() => out.buffered = Some(slot),
            _ => skip(&mut out, slot),
        }
    }
    if spec.max_runs > 0 && runs + out.fire.len() as u64 >= spec.max_runs && out.buffered.is_none()
    {
        out.next = None;
    }
    out
}

/// Whether a schedule's latest occurrence is still running (not SETTLED, FAILED or CANCELLED).
async fn still_running(inner: &Inner, schedule: &Schedule) -> Result<bool> {
    if schedule.last_timer_id.is_empty() {
        return Ok(false);
    }
    Ok(inner
        .store
        .get(&schedule.tenant_id, &schedule.last_timer_id)
        .await?
        .is_some_and(|t| {
            !TimerStatus::try_from(t.status)
                .unwrap_or_default()
                .is_final()
        }))
}

/// The occurrence timer of `schedule` for `slot`.
pub(crate) fn occurrence(
    schedule: &Schedule,
    spec: &Spec,
    slot: Micros,
    now: Micros,
) -> Result<validate::NewTimer> {
    let request = ScheduleTimerRequest {
        tenant_id: String::new(),
        requested_by: schedule.requested_by.clone(),
        name: schedule.name.clone(),
        schedule: Some(schedule_timer_request::Schedule::FireAt(to_timestamp(
            slot + spec.jitter_for(&schedule.id, slot),
        ))),
        labels: schedule.labels.clone(),
        metadata: schedule.metadata.clone(),
        action_bundle: schedule.action_bundle.clone(),
        agent_binding: schedule.agent_binding.clone(),
        idempotency_key: occurrence_key(&schedule.id, slot),
        late_policy: LatePolicy::Fire as i32,
        key_policy: 0,
    };
    let mut new = validate::schedule(
        &request,
        &schedule.tenant_id,
        uuid::Uuid::now_v7().to_string(),
        now,
    )?;
    new.timer.schedule_id.clone_from(&schedule.id);
    new.timer.scheduled_for = Some(to_timestamp(slot));
    Ok(new)
}

/// Steps every due schedule: their writes go to the writer together (one group commit).
async fn step_all(inner: &Inner, queue: &mut Queue, due: Vec<(String, String)>) {
    if due.is_empty() {
        return;
    }
    let _writing = inner.schedules.lock.lock().await;
    let steps = due.iter().map(|(id, tenant)| step_one(inner, id, tenant));
    let results = futures_util::future::join_all(steps).await;
    for ((id, tenant), result) in due.into_iter().zip(results) {
        match result {
            Ok(After { next, waiting_on }) => {
                if let Some(timer) = waiting_on {
                    queue.waiting.insert(timer, (id.clone(), tenant.clone()));
                }
                if let Some(next) = next {
                    queue.set(id, tenant, next);
                }
            }
            Err(error) => {
                tracing::warn!(schedule = %id, %error, "schedule step not written; retrying");
                queue.set(id, tenant, inner.clock.now() + RETRY);
            }
        }
    }
}

/// What a step leaves the runner to do: when to step again, and an occurrence to wait on.
struct After {
    next: Option<Micros>,
    waiting_on: Option<String>,
}

impl After {
    const DONE: Self = Self {
        next: None,
        waiting_on: None,
    };

    fn at(when: Micros) -> Self {
        Self {
            next: Some(when),
            waiting_on: None,
        }
    }
}

async fn step_one(inner: &Inner, id: &str, tenant: &str) -> Result<After> {
    let Some(mut schedule) = inner.store.get_schedule(tenant, id).await? else {
        return Ok(After::DONE);
    };
    if state(&schedule) != ScheduleState::Active {
        return Ok(After::DONE);
    }
    let Some(next) = schedule.next_fire_at.as_ref().map(from_timestamp) else {
        return Ok(After::DONE);
    };
    let now = inner.clock.now();
    if next > now + LEAD {
        return Ok(After::at(next - LEAD));
    }
    let spec = spec_of(&schedule)?;
    let running =
        spec.overlap != OverlapPolicy::AllowAll && still_running(inner, &schedule).await?;
    let buffered = schedule.buffered_at.as_ref().map(from_timestamp);
    let ahead = next > now;
    if ahead && (running || buffered.is_some()) {
        // Whether this slot fires depends on the previous occurrence at the slot itself.
        return Ok(After::at(next));
    }
    // Ahead of the slot the step is decided as at the slot (nothing missed, nothing running),
    // and creates that one occurrence; a later slot waits for its own step.
    let decided = step(
        &spec,
        next,
        buffered,
        schedule.runs,
        running,
        if ahead { next } else { now },
    );
    let occurrences = decided
        .fire
        .iter()
        .map(|slot| occurrence(&schedule, &spec, *slot, now))
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<String> = occurrences.iter().map(|n| n.timer.id.clone()).collect();
    schedule.runs += decided.fire.len() as u64;
    schedule.skipped += decided.skipped;
    if let Some(slot) = decided.last_skipped {
        schedule.last_skipped_at = Some(to_timestamp(slot));
    }
    if let Some(slot) = decided.fire.last() {
        schedule.last_fire_at = Some(to_timestamp(*slot));
        schedule
            .last_timer_id
            .clone_from(ids.last().expect("one id per slot"));
    }
    schedule.buffered_at = decided.buffered.map(to_timestamp);
    schedule.next_fire_at = decided.next.map(to_timestamp);
    let event = if decided.next.is_none() && decided.buffered.is_none() {
        schedule.state = ScheduleState::Completed as i32;
        Some(TimerEventType::ScheduleCompleted)
    } else if decided.skipped > 0 {
        Some(TimerEventType::ScheduleSkipped)
    } else {
        None
    };
    let waiting_on =
        (decided.buffered.is_some() && buffered.is_none()).then(|| schedule.last_timer_id.clone());
    write_step(inner, schedule, occurrences, event).await?;
    Ok(After {
        next: decided.next.map(|slot| slot - LEAD),
        waiting_on,
    })
}

/// Writes a step: the occurrences and the schedule in one transaction. An occurrence that
/// exists already (a step retried after a crash) is found by its key, and the schedule points at
/// it; one the tenant's quota refuses is skipped.
async fn write_step(
    inner: &Inner,
    mut schedule: Schedule,
    occurrences: Vec<validate::NewTimer>,
    event: Option<TimerEventType>,
) -> Result<()> {
    let now = inner.clock.now();
    schedule.version += 1;
    schedule.updated_at = Some(to_timestamp(now));
    let write = |schedule: &Schedule, event| {
        Mutation::Schedule(Box::new(ScheduleWrite {
            schedule: schedule.clone(),
            event,
            at: now,
            fingerprint: String::new(),
        }))
    };
    let count = occurrences.len() as u64;
    let minted = schedule.last_timer_id.clone();
    let created = match timers::create_with(inner, occurrences, vec![write(&schedule, event)]).await
    {
        Err(KernelError::QuotaExceeded { .. }) if count > 0 => {
            // Not created: the slots count as skipped.
            schedule.runs -= count;
            schedule.skipped += count;
            schedule.last_skipped_at = schedule.last_fire_at;
            let outcomes = inner
                .writer
                .enqueue(vec![write(
                    &schedule,
                    Some(TimerEventType::ScheduleSkipped),
                )])
                .await?;
            return super::expect_saved(outcomes);
        }
        other => other?,
    };
    if let Some(existing) = created.conflict {
        tracing::warn!(schedule = %schedule.id, timer = %existing, "occurrence key held by a different request; keeping that timer");
    }
    super::expect_saved(created.tail)?;
    // A retried step finds its occurrence under another id: point the schedule at it.
    let last = created.responses.last().and_then(|r| r.timer.as_ref());
    if let Some(timer) = last.filter(|t| count > 0 && t.id != minted) {
        schedule.last_timer_id.clone_from(&timer.id);
        schedule.version += 1;
        let outcomes = inner.writer.enqueue(vec![write(&schedule, None)]).await?;
        super::expect_saved(outcomes)?;
    }
    Ok(())
}

/// The occurrence a buffered slot waited on finished: the slot's occurrence is created now.
async fn release(inner: &Inner, queue: &mut Queue, id: &str, tenant: &str) {
    let _writing = inner.schedules.lock.lock().await;
    let result = async {
        let Some(mut schedule) = inner.store.get_schedule(tenant, id).await? else {
            return Ok(());
        };
        let Some(slot) = schedule.buffered_at.as_ref().map(from_timestamp) else {
            return Ok(());
        };
        if state(&schedule) != ScheduleState::Active {
            return Ok(());
        }
        let spec = spec_of(&schedule)?;
        let new = occurrence(&schedule, &spec, slot, inner.clock.now())?;
        schedule.runs += 1;
        schedule.last_fire_at = Some(to_timestamp(slot));
        schedule.last_timer_id.clone_from(&new.timer.id);
        schedule.buffered_at = None;
        let completed = schedule.next_fire_at.is_none();
        if completed {
            schedule.state = ScheduleState::Completed as i32;
        }
        write_step(
            inner,
            schedule,
            vec![new],
            completed.then_some(TimerEventType::ScheduleCompleted),
        )
        .await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(schedule = %id, %error, "releasing a buffered occurrence failed; retrying");
        // Stepping the schedule again re-checks its buffered slot.
        queue.set(id.to_owned(), tenant.to_owned(), inner.clock.now() + RETRY);
    }
}

/// Checks every waiting schedule's occurrence (after missed events, or a new term).
async fn recheck_waiting(inner: &Inner, queue: &mut Queue) {
    let waiting: Vec<(String, (String, String))> = queue.waiting.drain().collect();
    for (timer_id, (schedule, tenant)) in waiting {
        let finished = match inner.store.get(&tenant, &timer_id).await {
            Ok(timer) => timer.is_none_or(|t| {
                TimerStatus::try_from(t.status)
                    .unwrap_or_default()
                    .is_final()
            }),
            Err(_) => false,
        };
        if finished {
            release(inner, queue, &schedule, &tenant).await;
        } else {
            queue.waiting.insert(timer_id, (schedule, tenant));
        }
    }
}
