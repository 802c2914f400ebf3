//! JSON rendering of timers for event payloads: the bytes delivered to webhooks and NATS.
//! Field names follow the original control plane (camelCase).

use minoots_proto::{
    prost_types::{Struct, Value, value::Kind},
    v1::{Timer, TimerEvent, TimerEventType, TimerStatus},
};
use serde_json::{Map, Number, json};

use crate::clock::from_duration;

pub fn struct_to_json(s: &Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

pub fn value_to_json(value: &Value) -> serde_json::Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => {
            Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(value_to_json).collect())
        }
    }
}

pub fn timer_to_json(timer: &Timer) -> serde_json::Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        if !value.is_null() {
            out.insert(key.to_owned(), value);
        }
    };
    let ts = |t: &Option<minoots_proto::prost_types::Timestamp>| {
        t.as_ref()
            .map_or(serde_json::Value::Null, |t| json!(t.to_string()))
    };
    let text = |s: &str| {
        if s.is_empty() {
            serde_json::Value::Null
        } else {
            json!(s)
        }
    };
    put("id", json!(timer.id));
    put("tenantId", json!(timer.tenant_id));
    put("requestedBy", text(&timer.requested_by));
    put("name", json!(timer.name));
    put(
        "status",
        json!(
            TimerStatus::try_from(timer.status)
                .unwrap_or_default()
                .wire_name()
        ),
    );
    put("createdAt", ts(&timer.created_at));
    put("fireAt", ts(&timer.fire_at));
    put("firedAt", ts(&timer.fired_at));
    put("cancelledAt", ts(&timer.cancelled_at));
    put("settledAt", ts(&timer.settled_at));
    put(
        "durationMs",
        timer
            .duration
            .as_ref()
            .map_or(serde_json::Value::Null, |d| json!(from_duration(d) / 1_000)),
    );
    put("labels", json!(timer.labels));
    put(
        "metadata",
        timer
            .metadata
            .as_ref()
            .map_or(serde_json::Value::Null, struct_to_json),
    );
    if let Some(binding) = &timer.agent_binding {
        put(
            "agentBinding",
            json!({"agentId": binding.agent_id, "sessionId": binding.session_id, "framework": binding.framework, "attributes": binding.attributes}),
        );
    }
    put("cancelReason", text(&timer.cancel_reason));
    put("cancelledBy", text(&timer.cancelled_by));
    put("failureReason", text(&timer.failure_reason));
    put("stateVersion", json!(timer.state_version));
    if timer.fired_at.is_some() {
        put("jitterMs", json!(timer.jitter_ms));
    }
    put("idempotencyKey", text(&timer.idempotency_key));
    serde_json::Value::Object(out)
}

/// The delivered payload: `{"type", "timestamp", "data": {timer}}`, the shape Standard Webhooks
/// recommends.
pub fn event_payload(event: &TimerEvent, timer: &Timer) -> Vec<u8> {
    let event_type = TimerEventType::try_from(event.event_type).unwrap_or_default();
    let timestamp = event.occurred_at.as_ref().map(ToString::to_string);
    serde_json::to_vec(&json!({
        "type": event_type.wire_name(),
        "timestamp": timestamp,
        "sequence": event.sequence,
        "data": timer_to_json(timer),
    }))
    .expect("serialising a JSON value cannot fail")
}
