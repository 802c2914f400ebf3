//! Recurring schedules as the client builds them: the loose options bindings receive, turned
//! into the contract's `ScheduleSpec` and requests, with every input mistake named by its field.

use std::collections::BTreeMap;

use minoots_proto::{
    json::{action_bundle_from_json, agent_binding_from_json, json_to_struct},
    v1::{
        Action, CatchUpPolicy, CreateScheduleRequest, ListSchedulesRequest, OverlapPolicy,
        PreviewScheduleResponse, ScheduleSpec, ScheduleState, UpdateScheduleRequest, WebhookAction,
        action,
    },
};
use serde_json::json;

use crate::{After, Error};

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        message: message.into(),
    }
}

/// A text or [`std::time::Duration`] length as the contract's duration, errors naming `field`.
fn duration(field: &str, value: After) -> Result<prost_types::Duration, Error> {
    match value.into_result() {
        Ok(d) => Ok(prost_types::Duration {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        }),
        Err(Error::InvalidArgument { message, .. }) => Err(invalid(field, message)),
        Err(e) => Err(e),
    }
}

fn timestamp(field: &str, value: &str) -> Result<prost_types::Timestamp, Error> {
    value
        .parse::<prost_types::Timestamp>()
        .map_err(|_| invalid(field, format!("{value:?} is not an RFC 3339 time")))
}

/// An overlap policy by name: `skip`, `buffer_one` or `allow_all` (any case, `-` or `_`).
pub fn overlap_policy(name: &str) -> Result<OverlapPolicy, Error> {
    OverlapPolicy::from_wire_name(name).ok_or_else(|| {
        invalid(
            "overlap_policy",
            format!("{name:?} is not an overlap policy (skip, buffer_one or allow_all)"),
        )
    })
}

/// A catch-up policy by name: `none`, `latest` or `all` (any case).
pub fn catch_up_policy(name: &str) -> Result<CatchUpPolicy, Error> {
    CatchUpPolicy::from_wire_name(name).ok_or_else(|| {
        invalid(
            "catch_up_policy",
            format!("{name:?} is not a catch-up policy (none, latest or all)"),
        )
    })
}

/// The part of a schedule that says when it fires, as loose optional fields. Shared by
/// [`ScheduleOptions`] (create, preview) and [`ScheduleUpdate`] (a change to some of them).
#[derive(Debug, Clone, Default)]
pub struct ScheduleTiming {
    /// 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; names
    /// (`MON-FRI`, `JAN`) and nicknames (`@daily`) are accepted: `"0 9 * * MON"`.
    pub cron: Option<String>,
    /// Instead of cron: every this long (`"15m"`, or a [`std::time::Duration`]; at least 1 s).
    pub interval: Option<After>,
    /// IANA zone the cron's wall times are in (`Europe/Paris`); default UTC.
    pub time_zone: Option<String>,
    /// RFC 3339: no occurrence before (default: creation).
    pub start_at: Option<String>,
    /// RFC 3339: no occurrence after.
    pub end_at: Option<String>,
    /// Occurrences to create at most.
    pub max_runs: Option<u64>,
    /// Each occurrence fires up to this much after its slot (`"30s"`).
    pub jitter: Option<After>,
    /// `skip` (default), `buffer_one` or `allow_all`.
    pub overlap_policy: Option<String>,
    /// `none`, `latest` (default) or `all`.
    pub catch_up_policy: Option<String>,
    /// How far back missed slots still fire (`"1h"`, the default).
    pub catch_up_window: Option<After>,
}

impl ScheduleTiming {
    fn is_empty(&self) -> bool {
        self.cron.is_none()
            && self.interval.is_none()
            && self.time_zone.is_none()
            && self.start_at.is_none()
            && self.end_at.is_none()
            && self.max_runs.is_none()
            && self.jitter.is_none()
            && self.overlap_policy.is_none()
            && self.catch_up_policy.is_none()
            && self.catch_up_window.is_none()
    }

