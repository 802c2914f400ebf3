//! Timers as callers see them: schedule (one or a batch), get, list with page tokens, cancel.
//! Each request is validated whole before anything is written; a new timer is written and
//! armed in one commit and handed to the scheduler only after it, and a cancel is a transition
//! that the store refuses once the timer has fired, so a cancel racing a fire has one winner.

use minoots_proto::v1::{
    CancelTimerRequest, GetTimerRequest, ListTimersRequest, ListTimersResponse, PauseTenantRequest,
    PauseTimerRequest, ResumeTenantRequest, ResumeTimerRequest, ScheduleTimerRequest,
    ScheduleTimerResponse, SelectTimersRequest, SelectTimersResponse, TenantPause, Timer,
    TimerStatus, UpdateTimerRequest,
};

use crate::{
    Inner, KernelError, Result,
    clock::{Micros, to_timestamp},
    error::Kind,
    labels::LabelSelector,
    lifecycle::scheduler::{ArmRequest, Command, system_transition},
    store::{self, Change, ChangeKind, ListQuery, Mutation, Outcome, PausedTenant, Transition},
    trace, validate,
};

pub(crate) async fn schedule(
    inner: &Inner,
    tenant: &str,
    request: ScheduleTimerRequest,
) -> Result<ScheduleTimerResponse> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let mut new = validate::schedule(
        &request,
        tenant,
        uuid::Uuid::now_v7().to_string(),
        inner.clock.now(),
    )?;
    new.timer.trace_parent = trace::current_traceparent().unwrap_or_default();
    let mut responses = create(inner, vec![new]).await?;
    Ok(responses.remove(0))
}

/// Schedules a batch in one write. Any invalid item rejects the whole batch.
pub(crate) async fn schedule_many(
    inner: &Inner,
    tenant: &str,
    requests: Vec<ScheduleTimerRequest>,
) -> Result<Vec<ScheduleTimerResponse>> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    if requests.is_empty() {
        return Err(KernelError::invalid("timers", "must not be empty"));
    }
    if requests.len() > validate::MAX_BATCH {
        return Err(KernelError::invalid(
            "timers",
            format!("at most {} timers per batch", validate::MAX_BATCH),
        ));
    }
    let now = inner.clock.now();
    let trace_parent = trace::current_traceparent().unwrap_or_default();
    let new = requests
        .iter()
        .enumerate()
        .map(|(i, request)| {
            if !request.tenant_id.is_empty() && request.tenant_id != tenant {
                return Err(KernelError::invalid(
                    format!("timers[{i}].tenant_id"),
                    "differs from the batch's tenant",
                ));
            }
            let mut new =
                validate::schedule(request, tenant, uuid::Uuid::now_v7().to_string(), now)
                    .map_err(|e| e.within(&format!("timers[{i}]")))?;
            new.timer.trace_parent.clone_from(&trace_parent);
            Ok(new)
        })
        .collect::<Result<Vec<_>>>()?;
    create(inner, new).await
}

/// Writes each new timer and arms it in the same transaction: SCHEDULED then ARMED, two
/// events, one commit. The scheduler is told only after the commit.
async fn create(inner: &Inner, new: Vec<validate::NewTimer>) -> Result<Vec<ScheduleTimerResponse>> {
    let created = create_with(inner, new, Vec::new()).await?;
    if let Some(existing_id) = created.conflict {
        return Err(KernelError::AlreadyExists(format!(
            "idempotency_key was already used for a different request (timer {existing_id})"
        )));
    }
    Ok(created.responses)
}

/// What [`create_with`] did: the answers, the timer holding a key a create reused for another
/// request (none of that request's timers was written), and the outcomes of its `tail`.
pub(crate) struct Created {
    pub responses: Vec<ScheduleTimerResponse>,
    pub conflict: Option<String>,
    pub tail: Vec<Outcome>,
}

