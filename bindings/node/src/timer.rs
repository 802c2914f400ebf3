//! Timers and events as plain JS objects (TypeScript interfaces generated from these structs),
//! and schedule options as an SDK `TimerSpec`.

use std::collections::HashMap;

use minoots::{After, TimerOptions, TimerSpec, json, proto};
use napi_derive::napi;

use crate::error::{Result, invalid};

pub fn time(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().map(ToString::to_string)
}

/// A timer as the server last reported it. Times are RFC 3339 strings (UTC).
#[napi(object)]
pub struct Timer {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `scheduled`, `armed`, `fired`, `settled`, `failed` or `cancelled`.
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
            state_version: t.state_version as i64,
            labels: t.labels.into_iter().collect(),
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            requested_by: t.requested_by,
            cancel_reason: t.cancel_reason,
            failure_reason: t.failure_reason,
        }
    }
}

/// One lifecycle transition of a timer.
#[napi(object)]
pub struct TimerEvent {
    /// Per tenant, strictly increasing; pass it back as `afterSequence` to resume.
    pub sequence: i64,
    /// `timer.scheduled`, `timer.armed`, `timer.fired`, `timer.settled`, `timer.failed`,
    /// `timer.cancelled`.
    pub event_type: String,
    pub timer_id: String,
    pub occurred_at: Option<String>,
    /// `{timerId}:{stateVersion}`: stable across redeliveries.
    pub dedupe_key: String,
    pub trace_id: String,
    /// The timer right after this transition.
    pub timer: Option<Timer>,
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
}

impl ScheduleOptions {
    pub fn into_spec(self) -> Result<TimerSpec> {
        let duration = match self.duration {
            None => None,
            Some(serde_json::Value::String(text)) => Some(After::from(text)),
            Some(serde_json::Value::Number(ms)) => {
                let ms = ms
                    .as_f64()
                    .filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .ok_or_else(|| invalid("duration", "milliseconds must be non-negative"))?;
                Some(After::from(std::time::Duration::from_secs_f64(
                    ms / 1_000.0,
                )))
            }
            Some(_) => {
                return Err(invalid(
                    "duration",
                    "must be text like \"15m\" or milliseconds",
                ));
            }
        };
        Ok(TimerOptions {
            name: self.name,
            duration,
            fire_at: self.fire_at,
            labels: self.labels.unwrap_or_default().into_iter().collect(),
            metadata: self.metadata,
            action_bundle: self.action_bundle,
            webhook: self.webhook,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by,
            key_policy: None,
            late_policy: None,
        }
        .into())
    }
}
