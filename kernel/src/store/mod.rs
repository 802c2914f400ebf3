//! Durable state: timers, their events and per-tenant sequence counters.
//!
//! # Contract every implementation keeps
//! - `apply` runs its mutations in order inside one transaction. When it returns `Ok`, every
//!   outcome is durable (survives a kill -9 of the process); when it returns `Err`, none is.
//!   Outcomes that reject a mutation (not found, wrong state, idempotency conflict) write nothing
//!   for that mutation and do not abort the others.
//! - Each successful transition writes the new timer state and exactly one event, whose sequence
//!   is the tenant's previous sequence + 1 (a tenant without one starts above the store's
//!   sequence floor, 0 unless [`Store::skip_sequences`] raised it). Sequences are never reused,
//!   even after events are purged.
//! - Reads see only committed data and are scoped to one tenant.
//! - A record that cannot be decoded fails nothing but itself: reads return it salvaged (with a
//!   `failure_reason` saying so) and the first transition that touches it quarantines it
//!   ([`Outcome::Quarantined`], see [`salvage`]).
//! - Only one writer calls `apply` at a time (the kernel's group-commit writer); implementations
//!   may rely on that for sequence assignment.

#[macro_use]
mod side;
mod memory;
mod postgres;
mod salvage;
mod sqlite;

#[cfg(test)]
mod conformance;

pub use memory::MemoryStore;
pub use postgres::{PgLease, PostgresStore, migrate as migrate_postgres};
pub use salvage::{QUARANTINE_PREFIX, quarantine_reason};
pub use sqlite::{SqliteStore, Synchronous};

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_trait::async_trait;
use futures_util::{TryStreamExt as _, stream::BoxStream};
use minoots_proto::v1::{DeadLetter, KeyPolicy, Timer, TimerEvent, TimerEventType, TimerStatus};

pub use crate::quota::Limits;
use crate::{
    clock::{Micros, from_timestamp, to_timestamp},
    error::Result,
    json,
    labels::LabelSelector,
    validate::NewTimer,
};

#[derive(Debug, Clone)]
pub enum Mutation {
    Create(Box<NewTimer>),
    Transition(Transition),
    /// A caller's change to a pending timer: new fields, pause or resume.
    Change(Box<Change>),
    /// A schedule's new state, written with one schedule event.
    Schedule(Box<ScheduleWrite>),
}

/// A schedule as it is after a change (its version already raised), and the event that says
/// what changed. Schedules have one writer (the kernel's schedule runner, under its lock), so
/// the store checks no version: it stores what it is given.
#[derive(Debug, Clone)]
pub struct ScheduleWrite {
    pub schedule: minoots_proto::v1::Schedule,
    /// None for a change no one is told of apart from the occurrence it creates.
    pub event: Option<TimerEventType>,
    pub at: Micros,
    /// Hash of the create request, to tell a retry from a reuse of its idempotency key.
    pub fingerprint: String,
}

/// A caller's change to a pending timer (SCHEDULED, ARMED or PAUSED). Like a cancel it is a
/// write the store refuses once the timer has fired, so a change racing a fire has one winner.
#[derive(Debug, Clone)]
pub struct Change {
    pub timer_id: String,
    pub tenant_id: String,
    /// Applies only if the timer's state_version is this one (0: any).
    pub expected_version: u64,
    pub at: Micros,
    pub actor: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone)]
pub enum ChangeKind {
    Update(Box<Fields>),
    /// `tenant`: the tenant's pause (resumed by the tenant's resume only).
    Pause {
        reason: String,
        tenant: bool,
    },
    /// `tenant`: the tenant's resume, which resumes only the timers its pause paused.
    Resume {
        tenant: bool,
    },
}

/// New values for a pending timer; `None` keeps the current one.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// The new fire time, and the duration it was given as (if it was).
    pub fire_at: Option<(Micros, Option<prost_types::Duration>)>,
    pub name: Option<String>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    pub metadata: Option<prost_types::Struct>,
    pub action_bundle: Option<minoots_proto::v1::ActionBundle>,
    pub agent_binding: Option<minoots_proto::v1::AgentBinding>,
    pub requested_by: Option<String>,
    pub trace_parent: Option<String>,
}

impl Fields {
    /// Everything a new timer's request sets, to replace a pending timer with it.
    pub fn of(timer: &Timer) -> Self {
        Self {
            fire_at: Some((fire_at(timer), timer.duration)),
            name: Some(timer.name.clone()),
            labels: Some(timer.labels.clone()),
            metadata: Some(timer.metadata.clone().unwrap_or_default()),
            action_bundle: Some(timer.action_bundle.clone().unwrap_or_default()),
            agent_binding: Some(timer.agent_binding.clone().unwrap_or_default()),
            requested_by: Some(timer.requested_by.clone()),
            trace_parent: Some(timer.trace_parent.clone()),
        }
    }