/// Creates timers as [`create`] does, with `tail` written in the same transaction after them
/// (a schedule's new state with its occurrences).
pub(crate) async fn create_with(
    inner: &Inner,
    new: Vec<validate::NewTimer>,
    tail: Vec<Mutation>,
) -> Result<Created> {
    let now = inner.clock.now();
    let created_count = new.len() * 2;
    let mutations = new
        .into_iter()
        .flat_map(|n| {
            let arm = system_transition(n.timer.id.clone(), TimerStatus::Armed, now);
            [Mutation::create(n), arm]
        })
        .chain(tail)
        .collect();
    let mut outcomes = inner.writer.enqueue(mutations).await?;
    let tail = outcomes.split_off(created_count.min(outcomes.len()));
    let mut arm = Vec::new();
    let mut replaced = Vec::new();
    let mut responses = Vec::with_capacity(outcomes.len() / 2);
    let mut conflict = None;
    let mut outcomes = outcomes.into_iter();
    while let (Some(created), Some(armed)) = (outcomes.next(), outcomes.next()) {
        match (created, armed) {
            (Outcome::Created(..), Outcome::Transitioned(timer, _)) => {
                arm.push(ArmRequest {
                    id: timer.id.clone(),
                    tenant_id: timer.tenant_id.clone(),
                    fire_at: store::fire_at(&timer),
                    write_armed: false,
                    has_actions: store::has_actions(&timer),
                });
                responses.push(ScheduleTimerResponse {
                    timer: Some(timer),
                    created: true,
                });
            }
            // Created while its tenant's deliveries are paused: held, not armed.
            (Outcome::Created(timer, _), Outcome::Rejected(TimerStatus::Paused)) => {
                responses.push(ScheduleTimerResponse {
                    timer: Some(timer),
                    created: true,
                });
            }
            // KeyPolicy::Replace took over the pending timer holding the key.
            (Outcome::Replaced(timer, _), armed) => {
                let timer = match armed {
                    Outcome::Transitioned(timer, _) => timer,
                    _ => timer,
                };
                replaced.push(timer.clone());
                responses.push(ScheduleTimerResponse {
                    timer: Some(timer),
                    created: false,
                });
            }
            // A replay: the arm was refused (already armed) or armed a timer left SCHEDULED.
            (Outcome::Existing(timer), armed) => {
                let timer = match armed {
                    Outcome::Transitioned(timer, _) => {
                        arm.push(ArmRequest {
                            id: timer.id.clone(),
                            tenant_id: timer.tenant_id.clone(),
                            fire_at: store::fire_at(&timer),
                            write_armed: false,
                            has_actions: store::has_actions(&timer),
                        });
                        timer
                    }
                    _ => timer,
                };
                responses.push(ScheduleTimerResponse {
                    timer: Some(timer),
                    created: false,
                });
            }
            (Outcome::Conflict { existing_id }, _) => conflict = conflict.or(Some(existing_id)),
            // Not written because another timer of this request conflicted.
            (Outcome::Aborted, _) => {}
            other => {
                return Err(KernelError::Internal(format!(
                    "unexpected create outcome {other:?}"
                )));
            }
        }
    }
    if !arm.is_empty() {
        inner
            .scheduler
            .send(Command::Arm(arm))
            .map_err(|_| KernelError::ShuttingDown)?;
    }
    rearm(inner, &replaced);
    Ok(Created {
        responses,
        conflict,
        tail,
    })
}

pub(crate) async fn get(inner: &Inner, tenant: &str, id: &str) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::timer_id(id)?;
    inner
        .store
        .get(tenant, id)
        .await?
        .ok_or_else(|| KernelError::not_found(Kind::Timer, id))
}

