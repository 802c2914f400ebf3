//! The MINOOTS kernel owns timers: it validates and stores them, keeps time with a hierarchical
//! timing wheel, moves each timer through its lifecycle
//! (SCHEDULED -> ARMED -> FIRED -> SETTLED | FAILED, or CANCELLED), writes one event per
//! transition to a per-tenant, resumable event log, and serves all of it as the
//! `minoots.v1.TimerService` gRPC service.
//!
//! Every write goes through one group-commit writer ([`writer`]), so a transition and its event
//! are one durable write, and an answer is sent only after it committed.

pub mod actions;
pub mod clock;
pub mod error;
mod events;
pub use minoots_proto::json;
pub mod labels;
pub mod lease;
pub mod metrics;
pub mod outbox;
pub mod quota;
mod scheduler;
pub use minoots_proto::signing;
pub mod store;
pub mod testing;
pub mod trace;
pub mod validate;
pub mod wheel;
mod writer;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, ListDeadLettersRequest, ListTimersRequest, ListTimersResponse,
    ReplayResult, ScheduleTimerRequest, ScheduleTimerResponse, StreamTimerEventsRequest, Timer,
    TimerEvent, TimerEventType, TimerStatus,
};
use tokio::sync::{Mutex, broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

pub use crate::{
    clock::{Clock, ManualClock, Micros, SystemClock},
    error::{KernelError, Result},
};
use crate::{
    events::EventBus,
    labels::LabelSelector,
    scheduler::{ArmRequest, Command, Scheduler, system_transition},
    store::{ListQuery, Mutation, Outcome, Store, Transition},
    writer::{FiredTimer, Writer},
};

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
    /// Quotas of tenants without their own (set with [`Kernel::set_tenant_limits`]).
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

/// Handle to a running kernel; cheap to clone.
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    writer: Writer,
    usage: Arc<std::sync::Mutex<quota::Usage>>,
    executor: actions::Executor,
    scheduler: mpsc::UnboundedSender<Command>,
    /// Feeds the dispatcher fired-but-unsettled timers found by recovery.
    fired: mpsc::UnboundedSender<FiredTimer>,
    bus: EventBus,
    leader: Arc<AtomicBool>,
    retry_after_ms: u64,
    /// Stops the scheduler, dispatcher, janitor and, last, the writer.
    stop: CancellationToken,
    /// Stops the writer, after everything that feeds it has stopped.
    writer_stop: CancellationToken,
    /// Ends open event streams (so a graceful server shutdown does not wait on them).
    /// Replaced by a fresh token after each close, so a new leadership term gets new streams.
    streams: std::sync::Mutex<CancellationToken>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    scheduler_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    lease_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").finish_non_exhaustive()
    }
}

