//! Timers as callers see them: schedule (one or a batch), get, list with page tokens, cancel.
//! Each request is validated whole before anything is written; a new timer is written and
//! armed in one commit and handed to the scheduler only after it, and a cancel is a transition
//! that the store refuses once the timer has fired, so a cancel racing a fire has one winner.

use minoots_proto::v1::{
    CancelTimerRequest, ListTimersRequest, ListTimersResponse, ScheduleTimerRequest,
    ScheduleTimerResponse, Timer, TimerStatus,
};

use crate::{
    Inner, KernelError, Result,
    error::Kind,
    labels::LabelSelector,
    lifecycle::scheduler::{ArmRequest, Command, system_transition},
    store::{self, ListQuery, Mutation, Outcome, Transition},
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
    let now = inner.clock.now();
    let mutations = new
        .into_iter()
        .flat_map(|n| {
            let arm = system_transition(n.timer.id.clone(), TimerStatus::Armed, now);
            [Mutation::create(n), arm]
        })
        .collect();
    let outcomes = inner.writer.enqueue(mutations).await?;
    let mut arm = Vec::new();
    let mut responses = Vec::with_capacity(outcomes.len() / 2);
    let mut conflict = None;
    let mut outcomes = outcomes.into_iter();
    while let (Some(created), Some(armed)) = (outcomes.next(), outcomes.next()) {
        match (created, armed) {
            (Outcome::Created(..), Outcome::Transitioned(timer, _)) => {
                arm.push(ArmRequest {
                    id: timer.id.clone(),
                    fire_at: store::fire_at(&timer),
                    write_armed: false,
                    has_actions: store::has_actions(&timer),
                });
                responses.push(ScheduleTimerResponse {
                    timer: Some(timer),
                    created: true,
                });
            }
            // A replay: the arm was refused (already armed) or armed a timer left SCHEDULED.
            (Outcome::Existing(timer), armed) => {
                let timer = match armed {
                    Outcome::Transitioned(timer, _) => {
                        arm.push(ArmRequest {
                            id: timer.id.clone(),
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
    if let Some(existing_id) = conflict {
        return Err(KernelError::AlreadyExists(format!(
            "idempotency_key was already used for a different request (timer {existing_id})"
        )));
    }
    Ok(responses)
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
    validate::timer_id(&request.id)?;
    validate::reason("reason", &request.reason)?;
    validate::text("requested_by", &request.requested_by, 256)?;
    let transition = Transition {
        timer_id: request.id.clone(),
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
    match outcome {
        Outcome::Transitioned(timer, _) => {
            let _ = inner.scheduler.send(Command::Disarm(timer.id.clone()));
            Ok(timer)
        }
        Outcome::NotFound => Err(KernelError::not_found(Kind::Timer, &request.id)),
        Outcome::Quarantined { timer, .. } => Err(KernelError::FailedPrecondition(format!(
            "timer {} could not be cancelled: it is failed, {}",
            crate::error::quote(&request.id),
            timer.failure_reason
        ))),
        Outcome::Rejected(status) => Err(KernelError::FailedPrecondition(format!(
            "timer {} is {}; only scheduled or armed timers can be cancelled",
            request.id,
            status.wire_name()
        ))),
        other => Err(KernelError::Internal(format!(
            "unexpected cancel outcome {other:?}"
        ))),
    }
}

fn encode_page_token(id: &str) -> String {
    id.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
}

fn decode_page_token(token: &str) -> Option<String> {
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
