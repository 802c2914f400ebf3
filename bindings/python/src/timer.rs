//! Timers and events as Python objects, and schedule arguments as an SDK `TimerSpec`.

use std::{collections::BTreeMap, time::Duration};

use minoots::{TimerOptions, TimerSpec, TimerUpdate, json, proto};
use pyo3::{
    exceptions::PyTypeError,
    prelude::*,
    types::{PyDelta, PyDeltaAccess, PyDict, PyString},
};

use crate::error::to_py;

/// A JSON value as the equivalent Python object (via the `json` module, so types match what
/// `json.loads` gives).
pub fn to_python(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value).expect("a JSON value serialises");
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A Python object (dict, list, ...) as JSON; `field` names it in the error.
pub fn from_python(value: &Bound<'_, PyAny>, field: &str) -> PyResult<serde_json::Value> {
    let text: String = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| {
        to_py(minoots::Error::InvalidArgument {
            field: field.into(),
            message: e.to_string(),
        })
    })
}

pub fn time(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().map(ToString::to_string)
}

/// A timer as the server last reported it. Times are RFC 3339 strings (UTC).
#[pyclass(module = "minoots", frozen)]
pub struct Timer {
    pub inner: proto::Timer,
}

#[pymethods]
impl Timer {
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
    /// `scheduled`, `armed`, `paused`, `fired`, `settled`, `failed` or `cancelled`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status().wire_name()
    }
    #[getter]
    fn requested_by(&self) -> &str {
        &self.inner.requested_by
    }
    #[getter]
    fn created_at(&self) -> Option<String> {
        time(&self.inner.created_at)
    }
    #[getter]
    fn fire_at(&self) -> Option<String> {
        time(&self.inner.fire_at)
    }
    #[getter]
    fn fired_at(&self) -> Option<String> {
        time(&self.inner.fired_at)
    }
    #[getter]
    fn settled_at(&self) -> Option<String> {
        time(&self.inner.settled_at)
    }
    #[getter]
    fn cancelled_at(&self) -> Option<String> {
        time(&self.inner.cancelled_at)
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
    fn cancel_reason(&self) -> &str {
        &self.inner.cancel_reason
    }
    #[getter]
    fn failure_reason(&self) -> &str {
        &self.inner.failure_reason
    }
    #[getter]
    fn state_version(&self) -> u64 {
        self.inner.state_version
    }
    /// `fired_at - fire_at` in milliseconds, once fired.
    #[getter]
    fn jitter_ms(&self) -> Option<f64> {
        self.inner
            .fired_at
            .is_some()
            .then_some(self.inner.jitter_ms)
    }
    /// The REST/webhook JSON form (camelCase keys), every field included.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &json::timer_to_json(&self.inner))
    }
    fn __repr__(&self) -> String {
        format!(
            "Timer(id={:?}, name={:?}, status={:?}, fire_at={:?})",
            self.inner.id,
            self.inner.name,
            self.status(),
            self.fire_at().unwrap_or_default()
        )
    }
}

/// One lifecycle transition of a timer.
#[pyclass(module = "minoots", frozen)]
pub struct TimerEvent {
    pub inner: proto::TimerEvent,
}

