//! The JSON form of timers and requests, shared by event payloads (the bytes delivered to
//! webhooks and NATS) and the REST API and the language bindings. Field names follow the original control plane (camelCase).

use std::collections::BTreeMap;

use prost_types::{Struct, Value, value::Kind};
use serde::Deserialize;
use serde_json::{Map, Number, json};

use crate::v1::{
    Action, ActionBundle, AgentAdapter, AgentPromptAction, CommandAction, FileAction,
    FileWriteMode, RetryPolicy, Timer, TimerEvent, TimerEventType, TimerStatus, WebhookAction,
    action,
};

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
    let ts = |t: &Option<prost_types::Timestamp>| {
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
            .map_or(serde_json::Value::Null, |d| json!(duration_millis(d))),
    );
    put("labels", json!(timer.labels));
    put(
        "metadata",
        timer
            .metadata
            .as_ref()
            .map_or(serde_json::Value::Null, struct_to_json),
    );
    if let Some(bundle) = &timer.action_bundle {
        put("actionBundle", action_bundle_to_json(bundle));
    }
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
    put("traceParent", text(&timer.trace_parent));
    if !timer.action_results.is_empty() {
        put(
            "actionResults",
            timer
                .action_results
                .iter()
                .map(action_result_to_json)
                .collect(),
        );
    }
    serde_json::Value::Object(out)
}

/// The delivered payload: `{"type", "timestamp", "data": {timer}}`, the shape Standard Webhooks
/// recommends.
pub fn dead_letter_to_json(letter: &crate::v1::DeadLetter) -> serde_json::Value {
    json!({
        "id": letter.id,
        "tenantId": letter.tenant_id,
        "timerId": letter.timer_id,
        "actionIndex": letter.action_index,
        "action": letter.action.as_ref().map(action_to_json),
        "idempotencyKey": letter.idempotency_key,
        "attempts": letter.attempts,
        "lastError": letter.last_error,
        "createdAt": letter.created_at.as_ref().map(ToString::to_string),
        "resolvedAt": letter.resolved_at.as_ref().map(ToString::to_string),
        "replays": letter.replays,
    })
}

pub fn action_result_to_json(r: &crate::v1::ActionResult) -> serde_json::Value {
    json!({
        "index": r.index,
        "actionId": r.action_id,
        "kind": r.kind,
        "ok": r.ok,
        "attempts": r.attempts,
        "detail": r.detail,
        "output": r.output,
        "fallback": r.fallback,
        "finishedAt": r.finished_at.as_ref().map(ToString::to_string),
        "idempotencyKey": r.idempotency_key,
    })
}

pub fn event_payload(event: &TimerEvent, timer: &Timer) -> Vec<u8> {
    let event_type = TimerEventType::try_from(event.event_type).unwrap_or_default();
    let timestamp = event.occurred_at.as_ref().map(ToString::to_string);
    let mut payload = json!({
        "type": event_type.wire_name(),
        "timestamp": timestamp,
        "sequence": event.sequence,
        "data": timer_to_json(timer),
    });
    if !event.trace_id.is_empty() {
        payload["traceId"] = json!(event.trace_id);
    }
    serde_json::to_vec(&payload).expect("serialising a JSON value cannot fail")
}

/// Whole milliseconds of a protobuf duration (saturating).
pub fn duration_millis(d: &prost_types::Duration) -> i64 {
    d.seconds
        .saturating_mul(1_000)
        .saturating_add(i64::from(d.nanos) / 1_000_000)
}

/// A JSON input that does not fit the contract; `field` is its proto path
/// (`action_bundle.actions[0].kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InvalidField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidField {}

// ---------------------------------------------------------------------------------------------
// The REST/JSON form of requests: JSON in, proto out. Errors name the field by its proto path
// (`action_bundle.actions[0].kind`), as validation does.