pub(crate) async fn list(
    inner: &Inner,
    tenant: &str,
    request: ListTimersRequest,
) -> Result<ListTimersResponse> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let statuses = request
        .statuses
        .iter()
        .map(|s| {
            TimerStatus::try_from(*s)
                .ok()
                .filter(|s| *s != TimerStatus::Unspecified)
                .ok_or_else(|| {
                    KernelError::invalid("statuses", format!("{s} is not a timer status"))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let selector = LabelSelector::parse(&request.label_selector)
        .map_err(|m| KernelError::invalid("label_selector", m))?;
    validate::text("name_prefix", &request.name_prefix, 256)?;
    let page_size = match request.page_size {
        0 => validate::DEFAULT_PAGE_SIZE,
        n if n > validate::MAX_PAGE_SIZE => {
            return Err(KernelError::invalid(
                "page_size",
                format!("at most {}", validate::MAX_PAGE_SIZE),
            ));
        }
        n => n,
    } as usize;
    let after_id = match request.page_token.as_str() {
        "" => None,
        token => Some(decode_page_token(token).ok_or_else(|| {
            KernelError::invalid("page_token", "is not a token this server issued")
        })?),
    };
    let query = ListQuery {
        tenant_id: tenant.to_owned(),
        statuses,
        selector,
        name_prefix: request.name_prefix,
        after_id,
        limit: page_size + 1,
    };
    let mut timers = inner.store.list(&query).await?;
    let next_page_token = if timers.len() > page_size {
        timers.truncate(page_size);
        encode_page_token(&timers[page_size - 1].id)
    } else {
        String::new()
    };
    Ok(ListTimersResponse {
        timers,
        next_page_token,
    })
}
pub(crate) async fn cancel(
    inner: &Inner,
    tenant: &str,
    request: CancelTimerRequest,
) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::reason("reason", &request.reason)?;
    validate::text("requested_by", &request.requested_by, 256)?;
    let id = resolve(inner, tenant, &request.id, &request.idempotency_key).await?;
    let transition = Transition {
        timer_id: id.clone(),
        tenant_id: Some(tenant.to_owned()),
        to: TimerStatus::Cancelled,
        at: inner.clock.now(),
        reason: request.reason,
        actor: request.requested_by,
        results: Vec::new(),
    };
    let outcome = inner
        .writer
        .enqueue(vec![Mutation::Transition(transition)])
        .await?
        .remove(0);
    answer(inner, outcome, &id, "cancelled")
}

pub(crate) fn encode_page_token(id: &str) -> String {
    id.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
}

pub(crate) fn decode_page_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&token[i..i + 2], 16)
                .ok()
                .map(|b| b ^ 0x5a)
        })
        .collect::<Option<Vec<u8>>>()?;
    let id = String::from_utf8(bytes).ok()?;
    uuid::Uuid::try_parse(&id).ok()?;
    Some(id)
}

/// The id a request names: its `id`, or the timer holding its `idempotency_key`.
async fn resolve(inner: &Inner, tenant: &str, id: &str, key: &str) -> Result<String> {
    match (id.is_empty(), key.is_empty()) {
        (false, true) => {
            validate::timer_id(id)?;
            Ok(id.to_owned())
        }
        (true, false) => {
            validate::text("idempotency_key", key, validate::MAX_TEXT)?;
            inner
                .store
                .id_for_key(tenant, key)
                .await?
                .ok_or_else(|| KernelError::not_found(Kind::TimerKey, key))
        }
        (true, true) => Err(KernelError::invalid(
            "id",
            "is required (or idempotency_key instead)",
        )),
        (false, false) => Err(KernelError::invalid(
            "idempotency_key",
            "give id or idempotency_key, not both",
        )),
    }
}

pub(crate) async fn get_by(inner: &Inner, tenant: &str, request: GetTimerRequest) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let id = resolve(inner, tenant, &request.id, &request.idempotency_key).await?;
    get(inner, tenant, &id).await
}

/// Applies one caller change through the writer and re-arms or disarms the timer to match.
async fn apply_change(inner: &Inner, change: Change) -> Result<Timer> {
    let id = change.timer_id.clone();
    let what = match &change.kind {
        ChangeKind::Update(_) => "updated",
        ChangeKind::Pause { .. } => "paused",
        ChangeKind::Resume { .. } => "resumed",
    };
    let outcome = inner
        .writer
        .enqueue(vec![Mutation::Change(Box::new(change))])
        .await?
        .remove(0);
    answer(inner, outcome, &id, what)
}

