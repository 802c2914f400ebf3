//! The agent tools: schedule, get, list, cancel, update, pause, resume, bulk cancel and wait, as JSON-schema function specs and one
//! JSON-in, JSON-out dispatcher. The MCP server (`minoots mcp`), the Python agent tools
//! (LangChain, LlamaIndex, plain function specs) and anything else that hands MINOOTS to a model
//! use these, so every agent sees the same tools with the same arguments and errors.

use std::time::Duration;

use crate::{
    Client, Error, ListFilter, TimerOptions, TimerUpdate, WaitFor, json::timer_to_json,
    proto::SelectTimersRequest,
};
use serde_json::{Value, json};

/// One tool: its name, what it does (for the model), and its arguments as JSON Schema.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

impl ToolSpec {
    /// `{"name", "description", "parameters"}`, the form the bindings hand out.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "description": self.description, "parameters": self.parameters})
    }
}

/// How long `wait_for_timer` waits unless told otherwise, and at most.
const DEFAULT_WAIT: u64 = 60;
const MAX_WAIT: u64 = 3_600;

/// Every tool, in a stable order.
pub fn tool_specs() -> Vec<ToolSpec> {
    let id = json!({"type": "string", "description": "The timer's id."});
    let key = json!({"type": "string", "description": "Instead of id: the idempotency_key the timer was scheduled with."});
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "Labels to find the timer by later."});
    vec![
        ToolSpec {
            name: "schedule_timer",
            description: "Schedule a durable timer that fires after a duration (\"15m\", \"1h30m\") or at an RFC 3339 time, optionally calling a webhook when it fires. Returns the timer.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "What the timer is for."},
                    "duration": {"type": "string", "description": "Fire after this long: 250ms, 15s, 15m, 2h, 7d or compounds like 1h30m."},
                    "fire_at": {"type": "string", "description": "Fire at this RFC 3339 time instead, e.g. 2026-12-01T09:00:00Z."},
                    "labels": labels,
                    "metadata": {"type": "object", "description": "Free-form JSON delivered with the timer's events."},
                    "webhook": {"type": "string", "description": "URL to POST the signed event to when the timer fires."},
                    "idempotency_key": {"type": "string", "description": "Scheduling again with the same key returns the first timer."},
                    "key_policy": {"type": "string", "enum": ["reject", "replace", "keep"], "description": "When the key is taken: reject (default), replace (reschedule the pending timer: a sliding debounce) or keep."},
                    "late_policy": {"type": "string", "enum": ["fire", "reject"], "description": "A fire_at already past: fire at once (default) or reject."}
                },
                "required": ["name"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "get_timer",
            description: "Get a timer by id (or idempotency_key): its status (scheduled, armed, paused, fired, settled, failed, cancelled), fire time and results.",
            parameters: json!({"type": "object", "properties": {"id": id, "idempotency_key": key}, "additionalProperties": false}),
        },
        ToolSpec {
            name: "list_timers",
            description: "List timers, newest first, optionally by status, label selector (team=core,!done) or name prefix.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "statuses": {"type": "array", "items": {"type": "string", "enum": ["scheduled", "armed", "paused", "fired", "settled", "failed", "cancelled"]}},
                    "label_selector": {"type": "string", "description": "key=value, key!=value, key, !key; comma-separated."},
                    "name_prefix": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many (default 50)."}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "cancel_timer",
            description: "Cancel a timer that has not fired yet, by id or idempotency_key. Returns the cancelled timer.",
            parameters: json!({
                "type": "object",
                "properties": {"id": id, "idempotency_key": key, "reason": {"type": "string", "description": "Why, kept with the timer."}},
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "update_timer",
            description: "Change a timer that has not fired yet, by id or idempotency_key: move its fire time (duration from now or fire_at), rename it, replace its labels, metadata or webhook. Returns the timer.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "id": id,
                    "idempotency_key": key,
                    "duration": {"type": "string", "description": "Fire this long from now instead: 15m, 1h30m."},
                    "fire_at": {"type": "string", "description": "Fire at this RFC 3339 time instead."},
                    "name": {"type": "string"},
                    "labels": labels,
                    "metadata": {"type": "object"},
                    "webhook": {"type": "string", "description": "Replace its actions with one webhook to this URL."}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "pause_timer",
            description: "Pause a timer that has not fired: it will not fire until resumed. Returns the timer.",
            parameters: json!({
                "type": "object",
                "properties": {"id": id, "reason": {"type": "string"}},
                "required": ["id"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "resume_timer",
            description: "Resume a paused timer: it fires at its time, at once if that has passed. Returns the timer.",
            parameters: json!({
                "type": "object",
                "properties": {"id": id},
                "required": ["id"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "cancel_timers",
            description: "Cancel every pending timer matching a label selector (team=core,!done). Use dry_run first to see how many. Returns {matched, changed}.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "label_selector": {"type": "string"},
                    "dry_run": {"type": "boolean", "description": "Only count the timers that would be cancelled."},
                    "reason": {"type": "string"}
                },
                "required": ["label_selector"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "wait_for_timer",
            description: "Wait until a timer fires (until=fired, the default) or finishes (until=done: settled, failed or cancelled), up to timeout_seconds. Returns the timer.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "id": id,
                    "until": {"type": "string", "enum": ["fired", "done"]},
                    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT, "description": "Default 60."}
                },
                "required": ["id"],
                "additionalProperties": false
            }),
        },
    ]
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        message: message.into(),
    }
}

/// Arguments as the spec declares them; a wrong type or an unknown argument names the field.
fn args(tool: &ToolSpec, arguments: &Value) -> Result<serde_json::Map<String, Value>, Error> {
    let map = match arguments {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map.clone(),
        _ => return Err(invalid("arguments", "must be a JSON object")),
    };
    let properties = &tool.parameters["properties"];
    for (key, value) in &map {
        let Some(declared) = properties.get(key) else {
            return Err(invalid(
                key,
                format!("{} takes no argument {key:?}", tool.name),
            ));
        };
        let fits = match declared["type"].as_str() {
            Some("string") => value.is_string(),
            Some("integer") => value.is_u64(),
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !fits && !value.is_null() {
            return Err(invalid(
                key,
                format!("must be of type {}", declared["type"]),
            ));
        }
    }
    for required in tool.parameters["required"].as_array().into_iter().flatten() {
        let key = required.as_str().unwrap_or_default();
        if map.get(key).is_none_or(Value::is_null) {
            return Err(invalid(key, "is required"));
        }
    }
    Ok(map)
}

/// The `labels` argument: an object of strings.
fn labels_arg(
    a: &serde_json::Map<String, Value>,
) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
    a.get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(invalid(&format!("labels.{k}"), "must be a string")),
                })
                .collect::<Result<_, _>>()
        })
        .transpose()
}