pub fn json_to_value(value: &serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(object_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

pub fn object_to_struct(map: &Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

/// A JSON object as a `Struct`; anything else is an error naming `field`.
pub fn json_to_struct(field: &str, value: &serde_json::Value) -> Result<Struct, InvalidField> {
    match value {
        serde_json::Value::Object(map) => Ok(object_to_struct(map)),
        _ => Err(InvalidField::new(field, "must be a JSON object")),
    }
}

fn millis(ms: Option<u64>) -> Option<prost_types::Duration> {
    ms.map(|ms| prost_types::Duration {
        seconds: (ms / 1_000) as i64,
        nanos: ((ms % 1_000) * 1_000_000) as i32,
    })
}

fn to_millis(d: &Option<prost_types::Duration>) -> serde_json::Value {
    d.as_ref()
        .map_or(serde_json::Value::Null, |d| json!(duration_millis(d)))
}

/// Every action kind's fields in one shape; `type` picks the kind.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionJson {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    method: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    body: Option<Map<String, serde_json::Value>>,
    timeout_ms: Option<u64>,
    program: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    working_dir: Option<String>,
    path: Option<String>,
    mode: Option<String>,
    content: Option<String>,
    adapter: Option<String>,
    target: Option<String>,
    tool: Option<String>,
    prompt: Option<String>,
    arguments: Option<Map<String, serde_json::Value>>,
    ack_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryPolicyJson {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u64>,
    multiplier: Option<f64>,
    max_backoff_ms: Option<u64>,
    jitter: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionBundleJson {
    #[serde(default)]
    actions: Vec<serde_json::Value>,
    retry_policy: Option<RetryPolicyJson>,
    concurrency: Option<u32>,
    fallback: Option<serde_json::Value>,
    escalate_after_attempts: Option<u32>,
}

fn parse<T: for<'de> Deserialize<'de>>(
    field: &str,
    value: &serde_json::Value,
) -> Result<T, InvalidField> {
    T::deserialize(value).map_err(|e| InvalidField::new(field, e.to_string()))
}

fn action_from_json(field: &str, value: &serde_json::Value) -> Result<Action, InvalidField> {
    let a: ActionJson = parse(field, value)?;
    let kind = match a.kind.as_deref() {
        Some("webhook") => action::Kind::Webhook(WebhookAction {
            url: a.url.unwrap_or_default(),
            method: a.method.unwrap_or_default(),
            headers: a.headers.unwrap_or_default(),
            body: a.body.as_ref().map(object_to_struct),
            timeout: millis(a.timeout_ms),
        }),
        Some("command") => action::Kind::Command(CommandAction {
            program: a.program.unwrap_or_default(),
            args: a.args.unwrap_or_default(),
            env: a.env.unwrap_or_default(),
            working_dir: a.working_dir.unwrap_or_default(),
            timeout: millis(a.timeout_ms),
        }),
        Some("file") => action::Kind::File(FileAction {
            path: a.path.unwrap_or_default(),
            mode: match a.mode.as_deref() {
                None | Some("write") => FileWriteMode::Write as i32,
                Some("append") => FileWriteMode::Append as i32,
                Some(other) => {
                    return Err(InvalidField::new(
                        format!("{field}.mode"),
                        format!("unknown mode {other:?} (write or append)"),
                    ));
                }
            },
            content: a.content.unwrap_or_default(),
        }),
        Some("agent_prompt" | "agentPrompt") => action::Kind::AgentPrompt(AgentPromptAction {
            adapter: match a.adapter.as_deref() {
                Some("mcp") => AgentAdapter::Mcp as i32,
                Some("http") => AgentAdapter::Http as i32,
                Some("nats") => AgentAdapter::Nats as i32,
                other => {
                    return Err(InvalidField::new(
                        format!("{field}.adapter"),
                        format!("unknown adapter {other:?} (mcp, http or nats)"),
                    ));
                }
            },
            target: a.target.unwrap_or_default(),
            tool: a.tool.unwrap_or_default(),
            prompt: a.prompt.unwrap_or_default(),
            arguments: a.arguments.as_ref().map(object_to_struct),
            ack_timeout: millis(a.ack_timeout_ms),
        }),
        other => {
            return Err(InvalidField::new(
                format!("{field}.kind"),
                format!(
                    "unknown or missing action kind {other:?}; set \"type\" to webhook, command, file or agent_prompt"
                ),
            ));
        }
    };
    Ok(Action {
        id: a.id.unwrap_or_default(),
        kind: Some(kind),
    })
}

/// The REST form of an action bundle.
pub fn action_bundle_from_json(value: &serde_json::Value) -> Result<ActionBundle, InvalidField> {
    let b: ActionBundleJson = parse("action_bundle", value)?;
    let actions = b
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| action_from_json(&format!("action_bundle.actions[{i}]"), a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ActionBundle {
        actions,
        retry_policy: b.retry_policy.map(|r| RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or_default(),
            initial_backoff: millis(r.initial_backoff_ms),
            multiplier: r.multiplier.unwrap_or_default(),
            max_backoff: millis(r.max_backoff_ms),
            jitter: r.jitter.unwrap_or_default(),
        }),
        concurrency: b.concurrency.unwrap_or_default(),
        fallback: b
            .fallback
            .as_ref()
            .map(|f| action_from_json("action_bundle.fallback", f))
            .transpose()?,
        escalate_after_attempts: b.escalate_after_attempts.unwrap_or_default(),
    })
}

fn action_to_json(a: &Action) -> serde_json::Value {
    let mut out = match &a.kind {
        Some(action::Kind::Webhook(w)) => {
            json!({"type": "webhook", "url": w.url, "method": w.method, "headers": w.headers,
            "body": w.body.as_ref().map(struct_to_json), "timeoutMs": to_millis(&w.timeout)})
        }
        Some(action::Kind::Command(c)) => {
            json!({"type": "command", "program": c.program, "args": c.args, "env": c.env,
            "workingDir": c.working_dir, "timeoutMs": to_millis(&c.timeout)})
        }
        Some(action::Kind::File(f)) => json!({"type": "file", "path": f.path,
            "mode": if f.mode == FileWriteMode::Append as i32 { "append" } else { "write" }, "content": f.content}),
        Some(action::Kind::AgentPrompt(p)) => json!({"type": "agent_prompt",
            "adapter": match AgentAdapter::try_from(p.adapter) { Ok(AgentAdapter::Mcp) => "mcp", Ok(AgentAdapter::Http) => "http", Ok(AgentAdapter::Nats) => "nats", _ => "unspecified" },
            "target": p.target, "tool": p.tool, "prompt": p.prompt, "arguments": p.arguments.as_ref().map(struct_to_json),
            "ackTimeoutMs": to_millis(&p.ack_timeout)}),
        None => json!({"type": null}),
    };
    if !a.id.is_empty() {
        out["id"] = json!(a.id);
    }
    if let serde_json::Value::Object(map) = &mut out {
        map.retain(|_, v| !v.is_null());
    }
    out
}

pub fn action_bundle_to_json(b: &ActionBundle) -> serde_json::Value {
    let mut out = json!({
        "actions": b.actions.iter().map(action_to_json).collect::<Vec<_>>(),
        "concurrency": b.concurrency,
        "escalateAfterAttempts": b.escalate_after_attempts,
    });
    if let Some(r) = &b.retry_policy {
        out["retryPolicy"] = json!({"maxAttempts": r.max_attempts, "initialBackoffMs": to_millis(&r.initial_backoff),
            "multiplier": r.multiplier, "maxBackoffMs": to_millis(&r.max_backoff), "jitter": r.jitter});
    }
    if let Some(f) = &b.fallback {
        out["fallback"] = action_to_json(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_bundles_round_trip_through_json() {
        let input = json!({
            "actions": [
                {"id": "hook", "type": "webhook", "url": "https://example.com/x", "method": "POST", "headers": {"x-a": "1"}, "body": {"k": [1, "two"]}, "timeoutMs": 1500},
                {"type": "command", "program": "echo", "args": ["hi"]},
                {"type": "file", "path": "out/log.txt", "mode": "append", "content": "fired"},
                {"type": "agent_prompt", "adapter": "mcp", "target": "http://127.0.0.1:9/mcp", "tool": "notify", "prompt": "wake up"}
            ],
            "retryPolicy": {"maxAttempts": 3, "initialBackoffMs": 100, "multiplier": 2.0, "maxBackoffMs": 1000, "jitter": 0.1},
            "concurrency": 2
        });
        let bundle = action_bundle_from_json(&input).unwrap();
        assert_eq!(bundle.actions.len(), 4);
        let again = action_bundle_from_json(&action_bundle_to_json(&bundle)).unwrap();
        assert_eq!(again, bundle);
    }

    #[test]
    fn bad_actions_name_the_field() {
        let unknown = action_bundle_from_json(
            &json!({"actions": [{"type": "webhook", "url": "https://x"}, {"type": "fax"}]}),
        );
        assert!(
            matches!(unknown, Err(InvalidField { field, .. }) if field == "action_bundle.actions[1].kind")
        );
        let typo =
            action_bundle_from_json(&json!({"actions": [{"type": "webhook", "ulr": "https://x"}]}));
        assert!(
            matches!(typo, Err(InvalidField { field, message }) if field == "action_bundle.actions[0]" && message.contains("ulr"))
        );
    }
}
