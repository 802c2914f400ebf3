//! Recurring schedules: a cron or an interval in an IANA time zone whose occurrences are ordinary
//! timers, each created [`runner::LEAD`] ahead of its slot with the idempotency key
//! `schedule:{id}:{slot}` and linked by `Timer.schedule_id`, so streams, webhooks, dead letters
//! and replay treat them like any timer.
//!
//! A schedule is written with its event through the group-commit writer, like a timer. Its next
//! occurrence is created by the [`runner`] in the same transaction that advances the schedule,
//! so a crash either did both or neither, and a retry after one finds the occurrence by its key:
//! a restart or a leader failover loses no occurrence and creates none twice. Writes to
//! schedules (these calls and the runner) take one lock, so each reads what the last wrote.

pub(crate) mod runner;
pub mod spec;

use minoots_proto::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, GetScheduleRequest, ListSchedulesRequest,
    ListSchedulesResponse, PauseScheduleRequest, PreviewScheduleRequest, PreviewScheduleResponse,
    ResumeScheduleRequest, Schedule, ScheduleState, TimerEventType, TimerStatus,
    UpdateScheduleRequest,
};
use prost::Message;
use sha2::{Digest, Sha256};

#[cfg(test)]
pub(crate) use runner::occurrence;
pub(crate) use runner::{Runner, run};
pub use spec::Spec;

use crate::{
    Inner, KernelError, Result,
    clock::{Micros, from_timestamp, to_timestamp},
    error::Kind,
    labels::LabelSelector,
    store::{Mutation, Outcome, ScheduleWrite, Transition},
    validate,
};

/// The idempotency key of a schedule's occurrence for `slot`.
pub fn occurrence_key(schedule_id: &str, slot: Micros) -> String {
    format!("schedule:{schedule_id}:{slot}")
}

pub(crate) fn state(schedule: &Schedule) -> ScheduleState {
    ScheduleState::try_from(schedule.state).unwrap_or_default()
}

/// The spec of a stored schedule (checked when it was written).
pub(crate) fn spec_of(schedule: &Schedule) -> Result<Spec> {
    let anchor = schedule
        .created_at
        .as_ref()
        .map(from_timestamp)
        .unwrap_or_default();
    Spec::parse("spec", &schedule.spec.clone().unwrap_or_default(), anchor)
}

/// Writes a schedule (its version raised, `updated_at` set) with its event, if any.
pub(crate) async fn save(
    inner: &Inner,
    schedule: &mut Schedule,
    event: Option<TimerEventType>,
    before: Vec<Mutation>,
) -> Result<Vec<Outcome>> {
    let now = inner.clock.now();
    schedule.version += 1;
    schedule.updated_at = Some(to_timestamp(now));
    let mut mutations = before;
    mutations.push(Mutation::Schedule(Box::new(ScheduleWrite {
        schedule: schedule.clone(),
        event,
        at: now,
        fingerprint: String::new(),
    })));
    inner.writer.enqueue(mutations).await
}

fn check_text(request_by: &str, name: Option<&str>) -> Result<()> {
    if let Some(name) = name {
        if name.trim().is_empty() {
            return Err(KernelError::invalid("name", "is required"));
        }
        validate::text("name", name, validate::MAX_TEXT)?;
    }
    validate::text("requested_by", request_by, validate::MAX_TEXT)
}

/// Refuses a spec that would create more occurrences a day than the tenant may schedule.
fn check_quota(
    inner: &Inner,
    tenant: &str,
    spec: &Spec,
    spec_field: &str,
    now: Micros,
) -> Result<()> {
    let limits = inner.usage.lock().unwrap().limits(tenant);
    if let Some(limit) = limits.daily_timers {
        let per_day = spec.per_day(now.max(spec.start), limit.saturating_add(1));
        if per_day > limit {
            return Err(KernelError::invalid(
                spec_field,
                format!(
                    "gives more than {limit} occurrences a day, the daily timer quota of tenant {tenant}"
                ),
            ));
        }
    }
    Ok(())
}

