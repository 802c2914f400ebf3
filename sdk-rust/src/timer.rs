use std::{collections::BTreeMap, time::Duration};

use minoots_proto::{
    json::{action_bundle_from_json, json_to_struct},
    v1::{
        Action, FlowControl, KeyPolicy, LatePolicy, ScheduleTimerRequest, UpdateTimerRequest,
        WebhookAction, action, schedule_timer_request::Schedule, update_timer_request,
    },
};

use crate::{Error, parse_duration};

/// When a timer fires, relative to now: a [`Duration`] or text such as `"15m"` or `"1h30m"`
/// (see [`parse_duration`]).
#[derive(Debug, Clone)]
pub struct After(Result<Duration, Error>);

impl After {
    /// The length, or why the text was not one.
    pub fn into_result(self) -> Result<Duration, Error> {
        self.0
    }
}

impl From<Duration> for After {
    fn from(d: Duration) -> Self {
        Self(Ok(d))
    }
}

impl From<&str> for After {
    fn from(text: &str) -> Self {
        Self(parse_duration(text))
    }
}

impl From<String> for After {
    fn from(text: String) -> Self {
        Self(parse_duration(&text))
    }
}

/// What to schedule: a name and when, plus labels, metadata, actions and an idempotency key.
/// Input mistakes (a bad duration, metadata that is not an object) surface as
/// [`Error::InvalidArgument`] naming the field when the spec is scheduled.
#[derive(Debug, Clone)]
pub struct TimerSpec {
    request: ScheduleTimerRequest,
    invalid: Option<Error>,
}

impl TimerSpec {
    /// Fires `after` from now: `TimerSpec::new("standup", "15m")`.
    pub fn new(name: impl Into<String>, after: impl Into<After>) -> Self {
        let mut spec = Self::named(name, None);
        match after.into().0 {
            Ok(after) => {
                spec.request.schedule = Some(Schedule::Duration(prost_types::Duration {
                    seconds: after.as_secs() as i64,
                    nanos: after.subsec_nanos() as i32,
                }));
            }
            Err(e) => spec.invalid = Some(e),
        }
        spec
    }

    /// Fires at a point in time.
    pub fn at(name: impl Into<String>, fire_at: prost_types::Timestamp) -> Self {
        Self::named(name, Some(Schedule::FireAt(fire_at)))
    }

    /// Fires at an RFC 3339 time such as `2026-11-24T09:00:00Z`.
    pub fn at_rfc3339(name: impl Into<String>, fire_at: &str) -> Self {
        match fire_at.parse::<prost_types::Timestamp>() {
            Ok(at) => Self::at(name, at),
            Err(_) => Self::named(name, None).invalid(Error::InvalidArgument {
                field: "fire_at".into(),
                message: format!("{fire_at:?} is not an RFC 3339 time"),
            }),
        }
    }

    fn named(name: impl Into<String>, schedule: Option<Schedule>) -> Self {
        Self {
            request: ScheduleTimerRequest {
                name: name.into(),
                schedule,
                ..Default::default()
            },
            invalid: None,
        }
    }

