//! Timers and events as uniffi records.

use std::collections::HashMap;

use minoots::{json, proto};

use crate::schedule::Schedule;

pub fn time(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().map(ToString::to_string)
}

/// A timer as the server last reported it. Times are RFC 3339 strings (UTC).
#[derive(Debug, Clone, uniffi::Record)]
pub struct Timer {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `scheduled`, `armed`, `paused`, `fired`, `settled`, `failed` or `cancelled`.
    pub status: String,
    pub created_at: Option<String>,
    pub fire_at: Option<String>,
    pub fired_at: Option<String>,
    pub settled_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub labels: HashMap<String, String>,
    pub metadata_json: Option<String>,
    pub cancel_reason: String,
    pub failure_reason: String,
    pub state_version: u64,
    /// The recurring schedule this timer is an occurrence of (empty if none), and its slot.
    pub schedule_id: String,
    pub scheduled_for: Option<String>,
    /// The REST/webhook JSON form, every field included.
    pub json: String,
}

impl From<proto::Timer> for Timer {
    fn from(t: proto::Timer) -> Self {
        Self {
            json: json::timer_to_json(&t).to_string(),
            status: t.status().wire_name().to_owned(),
            created_at: time(&t.created_at),
            fire_at: time(&t.fire_at),
            fired_at: time(&t.fired_at),
            settled_at: time(&t.settled_at),
            cancelled_at: time(&t.cancelled_at),
            metadata_json: t
                .metadata
                .as_ref()
                .map(|m| json::struct_to_json(m).to_string()),
            state_version: t.state_version,
            scheduled_for: time(&t.scheduled_for),
            labels: t.labels.into_iter().collect(),
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            cancel_reason: t.cancel_reason,
            failure_reason: t.failure_reason,
            schedule_id: t.schedule_id,
        }
    }
}

/// One lifecycle transition of a timer, or of a recurring schedule (`schedule.*`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct TimerEvent {
    /// Per tenant, strictly increasing; pass it back as `after_sequence` to resume.
    pub sequence: u64,
    /// `timer.scheduled`, ..., `timer.settled`, `timer.failed`, `timer.cancelled`,
    /// `timer.updated`, `timer.paused`, `timer.resumed`; `schedule.created`, ...,
    /// `schedule.deleted`, `schedule.completed`, `schedule.skipped`.
    pub event_type: String,
    /// Empty for a schedule's event.
    pub timer_id: String,
    pub occurred_at: Option<String>,
    pub dedupe_key: String,
    pub timer: Option<Timer>,
    /// For a schedule's event: the schedule right after this change.
    pub schedule: Option<Schedule>,
    /// The payload webhooks and NATS receive (JSON).
    pub payload_json: String,
}

impl From<proto::TimerEvent> for TimerEvent {
    fn from(e: proto::TimerEvent) -> Self {
        Self {
            sequence: e.sequence,
            event_type: e.event_type().wire_name().to_owned(),
            occurred_at: time(&e.occurred_at),
            payload_json: String::from_utf8_lossy(&e.payload).into_owned(),
            timer: e.timer.map(Timer::from),
            schedule: e.schedule.map(Schedule::from),
            timer_id: e.timer_id,
            dedupe_key: e.dedupe_key,
        }
    }
}
