//! The JSON form of timers and requests, shared by event payloads (the bytes delivered to
//! webhooks and NATS) and the REST API and the language bindings. Field names follow the original control plane (camelCase).

use std::collections::BTreeMap;

use prost_types::{Struct, Value, value::Kind};
use serde::Deserialize;
use serde_json::{Map, Number, json};

use crate::v1::{
    Action, ActionBundle, AgentAdapter, AgentBinding, AgentPromptAction, CommandAction, FileAction,
    FileWriteMode, FlowControl, RetryPolicy, Timer, TimerEvent, TimerEventType, TimerStatus,
    WebhookAction, action,
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
        put("agentBinding", agent_binding_to_json(binding));
    }
    put("cancelReason", text(&timer.cancel_reason));
    put("cancelledBy", text(&timer.cancelled_by));
    put("failureReason", text(&timer.failure_reason));
    put("pausedAt", ts(&timer.paused_at));
    put("pausedBy", text(&timer.paused_by));
    put("pauseReason", text(&timer.pause_reason));
    if timer.tenant_paused {
        put("tenantPaused", json!(true));
    }
    put("stateVersion", json!(timer.state_version));
    if timer.fired_at.is_some() {
        put("jitterMs", json!(timer.jitter_ms));
    }
    put("idempotencyKey", text(&timer.idempotency_key));
    put("traceParent", text(&timer.trace_parent));
    put("scheduleId", text(&timer.schedule_id));
    put("scheduledFor", ts(&timer.scheduled_for));
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
    let mut out = json!({
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
    });
    if !r.callback.is_empty() {
        out["callback"] = json!(r.callback);
    }
    out
}

/// A schedule as REST, SSE and webhooks show it: flat like a create request (the spec's fields
/// beside the others), camelCase, durations in ms (`intervalMs`), enums by name.
pub fn schedule_to_json(schedule: &crate::v1::Schedule) -> serde_json::Value {
    use crate::v1::{CatchUpPolicy, OverlapPolicy, ScheduleState};
    let ts = |t: &Option<prost_types::Timestamp>| t.as_ref().map(ToString::to_string);
    let ms = |d: &Option<prost_types::Duration>| d.as_ref().map(duration_millis);
    let spec = schedule.spec.clone().unwrap_or_default();
    let mut spec_json = Map::new();
    if !spec.cron.is_empty() {
        spec_json.insert("cron".into(), json!(spec.cron));
    }
    if let Some(interval) = ms(&spec.interval) {
        spec_json.insert("intervalMs".into(), json!(interval));
    }
    spec_json.insert(
        "timeZone".into(),
        json!(if spec.time_zone.is_empty() {
            "UTC"
        } else {
            spec.time_zone.as_str()
        }),
    );
    for (key, value) in [("startAt", ts(&spec.start_at)), ("endAt", ts(&spec.end_at))] {
        if let Some(value) = value {
            spec_json.insert(key.into(), json!(value));
        }
    }
    if spec.max_runs > 0 {
        spec_json.insert("maxRuns".into(), json!(spec.max_runs));
    }
    if let Some(jitter) = ms(&spec.jitter) {
        spec_json.insert("jitterMs".into(), json!(jitter));
    }
    spec_json.insert(
        "overlapPolicy".into(),
        json!(
            OverlapPolicy::try_from(spec.overlap_policy)
                .unwrap_or_default()
                .wire_name()
        ),
    );
    spec_json.insert(
        "catchUpPolicy".into(),
        json!(
            CatchUpPolicy::try_from(spec.catch_up_policy)
                .unwrap_or_default()
                .wire_name()
        ),
    );
    if let Some(window) = ms(&spec.catch_up_window) {
        spec_json.insert("catchUpWindowMs".into(), json!(window));
    }
    let mut out = Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        if !value.is_null() && value != json!("") {
            out.insert(key.to_owned(), value);
        }
    };
    put("id", json!(schedule.id));
    put("tenantId", json!(schedule.tenant_id));
    put("requestedBy", json!(schedule.requested_by));
    put("name", json!(schedule.name));
    // The spec's fields sit beside the others, as a create request gives them.
    for (key, value) in spec_json {
        put(&key, value);
    }
    put("labels", json!(schedule.labels));
    put(
        "metadata",
        schedule
            .metadata
            .as_ref()
            .map_or(serde_json::Value::Null, struct_to_json),
    );
    if let Some(bundle) = &schedule.action_bundle {
        put("actionBundle", action_bundle_to_json(bundle));
    }
    if let Some(binding) = &schedule.agent_binding {
        put("agentBinding", agent_binding_to_json(binding));
    }
    put("idempotencyKey", json!(schedule.idempotency_key));
    put(
        "state",
        json!(
            ScheduleState::try_from(schedule.state)
                .unwrap_or_default()
                .wire_name()
        ),
    );
    put("version", json!(schedule.version));
    put("createdAt", json!(ts(&schedule.created_at)));
    put("updatedAt", json!(ts(&schedule.updated_at)));
    put("nextFireAt", json!(ts(&schedule.next_fire_at)));
    put("runs", json!(schedule.runs));
    put("skipped", json!(schedule.skipped));
    put("lastFireAt", json!(ts(&schedule.last_fire_at)));
    put("lastTimerId", json!(schedule.last_timer_id));
    put("lastSkippedAt", json!(ts(&schedule.last_skipped_at)));
    put("bufferedAt", json!(ts(&schedule.buffered_at)));
    put("pausedAt", json!(ts(&schedule.paused_at)));
    put("pausedBy", json!(schedule.paused_by));
    put("pauseReason", json!(schedule.pause_reason));
    serde_json::Value::Object(out)
}