    fn invalid(mut self, error: Error) -> Self {
        self.invalid.get_or_insert(error);
        self
    }

    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.labels.insert(key.into(), value.into());
        self
    }

    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.request.labels.extend(labels);
        self
    }

    /// Free-form JSON object stored with the timer and delivered with its events.
    pub fn metadata(mut self, metadata: &serde_json::Value) -> Self {
        match json_to_struct("metadata", metadata) {
            Ok(s) => self.request.metadata = Some(s),
            Err(e) => return self.invalid(e.into()),
        }
        self
    }

    /// Actions to run when the timer fires, in the JSON form the REST API takes:
    /// `{"actions": [{"type": "webhook", "url": "..."}], "retryPolicy": {...}}`.
    pub fn action_bundle(mut self, bundle: &serde_json::Value) -> Self {
        match action_bundle_from_json(bundle) {
            Ok(b) => self.request.action_bundle = Some(b),
            Err(e) => return self.invalid(e.into()),
        }
        self
    }

    /// Adds a webhook action (POST of the signed event) to the bundle.
    pub fn webhook(self, url: impl Into<String>) -> Self {
        self.push_webhook(url.into(), None)
    }

    /// Adds a webhook action whose deliveries are limited by `flow` (at most
    /// `max_concurrent` at once, `max_per_second` started a second, per tenant and `key`; the
    /// key defaults to the URL's `host:port`).
    pub fn webhook_with_flow_control(self, url: impl Into<String>, flow: FlowControl) -> Self {
        self.push_webhook(url.into(), Some(flow))
    }

    /// A webhook called once after the actions when every one of them succeeded; its body says
    /// which timer and outcome it follows (`"type": "timer.on_success"`).
    pub fn on_success_webhook(mut self, url: impl Into<String>) -> Self {
        self.bundle().on_success = Some(webhook_action(url.into(), None));
        self
    }

    /// A webhook called once after the actions when the bundle failed for good
    /// (`"type": "timer.on_failure"`).
    pub fn on_failure_webhook(mut self, url: impl Into<String>) -> Self {
        self.bundle().on_failure = Some(webhook_action(url.into(), None));
        self
    }

    fn push_webhook(mut self, url: String, flow: Option<FlowControl>) -> Self {
        self.bundle().actions.push(webhook_action(url, flow));
        self
    }

    fn bundle(&mut self) -> &mut minoots_proto::v1::ActionBundle {
        self.request
            .action_bundle
            .get_or_insert_with(Default::default)
    }

    /// Scheduling twice with the same key returns the first timer, which also makes
    /// [`crate::Client::schedule`] safe to retry.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.request.idempotency_key = key.into();
        self
    }

    pub fn requested_by(mut self, who: impl Into<String>) -> Self {
        self.request.requested_by = who.into();
        self
    }

    /// What scheduling with a key a timer already holds does: REJECT (the default), REPLACE
    /// (the pending timer takes this request: a sliding debounce) or KEEP.
    pub fn key_policy(mut self, policy: KeyPolicy) -> Self {
        self.request.key_policy = policy as i32;
        self
    }

    /// What a fire_at already past means: FIRE at once (the default) or REJECT.
    pub fn late_policy(mut self, policy: LatePolicy) -> Self {
        self.request.late_policy = policy as i32;
        self
    }

    /// The request to send, or the first input mistake.
    pub fn into_request(self) -> Result<ScheduleTimerRequest, Error> {
        match self.invalid {
            Some(e) => Err(e),
            None => Ok(self.request),
        }
    }
}