    fn apply(&self, timer: &mut Timer) {
        if let Some((at, duration)) = &self.fire_at {
            timer.fire_at = Some(to_timestamp(*at));
            timer.duration = *duration;
        }
        if let Some(name) = &self.name {
            timer.name.clone_from(name);
        }
        if let Some(labels) = &self.labels {
            timer.labels.clone_from(labels);
        }
        if let Some(metadata) = &self.metadata {
            timer.metadata = Some(metadata.clone());
        }
        if let Some(bundle) = &self.action_bundle {
            timer.action_bundle =
                (!bundle.actions.is_empty() || bundle.fallback.is_some()).then(|| bundle.clone());
        }
        if let Some(binding) = &self.agent_binding {
            timer.agent_binding = (*binding != Default::default()).then(|| binding.clone());
        }
        if let Some(by) = &self.requested_by {
            timer.requested_by.clone_from(by);
        }
        if let Some(trace_parent) = &self.trace_parent {
            timer.trace_parent.clone_from(trace_parent);
        }
    }
}

impl Mutation {
    pub fn create(new: NewTimer) -> Self {
        Self::Create(Box::new(new))
    }
}

/// Why a transition was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    NotFound,
    Rejected(TimerStatus),
    /// A fire of a timer whose fire time moved past the fire's time.
    NotDue,
    /// A change expecting another state_version.
    Stale(u64),
}

impl Refused {
    fn outcome(self, timer: &Timer) -> Outcome {
        match self {
            Refused::NotFound => Outcome::NotFound,
            Refused::Rejected(status) => Outcome::Rejected(status),
            Refused::NotDue => Outcome::NotDue(timer.clone()),
            Refused::Stale(current) => Outcome::Stale { current },
        }
    }
}

/// What applying a change did.
pub(crate) enum Applied {
    Event(TimerEventType),
    /// Nothing to do: pausing a paused timer, resuming one that is not paused.
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub timer_id: String,
    /// Set for caller-initiated transitions: a timer of another tenant is reported NotFound.
    pub tenant_id: Option<String>,
    pub to: TimerStatus,
    pub at: Micros,
    /// Cancel reason or failure reason.
    pub reason: String,
    /// Who asked (cancelled_by).
    pub actor: String,
    /// For SETTLED and FAILED after actions ran: what each action did.
    pub results: Vec<minoots_proto::v1::ActionResult>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Timer, Arc<TimerEvent>),
    /// The idempotency key matched a timer created by the same request.
    Existing(Timer),
    /// The idempotency key is taken by a different request.
    Conflict {
        existing_id: String,
    },
    /// Not written because another create of the same group conflicted.
    Aborted,
    Transitioned(Timer, Arc<TimerEvent>),
    NotFound,
    /// The timer's current status does not allow the transition.
    Rejected(TimerStatus),
    /// A pending timer taken over by a create with [`KeyPolicy::Replace`]: it now has the
    /// create's fields (a timer.updated event).
    ///
    /// [`KeyPolicy::Replace`]: minoots_proto::v1::KeyPolicy::Replace
    Replaced(Timer, Arc<TimerEvent>),
    /// A change that had nothing to do; the timer as it is.
    Unchanged(Timer),
    /// A change expecting another state_version; the timer's current one.
    Stale {
        current: u64,
    },
    /// A fire refused because the timer's fire time was moved later: it is to be armed again.
    NotDue(Timer),
    /// A schedule written, with its event.
    ScheduleSaved(Box<minoots_proto::v1::Schedule>, Option<Arc<TimerEvent>>),
    /// The timer's stored record could not be decoded: instead of the transition asked for, it
    /// became FAILED with the reason (and a dead letter records it). `from` is its status
    /// before.
    Quarantined {
        timer: Timer,
        event: Arc<TimerEvent>,
        from: TimerStatus,
    },
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub tenant_id: String,
    pub statuses: Vec<TimerStatus>,
    pub selector: LabelSelector,
    pub name_prefix: String,
    /// Exclusive cursor: only ids greater than this.
    pub after_id: Option<String>,
    pub limit: usize,
}

/// An API key as stored: never the secret, only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub tier: String,
    /// Lowercase hex SHA-256 of the secret.
    pub digest: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// A timer the scheduler must own after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTimer {
    pub id: String,
    pub tenant_id: String,
    pub status: TimerStatus,
    pub fire_at: Micros,
    pub has_actions: bool,
}

