//! Request validation. Every rejection names the offending field by its path in the request, and
//! nothing is written unless the whole request is valid. Actions are checked by their own kind
//! (`actions::validate_bundle`).

use std::collections::BTreeMap;

use minoots_proto::{
    prost_types,
    v1::{
        Action, ActionBundle, AgentAdapter, AgentBinding, KeyPolicy, LatePolicy,
        ScheduleTimerRequest, Timer, TimerStatus, UpdateTimerRequest, action::Kind,
        schedule_timer_request::Schedule,
    },
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::{
    actions,
    clock::{Micros, from_duration, from_timestamp, to_duration, to_timestamp},
    error::{KernelError, Result},
    labels, store,
};

pub const MAX_HORIZON: Micros = 10 * 366 * 24 * 3_600 * 1_000_000;
/// A fire_at up to this far in the past is taken as "now": clocks of callers drift.
pub const PAST_GRACE: Micros = 1_000_000;
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
pub const MAX_BATCH: usize = 10_000;
pub const MAX_PAGE_SIZE: u32 = 1_000;
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub(crate) const MAX_TEXT: usize = 256;
/// Deepest nesting of JSON objects and lists accepted in metadata, webhook bodies and agent
/// prompt arguments. A stored record carries them inside other messages (an event holds its
/// timer, which holds its bundle, its action, the webhook, then the body), each JSON level costs
/// up to three protobuf message levels, and protobuf decoders give up at 100 levels: at 16 the
/// deepest stored record stays under 60, so whatever is accepted here can always be read back.
pub const MAX_JSON_DEPTH: usize = 16;
/// Encoded size limits of the action bundle and the agent binding (metadata has its own).
pub const MAX_ACTION_BUNDLE_BYTES: usize = 256 * 1024;
pub const MAX_AGENT_BINDING_BYTES: usize = 96 * 1024;
const MAX_REASON: usize = 1_024;

/// A validated timer, ready to be written.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub timer: Timer,
    /// Hash of the request, to tell a retry (same request) from a reuse of its idempotency key.
    pub fingerprint: String,
    /// Creates of one group (one request) are written all or none: if one of them reuses an
    /// idempotency key for a different request, none is written. The writer numbers requests.
    pub group: u64,
    /// What a taken idempotency key means (REJECT, REPLACE or KEEP; never UNSPECIFIED).
    pub key_policy: KeyPolicy,
}

pub fn tenant_id(tenant: &str) -> Result<()> {
    if tenant.is_empty() {
        return Err(KernelError::invalid(
            "tenant_id",
            "is required (field or x-tenant-id header)",
        ));
    }
    if tenant.len() > 128
        || !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(KernelError::invalid(
            "tenant_id",
            "must be 1-128 characters of [A-Za-z0-9._-]",
        ));
    }
    Ok(())
}

pub fn timer_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(KernelError::invalid("id", "is required"));
    }
    uuid::Uuid::try_parse(id).map(|_| ()).map_err(|_| {
        KernelError::invalid(
            "id",
            format!("{} is not a timer id", crate::error::quote(id)),
        )
    })
}

