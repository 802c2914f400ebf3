//! The MINOOTS kernel owns timers: it validates and stores them, keeps time with a hierarchical
//! timing wheel, moves each timer through its lifecycle
//! (SCHEDULED -> ARMED -> FIRED -> SETTLED | FAILED, or CANCELLED), writes one event per
//! transition to a per-tenant, resumable event log, and runs each fired timer's actions. It
//! serves no protocol itself: the gateway serves it over gRPC, gRPC-web and REST.
//!
//! Every write goes through one group-commit writer ([`lifecycle`]), so a transition and its
//! event are one durable write, and an answer is sent only after it committed.
//!
//! This file is the facade: [`Kernel`], the handle callers hold, and what it holds. Each method
//! hands over to the module that owns its concern:
//! - `config`: [`KernelConfig`] and [`Leadership`], what a kernel is started with;
//! - `start`: starting the parts below in order and stopping them in reverse;
//! - `timers`: schedule, get, list (page tokens), cancel;
//! - [`lifecycle`]: the timing wheel, the scheduler, the group-commit writer and the dispatcher
//!   that runs actions after a fire;
//! - [`actions`]: one file per action kind with its validation and its run;
//! - [`events`]: the live bus, client subscriptions and the NATS outbox;
//! - `dead_letters`: list, get and replay actions that exhausted their retries;
//! - [`leadership`]: the lease, taking the lead (recovery) and stepping down;
//! - `janitor`: purging past retention, refreshing tenant limits;
//! - [`store`]: durable state behind one trait, with memory, SQLite and Postgres implementations.

pub mod actions;
mod backoff;
pub mod clock;
mod config;
mod dead_letters;
pub mod error;
pub mod events;
mod janitor;
pub mod labels;
pub mod leadership;
pub mod lifecycle;
pub mod metrics;
pub mod quota;
pub mod schedules;
mod start;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timers;
pub mod trace;
pub mod validate;

pub use minoots_proto::{json, signing};

use std::sync::{Arc, atomic::AtomicBool};

use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetTimerRequest, ListDeadLettersRequest, ListTimersRequest,
    ListTimersResponse, PauseTenantRequest, PauseTimerRequest, ReplayResult, ResumeTenantRequest,
    ResumeTimerRequest, ScheduleTimerRequest, ScheduleTimerResponse, SelectTimersRequest,
    SelectTimersResponse, StreamTimerEventsRequest, TenantPause, Timer, TimerEvent,
    UpdateTimerRequest,
};
use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, UpdateScheduleRequest,
};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

pub use crate::{
    clock::{Clock, ManualClock, Micros, SystemClock},
    config::{KernelConfig, Leadership},
    error::{KernelError, Result},
    events::outbox,
    timers::Bulk,
};
use crate::{
    events::EventBus,
    lifecycle::{
        scheduler::Command,
        writer::{FiredTimer, Writer},
    },
    store::Store,
};

/// Handle to a running kernel; cheap to clone.
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<Inner>,
}