/// Every pending timer at once (tests and small stores; recovery reads the stream).
pub async fn all_pending(store: &dyn Store) -> Result<Vec<PendingTimer>> {
    store.pending().try_collect().await
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventBounds {
    /// Smallest sequence still stored, if any.
    pub oldest: Option<u64>,
    /// Last sequence ever assigned (0 if none).
    pub last: u64,
}

#[async_trait]
pub trait Store: SideTables + Send + Sync + 'static {
    async fn apply(&self, mutations: Vec<Mutation>) -> Result<Vec<Outcome>>;
    /// From now on, refuse writes unless `fence` is the lease's current token (None: no check).
    /// Stores without leadership (single-node) ignore it.
    fn set_fence(&self, _fence: Option<crate::leadership::Fence>) {}
    async fn get(&self, tenant_id: &str, id: &str) -> Result<Option<Timer>>;
    /// Several timers by (tenant, id), in no particular order; those not found are left out.
    async fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Timer>> {
        let mut found = Vec::with_capacity(keys.len());
        for (tenant_id, id) in keys {
            found.extend(self.get(tenant_id, id).await?);
        }
        Ok(found)
    }
    /// The id of the tenant's timer that holds this idempotency key.
    async fn id_for_key(&self, tenant_id: &str, key: &str) -> Result<Option<String>>;
    /// Timers of one tenant ordered by id (creation order), at most `limit`.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Timer>>;
    /// Events of one tenant with sequence > `after`, in order, at most `limit`.
    async fn events_after(
        &self,
        tenant_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<TimerEvent>>;
    async fn event_bounds(&self, tenant_id: &str) -> Result<EventBounds>;
    /// After a restore from backup: every tenant's next sequence, and that of tenants the store
    /// has not seen yet, goes `skip` past the highest sequence it holds, so no sequence a client
    /// may have seen before the restore (for an event the backup does not hold) is handed out
    /// again. Returns the new floor: the last sequence of every tenant.
    async fn skip_sequences(&self, skip: u64) -> Result<u64>;
    /// Every SCHEDULED, ARMED or FIRED timer of every tenant, read as a stream: recovery arms
    /// them as they arrive, so a million of them are never all in memory at once.
    fn pending(&self) -> BoxStream<'_, Result<PendingTimer>>;
    /// Deletes final timers finished before `timers_before` and events that occurred before
    /// `events_before`, except, with `keep_unpublished`, events the NATS outbox has not
    /// published yet. Returns (timers, events) deleted.
    async fn purge(
        &self,
        timers_before: Micros,
        events_before: Micros,
        keep_unpublished: bool,
    ) -> Result<(u64, u64)>;
    /// Takes one token from the token bucket `bucket` (created full with `burst` tokens,
    /// refilled at `per_second` up to `burst`) at time `now`, atomically: processes that share
    /// this store share the bucket, so a per-key rate limit holds across gateways. A `now`
    /// before the bucket's last update refills nothing (clocks of processes differ).
    async fn take_rate_token(
        &self,
        bucket: &str,
        per_second: f64,
        burst: f64,
        now: Micros,
    ) -> Result<RateToken>;
}

/// What [`Store::take_rate_token`] did: whether a token was taken, and the tokens left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateToken {
    pub taken: bool,
    pub tokens: f64,
}

impl RateToken {
    /// Micros until the next token, when none was taken.
    pub fn wait(&self, per_second: f64) -> Option<Micros> {
        (!self.taken).then(|| ((1.0 - self.tokens).max(0.0) / per_second * 1e6).ceil() as Micros)
    }
}

/// The refill and take of [`Store::take_rate_token`] on a bucket last at (`tokens`, `at`),
/// as the memory store computes it and the SQL stores write it in one statement.
pub fn refill_and_take(
    tokens: f64,
    at: Micros,
    per_second: f64,
    burst: f64,
    now: Micros,
) -> (RateToken, Micros) {
    let level = (tokens + (now - at).max(0) as f64 * per_second / 1e6).min(burst);
    let taken = level >= 1.0;
    let tokens = if taken { level - 1.0 } else { level };
    (RateToken { taken, tokens }, at.max(now))
}

/// What lives beside timers: quota counts and limits, API keys, dead letters, the NATS publish
/// cursor. Every store has it; the SQL stores share one implementation ([`side`]).
#[async_trait]
pub trait SideTables: Send + Sync {
    /// Timers per tenant whose id (a UUIDv7) was minted at or after `since`, for daily quotas.
    async fn created_since(&self, since: Micros) -> Result<HashMap<String, u64>>;
    /// Per-tenant limits that differ from the defaults.
    async fn tenant_limits(&self) -> Result<HashMap<String, Limits>>;
    async fn put_tenant_limits(&self, tenant_id: &str, limits: Limits) -> Result<()>;

    /// Stores a new key; AlreadyExists if its id or digest is taken.
    async fn put_api_key(&self, key: &ApiKey) -> Result<()>;
    /// The key whose secret has this digest, revoked or not.
    async fn find_api_key(&self, digest: &str) -> Result<Option<ApiKey>>;
    /// Keys of one tenant, or of every tenant, ordered by id.
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked (idempotent: the first revocation time is kept). None if unknown.
    async fn revoke_api_key(&self, id: &str, at: Micros) -> Result<Option<ApiKey>>;

    /// Stores dead letters; one per (timer, action), a second write of the same one replaces it.
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> Result<()>;
    /// Unresolved (or all) dead letters of a tenant created at or after `since`, oldest first.
    async fn list_dead_letters(
        &self,
        tenant_id: &str,
        since: Micros,
        include_resolved: bool,
        limit: usize,
    ) -> Result<Vec<DeadLetter>>;
    async fn get_dead_letter(&self, tenant_id: &str, id: &str) -> Result<Option<DeadLetter>>;
    async fn timer_dead_letters(&self, timer_id: &str) -> Result<Vec<DeadLetter>>;

    /// Last event sequence published to NATS, per tenant.
    async fn publish_cursors(&self) -> Result<HashMap<String, u64>>;
    async fn set_publish_cursor(&self, tenant_id: &str, sequence: u64) -> Result<()>;
    /// Last event sequence assigned, per tenant.
    async fn event_heads(&self) -> Result<HashMap<String, u64>>;

    /// The tenant's deliveries pause, if its deliveries are paused.
    async fn tenant_pause(&self, tenant_id: &str) -> Result<Option<PausedTenant>>;
    /// Records a tenant's pause (a pause already recorded is kept) or, with None, lifts it.
    async fn set_tenant_pause(&self, tenant_id: &str, pause: Option<&PausedTenant>) -> Result<()>;