fn spec_field(request: &minoots_proto::v1::ScheduleSpec) -> &'static str {
    if request.cron.trim().is_empty() {
        "spec.interval"
    } else {
        "spec.cron"
    }
}

/// Checks a spec given by a caller at `now`; an interval without start_at counts from now (the
/// anchor is stored, so every kernel computes the same slots).
fn checked_spec(
    spec: Option<minoots_proto::v1::ScheduleSpec>,
    now: Micros,
) -> Result<(minoots_proto::v1::ScheduleSpec, Spec)> {
    let mut spec =
        spec.ok_or_else(|| KernelError::invalid("spec", "is required (cron or interval)"))?;
    let checked = Spec::parse("spec", &spec, now)?;
    if checked.is_interval() && spec.start_at.is_none() {
        spec.start_at = Some(to_timestamp(now));
    }
    if spec.time_zone.is_empty() {
        spec.time_zone = "UTC".to_owned();
    }
    Ok((spec, checked))
}

pub(crate) async fn create(
    inner: &Inner,
    tenant: &str,
    request: CreateScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    check_text(&request.requested_by, Some(&request.name))?;
    validate::text(
        "idempotency_key",
        &request.idempotency_key,
        validate::MAX_TEXT,
    )?;
    let now = inner.clock.now();
    let field = request.spec.as_ref().map_or("spec", spec_field);
    let (spec_msg, spec) = checked_spec(request.spec.clone(), now)?;
    let action_bundle = validate::contents(
        &request.labels,
        request.metadata.as_ref(),
        request.action_bundle.as_ref(),
        request.agent_binding.as_ref(),
    )?;
    check_quota(inner, tenant, &spec, field, now)?;
    let next = spec
        .next_after(now)
        .ok_or_else(|| KernelError::invalid("spec.end_at", "leaves no occurrence after now"))?;
    let mut canonical = request.clone();
    canonical.tenant_id.clear();
    let fingerprint: String = Sha256::digest(canonical.encode_to_vec())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();

    // Only a keyed create needs the lock (two retries must not both create): a new schedule
    // conflicts with no other write, and the runner learns of it only after its commit, so
    // unkeyed creates share the writer's group commit instead of taking turns.
    let _writing = match request.idempotency_key.is_empty() {
        true => None,
        false => Some(inner.schedules.lock.lock().await),
    };
    if !request.idempotency_key.is_empty()
        && let Some((existing, hash)) = inner
            .store
            .schedule_for_key(tenant, &request.idempotency_key)
            .await?
    {
        if hash == fingerprint {
            return Ok(existing);
        }
        return Err(KernelError::AlreadyExists(format!(
            "idempotency_key was already used for a different request (schedule {})",
            existing.id
        )));
    }
    let paused = request.paused;
    let schedule = Schedule {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        requested_by: request.requested_by,
        name: request.name,
        spec: Some(spec_msg),
        labels: request.labels,
        metadata: request.metadata,
        action_bundle,
        agent_binding: request.agent_binding,
        idempotency_key: request.idempotency_key,
        state: if paused {
            ScheduleState::Paused
        } else {
            ScheduleState::Active
        } as i32,
        version: 1,
        created_at: Some(to_timestamp(now)),
        updated_at: Some(to_timestamp(now)),
        next_fire_at: Some(to_timestamp(next)),
        paused_at: paused.then(|| to_timestamp(now)),
        ..Schedule::default()
    };
    let outcome = inner
        .writer
        .enqueue(vec![Mutation::Schedule(Box::new(ScheduleWrite {
            schedule: schedule.clone(),
            event: Some(TimerEventType::ScheduleCreated),
            at: now,
            fingerprint,
        }))])
        .await?;
    expect_saved(outcome)?;
    if !paused {
        inner.schedules.set(&schedule.id, tenant, next);
    }
    Ok(schedule)
}

fn expect_saved(outcomes: Vec<Outcome>) -> Result<()> {
    match outcomes.last() {
        Some(Outcome::ScheduleSaved(..)) => Ok(()),
        other => Err(KernelError::Internal(format!(
            "unexpected schedule write outcome {other:?}"
        ))),
    }
}

