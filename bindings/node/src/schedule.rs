//! Recurring schedules as plain JS objects, and their options as the SDK's `ScheduleOptions`
//! and `ScheduleUpdate`. The timer's `ScheduleOptions` already has the name in JavaScript, so
//! a schedule's options are `RecurringOptions`.

use std::collections::HashMap;

use minoots::{ScheduleTiming, json, proto};
use napi_derive::napi;

use crate::{
    error::{Result, invalid},
    timer::{duration, time},
};

/// A recurring schedule as the server last reported it. The spec's fields sit beside the
/// others, as in the REST JSON; times are RFC 3339 strings (UTC), lengths milliseconds.
#[napi(object)]
pub struct Schedule {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `active`, `paused`, `completed` or `deleted`.
    pub state: String,
    pub requested_by: String,
    /// Empty when the schedule runs on an `interval`.
    pub cron: String,
    pub interval_ms: Option<f64>,
    /// IANA zone of the cron's wall times (`UTC` unless set).
    pub time_zone: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    /// 0: no limit.
    pub max_runs: i64,
    pub jitter_ms: Option<f64>,
    /// `skip`, `buffer_one` or `allow_all`.
    pub overlap_policy: String,
    /// `none`, `latest` or `all`.
    pub catch_up_policy: String,
    pub catch_up_window_ms: Option<f64>,
    pub labels: HashMap<String, String>,
    pub metadata: Option<serde_json::Value>,
    pub idempotency_key: String,
    /// Increments on every change; pass it back as `expectedVersion`.
    pub version: i64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// The next slot an occurrence is created for; unset once completed or deleted.
    pub next_fire_at: Option<String>,
    /// Occurrences created so far, and slots skipped.
    pub runs: i64,
    pub skipped: i64,
    pub last_fire_at: Option<String>,
    pub last_timer_id: String,
    pub paused_at: Option<String>,
    pub paused_by: String,
    pub pause_reason: String,
    /// The REST/webhook JSON form, every field included (`actionBundle`, `agentBinding`, ...).
    pub json: serde_json::Value,
}

fn millis(d: &Option<prost_types::Duration>) -> Option<f64> {
    d.as_ref().map(|d| json::duration_millis(d) as f64)
}

impl From<proto::Schedule> for Schedule {
    fn from(s: proto::Schedule) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        Self {
            json: json::schedule_to_json(&s),
            state: s.state().wire_name().to_owned(),
            interval_ms: millis(&spec.interval),
            time_zone: if spec.time_zone.is_empty() {
                "UTC".to_owned()
            } else {
                spec.time_zone
            },
            start_at: time(&spec.start_at),
            end_at: time(&spec.end_at),
            max_runs: spec.max_runs as i64,
            jitter_ms: millis(&spec.jitter),
            overlap_policy: proto::OverlapPolicy::try_from(spec.overlap_policy)
                .unwrap_or_default()
                .wire_name()
                .to_owned(),
            catch_up_policy: proto::CatchUpPolicy::try_from(spec.catch_up_policy)
                .unwrap_or_default()
                .wire_name()
                .to_owned(),
            catch_up_window_ms: millis(&spec.catch_up_window),
            cron: spec.cron,
            metadata: s.metadata.as_ref().map(json::struct_to_json),
            version: s.version as i64,
            created_at: time(&s.created_at),
            updated_at: time(&s.updated_at),
            next_fire_at: time(&s.next_fire_at),
            runs: s.runs as i64,
            skipped: s.skipped as i64,
            last_fire_at: time(&s.last_fire_at),
            paused_at: time(&s.paused_at),
            labels: s.labels.into_iter().collect(),
            id: s.id,
            tenant_id: s.tenant_id,
            name: s.name,
            requested_by: s.requested_by,
            idempotency_key: s.idempotency_key,
            last_timer_id: s.last_timer_id,
            paused_by: s.paused_by,
            pause_reason: s.pause_reason,
        }
    }
}