    /// A tenant's schedule (schedules are written by [`Store::apply`], [`Mutation::Schedule`]).
    async fn get_schedule(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<minoots_proto::v1::Schedule>>;
    /// The tenant's schedule holding this idempotency key, with its request fingerprint.
    async fn schedule_for_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> Result<Option<(minoots_proto::v1::Schedule, String)>>;
    /// A tenant's schedules ordered by id, after `after_id`, at most `limit`.
    async fn list_schedules(
        &self,
        tenant_id: &str,
        after_id: &str,
        limit: usize,
    ) -> Result<Vec<minoots_proto::v1::Schedule>>;
    /// Every ACTIVE or PAUSED schedule of every tenant, for a new leader.
    async fn live_schedules(&self) -> Result<Vec<minoots_proto::v1::Schedule>>;
}

pub(crate) fn decode_schedule(body: &[u8]) -> Result<minoots_proto::v1::Schedule> {
    prost::Message::decode(body)
        .map_err(|e| crate::KernelError::Internal(format!("corrupt schedule row: {e}")))
}

/// Writes a batch's schedules (SQLite and Postgres: the same statement).
pub(crate) const PUT_SCHEDULE: &str =
    "INSERT INTO schedules (id, tenant_id, idempotency_key, request_hash, state, body)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body";

/// A tenant whose deliveries are paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausedTenant {
    pub paused_at: Micros,
    pub paused_by: String,
    pub reason: String,
}

/// Events past retention ($1), and the same sparing events the outbox has not published: two
/// statements, so the plain one stays a range scan of `events_by_time`.
pub(crate) fn purge_events(keep_unpublished: bool) -> &'static str {
    if keep_unpublished {
        "DELETE FROM events WHERE occurred_at_us < $1
         AND sequence <= COALESCE(
             (SELECT last_sequence FROM publish_cursors c WHERE c.tenant_id = events.tenant_id), 0)"
    } else {
        "DELETE FROM events WHERE occurred_at_us < $1"
    }
}

pub(crate) fn roles_column(roles: &[String]) -> String {
    roles.join(",")
}

pub(crate) fn roles_from_column(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An `api_keys` row, for the SQL stores.
pub(crate) fn api_key_from_row<'r, R>(row: &'r R) -> ApiKey
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    ApiKey {
        id: row.get("id"),
        tenant_id: row.get("tenant_id"),
        name: row.get("name"),
        roles: roles_from_column(&row.get::<String, _>("roles")),
        tier: row.get("tier"),
        digest: row.get("digest"),
        created_at: row.get("created_at_us"),
        revoked_at: row.get("revoked_at_us"),
    }
}

/// A `tenant_limits` row, for the SQL stores.
pub(crate) fn limits_from_row<'r, R>(row: &'r R) -> (String, Limits)
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let limit = |column: &'static str| row.get::<Option<i64>, _>(column).map(|v| v.max(0) as u64);
    (
        row.get("tenant_id"),
        Limits {
            active_timers: limit("active_timer_limit"),
            daily_timers: limit("daily_timer_limit"),
        },
    )
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub(crate) fn key_taken(key: &ApiKey) -> crate::KernelError {
    crate::KernelError::AlreadyExists(format!(
        "an API key with id {} or the same secret already exists",
        key.id
    ))
}

pub(crate) fn allowed(from: TimerStatus, to: TimerStatus) -> bool {
    use TimerStatus::*;
    match to {
        Armed => from == Scheduled,
        // From SCHEDULED too: if an ARMED write was lost, the timer must still fire.
        Fired => matches!(from, Scheduled | Armed),
        Failed => from == Fired,
        // From FAILED when replaying its dead letters succeeded.
        Settled => matches!(from, Fired | Failed),
        Cancelled => matches!(from, Scheduled | Armed | Paused),
        // Pausing and resuming are changes ([`change`]), not transitions.
        Scheduled | Paused | Unspecified => false,
    }
}

/// Applies a caller's change to `timer` in memory, or says why it cannot.
pub(crate) fn change(timer: &mut Timer, c: &Change) -> Result<Applied, Refused> {
    if c.tenant_id != timer.tenant_id {
        return Err(Refused::NotFound);
    }
    let current = TimerStatus::try_from(timer.status).unwrap_or_default();
    if !matches!(
        current,
        TimerStatus::Scheduled | TimerStatus::Armed | TimerStatus::Paused
    ) {
        return Err(Refused::Rejected(current));
    }
    if c.expected_version != 0 && c.expected_version != timer.state_version {
        return Err(Refused::Stale(timer.state_version));
    }
    let at = Some(to_timestamp(c.at));
    let event_type = match &c.kind {
        ChangeKind::Update(fields) => {
            fields.apply(timer);
            TimerEventType::Updated
        }
        ChangeKind::Pause { .. } if current == TimerStatus::Paused => {
            return Ok(Applied::Unchanged);
        }
        ChangeKind::Pause { reason, tenant } => {
            timer.status = TimerStatus::Paused as i32;
            timer.paused_at = at;
            timer.paused_by.clone_from(&c.actor);
            timer.pause_reason.clone_from(reason);
            timer.tenant_paused = *tenant;
            TimerEventType::Paused
        }
        ChangeKind::Resume { tenant }
            if current != TimerStatus::Paused || (*tenant && !timer.tenant_paused) =>
        {
            return Ok(Applied::Unchanged);
        }
        ChangeKind::Resume { .. } => {
            timer.status = TimerStatus::Armed as i32;
            timer.paused_at = None;
            timer.paused_by.clear();
            timer.pause_reason.clear();
            timer.tenant_paused = false;
            TimerEventType::Resumed
        }
    };
    timer.state_version += 1;
    timer.updated_at = at;
    Ok(Applied::Event(event_type))
}