/// What a running kernel holds, shared by the handle and the background tasks.
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
    /// The schedule runner's inbox and the lock schedule writes take.
    schedules: schedules::Runner,
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
        let inner = start::start(store, clock, config, None).await?;
        Ok(Self { inner })
    }

    /// Starts a kernel that leads only while it holds `leadership.lease`; until then (and after
    /// losing it) it answers FAILED_PRECONDITION with a `retry-after-ms` hint.
    pub async fn start_clustered(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: KernelConfig,
        leadership: Leadership,
    ) -> Result<Self> {
        let inner = start::start(store, clock, config, Some(leadership)).await?;
        Ok(Self { inner })
    }

    /// Whether this kernel currently leads (always true for a single node once started).
    pub fn is_leader(&self) -> bool {
        self.inner.is_leader()
    }

    /// Ok when this kernel serves writes; otherwise NotLeader with the retry hint.
    pub fn ensure_leader(&self) -> Result<()> {
        self.inner.ensure_leader()
    }

    pub fn now(&self) -> Micros {
        self.inner.clock.now()
    }

    /// Ends every open event stream with UNAVAILABLE; call before a graceful server shutdown.
    pub fn close_streams(&self) {
        self.inner.close_streams();
    }

    /// Stops firing, drains the writer (every accepted write is committed and answered) and
    /// waits for the background tasks.
    pub async fn shutdown(&self) {
        start::shutdown(&self.inner).await;
    }

    #[tracing::instrument(name = "horology.kernel.schedule", skip_all, fields(tenant = %tenant))]
    pub async fn schedule(
        &self,
        tenant: &str,
        request: ScheduleTimerRequest,
    ) -> Result<ScheduleTimerResponse> {
        timers::schedule(&self.inner, tenant, request).await
    }

    /// Schedules a batch in one write. Any invalid item rejects the whole batch.
    #[tracing::instrument(name = "horology.kernel.schedule_many", skip_all, fields(tenant = %tenant, timers = requests.len()))]
    pub async fn schedule_many(
        &self,
        tenant: &str,
        requests: Vec<ScheduleTimerRequest>,
    ) -> Result<Vec<ScheduleTimerResponse>> {
        timers::schedule_many(&self.inner, tenant, requests).await
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Timer> {
        timers::get(&self.inner, tenant, id).await
    }

    pub async fn list(
        &self,
        tenant: &str,
        request: ListTimersRequest,
    ) -> Result<ListTimersResponse> {
        timers::list(&self.inner, tenant, request).await
    }

    /// A timer by its id or by the idempotency key it was scheduled with.
    pub async fn get_timer(&self, tenant: &str, request: GetTimerRequest) -> Result<Timer> {
        timers::get_by(&self.inner, tenant, request).await
    }

    #[tracing::instrument(name = "horology.kernel.cancel", skip_all, fields(tenant = %tenant))]
    pub async fn cancel(&self, tenant: &str, request: CancelTimerRequest) -> Result<Timer> {
        timers::cancel(&self.inner, tenant, request).await
    }

    /// Changes a pending timer (fire time, name, labels, metadata, actions); the scheduler
    /// re-arms it. Refused once it fired: an update racing a fire has one winner.
    #[tracing::instrument(name = "horology.kernel.update", skip_all, fields(tenant = %tenant))]
    pub async fn update(&self, tenant: &str, request: UpdateTimerRequest) -> Result<Timer> {
        timers::update(&self.inner, tenant, request).await
    }

    /// Holds a pending timer: it does not fire until resumed.
    pub async fn pause(&self, tenant: &str, request: PauseTimerRequest) -> Result<Timer> {
        timers::pause(&self.inner, tenant, request).await
    }

    /// Arms a paused timer again; one whose fire time passed fires at once.
    pub async fn resume(&self, tenant: &str, request: ResumeTimerRequest) -> Result<Timer> {
        timers::resume(&self.inner, tenant, request).await
    }

    /// Cancels, pauses or resumes every pending timer a label selector matches.
    #[tracing::instrument(name = "horology.kernel.bulk", skip_all, fields(tenant = %tenant, op = ?op))]
    pub async fn bulk(
        &self,
        tenant: &str,
        op: Bulk,
        request: SelectTimersRequest,
    ) -> Result<SelectTimersResponse> {
        timers::bulk(&self.inner, tenant, op, request).await
    }

    /// Pauses a tenant's deliveries: its pending timers and the ones it schedules until resumed.
    pub async fn pause_tenant(
        &self,
        tenant: &str,
        request: PauseTenantRequest,
    ) -> Result<TenantPause> {
        timers::pause_tenant(&self.inner, tenant, request).await
    }

    /// Lifts a tenant's pause; the timers it paused fire at their times (overdue ones at once).
    pub async fn resume_tenant(
        &self,
        tenant: &str,
        request: ResumeTenantRequest,
    ) -> Result<TenantPause> {
        timers::resume_tenant(&self.inner, tenant, request).await
    }

    pub async fn tenant_pause(&self, tenant: &str) -> Result<TenantPause> {
        timers::tenant_state(&self.inner, tenant).await
    }

    /// Creates a recurring schedule; its occurrences are ordinary timers created at their slots.
    #[tracing::instrument(name = "horology.kernel.create_schedule", skip_all, fields(tenant = %tenant))]
    pub async fn create_schedule(
        &self,
        tenant: &str,
        request: CreateScheduleRequest,
    ) -> Result<Schedule> {
        schedules::create(&self.inner, tenant, request).await
    }

    /// A schedule by id or by the idempotency key it was created with.
    pub async fn get_schedule(
        &self,
        tenant: &str,
        request: GetScheduleRequest,
    ) -> Result<Schedule> {
        schedules::get(&self.inner, tenant, request).await
    }

    pub async fn list_schedules(
        &self,
        tenant: &str,
        request: ListSchedulesRequest,
    ) -> Result<ListSchedulesResponse> {
        schedules::list(&self.inner, tenant, request).await
    }

    /// Changes a schedule from its next occurrence on.
    pub async fn update_schedule(
        &self,
        tenant: &str,
        request: UpdateScheduleRequest,
    ) -> Result<Schedule> {
        schedules::update(&self.inner, tenant, request).await
    }

    pub async fn pause_schedule(
        &self,
        tenant: &str,
        request: PauseScheduleRequest,
    ) -> Result<Schedule> {
        schedules::pause(&self.inner, tenant, request).await
    }

    pub async fn resume_schedule(
        &self,
        tenant: &str,
        request: ResumeScheduleRequest,
    ) -> Result<Schedule> {
        schedules::resume(&self.inner, tenant, request).await
    }

    /// Ends a schedule and cancels its pending occurrence.
    pub async fn delete_schedule(
        &self,
        tenant: &str,
        request: DeleteScheduleRequest,
    ) -> Result<Schedule> {
        schedules::delete(&self.inner, tenant, request).await
    }

    /// The next occurrences of a stored schedule or of a spec, creating nothing.
    pub async fn preview_schedule(
        &self,
        tenant: &str,
        request: PreviewScheduleRequest,
    ) -> Result<PreviewScheduleResponse> {
        schedules::preview(&self.inner, tenant, request).await
    }

    /// Opens an event stream. Validation and the resume check happen before this returns, so a
    /// bad request fails the call instead of the first message.
    pub async fn subscribe(
        &self,
        tenant: &str,
        request: StreamTimerEventsRequest,
    ) -> Result<mpsc::Receiver<Result<TimerEvent>>> {
        events::subscribe(&self.inner, tenant, request).await
    }

    pub fn stream_subscribers(&self) -> usize {
        self.inner.bus.subscribers()
    }

    /// Unresolved (or all) dead letters of `tenant` created at or after `since`.
    pub async fn dead_letters(
        &self,
        tenant: &str,
        request: &ListDeadLettersRequest,
    ) -> Result<Vec<DeadLetter>> {
        dead_letters::list(&self.inner, tenant, request).await
    }

    pub async fn dead_letter(&self, tenant: &str, id: &str) -> Result<DeadLetter> {
        dead_letters::get(&self.inner, tenant, id).await
    }

    /// Runs a dead-lettered action again, with its original idempotency key and the bundle's
    /// retry policy. When it succeeds and nothing else of its timer is dead, a FAILED timer
    /// becomes SETTLED.
    pub async fn replay_dead_letter(&self, tenant: &str, id: &str) -> Result<ReplayResult> {
        dead_letters::replay(&self.inner, tenant, id).await
    }

    /// Replays every unresolved dead letter of `tenant` created at or after `since`, oldest
    /// first.
    pub async fn replay_dead_letters(
        &self,
        tenant: &str,
        since: Micros,
    ) -> Result<Vec<ReplayResult>> {
        dead_letters::replay_all(&self.inner, tenant, since).await
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

    /// The store, for what lives beside timers (API keys, tenant limits).
    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// This kernel's metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.inner
            .bus
            .metrics
            .render(out, self.stream_subscribers());
    }
}

#[cfg(test)]
mod tests;