    /// These fields laid over `spec`: a cron replaces an interval and the other way round.
    fn apply(self, mut spec: ScheduleSpec) -> Result<ScheduleSpec, Error> {
        match (self.cron, self.interval) {
            (Some(_), Some(_)) => {
                return Err(invalid("interval", "give cron or interval, not both"));
            }
            (Some(cron), None) => {
                spec.cron = cron;
                spec.interval = None;
            }
            (None, Some(interval)) => {
                spec.interval = Some(duration("interval", interval)?);
                spec.cron.clear();
            }
            (None, None) => {}
        }
        if let Some(zone) = self.time_zone {
            spec.time_zone = zone;
        }
        if let Some(at) = &self.start_at {
            spec.start_at = Some(timestamp("start_at", at)?);
        }
        if let Some(at) = &self.end_at {
            spec.end_at = Some(timestamp("end_at", at)?);
        }
        if let Some(runs) = self.max_runs {
            spec.max_runs = runs;
        }
        if let Some(jitter) = self.jitter {
            spec.jitter = Some(duration("jitter", jitter)?);
        }
        if let Some(name) = &self.overlap_policy {
            spec.overlap_policy = overlap_policy(name)? as i32;
        }
        if let Some(name) = &self.catch_up_policy {
            spec.catch_up_policy = catch_up_policy(name)? as i32;
        }
        if let Some(window) = self.catch_up_window {
            spec.catch_up_window = Some(duration("catch_up_window", window)?);
        }
        Ok(spec)
    }

    /// A whole spec: exactly one of cron and interval.
    fn into_spec(self) -> Result<ScheduleSpec, Error> {
        if self.cron.is_none() && self.interval.is_none() {
            return Err(invalid(
                "cron",
                "give cron (such as \"0 9 * * MON\") or interval (such as \"15m\")",
            ));
        }
        self.apply(ScheduleSpec::default())
    }
}