fn text(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Runs the tool `name` with JSON `arguments` and returns its JSON result (timers in the REST
/// form; `list_timers` returns `{"timers": [...]}`).
pub async fn call_tool(client: &Client, name: &str, arguments: &Value) -> Result<Value, Error> {
    let specs = tool_specs();
    let tool = specs
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| invalid("name", format!("no tool {name:?}")))?;
    let a = args(tool, arguments)?;
    let id = || text(&a, "id").unwrap_or_default();
    let timer = match name {
        "schedule_timer" => {
            let labels = labels_arg(&a)?.unwrap_or_default();
            let options = TimerOptions {
                name: text(&a, "name").unwrap_or_default(),
                duration: text(&a, "duration").map(Into::into),
                fire_at: text(&a, "fire_at"),
                labels,
                metadata: a.get("metadata").filter(|v| !v.is_null()).cloned(),
                action_bundle: None,
                webhook: text(&a, "webhook"),
                idempotency_key: text(&a, "idempotency_key"),
                requested_by: Some("minoots-agent-tools".into()),
                key_policy: text(&a, "key_policy"),
                late_policy: text(&a, "late_policy"),
            };
            client.schedule(options).await?
        }
        "get_timer" => match text(&a, "idempotency_key") {
            Some(key) if id().is_empty() => client.get_by_key(&key).await?,
            _ => client.get(&id()).await?,
        },
        "cancel_timer" => {
            let reason = text(&a, "reason").unwrap_or_default();
            match text(&a, "idempotency_key") {
                Some(key) if id().is_empty() => client.cancel_by_key(&key, &reason).await?,
                _ => client.cancel(&id(), &reason).await?,
            }
        }
        "update_timer" => {
            let update = TimerUpdate {
                id: text(&a, "id"),
                idempotency_key: text(&a, "idempotency_key"),
                duration: text(&a, "duration").map(Into::into),
                fire_at: text(&a, "fire_at"),
                name: text(&a, "name"),
                labels: labels_arg(&a)?,
                metadata: a.get("metadata").filter(|v| !v.is_null()).cloned(),
                webhook: text(&a, "webhook"),
                requested_by: Some("minoots-agent-tools".into()),
                ..Default::default()
            };
            client.update(update).await?
        }
        "pause_timer" => {
            client
                .pause(&id(), &text(&a, "reason").unwrap_or_default())
                .await?
        }
        "resume_timer" => client.resume(&id()).await?,
        "cancel_timers" => {
            let done = client
                .cancel_timers(SelectTimersRequest {
                    label_selector: text(&a, "label_selector").unwrap_or_default(),
                    dry_run: a.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
                    reason: text(&a, "reason").unwrap_or_default(),
                    requested_by: "minoots-agent-tools".into(),
                    ..Default::default()
                })
                .await?;
            return Ok(json!({"matched": done.matched, "changed": done.changed}));
        }
        "wait_for_timer" => {
            let until = WaitFor::from_name(text(&a, "until").as_deref().unwrap_or("fired"))?;
            let seconds = a
                .get("timeout_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_WAIT)
                .clamp(1, MAX_WAIT);
            client
                .wait_for(&id(), until, Some(Duration::from_secs(seconds)))
                .await?
        }
        "list_timers" => {
            let statuses: Vec<String> = a
                .get("statuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let filter = ListFilter {
                label_selector: text(&a, "label_selector").unwrap_or_default(),
                name_prefix: text(&a, "name_prefix").unwrap_or_default(),
                ..Default::default()
            }
            .status_names(statuses)?;
            let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
            let timers = client
                .list_up_to(filter, Some(limit.clamp(1, 1_000)))
                .await?;
            let timers: Vec<Value> = timers.iter().map(timer_to_json).collect();
            return Ok(json!({ "timers": timers }));
        }
        _ => unreachable!("every spec has a branch"),
    };
    Ok(timer_to_json(&timer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_objects_and_arguments_are_checked_against_them() {
        let specs = tool_specs();
        assert_eq!(specs.len(), 9);
        for spec in &specs {
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
        }
        let schedule = &specs[0];
        let field = |v: Value| match args(schedule, &v) {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({})), "name");
        assert_eq!(field(json!({"name": "x", "duraton": "1m"})), "duraton");
        assert_eq!(field(json!({"name": 5})), "name");
        assert!(args(schedule, &json!({"name": "x", "duration": "1m"})).is_ok());
    }
}
