//! Recurring schedules as uniffi records, and their options as the SDK's `ScheduleOptions` and
//! `ScheduleUpdate`. Kotlin's `ScheduleOptions` is already the timer's, so a schedule's options
//! are `RecurringOptions`.

use std::collections::HashMap;

use minoots::{ScheduleTiming, json, proto};

use crate::{client::json_arg, error::MinootsError, timer::time};

/// A recurring schedule as the server last reported it. The spec's fields sit beside the
/// others, as in the REST JSON; times are RFC 3339 strings (UTC), lengths milliseconds.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Schedule {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// `active`, `paused`, `completed` or `deleted`.
    pub state: String,
    pub requested_by: String,
    /// Empty when the schedule runs on an `interval`.
    pub cron: String,
    pub interval_ms: Option<u64>,
    /// IANA zone of the cron's wall times (`UTC` unless set).
    pub time_zone: String,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    /// 0: no limit.
    pub max_runs: u64,
    pub jitter_ms: Option<u64>,
    /// `skip`, `buffer_one` or `allow_all`.
    pub overlap_policy: String,
    /// `none`, `latest` or `all`.
    pub catch_up_policy: String,
    pub catch_up_window_ms: Option<u64>,
    pub labels: HashMap<String, String>,
    pub metadata_json: Option<String>,
    pub idempotency_key: String,
    /// Increments on every change; pass it back as `expected_version`.
    pub version: u64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// The next slot an occurrence is created for; unset once completed or deleted.
    pub next_fire_at: Option<String>,
    /// Occurrences created so far, and slots skipped.
    pub runs: u64,
    pub skipped: u64,
    pub last_fire_at: Option<String>,
    pub last_timer_id: String,
    pub paused_at: Option<String>,
    pub paused_by: String,
    pub pause_reason: String,
    /// The REST/webhook JSON form, every field included (`actionBundle`, `agentBinding`, ...).
    pub json: String,
}

fn millis(d: &Option<prost_types::Duration>) -> Option<u64> {
    d.as_ref().map(|d| json::duration_millis(d).max(0) as u64)
}

impl From<proto::Schedule> for Schedule {
    fn from(s: proto::Schedule) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        Self {
            json: json::schedule_to_json(&s).to_string(),
            state: s.state().wire_name().to_owned(),
            interval_ms: millis(&spec.interval),
            time_zone: if spec.time_zone.is_empty() {
                "UTC".to_owned()
            } else {
                spec.time_zone
            },
            start_at: time(&spec.start_at),
            end_at: time(&spec.end_at),
            max_runs: spec.max_runs,
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
            metadata_json: s
                .metadata
                .as_ref()
                .map(|m| json::struct_to_json(m).to_string()),
            version: s.version,
            created_at: time(&s.created_at),
            updated_at: time(&s.updated_at),
            next_fire_at: time(&s.next_fire_at),
            runs: s.runs,
            skipped: s.skipped,
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
/// (`"0 9 * * MON-FRI"`) and `interval` (`"15m"`); `jitter` and `catch_up_window` likewise
/// text; times RFC 3339.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct RecurringOptions {
    pub name: String,
    #[uniffi(default = None)]
    pub cron: Option<String>,
    #[uniffi(default = None)]
    pub interval: Option<String>,
    /// IANA zone of the cron's wall times (`Europe/Paris`); default UTC.
    #[uniffi(default = None)]
    pub time_zone: Option<String>,
    #[uniffi(default = None)]
    pub start_at: Option<String>,
    #[uniffi(default = None)]
    pub end_at: Option<String>,
    /// Occurrences to create at most.
    #[uniffi(default = None)]
    pub max_runs: Option<u64>,
    #[uniffi(default = None)]
    pub jitter: Option<String>,
    /// `skip` (default), `buffer_one` or `allow_all`.
    #[uniffi(default = None)]
    pub overlap_policy: Option<String>,
    /// `none`, `latest` (default) or `all`.
    #[uniffi(default = None)]
    pub catch_up_policy: Option<String>,
    #[uniffi(default = None)]
    pub catch_up_window: Option<String>,
    /// Copied onto each occurrence timer.
    #[uniffi(default)]
    pub labels: HashMap<String, String>,
    /// A JSON object.
    #[uniffi(default = None)]
    pub metadata_json: Option<String>,
    /// Each occurrence's actions, as the timer's `action_bundle_json`.
    #[uniffi(default = None)]
    pub action_bundle_json: Option<String>,
    /// Shorthand for one webhook action.
    #[uniffi(default = None)]
    pub webhook: Option<String>,
    /// The REST API's JSON form of an agent binding.
    #[uniffi(default = None)]
    pub agent_binding_json: Option<String>,
    /// Creating twice with the same key returns the first schedule.
    #[uniffi(default = None)]
    pub idempotency_key: Option<String>,
    /// Created paused.
    #[uniffi(default = false)]
    pub paused: bool,
}

impl RecurringOptions {
    pub fn into_options(self) -> Result<minoots::ScheduleOptions, MinootsError> {
        Ok(minoots::ScheduleOptions {
            name: self.name,
            timing: ScheduleTiming {
                cron: self.cron,
                interval: self.interval.map(Into::into),
                time_zone: self.time_zone,
                start_at: self.start_at,
                end_at: self.end_at,
                max_runs: self.max_runs,
                jitter: self.jitter.map(Into::into),
                overlap_policy: self.overlap_policy,
                catch_up_policy: self.catch_up_policy,
                catch_up_window: self.catch_up_window.map(Into::into),
            },
            labels: self.labels.into_iter().collect(),
            metadata: json_arg("metadata", self.metadata_json)?,
            action_bundle: json_arg("action_bundle", self.action_bundle_json)?,
            webhook: self.webhook,
            agent_binding: json_arg("agent_binding", self.agent_binding_json)?,
            idempotency_key: self.idempotency_key,
            requested_by: None,
            paused: self.paused,
        })
    }
}

/// A change to the schedule `id`, from its next occurrence on: each field given replaces the
/// schedule's (timing fields given alone keep the rest of its timing; `labels` and metadata
/// are replaced whole).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ScheduleUpdate {
    pub id: String,
    /// Apply only if the schedule is still at this `version` (else `MinootsException.Aborted`).
    #[uniffi(default = None)]
    pub expected_version: Option<u64>,
    #[uniffi(default = None)]
    pub name: Option<String>,
    #[uniffi(default = None)]
    pub cron: Option<String>,
    #[uniffi(default = None)]
    pub interval: Option<String>,
    #[uniffi(default = None)]
    pub time_zone: Option<String>,
    #[uniffi(default = None)]
    pub start_at: Option<String>,
    #[uniffi(default = None)]
    pub end_at: Option<String>,
    #[uniffi(default = None)]
    pub max_runs: Option<u64>,
    #[uniffi(default = None)]
    pub jitter: Option<String>,
    #[uniffi(default = None)]
    pub overlap_policy: Option<String>,
    #[uniffi(default = None)]
    pub catch_up_policy: Option<String>,
    #[uniffi(default = None)]
    pub catch_up_window: Option<String>,
    #[uniffi(default = None)]
    pub labels: Option<HashMap<String, String>>,
    #[uniffi(default = None)]
    pub metadata_json: Option<String>,
    #[uniffi(default = None)]
    pub action_bundle_json: Option<String>,
    #[uniffi(default = None)]
    pub webhook: Option<String>,
    #[uniffi(default = None)]
    pub agent_binding_json: Option<String>,
}