pub fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        return Err(KernelError::invalid(
            field,
            format!("longer than {max} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(KernelError::invalid(field, "contains control characters"));
    }
    Ok(())
}

pub fn reason(field: &str, value: &str) -> Result<()> {
    text(field, value, MAX_REASON)
}

pub fn schedule(
    request: &ScheduleTimerRequest,
    tenant: &str,
    id: String,
    now: Micros,
) -> Result<NewTimer> {
    if request.name.trim().is_empty() {
        return Err(KernelError::invalid("name", "is required"));
    }
    text("name", &request.name, MAX_TEXT)?;
    text("requested_by", &request.requested_by, MAX_TEXT)?;
    text("idempotency_key", &request.idempotency_key, MAX_TEXT)?;

    let key_policy = match KeyPolicy::try_from(request.key_policy) {
        Ok(KeyPolicy::Unspecified | KeyPolicy::Reject) => KeyPolicy::Reject,
        Ok(_) if request.idempotency_key.is_empty() => {
            return Err(KernelError::invalid(
                "key_policy",
                "REPLACE and KEEP need an idempotency_key",
            ));
        }
        Ok(policy) => policy,
        Err(_) => {
            return Err(KernelError::invalid(
                "key_policy",
                format!("{} is not a key policy", request.key_policy),
            ));
        }
    };
    let (fire_at, duration) = match &request.schedule {
        None => {
            return Err(KernelError::invalid(
                "duration",
                "one of duration or fire_at is required",
            ));
        }
        Some(Schedule::Duration(d)) => fire_time(When::Duration(d), request.late_policy, now)?,
        Some(Schedule::FireAt(ts)) => fire_time(When::FireAt(ts), request.late_policy, now)?,
    };
    let action_bundle = contents(
        &request.labels,
        request.metadata.as_ref(),
        request.action_bundle.as_ref(),
        request.agent_binding.as_ref(),
    )?;

    let mut canonical = request.clone();
    canonical.tenant_id.clear();
    // FIRE is the default: a retry that spells it out (or not) is the same request.
    if canonical.late_policy() == LatePolicy::Fire {
        canonical.late_policy = LatePolicy::Unspecified as i32;
    }
    // What to do with a taken key is not part of what is scheduled.
    canonical.key_policy = KeyPolicy::Unspecified as i32;
    let fingerprint = Sha256::digest(canonical.encode_to_vec())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();

    let timer = Timer {
        id,
        tenant_id: tenant.to_owned(),
        requested_by: request.requested_by.clone(),
        name: request.name.clone(),
        status: TimerStatus::Scheduled as i32,
        created_at: Some(to_timestamp(now)),
        updated_at: Some(to_timestamp(now)),
        fire_at: Some(to_timestamp(fire_at)),
        duration,
        labels: request.labels.clone(),
        metadata: request.metadata.clone(),
        action_bundle,
        agent_binding: request.agent_binding.clone(),
        idempotency_key: request.idempotency_key.clone(),
        state_version: 1,
        ..Timer::default()
    };
    Ok(NewTimer {
        timer,
        fingerprint,
        group: 0,
        key_policy,
    })
}

/// A fire time as a request gives it.
pub enum When<'a> {
    Duration(&'a prost_types::Duration),
    FireAt(&'a prost_types::Timestamp),
}

/// The instant a timer fires and the duration it was given as: a duration from `now`, or an
/// instant (one already past fires at once, or is refused with `late_policy` REJECT).
pub fn fire_time(
    when: When<'_>,
    late_policy: i32,
    now: Micros,
) -> Result<(Micros, Option<prost_types::Duration>)> {
    let late_policy = LatePolicy::try_from(late_policy).map_err(|_| {
        KernelError::invalid("late_policy", format!("{late_policy} is not a late policy"))
    })?;
    match when {
        When::Duration(d) => {
            duration("duration", d)?;
            let micros = from_duration(d);
            if micros <= 0 {
                return Err(KernelError::invalid("duration", "must be positive"));
            }
            if micros > MAX_HORIZON {
                return Err(KernelError::invalid("duration", "must be at most 10 years"));
            }
            Ok((now + micros, Some(to_duration(micros))))
        }
        When::FireAt(ts) => {
            timestamp("fire_at", ts)?;
            let at = from_timestamp(ts);
            if at < now - PAST_GRACE && late_policy == LatePolicy::Reject {
                return Err(KernelError::invalid(
                    "fire_at",
                    "is in the past (late_policy REJECT; the default, FIRE, fires it at once)",
                ));
            }
            if at > now + MAX_HORIZON {
                return Err(KernelError::invalid(
                    "fire_at",
                    "is more than 10 years ahead",
                ));
            }
            Ok((at.max(now), None))
        }
    }
}

/// Checks labels, metadata, actions and agent binding; returns the action bundle with agent
/// prompts bound to the agent binding.
pub fn contents(
    labels: &BTreeMap<String, String>,
    metadata: Option<&prost_types::Struct>,
    action_bundle: Option<&ActionBundle>,
    agent_binding: Option<&AgentBinding>,
) -> Result<Option<ActionBundle>> {
    if labels.len() > labels::MAX_LABELS {
        return Err(KernelError::invalid(
            "labels",
            format!("at most {} labels", labels::MAX_LABELS),
        ));
    }
    for (key, value) in labels {
        labels::check_key(key).map_err(|m| KernelError::invalid("labels", m))?;
        labels::check_value(key, value).map_err(|m| KernelError::invalid("labels", m))?;
    }
    if let Some(metadata) = metadata {
        size("metadata", metadata, MAX_METADATA_BYTES)?;
        json_struct("metadata", metadata)?;
    }
    let action_bundle = bind_agent_prompts(action_bundle.cloned(), agent_binding);
    if let Some(bundle) = &action_bundle {
        size("action_bundle", bundle, MAX_ACTION_BUNDLE_BYTES)?;
        bundle_values(bundle)?;
        actions::validate_bundle(bundle)?;
    }
    if let Some(binding) = agent_binding {
        size("agent_binding", binding, MAX_AGENT_BINDING_BYTES)?;
        check_agent_binding(binding)?;
    }
    Ok(action_bundle)
}

/// The changes an UpdateTimer asks for, checked as scheduling checks them.
pub fn update(request: &UpdateTimerRequest, now: Micros) -> Result<store::Fields> {
    use minoots_proto::v1::update_timer_request::Schedule as Update;
    let fire_at = match &request.schedule {
        None => None,
        Some(Update::Duration(d)) => Some(fire_time(When::Duration(d), request.late_policy, now)?),
        Some(Update::FireAt(ts)) => Some(fire_time(When::FireAt(ts), request.late_policy, now)?),
    };
    if let Some(name) = &request.name {
        if name.trim().is_empty() {
            return Err(KernelError::invalid("name", "must not be empty"));
        }
        text("name", name, MAX_TEXT)?;
    }
    text("requested_by", &request.requested_by, MAX_TEXT)?;
    let labels = request.labels.as_ref().map(|l| l.labels.clone());
    let action_bundle = contents(
        labels.as_ref().unwrap_or(&BTreeMap::new()),
        request.metadata.as_ref(),
        request.action_bundle.as_ref(),
        request.agent_binding.as_ref(),
    )?;
    let fields = store::Fields {
        fire_at,
        name: request.name.clone(),
        labels,
        metadata: request.metadata.clone(),
        action_bundle: request
            .action_bundle
            .as_ref()
            .map(|_| action_bundle.unwrap_or_default()),
        agent_binding: request.agent_binding.clone(),
        requested_by: None,
        trace_parent: None,
    };
    if fields.fire_at.is_none()
        && fields.name.is_none()
        && fields.labels.is_none()
        && fields.metadata.is_none()
        && fields.action_bundle.is_none()
        && fields.agent_binding.is_none()
    {
        return Err(KernelError::invalid(
            "update",
            "names nothing to change (fire_at or duration, name, labels, metadata, action_bundle, agent_binding)",
        ));
    }
    Ok(fields)
}

/// The original control plane's agentBinding says where the timer's agent prompts go: an
/// agent_prompt action that names no adapter, target, arguments or acknowledgement timeout takes
/// the binding's (callbacks too; `mcp`, `http` and `nats` are run; `langchain`, `autogen` and `custom` have no
/// adapter here, so such a prompt stays without one and is refused as today).
fn bind_agent_prompts(
    bundle: Option<ActionBundle>,
    binding: Option<&AgentBinding>,
) -> Option<ActionBundle> {
    let (Some(mut bundle), Some(binding)) = (bundle.clone(), binding) else {
        return bundle;
    };
    let adapter = match binding.adapter.as_str() {
        "mcp" => AgentAdapter::Mcp,
        "http" => AgentAdapter::Http,
        "nats" => AgentAdapter::Nats,
        _ => AgentAdapter::Unspecified,
    };
    let every = bundle
        .actions
        .iter_mut()
        .chain(bundle.fallback.as_mut())
        .chain(bundle.on_success.as_mut())
        .chain(bundle.on_failure.as_mut());
    for action in every {
        if let Some(Kind::AgentPrompt(prompt)) = &mut action.kind {
            if prompt.adapter == AgentAdapter::Unspecified as i32 {
                prompt.adapter = adapter as i32;
            }
            if prompt.target.is_empty() {
                prompt.target.clone_from(&binding.target);
            }
            if prompt.arguments.is_none() {
                prompt.arguments.clone_from(&binding.payload_template);
            }
            if prompt.ack_timeout.is_none() {
                prompt.ack_timeout = binding.acknowledgement_timeout;
            }
        }
    }
    Some(bundle)
}

fn check_agent_binding(binding: &AgentBinding) -> Result<()> {
    text("agent_binding.agent_id", &binding.agent_id, MAX_TEXT)?;
    text("agent_binding.session_id", &binding.session_id, MAX_TEXT)?;
    text("agent_binding.framework", &binding.framework, MAX_TEXT)?;
    text("agent_binding.adapter", &binding.adapter, MAX_TEXT)?;
    text("agent_binding.target", &binding.target, 4 * MAX_TEXT)?;
    if binding.attributes.len() > 64 {
        return Err(KernelError::invalid(
            "agent_binding.attributes",
            "at most 64 attributes",
        ));
    }
    for (key, value) in &binding.attributes {
        text("agent_binding.attributes", key, MAX_TEXT)?;
        text("agent_binding.attributes", value, 4 * MAX_TEXT)?;
    }
    Ok(())
}

fn size(field: &str, message: &impl Message, max: usize) -> Result<()> {
    let size = message.encoded_len();
    if size > max {
        return Err(KernelError::invalid(
            field,
            format!("{size} bytes encoded, over the {} KiB limit", max / 1024),
        ));
    }
    Ok(())
}

/// A protobuf `Duration` the kernel accepts: not negative, nanos within 0..=999,999,999 (the
/// protobuf range, with the sign of seconds, which here is never negative).
pub fn duration(field: &str, d: &prost_types::Duration) -> Result<()> {
    if !(0..=999_999_999).contains(&d.nanos) {
        return Err(KernelError::invalid(
            field,
            format!("nanos {} is outside 0..=999999999", d.nanos),
        ));
    }
    if d.seconds < 0 {
        return Err(KernelError::invalid(field, "must not be negative"));
    }
    Ok(())
}

/// A protobuf `Timestamp` with nanos within 0..=999,999,999, between years 1 and 9999.
pub fn timestamp(field: &str, ts: &prost_types::Timestamp) -> Result<()> {
    if !(0..=999_999_999).contains(&ts.nanos) {
        return Err(KernelError::invalid(
            field,
            format!("nanos {} is outside 0..=999999999", ts.nanos),
        ));
    }
    // 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z, the protobuf range.
    if !(-62_135_596_800..=253_402_300_799).contains(&ts.seconds) {
        return Err(KernelError::invalid(
            field,
            "is outside the years 0001 to 9999",
        ));
    }
    Ok(())
}

/// The durations and JSON values inside a bundle. Their own rules (timeouts, backoffs) are the
/// action kinds' to check; the shape every stored value must have is checked here, once.
fn bundle_values(bundle: &ActionBundle) -> Result<()> {
    if let Some(policy) = &bundle.retry_policy {
        let field = |name: &str| format!("action_bundle.retry_policy.{name}");
        if let Some(d) = &policy.initial_backoff {
            duration(&field("initial_backoff"), d)?;
        }
        if let Some(d) = &policy.max_backoff {
            duration(&field("max_backoff"), d)?;
        }
    }
    let actions = bundle
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("action_bundle.actions[{i}]"), a));
    let others = [
        ("action_bundle.fallback", &bundle.fallback),
        ("action_bundle.on_success", &bundle.on_success),
        ("action_bundle.on_failure", &bundle.on_failure),
    ]
    .into_iter()
    .filter_map(|(field, a)| a.as_ref().map(|a| (field.to_owned(), a)));
    for (field, action) in actions.chain(others) {
        action_values(&field, action)?;
    }
    Ok(())
}