/// A schedule event's delivered payload: `{"type", "timestamp", "sequence", "data": {schedule}}`.
pub fn schedule_event_payload(event: &TimerEvent, schedule: &crate::v1::Schedule) -> Vec<u8> {
    let event_type = TimerEventType::try_from(event.event_type).unwrap_or_default();
    let payload = json!({
        "type": event_type.wire_name(),
        "timestamp": event.occurred_at.as_ref().map(ToString::to_string),
        "sequence": event.sequence,
        "data": schedule_to_json(schedule),
    });
    serde_json::to_vec(&payload).expect("serialising a JSON value cannot fail")
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
    flow_control: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlowControlJson {
    key: Option<String>,
    max_concurrent: Option<u32>,
    max_per_second: Option<u32>,
}

/// `flowControl {key, maxConcurrent, maxPerSecond}` of a webhook or agent prompt at `field`.
fn flow_control_from_json(
    field: &str,
    value: Option<&serde_json::Value>,
) -> Result<Option<FlowControl>, InvalidField> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let f: FlowControlJson = parse(field, value)?;
    Ok(Some(FlowControl {
        key: f.key.unwrap_or_default(),
        max_concurrent: f.max_concurrent.unwrap_or_default(),
        max_per_second: f.max_per_second.unwrap_or_default(),
    }))
}