impl ScheduleUpdate {
    pub fn into_update(self) -> Result<minoots::ScheduleUpdate, MinootsError> {
        Ok(minoots::ScheduleUpdate {
            id: self.id,
            expected_version: self.expected_version,
            name: self.name,
            timing: ScheduleTiming {
                cron: self.cron,
                interval: self.interval.map(Into::into),
                time_zone: self.time_zone,
                start_at: self.start_at,
                end_at: self.end_at,
                max_runs: self.max_runs,
                jitter: self.jitter.map(Into::into),
                overlap_policy: self.overlap_policy,
                catch_up_policy: self.catch_up_policy,
                catch_up_window: self.catch_up_window.map(Into::into),
            },
            labels: self.labels.map(|l| l.into_iter().collect()),
            metadata: json_arg("metadata", self.metadata_json)?,
            action_bundle: json_arg("action_bundle", self.action_bundle_json)?,
            webhook: self.webhook,
            agent_binding: json_arg("agent_binding", self.agent_binding_json)?,
            requested_by: None,
        })
    }
}

/// Which schedules `listSchedules` returns: one page of them.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ListSchedulesOptions {
    /// `active`, `paused`, `completed`, `deleted`; empty: every state but `deleted`.
    #[uniffi(default)]
    pub states: Vec<String>,
    #[uniffi(default = None)]
    pub label_selector: Option<String>,
    #[uniffi(default = None)]
    pub page_size: Option<u32>,
    /// The previous page's `next_page_token`.
    #[uniffi(default = None)]
    pub page_token: Option<String>,
}

impl ListSchedulesOptions {
    pub fn into_query(self) -> Result<minoots::ScheduleQuery, MinootsError> {
        Ok(minoots::ScheduleQuery {
            label_selector: self.label_selector.unwrap_or_default(),
            page_size: self.page_size.unwrap_or_default(),
            page_token: self.page_token.unwrap_or_default(),
            ..Default::default()
        }
        .state_names(self.states)?)
    }
}

/// One page of schedules.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
    /// Empty on the last page; else pass it back as `page_token`.
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

/// What `previewSchedule` lists the occurrences of: a stored schedule, or options not yet
/// created.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum PreviewOf {
    Id { id: String },
    Spec { options: Box<RecurringOptions> },
}

impl PreviewOf {
    pub fn into_sdk(self) -> Result<minoots::PreviewOf, MinootsError> {
        Ok(match self {
            Self::Id { id } => id.into(),
            Self::Spec { options } => options.into_options()?.into(),
        })
    }
}

/// The next occurrences of a schedule, creating nothing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

/// `after` (RFC 3339) as the SDK takes it.
pub fn after(text: Option<String>) -> Result<Option<prost_types::Timestamp>, MinootsError> {
    text.map(|t| {
        t.parse::<prost_types::Timestamp>()
            .map_err(|_| MinootsError::InvalidArgument {
                field: "after".into(),
                detail: format!("{t:?} is not an RFC 3339 time"),
            })
    })
    .transpose()
}