/// What a caller's write to one timer (`what`: cancelled, updated, paused, resumed) answers: the
/// timer, with the scheduler told, or why it was not written.
fn answer(inner: &Inner, outcome: Outcome, id: &str, what: &str) -> Result<Timer> {
    match outcome {
        Outcome::Transitioned(timer, _) => {
            rearm(inner, std::slice::from_ref(&timer));
            Ok(timer)
        }
        Outcome::Unchanged(timer) => Ok(timer),
        Outcome::NotFound => Err(KernelError::not_found(Kind::Timer, id)),
        Outcome::Stale { current } => Err(KernelError::Aborted(format!(
            "timer {id} is at state_version {current}: it changed since it was read; read it again"
        ))),
        Outcome::Quarantined { timer, .. } => Err(KernelError::FailedPrecondition(format!(
            "timer {} could not be {what}: it is failed, {}",
            crate::error::quote(id),
            timer.failure_reason
        ))),
        Outcome::Rejected(status) => Err(KernelError::FailedPrecondition(format!(
            "timer {id} is {}; only scheduled, armed or paused timers can be {what}",
            status.wire_name()
        ))),
        other => Err(KernelError::Internal(format!(
            "unexpected outcome {other:?} for a timer to be {what}"
        ))),
    }
}

/// Tells the scheduler about timers a change left pending: armed ones at their (maybe new) fire
/// time, paused ones not at all.
fn rearm(inner: &Inner, timers: &[Timer]) {
    let mut arm = Vec::new();
    for timer in timers {
        let _ = inner.scheduler.send(Command::Disarm(timer.id.clone()));
        if matches!(
            TimerStatus::try_from(timer.status),
            Ok(TimerStatus::Scheduled | TimerStatus::Armed)
        ) {
            arm.push(ArmRequest {
                id: timer.id.clone(),
                tenant_id: timer.tenant_id.clone(),
                fire_at: store::fire_at(timer),
                write_armed: false,
                has_actions: store::has_actions(timer),
            });
        }
    }
    if !arm.is_empty() {
        let _ = inner.scheduler.send(Command::Arm(arm));
    }
}

pub(crate) async fn update(
    inner: &Inner,
    tenant: &str,
    request: UpdateTimerRequest,
) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let id = resolve(inner, tenant, &request.id, &request.idempotency_key).await?;
    let now = inner.clock.now();
    let mut fields = validate::update(&request, now)?;
    if let Some(traceparent) = trace::current_traceparent() {
        fields.trace_parent = Some(traceparent);
    }
    apply_change(
        inner,
        Change {
            timer_id: id,
            tenant_id: tenant.to_owned(),
            expected_version: request.expected_state_version,
            at: now,
            actor: request.requested_by,
            kind: ChangeKind::Update(Box::new(fields)),
        },
    )
    .await
}

pub(crate) async fn pause(
    inner: &Inner,
    tenant: &str,
    request: PauseTimerRequest,
) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::reason("reason", &request.reason)?;
    validate::text("requested_by", &request.requested_by, validate::MAX_TEXT)?;
    let id = resolve(inner, tenant, &request.id, &request.idempotency_key).await?;
    apply_change(
        inner,
        Change {
            timer_id: id,
            tenant_id: tenant.to_owned(),
            expected_version: 0,
            at: inner.clock.now(),
            actor: request.requested_by,
            kind: ChangeKind::Pause {
                reason: request.reason,
                tenant: false,
            },
        },
    )
    .await
}

pub(crate) async fn resume(
    inner: &Inner,
    tenant: &str,
    request: ResumeTimerRequest,
) -> Result<Timer> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::text("requested_by", &request.requested_by, validate::MAX_TEXT)?;
    let id = resolve(inner, tenant, &request.id, &request.idempotency_key).await?;
    apply_change(
        inner,
        Change {
            timer_id: id,
            tenant_id: tenant.to_owned(),
            expected_version: 0,
            at: inner.clock.now(),
            actor: request.requested_by,
            kind: ChangeKind::Resume { tenant: false },
        },
    )
    .await
}

/// What a bulk call does to each selected timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    Cancel,
    Pause,
    Resume,
}

