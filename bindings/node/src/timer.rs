//! Timers and events as plain JS objects (TypeScript interfaces generated from these structs),
//! and schedule options as an SDK `TimerSpec`.

use std::collections::HashMap;

use minoots::{After, TimerOptions, TimerSpec, TimerUpdate, json, proto};
use napi_derive::napi;

use crate::{
    error::{Result, invalid},
    schedule::Schedule,
};

pub fn time(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().map(ToString::to_string)
}

/// A timer as the server last reported it. Times are RFC 3339 strings (UTC).
#[napi(object)]
pub struct Timer {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `scheduled`, `armed`, `paused`, `fired`, `settled`, `failed` or `cancelled`.
    pub status: String,
    pub requested_by: String,
    pub created_at: Option<String>,
    pub fire_at: Option<String>,
    pub fired_at: Option<String>,
    pub settled_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub labels: HashMap<String, String>,
    pub metadata: Option<serde_json::Value>,
    pub cancel_reason: String,
    pub failure_reason: String,
    pub state_version: i64,
    /// `firedAt - fireAt` in milliseconds, once fired.
    pub jitter_ms: Option<f64>,
    /// The recurring schedule this timer is an occurrence of (empty if none), and its slot.
    pub schedule_id: String,
    pub scheduled_for: Option<String>,
    /// The REST/webhook JSON form, every field included.
    pub json: serde_json::Value,
}

impl From<proto::Timer> for Timer {
    fn from(t: proto::Timer) -> Self {
        Self {
            json: json::timer_to_json(&t),
            status: t.status().wire_name().to_owned(),
            created_at: time(&t.created_at),
            fire_at: time(&t.fire_at),
            fired_at: time(&t.fired_at),
            settled_at: time(&t.settled_at),
            cancelled_at: time(&t.cancelled_at),
            metadata: t.metadata.as_ref().map(json::struct_to_json),
            jitter_ms: t.fired_at.is_some().then_some(t.jitter_ms),
            scheduled_for: time(&t.scheduled_for),
            state_version: t.state_version as i64,
            labels: t.labels.into_iter().collect(),
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            requested_by: t.requested_by,
            cancel_reason: t.cancel_reason,
            failure_reason: t.failure_reason,
            schedule_id: t.schedule_id,
        }
    }
}

/// One lifecycle transition of a timer, or of a recurring schedule (`schedule.*`).
#[napi(object)]
pub struct TimerEvent {
    /// Per tenant, strictly increasing; pass it back as `afterSequence` to resume.
    pub sequence: i64,
    /// `timer.scheduled`, `timer.armed`, `timer.fired`, `timer.settled`, `timer.failed`,
    /// `timer.cancelled`, `timer.updated`, `timer.paused`, `timer.resumed`; `schedule.created`,
    /// `schedule.updated`, `schedule.paused`, `schedule.resumed`, `schedule.deleted`,
    /// `schedule.completed`, `schedule.skipped`.
    pub event_type: String,
    /// Empty for a schedule's event.
    pub timer_id: String,
    pub occurred_at: Option<String>,
    /// `{timerId}:{stateVersion}`: stable across redeliveries.
    pub dedupe_key: String,
    pub trace_id: String,
    /// The timer right after this transition.
    pub timer: Option<Timer>,
    /// For a schedule's event: the schedule right after this change.
    pub schedule: Option<Schedule>,
    /// The payload webhooks and NATS receive.
    pub payload: serde_json::Value,
}

impl From<proto::TimerEvent> for TimerEvent {
    fn from(e: proto::TimerEvent) -> Self {
        Self {
            sequence: e.sequence as i64,
            event_type: e.event_type().wire_name().to_owned(),
            occurred_at: time(&e.occurred_at),
            payload: serde_json::from_slice(&e.payload).unwrap_or(serde_json::Value::Null),
            timer: e.timer.map(Timer::from),
            schedule: e.schedule.map(Schedule::from),
            timer_id: e.timer_id,
            dedupe_key: e.dedupe_key,
            trace_id: e.trace_id,
        }
    }
}

/// What to schedule, in the REST vocabulary: `duration` (`"15m"`, or milliseconds) or
/// `fireAt` (RFC 3339).
#[napi(object)]
pub struct ScheduleOptions {
    pub name: String,
    pub duration: Option<serde_json::Value>,
    pub fire_at: Option<String>,
    pub labels: Option<HashMap<String, String>>,
    pub metadata: Option<serde_json::Value>,
    /// `{ actions: [{ type: "webhook", url }], retryPolicy: {...} }`, as the REST API takes.
    pub action_bundle: Option<serde_json::Value>,
    /// Shorthand for one webhook action.
    pub webhook: Option<String>,
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    /// When the idempotency key is taken: `reject` (the default), `replace` (the pending timer
    /// takes this request: a sliding debounce) or `keep`.
    pub key_policy: Option<String>,
    /// A `fireAt` already past: `fire` at once (the default) or `reject`.
    pub late_policy: Option<String>,
}