/// Applies `transition` to `timer` in memory, or says why it cannot.
pub(crate) fn transition(timer: &mut Timer, t: &Transition) -> Result<TimerEventType, Refused> {
    if t.tenant_id
        .as_ref()
        .is_some_and(|tenant| *tenant != timer.tenant_id)
    {
        return Err(Refused::NotFound);
    }
    let current = TimerStatus::try_from(timer.status).unwrap_or_default();
    if !allowed(current, t.to) {
        return Err(Refused::Rejected(current));
    }
    // The fire time moved later (an update won the race): not this fire.
    if t.to == TimerStatus::Fired && fire_at(timer) > t.at {
        return Err(Refused::NotDue);
    }
    let at = Some(to_timestamp(t.at));
    timer.status = t.to as i32;
    timer.state_version += 1;
    timer.updated_at = at;
    let event_type = match t.to {
        TimerStatus::Armed => TimerEventType::Armed,
        TimerStatus::Fired => {
            timer.fired_at = at;
            let due = timer.fire_at.as_ref().map(from_timestamp).unwrap_or(t.at);
            timer.jitter_ms = (t.at - due) as f64 / 1_000.0;
            TimerEventType::Fired
        }
        TimerStatus::Settled => {
            timer.settled_at = at;
            timer.failure_reason.clear();
            if !t.results.is_empty() {
                timer.action_results = t.results.clone();
            }
            TimerEventType::Settled
        }
        TimerStatus::Failed => {
            timer.settled_at = at;
            timer.failure_reason = t.reason.clone();
            timer.action_results = t.results.clone();
            TimerEventType::Failed
        }
        TimerStatus::Cancelled => {
            timer.cancelled_at = at;
            timer.cancel_reason = t.reason.clone();
            timer.cancelled_by = t.actor.clone();
            TimerEventType::Cancelled
        }
        TimerStatus::Scheduled | TimerStatus::Paused | TimerStatus::Unspecified => {
            unreachable!("rejected by allowed()")
        }
    };
    Ok(event_type)
}

/// Builds the event for a transition that produced `timer`.
pub(crate) fn event(
    timer: &Timer,
    event_type: TimerEventType,
    sequence: u64,
    at: Micros,
) -> TimerEvent {
    let mut event = TimerEvent {
        sequence,
        envelope_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: timer.tenant_id.clone(),
        timer_id: timer.id.clone(),
        event_type: event_type as i32,
        occurred_at: Some(to_timestamp(at)),
        dedupe_key: format!("{}:{}", timer.id, timer.state_version),
        payload: Vec::new(),
        content_type: "application/json".to_owned(),
        signature: None,
        timer: None,
        schedule: None,
        trace_id: crate::trace::trace_id(&timer.trace_parent)
            .unwrap_or_default()
            .to_owned(),
    };
    event.payload = json::event_payload(&event, timer);
    event.timer = Some(timer.clone());
    event
}

/// Builds the event for a schedule's change: `schedule` set, no timer.
pub(crate) fn schedule_event(
    schedule: &minoots_proto::v1::Schedule,
    event_type: TimerEventType,
    sequence: u64,
    at: Micros,
) -> TimerEvent {
    let mut event = TimerEvent {
        sequence,
        envelope_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: schedule.tenant_id.clone(),
        event_type: event_type as i32,
        occurred_at: Some(to_timestamp(at)),
        dedupe_key: format!("{}:{}", schedule.id, schedule.version),
        content_type: "application/json".to_owned(),
        ..TimerEvent::default()
    };
    event.payload = json::schedule_event_payload(&event, schedule);
    event.schedule = Some(schedule.clone());
    event
}

/// What the rows loaded for a batch look like, for [`plan`].
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Timers the batch's transitions name, by id.
    pub timers: HashMap<String, Timer>,
    /// Timers holding the batch's idempotency keys: (tenant, key) -> (timer, fingerprint).
    pub idempotency: HashMap<(String, String), (Timer, String)>,
    /// Last sequence per tenant the batch touches (absent means `floor`).
    pub sequences: HashMap<String, u64>,
    /// The sequence floor ([`Store::skip_sequences`]); loaded only when a touched tenant has no
    /// sequence yet.
    pub floor: u64,
    /// Timers whose records could not be decoded whole, by id, with what was lost.
    pub damaged: HashMap<String, String>,
    /// Tenants whose deliveries are paused (loaded when the batch creates timers): their new
    /// timers are created PAUSED.
    pub paused_tenants: HashSet<String>,
}