/// Timers per writer request of a bulk call.
const BULK_CHUNK: usize = 1_000;

/// Cancels, pauses or resumes every pending timer a selector matches (or all, with `all`),
/// page by page, each page one write. Timers that fire meanwhile are not changed (they win).
pub(crate) async fn bulk(
    inner: &Inner,
    tenant: &str,
    op: Bulk,
    request: SelectTimersRequest,
) -> Result<SelectTimersResponse> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let selector = LabelSelector::parse(&request.label_selector)
        .map_err(|m| KernelError::invalid("label_selector", m))?;
    match (request.label_selector.trim().is_empty(), request.all) {
        (true, false) => {
            return Err(KernelError::invalid(
                "label_selector",
                "is required (or all = true for every pending timer of the tenant)",
            ));
        }
        (false, true) => {
            return Err(KernelError::invalid(
                "all",
                "select by label_selector or all, not both",
            ));
        }
        _ => {}
    }
    validate::text("name_prefix", &request.name_prefix, 256)?;
    validate::reason("reason", &request.reason)?;
    validate::text("requested_by", &request.requested_by, validate::MAX_TEXT)?;
    let statuses = match op {
        Bulk::Cancel => vec![
            TimerStatus::Scheduled,
            TimerStatus::Armed,
            TimerStatus::Paused,
        ],
        Bulk::Pause => vec![TimerStatus::Scheduled, TimerStatus::Armed],
        Bulk::Resume => vec![TimerStatus::Paused],
    };
    let mut response = SelectTimersResponse::default();
    let mut after_id = None;
    loop {
        let page = inner
            .store
            .list(&ListQuery {
                tenant_id: tenant.to_owned(),
                statuses: statuses.clone(),
                selector: selector.clone(),
                name_prefix: request.name_prefix.clone(),
                after_id: after_id.take(),
                limit: BULK_CHUNK,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_id = Some(last.id.clone());
        response.matched += page.len() as u64;
        if !request.dry_run {
            let now = inner.clock.now();
            let mutations = page
                .iter()
                .map(|timer| bulk_mutation(op, timer, tenant, now, &request))
                .collect();
            let outcomes = inner.writer.enqueue(mutations).await?;
            let changed: Vec<Timer> = outcomes
                .into_iter()
                .filter_map(|outcome| match outcome {
                    Outcome::Transitioned(timer, _) => Some(timer),
                    _ => None,
                })
                .collect();
            response.changed += changed.len() as u64;
            after_change(inner, op, &changed);
        }
        if page.len() < BULK_CHUNK {
            break;
        }
    }
    Ok(response)
}

fn bulk_mutation(
    op: Bulk,
    timer: &Timer,
    tenant: &str,
    at: Micros,
    request: &SelectTimersRequest,
) -> Mutation {
    let change = |kind| {
        Mutation::Change(Box::new(Change {
            timer_id: timer.id.clone(),
            tenant_id: tenant.to_owned(),
            expected_version: 0,
            at,
            actor: request.requested_by.clone(),
            kind,
        }))
    };
    match op {
        Bulk::Cancel => Mutation::Transition(Transition {
            timer_id: timer.id.clone(),
            tenant_id: Some(tenant.to_owned()),
            to: TimerStatus::Cancelled,
            at,
            reason: request.reason.clone(),
            actor: request.requested_by.clone(),
            results: Vec::new(),
        }),
        Bulk::Pause => change(ChangeKind::Pause {
            reason: request.reason.clone(),
            tenant: false,
        }),
        Bulk::Resume => change(ChangeKind::Resume { tenant: false }),
    }
}

/// The scheduler's side of timers a bulk call changed.
fn after_change(inner: &Inner, op: Bulk, changed: &[Timer]) {
    match op {
        Bulk::Cancel => {
            for timer in changed {
                let _ = inner.scheduler.send(Command::Disarm(timer.id.clone()));
            }
        }
        Bulk::Pause | Bulk::Resume => rearm(inner, changed),
    }
}

/// Pauses a tenant's deliveries: records the pause (from then on its new timers are created
/// PAUSED, decided in the same transaction that writes them), waits for writes already queued,
/// then pauses its pending timers page by page.
pub(crate) async fn pause_tenant(
    inner: &Inner,
    tenant: &str,
    request: PauseTenantRequest,
) -> Result<TenantPause> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::reason("reason", &request.reason)?;
    validate::text("requested_by", &request.requested_by, validate::MAX_TEXT)?;
    let pause = PausedTenant {
        paused_at: inner.clock.now(),
        paused_by: if request.requested_by.is_empty() {
            store::TENANT_PAUSE.to_owned()
        } else {
            request.requested_by.clone()
        },
        reason: request.reason.clone(),
    };
    inner.store.set_tenant_pause(tenant, Some(&pause)).await?;
    // Creates planned before the pause was visible commit before this returns.
    inner.writer.enqueue(Vec::new()).await?;
    let changed = tenant_sweep(inner, tenant, true, &request.reason, &pause.paused_by).await?;
    let mut state = tenant_state(inner, tenant).await?;
    state.changed = changed;
    Ok(state)
}