/// A recurring schedule to create (or preview), in the REST vocabulary: exactly one of `cron`
/// (`"0 9 * * MON-FRI"`) and `interval` (`"15m"`, or milliseconds); `jitter` and
/// `catchUpWindow` likewise; times RFC 3339.
#[napi(object)]
pub struct RecurringOptions {
    pub name: String,
    pub cron: Option<String>,
    pub interval: Option<serde_json::Value>,
    /// IANA zone of the cron's wall times (`Europe/Paris`); default UTC.
    pub time_zone: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    /// Occurrences to create at most.
    pub max_runs: Option<i64>,
    pub jitter: Option<serde_json::Value>,
    /// `skip` (default), `buffer_one` or `allow_all`.
    pub overlap_policy: Option<String>,
    /// `none`, `latest` (default) or `all`.
    pub catch_up_policy: Option<String>,
    pub catch_up_window: Option<serde_json::Value>,
    /// Copied onto each occurrence timer.
    pub labels: Option<HashMap<String, String>>,
    pub metadata: Option<serde_json::Value>,
    /// Each occurrence's actions, as the timer `schedule` takes them.
    pub action_bundle: Option<serde_json::Value>,
    /// Shorthand for one webhook action.
    pub webhook: Option<String>,
    pub agent_binding: Option<serde_json::Value>,
    /// Creating twice with the same key returns the first schedule.
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    /// Created paused.
    pub paused: Option<bool>,
}

/// The timing fields every schedule call shares, as the SDK takes them.
struct Timing {
    cron: Option<String>,
    interval: Option<serde_json::Value>,
    time_zone: Option<String>,
    start_at: Option<String>,
    end_at: Option<String>,
    max_runs: Option<i64>,
    jitter: Option<serde_json::Value>,
    overlap_policy: Option<String>,
    catch_up_policy: Option<String>,
    catch_up_window: Option<serde_json::Value>,
}

impl Timing {
    fn into_sdk(self) -> Result<ScheduleTiming> {
        let max_runs = self
            .max_runs
            .map(|n| u64::try_from(n).map_err(|_| invalid("max_runs", "must be >= 0")))
            .transpose()?;
        Ok(ScheduleTiming {
            cron: self.cron,
            interval: duration("interval", self.interval)?,
            time_zone: self.time_zone,
            start_at: self.start_at,
            end_at: self.end_at,
            max_runs,
            jitter: duration("jitter", self.jitter)?,
            overlap_policy: self.overlap_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_window: duration("catch_up_window", self.catch_up_window)?,
        })
    }
}

impl RecurringOptions {
    pub fn into_options(self) -> Result<minoots::ScheduleOptions> {
        let timing = Timing {
            cron: self.cron,
            interval: self.interval,
            time_zone: self.time_zone,
            start_at: self.start_at,
            end_at: self.end_at,
            max_runs: self.max_runs,
            jitter: self.jitter,
            overlap_policy: self.overlap_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_window: self.catch_up_window,
        };
        Ok(minoots::ScheduleOptions {
            name: self.name,
            timing: timing.into_sdk()?,
            labels: self.labels.unwrap_or_default().into_iter().collect(),
            metadata: self.metadata,
            action_bundle: self.action_bundle,
            webhook: self.webhook,
            agent_binding: self.agent_binding,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by,
            paused: self.paused.unwrap_or(false),
        })
    }
}

/// A change to the schedule `id`, from its next occurrence on: each field given replaces the
/// schedule's (timing fields given alone keep the rest of its timing; `labels` and `metadata`
/// are replaced whole).
#[napi(object)]
pub struct ScheduleUpdate {
    pub id: String,
    /// Apply only if the schedule is still at this `version`; else rejects with `ABORTED`.
    pub expected_version: Option<i64>,
    pub name: Option<String>,
    pub cron: Option<String>,
    pub interval: Option<serde_json::Value>,
    pub time_zone: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub max_runs: Option<i64>,
    pub jitter: Option<serde_json::Value>,
    pub overlap_policy: Option<String>,
    pub catch_up_policy: Option<String>,
    pub catch_up_window: Option<serde_json::Value>,
    pub labels: Option<HashMap<String, String>>,
    pub metadata: Option<serde_json::Value>,
    pub action_bundle: Option<serde_json::Value>,
    pub webhook: Option<String>,
    pub agent_binding: Option<serde_json::Value>,
    pub requested_by: Option<String>,
}