fn action_values(field: &str, action: &Action) -> Result<()> {
    let at = |name: &str| format!("{field}.{name}");
    match &action.kind {
        Some(Kind::Webhook(webhook)) => {
            if let Some(body) = &webhook.body {
                json_struct(&at("webhook.body"), body)?;
            }
            if let Some(d) = &webhook.timeout {
                duration(&at("webhook.timeout"), d)?;
            }
        }
        Some(Kind::Command(command)) => {
            if let Some(d) = &command.timeout {
                duration(&at("command.timeout"), d)?;
            }
        }
        Some(Kind::AgentPrompt(prompt)) => {
            if let Some(arguments) = &prompt.arguments {
                json_struct(&at("agent_prompt.arguments"), arguments)?;
            }
            if let Some(d) = &prompt.ack_timeout {
                duration(&at("agent_prompt.ack_timeout"), d)?;
            }
        }
        Some(Kind::File(_)) | None => {}
    }
    Ok(())
}

/// A JSON object as stored: nested at most [`MAX_JSON_DEPTH`] levels, finite numbers, and no
/// NUL in keys or strings (Postgres text and jsonb cannot hold one).
pub fn json_struct(field: &str, value: &prost_types::Struct) -> Result<()> {
    json_fields(field, value, 1)
}

fn json_fields(field: &str, value: &prost_types::Struct, depth: usize) -> Result<()> {
    if depth > MAX_JSON_DEPTH {
        return Err(KernelError::invalid(
            field,
            format!("is nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    for (key, value) in &value.fields {
        if key.contains('\0') {
            return Err(KernelError::invalid(
                field,
                "a key contains a NUL character",
            ));
        }
        json_value(field, value, depth)?;
    }
    Ok(())
}

fn json_value(field: &str, value: &prost_types::Value, depth: usize) -> Result<()> {
    use prost_types::value::Kind;
    match &value.kind {
        Some(Kind::StructValue(inner)) => json_fields(field, inner, depth + 1),
        Some(Kind::ListValue(list)) => {
            if depth + 1 > MAX_JSON_DEPTH {
                return Err(KernelError::invalid(
                    field,
                    format!("is nested deeper than {MAX_JSON_DEPTH} levels"),
                ));
            }
            list.values
                .iter()
                .try_for_each(|v| json_value(field, v, depth + 1))
        }
        Some(Kind::StringValue(s)) if s.contains('\0') => Err(KernelError::invalid(
            field,
            "a string contains a NUL character",
        )),
        Some(Kind::NumberValue(n)) if !n.is_finite() => Err(KernelError::invalid(
            field,
            "holds a number that is not finite",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use minoots_proto::v1::{AgentPromptAction, action};

    use super::*;

    fn prompt(adapter: AgentAdapter, target: &str) -> Action {
        Action {
            id: String::new(),
            kind: Some(Kind::AgentPrompt(AgentPromptAction {
                adapter: adapter as i32,
                target: target.to_owned(),
                prompt: "wake up".into(),
                ..AgentPromptAction::default()
            })),
        }
    }

    fn prompts(bundle: &ActionBundle) -> Vec<&AgentPromptAction> {
        bundle
            .actions
            .iter()
            .filter_map(|a| match &a.kind {
                Some(action::Kind::AgentPrompt(p)) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_agent_binding_fills_only_what_its_prompts_leave_out() {
        let bundle = ActionBundle {
            actions: vec![
                prompt(AgentAdapter::Unspecified, ""),
                prompt(AgentAdapter::Nats, "agents.own"),
            ],
            ..ActionBundle::default()
        };
        let template = prost_types::Struct::default();
        let binding = AgentBinding {
            adapter: "http".into(),
            target: "https://agent.example/hook".into(),
            payload_template: Some(template.clone()),
            acknowledgement_timeout: Some(prost_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
            ..AgentBinding::default()
        };
        let bound = bind_agent_prompts(Some(bundle.clone()), Some(&binding)).unwrap();
        let [filled, own] = prompts(&bound)[..] else {
            panic!("two prompts")
        };
        assert_eq!(filled.adapter, AgentAdapter::Http as i32);
        assert_eq!(filled.target, "https://agent.example/hook");
        assert_eq!(filled.arguments, Some(template));
        assert_eq!(filled.ack_timeout.map(|d| d.seconds), Some(2));
        assert_eq!(own.adapter, AgentAdapter::Nats as i32);
        assert_eq!(own.target, "agents.own");

        // An adapter MINOOTS does not run leaves the prompt without one (validation refuses it).
        let langchain = AgentBinding {
            adapter: "langchain".into(),
            ..binding
        };
        let bound = bind_agent_prompts(Some(bundle.clone()), Some(&langchain)).unwrap();
        assert_eq!(prompts(&bound)[0].adapter, AgentAdapter::Unspecified as i32);
        assert_eq!(bind_agent_prompts(Some(bundle.clone()), None), Some(bundle));
    }
}
