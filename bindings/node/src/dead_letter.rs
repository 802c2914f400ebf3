//! Dead letters and replay results as plain JS objects.

use minoots::{json, proto};
use napi_derive::napi;

use crate::{
    error::{Result, to_js},
    timer::{Timer, time},
};

/// `since` as JS gives it: RFC 3339 text or a duration ago (`"24h"`).
pub fn since(text: Option<String>) -> Result<Option<prost_types::Timestamp>> {
    text.map(|t| minoots::parse_since(&t).map_err(to_js))
        .transpose()
}

#[napi(object)]
pub struct DeadLettersOptions {
    /// Only those created since: RFC 3339, or a duration ago (`"24h"`).
    pub since: Option<String>,
    /// Replayed ones too.
    pub include_resolved: Option<bool>,
}

#[napi(object)]
pub struct ReplayDeadLettersOptions {
    /// Only those created since: RFC 3339, or a duration ago (`"24h"`).
    pub since: Option<String>,
}

/// An action that exhausted its retries: what it was, how often it was tried, the last error.
#[napi(object)]
pub struct DeadLetter {
    pub id: String,
    pub tenant_id: String,
    pub timer_id: String,
    /// Position of the action in the timer's action bundle.
    pub action_index: u32,
    /// The action, in the REST JSON form.
    pub action: serde_json::Value,
    /// Kept by replays (the `webhook-id` of webhooks).
    pub idempotency_key: String,
    pub attempts: u32,
    pub last_error: String,
    pub created_at: Option<String>,
    /// Set once a replay succeeded.
    pub resolved_at: Option<String>,
    pub replays: u32,
    /// The REST JSON form.
    pub json: serde_json::Value,
}

impl From<proto::DeadLetter> for DeadLetter {
    fn from(l: proto::DeadLetter) -> Self {
        let json = json::dead_letter_to_json(&l);
        Self {
            action: json["action"].clone(),
            json,
            created_at: time(&l.created_at),
            resolved_at: time(&l.resolved_at),
            action_index: l.action_index,
            attempts: l.attempts,
            replays: l.replays,
            id: l.id,
            tenant_id: l.tenant_id,
            timer_id: l.timer_id,
            idempotency_key: l.idempotency_key,
            last_error: l.last_error,
        }
    }
}

/// How one run of an action went.
#[napi(object)]
pub struct ActionResult {
    pub index: u32,
    pub action_id: String,
    /// `webhook`, `command`, `file` or `agent_prompt`.
    pub kind: String,
    pub ok: bool,
    pub attempts: u32,
    /// What happened: `HTTP 200`, `exit status 0`, or the last error.
    pub detail: String,
    /// Response body or command output, truncated.
    pub output: String,
    pub finished_at: Option<String>,
}

impl From<proto::ActionResult> for ActionResult {
    fn from(r: proto::ActionResult) -> Self {
        Self {
            finished_at: time(&r.finished_at),
            index: r.index,
            action_id: r.action_id,
            kind: r.kind,
            ok: r.ok,
            attempts: r.attempts,
            detail: r.detail,
            output: r.output,
        }
    }
}

/// The outcome of replaying a dead letter: the letter (resolved if the run succeeded), the run,
/// and the timer after it (`settled` once nothing of it is dead any more).
#[napi(object)]
pub struct ReplayResult {
    pub dead_letter: Option<DeadLetter>,
    pub result: Option<ActionResult>,
    pub timer: Option<Timer>,
}

impl From<proto::ReplayResult> for ReplayResult {
    fn from(r: proto::ReplayResult) -> Self {
        Self {
            dead_letter: r.dead_letter.map(DeadLetter::from),
            result: r.result.map(ActionResult::from),
            timer: r.timer.map(Timer::from),
        }
    }
}