impl ScheduleUpdate {
    pub fn into_update(self) -> Result<minoots::ScheduleUpdate> {
        let expected_version = self
            .expected_version
            .map(|v| u64::try_from(v).map_err(|_| invalid("expected_version", "must be >= 0")))
            .transpose()?;
        let timing = Timing {
            cron: self.cron,
            interval: self.interval,
            time_zone: self.time_zone,
            start_at: self.start_at,
            end_at: self.end_at,
            max_runs: self.max_runs,
            jitter: self.jitter,
            overlap_policy: self.overlap_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_window: self.catch_up_window,
        };
        Ok(minoots::ScheduleUpdate {
            id: self.id,
            expected_version,
            name: self.name,
            timing: timing.into_sdk()?,
            labels: self.labels.map(|l| l.into_iter().collect()),
            metadata: self.metadata,
            action_bundle: self.action_bundle,
            webhook: self.webhook,
            agent_binding: self.agent_binding,
            requested_by: self.requested_by,
        })
    }
}

#[napi(object)]
pub struct ListSchedulesOptions {
    /// `active`, `paused`, `completed`, `deleted`; default every state but `deleted`.
    pub states: Option<Vec<String>>,
    pub label_selector: Option<String>,
    pub page_size: Option<u32>,
    /// The previous page's `nextPageToken`.
    pub page_token: Option<String>,
}

impl ListSchedulesOptions {
    pub fn into_query(self) -> Result<minoots::ScheduleQuery> {
        minoots::ScheduleQuery {
            label_selector: self.label_selector.unwrap_or_default(),
            page_size: self.page_size.unwrap_or_default(),
            page_token: self.page_token.unwrap_or_default(),
            ..Default::default()
        }
        .state_names(self.states.unwrap_or_default())
        .map_err(crate::error::to_js)
    }
}

/// One page of schedules.
#[napi(object)]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
    /// Empty on the last page; else pass it back as `pageToken`.
    pub next_page_token: String,
}

impl From<proto::ListSchedulesResponse> for ScheduleList {
    fn from(r: proto::ListSchedulesResponse) -> Self {
        Self {
            schedules: r.schedules.into_iter().map(Schedule::from).collect(),
            next_page_token: r.next_page_token,
        }
    }
}

#[napi(object)]
pub struct PreviewOptions {
    /// Occurrences to list (default 10, at most 1000).
    pub count: Option<u32>,
    /// RFC 3339: list slots after this instant (default now).
    pub after: Option<String>,
}

/// The next occurrences of a schedule, creating nothing.
#[napi(object)]
pub struct SchedulePreview {
    /// Each slot as an RFC 3339 instant (UTC), in order.
    pub fire_at: Vec<String>,
    /// Each slot as wall time in the schedule's zone, e.g.
    /// `2026-03-09T09:00:00+01:00[Europe/Paris]`.
    pub local_times: Vec<String>,
}

impl From<proto::PreviewScheduleResponse> for SchedulePreview {
    fn from(r: proto::PreviewScheduleResponse) -> Self {
        Self {
            fire_at: r.fire_at.iter().map(ToString::to_string).collect(),
            local_times: r.local_times,
        }
    }
}

/// `after` as the SDK takes it.
pub fn after(text: Option<String>) -> Result<Option<prost_types::Timestamp>> {
    text.map(|t| {
        t.parse::<prost_types::Timestamp>()
            .map_err(|_| invalid("after", format!("{t:?} is not an RFC 3339 time")))
    })
    .transpose()
}
