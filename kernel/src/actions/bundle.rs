//! A timer's action bundle: its validation (how many actions, the retry policy, concurrency,
//! the fallback) and its run: every action with the bundle's retry policy, at most
//! `concurrency` at once, escalating to the fallback once an action has failed
//! `escalate_after_attempts` times, and a dead letter for each action that exhausted its
//! retries.
//!
//! Then at most one callback: `on_success` when every action succeeded, `on_failure` when the
//! bundle failed for good. It runs like an action (the retry policy, signing, allow-lists,
//! fairness and flow control), with the idempotency key `{timer_id}:on_success` (or
//! `:on_failure`), and its delivery says what it follows (`callback`, `outcome`). Its result is
//! recorded with `callback` set, and when it fails for good it is dead-lettered
//! (`{timer_id}.on_success`), but it never changes the timer's outcome.

use std::time::Duration;

use futures_util::{StreamExt as _, stream};
use minoots_proto::v1::{Action, ActionBundle, ActionResult, DeadLetter, RetryPolicy, Timer};

use super::{Executor, RetryAfter, idempotency_key, kind_name, to_std};
use crate::{
    backoff::{Backoff, noise},
    clock::{Micros, from_duration, to_timestamp},
    error::{KernelError, Result},
};

const MAX_ACTIONS: usize = 32;

/// The result of running a timer's bundle.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub results: Vec<ActionResult>,
    pub dead_letters: Vec<DeadLetter>,
}

/// A bundle's callback, run after its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    OnSuccess,
    OnFailure,
}

impl Callback {
    /// `on_success` / `on_failure`: the name in results, keys and dead-letter ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::OnSuccess => "on_success",
            Self::OnFailure => "on_failure",
        }
    }

    /// The callback a dead letter records, from its id `{timer_id}.on_success`.
    pub fn of_dead_letter(letter: &DeadLetter) -> Option<Self> {
        match letter
            .id
            .strip_prefix(letter.timer_id.as_str())?
            .strip_prefix('.')?
        {
            "on_success" => Some(Self::OnSuccess),
            "on_failure" => Some(Self::OnFailure),
            _ => None,
        }
    }

    pub fn action(self, bundle: &ActionBundle) -> Option<&Action> {
        match self {
            Self::OnSuccess => bundle.on_success.as_ref(),
            Self::OnFailure => bundle.on_failure.as_ref(),
        }
    }

    /// What a callback's delivery adds: `callback`, and the `outcome` it follows (the status
    /// the timer settles or fails with, the failure reason, the actions' results).
    fn follows(self, results: &[ActionResult], failure_reason: &str) -> serde_json::Value {
        let status = match self {
            Self::OnSuccess => "settled",
            Self::OnFailure => "failed",
        };
        let mut outcome = serde_json::json!({
            "status": status,
            "actionResults": results
                .iter()
                .filter(|r| r.callback.is_empty())
                .map(crate::json::action_result_to_json)
                .collect::<Vec<_>>(),
        });
        if !failure_reason.is_empty() {
            outcome["failureReason"] = serde_json::json!(failure_reason);
        }
        serde_json::json!({"callback": self.name(), "outcome": outcome})
    }
}

/// Which of a bundle's actions runs: `actions[i]`, the fallback, or a callback.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Action(usize),
    Fallback,
    Callback(Callback),
}

impl Slot {
    /// The idempotency key, kept across retries and replays: `{timer_id}:{index}`,
    /// `{timer_id}:fallback`, `{timer_id}:on_success`.
    fn key(self, timer: &Timer) -> String {
        match self {
            Self::Action(i) => idempotency_key(timer, Some(i)),
            Self::Fallback => idempotency_key(timer, None),
            Self::Callback(c) => format!("{}:{}", timer.id, c.name()),
        }
    }
}

impl Outcome {
    /// Whether the timer settles: every action succeeded (callbacks do not count).
    pub fn succeeded(&self) -> bool {
        self.results
            .iter()
            .all(|r| r.ok || r.fallback || !r.callback.is_empty())
    }

