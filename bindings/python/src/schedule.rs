//! Recurring schedules as Python objects, and their keyword arguments as the SDK's
//! `ScheduleOptions` / `ScheduleUpdate`.

use std::collections::BTreeMap;

use minoots::{
    ScheduleOptions, ScheduleQuery, ScheduleTiming, ScheduleUpdate, json,
    proto::{self, PreviewScheduleResponse},
};
use pyo3::{prelude::*, types::PyDict};

use crate::{
    error::to_py,
    timer::{duration_named, fire_at, from_python, time, to_python},
};

/// A recurring schedule as the server last reported it. Times are RFC 3339 strings (UTC);
/// lengths (`interval`, `jitter`, `catch_up_window`) are seconds.
#[pyclass(module = "minoots", frozen)]
pub struct Schedule {
    pub inner: proto::Schedule,
}

fn seconds(d: &Option<prost_types::Duration>) -> Option<f64> {
    d.as_ref()
        .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9)
}

impl Schedule {
    fn spec(&self) -> proto::ScheduleSpec {
        self.inner.spec.clone().unwrap_or_default()
    }
}

#[pymethods]
impl Schedule {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    #[getter]
    fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// `active`, `paused`, `completed` or `deleted`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().wire_name()
    }
    /// The cron expression, or None for an interval schedule.
    #[getter]
    fn cron(&self) -> Option<String> {
        Some(self.spec().cron).filter(|c| !c.is_empty())
    }
    #[getter]
    fn interval(&self) -> Option<f64> {
        seconds(&self.spec().interval)
    }
    /// IANA zone of the cron's wall times (`UTC` unless set).
    #[getter]
    fn time_zone(&self) -> String {
        Some(self.spec().time_zone)
            .filter(|z| !z.is_empty())
            .unwrap_or_else(|| "UTC".into())
    }
    #[getter]
    fn start_at(&self) -> Option<String> {
        time(&self.spec().start_at)
    }
    #[getter]
    fn end_at(&self) -> Option<String> {
        time(&self.spec().end_at)
    }
    /// None: no limit.
    #[getter]
    fn max_runs(&self) -> Option<u64> {
        Some(self.spec().max_runs).filter(|n| *n > 0)
    }
    #[getter]
    fn jitter(&self) -> Option<f64> {
        seconds(&self.spec().jitter)
    }
    /// `skip`, `buffer_one` or `allow_all`.
    #[getter]
    fn overlap_policy(&self) -> &'static str {
        self.spec().overlap_policy().wire_name()
    }
    /// `none`, `latest` or `all`.
    #[getter]
    fn catch_up_policy(&self) -> &'static str {
        self.spec().catch_up_policy().wire_name()
    }
    #[getter]
    fn catch_up_window(&self) -> Option<f64> {
        seconds(&self.spec().catch_up_window)
    }
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.inner.labels.clone().into_iter().collect()
    }
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner
            .metadata
            .as_ref()
            .map(|m| to_python(py, &json::struct_to_json(m)))
            .transpose()
    }
    #[getter]
    fn idempotency_key(&self) -> &str {
        &self.inner.idempotency_key
    }
    #[getter]
    fn requested_by(&self) -> &str {
        &self.inner.requested_by
    }
    /// Increments on every change; pass it as `expected_version` to `update_schedule`.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }
    #[getter]
    fn created_at(&self) -> Option<String> {
        time(&self.inner.created_at)
    }
    #[getter]
    fn updated_at(&self) -> Option<String> {
        time(&self.inner.updated_at)
    }
    /// The next slot an occurrence is created for; None once completed or deleted.
    #[getter]
    fn next_fire_at(&self) -> Option<String> {
        time(&self.inner.next_fire_at)
    }
    /// Occurrences created so far.
    #[getter]
    fn runs(&self) -> u64 {
        self.inner.runs
    }
    /// Slots skipped (overlap, catch-up, pause).
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.skipped
    }
    #[getter]
    fn last_fire_at(&self) -> Option<String> {
        time(&self.inner.last_fire_at)
    }
    /// The timer of the latest occurrence.
    #[getter]
    fn last_timer_id(&self) -> Option<String> {
        Some(self.inner.last_timer_id.clone()).filter(|id| !id.is_empty())
    }
    #[getter]
    fn paused_at(&self) -> Option<String> {
        time(&self.inner.paused_at)
    }
    #[getter]
    fn pause_reason(&self) -> &str {
        &self.inner.pause_reason
    }
    /// The REST/webhook JSON form (camelCase keys, lengths in ms), every field included.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &json::schedule_to_json(&self.inner))
    }
    fn __repr__(&self) -> String {
        let when = match (self.cron(), self.interval()) {
            (Some(cron), _) => format!("cron={cron:?}"),
            (None, Some(every)) => format!("interval={every}"),
            (None, None) => String::new(),
        };
        format!(
            "Schedule(id={:?}, name={:?}, state={:?}, {when}, time_zone={:?}, next_fire_at={:?})",
            self.inner.id,
            self.inner.name,
            self.state(),
            self.time_zone(),
            self.next_fire_at().unwrap_or_default()
        )
    }
}

pub fn schedule(py: Python<'_>, inner: proto::Schedule) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Schedule { inner })?.into_any())
}

pub fn schedules(py: Python<'_>, all: Vec<proto::Schedule>) -> PyResult<Py<PyAny>> {
    let list: Vec<Schedule> = all.into_iter().map(|inner| Schedule { inner }).collect();
    Ok(list.into_pyobject(py)?.into_any().unbind())
}