/// Lifts a tenant's pause and resumes the timers it paused (not those paused on their own).
pub(crate) async fn resume_tenant(
    inner: &Inner,
    tenant: &str,
    request: ResumeTenantRequest,
) -> Result<TenantPause> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    validate::text("requested_by", &request.requested_by, validate::MAX_TEXT)?;
    inner.store.set_tenant_pause(tenant, None).await?;
    inner.writer.enqueue(Vec::new()).await?;
    let changed = tenant_sweep(inner, tenant, false, "", &request.requested_by).await?;
    let mut state = tenant_state(inner, tenant).await?;
    state.changed = changed;
    Ok(state)
}

pub(crate) async fn tenant_state(inner: &Inner, tenant: &str) -> Result<TenantPause> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let pause = inner.store.tenant_pause(tenant).await?;
    Ok(TenantPause {
        tenant_id: tenant.to_owned(),
        paused: pause.is_some(),
        paused_at: pause.as_ref().map(|p| to_timestamp(p.paused_at)),
        paused_by: pause
            .as_ref()
            .map(|p| p.paused_by.clone())
            .unwrap_or_default(),
        reason: pause.map(|p| p.reason).unwrap_or_default(),
        changed: 0,
    })
}

/// Pauses every pending timer of the tenant, or resumes those the tenant's pause paused.
async fn tenant_sweep(
    inner: &Inner,
    tenant: &str,
    pause: bool,
    reason: &str,
    actor: &str,
) -> Result<u64> {
    let statuses = if pause {
        vec![TimerStatus::Scheduled, TimerStatus::Armed]
    } else {
        vec![TimerStatus::Paused]
    };
    let mut changed = 0;
    let mut after_id = None;
    loop {
        let page = inner
            .store
            .list(&ListQuery {
                tenant_id: tenant.to_owned(),
                statuses: statuses.clone(),
                selector: LabelSelector::default(),
                name_prefix: String::new(),
                after_id: after_id.take(),
                limit: BULK_CHUNK,
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_id = Some(last.id.clone());
        let now = inner.clock.now();
        let kind = if pause {
            ChangeKind::Pause {
                reason: reason.to_owned(),
                tenant: true,
            }
        } else {
            ChangeKind::Resume { tenant: true }
        };
        let mutations = page
            .iter()
            .map(|timer| {
                Mutation::Change(Box::new(Change {
                    timer_id: timer.id.clone(),
                    tenant_id: tenant.to_owned(),
                    expected_version: 0,
                    at: now,
                    actor: actor.to_owned(),
                    kind: kind.clone(),
                }))
            })
            .collect();
        let outcomes = inner.writer.enqueue(mutations).await?;
        let done: Vec<Timer> = outcomes
            .into_iter()
            .filter_map(|outcome| match outcome {
                Outcome::Transitioned(timer, _) => Some(timer),
                _ => None,
            })
            .collect();
        changed += done.len() as u64;
        rearm(inner, &done);
        if page.len() < BULK_CHUNK {
            break;
        }
    }
    Ok(changed)
}
