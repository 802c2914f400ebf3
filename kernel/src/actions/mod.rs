//! The action executor. When a timer with actions fires, the kernel runs its bundle here: each
//! action with the bundle's retry policy (attempts, exponential backoff with jitter), at most
//! `concurrency` at once, the fallback once an action has failed `escalate_after_attempts` times.
//! The outcome goes back to the kernel: SETTLED when every action succeeded, FAILED with the
//! per-action results and a dead letter for each action that exhausted its retries.
//!
//! Kinds, one file each with its validation and its run: `webhook` (Standard-Webhooks-signed
//! JSON POST), `command` (argv, no shell, allow-listed executables), `file` (write or append
//! under a sandbox directory), `agent` prompt (MCP `tools/call` over streamable HTTP, a JSON
//! POST, or a NATS request). `bundle` runs a whole bundle; [`net`] is the outbound HTTP they
//! share, with its SSRF guard. Adding a kind means a file and one arm in [`validate`] and in
//! `Executor::attempt`. [`fairness`] limits how many attempts run at once, in all, per tenant
//! and per tenant and destination, so one tenant's slow receivers never delay another tenant;
//! [`flow`] adds the limits a caller sets on a webhook or agent prompt (`flow_control`).
//!
//! A receiver that answers HTTP 429 or 503 with `Retry-After` (delta-seconds or an HTTP-date)
//! is waited for: the next attempt starts after max(the backoff, Retry-After), and Retry-After
//! is capped at the retry policy's `max_backoff` (60 s when unset), so a receiver cannot park a
//! delivery for longer than its caller allowed. The attempt still counts toward `max_attempts`.
//! The bundle's `on_success` / `on_failure` callback runs after its actions (see [`bundle`]).

mod agent;
mod bundle;
mod command;
mod fairness;
mod file;
mod flow;
pub mod net;
mod webhook;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use minoots_proto::v1::{Action, RetryPolicy, Timer, action::Kind};

pub(crate) use self::bundle::validate as validate_bundle;
pub use self::{
    agent::AgentRegistry,
    bundle::{Callback, Outcome, backoff, retry_delay},
    command::{CommandAllowList, refused_env},
    fairness::Concurrency,
};
use crate::{
    clock::{Micros, from_duration},
    error::{KernelError, Result},
    json::timer_to_json,
    metrics::Metrics,
    signing::Signer,
    validate::{MAX_TEXT, text},
};

const MAX_ACTION_TIMEOUT: Micros = 600 * 1_000_000;

/// What actions may do, set by the operator.
#[derive(Debug, Clone)]
pub struct ActionConfig {
    pub signer: Signer,
    /// Non-public webhook and agent targets that are allowed anyway.
    pub address_policy: net::AddressPolicy,
    /// Executables command actions may run, each resolved to an absolute path when the server
    /// starts. Empty: none.
    pub commands: CommandAllowList,
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
    /// Action attempts running at once: in all, per tenant, per tenant and destination.
    pub concurrency: Concurrency,
    /// Agents agent prompts may name instead of giving a URL.
    pub agents: agent::AgentRegistry,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            signer: Signer::default(),
            address_policy: net::AddressPolicy::default(),
            commands: CommandAllowList::default(),
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
            concurrency: Concurrency::default(),
            agents: agent::AgentRegistry::default(),
        }
    }
}

/// Why an attempt failed. A permanent failure (a refusal: not allow-listed, a private address,
/// no secret) is not retried.
#[derive(Debug)]
pub(crate) struct Failure {
    pub detail: String,
    pub output: String,
    pub permanent: bool,
    /// The receiver's `Retry-After` on HTTP 429 or 503.
    pub retry_after: Option<RetryAfter>,
}

/// A receiver's `Retry-After`: delta-seconds, or an HTTP-date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    Delay(Duration),
    At(SystemTime),
}

impl RetryAfter {
    /// Parses a `Retry-After` value (RFC 9110 10.2.3); None when it is neither form.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // More digits than u64 holds is still "a very long time".
            let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(Self::Delay(Duration::from_secs(seconds)));
        }
        httpdate::parse_http_date(value).ok().map(Self::At)
    }

    /// How long from `now` (the kernel clock, micros since the epoch) the receiver asked to wait.
    pub fn wait_from(&self, now: Micros) -> Duration {
        match self {
            Self::Delay(delay) => *delay,
            Self::At(at) => {
                let now = SystemTime::UNIX_EPOCH + Duration::from_micros(now.max(0) as u64);
                at.duration_since(now).unwrap_or_default()
            }
        }
    }
}