#[pymethods]
impl TimerEvent {
    /// Per tenant, strictly increasing; pass it back as `after_sequence` to resume.
    #[getter]
    fn sequence(&self) -> u64 {
        self.inner.sequence
    }
    /// `timer.scheduled`, `timer.armed`, `timer.fired`, `timer.settled`, `timer.failed`,
    /// `timer.cancelled`, `timer.updated`, `timer.paused`, `timer.resumed`.
    #[getter]
    fn event_type(&self) -> &'static str {
        self.inner.event_type().wire_name()
    }
    #[getter]
    fn timer_id(&self) -> &str {
        &self.inner.timer_id
    }
    #[getter]
    fn occurred_at(&self) -> Option<String> {
        time(&self.inner.occurred_at)
    }
    /// `{timer_id}:{state_version}`: stable across redeliveries.
    #[getter]
    fn dedupe_key(&self) -> &str {
        &self.inner.dedupe_key
    }
    #[getter]
    fn trace_id(&self) -> &str {
        &self.inner.trace_id
    }
    /// The timer right after this transition.
    #[getter]
    fn timer(&self) -> Option<Timer> {
        self.inner.timer.clone().map(|inner| Timer { inner })
    }
    /// The payload webhooks and NATS receive, parsed.
    #[getter]
    fn payload(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = String::from_utf8_lossy(&self.inner.payload).into_owned();
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }
    fn __repr__(&self) -> String {
        format!(
            "TimerEvent(sequence={}, event_type={:?}, timer_id={:?})",
            self.inner.sequence,
            self.event_type(),
            self.inner.timer_id
        )
    }
}

/// `duration` as Python gives it: `"15m"`-style text, a `timedelta`, or seconds.
fn duration(value: &Bound<'_, PyAny>) -> PyResult<minoots::After> {
    duration_named(value, "duration")
}

/// A length as Python gives it (`"15m"`-style text, a `timedelta`, or seconds); `field` names
/// it in errors.
pub fn duration_named(value: &Bound<'_, PyAny>, field: &str) -> PyResult<minoots::After> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(minoots::After::from(text.to_str()?));
    }
    if let Ok(delta) = value.cast::<PyDelta>() {
        let micros = (i64::from(delta.get_days()) * 86_400 + i64::from(delta.get_seconds()))
            * 1_000_000
            + i64::from(delta.get_microseconds());
        return non_negative(micros as f64 / 1e6, field);
    }
    if let Ok(seconds) = value.extract::<f64>() {
        return non_negative(seconds, field);
    }
    Err(PyTypeError::new_err(format!(
        "{field}: expected text like \"15m\", a datetime.timedelta, or seconds"
    )))
}

fn non_negative(seconds: f64, field: &str) -> PyResult<minoots::After> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(to_py(minoots::Error::InvalidArgument {
            field: field.into(),
            message: format!("{seconds} is not a non-negative number of seconds"),
        }));
    }
    Ok(Duration::from_secs_f64(seconds).into())
}

/// The keyword arguments of `schedule`, gathered once for the sync and async clients.
pub struct ScheduleArgs<'py> {
    pub name: String,
    pub duration: Option<Bound<'py, PyAny>>,
    pub fire_at: Option<Bound<'py, PyAny>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<Bound<'py, PyAny>>,
    pub action_bundle: Option<Bound<'py, PyAny>>,
    pub webhook: Option<String>,
    pub idempotency_key: Option<String>,
    pub requested_by: Option<String>,
    pub key_policy: Option<String>,
    pub late_policy: Option<String>,
}