/// The rows a batch writes, decided in memory from what was loaded.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub outcomes: Vec<Outcome>,
    /// New timers in their final state after the batch, with their fingerprints.
    pub inserts: Vec<(Timer, String)>,
    /// Existing timers in their final state after the batch.
    pub updates: Vec<Timer>,
    /// Of those, the ones whose indexed columns (fire time, name, labels, actions) changed.
    pub reshaped: HashSet<String>,
    /// Idempotency keys that moved: (timer id, its key now or None, its request fingerprint),
    /// written before the inserts (a key leaves a finished timer for a new one).
    pub rekeyed: Vec<(String, Option<String>, String)>,
    /// Shared with the outcomes (and, after the commit, the event bus): an event embeds its
    /// timer, and sharing it instead of copying it per holder raised batch scheduling by 17-21 %
    /// (docs/benchmarks.md).
    pub events: Vec<Arc<TimerEvent>>,
    /// New last sequence per tenant.
    pub sequences: HashMap<String, u64>,
    /// Dead letters of timers quarantined by this batch, written in the same transaction.
    pub dead_letters: Vec<DeadLetter>,
    /// Schedules to write (insert or replace), with their request fingerprints.
    pub schedules: Vec<(minoots_proto::v1::Schedule, String)>,
}

/// Ids whose rows a batch must load before [`plan`]: transition targets not created in the
/// batch itself, and idempotency keys.
pub(crate) fn to_load(mutations: &[Mutation]) -> (Vec<String>, Vec<(String, String)>) {
    let created: HashSet<&str> = mutations
        .iter()
        .filter_map(|m| {
            if let Mutation::Create(n) = m {
                Some(n.timer.id.as_str())
            } else {
                None
            }
        })
        .collect();
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    for mutation in mutations {
        match mutation {
            Mutation::Transition(Transition { timer_id, .. })
                if !created.contains(timer_id.as_str()) && seen.insert(timer_id.as_str()) =>
            {
                ids.push(timer_id.clone())
            }
            Mutation::Change(c)
                if !created.contains(c.timer_id.as_str()) && seen.insert(c.timer_id.as_str()) =>
            {
                ids.push(c.timer_id.clone())
            }
            Mutation::Create(n) if !n.timer.idempotency_key.is_empty() => {
                keys.push((n.timer.tenant_id.clone(), n.timer.idempotency_key.clone()))
            }
            _ => {}
        }
    }
    (ids, keys)
}

/// Tenants whose sequence counters a batch may advance: those of its creates and of the timers
/// its transitions load.
pub(crate) fn tenants_touched(
    mutations: &[Mutation],
    loaded: &HashMap<String, Timer>,
) -> Vec<String> {
    let mut tenants: Vec<String> = mutations
        .iter()
        .filter_map(|m| {
            if let Mutation::Create(n) = m {
                Some(n.timer.tenant_id.clone())
            } else {
                None
            }
        })
        .chain(loaded.values().map(|t| t.tenant_id.clone()))
        .chain(mutations.iter().filter_map(|m| match m {
            Mutation::Schedule(w) => Some(w.schedule.tenant_id.clone()),
            _ => None,
        }))
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    tenants
}

/// Whether a batch creates timers (and so must know which tenants are paused).
pub(crate) fn creates(mutations: &[Mutation]) -> bool {
    mutations.iter().any(|m| matches!(m, Mutation::Create(_)))
}

fn conflicts(new: &crate::validate::NewTimer, loaded: &Loaded) -> bool {
    if new.key_policy != KeyPolicy::Reject {
        return false;
    }
    let key = (
        new.timer.tenant_id.clone(),
        new.timer.idempotency_key.clone(),
    );
    !key.1.is_empty()
        && loaded
            .idempotency
            .get(&key)
            .is_some_and(|(_, fingerprint)| *fingerprint != new.fingerprint)
}

/// Groups with a create whose idempotency key is taken by a different request, stored or earlier
/// in this batch: none of their creates is written.
fn conflicting_groups(mutations: &[Mutation], loaded: &Loaded) -> HashSet<u64> {
    let mut aborted = HashSet::new();
    let mut in_batch: HashMap<(String, String), (&str, u64)> = HashMap::new();
    for mutation in mutations {
        let Mutation::Create(new) = mutation else {
            continue;
        };
        if new.timer.idempotency_key.is_empty() || new.key_policy != KeyPolicy::Reject {
            continue;
        }
        let key = (
            new.timer.tenant_id.clone(),
            new.timer.idempotency_key.clone(),
        );
        let conflict = match loaded.idempotency.get(&key) {
            Some((_, fingerprint)) => *fingerprint != new.fingerprint,
            None => in_batch.get(&key).is_some_and(|(fingerprint, group)| {
                !aborted.contains(group) && *fingerprint != new.fingerprint
            }),
        };
        if conflict {
            aborted.insert(new.group);
        } else {
            in_batch
                .entry(key)
                .or_insert((new.fingerprint.as_str(), new.group));
        }
    }
    aborted
}

/// `paused_by` of timers a tenant's pause holds.
pub const TENANT_PAUSE: &str = "tenant pause";