/// One attempt's answer: Ok((detail, output)) or the failure.
pub(crate) type Attempt = Result<(String, String), Failure>;

/// A failure retrying cannot fix.
fn refused(why: impl Into<String>) -> Attempt {
    Err(Failure {
        detail: why.into(),
        output: String::new(),
        permanent: true,
        retry_after: None,
    })
}

/// A failure another attempt may not have.
fn failed(detail: impl Into<String>, output: String) -> Attempt {
    Err(Failure {
        detail: detail.into(),
        output,
        permanent: false,
        retry_after: None,
    })
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…[truncated]");
    }
    text
}

#[derive(Clone)]
pub struct Executor {
    inner: Arc<ExecutorInner>,
}

struct ExecutorInner {
    config: ActionConfig,
    http: reqwest::Client,
    limits: fairness::Limits,
    flows: flow::Flows,
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

/// Checks one action (the bundle's `actions[i]` or its fallback, named by `field`); errors
/// name the offending field.
pub(crate) fn validate(action: &Action, field: &str) -> Result<()> {
    let at = |name: &str| format!("{field}.{name}");
    text(&at("id"), &action.id, MAX_TEXT)?;
    match &action.kind {
        None => Err(KernelError::invalid(
            at("kind"),
            "unknown or missing action kind; set one of webhook, command, file, agent_prompt",
        )),
        Some(Kind::Webhook(webhook)) => webhook::validate(webhook, &at),
        Some(Kind::Command(command)) => command::validate(command, &at),
        Some(Kind::File(file)) => file::validate(file, &at),
        Some(Kind::AgentPrompt(prompt)) => agent::validate(prompt, &at),
    }
}

fn validate_timeout(field: &str, timeout: Option<&prost_types::Duration>) -> Result<()> {
    let Some(timeout) = timeout else {
        return Ok(());
    };
    let micros = from_duration(timeout);
    if micros <= 0 || micros > MAX_ACTION_TIMEOUT {
        return Err(KernelError::invalid(
            field,
            "must be positive and at most 10 minutes",
        ));
    }
    Ok(())
}

impl Executor {
    pub fn new(config: ActionConfig, metrics: Arc<Metrics>) -> Self {
        let http = net::client(Arc::new(config.address_policy.clone()));
        let limits = fairness::Limits::new(config.concurrency);
        Self {
            inner: Arc::new(ExecutorInner {
                config,
                http,
                limits,
                flows: flow::Flows::default(),
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

    /// One attempt of `action`. `follows` is set for a callback: what it follows (the
    /// `callback` and `outcome` fields of its delivery).
    pub(crate) async fn attempt(
        &self,
        timer: &Timer,
        action: &Action,
        key: &str,
        follows: Option<&serde_json::Value>,
    ) -> Attempt {
        match &action.kind {
            Some(Kind::Webhook(webhook)) => self.webhook(timer, webhook, key, follows).await,
            Some(Kind::Command(command)) => self.command(timer, command, key).await,
            Some(Kind::File(file)) => self.file(timer, file, key, follows).await,
            Some(Kind::AgentPrompt(prompt)) => self.agent_prompt(timer, prompt, key, follows).await,
            None => refused("the action has no kind"),
        }
    }

    fn timeout(&self, requested: Option<&prost_types::Duration>) -> Duration {
        to_std(requested).unwrap_or(self.inner.config.default_timeout)
    }

    /// The JSON body delivered for a fired timer: the same envelope as the `timer.fired` event.
    /// A callback's says what it follows: `type` is `timer.on_success` or `timer.on_failure`,
    /// and `callback` and `outcome` (the timer's final status, failure reason and action
    /// results) are added; `data` is the timer as it fired.
    pub fn delivery_body(timer: &Timer, key: &str, follows: Option<&serde_json::Value>) -> Vec<u8> {
        let mut body = serde_json::json!({
            "type": "timer.fired",
            "timestamp": timer.fired_at.as_ref().map(ToString::to_string),
            "idempotencyKey": key,
            "traceId": crate::trace::trace_id(&timer.trace_parent),
            "data": timer_to_json(timer),
        });
        if let Some(serde_json::Value::Object(follows)) = follows {
            for (name, value) in follows {
                body[name] = value.clone();
            }
            if let Some(callback) = follows.get("callback").and_then(|c| c.as_str()) {
                body["type"] = serde_json::json!(format!("timer.{callback}"));
            }
        }
        serde_json::to_vec(&body).expect("serialising a JSON value cannot fail")
    }
}