fn flow_control_to_json(f: &Option<FlowControl>) -> serde_json::Value {
    f.as_ref().map_or(serde_json::Value::Null, |f| {
        json!({"key": f.key, "maxConcurrent": f.max_concurrent, "maxPerSecond": f.max_per_second})
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryPolicyJson {
    max_attempts: Option<u32>,
    /// `backoffInitialMs` and `backoffMultiplier` are the original control plane's names.
    #[serde(alias = "backoffInitialMs")]
    initial_backoff_ms: Option<u64>,
    #[serde(alias = "backoffMultiplier")]
    multiplier: Option<f64>,
    max_backoff_ms: Option<u64>,
    jitter: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionBundleJson {
    #[serde(default)]
    actions: Vec<serde_json::Value>,
    retry_policy: Option<serde_json::Value>,
    concurrency: Option<u32>,
    fallback: Option<serde_json::Value>,
    escalate_after_attempts: Option<u32>,
    on_success: Option<serde_json::Value>,
    on_failure: Option<serde_json::Value>,
}

fn parse<T: for<'de> Deserialize<'de>>(
    field: &str,
    value: &serde_json::Value,
) -> Result<T, InvalidField> {
    T::deserialize(value).map_err(|e| {
        let message = e.to_string();
        // serde says "unknown field `ulr`, expected one of ...": name the field itself.
        match message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((name, _)) => InvalidField::new(format!("{field}.{name}"), message.clone()),
            None => InvalidField::new(field, message),
        }
    })
}

/// The original control plane's action shape, `{"id", "kind", "parameters": {...}}`, as today's
/// flat shape: `kind` becomes `type` and the parameters become the action's fields (`command`
/// is `program`, `acknowledgementTimeoutMs` is `ackTimeoutMs`). Errors name the field under
/// `parameters`.
fn original_action(
    field: &str,
    map: &Map<String, serde_json::Value>,
) -> Result<serde_json::Value, InvalidField> {
    for key in map.keys() {
        match key.as_str() {
            "id" | "kind" | "parameters" => {}
            "escalation" => {
                return Err(InvalidField::new(
                    format!("{field}.escalation"),
                    "per-action escalation is not supported; set actionBundle.fallback (the action run \
                     when the others fail) and actionBundle.escalateAfterAttempts instead",
                ));
            }
            "type" => {
                return Err(InvalidField::new(
                    format!("{field}.type"),
                    "give kind (with parameters) or type (with the fields inline), not both",
                ));
            }
            other => {
                return Err(InvalidField::new(
                    format!("{field}.{other}"),
                    format!(
                        "unknown field {other:?}; an action in the original shape has id, kind and parameters"
                    ),
                ));
            }
        }
    }
    let kind = match map.get("kind") {
        Some(serde_json::Value::String(kind)) => kind.as_str(),
        _ => {
            return Err(InvalidField::new(
                format!("{field}.kind"),
                "must be webhook, command, agent_prompt or file",
            ));
        }
    };
    if kind == "workflow_event" {
        return Err(InvalidField::new(
            format!("{field}.kind"),
            "workflow_event is not supported: to start a workflow, use a webhook action to its \
             endpoint, or subscribe to the timer's events (SSE, gRPC stream or NATS JetStream)",
        ));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    if let Some(id) = map.get("id") {
        out.insert("id".into(), id.clone());
    }
    let parameters = match map.get("parameters") {
        None | Some(serde_json::Value::Null) => Map::new(),
        Some(serde_json::Value::Object(parameters)) => parameters.clone(),
        Some(_) => {
            return Err(InvalidField::new(
                format!("{field}.parameters"),
                "must be a JSON object",
            ));
        }
    };
    for (key, value) in parameters {
        let name = match (kind, key.as_str()) {
            ("command", "command") => "program".to_owned(),
            (_, "acknowledgementTimeoutMs") => "ackTimeoutMs".to_owned(),
            (_, "type" | "id") => {
                return Err(InvalidField::new(
                    format!("{field}.parameters.{key}"),
                    "unknown parameter; the action's kind and id are set beside parameters",
                ));
            }
            _ => key,
        };
        if out.insert(name.clone(), value).is_some() {
            return Err(InvalidField::new(
                format!("{field}.parameters.{name}"),
                "given twice (under two of its names)",
            ));
        }
    }
    Ok(serde_json::Value::Object(out))
}

fn action_from_json(field: &str, value: &serde_json::Value) -> Result<Action, InvalidField> {
    let original = match value {
        serde_json::Value::Object(map)
            if map.contains_key("kind") || map.contains_key("parameters") =>
        {
            Some(original_action(field, map)?)
        }
        _ => None,
    };
    let (field, value) = match &original {
        Some(flat) => (format!("{field}.parameters"), flat),
        None => (field.to_owned(), value),
    };
    let field = field.as_str();
    let a: ActionJson = parse(field, value)?;
    // Named like validation names it: `...actions[0].webhook.flow_control`.
    let flow_control = |kind: &str| {
        let at = field.strip_suffix(".parameters").unwrap_or(field);
        flow_control_from_json(
            &format!("{at}.{kind}.flow_control"),
            a.flow_control.as_ref(),
        )
    };
    if a.flow_control.as_ref().is_some_and(|f| !f.is_null())
        && !matches!(
            a.kind.as_deref(),
            Some("webhook" | "agent_prompt" | "agentPrompt")
        )
    {
        return Err(InvalidField::new(
            format!("{field}.flow_control"),
            "only webhook and agent_prompt actions have flow control",
        ));
    }
    let kind = match a.kind.as_deref() {
        Some("webhook") => action::Kind::Webhook(WebhookAction {
            url: a.url.unwrap_or_default(),
            method: a.method.unwrap_or_default(),
            headers: a.headers.unwrap_or_default(),
            body: a.body.as_ref().map(object_to_struct),
            timeout: millis(a.timeout_ms),
            flow_control: flow_control("webhook")?,
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
                // Taken from the timer's agentBinding when it names one.
                None => AgentAdapter::Unspecified as i32,
                Some(other) => {
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
            flow_control: flow_control("agent_prompt")?,
        }),
        other => {
            let field = field.strip_suffix(".parameters").unwrap_or(field);
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
        retry_policy: b
            .retry_policy
            .as_ref()
            .map(|r| parse::<RetryPolicyJson>("action_bundle.retry_policy", r))
            .transpose()?
            .map(|r| RetryPolicy {
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
        on_success: b
            .on_success
            .as_ref()
            .filter(|a| !a.is_null())
            .map(|a| action_from_json("action_bundle.on_success", a))
            .transpose()?,
        on_failure: b
            .on_failure
            .as_ref()
            .filter(|a| !a.is_null())
            .map(|a| action_from_json("action_bundle.on_failure", a))
            .transpose()?,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentBindingJson {
    agent_id: Option<String>,
    session_id: Option<String>,
    framework: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    adapter: Option<String>,
    target: Option<String>,
    payload_template: Option<Map<String, serde_json::Value>>,
    acknowledgement_timeout_ms: Option<u64>,
}

/// Adapters an `agentBinding` may name: the original control plane's four, and the two more
/// agent prompts know.
pub const BINDING_ADAPTERS: [&str; 6] = ["mcp", "langchain", "autogen", "custom", "http", "nats"];

/// The REST form of an agent binding: today's `agentId`/`sessionId`/`framework`/`attributes`
/// and the original `adapter`/`target`/`payloadTemplate`/`acknowledgementTimeoutMs`.
pub fn agent_binding_from_json(value: &serde_json::Value) -> Result<AgentBinding, InvalidField> {
    let b: AgentBindingJson = parse("agent_binding", value)?;
    let adapter = b.adapter.unwrap_or_default();
    if !adapter.is_empty() && !BINDING_ADAPTERS.contains(&adapter.as_str()) {
        return Err(InvalidField::new(
            "agent_binding.adapter",
            format!(
                "unknown adapter {adapter:?} ({})",
                BINDING_ADAPTERS.join(", ")
            ),
        ));
    }
    Ok(AgentBinding {
        agent_id: b.agent_id.unwrap_or_default(),
        session_id: b.session_id.unwrap_or_default(),
        framework: b.framework.unwrap_or_default(),
        attributes: b.attributes,
        adapter,
        target: b.target.unwrap_or_default(),
        payload_template: b.payload_template.as_ref().map(object_to_struct),
        acknowledgement_timeout: millis(b.acknowledgement_timeout_ms),
    })
}

pub fn agent_binding_to_json(b: &AgentBinding) -> serde_json::Value {
    let mut out = json!({"agentId": b.agent_id, "sessionId": b.session_id, "framework": b.framework,
        "attributes": b.attributes});
    if !b.adapter.is_empty() {
        out["adapter"] = json!(b.adapter);
    }
    if !b.target.is_empty() {
        out["target"] = json!(b.target);
    }
    if let Some(template) = &b.payload_template {
        out["payloadTemplate"] = struct_to_json(template);
    }
    if b.acknowledgement_timeout.is_some() {
        out["acknowledgementTimeoutMs"] = to_millis(&b.acknowledgement_timeout);
    }
    out
}

/// The original control plane's label names for the fields of its `ecosystem` sections
/// (`parserator.datasetId` is labelled `ecosystem.parserator/dataset`).
const ECOSYSTEM_LABEL_NAMES: [(&str, &str, &str); 14] = [
    ("parserator", "workspaceId", "workspace"),
    ("parserator", "datasetId", "dataset"),
    ("parserator", "recipeSlug", "recipe"),
    ("parserator", "autopilotMode", "autopilot"),
    ("reposiologist", "repositoryUrl", "repository"),
    ("reposiologist", "sweepCadence", "cadence"),
    ("reposiologist", "auditFocus", "focus"),
    ("nimbusGuardian", "policyId", "policy"),
    ("nimbusGuardian", "gateLevel", "gate"),
    ("clearSeas", "engagementId", "engagement"),
    ("clearSeas", "serviceTier", "tier"),
    ("clearSeas", "partnerPod", "pod"),
    ("nimbusGuardian", "environment", "environment"),
    ("reposiologist", "branch", "branch"),
];

/// The labels an `ecosystem` payload projects, as the original control plane's deployment guide
/// shows: a section's fields become `ecosystem.<section>/<name>` (the original's names for its
/// known fields, e.g. `ecosystem.parserator/dataset` for `datasetId`; otherwise the field's
/// name, and the path joined with `.` for nested objects), a top-level value `ecosystem.<key>`,
/// and `ecosystem.sources` counts the sections. Numbers and booleans become their text, nulls
/// are skipped, and arrays are refused (a label holds one value; keep lists in `metadata`).
/// The caller validates the keys and values as labels.
pub fn ecosystem_labels(value: &serde_json::Value) -> Result<Vec<(String, String)>, InvalidField> {
    fn leaves(
        field: &str,
        path: &str,
        value: &serde_json::Value,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), InvalidField> {
        let text = match value {
            serde_json::Value::Null => return Ok(()),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Array(_) => {
                return Err(InvalidField::new(
                    format!("ecosystem.{field}"),
                    "a list cannot become a label; put lists in metadata",
                ));
            }
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    leaves(&format!("{field}.{key}"), &path, value, out)?;
                }
                return Ok(());
            }
        };
        out.push((path.to_owned(), text));
        Ok(())
    }

    let serde_json::Value::Object(sections) = value else {
        return Err(InvalidField::new("ecosystem", "must be a JSON object"));
    };
    let mut labels = Vec::new();
    let mut sources = 0;
    for (section, value) in sections {
        if !value.is_object() {
            let mut found = Vec::new();
            leaves(section, "", value, &mut found)?;
            labels.extend(
                found
                    .into_iter()
                    .map(|(_, v)| (format!("ecosystem.{section}"), v)),
            );
            continue;
        }
        sources += 1;
        let mut found = Vec::new();
        leaves(section, "", value, &mut found)?;
        for (path, text) in found {
            let name = ECOSYSTEM_LABEL_NAMES
                .iter()
                .find(|(s, field, _)| s == section && *field == path)
                .map_or(path.as_str(), |(_, _, name)| name);
            labels.push((format!("ecosystem.{section}/{name}"), text));
        }
    }
    if sources > 0 {
        labels.push(("ecosystem.sources".to_owned(), sources.to_string()));
    }
    Ok(labels)
}

fn action_to_json(a: &Action) -> serde_json::Value {
    let mut out = match &a.kind {
        Some(action::Kind::Webhook(w)) => {
            json!({"type": "webhook", "url": w.url, "method": w.method, "headers": w.headers,
            "body": w.body.as_ref().map(struct_to_json), "timeoutMs": to_millis(&w.timeout),
            "flowControl": flow_control_to_json(&w.flow_control)})
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
            "ackTimeoutMs": to_millis(&p.ack_timeout), "flowControl": flow_control_to_json(&p.flow_control)}),
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
    if let Some(a) = &b.on_success {
        out["onSuccess"] = action_to_json(a);
    }
    if let Some(a) = &b.on_failure {
        out["onFailure"] = action_to_json(a);
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
                {"type": "agent_prompt", "adapter": "mcp", "target": "http://127.0.0.1:9/mcp", "tool": "notify", "prompt": "wake up",
                    "flowControl": {"maxPerSecond": 5}},
                {"type": "webhook", "url": "https://example.com/y", "flowControl": {"key": "example.com/api", "maxConcurrent": 2, "maxPerSecond": 10}}
            ],
            "retryPolicy": {"maxAttempts": 3, "initialBackoffMs": 100, "multiplier": 2.0, "maxBackoffMs": 1000, "jitter": 0.1},
            "concurrency": 2,
            "onSuccess": {"type": "webhook", "url": "https://example.com/done"},
            "onFailure": {"id": "alarm", "type": "webhook", "url": "https://example.com/failed", "flowControl": {"maxConcurrent": 1}}
        });
        let bundle = action_bundle_from_json(&input).unwrap();
        assert_eq!(bundle.actions.len(), 5);
        let Some(action::Kind::Webhook(hook)) = &bundle.actions[4].kind else {
            panic!("a webhook")
        };
        assert_eq!(
            hook.flow_control,
            Some(FlowControl {
                key: "example.com/api".into(),
                max_concurrent: 2,
                max_per_second: 10
            })
        );
        assert_eq!(bundle.on_failure.as_ref().unwrap().id, "alarm");
        assert!(bundle.on_success.is_some());
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
            matches!(typo, Err(InvalidField { field, message }) if field == "action_bundle.actions[0].ulr" && message.contains("ulr"))
        );
    }

    fn field_of<T: std::fmt::Debug>(result: Result<T, InvalidField>) -> String {
        result.expect_err("refused").field
    }

    #[test]
    fn flow_control_and_callbacks_name_their_fields() {
        let bundle = |b: serde_json::Value| field_of(action_bundle_from_json(&b));
        let hook = |flow: serde_json::Value| json!({"actions": [{"type": "webhook", "url": "https://x", "flowControl": flow}]});
        assert_eq!(
            bundle(hook(json!({"maxPerSecnd": 3}))),
            "action_bundle.actions[0].webhook.flow_control.maxPerSecnd"
        );
        assert_eq!(
            bundle(hook(json!({"maxPerSecond": -1}))),
            "action_bundle.actions[0].webhook.flow_control"
        );
        assert_eq!(
            bundle(json!({"actions": [], "onSuccess": {"type": "fax"}})),
            "action_bundle.on_success.kind"
        );
        assert_eq!(
            bundle(json!({"actions": [], "onFailure": {"type": "webhook", "ulr": "https://x"}})),
            "action_bundle.on_failure.ulr"
        );
        assert_eq!(
            bundle(json!({"actions": [], "onDone": {}})),
            "action_bundle.onDone"
        );
        assert_eq!(
            bundle(
                json!({"actions": [{"type": "command", "program": "true", "flowControl": {"maxConcurrent": 1}}]})
            ),
            "action_bundle.actions[0].flow_control"
        );
        // The original shape carries it among the parameters.
        let original = action_bundle_from_json(&json!({"actions": [{"kind": "webhook",
            "parameters": {"url": "https://x", "flowControl": {"maxConcurrent": 3}}}]}))
        .unwrap();
        let Some(action::Kind::Webhook(hook)) = &original.actions[0].kind else {
            panic!("a webhook")
        };
        assert_eq!(hook.flow_control.as_ref().unwrap().max_concurrent, 3);
    }

    #[test]
    fn the_original_action_shape_maps_onto_todays_fields() {
        let original = json!({
            "actions": [
                {"id": "notify", "kind": "webhook", "parameters": {"url": "https://example.com/x", "method": "PUT",
                    "headers": {"x-a": "1"}, "body": {"k": 1}, "timeoutMs": 1500}},
                {"kind": "command", "parameters": {"command": "echo", "args": ["hi"]}},
                {"id": "notify-agent", "kind": "agent_prompt", "parameters": {"adapter": "mcp",
                    "target": "http://127.0.0.1:9/mcp", "tool": "wake", "acknowledgementTimeoutMs": 250}}
            ],
            "concurrency": 2,
            "retryPolicy": {"maxAttempts": 5, "backoffInitialMs": 100, "backoffMultiplier": 3.0}
        });
        let today = json!({
            "actions": [
                {"id": "notify", "type": "webhook", "url": "https://example.com/x", "method": "PUT",
                    "headers": {"x-a": "1"}, "body": {"k": 1}, "timeoutMs": 1500},
                {"type": "command", "program": "echo", "args": ["hi"]},
                {"id": "notify-agent", "type": "agent_prompt", "adapter": "mcp",
                    "target": "http://127.0.0.1:9/mcp", "tool": "wake", "ackTimeoutMs": 250}
            ],
            "concurrency": 2,
            "retryPolicy": {"maxAttempts": 5, "initialBackoffMs": 100, "multiplier": 3.0}
        });
        let bundle = action_bundle_from_json(&original).unwrap();
        assert_eq!(bundle, action_bundle_from_json(&today).unwrap());
        assert_eq!(bundle.concurrency, 2);
        let retry = bundle.retry_policy.unwrap();
        assert_eq!(retry.initial_backoff, millis(Some(100)));
        assert_eq!(retry.multiplier, 3.0);
    }

    #[test]
    fn original_shapes_that_cannot_be_honoured_are_refused_by_field() {
        let one = |action: serde_json::Value| {
            field_of(action_bundle_from_json(&json!({"actions": [action]})))
        };
        assert_eq!(
            one(json!({"kind": "workflow_event", "parameters": {"workflow": "w"}})),
            "action_bundle.actions[0].kind"
        );
        assert_eq!(
            one(
                json!({"kind": "webhook", "parameters": {"url": "https://x"}, "escalation": {"after": 3}})
            ),
            "action_bundle.actions[0].escalation"
        );
        assert_eq!(
            one(json!({"kind": "webhook", "parameters": {"ulr": "https://x"}})),
            "action_bundle.actions[0].parameters.ulr"
        );
        assert_eq!(
            one(json!({"kind": "webhook", "parameters": {"url": "https://x"}, "priority": 1})),
            "action_bundle.actions[0].priority"
        );
        assert_eq!(
            one(json!({"kind": "webhook", "type": "webhook", "parameters": {}})),
            "action_bundle.actions[0].type"
        );
        assert_eq!(one(json!({"kind": "fax"})), "action_bundle.actions[0].kind");
        assert_eq!(
            field_of(action_bundle_from_json(&json!({"actions": [],
                "retryPolicy": {"backoffInitialMs": 1, "initialBackoffMs": 2}}))),
            "action_bundle.retry_policy"
        );
        assert_eq!(
            field_of(action_bundle_from_json(
                &json!({"actions": [], "retryPolicy": {"backoff": 1}})
            )),
            "action_bundle.retry_policy.backoff"
        );
    }

    #[test]
    fn agent_bindings_keep_the_original_fields() {
        let input = json!({"adapter": "langchain", "target": "planner", "payloadTemplate": {"task": "review"},
            "acknowledgementTimeoutMs": 1500, "agentId": "a-1", "sessionId": "", "framework": "", "attributes": {}});
        let binding = agent_binding_from_json(&input).unwrap();
        assert_eq!(binding.adapter, "langchain");
        assert_eq!(binding.target, "planner");
        assert_eq!(agent_binding_to_json(&binding), input);
        assert_eq!(
            field_of(agent_binding_from_json(&json!({"adapter": "crewai"}))),
            "agent_binding.adapter"
        );
        assert_eq!(
            field_of(agent_binding_from_json(&json!({"adaptor": "mcp"}))),
            "agent_binding.adaptor"
        );
    }

    #[test]
    fn ecosystem_payloads_become_the_original_labels() {
        // The body of the deployment guide's ecosystem smoke test (seeds/000).
        let ecosystem = json!({
          "parserator": {"workspaceId": "parserator-west", "datasetId": "beta-contacts"},
          "reposiologist": {"repositoryUrl": "https://github.com/domusgpt/minoots-timer-system", "sweepCadence": "weekly"},
          "nimbusGuardian": {"policyId": "guardian-local-gate", "environment": "staging"},
          "clearSeas": {"engagementId": "cse-lab", "serviceTier": "pilot"},
          "sharedNarrative": "Local Parse → Plan → Ship rehearsal",
          "nextSyncIso": "2025-11-01T17:00:00Z"
        });
        let labels: BTreeMap<String, String> =
            ecosystem_labels(&ecosystem).unwrap().into_iter().collect();
        let expected: BTreeMap<String, String> = [
            ("ecosystem.parserator/workspace", "parserator-west"),
            ("ecosystem.parserator/dataset", "beta-contacts"),
            (
                "ecosystem.reposiologist/repository",
                "https://github.com/domusgpt/minoots-timer-system",
            ),
            ("ecosystem.reposiologist/cadence", "weekly"),
            ("ecosystem.nimbusGuardian/policy", "guardian-local-gate"),
            ("ecosystem.nimbusGuardian/environment", "staging"),
            ("ecosystem.clearSeas/engagement", "cse-lab"),
            ("ecosystem.clearSeas/tier", "pilot"),
            (
                "ecosystem.sharedNarrative",
                "Local Parse → Plan → Ship rehearsal",
            ),
            ("ecosystem.nextSyncIso", "2025-11-01T17:00:00Z"),
            ("ecosystem.sources", "4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn ecosystem_leaves_other_than_text() {
        let labels: BTreeMap<String, String> = ecosystem_labels(&json!({
            "parserator": {"confidenceThreshold": 0.9, "live": true, "gone": null, "recipe": {"slug": "r1"}},
            "source": "slack"
        }))
        .unwrap()
        .into_iter()
        .collect();
        assert_eq!(labels["ecosystem.parserator/confidenceThreshold"], "0.9");
        assert_eq!(labels["ecosystem.parserator/live"], "true");
        assert_eq!(labels["ecosystem.parserator/recipe.slug"], "r1");
        assert!(!labels.contains_key("ecosystem.parserator/gone"));
        assert_eq!(labels["ecosystem.source"], "slack");
        assert_eq!(labels["ecosystem.sources"], "1");
        assert_eq!(
            field_of(ecosystem_labels(
                &json!({"clearSeas": {"pods": ["a", "b"]}})
            )),
            "ecosystem.clearSeas.pods"
        );
        assert_eq!(field_of(ecosystem_labels(&json!("x"))), "ecosystem");
    }
}
