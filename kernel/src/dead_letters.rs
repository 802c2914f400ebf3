//! Dead letters: the actions that exhausted their retries, kept per tenant with the action and
//! its idempotency key. Listing and reading them, and replaying one (or all since a time): the
//! action runs again with its original key and the bundle's retry policy, and a FAILED timer
//! whose dead letters are all resolved becomes SETTLED. A dead-lettered `on_success` /
//! `on_failure` callback (id `{timer_id}.on_success`) replays the same way but, as when it first
//! ran, never changes the timer's outcome.

use minoots_proto::v1::{DeadLetter, ListDeadLettersRequest, ReplayResult, TimerStatus};

use crate::{
    Inner, KernelError, Micros, Result,
    actions::Callback,
    clock,
    error::Kind,
    store::{Mutation, Outcome, Transition},
    timers, validate,
};

/// Unresolved (or all) dead letters of `tenant` created at or after `since`.
pub(crate) async fn list(
    inner: &Inner,
    tenant: &str,
    request: &ListDeadLettersRequest,
) -> Result<Vec<DeadLetter>> {
    validate::tenant_id(tenant)?;
    if let Some(since) = &request.since {
        validate::timestamp("since", since)?;
    }
    let since = request.since.as_ref().map_or(0, clock::from_timestamp);
    let limit = match request.limit {
        0 => 100,
        n @ 1..=1_000 => n as usize,
        _ => return Err(KernelError::invalid("limit", "must be 1..=1000")),
    };
    inner
        .store
        .list_dead_letters(tenant, since, request.include_resolved, limit)
        .await
}

pub(crate) async fn get(inner: &Inner, tenant: &str, id: &str) -> Result<DeadLetter> {
    validate::tenant_id(tenant)?;
    dead_letter_id(id)?;
    inner
        .store
        .get_dead_letter(tenant, id)
        .await?
        .ok_or_else(|| KernelError::not_found(Kind::DeadLetter, id))
}

/// A dead letter's id is `<timer id>.<action index>`; anything longer is refused before the
/// store is asked.
fn dead_letter_id(id: &str) -> Result<()> {
    const MAX_ID: usize = 64;
    if id.is_empty() {
        return Err(KernelError::invalid("id", "is required"));
    }
    if id.len() > MAX_ID {
        return Err(KernelError::invalid(
            "id",
            format!("{} is not a dead letter id", crate::error::quote(id)),
        ));
    }
    Ok(())
}

/// Runs a dead-lettered action again, with its original idempotency key and the bundle's
/// retry policy. When it succeeds and nothing else of its timer is dead, a FAILED timer
/// becomes SETTLED.
pub(crate) async fn replay(inner: &Inner, tenant: &str, id: &str) -> Result<ReplayResult> {
    inner.ensure_leader()?;
    let mut letter = get(inner, tenant, id).await?;
    if letter.resolved_at.is_some() {
        return Err(KernelError::FailedPrecondition(format!(
            "dead letter {id} was already replayed successfully"
        )));
    }
    let timer = timers::get(inner, tenant, &letter.timer_id).await?;
    let action = letter.action.clone().ok_or_else(|| {
        KernelError::FailedPrecondition(format!(
            "dead letter {id} records a quarantined timer and holds no action to replay"
        ))
    })?;
    let clock = inner.clock.clone();
    let now = move || clock.now();
    let callback = Callback::of_dead_letter(&letter);
    let result = match callback {
        Some(callback) => {
            inner
                .executor
                .replay_callback(&timer, &action, callback, &now)
                .await
        }
        None => {
            inner
                .executor
                .replay(&timer, &action, letter.action_index as usize, &now)
                .await
        }
    };
    letter.replays += 1;
    letter.attempts += result.attempts;
    if result.ok {
        letter.resolved_at = Some(clock::to_timestamp(inner.clock.now()));
    } else {
        letter.last_error = result.detail.clone();
    }
    inner
        .store
        .put_dead_letters(std::slice::from_ref(&letter))
        .await?;
    let mut timer = timer;
    // Callbacks never decide the outcome: an unresolved one does not keep the timer FAILED.
    let unresolved = inner
        .store
        .timer_dead_letters(&timer.id)
        .await?
        .iter()
        .any(|l| l.resolved_at.is_none() && Callback::of_dead_letter(l).is_none());
    if result.ok && callback.is_none() && !unresolved && timer.status == TimerStatus::Failed as i32
    {
        let mut results = timer.action_results.clone();
        match results
            .iter_mut()
            .find(|r| !r.fallback && r.callback.is_empty() && r.index == result.index)
        {
            Some(slot) => *slot = result.clone(),
            None => results.push(result.clone()),
        }
        let transition = Transition {
            timer_id: timer.id.clone(),
            tenant_id: Some(tenant.to_owned()),
            to: TimerStatus::Settled,
            at: inner.clock.now(),
            reason: String::new(),
            actor: "dead-letter replay".into(),
            results,
        };
        let outcomes = inner
            .writer
            .enqueue(vec![Mutation::Transition(transition)])
            .await?;
        if let Some(Outcome::Transitioned(settled, _)) = outcomes.into_iter().next() {
            timer = settled;
        }
    }
    Ok(ReplayResult {
        dead_letter: Some(letter),
        result: Some(result),
        timer: Some(timer),
    })
}

/// Replays every unresolved dead letter of `tenant` created at or after `since`, oldest
/// first.
pub(crate) async fn replay_all(
    inner: &Inner,
    tenant: &str,
    since: Micros,
) -> Result<Vec<ReplayResult>> {
    inner.ensure_leader()?;
    validate::tenant_id(tenant)?;
    let mut replayed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = inner
            .store
            .list_dead_letters(tenant, since, false, 1_000)
            .await?;
        // A quarantined timer's letter holds no action: nothing to replay, and no reason to stop
        // replaying the others.
        let fresh: Vec<DeadLetter> = page
            .into_iter()
            .filter(|l| seen.insert(l.id.clone()) && l.action.is_some())
            .collect();
        if fresh.is_empty() {
            return Ok(replayed);
        }
        for letter in fresh {
            replayed.push(replay(inner, tenant, &letter.id).await?);
        }
    }
}