fn webhook_action(url: String, flow_control: Option<FlowControl>) -> Action {
    Action {
        kind: Some(action::Kind::Webhook(WebhookAction {
            url,
            flow_control,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A schedule request as loose optional fields, the shape language bindings receive (keyword
/// arguments, an options object, a record), in the REST vocabulary: exactly one of `duration`
/// (`"15m"`, or a [`Duration`]) and `fire_at` (RFC 3339);
/// `metadata` a JSON object; `action_bundle` the REST JSON form. Mistakes surface when the spec
/// is scheduled, naming the field.
#[derive(Debug, Clone, Default)]
pub struct TimerOptions {
    pub name: String,
    /// Fires this long from now.
    pub duration: Option<After>,
    pub fire_at: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub metadata: Option<serde_json::Value>,
    pub action_bundle: Option<serde_json::Value>,
    /// Shorthand for one webhook action.
    pub webhook: Option<String>,
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    /// `reject` (the default), `replace` or `keep`.
    pub key_policy: Option<String>,
    /// `fire` (the default) or `reject`.
    pub late_policy: Option<String>,
}

/// A key policy by name: `reject`, `replace` or `keep` (any case).
pub fn key_policy(name: &str) -> Result<KeyPolicy, Error> {
    KeyPolicy::from_str_name(&format!("KEY_POLICY_{}", name.trim().to_ascii_uppercase()))
        .filter(|p| *p != KeyPolicy::Unspecified)
        .ok_or_else(|| Error::InvalidArgument {
            field: "key_policy".into(),
            message: format!("{name:?} is not a key policy (reject, replace or keep)"),
        })
}

/// A late policy by name: `fire` or `reject` (any case).
pub fn late_policy(name: &str) -> Result<LatePolicy, Error> {
    LatePolicy::from_str_name(&format!("LATE_POLICY_{}", name.trim().to_ascii_uppercase()))
        .filter(|p| *p != LatePolicy::Unspecified)
        .ok_or_else(|| Error::InvalidArgument {
            field: "late_policy".into(),
            message: format!("{name:?} is not a late policy (fire or reject)"),
        })
}

impl From<TimerOptions> for TimerSpec {
    fn from(o: TimerOptions) -> Self {
        let invalid = |field: &str, message: &str| Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        };
        let mut spec = match (o.duration, o.fire_at) {
            (Some(_), Some(_)) => Self::named(o.name, None)
                .invalid(invalid("fire_at", "give duration or fire_at, not both")),
            (Some(duration), None) => Self::new(o.name, duration),
            (None, Some(at)) => Self::at_rfc3339(o.name, &at),
            (None, None) => Self::named(o.name, None).invalid(invalid(
                "duration",
                "give duration (such as \"15m\") or fire_at",
            )),
        };
        spec = spec.labels(o.labels);
        if let Some(metadata) = &o.metadata {
            spec = spec.metadata(metadata);
        }
        if let Some(bundle) = &o.action_bundle {
            spec = spec.action_bundle(bundle);
        }
        if let Some(url) = o.webhook {
            spec = spec.webhook(url);
        }
        if let Some(key) = o.idempotency_key {
            spec = spec.idempotency_key(key);
        }
        if let Some(who) = o.requested_by {
            spec = spec.requested_by(who);
        }
        if let Some(name) = o.key_policy {
            spec = match key_policy(&name) {
                Ok(policy) => spec.key_policy(policy),
                Err(e) => spec.invalid(e),
            };
        }
        if let Some(name) = o.late_policy {
            spec = match late_policy(&name) {
                Ok(policy) => spec.late_policy(policy),
                Err(e) => spec.invalid(e),
            };
        }
        spec
    }
}

/// A change to a pending timer, named by `id` or `idempotency_key`, as loose optional fields
/// (what bindings receive): each field given replaces the timer's; `duration` (`"15m"`) or
/// `fire_at` (RFC 3339) moves its fire time; `labels` and `metadata` are replaced whole;
/// `action_bundle` (REST JSON form) or `webhook` (one webhook action) replaces its actions.
#[derive(Debug, Clone, Default)]
pub struct TimerUpdate {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    pub duration: Option<After>,
    pub fire_at: Option<String>,
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<serde_json::Value>,
    pub action_bundle: Option<serde_json::Value>,
    pub webhook: Option<String>,
    /// Apply only if the timer is still at this state_version (else [`Error::Aborted`]).
    pub expected_state_version: Option<u64>,
    /// `fire` (the default) or `reject`, for a new fire_at already past.
    pub late_policy: Option<String>,
    pub requested_by: Option<String>,
}

impl TimerUpdate {
    /// Changes the timer with this id.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            ..Default::default()
        }
    }

    /// Changes the timer scheduled with this idempotency key.
    pub fn key(key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..Default::default()
        }
    }

    /// Fires this long from now: `"15m"`.
    pub fn duration(mut self, duration: impl Into<After>) -> Self {
        self.duration = Some(duration.into());
        self
    }

    /// Fires at an RFC 3339 time.
    pub fn fire_at(mut self, fire_at: impl Into<String>) -> Self {
        self.fire_at = Some(fire_at.into());
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = Some(labels);
        self
    }

    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    pub fn action_bundle(mut self, bundle: serde_json::Value) -> Self {
        self.action_bundle = Some(bundle);
        self
    }

    pub fn expected_state_version(mut self, version: u64) -> Self {
        self.expected_state_version = Some(version);
        self
    }

    /// The request to send, or the first input mistake (naming the field).
    pub fn into_request(self) -> Result<UpdateTimerRequest, Error> {
        let invalid = |field: &str, message: &str| Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        };
        let schedule = match (self.duration, self.fire_at) {
            (Some(_), Some(_)) => {
                return Err(invalid("fire_at", "give duration or fire_at, not both"));
            }
            (Some(After(duration)), None) => {
                let duration = duration?;
                Some(update_timer_request::Schedule::Duration(
                    prost_types::Duration {
                        seconds: duration.as_secs() as i64,
                        nanos: duration.subsec_nanos() as i32,
                    },
                ))
            }
            (None, Some(at)) => Some(update_timer_request::Schedule::FireAt(
                at.parse::<prost_types::Timestamp>()
                    .map_err(|_| invalid("fire_at", &format!("{at:?} is not an RFC 3339 time")))?,
            )),
            (None, None) => None,
        };
        let mut bundle = match &self.action_bundle {
            Some(json) => Some(action_bundle_from_json(json)?),
            None => None,
        };
        if let Some(url) = self.webhook {
            bundle
                .get_or_insert_with(Default::default)
                .actions
                .push(minoots_proto::v1::Action {
                    kind: Some(action::Kind::Webhook(WebhookAction {
                        url,
                        ..Default::default()
                    })),
                    ..Default::default()
                });
        }
        Ok(UpdateTimerRequest {
            id: self.id.unwrap_or_default(),
            idempotency_key: self.idempotency_key.unwrap_or_default(),
            expected_state_version: self.expected_state_version.unwrap_or(0),
            schedule,
            name: self.name,
            labels: self
                .labels
                .map(|labels| minoots_proto::v1::Labels { labels }),
            metadata: match &self.metadata {
                Some(json) => Some(json_to_struct("metadata", json)?),
                None => None,
            },
            action_bundle: bundle,
            requested_by: self.requested_by.unwrap_or_default(),
            late_policy: match &self.late_policy {
                Some(name) => late_policy(name)? as i32,
                None => 0,
            },
            ..Default::default()
        })
    }
}

impl From<ScheduleTimerRequest> for TimerSpec {
    fn from(request: ScheduleTimerRequest) -> Self {
        Self {
            request,
            invalid: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_take_flow_control_and_callbacks() {
        let limits = FlowControl {
            key: "api.example.com/v2".into(),
            max_concurrent: 4,
            max_per_second: 10,
        };
        let bundle = TimerSpec::new("sync", "1m")
            .webhook_with_flow_control("https://api.example.com/v2/sync", limits.clone())
            .on_success_webhook("https://example.com/done")
            .on_failure_webhook("https://example.com/failed")
            .into_request()
            .unwrap()
            .action_bundle
            .unwrap();
        let Some(action::Kind::Webhook(hook)) = &bundle.actions[0].kind else {
            panic!("a webhook")
        };
        assert_eq!(hook.flow_control.as_ref(), Some(&limits));
        let url = |a: &Option<Action>| match a.as_ref().and_then(|a| a.kind.as_ref()) {
            Some(action::Kind::Webhook(w)) => w.url.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(url(&bundle.on_success), "https://example.com/done");
        assert_eq!(url(&bundle.on_failure), "https://example.com/failed");
        // The JSON form carries the same, as every binding passes it.
        let from_json = TimerSpec::new("sync", "1m")
            .action_bundle(&serde_json::json!({
                "actions": [{"type": "webhook", "url": "https://api.example.com/v2/sync",
                    "flowControl": {"key": "api.example.com/v2", "maxConcurrent": 4, "maxPerSecond": 10}}],
                "onSuccess": {"type": "webhook", "url": "https://example.com/done"},
                "onFailure": {"type": "webhook", "url": "https://example.com/failed"},
            }))
            .into_request()
            .unwrap()
            .action_bundle
            .unwrap();
        assert_eq!(from_json, bundle);
    }

    #[test]
    fn specs_take_text_durations_and_name_bad_fields() {
        let request = TimerSpec::new("standup", "15m")
            .label("team", "core")
            .metadata(&serde_json::json!({"k": 1}))
            .webhook("https://example.com/hook")
            .into_request()
            .unwrap();
        assert_eq!(
            request.schedule,
            Some(Schedule::Duration(prost_types::Duration {
                seconds: 900,
                nanos: 0
            }))
        );
        assert_eq!(request.action_bundle.unwrap().actions.len(), 1);

        let field = |spec: TimerSpec| match spec.into_request() {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(TimerSpec::new("x", "15 parsecs")), "duration");
        assert_eq!(field(TimerSpec::at_rfc3339("x", "tomorrow")), "fire_at");
        assert_eq!(
            field(TimerSpec::new("x", "1m").metadata(&serde_json::json!([1]))),
            "metadata"
        );
        assert_eq!(
            field(
                TimerSpec::new("x", "1m")
                    .action_bundle(&serde_json::json!({"actions": [{"type": "fax"}]}))
            ),
            "action_bundle.actions[0].kind"
        );

        let options = |duration: Option<&str>, fire_at: Option<&str>| TimerOptions {
            name: "x".into(),
            duration: duration.map(After::from),
            fire_at: fire_at.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(
            field(options(Some("1m"), Some("2030-01-01T00:00:00Z")).into()),
            "fire_at"
        );
        assert_eq!(field(options(None, None).into()), "duration");
        let at = TimerSpec::from(options(None, Some("2030-01-01T00:00:00Z")));
        assert!(matches!(
            at.into_request().unwrap().schedule,
            Some(Schedule::FireAt(_))
        ));
    }
}
