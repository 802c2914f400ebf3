//! Request validation. Every rejection names the offending field by its path in the request, and
//! nothing is written unless the whole request is valid. Actions are checked by their own kind
//! (`actions::validate_bundle`).

use minoots_proto::v1::{
    AgentBinding, ScheduleTimerRequest, Timer, TimerStatus, schedule_timer_request::Schedule,
};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::{
    actions,
    clock::{Micros, from_duration, from_timestamp, to_duration, to_timestamp},
    error::{KernelError, Result},
    labels,
};

pub const MAX_HORIZON: Micros = 10 * 366 * 24 * 3_600 * 1_000_000;
/// A fire_at up to this far in the past is taken as "now": clocks of callers drift.
pub const PAST_GRACE: Micros = 1_000_000;
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
pub const MAX_BATCH: usize = 10_000;
pub const MAX_PAGE_SIZE: u32 = 1_000;
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub(crate) const MAX_TEXT: usize = 256;
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

    let (fire_at, duration) = match &request.schedule {
        None => {
            return Err(KernelError::invalid(
                "duration",
                "one of duration or fire_at is required",
            ));
        }
        Some(Schedule::Duration(d)) => {
            let micros = from_duration(d);
            if d.seconds < 0 || d.nanos < 0 || micros <= 0 {
                return Err(KernelError::invalid("duration", "must be positive"));
            }
            if micros > MAX_HORIZON {
                return Err(KernelError::invalid("duration", "must be at most 10 years"));
            }
            (now + micros, Some(to_duration(micros)))
        }
        Some(Schedule::FireAt(ts)) => {
            if !(0..1_000_000_000).contains(&ts.nanos) {
                return Err(KernelError::invalid(
                    "fire_at",
                    "nanos must be within 0..1e9",
                ));
            }
            let at = from_timestamp(ts);
            if at < now - PAST_GRACE {
                return Err(KernelError::invalid("fire_at", "is in the past"));
            }
            if at > now + MAX_HORIZON {
                return Err(KernelError::invalid(
                    "fire_at",
                    "is more than 10 years ahead",
                ));
            }
            (at.max(now), None)
        }
    };

    if request.labels.len() > labels::MAX_LABELS {
        return Err(KernelError::invalid(
            "labels",
            format!("at most {} labels", labels::MAX_LABELS),
        ));
    }
    for (key, value) in &request.labels {
        labels::check_key(key).map_err(|m| KernelError::invalid("labels", m))?;
        labels::check_value(key, value).map_err(|m| KernelError::invalid("labels", m))?;
    }
    if let Some(metadata) = &request.metadata {
        let size = metadata.encoded_len();
        if size > MAX_METADATA_BYTES {
            return Err(KernelError::invalid(
                "metadata",
                format!("{size} bytes encoded, over the 64 KiB limit"),
            ));
        }
    }
    if let Some(bundle) = &request.action_bundle {
        actions::validate_bundle(bundle)?;
    }
    if let Some(binding) = &request.agent_binding {
        agent_binding(binding)?;
    }

    let mut canonical = request.clone();
    canonical.tenant_id.clear();
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
        action_bundle: request.action_bundle.clone(),
        agent_binding: request.agent_binding.clone(),
        idempotency_key: request.idempotency_key.clone(),
        state_version: 1,
        ..Timer::default()
    };
    Ok(NewTimer {
        timer,
        fingerprint,
        group: 0,
    })
}

fn agent_binding(binding: &AgentBinding) -> Result<()> {
    text("agent_binding.agent_id", &binding.agent_id, MAX_TEXT)?;
    text("agent_binding.session_id", &binding.session_id, MAX_TEXT)?;
    text("agent_binding.framework", &binding.framework, MAX_TEXT)?;
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