/// A length as JavaScript gives it (`duration`, a schedule's `interval`, ...): `"15m"`-style
/// text, or milliseconds. Mistakes name `field`.
pub fn duration(field: &str, value: Option<serde_json::Value>) -> Result<Option<After>> {
    Ok(match value {
        None => None,
        Some(serde_json::Value::String(text)) => Some(After::from(text)),
        Some(serde_json::Value::Number(ms)) => {
            let ms = ms
                .as_f64()
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .ok_or_else(|| invalid(field, "milliseconds must be non-negative"))?;
            Some(After::from(std::time::Duration::from_secs_f64(
                ms / 1_000.0,
            )))
        }
        Some(_) => {
            return Err(invalid(field, "must be text like \"15m\" or milliseconds"));
        }
    })
}

impl ScheduleOptions {
    pub fn into_spec(self) -> Result<TimerSpec> {
        Ok(TimerOptions {
            name: self.name,
            duration: duration("duration", self.duration)?,
            fire_at: self.fire_at,
            labels: self.labels.unwrap_or_default().into_iter().collect(),
            metadata: self.metadata,
            action_bundle: self.action_bundle,
            webhook: self.webhook,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by,
            key_policy: self.key_policy,
            late_policy: self.late_policy,
        }
        .into())
    }
}

/// A change to a pending timer, named by `id` or `idempotencyKey`: each field given replaces
/// the timer's; `duration` (`"15m"`, or milliseconds) or `fireAt` moves its fire time.
#[napi(object)]
pub struct UpdateOptions {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    pub duration: Option<serde_json::Value>,
    pub fire_at: Option<String>,
    pub name: Option<String>,
    /// Replaces every label.
    pub labels: Option<HashMap<String, String>>,
    /// Replaces the metadata.
    pub metadata: Option<serde_json::Value>,
    /// Replaces the actions, as the REST API takes them.
    pub action_bundle: Option<serde_json::Value>,
    /// Replaces the actions with one webhook action.
    pub webhook: Option<String>,
    /// Apply only if the timer is still at this `stateVersion`; else rejects with `ABORTED`.
    pub expected_state_version: Option<i64>,
    /// A new `fireAt` already past: `fire` at once (the default) or `reject`.
    pub late_policy: Option<String>,
    pub requested_by: Option<String>,
}

impl UpdateOptions {
    pub fn into_update(self) -> Result<TimerUpdate> {
        let expected_state_version = self
            .expected_state_version
            .map(|v| {
                u64::try_from(v).map_err(|_| invalid("expected_state_version", "must be >= 0"))
            })
            .transpose()?;
        Ok(TimerUpdate {
            id: self.id,
            idempotency_key: self.idempotency_key,
            duration: duration("duration", self.duration)?,
            fire_at: self.fire_at,
            name: self.name,
            labels: self.labels.map(|l| l.into_iter().collect()),
            metadata: self.metadata,
            action_bundle: self.action_bundle,
            webhook: self.webhook,
            expected_state_version,
            late_policy: self.late_policy,
            requested_by: self.requested_by,
        })
    }
}

/// Which timers a bulk call (`cancelTimers`, `pauseTimers`, `resumeTimers`) changes.
#[napi(object)]
pub struct SelectOptions {
    /// `team=core,!done`; required unless `all`.
    pub label_selector: Option<String>,
    /// Every pending timer of the tenant.
    pub all: Option<bool>,
    pub name_prefix: Option<String>,
    /// Only count the timers that would change.
    pub dry_run: Option<bool>,
    pub reason: Option<String>,
}

impl From<SelectOptions> for proto::SelectTimersRequest {
    fn from(o: SelectOptions) -> Self {
        Self {
            label_selector: o.label_selector.unwrap_or_default(),
            all: o.all.unwrap_or(false),
            name_prefix: o.name_prefix.unwrap_or_default(),
            dry_run: o.dry_run.unwrap_or(false),
            reason: o.reason.unwrap_or_default(),
            ..Default::default()
        }
    }
}

/// What a bulk call did.
#[napi(object)]
pub struct SelectResult {
    /// Timers that matched and could change.
    pub matched: i64,
    /// Timers changed (0 on a dry run).
    pub changed: i64,
}

impl From<proto::SelectTimersResponse> for SelectResult {
    fn from(r: proto::SelectTimersResponse) -> Self {
        Self {
            matched: r.matched as i64,
            changed: r.changed as i64,
        }
    }
}

/// Whether the tenant's deliveries are paused.
#[napi(object)]
pub struct TenantPause {
    pub tenant_id: String,
    pub paused: bool,
    pub paused_at: Option<String>,
    pub paused_by: String,
    pub reason: String,
    /// Timers this call paused or resumed.
    pub changed: i64,
}

impl From<proto::TenantPause> for TenantPause {
    fn from(p: proto::TenantPause) -> Self {
        Self {
            paused_at: time(&p.paused_at),
            changed: p.changed as i64,
            tenant_id: p.tenant_id,
            paused: p.paused,
            paused_by: p.paused_by,
            reason: p.reason,
        }
    }
}
