//! The agent tools: schedule, get, list, cancel, update, pause, resume, bulk cancel and wait for
//! timers; create, get, list, pause, resume, delete and preview for recurring schedules; as
//! JSON-schema function specs and one
//! JSON-in, JSON-out dispatcher. The MCP server (`minoots mcp`), the Python agent tools
//! (LangChain, LlamaIndex, plain function specs) and anything else that hands MINOOTS to a model
//! use these, so every agent sees the same tools with the same arguments and errors.

use std::time::Duration;

use crate::{
    Client, Error, ListFilter, PreviewOf, ScheduleOptions, ScheduleQuery, ScheduleTiming,
    TimerOptions, TimerUpdate, WaitFor,
    json::{schedule_to_json, timer_to_json},
    preview_to_json,
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
    let schedule_id = json!({"type": "string", "description": "The schedule's id."});
    let timing = schedule_timing();
    let mut create = timing.clone();
    create.extend(
        json!({
            "name": {"type": "string", "description": "What the schedule is for; also each occurrence's name."},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Labels to find the schedule by later, copied onto each occurrence."},
            "metadata": {"type": "object", "description": "Free-form JSON delivered with each occurrence's events."},
            "webhook": {"type": "string", "description": "URL to POST the signed event to when each occurrence fires."},
            "idempotency_key": {"type": "string", "description": "Creating again with the same key returns the first schedule."},
            "paused": {"type": "boolean", "description": "Create it paused."}
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    let mut preview = timing;
    preview.extend(
        json!({
            "id": {"type": "string", "description": "A stored schedule's id; or give cron or interval (and time_zone) to preview a schedule before creating it."},
            "count": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "How many occurrences (default 10)."},
            "after": {"type": "string", "description": "List occurrences after this RFC 3339 time (default now)."}
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
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
        ToolSpec {
            name: "create_schedule",
            description: "Create a recurring schedule: every occurrence is a timer that fires at the cron's wall times in time_zone (or every interval), optionally calling a webhook. \"Remind me every Monday 9:00 Paris time\" is cron \"0 9 * * MON\" with time_zone \"Europe/Paris\"; \"every weekday at 17:30 New York time\" is cron \"30 17 * * MON-FRI\", time_zone \"America/New_York\"; \"every 15 minutes\" is interval \"15m\". Give exactly one of cron and interval. Returns the schedule with its nextFireAt.",
            parameters: json!({
                "type": "object",
                "properties": create,
                "required": ["name"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "get_schedule",
            description: "Get a recurring schedule by id: its state (active, paused, completed, deleted), cron or interval, time zone, next fire time and runs so far.",
            parameters: json!({"type": "object", "properties": {"id": schedule_id}, "required": ["id"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "list_schedules",
            description: "List recurring schedules, optionally by state or label selector (team=core,!done).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "states": {"type": "array", "items": {"type": "string", "enum": ["active", "paused", "completed", "deleted"]}, "description": "Default: every state but deleted."},
                    "label_selector": {"type": "string", "description": "key=value, key!=value, key, !key; comma-separated."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many (default 50)."}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "pause_schedule",
            description: "Pause a recurring schedule: no occurrence is created until it is resumed; slots passed meanwhile are skipped. Returns the schedule.",
            parameters: json!({
                "type": "object",
                "properties": {"id": schedule_id, "reason": {"type": "string"}},
                "required": ["id"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "resume_schedule",
            description: "Resume a paused schedule from its next slot. Returns the schedule.",
            parameters: json!({"type": "object", "properties": {"id": schedule_id}, "required": ["id"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "delete_schedule",
            description: "Delete a recurring schedule for good; its occurrence still pending, if any, is cancelled. Returns the schedule.",
            parameters: json!({"type": "object", "properties": {"id": schedule_id}, "required": ["id"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "preview_schedule",
            description: "List the next occurrences of a stored schedule (id) or of a cron or interval not yet created, without creating anything: each as an instant (fireAt) and as wall time in the schedule's zone (localTime). Use it to check a cron means what was asked.",
            parameters: json!({
                "type": "object",
                "properties": preview,
                "additionalProperties": false
            }),
        },
    ]
}

/// The timing arguments of `create_schedule` and `preview_schedule`.
fn schedule_timing() -> serde_json::Map<String, Value> {
    json!({
        "cron": {"type": "string", "description": "When it fires, as cron: 5 fields \"minute hour day-of-month month day-of-week\" (or 6 with seconds first), in time_zone's wall time. Names and ranges work: \"0 9 * * MON\" (Mondays 09:00), \"30 17 * * MON-FRI\" (weekdays 17:30), \"0 8 1 * *\" (the 1st of each month 08:00), \"*/10 * * * *\" (every 10 minutes); nicknames @hourly, @daily, @weekly, @monthly."},
        "interval": {"type": "string", "description": "Instead of cron: every this long from start_at (or now): 30s, 15m, 2h, 1d, or compounds like 1h30m. At least 1s."},
        "time_zone": {"type": "string", "description": "IANA time zone of the cron's wall times, e.g. Europe/Paris, America/New_York, Asia/Tokyo (default UTC). Daylight saving is handled: a wall time skipped by the clock change fires at the next valid instant, a repeated one fires once."},
        "start_at": {"type": "string", "description": "No occurrence before this RFC 3339 time (default now)."},
        "end_at": {"type": "string", "description": "No occurrence after this RFC 3339 time."},
        "max_runs": {"type": "integer", "minimum": 1, "description": "Stop after this many occurrences."},
        "jitter": {"type": "string", "description": "Spread each occurrence up to this long after its slot, e.g. 30s."},
        "overlap_policy": {"type": "string", "enum": ["skip", "buffer_one", "allow_all"], "description": "When the previous occurrence's actions still run: skip (default), buffer_one or allow_all."},
        "catch_up_policy": {"type": "string", "enum": ["none", "latest", "all"], "description": "Slots missed during downtime: none, latest (default) or all."},
        "catch_up_window": {"type": "string", "description": "How far back missed slots still fire (default 1h), e.g. 6h."}
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
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

/// The timing arguments of a schedule tool.
fn timing_arg(a: &serde_json::Map<String, Value>) -> ScheduleTiming {
    ScheduleTiming {
        cron: text(a, "cron"),
        interval: text(a, "interval").map(Into::into),
        time_zone: text(a, "time_zone"),
        start_at: text(a, "start_at"),
        end_at: text(a, "end_at"),
        max_runs: a.get("max_runs").and_then(Value::as_u64),
        jitter: text(a, "jitter").map(Into::into),
        overlap_policy: text(a, "overlap_policy"),
        catch_up_policy: text(a, "catch_up_policy"),
        catch_up_window: text(a, "catch_up_window").map(Into::into),
    }
}

/// Runs the tool `name` with JSON `arguments` and returns its JSON result (timers and
/// schedules in the REST form; `list_timers` returns `{"timers": [...]}`, `list_schedules`
/// `{"schedules": [...]}`, `preview_schedule` `{"occurrences": [{"fireAt", "localTime"}]}`).
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
        "create_schedule" => {
            let options = ScheduleOptions {
                name: text(&a, "name").unwrap_or_default(),
                timing: timing_arg(&a),
                labels: labels_arg(&a)?.unwrap_or_default(),
                metadata: a.get("metadata").filter(|v| !v.is_null()).cloned(),
                webhook: text(&a, "webhook"),
                idempotency_key: text(&a, "idempotency_key"),
                requested_by: Some("minoots-agent-tools".into()),
                paused: a.get("paused").and_then(Value::as_bool).unwrap_or(false),
                ..Default::default()
            };
            return Ok(schedule_to_json(&client.create_schedule(options).await?));
        }
        "get_schedule" => return Ok(schedule_to_json(&client.get_schedule(&id()).await?)),
        "pause_schedule" => {
            let reason = text(&a, "reason").unwrap_or_default();
            return Ok(schedule_to_json(
                &client.pause_schedule(&id(), &reason).await?,
            ));
        }
        "resume_schedule" => return Ok(schedule_to_json(&client.resume_schedule(&id()).await?)),
        "delete_schedule" => return Ok(schedule_to_json(&client.delete_schedule(&id()).await?)),
        "list_schedules" => {
            let states: Vec<String> = a
                .get("states")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let query = ScheduleQuery {
                label_selector: text(&a, "label_selector").unwrap_or_default(),
                ..Default::default()
            }
            .state_names(states)?;
            let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
            let schedules = client
                .list_schedules_up_to(query, Some(limit.clamp(1, 1_000)))
                .await?;
            let schedules: Vec<Value> = schedules.iter().map(schedule_to_json).collect();
            return Ok(json!({ "schedules": schedules }));
        }
        "preview_schedule" => {
            let of = match text(&a, "id") {
                Some(id) => PreviewOf::Id(id),
                None => PreviewOf::from(ScheduleOptions {
                    timing: timing_arg(&a),
                    ..Default::default()
                }),
            };
            let after = text(&a, "after")
                .map(|at| {
                    at.parse::<prost_types::Timestamp>()
                        .map_err(|_| invalid("after", format!("{at:?} is not an RFC 3339 time")))
                })
                .transpose()?;
            let count = a.get("count").and_then(Value::as_u64).unwrap_or(10);
            let preview = client
                .preview_schedule(of, count.clamp(1, 1_000) as u32, after)
                .await?;
            return Ok(preview_to_json(&preview));
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
        assert_eq!(specs.len(), 16);
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

    #[test]
    fn the_schedule_tools_take_cron_and_zone_and_name_bad_arguments() {
        let specs = tool_specs();
        let names: Vec<_> = specs.iter().map(|s| s.name).collect();
        for name in [
            "create_schedule",
            "get_schedule",
            "list_schedules",
            "pause_schedule",
            "resume_schedule",
            "delete_schedule",
            "preview_schedule",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        let create = specs.iter().find(|s| s.name == "create_schedule").unwrap();
        // The schema tells a model how to say "every Monday 9:00 Paris time".
        assert!(create.description.contains("0 9 * * MON"));
        assert!(create.description.contains("Europe/Paris"));
        assert!(
            create.parameters["properties"]["time_zone"]["description"]
                .as_str()
                .unwrap()
                .contains("IANA")
        );
        let a = args(
            create,
            &json!({"name": "weekly", "cron": "0 9 * * MON", "time_zone": "Europe/Paris", "max_runs": 3}),
        )
        .unwrap();
        let timing = timing_arg(&a);
        assert_eq!(timing.cron.as_deref(), Some("0 9 * * MON"));
        assert_eq!(timing.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(timing.max_runs, Some(3));
        let field = |v: Value| match args(create, &v) {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"cron": "@daily"})), "name");
        assert_eq!(field(json!({"name": "x", "timezone": "UTC"})), "timezone");
        assert_eq!(field(json!({"name": "x", "max_runs": "3"})), "max_runs");
    }
}