impl Kernel {
    /// Starts a single-node kernel on `store`: it leads at once, re-arms every pending timer
    /// (overdue ones fire at once) and resumes settling fired ones.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: KernelConfig,
    ) -> Result<Self> {
        Self::start_inner(store, clock, config, None).await
    }

    /// Starts a kernel that leads only while it holds `leadership.lease`; until then (and after
    /// losing it) it answers FAILED_PRECONDITION with a `retry-after-ms` hint.
    pub async fn start_clustered(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: KernelConfig,
        leadership: Leadership,
    ) -> Result<Self> {
        Self::start_inner(store, clock, config, Some(leadership)).await
    }

    async fn start_inner(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: KernelConfig,
        leadership: Option<Leadership>,
    ) -> Result<Self> {
        let stop = CancellationToken::new();
        let writer_stop = CancellationToken::new();
        let bus = EventBus::new(config.event_buffer);
        let (fired_tx, fired_rx) = mpsc::unbounded_channel();
        if let Some(leadership) = &leadership {
            // A token no lease ever has: until this kernel leads, the store refuses its writes.
            store.set_fence(Some(lease::Fence {
                lease: leadership.name.clone(),
                holder: leadership.holder.clone(),
                token: 0,
            }));
        }
        let usage = Arc::new(std::sync::Mutex::new(quota::Usage::new(
            config.default_limits,
        )));
        let (writer, writer_task) = Writer::spawn(
            writer::WriterParts {
                store: store.clone(),
                bus: bus.clone(),
                fired: fired_tx.clone(),
                usage: usage.clone(),
                clock: clock.clone(),
            },
            writer_stop.clone(),
        );
        let (scheduler_tx, scheduler_rx) = mpsc::unbounded_channel();
        let scheduler = Scheduler::new(
            clock.clone(),
            writer.clone(),
            bus.metrics.clone(),
            scheduler_rx,
            tokio::runtime::Handle::current(),
            stop.clone(),
        );
        let mut tasks = Vec::new();
        let scheduler_thread = if config.scheduler_thread {
            let thread = std::thread::Builder::new()
                .name("minoots-scheduler".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("scheduler runtime");
                    runtime.block_on(scheduler.run());
                })
                .map_err(|e| {
                    KernelError::Internal(format!("spawning the scheduler thread: {e}"))
                })?;
            Some(thread)
        } else {
            tasks.push(tokio::spawn(scheduler.run()));
            None
        };
        let executor = actions::Executor::new(config.actions.clone(), bus.metrics.clone());
        tasks.push(tokio::spawn(dispatch(
            fired_rx,
            Dispatch {
                writer: writer.clone(),
                clock: clock.clone(),
                store: store.clone(),
                executor: executor.clone(),
                stop: stop.clone(),
            },
        )));
        let retry_after_ms = leadership
            .as_ref()
            .map_or(100, |l| l.heartbeat.as_millis() as u64);
        let inner = Arc::new(Inner {
            store,
            clock,
            writer,
            usage,
            executor,
            scheduler: scheduler_tx,
            fired: fired_tx,
            bus,
            leader: Arc::new(AtomicBool::new(false)),
            retry_after_ms,
            stop,
            writer_stop,
            streams: std::sync::Mutex::new(CancellationToken::new()),
            tasks: Mutex::new(Vec::new()),
            writer_task: Mutex::new(Some(writer_task)),
            scheduler_thread: std::sync::Mutex::new(scheduler_thread),
            lease_thread: std::sync::Mutex::new(None),
        });
        match leadership {
            None => inner.take_lead().await?,
            Some(leadership) => {
                // The lease lives on a thread of its own: CPU-heavy batches on the main runtime
                // must not delay renewals past the lease timeout.
                let leading = inner.clone();
                let main = tokio::runtime::Handle::current();
                let thread = std::thread::Builder::new()
                    .name("minoots-lease".into())
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("lease runtime");
                        runtime.block_on(lead(leading, leadership, main));
                    })
                    .map_err(|e| {
                        KernelError::Internal(format!("spawning the lease thread: {e}"))
                    })?;
                *inner.lease_thread.lock().unwrap() = Some(thread);
            }
        }
        tasks.push(tokio::spawn(refresh_limits(
            inner.clone(),
            config.limits_refresh,
        )));
        if let Some(publishing) = config.publishing.clone() {
            tasks.push(tokio::spawn(outbox::run(inner.clone(), publishing)));
        }
        tasks.push(tokio::spawn(purge(inner.clone(), config)));
        inner.tasks.lock().await.extend(tasks);
        Ok(Self { inner })
    }

    /// Whether this kernel currently leads (always true for a single node once started).
    pub fn is_leader(&self) -> bool {
        self.inner.leader.load(Ordering::SeqCst)
    }

    /// Ok when this kernel serves writes; otherwise NotLeader with the retry hint.
    pub fn ensure_leader(&self) -> Result<()> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(KernelError::NotLeader {
                retry_after_ms: self.inner.retry_after_ms,
            })
        }
    }

    pub fn now(&self) -> Micros {
        self.inner.clock.now()
    }

    /// Ends every open event stream with UNAVAILABLE; call before a graceful server shutdown.
    pub fn close_streams(&self) {
        self.inner.streams.lock().unwrap().cancel();
    }

    /// Stops firing, drains the writer (every accepted write is committed and answered) and
    /// waits for the background tasks.
    pub async fn shutdown(&self) {
        self.close_streams();
        self.inner.stop.cancel();
        for task in self.inner.tasks.lock().await.drain(..) {
            let _ = task.await;
        }
        let threads = [
            self.inner.scheduler_thread.lock().unwrap().take(),
            self.inner.lease_thread.lock().unwrap().take(),
        ];
        for thread in threads.into_iter().flatten() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.inner.writer_stop.cancel();
        if let Some(task) = self.inner.writer_task.lock().await.take() {
            let _ = task.await;
        }
    }

    #[tracing::instrument(name = "horology.kernel.schedule", skip_all, fields(tenant = %tenant))]
    pub async fn schedule(
        &self,
        tenant: &str,
        request: ScheduleTimerRequest,
    ) -> Result<ScheduleTimerResponse> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        let mut new = validate::schedule(
            &request,
            tenant,
            uuid::Uuid::now_v7().to_string(),
            self.now(),
        )?;
        new.timer.trace_parent = trace::current_traceparent().unwrap_or_default();
        let mut responses = self.create(vec![new]).await?;
        Ok(responses.remove(0))
    }

    /// Schedules a batch in one write. Any invalid item rejects the whole batch.
    #[tracing::instrument(name = "horology.kernel.schedule_many", skip_all, fields(tenant = %tenant, timers = requests.len()))]
    pub async fn schedule_many(
        &self,
        tenant: &str,
        requests: Vec<ScheduleTimerRequest>,
    ) -> Result<Vec<ScheduleTimerResponse>> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        if requests.is_empty() {
            return Err(KernelError::invalid("timers", "must not be empty"));
        }
        if requests.len() > validate::MAX_BATCH {
            return Err(KernelError::invalid(
                "timers",
                format!("at most {} timers per batch", validate::MAX_BATCH),
            ));
        }
        let now = self.now();
        let trace_parent = trace::current_traceparent().unwrap_or_default();
        let new = requests
            .iter()
            .enumerate()
            .map(|(i, request)| {
                if !request.tenant_id.is_empty() && request.tenant_id != tenant {
                    return Err(KernelError::invalid(
                        format!("timers[{i}].tenant_id"),
                        "differs from the batch's tenant",
                    ));
                }
                let mut new =
                    validate::schedule(request, tenant, uuid::Uuid::now_v7().to_string(), now)
                        .map_err(|e| e.within(&format!("timers[{i}]")))?;
                new.timer.trace_parent.clone_from(&trace_parent);
                Ok(new)
            })
            .collect::<Result<Vec<_>>>()?;
        self.create(new).await
    }

    /// Writes each new timer and arms it in the same transaction: SCHEDULED then ARMED, two
    /// events, one commit. The scheduler is told only after the commit.
    async fn create(&self, new: Vec<validate::NewTimer>) -> Result<Vec<ScheduleTimerResponse>> {
        let now = self.now();
        let mutations = new
            .into_iter()
            .flat_map(|n| {
                let arm = system_transition(n.timer.id.clone(), TimerStatus::Armed, now);
                [Mutation::create(n), arm]
            })
            .collect();
        let outcomes = self.inner.writer.enqueue(mutations).await?;
        let mut arm = Vec::new();
        let mut responses = Vec::with_capacity(outcomes.len() / 2);
        let mut conflict = None;
        let mut outcomes = outcomes.into_iter();
        while let (Some(created), Some(armed)) = (outcomes.next(), outcomes.next()) {
            match (created, armed) {
                (Outcome::Created(..), Outcome::Transitioned(timer, _)) => {
                    arm.push(ArmRequest {
                        id: timer.id.clone(),
                        fire_at: store::fire_at(&timer),
                        write_armed: false,
                        has_actions: store::has_actions(&timer),
                    });
                    responses.push(ScheduleTimerResponse {
                        timer: Some(timer),
                        created: true,
                    });
                }
                // A replay: the arm was refused (already armed) or armed a timer left SCHEDULED.
                (Outcome::Existing(timer), armed) => {
                    let timer = match armed {
                        Outcome::Transitioned(timer, _) => {
                            arm.push(ArmRequest {
                                id: timer.id.clone(),
                                fire_at: store::fire_at(&timer),
                                write_armed: false,
                                has_actions: store::has_actions(&timer),
                            });
                            timer
                        }
                        _ => timer,
                    };
                    responses.push(ScheduleTimerResponse {
                        timer: Some(timer),
                        created: false,
                    });
                }
                (Outcome::Conflict { existing_id }, _) => conflict = conflict.or(Some(existing_id)),
                // Not written because another timer of this request conflicted.
                (Outcome::Aborted, _) => {}
                other => {
                    return Err(KernelError::Internal(format!(
                        "unexpected create outcome {other:?}"
                    )));
                }
            }
        }
        if !arm.is_empty() {
            self.inner
                .scheduler
                .send(Command::Arm(arm))
                .map_err(|_| KernelError::ShuttingDown)?;
        }
        if let Some(existing_id) = conflict {
            return Err(KernelError::AlreadyExists(format!(
                "idempotency_key was already used for a different request (timer {existing_id})"
            )));
        }
        Ok(responses)
    }

    /// Stores `tenant`'s own limits (unset fields fall back to the defaults) and applies them at
    /// once.
    pub async fn set_tenant_limits(&self, tenant: &str, limits: quota::Limits) -> Result<()> {
        validate::tenant_id(tenant)?;
        self.inner.store.put_tenant_limits(tenant, limits).await?;
        self.inner
            .usage
            .lock()
            .unwrap()
            .set_override(tenant, limits);
        Ok(())
    }

    /// The limits in force for `tenant`.
    pub fn tenant_limits(&self, tenant: &str) -> quota::Limits {
        self.inner.usage.lock().unwrap().limits(tenant)
    }

    /// Unresolved (or all) dead letters of `tenant` created at or after `since`.
    pub async fn dead_letters(
        &self,
        tenant: &str,
        request: &ListDeadLettersRequest,
    ) -> Result<Vec<DeadLetter>> {
        validate::tenant_id(tenant)?;
        let since = request.since.as_ref().map_or(0, clock::from_timestamp);
        let limit = match request.limit {
            0 => 100,
            n @ 1..=1_000 => n as usize,
            _ => return Err(KernelError::invalid("limit", "must be 1..=1000")),
        };
        self.inner
            .store
            .list_dead_letters(tenant, since, request.include_resolved, limit)
            .await
    }

    pub async fn dead_letter(&self, tenant: &str, id: &str) -> Result<DeadLetter> {
        validate::tenant_id(tenant)?;
        self.inner
            .store
            .get_dead_letter(tenant, id)
            .await?
            .ok_or_else(|| KernelError::NotFound { id: id.to_owned() })
    }

    /// Runs a dead-lettered action again, with its original idempotency key and the bundle's
    /// retry policy. When it succeeds and nothing else of its timer is dead, a FAILED timer
    /// becomes SETTLED.
    pub async fn replay_dead_letter(&self, tenant: &str, id: &str) -> Result<ReplayResult> {
        self.ensure_leader()?;
        let mut letter = self.dead_letter(tenant, id).await?;
        if letter.resolved_at.is_some() {
            return Err(KernelError::FailedPrecondition(format!(
                "dead letter {id} was already replayed successfully"
            )));
        }
        let timer = self.get(tenant, &letter.timer_id).await?;
        let action = letter
            .action
            .clone()
            .ok_or_else(|| KernelError::Internal(format!("dead letter {id} holds no action")))?;
        let clock = self.inner.clock.clone();
        let now = move || clock.now();
        let result = self
            .inner
            .executor
            .replay(&timer, &action, letter.action_index as usize, &now)
            .await;
        letter.replays += 1;
        letter.attempts += result.attempts;
        if result.ok {
            letter.resolved_at = Some(clock::to_timestamp(self.now()));
        } else {
            letter.last_error = result.detail.clone();
        }
        self.inner
            .store
            .put_dead_letters(std::slice::from_ref(&letter))
            .await?;
        let mut timer = timer;
        let unresolved = self
            .inner
            .store
            .timer_dead_letters(&timer.id)
            .await?
            .iter()
            .any(|l| l.resolved_at.is_none());
        if result.ok && !unresolved && timer.status == TimerStatus::Failed as i32 {
            let mut results = timer.action_results.clone();
            match results
                .iter_mut()
                .find(|r| !r.fallback && r.index == result.index)
            {
                Some(slot) => *slot = result.clone(),
                None => results.push(result.clone()),
            }
            let transition = Transition {
                timer_id: timer.id.clone(),
                tenant_id: Some(tenant.to_owned()),
                to: TimerStatus::Settled,
                at: self.now(),
                reason: String::new(),
                actor: "dead-letter replay".into(),
                results,
            };
            let outcomes = self
                .inner
                .writer
                .enqueue(vec![Mutation::Transition(transition)])
                .await?;
            if let Some(Outcome::Transitioned(settled, _)) = outcomes.into_iter().next() {
                timer = settled;
            }
        }
        Ok(ReplayResult {
            dead_letter: Some(letter),
            result: Some(result),
            timer: Some(timer),
        })
    }

    /// Replays every unresolved dead letter of `tenant` created at or after `since`, oldest
    /// first.
    pub async fn replay_dead_letters(
        &self,
        tenant: &str,
        since: Micros,
    ) -> Result<Vec<ReplayResult>> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        let mut replayed = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self
                .inner
                .store
                .list_dead_letters(tenant, since, false, 1_000)
                .await?;
            let fresh: Vec<DeadLetter> = page
                .into_iter()
                .filter(|l| seen.insert(l.id.clone()))
                .collect();
            if fresh.is_empty() {
                return Ok(replayed);
            }
            for letter in fresh {
                replayed.push(self.replay_dead_letter(tenant, &letter.id).await?);
            }
        }
    }

    /// The store, for what lives beside timers (API keys, tenant limits).
    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Timer> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        validate::timer_id(id)?;
        self.inner
            .store
            .get(tenant, id)
            .await?
            .ok_or_else(|| KernelError::NotFound { id: id.to_owned() })
    }

    pub async fn list(
        &self,
        tenant: &str,
        request: ListTimersRequest,
    ) -> Result<ListTimersResponse> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        let statuses = request
            .statuses
            .iter()
            .map(|s| {
                TimerStatus::try_from(*s)
                    .ok()
                    .filter(|s| *s != TimerStatus::Unspecified)
                    .ok_or_else(|| {
                        KernelError::invalid("statuses", format!("{s} is not a timer status"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let selector = LabelSelector::parse(&request.label_selector)
            .map_err(|m| KernelError::invalid("label_selector", m))?;
        validate::text("name_prefix", &request.name_prefix, 256)?;
        let page_size = match request.page_size {
            0 => validate::DEFAULT_PAGE_SIZE,
            n if n > validate::MAX_PAGE_SIZE => {
                return Err(KernelError::invalid(
                    "page_size",
                    format!("at most {}", validate::MAX_PAGE_SIZE),
                ));
            }
            n => n,
        } as usize;
        let after_id = match request.page_token.as_str() {
            "" => None,
            token => Some(decode_page_token(token).ok_or_else(|| {
                KernelError::invalid("page_token", "is not a token this server issued")
            })?),
        };
        let query = ListQuery {
            tenant_id: tenant.to_owned(),
            statuses,
            selector,
            name_prefix: request.name_prefix,
            after_id,
            limit: page_size + 1,
        };
        let mut timers = self.inner.store.list(&query).await?;
        let next_page_token = if timers.len() > page_size {
            timers.truncate(page_size);
            encode_page_token(&timers[page_size - 1].id)
        } else {
            String::new()
        };
        Ok(ListTimersResponse {
            timers,
            next_page_token,
        })
    }

    #[tracing::instrument(name = "horology.kernel.cancel", skip_all, fields(tenant = %tenant))]
    pub async fn cancel(&self, tenant: &str, request: CancelTimerRequest) -> Result<Timer> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        validate::timer_id(&request.id)?;
        validate::reason("reason", &request.reason)?;
        validate::text("requested_by", &request.requested_by, 256)?;
        let transition = Transition {
            timer_id: request.id.clone(),
            tenant_id: Some(tenant.to_owned()),
            to: TimerStatus::Cancelled,
            at: self.now(),
            reason: request.reason,
            actor: request.requested_by,
            results: Vec::new(),
        };
        let outcome = self
            .inner
            .writer
            .enqueue(vec![Mutation::Transition(transition)])
            .await?
            .remove(0);
        match outcome {
            Outcome::Transitioned(timer, _) => {
                let _ = self.inner.scheduler.send(Command::Disarm(timer.id.clone()));
                Ok(timer)
            }
            Outcome::NotFound => Err(KernelError::NotFound { id: request.id }),
            Outcome::Rejected(status) => Err(KernelError::FailedPrecondition(format!(
                "timer {} is {}; only scheduled or armed timers can be cancelled",
                request.id,
                status.wire_name()
            ))),
            other => Err(KernelError::Internal(format!(
                "unexpected cancel outcome {other:?}"
            ))),
        }
    }

    /// Opens an event stream. Validation and the resume check happen before this returns, so a
    /// bad request fails the call instead of the first message.
    pub async fn subscribe(
        &self,
        tenant: &str,
        request: StreamTimerEventsRequest,
    ) -> Result<mpsc::Receiver<Result<TimerEvent>>> {
        self.ensure_leader()?;
        validate::tenant_id(tenant)?;
        let event_types = request
            .event_types
            .iter()
            .map(|t| {
                TimerEventType::try_from(*t)
                    .ok()
                    .filter(|t| *t != TimerEventType::Unspecified)
                    .map(|t| t as i32)
                    .ok_or_else(|| {
                        KernelError::invalid("event_types", format!("{t} is not an event type"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let selector = LabelSelector::parse(&request.label_selector)
            .map_err(|m| KernelError::invalid("label_selector", m))?;
        // Subscribe before reading the log, so nothing committed in between is missed.
        let live = self.inner.bus.subscribe();
        let bounds = self.inner.store.event_bounds(tenant).await?;
        let cursor = match request.after_sequence {
            None => bounds.last,
            Some(after) => {
                if after > bounds.last {
                    return Err(KernelError::invalid(
                        "after_sequence",
                        format!(
                            "{after} is ahead of the tenant's last sequence {}",
                            bounds.last
                        ),
                    ));
                }
                let oldest = bounds.oldest.unwrap_or(bounds.last + 1);
                if after + 1 < oldest {
                    return Err(KernelError::OutOfRange {
                        requested: after,
                        oldest,
                    });
                }
                after
            }
        };
        let (tx, rx) = mpsc::channel(1_024);
        let stream = EventStream {
            tenant: tenant.to_owned(),
            event_types,
            selector,
            cursor,
            store: self.inner.store.clone(),
            tx,
            closed: self.inner.streams.lock().unwrap().clone(),
            leader: self.inner.leader.clone(),
            retry_after_ms: self.inner.retry_after_ms,
        };
        tokio::spawn(stream.run(live));
        Ok(rx)
    }

    pub fn stream_subscribers(&self) -> usize {
        self.inner.bus.subscribers()
    }

    /// This kernel's metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.inner
            .bus
            .metrics
            .render(out, self.stream_subscribers());
    }
}

struct EventStream {
    tenant: String,
    event_types: Vec<i32>,
    selector: LabelSelector,
    cursor: u64,
    store: Arc<dyn Store>,
    tx: mpsc::Sender<Result<TimerEvent>>,
    closed: CancellationToken,
    leader: Arc<AtomicBool>,
    retry_after_ms: u64,
}

impl EventStream {
    async fn run(mut self, mut live: tokio::sync::broadcast::Receiver<Arc<TimerEvent>>) {
        if self.catch_up().await.is_err() {
            return;
        }
        loop {
            let received = tokio::select! {
                () = self.closed.cancelled() => {
                    // Closed by a lost lease (reconnect to the new leader) or by shutdown.
                    let error = if self.leader.load(Ordering::SeqCst) {
                        KernelError::ShuttingDown
                    } else {
                        KernelError::NotLeader { retry_after_ms: self.retry_after_ms }
                    };
                    let _ = self.tx.send(Err(error)).await;
                    return;
                }
                () = self.tx.closed() => return,
                received = live.recv() => received,
            };
            let result = match received {
                Ok(event) if event.tenant_id != self.tenant || event.sequence <= self.cursor => {
                    Ok(())
                }
                Ok(event) if event.sequence == self.cursor + 1 => self.deliver(&event).await,
                // A gap or a lag: the store has everything that was published.
                Ok(_) | Err(RecvError::Lagged(_)) => self.catch_up().await,
                Err(RecvError::Closed) => return,
            };
            if result.is_err() {
                return;
            }
        }
    }

    /// Sends every stored event after the cursor. Err means the client is gone.
    async fn catch_up(&mut self) -> Result<(), ()> {
        loop {
            let page = match self
                .store
                .events_after(&self.tenant, self.cursor, 1_000)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    let _ = self.tx.send(Err(error)).await;
                    return Err(());
                }
            };
            let full = page.len() == 1_000;
            for event in &page {
                self.deliver(event).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn deliver(&mut self, event: &TimerEvent) -> Result<(), ()> {
        self.cursor = event.sequence;
        let wanted = (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && (self.selector.is_empty()
                || event
                    .timer
                    .as_ref()
                    .is_some_and(|t| self.selector.matches(&t.labels)));
        if wanted {
            self.tx.send(Ok(event.clone())).await.map_err(|_| ())?;
        }
        Ok(())
    }
}

/// Settles fired timers. Timers without actions settle at once; running actions is the action
/// executor's job, so until one is configured a timer with actions stays FIRED.
#[derive(Clone)]
struct Dispatch {
    writer: Writer,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    executor: actions::Executor,
    stop: CancellationToken,
}

/// Settles fired timers: those without actions at once, the others after running their actions
/// (each timer in its own task; a restart re-runs the actions of timers left FIRED).
async fn dispatch(mut fired: mpsc::UnboundedReceiver<FiredTimer>, parts: Dispatch) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let first = tokio::select! {
            () = parts.stop.cancelled() => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            first = fired.recv() => match first { Some(f) => f, None => break },
        };
        let mut batch = vec![first];
        while let Ok(next) = fired.try_recv() {
            batch.push(next);
        }
        let now = parts.clock.now();
        let mut settle = Vec::new();
        for timer in batch {
            if timer.has_actions {
                running.spawn(execute(parts.clone(), timer));
            } else {
                settle.push(system_transition(timer.id, TimerStatus::Settled, now));
            }
        }
        commit(&parts, settle).await;
    }
    // Unfinished executions are dropped; their timers stay FIRED and run again on the next lead.
    running.abort_all();
}

/// Writes system transitions, retrying while the store is unavailable.
async fn commit(parts: &Dispatch, mutations: Vec<Mutation>) {
    if mutations.is_empty() {
        return;
    }
    let mut backoff = Duration::from_millis(50);
    while let Err(error) = parts.writer.enqueue(mutations.clone()).await {
        if parts.stop.is_cancelled()
            || matches!(
                error,
                KernelError::ShuttingDown | KernelError::Fenced { .. }
            )
        {
            return;
        }
        tracing::warn!(%error, "writing transitions failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Runs one fired timer's actions, records dead letters, then settles or fails it.
async fn execute(parts: Dispatch, mut fired: FiredTimer) {
    let timer = loop {
        if let Some(timer) = fired.timer.take() {
            break *timer;
        }
        match parts.store.get(&fired.tenant_id, &fired.id).await {
            Ok(Some(timer)) if timer.status == TimerStatus::Fired as i32 => break timer,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, timer = %fired.id, "loading a fired timer failed; retrying");
                tokio::select! {
                    () = parts.stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    let clock = parts.clock.clone();
    // The fire joins the trace of the call that scheduled the timer.
    let span =
        tracing::info_span!("horology.kernel.fire", timer = %timer.id, tenant = %timer.tenant_id);
    trace::set_parent(&span, &timer.trace_parent);
    let outcome = tracing::Instrument::instrument(
        parts.executor.run_bundle(&timer, &move || clock.now()),
        span,
    )
    .await;
    if !outcome.dead_letters.is_empty() {
        let mut backoff = Duration::from_millis(50);
        while let Err(error) = parts.store.put_dead_letters(&outcome.dead_letters).await {
            tracing::warn!(%error, timer = %timer.id, "writing dead letters failed; retrying");
            tokio::select! {
                () = parts.stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        parts
            .executor
            .metrics()
            .dead_letters
            .add(outcome.dead_letters.len() as u64);
    }
    let (to, reason) = if outcome.succeeded() {
        (TimerStatus::Settled, String::new())
    } else {
        (TimerStatus::Failed, outcome.failure_reason())
    };
    let Mutation::Transition(mut transition) =
        system_transition(timer.id.clone(), to, parts.clock.now())
    else {
        unreachable!("system_transition builds a transition")
    };
    transition.reason = reason;
    transition.results = outcome.results;
    commit(&parts, vec![Mutation::Transition(transition)]).await;
}

async fn purge(inner: Arc<Inner>, config: KernelConfig) {
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
async fn refresh_limits(inner: Arc<Inner>, every: Duration) {
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

/// Lease settings of a clustered kernel.
#[derive(Clone)]
pub struct Leadership {
    pub lease: Arc<dyn lease::Lease>,
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

impl Inner {
    /// Becomes the leader: loads every pending timer into the scheduler (overdue ones fire at
    /// once) and hands fired-but-unsettled ones to the dispatcher, then accepts requests.
    async fn take_lead(&self) -> Result<()> {
        let started = Instant::now();
        let pending = self.store.pending().await?;
        let now = self.clock.now();
        let today = now - now.rem_euclid(quota::DAY_MICROS);
        let scheduled_today = self.store.created_since(today).await?;
        let overrides = self.store.tenant_limits().await?;
        {
            let mut usage = self.usage.lock().unwrap();
            usage.seed(&pending, scheduled_today, now);
            usage.set_overrides(overrides);
        }
        let mut arm = Vec::new();
        let mut fired = 0;
        for timer in pending {
            match timer.status {
                TimerStatus::Scheduled | TimerStatus::Armed => arm.push(ArmRequest {
                    id: timer.id,
                    fire_at: timer.fire_at,
                    write_armed: timer.status == TimerStatus::Scheduled,
                    has_actions: timer.has_actions,
                }),
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
        tracing::info!(rearmed = arm.len(), fired_unsettled = fired, took = ?started.elapsed(), "leading: recovered pending timers");
        if !arm.is_empty() {
            self.scheduler
                .send(Command::Arm(arm))
                .map_err(|_| KernelError::ShuttingDown)?;
        }
        self.leader.store(true, Ordering::SeqCst);
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
        let mut streams = self.streams.lock().unwrap();
        streams.cancel();
        *streams = CancellationToken::new();
    }
}

/// Holds the lease while it can: acquires it when free, renews it every heartbeat, steps down
/// when a renewal fails or has not succeeded for a whole lease timeout.
/// Runs on the lease thread; recovery, which is CPU-heavy with many timers, runs on `main`.
async fn lead(inner: Arc<Inner>, leadership: Leadership, main: tokio::runtime::Handle) {
    let mut fence: Option<lease::Fence> = None;
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

fn encode_page_token(id: &str) -> String {
    id.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
}

fn decode_page_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&token[i..i + 2], 16)
                .ok()
                .map(|b| b ^ 0x5a)
        })
        .collect::<Option<Vec<u8>>>()?;
    let id = String::from_utf8(bytes).ok()?;
    uuid::Uuid::try_parse(&id).ok()?;
    Some(id)
}

#[cfg(test)]
mod tests;
