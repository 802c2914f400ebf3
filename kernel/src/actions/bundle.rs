//! A timer's action bundle: its validation (how many actions, the retry policy, concurrency,
//! the fallback) and its run: every action with the bundle's retry policy, at most
//! `concurrency` at once, escalating to the fallback once an action has failed
//! `escalate_after_attempts` times, and a dead letter for each action that exhausted its
//! retries.

use std::time::Duration;

use futures_util::{StreamExt as _, stream};
use minoots_proto::v1::{Action, ActionBundle, ActionResult, DeadLetter, RetryPolicy, Timer};

use super::{Executor, idempotency_key, kind_name, to_std};
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

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.results.iter().all(|r| r.ok || r.fallback)
    }

    /// `action 0 (webhook): HTTP 500 after 3 attempts; ...`
    pub fn failure_reason(&self) -> String {
        self.results
            .iter()
            .filter(|r| !r.ok && !r.fallback)
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
                    Some(index),
                    &policy,
                    now,
                    escalation.as_ref(),
                )
            })
            .collect();
        let mut results: Vec<ActionResult> =
            stream::iter(runs).buffered(concurrency).collect().await;
        if let Some(fallback) = cell.into_inner() {
            results.push(fallback);
        }
        let dead_letters = results
            .iter()
            .filter(|r| !r.ok && !r.fallback)
            .map(|r| DeadLetter {
                id: format!("{}.{}", timer.id, r.index),
                tenant_id: timer.tenant_id.clone(),
                timer_id: timer.id.clone(),
                action_index: r.index,
                action: bundle.actions.get(r.index as usize).cloned(),
                idempotency_key: r.idempotency_key.clone(),
                attempts: r.attempts,
                last_error: r.detail.clone(),
                created_at: Some(to_timestamp(now())),
                resolved_at: None,
                replays: 0,
            })
            .collect();
        Outcome {
            results,
            dead_letters,
        }
    }

    /// One action with retries (`index` None is the fallback), escalating to the fallback once it
    /// has failed `escalation.after` times.
    pub(crate) fn run_action<'a>(
        &'a self,
        timer: &'a Timer,
        action: &'a Action,
        index: Option<usize>,
        policy: &'a RetryPolicy,
        now: &'a (dyn Fn() -> Micros + Sync),
        escalation: Option<&'a Escalation<'a>>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ActionResult> + Send + 'a>> {
        Box::pin(async move {
            let key = idempotency_key(timer, index);
            let destination = super::fairness::destination(action);
            let mut attempts = 0;
            let last = loop {
                attempts += 1;
                let attempt = {
                    // Held for this attempt only, never across the backoff.
                    let _permit = self
                        .inner
                        .limits
                        .acquire(&timer.tenant_id, destination.as_deref())
                        .await;
                    let span = tracing::info_span!(
                        "horology.kernel.action",
                        kind = kind_name(action),
                        index = ?index,
                        attempt = attempts,
                        idempotency_key = %key,
                    );
                    tracing::Instrument::instrument(self.attempt(timer, action, &key), span).await
                };
                let metrics = &self.inner.metrics;
                match attempt {
                    Ok(done) => {
                        metrics.action_attempts_ok.add(1);
                        break Ok(done);
                    }
                    Err(failed) => {
                        metrics.action_attempts_failed.add(1);
                        tracing::warn!(timer = %timer.id, action = ?index, attempts, error = %failed.detail, "action attempt failed");
                        if let Some(e) = escalation
                            && attempts == e.after
                        {
                            e.cell
                                .get_or_init(|| {
                                    self.run_action(timer, e.fallback, None, policy, now, None)
                                })
                                .await;
                        }
                        if attempts >= policy.max_attempts || failed.permanent {
                            break Err(failed);
                        }
                        tokio::time::sleep(backoff(policy, attempts, noise())).await;
                    }
                }
            };
            let (ok, (detail, output)) = match last {
                Ok(done) => (true, done),
                Err(failed) => (false, (failed.detail, failed.output)),
            };
            ActionResult {
                index: index.unwrap_or(0) as u32,
                action_id: action.id.clone(),
                kind: kind_name(action).to_owned(),
                ok,
                attempts,
                detail,
                output,
                fallback: index.is_none(),
                finished_at: Some(to_timestamp(now())),
                idempotency_key: key,
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
        self.run_action(timer, action, Some(index), &policy, now, None)
            .await
    }
}