impl<'py> ScheduleArgs<'py> {
    /// One entry of `schedule_many`: a dict with `schedule`'s keyword arguments as keys.
    pub fn from_dict(spec: &Bound<'py, PyAny>) -> PyResult<Self> {
        let dict = spec.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err("schedule_many: each timer is a dict of schedule()'s arguments")
        })?;
        let mut args = ScheduleArgs {
            name: String::new(),
            duration: None,
            fire_at: None,
            labels: None,
            metadata: None,
            action_bundle: None,
            webhook: None,
            idempotency_key: None,
            requested_by: None,
            key_policy: None,
            late_policy: None,
        };
        for (key, value) in dict.iter() {
            let key: String = key.extract()?;
            if value.is_none() {
                continue;
            }
            match key.as_str() {
                "name" => args.name = value.extract()?,
                "duration" => args.duration = Some(value),
                "fire_at" => args.fire_at = Some(value),
                "labels" => args.labels = Some(value.extract()?),
                "metadata" => args.metadata = Some(value),
                "action_bundle" => args.action_bundle = Some(value),
                "webhook" => args.webhook = Some(value.extract()?),
                "idempotency_key" => args.idempotency_key = Some(value.extract()?),
                "requested_by" => args.requested_by = Some(value.extract()?),
                "key_policy" => args.key_policy = Some(value.extract()?),
                "late_policy" => args.late_policy = Some(value.extract()?),
                _ => {
                    return Err(to_py(minoots::Error::InvalidArgument {
                        field: key.clone(),
                        message: format!("schedule_many takes no argument {key:?}"),
                    }));
                }
            }
        }
        Ok(args)
    }

    pub fn into_spec(self) -> PyResult<TimerSpec> {
        Ok(TimerOptions {
            name: self.name,
            duration: self.duration.as_ref().map(duration).transpose()?,
            fire_at: self.fire_at.as_ref().map(fire_at).transpose()?,
            labels: self.labels.unwrap_or_default(),
            metadata: self
                .metadata
                .as_ref()
                .map(|m| from_python(m, "metadata"))
                .transpose()?,
            action_bundle: self
                .action_bundle
                .as_ref()
                .map(|b| from_python(b, "action_bundle"))
                .transpose()?,
            webhook: self.webhook,
            idempotency_key: self.idempotency_key,
            requested_by: self.requested_by,
            key_policy: self.key_policy,
            late_policy: self.late_policy,
        }
        .into())
    }
}

/// `fire_at` as Python gives it: a `datetime`, or RFC 3339 text.
pub fn fire_at(at: &Bound<'_, PyAny>) -> PyResult<String> {
    if at.hasattr("isoformat")? {
        return at.call_method0("isoformat")?.extract();
    }
    at.extract()
}

/// The keyword arguments of `update`, gathered once for the sync and async clients.
pub struct UpdateArgs<'py> {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    pub duration: Option<Bound<'py, PyAny>>,
    pub fire_at: Option<Bound<'py, PyAny>>,
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub metadata: Option<Bound<'py, PyAny>>,
    pub action_bundle: Option<Bound<'py, PyAny>>,
    pub webhook: Option<String>,
    pub expected_state_version: Option<u64>,
    pub late_policy: Option<String>,
    pub requested_by: Option<String>,
}

impl UpdateArgs<'_> {
    pub fn into_update(self) -> PyResult<TimerUpdate> {
        Ok(TimerUpdate {
            id: self.id,
            idempotency_key: self.idempotency_key,
            duration: self.duration.as_ref().map(duration).transpose()?,
            fire_at: self.fire_at.as_ref().map(fire_at).transpose()?,
            name: self.name,
            labels: self.labels,
            metadata: self
                .metadata
                .as_ref()
                .map(|m| from_python(m, "metadata"))
                .transpose()?,
            action_bundle: self
                .action_bundle
                .as_ref()
                .map(|b| from_python(b, "action_bundle"))
                .transpose()?,
            webhook: self.webhook,
            expected_state_version: self.expected_state_version,
            late_policy: self.late_policy,
            requested_by: self.requested_by,
        })
    }
}

/// Whether the tenant's deliveries are paused, as `pause_tenant`, `resume_tenant` and
/// `tenant_pause` report it.
#[pyclass(module = "minoots", frozen)]
pub struct TenantPause {
    pub inner: proto::TenantPause,
}

#[pymethods]
impl TenantPause {
    #[getter]
    fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }
    #[getter]
    fn paused(&self) -> bool {
        self.inner.paused
    }
    #[getter]
    fn paused_at(&self) -> Option<String> {
        time(&self.inner.paused_at)
    }
    #[getter]
    fn paused_by(&self) -> &str {
        &self.inner.paused_by
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }
    /// Timers this call paused or resumed.
    #[getter]
    fn changed(&self) -> u64 {
        self.inner.changed
    }
    fn __repr__(&self) -> String {
        format!(
            "TenantPause(tenant_id={:?}, paused={}, changed={})",
            self.inner.tenant_id, self.inner.paused, self.inner.changed
        )
    }
}