    /// `action 0 (webhook): HTTP 500 after 3 attempts; ...`
    pub fn failure_reason(&self) -> String {
        self.results
            .iter()
            .filter(|r| !r.ok && !r.fallback && r.callback.is_empty())
            .map(|r| {
                format!(
                    "action {} ({}{}): {} after {} attempt{}",
                    r.index,
                    r.kind,
                    if r.action_id.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", r.action_id)
                    },
                    r.detail,
                    r.attempts,
                    if r.attempts == 1 { "" } else { "s" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub(crate) struct Escalation<'a> {
    cell: &'a tokio::sync::OnceCell<ActionResult>,
    fallback: &'a Action,
    after: u32,
}

/// Checks a bundle and each of its actions; errors name the field by its path in the request.
pub(crate) fn validate(bundle: &ActionBundle) -> Result<()> {
    if bundle.actions.len() > MAX_ACTIONS {
        return Err(KernelError::invalid(
            "action_bundle.actions",
            format!("at most {MAX_ACTIONS} actions"),
        ));
    }
    for (i, a) in bundle.actions.iter().enumerate() {
        super::validate(a, &format!("action_bundle.actions[{i}]"))?;
    }
    if let Some(policy) = &bundle.retry_policy {
        retry_policy(policy)?;
    }
    if bundle.concurrency > 64 {
        return Err(KernelError::invalid(
            "action_bundle.concurrency",
            "at most 64",
        ));
    }
    for (callback, field) in [
        (&bundle.on_success, "action_bundle.on_success"),
        (&bundle.on_failure, "action_bundle.on_failure"),
    ] {
        if let Some(callback) = callback {
            super::validate(callback, field)?;
        }
    }
    match &bundle.fallback {
        Some(fallback) => super::validate(fallback, "action_bundle.fallback")?,
        None if bundle.escalate_after_attempts > 0 => {
            return Err(KernelError::invalid(
                "action_bundle.escalate_after_attempts",
                "needs a fallback action",
            ));
        }
        None => {}
    }
    Ok(())
}

fn retry_policy(policy: &RetryPolicy) -> Result<()> {
    let field = |name: &str| format!("action_bundle.retry_policy.{name}");
    if policy.max_attempts > 100 {
        return Err(KernelError::invalid(field("max_attempts"), "at most 100"));
    }
    if policy.multiplier != 0.0 && !(1.0..=10.0).contains(&policy.multiplier) {
        return Err(KernelError::invalid(
            field("multiplier"),
            "must be between 1.0 and 10.0",
        ));
    }
    if !(0.0..=1.0).contains(&policy.jitter) {
        return Err(KernelError::invalid(
            field("jitter"),
            "must be between 0.0 and 1.0",
        ));
    }
    let day = 86_400 * 1_000_000;
    let initial = policy
        .initial_backoff
        .as_ref()
        .map(from_duration)
        .unwrap_or(0);
    let max = policy.max_backoff.as_ref().map(from_duration).unwrap_or(0);
    if !(0..=day).contains(&initial) {
        return Err(KernelError::invalid(
            field("initial_backoff"),
            "must be between 0 and 24h",
        ));
    }
    if !(0..=day).contains(&max) {
        return Err(KernelError::invalid(
            field("max_backoff"),
            "must be between 0 and 24h",
        ));
    }
    if max > 0 && initial > max {
        return Err(KernelError::invalid(
            field("max_backoff"),
            "must not be less than initial_backoff",
        ));
    }
    Ok(())
}

/// Backoff before attempt `attempt + 1` (attempt counts from 1), with jitter drawn from `noise`
/// in [0, 1).
pub fn backoff(policy: &RetryPolicy, attempt: u32, noise: f64) -> Duration {
    let initial = to_std(policy.initial_backoff.as_ref()).unwrap_or(Duration::from_secs(1));
    let max = to_std(policy.max_backoff.as_ref()).unwrap_or(Duration::from_secs(60));
    let multiplier = if policy.multiplier >= 1.0 {
        policy.multiplier
    } else {
        2.0
    };
    Backoff::new(initial, multiplier, max)
        .with_jitter(policy.jitter)
        .delay(attempt, noise)
}

/// The wait before attempt `attempt + 1`: the backoff, or longer when the receiver asked for
/// it with `Retry-After` (measured from `now`, the kernel clock), which is capped at the
/// policy's `max_backoff` (60 s when unset).
pub fn retry_delay(
    policy: &RetryPolicy,
    attempt: u32,
    noise: f64,
    retry_after: Option<&RetryAfter>,
    now: Micros,
) -> Duration {
    let backoff = backoff(policy, attempt, noise);
    let Some(asked) = retry_after.map(|r| r.wait_from(now)) else {
        return backoff;
    };
    let cap = to_std(policy.max_backoff.as_ref()).unwrap_or(Duration::from_secs(60));
    backoff.max(asked.min(cap))
}

impl Executor {
    fn policy(&self, timer: &Timer) -> RetryPolicy {
        let mut policy = timer
            .action_bundle
            .as_ref()
            .and_then(|b| b.retry_policy)
            .unwrap_or(self.inner.config.default_retry);
        if policy.max_attempts == 0 {
            policy.max_attempts = self.inner.config.default_retry.max_attempts.max(1);
        }
        policy
    }

    /// Runs every action of a fired timer's bundle and reports the outcome. `now` stamps
    /// results and dead letters.
    pub async fn run_bundle(&self, timer: &Timer, now: &(dyn Fn() -> Micros + Sync)) -> Outcome {
        let Some(bundle) = timer.action_bundle.as_ref() else {
            return Outcome {
                results: Vec::new(),
                dead_letters: Vec::new(),
            };
        };
        let policy = self.policy(timer);
        let concurrency = match bundle.concurrency {
            0 => bundle.actions.len().max(1),
            n => n as usize,
        };
        // The fallback runs at most once per execution, when the first action reaches the
        // escalation threshold.
        let cell = tokio::sync::OnceCell::new();
        let escalation = bundle
            .fallback
            .as_ref()
            .filter(|_| bundle.escalate_after_attempts > 0)
            .map(|fallback| Escalation {
                cell: &cell,
                fallback,
                after: bundle.escalate_after_attempts,
            });
        let runs: Vec<_> = bundle
            .actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                self.run_action(
                    timer,
                    action,
                    Slot::Action(index),
                    &policy,
                    now,
                    escalation.as_ref(),
                    None,
                )
            })
            .collect();
        let mut results: Vec<ActionResult> =
            stream::iter(runs).buffered(concurrency).collect().await;
        if let Some(fallback) = cell.into_inner() {
            results.push(fallback);
        }
        let mut outcome = Outcome {
            results,
            dead_letters: Vec::new(),
        };
        let callback = if outcome.succeeded() {
            Callback::OnSuccess
        } else {
            Callback::OnFailure
        };
        if let Some(action) = callback.action(bundle) {
            let follows = callback.follows(&outcome.results, &outcome.failure_reason());
            let result = self
                .run_action(
                    timer,
                    action,
                    Slot::Callback(callback),
                    &policy,
                    now,
                    None,
                    Some(&follows),
                )
                .await;
            outcome.results.push(result);
        }
        outcome.dead_letters = outcome
            .results
            .iter()
            .filter(|r| !r.ok && !r.fallback)
            .map(|r| {
                let (id, action) = match r.callback.as_str() {
                    "" => (
                        format!("{}.{}", timer.id, r.index),
                        bundle.actions.get(r.index as usize).cloned(),
                    ),
                    name => (
                        format!("{}.{name}", timer.id),
                        callback.action(bundle).cloned(),
                    ),
                };
                DeadLetter {
                    id,
                    tenant_id: timer.tenant_id.clone(),
                    timer_id: timer.id.clone(),
                    action_index: r.index,
                    action,
                    idempotency_key: r.idempotency_key.clone(),
                    attempts: r.attempts,
                    last_error: r.detail.clone(),
                    created_at: Some(to_timestamp(now())),
                    resolved_at: None,
                    replays: 0,
                }
            })
            .collect();
        outcome
    }

    /// One action with retries, escalating to the fallback once it has failed
    /// `escalation.after` times. `follows` is what a callback follows.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_action<'a>(
        &'a self,
        timer: &'a Timer,
        action: &'a Action,
        slot: Slot,
        policy: &'a RetryPolicy,
        now: &'a (dyn Fn() -> Micros + Sync),
        escalation: Option<&'a Escalation<'a>>,
        follows: Option<&'a serde_json::Value>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ActionResult> + Send + 'a>> {
        Box::pin(async move {
            let key = slot.key(timer);
            let destination = super::fairness::destination(action);
            let flow = super::fairness::flow_control(action);
            let flow_key = flow.and_then(|f| match f.key.as_str() {
                "" => destination.clone(),
                key => Some(key.to_owned()),
            });
            let mut attempts = 0;
            let last = loop {
                attempts += 1;
                let attempt = {
                    // Held for this attempt only, never across the backoff. The caller's flow
                    // control is the narrowest limit, so it is waited for first, holding
                    // nothing else.
                    let _flow = match (flow, &flow_key) {
                        (Some(flow), Some(flow_key)) => Some(
                            self.inner
                                .flows
                                .acquire(&timer.tenant_id, flow_key, flow)
                                .await,
                        ),
                        _ => None,
                    };
                    let _permit = self
                        .inner
                        .limits
                        .acquire(&timer.tenant_id, destination.as_deref())
                        .await;
                    let span = tracing::info_span!(
                        "horology.kernel.action",
                        kind = kind_name(action),
                        slot = ?slot,
                        attempt = attempts,
                        idempotency_key = %key,
                    );
                    tracing::Instrument::instrument(
                        self.attempt(timer, action, &key, follows),
                        span,
                    )
                    .await
                };
                let metrics = &self.inner.metrics;
                match attempt {
                    Ok(done) => {
                        metrics.action_attempts_ok.add(1);
                        break Ok(done);
                    }
                    Err(failed) => {
                        metrics.action_attempts_failed.add(1);
                        tracing::warn!(timer = %timer.id, action = ?slot, attempts, error = %failed.detail, "action attempt failed");
                        if let Some(e) = escalation
                            && attempts == e.after
                        {
                            e.cell
                                .get_or_init(|| {
                                    self.run_action(
                                        timer,
                                        e.fallback,
                                        Slot::Fallback,
                                        policy,
                                        now,
                                        None,
                                        None,
                                    )
                                })
                                .await;
                        }
                        if attempts >= policy.max_attempts || failed.permanent {
                            break Err(failed);
                        }
                        let wait = retry_delay(
                            policy,
                            attempts,
                            noise(),
                            failed.retry_after.as_ref(),
                            now(),
                        );
                        tokio::time::sleep(wait).await;
                    }
                }
            };
            let (ok, (detail, output)) = match last {
                Ok(done) => (true, done),
                Err(failed) => (false, (failed.detail, failed.output)),
            };
            ActionResult {
                index: match slot {
                    Slot::Action(i) => i as u32,
                    Slot::Fallback | Slot::Callback(_) => 0,
                },
                action_id: action.id.clone(),
                kind: kind_name(action).to_owned(),
                ok,
                attempts,
                detail,
                output,
                fallback: matches!(slot, Slot::Fallback),
                finished_at: Some(to_timestamp(now())),
                idempotency_key: key,
                callback: match slot {
                    Slot::Callback(c) => c.name().to_owned(),
                    Slot::Action(_) | Slot::Fallback => String::new(),
                },
            }
        })
    }

    /// Runs one action of `timer` again (a dead-letter replay): same idempotency key, the
    /// bundle's retry policy, no escalation.
    pub async fn replay(
        &self,
        timer: &Timer,
        action: &Action,
        index: usize,
        now: &(dyn Fn() -> Micros + Sync),
    ) -> ActionResult {
        let policy = self.policy(timer);
        self.run_action(timer, action, Slot::Action(index), &policy, now, None, None)
            .await
    }

    /// Runs a dead-lettered callback of a finished `timer` again: same key, and a delivery that
    /// says what it follows, from the timer's recorded outcome.
    pub async fn replay_callback(
        &self,
        timer: &Timer,
        action: &Action,
        callback: Callback,
        now: &(dyn Fn() -> Micros + Sync),
    ) -> ActionResult {
        let policy = self.policy(timer);
        let follows = callback.follows(&timer.action_results, &timer.failure_reason);
        self.run_action(
            timer,
            action,
            Slot::Callback(callback),
            &policy,
            now,
            None,
            Some(&follows),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const NOW: Micros = 1_763_900_000_000_000;

    fn policy(max_backoff_secs: Option<i64>) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            multiplier: 2.0,
            max_backoff: max_backoff_secs
                .map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
            jitter: 0.0,
        }
    }

    #[test]
    fn retry_after_parses_delta_seconds_and_http_dates() {
        assert_eq!(
            RetryAfter::parse(" 120 "),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        // IMF-fixdate, and the two obsolete forms recipients must accept.
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(RetryAfter::parse(date), Some(RetryAfter::At(at)), "{date}");
        }
        for junk in ["", "-1", "1.5", "soon"] {
            assert_eq!(RetryAfter::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn the_wait_is_the_longer_of_backoff_and_retry_after_capped_at_max_backoff() {
        let seconds = |s| RetryAfter::Delay(Duration::from_secs(s));
        let p = policy(Some(30));
        // No Retry-After: the backoff (1 s, then 2 s).
        assert_eq!(retry_delay(&p, 2, 0.0, None, NOW), Duration::from_secs(2));
        // Longer than the backoff: waited for.
        assert_eq!(
            retry_delay(&p, 1, 0.0, Some(&seconds(7)), NOW),
            Duration::from_secs(7)
        );
        // Shorter: the backoff still holds.
        assert_eq!(
            retry_delay(&p, 3, 0.0, Some(&seconds(1)), NOW),
            Duration::from_secs(4)
        );
        // Capped at max_backoff, 60 s when the policy sets none.
        assert_eq!(
            retry_delay(&p, 1, 0.0, Some(&seconds(3_600)), NOW),
            Duration::from_secs(30)
        );
        assert_eq!(
            retry_delay(&policy(None), 1, 0.0, Some(&seconds(3_600)), NOW),
            Duration::from_secs(60)
        );
        // An HTTP-date counts from the kernel's clock; one already past asks for nothing.
        let now = UNIX_EPOCH + Duration::from_micros(NOW as u64);
        let at = |offset: i64| {
            RetryAfter::At(if offset >= 0 {
                now + Duration::from_secs(offset as u64)
            } else {
                now - Duration::from_secs(offset.unsigned_abs())
            })
        };
        assert_eq!(
            retry_delay(&p, 1, 0.0, Some(&at(12)), NOW),
            Duration::from_secs(12)
        );
        assert_eq!(
            retry_delay(&p, 1, 0.0, Some(&at(-12)), NOW),
            Duration::from_secs(1)
        );
    }
}