/// A webhook action to this URL.
fn webhook_action(url: String) -> Action {
    Action {
        kind: Some(action::Kind::Webhook(WebhookAction {
            url,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn bundle(
    json: &Option<serde_json::Value>,
    webhook: Option<String>,
) -> Result<Option<minoots_proto::v1::ActionBundle>, Error> {
    let mut bundle = match json {
        Some(json) => Some(action_bundle_from_json(json)?),
        None => None,
    };
    if let Some(url) = webhook {
        bundle
            .get_or_insert_with(Default::default)
            .actions
            .push(webhook_action(url));
    }
    Ok(bundle)
}

/// A recurring schedule to create or preview, as loose optional fields (what bindings receive)
/// with a fluent form: `ScheduleOptions::cron("standup", "0 9 * * MON-FRI")
/// .time_zone("Europe/Paris").webhook(url)`. Exactly one of `cron` and `interval`; durations
/// as text (`"15m"`) or [`std::time::Duration`]; times RFC 3339; `metadata` a JSON object; `action_bundle`
/// and `agent_binding` the REST JSON forms (as [`crate::TimerOptions`] takes them). Mistakes
/// surface when it is sent, naming the field.
#[derive(Debug, Clone, Default)]
pub struct ScheduleOptions {
    pub name: String,
    pub timing: ScheduleTiming,
    pub labels: BTreeMap<String, String>,
    pub metadata: Option<serde_json::Value>,
    pub action_bundle: Option<serde_json::Value>,
    /// Shorthand for one webhook action (added to `action_bundle`'s).
    pub webhook: Option<String>,
    pub agent_binding: Option<serde_json::Value>,
    /// Creating twice with the same key returns the first schedule (and makes the call safe to
    /// retry).
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    /// Created PAUSED.
    pub paused: bool,
}

impl ScheduleOptions {
    /// Fires at the cron's wall times: `ScheduleOptions::cron("standup", "0 9 * * MON")`.
    pub fn cron(name: impl Into<String>, cron: impl Into<String>) -> Self {
        let mut options = Self::named(name);
        options.timing.cron = Some(cron.into());
        options
    }

    /// Fires every `interval`: `ScheduleOptions::every("poll", "15m")`.
    pub fn every(name: impl Into<String>, interval: impl Into<After>) -> Self {
        let mut options = Self::named(name);
        options.timing.interval = Some(interval.into());
        options
    }

    /// Named only; set `cron` or `interval` before sending.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Default::default()
        }
    }

    /// IANA zone of the cron's wall times (`Europe/Paris`); default UTC.
    pub fn time_zone(mut self, zone: impl Into<String>) -> Self {
        self.timing.time_zone = Some(zone.into());
        self
    }

    /// RFC 3339 time of the first possible occurrence.
    pub fn start_at(mut self, at: impl Into<String>) -> Self {
        self.timing.start_at = Some(at.into());
        self
    }

    /// RFC 3339 time after which nothing fires.
    pub fn end_at(mut self, at: impl Into<String>) -> Self {
        self.timing.end_at = Some(at.into());
        self
    }

    pub fn max_runs(mut self, runs: u64) -> Self {
        self.timing.max_runs = Some(runs);
        self
    }

    /// Spread each occurrence by up to this much (`"30s"`).
    pub fn jitter(mut self, jitter: impl Into<After>) -> Self {
        self.timing.jitter = Some(jitter.into());
        self
    }

    /// `skip`, `buffer_one` or `allow_all`.
    pub fn overlap_policy(mut self, policy: impl Into<String>) -> Self {
        self.timing.overlap_policy = Some(policy.into());
        self
    }

    /// `none`, `latest` or `all`.
    pub fn catch_up_policy(mut self, policy: impl Into<String>) -> Self {
        self.timing.catch_up_policy = Some(policy.into());
        self
    }

    pub fn catch_up_window(mut self, window: impl Into<After>) -> Self {
        self.timing.catch_up_window = Some(window.into());
        self
    }

    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels.extend(labels);
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

    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }

    pub fn agent_binding(mut self, binding: serde_json::Value) -> Self {
        self.agent_binding = Some(binding);
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn requested_by(mut self, who: impl Into<String>) -> Self {
        self.requested_by = Some(who.into());
        self
    }

    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    /// Only the timing, as preview takes it.
    pub fn into_spec(self) -> Result<ScheduleSpec, Error> {
        self.timing.into_spec()
    }

    /// The request to send, or the first input mistake (naming the field).
    pub fn into_request(self) -> Result<CreateScheduleRequest, Error> {
        let action_bundle = bundle(&self.action_bundle, self.webhook)?;
        Ok(CreateScheduleRequest {
            tenant_id: String::new(),
            requested_by: self.requested_by.unwrap_or_default(),
            name: self.name,
            spec: Some(self.timing.into_spec()?),
            labels: self.labels.into_iter().collect(),
            metadata: match &self.metadata {
                Some(json) => Some(json_to_struct("metadata", json)?),
                None => None,
            },
            action_bundle,
            agent_binding: match &self.agent_binding {
                Some(json) => Some(agent_binding_from_json(json)?),
                None => None,
            },
            idempotency_key: self.idempotency_key.unwrap_or_default(),
            paused: self.paused,
        })
    }
}

/// A change to a schedule, as loose optional fields: each field given replaces the schedule's,
/// from its next occurrence on. Timing fields given alone are laid over the schedule's current
/// timing ([`crate::Client::update_schedule`] reads it first), so `time_zone` alone keeps the
/// cron; `cron` replaces an interval and the other way round. `labels` and `metadata` are
/// replaced whole; `action_bundle` (REST JSON form) or `webhook` replaces the actions.
#[derive(Debug, Clone, Default)]
pub struct ScheduleUpdate {
    pub id: String,
    /// Apply only if the schedule is still at this version (else [`Error::Aborted`]).
    pub expected_version: Option<u64>,
    pub name: Option<String>,
    pub timing: ScheduleTiming,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<serde_json::Value>,
    pub action_bundle: Option<serde_json::Value>,
    pub webhook: Option<String>,
    pub agent_binding: Option<serde_json::Value>,
    pub requested_by: Option<String>,
}

impl ScheduleUpdate {
    /// Changes the schedule with this id.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Default::default()
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn cron(mut self, cron: impl Into<String>) -> Self {
        self.timing.cron = Some(cron.into());
        self
    }

    pub fn interval(mut self, interval: impl Into<After>) -> Self {
        self.timing.interval = Some(interval.into());
        self
    }

    pub fn time_zone(mut self, zone: impl Into<String>) -> Self {
        self.timing.time_zone = Some(zone.into());
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

    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }

    pub fn expected_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Whether the timing changes, so the current spec must be read to lay the change over it.
    pub(crate) fn changes_timing(&self) -> bool {
        !self.timing.is_empty()
    }

    /// The request to send, the timing laid over `current` (the schedule's spec now), or the
    /// first input mistake (naming the field).
    pub(crate) fn into_request(
        self,
        current: Option<ScheduleSpec>,
    ) -> Result<UpdateScheduleRequest, Error> {
        let spec = match current {
            Some(current) => Some(self.timing.apply(current)?),
            None if self.timing.is_empty() => None,
            None => Some(self.timing.into_spec()?),
        };
        Ok(UpdateScheduleRequest {
            tenant_id: String::new(),
            id: self.id,
            expected_version: self.expected_version.unwrap_or(0),
            spec,
            name: self.name,
            labels: self
                .labels
                .map(|labels| minoots_proto::v1::Labels { labels }),
            metadata: match &self.metadata {
                Some(json) => Some(json_to_struct("metadata", json)?),
                None => None,
            },
            action_bundle: bundle(&self.action_bundle, self.webhook)?,
            agent_binding: match &self.agent_binding {
                Some(json) => Some(agent_binding_from_json(json)?),
                None => None,
            },
            requested_by: self.requested_by.unwrap_or_default(),
        })
    }
}

/// Which schedules [`crate::Client::list_schedules`] returns: one page of them.
#[derive(Debug, Clone, Default)]
pub struct ScheduleQuery {
    /// Empty: every state but deleted.
    pub states: Vec<ScheduleState>,
    /// `key=value,key!=value,key,!key`.
    pub label_selector: String,
    /// Schedules per page (0: the server's default).
    pub page_size: u32,
    /// The previous page's `next_page_token`.
    pub page_token: String,
}

impl ScheduleQuery {
    /// States by name (`active`, `paused`, `completed`, `deleted`); an unknown name is an
    /// [`Error::InvalidArgument`] for `states`.
    pub fn state_names<S: AsRef<str>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        for name in names {
            let name = name.as_ref();
            self.states.push(
                ScheduleState::from_wire_name(name)
                    .ok_or_else(|| invalid("states", format!("unknown state {name:?}")))?,
            );
        }
        Ok(self)
    }

    pub(crate) fn request(&self) -> ListSchedulesRequest {
        ListSchedulesRequest {
            tenant_id: String::new(),
            states: self.states.iter().map(|s| *s as i32).collect(),
            label_selector: self.label_selector.clone(),
            page_size: self.page_size,
            page_token: self.page_token.clone(),
        }
    }
}

/// What [`crate::Client::preview_schedule`] lists the occurrences of: a stored schedule (its id)
/// or a spec not yet created.
#[derive(Debug, Clone)]
pub enum PreviewOf {
    Id(String),
    Spec(Box<ScheduleOptions>),
}

impl From<&str> for PreviewOf {
    fn from(id: &str) -> Self {
        Self::Id(id.to_owned())
    }
}

impl From<String> for PreviewOf {
    fn from(id: String) -> Self {
        Self::Id(id)
    }
}

impl From<ScheduleOptions> for PreviewOf {
    fn from(options: ScheduleOptions) -> Self {
        Self::Spec(Box::new(options))
    }
}

/// A preview as REST gives it: `{"occurrences": [{"fireAt", "localTime"}, ...]}`.
pub fn preview_to_json(preview: &PreviewScheduleResponse) -> serde_json::Value {
    let occurrences: Vec<_> = preview
        .fire_at
        .iter()
        .enumerate()
        .map(|(i, at)| json!({"fireAt": at.to_string(), "localTime": preview.local_times.get(i)}))
        .collect();
    json!({ "occurrences": occurrences })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn field(result: Result<impl std::fmt::Debug, Error>) -> String {
        match result {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_become_a_spec_with_text_durations_and_policies() {
        let request = ScheduleOptions::cron("standup", "0 9 * * MON")
            .time_zone("Europe/Paris")
            .start_at("2026-03-01T00:00:00Z")
            .max_runs(5)
            .jitter("30s")
            .overlap_policy("buffer-one")
            .catch_up_policy("all")
            .catch_up_window("2h")
            .label("team", "core")
            .webhook("https://example.com/hook")
            .into_request()
            .unwrap();
        let spec = request.spec.unwrap();
        assert_eq!(spec.cron, "0 9 * * MON");
        assert_eq!(spec.time_zone, "Europe/Paris");
        assert_eq!(spec.jitter.unwrap().seconds, 30);
        assert_eq!(spec.catch_up_window.unwrap().seconds, 7_200);
        assert_eq!(spec.overlap_policy, OverlapPolicy::BufferOne as i32);
        assert_eq!(spec.catch_up_policy, CatchUpPolicy::All as i32);
        assert_eq!(request.action_bundle.unwrap().actions.len(), 1);

        let every = ScheduleOptions::every("poll", Duration::from_secs(900)).into_spec();
        assert_eq!(every.unwrap().interval.unwrap().seconds, 900);
        assert_eq!(
            ScheduleOptions::every("poll", "15m")
                .into_spec()
                .unwrap()
                .interval
                .unwrap()
                .seconds,
            900
        );
    }

    #[test]
    fn mistakes_name_their_field() {
        assert_eq!(field(ScheduleOptions::named("x").into_request()), "cron");
        let mut both = ScheduleOptions::cron("x", "@daily");
        both.timing.interval = Some("1m".into());
        assert_eq!(field(both.into_request()), "interval");
        assert_eq!(
            field(ScheduleOptions::every("x", "15 parsecs").into_request()),
            "interval"
        );
        assert_eq!(
            field(
                ScheduleOptions::cron("x", "@daily")
                    .jitter("soon")
                    .into_request()
            ),
            "jitter"
        );
        assert_eq!(
            field(
                ScheduleOptions::cron("x", "@daily")
                    .end_at("tomorrow")
                    .into_request()
            ),
            "end_at"
        );
        assert_eq!(
            field(
                ScheduleOptions::cron("x", "@daily")
                    .overlap_policy("queue")
                    .into_request()
            ),
            "overlap_policy"
        );
        assert_eq!(
            field(
                ScheduleOptions::cron("x", "@daily")
                    .catch_up_policy("some")
                    .into_request()
            ),
            "catch_up_policy"
        );
        assert_eq!(
            field(ScheduleQuery::default().state_names(["sleeping"])),
            "states"
        );
    }

    #[test]
    fn an_update_lays_its_timing_over_the_current_spec() {
        let current = ScheduleOptions::cron("x", "0 9 * * MON")
            .time_zone("Europe/Paris")
            .max_runs(3)
            .into_spec()
            .unwrap();
        let update = ScheduleUpdate::id("s1").time_zone("America/New_York");
        assert!(update.changes_timing());
        let spec = update
            .into_request(Some(current.clone()))
            .unwrap()
            .spec
            .unwrap();
        assert_eq!(
            (spec.cron.as_str(), spec.time_zone.as_str(), spec.max_runs),
            ("0 9 * * MON", "America/New_York", 3)
        );
        let spec = ScheduleUpdate::id("s1")
            .interval("1h")
            .into_request(Some(current))
            .unwrap()
            .spec
            .unwrap();
        assert!(spec.cron.is_empty());
        assert_eq!(spec.interval.unwrap().seconds, 3_600);
        let rename = ScheduleUpdate::id("s1").name("y");
        assert!(!rename.changes_timing());
        assert_eq!(rename.into_request(None).unwrap().spec, None);
    }
}