/// A preview as `[{"fire_at": ..., "local_time": ...}, ...]`: each occurrence as an instant
/// (RFC 3339, UTC) and as wall time in the schedule's zone.
pub fn occurrences(py: Python<'_>, preview: PreviewScheduleResponse) -> PyResult<Py<PyAny>> {
    let list = pyo3::types::PyList::empty(py);
    for (i, at) in preview.fire_at.iter().enumerate() {
        let item = PyDict::new(py);
        item.set_item("fire_at", at.to_string())?;
        item.set_item("local_time", preview.local_times.get(i))?;
        list.append(item)?;
    }
    Ok(list.into_any().unbind())
}

/// The timing keyword arguments of `create_schedule`, `update_schedule` and
/// `preview_schedule`, as Python gives them (lengths as text, `timedelta` or seconds; times as
/// `datetime` or RFC 3339 text).
pub struct TimingArgs<'py> {
    pub cron: Option<String>,
    pub interval: Option<Bound<'py, PyAny>>,
    pub time_zone: Option<String>,
    pub start_at: Option<Bound<'py, PyAny>>,
    pub end_at: Option<Bound<'py, PyAny>>,
    pub max_runs: Option<u64>,
    pub jitter: Option<Bound<'py, PyAny>>,
    pub overlap_policy: Option<String>,
    pub catch_up_policy: Option<String>,
    pub catch_up_window: Option<Bound<'py, PyAny>>,
}

impl TimingArgs<'_> {
    pub fn into_timing(self) -> PyResult<ScheduleTiming> {
        let length = |value: &Option<Bound<'_, PyAny>>, field: &str| {
            value.as_ref().map(|v| duration_named(v, field)).transpose()
        };
        Ok(ScheduleTiming {
            cron: self.cron,
            interval: length(&self.interval, "interval")?,
            time_zone: self.time_zone,
            start_at: self.start_at.as_ref().map(fire_at).transpose()?,
            end_at: self.end_at.as_ref().map(fire_at).transpose()?,
            max_runs: self.max_runs,
            jitter: length(&self.jitter, "jitter")?,
            overlap_policy: self.overlap_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_window: length(&self.catch_up_window, "catch_up_window")?,
        })
    }
}

/// What `create_schedule` takes besides the timing.
pub struct CreateArgs<'py> {
    pub name: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<Bound<'py, PyAny>>,
    pub action_bundle: Option<Bound<'py, PyAny>>,
    pub webhook: Option<String>,
    pub agent_binding: Option<Bound<'py, PyAny>>,
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    pub paused: bool,
}

fn json_arg(value: &Option<Bound<'_, PyAny>>, field: &str) -> PyResult<Option<serde_json::Value>> {
    value.as_ref().map(|v| from_python(v, field)).transpose()
}

impl CreateArgs<'_> {
    pub fn into_options(self, timing: TimingArgs<'_>) -> PyResult<ScheduleOptions> {
        Ok(ScheduleOptions {
            name: self.name,
            timing: timing.into_timing()?,
            labels: self.labels.unwrap_or_default(),
            metadata: json_arg(&self.metadata, "metadata")?,
            action_bundle: json_arg(&self.action_bundle, "action_bundle")?,
            webhook: self.webhook,
            agent_binding: json_arg(&self.agent_binding, "agent_binding")?,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by,
            paused: self.paused,
        })
    }
}

/// What `update_schedule` takes besides the timing.
pub struct UpdateArgs<'py> {
    pub id: String,
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<Bound<'py, PyAny>>,
    pub action_bundle: Option<Bound<'py, PyAny>>,
    pub webhook: Option<String>,
    pub agent_binding: Option<Bound<'py, PyAny>>,
    pub expected_version: Option<u64>,
    pub requested_by: Option<String>,
}

impl UpdateArgs<'_> {
    pub fn into_update(self, timing: TimingArgs<'_>) -> PyResult<ScheduleUpdate> {
        Ok(ScheduleUpdate {
            id: self.id,
            expected_version: self.expected_version,
            name: self.name,
            timing: timing.into_timing()?,
            labels: self.labels,
            metadata: json_arg(&self.metadata, "metadata")?,
            action_bundle: json_arg(&self.action_bundle, "action_bundle")?,
            webhook: self.webhook,
            agent_binding: json_arg(&self.agent_binding, "agent_binding")?,
            requested_by: self.requested_by,
        })
    }
}

/// `list_schedules`' filter.
pub fn query(
    states: Option<Vec<String>>,
    label_selector: Option<String>,
    page_size: Option<u32>,
) -> PyResult<ScheduleQuery> {
    ScheduleQuery {
        label_selector: label_selector.unwrap_or_default(),
        page_size: page_size.unwrap_or_default(),
        ..Default::default()
    }
    .state_names(states.unwrap_or_default())
    .map_err(to_py)
}

/// What `preview_schedule` lists: the stored schedule `id`, else the timing arguments.
pub fn preview_of(id: Option<String>, timing: TimingArgs<'_>) -> PyResult<minoots::PreviewOf> {
    Ok(match id {
        Some(id) => minoots::PreviewOf::Id(id),
        None => minoots::PreviewOf::from(ScheduleOptions {
            timing: timing.into_timing()?,
            ..Default::default()
        }),
    })
}

/// `after` as Python gives it: a `datetime` or RFC 3339 text.
pub fn after(value: Option<Bound<'_, PyAny>>) -> PyResult<Option<prost_types::Timestamp>> {
    let Some(value) = value else { return Ok(None) };
    let text = fire_at(&value)?;
    text.parse::<prost_types::Timestamp>()
        .map(Some)
        .map_err(|_| {
            to_py(minoots::Error::InvalidArgument {
                field: "after".into(),
                message: format!("{text:?} is not an RFC 3339 time"),
            })
        })
}