async fn load(inner: &Inner, tenant: &str, id: &str) -> Result<Schedule> {
    if id.is_empty() {
        return Err(KernelError::invalid("id", "is required"));
    }
    validate::text("id", id, validate::MAX_TEXT)?;
    inner
        .store
        .get_schedule(tenant, id)
        .await?
        .ok_or_else(|| KernelError::not_found(Kind::Schedule, id))
}

pub(crate) async fn get(
    inner: &Inner,
    tenant: &str,
    request: GetScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    match (request.id.is_empty(), request.idempotency_key.is_empty()) {
        (false, true) => load(inner, tenant, &request.id).await,
        (true, false) => inner
            .store
            .schedule_for_key(tenant, &request.idempotency_key)
            .await?
            .map(|(schedule, _)| schedule)
            .ok_or_else(|| KernelError::not_found(Kind::ScheduleKey, &request.idempotency_key)),
        _ => Err(KernelError::invalid(
            "id",
            "give exactly one of id and idempotency_key",
        )),
    }
}

pub(crate) async fn list(
    inner: &Inner,
    tenant: &str,
    request: ListSchedulesRequest,
) -> Result<ListSchedulesResponse> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let states = request
        .states
        .iter()
        .map(|s| {
            ScheduleState::try_from(*s)
                .ok()
                .filter(|s| *s != ScheduleState::Unspecified)
                .ok_or_else(|| {
                    KernelError::invalid("states", format!("{s} is not a schedule state"))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let selector = LabelSelector::parse(&request.label_selector)
        .map_err(|m| KernelError::invalid("label_selector", m))?;
    let page_size = match request.page_size {
        0 => validate::DEFAULT_PAGE_SIZE,
        n => n.min(validate::MAX_PAGE_SIZE),
    } as usize;
    let mut after = match request.page_token.as_str() {
        "" => String::new(),
        token => crate::timers::decode_page_token(token).ok_or_else(|| {
            KernelError::invalid("page_token", "is not a page token of this list")
        })?,
    };
    let wanted = |s: &Schedule| {
        let state = state(s);
        (if states.is_empty() {
            state != ScheduleState::Deleted
        } else {
            states.contains(&state)
        }) && selector.matches(&s.labels)
    };
    let mut schedules = Vec::new();
    loop {
        let page = inner
            .store
            .list_schedules(tenant, &after, page_size + 1)
            .await?;
        let exhausted = page.len() <= page_size;
        for schedule in page {
            after.clone_from(&schedule.id);
            if wanted(&schedule) {
                schedules.push(schedule);
                if schedules.len() > page_size {
                    break;
                }
            }
        }
        if exhausted || schedules.len() > page_size {
            break;
        }
    }
    let next_page_token = if schedules.len() > page_size {
        schedules.truncate(page_size);
        crate::timers::encode_page_token(&schedules[page_size - 1].id)
    } else {
        String::new()
    };
    Ok(ListSchedulesResponse {
        schedules,
        next_page_token,
    })
}

/// A schedule that changes no more refuses changes.
fn ensure_live(schedule: &Schedule) -> Result<()> {
    match state(schedule) {
        ScheduleState::Deleted | ScheduleState::Completed => {
            Err(KernelError::FailedPrecondition(format!(
                "schedule {} is {}; create a new one",
                schedule.id,
                state(schedule).wire_name()
            )))
        }
        _ => Ok(()),
    }
}

pub(crate) async fn update(
    inner: &Inner,
    tenant: &str,
    request: UpdateScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    check_text(&request.requested_by, request.name.as_deref())?;
    let now = inner.clock.now();
    let field = request.spec.as_ref().map_or("spec", spec_field);
    let new_spec = match request.spec.clone() {
        Some(spec) => Some(checked_spec(Some(spec), now)?),
        None => None,
    };
    if new_spec.is_none()
        && request.name.is_none()
        && request.labels.is_none()
        && request.metadata.is_none()
        && request.action_bundle.is_none()
        && request.agent_binding.is_none()
    {
        return Err(KernelError::invalid(
            "update",
            "names nothing to change (spec, name, labels, metadata, action_bundle, agent_binding)",
        ));
    }
    let _writing = inner.schedules.lock.lock().await;
    let mut schedule = load(inner, tenant, &request.id).await?;
    ensure_live(&schedule)?;
    if request.expected_version != 0 && request.expected_version != schedule.version {
        return Err(KernelError::Aborted(format!(
            "schedule {} is at version {}, not {}",
            schedule.id, schedule.version, request.expected_version
        )));
    }
    if let Some(name) = request.name {
        schedule.name = name;
    }
    if let Some(labels) = request.labels {
        schedule.labels = labels.labels;
    }
    if let Some(metadata) = request.metadata {
        schedule.metadata = Some(metadata);
    }
    if let Some(binding) = request.agent_binding {
        schedule.agent_binding = (binding != Default::default()).then_some(binding);
    }
    let bundle = request
        .action_bundle
        .or_else(|| schedule.action_bundle.clone());
    schedule.action_bundle = validate::contents(
        &schedule.labels,
        schedule.metadata.as_ref(),
        bundle.as_ref(),
        schedule.agent_binding.as_ref(),
    )?;
    if let Some((spec_msg, spec)) = new_spec {
        check_quota(inner, tenant, &spec, field, now)?;
        schedule.spec = Some(spec_msg);
        let next = spec
            .next_after(now)
            .ok_or_else(|| KernelError::invalid("spec.end_at", "leaves no occurrence after now"))?;
        schedule.next_fire_at = Some(to_timestamp(next));
    }
    if !request.requested_by.is_empty() {
        schedule.requested_by = request.requested_by;
    }
    let outcomes = save(
        inner,
        &mut schedule,
        Some(TimerEventType::ScheduleUpdated),
        Vec::new(),
    )
    .await?;
    expect_saved(outcomes)?;
    if state(&schedule) == ScheduleState::Active
        && let Some(next) = &schedule.next_fire_at
    {
        inner
            .schedules
            .set(&schedule.id, tenant, from_timestamp(next));
    }
    Ok(schedule)
}

pub(crate) async fn pause(
    inner: &Inner,
    tenant: &str,
    request: PauseScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::reason("reason", &request.reason)?;
    check_text(&request.requested_by, None)?;
    let _writing = inner.schedules.lock.lock().await;
    let mut schedule = load(inner, tenant, &request.id).await?;
    ensure_live(&schedule)?;
    if state(&schedule) == ScheduleState::Paused {
        return Ok(schedule);
    }
    schedule.state = ScheduleState::Paused as i32;
    schedule.paused_at = Some(to_timestamp(inner.clock.now()));
    inner.schedules.remove(&schedule.id);
    let before = cancel_waiting(inner, &schedule, "paused", &request.requested_by).await?;
    schedule.paused_by = request.requested_by;
    schedule.pause_reason = request.reason;
    let outcomes = save(
        inner,
        &mut schedule,
        Some(TimerEventType::SchedulePaused),
        before,
    )
    .await?;
    expect_saved(outcomes)?;
    Ok(schedule)
}

pub(crate) async fn resume(
    inner: &Inner,
    tenant: &str,
    request: ResumeScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    check_text(&request.requested_by, None)?;
    let _writing = inner.schedules.lock.lock().await;
    let mut schedule = load(inner, tenant, &request.id).await?;
    ensure_live(&schedule)?;
    if state(&schedule) != ScheduleState::Paused {
        return Ok(schedule);
    }
    let now = inner.clock.now();
    let spec = spec_of(&schedule)?;
    // Slots that passed while paused are not caught up.
    let next = spec.next_after(now);
    schedule.paused_at = None;
    schedule.paused_by.clear();
    schedule.pause_reason.clear();
    let event = match next {
        Some(next) => {
            schedule.state = ScheduleState::Active as i32;
            schedule.next_fire_at = Some(to_timestamp(next));
            TimerEventType::ScheduleResumed
        }
        None => {
            schedule.state = ScheduleState::Completed as i32;
            schedule.next_fire_at = None;
            TimerEventType::ScheduleCompleted
        }
    };
    let outcomes = save(inner, &mut schedule, Some(event), Vec::new()).await?;
    expect_saved(outcomes)?;
    if let Some(next) = next {
        inner.schedules.set(&schedule.id, tenant, next);
    }
    Ok(schedule)
}

/// The cancel of `schedule`'s occurrence that has not fired yet (created ahead of its slot,
/// delayed by jitter, or paused), for the commit that pauses or deletes the schedule.
async fn cancel_waiting(
    inner: &Inner,
    schedule: &Schedule,
    what: &str,
    actor: &str,
) -> Result<Vec<Mutation>> {
    let waiting = match schedule.last_timer_id.as_str() {
        "" => None,
        id => inner.store.get(&schedule.tenant_id, id).await?,
    }
    .filter(|timer| {
        matches!(
            TimerStatus::try_from(timer.status).unwrap_or_default(),
            TimerStatus::Scheduled | TimerStatus::Armed | TimerStatus::Paused
        )
    });
    Ok(waiting
        .map(|timer| {
            Mutation::Transition(Transition {
                timer_id: timer.id,
                tenant_id: Some(schedule.tenant_id.clone()),
                to: TimerStatus::Cancelled,
                at: inner.clock.now(),
                reason: format!("schedule {} {what}", schedule.id),
                actor: actor.to_owned(),
                results: Vec::new(),
            })
        })
        .into_iter()
        .collect())
}

pub(crate) async fn delete(
    inner: &Inner,
    tenant: &str,
    request: DeleteScheduleRequest,
) -> Result<Schedule> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    check_text(&request.requested_by, None)?;
    let _writing = inner.schedules.lock.lock().await;
    let mut schedule = load(inner, tenant, &request.id).await?;
    if state(&schedule) == ScheduleState::Deleted {
        return Ok(schedule);
    }
    inner.schedules.remove(&schedule.id);
    let before = cancel_waiting(inner, &schedule, "deleted", &request.requested_by).await?;
    schedule.state = ScheduleState::Deleted as i32;
    schedule.next_fire_at = None;
    schedule.buffered_at = None;
    if !request.requested_by.is_empty() {
        schedule.requested_by = request.requested_by;
    }
    let outcomes = save(
        inner,
        &mut schedule,
        Some(TimerEventType::ScheduleDeleted),
        before,
    )
    .await?;
    expect_saved(outcomes)?;
    Ok(schedule)
}

pub(crate) async fn preview(
    inner: &Inner,
    tenant: &str,
    request: PreviewScheduleRequest,
) -> Result<PreviewScheduleResponse> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let count = match request.count {
        0 => 10,
        n if n > 1_000 => {
            return Err(KernelError::invalid("count", "must be at most 1000"));
        }
        n => n as usize,
    };
    let now = inner.clock.now();
    let after = match &request.after {
        Some(ts) => {
            validate::timestamp("after", ts)?;
            from_timestamp(ts)
        }
        None => now,
    };
    let (spec, remaining) = match (request.id.is_empty(), request.spec) {
        (false, None) => {
            let schedule = load(inner, tenant, &request.id).await?;
            let spec = spec_of(&schedule)?;
            let remaining = match spec.max_runs {
                0 => usize::MAX,
                max => max.saturating_sub(schedule.runs) as usize,
            };
            let live = matches!(
                state(&schedule),
                ScheduleState::Active | ScheduleState::Paused
            );
            (spec, if live { remaining } else { 0 })
        }
        (true, Some(spec)) => {
            let (_, spec) = checked_spec(Some(spec), now)?;
            let remaining = match spec.max_runs {
                0 => usize::MAX,
                max => max as usize,
            };
            (spec, remaining)
        }
        _ => {
            return Err(KernelError::invalid(
                "id",
                "give exactly one of id and spec",
            ));
        }
    };
    let mut response = PreviewScheduleResponse::default();
    let mut at = after;
    while response.fire_at.len() < count.min(remaining) {
        let Some(next) = spec.next_after(at) else {
            break;
        };
        response.fire_at.push(to_timestamp(next));
        response.local_times.push(spec.local_time(next));
        at = next;
    }
    Ok(response)
}
