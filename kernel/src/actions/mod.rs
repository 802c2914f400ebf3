//! The action executor. When a timer with actions fires, the kernel runs its bundle here: each
//! action with the bundle's retry policy (attempts, exponential backoff with jitter), at most
//! `concurrency` at once, the fallback once an action has failed `escalate_after_attempts` times.
//! The outcome goes back to the kernel: SETTLED when every action succeeded, FAILED with the
//! per-action results and a dead letter for each action that exhausted its retries.
//!
//! Kinds: webhook (Standard-Webhooks-signed JSON POST), command (argv, no shell, allow-listed
//! executables), file (write or append under a sandbox directory), agent prompt (MCP `tools/call`
//! over streamable HTTP, a JSON POST, or a NATS request). See `run.rs`.

pub mod net;
mod run;

use std::{path::PathBuf, sync::Arc, time::Duration};

use futures_util::{StreamExt as _, stream};
use minoots_proto::v1::{Action, ActionResult, DeadLetter, RetryPolicy, Timer, action::Kind};
use tokio::sync::Semaphore;

use crate::{
    clock::{Micros, to_timestamp},
    json::timer_to_json,
    metrics::Metrics,
    signing::Signer,
};

/// What actions may do, set by the operator.
#[derive(Debug, Clone)]
pub struct ActionConfig {
    pub signer: Signer,
    /// Non-public webhook and agent targets that are allowed anyway.
    pub address_policy: net::AddressPolicy,
    /// Executables command actions may run (names as given, or absolute paths). Empty: none.
    pub commands: Vec<String>,
    /// Directory file actions write under. None: file actions are refused.
    pub file_sandbox: Option<PathBuf>,
    /// NATS for agent prompts over NATS (and, separately, event publishing).
    pub nats: Option<async_nats::Client>,
    /// Timeout of one attempt when the action sets none.
    pub default_timeout: Duration,
    /// Response bodies and command output kept in results, bytes.
    pub output_limit: usize,
    /// Retry policy of bundles that set none.
    pub default_retry: RetryPolicy,
    /// Actions running at once across every timer.
    pub max_in_flight: usize,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            signer: Signer::default(),
            address_policy: net::AddressPolicy::default(),
            commands: Vec::new(),
            file_sandbox: None,
            nats: None,
            default_timeout: Duration::from_secs(10),
            output_limit: 4_096,
            default_retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
                multiplier: 2.0,
                max_backoff: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                jitter: 0.2,
            },
            max_in_flight: 256,
        }
    }
}

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

/// Why an attempt failed. A permanent failure (a refusal: not allow-listed, a private address,
/// no secret) is not retried.
#[derive(Debug)]
pub(crate) struct Failure {
    pub detail: String,
    pub output: String,
    pub permanent: bool,
}

/// One attempt's answer: Ok((detail, output)) or the failure.
pub(crate) type Attempt = Result<(String, String), Failure>;

#[derive(Clone)]
pub struct Executor {
    inner: Arc<ExecutorInner>,
}

struct ExecutorInner {
    config: ActionConfig,
    http: reqwest::Client,
    in_flight: Semaphore,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

pub fn kind_name(action: &Action) -> &'static str {
    match action.kind {
        Some(Kind::Webhook(_)) => "webhook",
        Some(Kind::Command(_)) => "command",
        Some(Kind::File(_)) => "file",
        Some(Kind::AgentPrompt(_)) => "agent_prompt",
        None => "none",
    }
}

/// The idempotency key of one action of a fired timer, kept across retries and replays:
/// `{timer_id}:{index}` (`{timer_id}:fallback` for the fallback).
pub fn idempotency_key(timer: &Timer, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("{}:{i}", timer.id),
        None => format!("{}:fallback", timer.id),
    }
}

fn to_std(d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    (d.seconds >= 0 && d.nanos >= 0)
        .then(|| Duration::new(d.seconds as u64, d.nanos as u32))
        .filter(|d| !d.is_zero())
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
    let base = initial.as_secs_f64() * multiplier.powi(attempt.saturating_sub(1) as i32);
    let base = base.min(max.as_secs_f64());
    let jitter = policy.jitter.clamp(0.0, 1.0);
    // Jitter spreads retries of many timers over [base * (1 - jitter), base].
    Duration::from_secs_f64(base * (1.0 - jitter * noise))
}

fn noise() -> f64 {
    // Random enough for spreading retries; not for anything secret.
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0
}

impl Executor {
    pub fn new(config: ActionConfig, metrics: Arc<Metrics>) -> Self {
        let http = net::client(Arc::new(config.address_policy.clone()));
        let in_flight = Semaphore::new(config.max_in_flight.max(1));
        Self {
            inner: Arc::new(ExecutorInner {
                config,
                http,
                in_flight,
                metrics,
            }),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn config(&self) -> &ActionConfig {
        &self.inner.config
    }

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
            let mut attempts = 0;
            let last = loop {
                attempts += 1;
                let attempt = {
                    let _permit = self.inner.in_flight.acquire().await;
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

    /// The JSON body delivered for a fired timer: the same envelope as the `timer.fired` event.
    pub fn delivery_body(timer: &Timer, key: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": "timer.fired",
            "timestamp": timer.fired_at.as_ref().map(ToString::to_string),
            "idempotencyKey": key,
            "traceId": crate::trace::trace_id(&timer.trace_parent),
            "data": timer_to_json(timer),
        }))
        .expect("serialising a JSON value cannot fail")
    }
}