/// Applies a batch in memory. Every store runs this same logic, between loading the rows it
/// names and writing the rows it returns, so all stores decide transitions identically.
pub(crate) fn plan(mutations: Vec<Mutation>, mut loaded: Loaded) -> Plan {
    // Sized up front: an outcome is kilobytes (a timer and its event inline), and growing these
    // by doubling copied whole batches and faulted in fresh pages for each copy.
    let creates = mutations
        .iter()
        .filter(|m| matches!(m, Mutation::Create(_)))
        .count();
    let mut plan = Plan {
        outcomes: Vec::with_capacity(mutations.len()),
        events: Vec::with_capacity(mutations.len()),
        inserts: Vec::with_capacity(creates),
        ..Plan::default()
    };
    let mut new_ids: HashMap<String, usize> = HashMap::new();
    let mut dirty: Vec<String> = Vec::new();
    let mut dirty_set: HashSet<String> = HashSet::new();
    let next_sequence = |tenant: &str, sequences: &mut HashMap<String, u64>| {
        let last = sequences.entry(tenant.to_owned()).or_insert_with(|| {
            loaded
                .sequences
                .get(tenant)
                .copied()
                .unwrap_or(loaded.floor)
        });
        *last += 1;
        *last
    };
    let aborted = conflicting_groups(&mutations, &loaded);
    // Timers this batch quarantined: what else the batch asks of them (the SETTLED that follows
    // a fire) is refused.
    let mut quarantined: HashSet<String> = HashSet::new();
    for mutation in mutations {
        let outcome = match mutation {
            Mutation::Schedule(write) => {
                let ScheduleWrite {
                    schedule,
                    event: event_type,
                    at,
                    fingerprint,
                } = *write;
                let event = event_type.map(|event_type| {
                    let sequence = next_sequence(&schedule.tenant_id, &mut plan.sequences);
                    let event = Arc::new(schedule_event(&schedule, event_type, sequence, at));
                    plan.events.push(event.clone());
                    event
                });
                plan.schedules.push((schedule.clone(), fingerprint));
                Outcome::ScheduleSaved(Box::new(schedule), event)
            }
            Mutation::Create(new) if aborted.contains(&new.group) && !conflicts(&new, &loaded) => {
                Outcome::Aborted
            }
            Mutation::Create(new) => {
                let idempotency = (
                    new.timer.tenant_id.clone(),
                    new.timer.idempotency_key.clone(),
                );
                let existing = if idempotency.1.is_empty() {
                    None
                } else {
                    loaded.idempotency.get(&idempotency).cloned()
                };
                // The holder of the key as this batch left it so far.
                let current = |id: &str, stored: &Timer, plan: &Plan, loaded: &Loaded| match new_ids
                    .get(id)
                {
                    Some(&i) => plan.inserts[i].0.clone(),
                    None => loaded
                        .timers
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| stored.clone()),
                };
                let pending = |timer: &Timer| {
                    matches!(
                        TimerStatus::try_from(timer.status).unwrap_or_default(),
                        TimerStatus::Scheduled | TimerStatus::Armed | TimerStatus::Paused
                    )
                };
                let mut replaces_final = None;
                let decided = match (&existing, new.key_policy) {
                    (Some((timer, fingerprint)), KeyPolicy::Reject)
                        if *fingerprint == new.fingerprint =>
                    {
                        Some(Outcome::Existing(current(&timer.id, timer, &plan, &loaded)))
                    }
                    (Some((timer, _)), KeyPolicy::Reject) => Some(Outcome::Conflict {
                        existing_id: timer.id.clone(),
                    }),
                    (Some((timer, _)), KeyPolicy::Keep) => {
                        Some(Outcome::Existing(current(&timer.id, timer, &plan, &loaded)))
                    }
                    (Some((timer, fingerprint)), _) => {
                        let mut held = current(&timer.id, timer, &plan, &loaded);
                        if pending(&held) {
                            let at = created_at(&new.timer);
                            Fields::of(&new.timer).apply(&mut held);
                            held.state_version += 1;
                            held.updated_at = Some(to_timestamp(at));
                            match new_ids.get(&held.id) {
                                Some(&i) => {
                                    plan.inserts[i] = (held.clone(), new.fingerprint.clone());
                                }
                                None => {
                                    loaded.timers.insert(held.id.clone(), held.clone());
                                    if dirty_set.insert(held.id.clone()) {
                                        dirty.push(held.id.clone());
                                    }
                                    plan.rekeyed.push((
                                        held.id.clone(),
                                        Some(idempotency.1.clone()),
                                        new.fingerprint.clone(),
                                    ));
                                }
                            }
                            plan.reshaped.insert(held.id.clone());
                            loaded.idempotency.insert(
                                idempotency.clone(),
                                (held.clone(), new.fingerprint.clone()),
                            );
                            let sequence = next_sequence(&held.tenant_id, &mut plan.sequences);
                            let event =
                                Arc::new(event(&held, TimerEventType::Updated, sequence, at));
                            plan.events.push(event.clone());
                            Some(Outcome::Replaced(held, event))
                        } else {
                            // Finished: the key moves to a new timer.
                            replaces_final = Some((timer.id.clone(), fingerprint.clone()));
                            None
                        }
                    }
                    (None, _) => None,
                };
                match decided {
                    Some(outcome) => outcome,
                    None => {
                        if let Some((id, fingerprint)) = replaces_final {
                            plan.rekeyed.push((id, None, fingerprint));
                        }
                        let mut timer = new.timer;
                        let sequence = next_sequence(&timer.tenant_id, &mut plan.sequences);
                        let at = created_at(&timer);
                        if loaded.paused_tenants.contains(&timer.tenant_id) {
                            // Created held: its scheduled event shows it paused.
                            timer.status = TimerStatus::Paused as i32;
                            timer.paused_at = Some(to_timestamp(at));
                            timer.paused_by = TENANT_PAUSE.to_owned();
                            timer.tenant_paused = true;
                        }
                        let event =
                            Arc::new(event(&timer, TimerEventType::Scheduled, sequence, at));
                        if !idempotency.1.is_empty() {
                            loaded
                                .idempotency
                                .insert(idempotency, (timer.clone(), new.fingerprint.clone()));
                        }
                        new_ids.insert(timer.id.clone(), plan.inserts.len());
                        plan.inserts.push((timer.clone(), new.fingerprint));
                        plan.events.push(event.clone());
                        Outcome::Created(timer, event)
                    }
                }
            }
            Mutation::Transition(_) | Mutation::Change(_) => {
                let (timer_id, tenant, at) = match &mutation {
                    Mutation::Transition(t) => (t.timer_id.clone(), t.tenant_id.clone(), t.at),
                    Mutation::Change(c) => (c.timer_id.clone(), Some(c.tenant_id.clone()), c.at),
                    Mutation::Create(_) | Mutation::Schedule(_) => unreachable!("matched above"),
                };
                let current = match new_ids.get(&timer_id) {
                    Some(&i) => Some(&mut plan.inserts[i].0),
                    None => loaded.timers.get_mut(&timer_id),
                };
                // Another tenant's transition finds nothing, damaged or not.
                let damage = current
                    .as_ref()
                    .filter(|timer| tenant.as_ref().is_none_or(|id| *id == timer.tenant_id))
                    .and_then(|_| loaded.damaged.remove(&timer_id));
                match current {
                    None => Outcome::NotFound,
                    Some(_) if quarantined.contains(&timer_id) => {
                        Outcome::Rejected(TimerStatus::Failed)
                    }
                    Some(timer)
                        if damage.is_some()
                            && !TimerStatus::try_from(timer.status)
                                .unwrap_or_default()
                                .is_final() =>
                    {
                        let from = TimerStatus::try_from(timer.status).unwrap_or_default();
                        salvage::quarantine(timer, damage.as_deref().unwrap_or_default(), at);
                        let next = timer.clone();
                        if dirty_set.insert(timer_id.clone()) {
                            dirty.push(timer_id.clone());
                        }
                        let sequence = next_sequence(&next.tenant_id, &mut plan.sequences);
                        let event = Arc::new(event(&next, TimerEventType::Failed, sequence, at));
                        plan.events.push(event.clone());
                        plan.dead_letters.push(salvage::dead_letter(&next, at));
                        quarantined.insert(timer_id.clone());
                        Outcome::Quarantined {
                            timer: next,
                            event,
                            from,
                        }
                    }
                    Some(timer) => {
                        let mut next = timer.clone();
                        let applied = match &mutation {
                            Mutation::Transition(t) => transition(&mut next, t).map(Applied::Event),
                            Mutation::Change(c) => change(&mut next, c),
                            Mutation::Create(_) | Mutation::Schedule(_) => {
                                unreachable!("matched above")
                            }
                        };
                        match applied {
                            Err(refused) => refused.outcome(timer),
                            Ok(Applied::Unchanged) => Outcome::Unchanged(next),
                            Ok(Applied::Event(event_type)) => {
                                *timer = next.clone();
                                if !new_ids.contains_key(&timer_id)
                                    && dirty_set.insert(timer_id.clone())
                                {
                                    dirty.push(timer_id.clone());
                                }
                                if event_type == TimerEventType::Updated {
                                    plan.reshaped.insert(timer_id.clone());
                                }
                                let sequence = next_sequence(&next.tenant_id, &mut plan.sequences);
                                let event = Arc::new(event(&next, event_type, sequence, at));
                                plan.events.push(event.clone());
                                Outcome::Transitioned(next, event)
                            }
                        }
                    }
                }
            }
        };
        plan.outcomes.push(outcome);
    }
    plan.updates = dirty
        .into_iter()
        .filter_map(|id| loaded.timers.remove(&id))
        .collect();
    plan
}

/// When a final timer finished, for retention.
pub(crate) fn finished_at(timer: &Timer) -> Option<Micros> {
    let status = TimerStatus::try_from(timer.status).unwrap_or_default();
    status
        .is_final()
        .then(|| {
            timer
                .settled_at
                .as_ref()
                .or(timer.cancelled_at.as_ref())
                .map(from_timestamp)
        })
        .flatten()
}

pub(crate) fn has_actions(timer: &Timer) -> bool {
    timer
        .action_bundle
        .as_ref()
        .is_some_and(|b| !b.actions.is_empty())
}

pub(crate) fn fire_at(timer: &Timer) -> Micros {
    timer
        .fire_at
        .as_ref()
        .map(from_timestamp)
        .unwrap_or_default()
}

pub(crate) fn created_at(timer: &Timer) -> Micros {
    timer
        .created_at
        .as_ref()
        .map(from_timestamp)
        .unwrap_or_default()
}

/// Stores one dead letter, replacing an earlier write of the same one (SQLite and Postgres).
pub(crate) const PUT_DEAD_LETTER: &str = "INSERT INTO dead_letters (id, tenant_id, timer_id, action_index, created_at_us, resolved_at_us, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET resolved_at_us = excluded.resolved_at_us, body = excluded.body";

pub(crate) fn decode_dead_letter(body: &[u8]) -> Result<DeadLetter> {
    prost::Message::decode(body)
        .map_err(|e| crate::KernelError::Internal(format!("corrupt dead letter row: {e}")))
}
