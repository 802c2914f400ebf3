//! Dead letters and replay results as Python objects, and `since` as the SDK takes it.

use minoots::{json, proto};
use pyo3::prelude::*;

use crate::{
    error::to_py,
    timer::{Timer, time, to_python},
};

/// `since` as Python gives it: RFC 3339 text, a duration ago (`"24h"`), or an aware `datetime`.
pub fn since(value: Option<Bound<'_, PyAny>>) -> PyResult<Option<prost_types::Timestamp>> {
    let Some(value) = value else { return Ok(None) };
    let text: String = if value.hasattr("isoformat")? {
        value.call_method0("isoformat")?.extract()?
    } else {
        value.extract()?
    };
    minoots::parse_since(&text).map(Some).map_err(to_py)
}

/// An action that exhausted its retries: what it was, how often it was tried, the last error.
#[pyclass(module = "minoots", frozen)]
pub struct DeadLetter {
    pub inner: proto::DeadLetter,
}

#[pymethods]
impl DeadLetter {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    #[getter]
    fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }
    #[getter]
    fn timer_id(&self) -> &str {
        &self.inner.timer_id
    }
    /// Position of the action in the timer's action bundle.
    #[getter]
    fn action_index(&self) -> u32 {
        self.inner.action_index
    }
    /// The action, in the REST JSON form.
    #[getter]
    fn action(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &json::dead_letter_to_json(&self.inner)["action"])
    }
    /// Kept by replays (the `webhook-id` of webhooks).
    #[getter]
    fn idempotency_key(&self) -> &str {
        &self.inner.idempotency_key
    }
    #[getter]
    fn attempts(&self) -> u32 {
        self.inner.attempts
    }
    #[getter]
    fn last_error(&self) -> &str {
        &self.inner.last_error
    }
    #[getter]
    fn created_at(&self) -> Option<String> {
        time(&self.inner.created_at)
    }
    /// Set once a replay succeeded.
    #[getter]
    fn resolved_at(&self) -> Option<String> {
        time(&self.inner.resolved_at)
    }
    #[getter]
    fn replays(&self) -> u32 {
        self.inner.replays
    }
    /// The REST JSON form (camelCase keys).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &json::dead_letter_to_json(&self.inner))
    }
    fn __repr__(&self) -> String {
        format!(
            "DeadLetter(id={:?}, timer_id={:?}, attempts={}, last_error={:?})",
            self.inner.id, self.inner.timer_id, self.inner.attempts, self.inner.last_error
        )
    }
}

/// How one run of an action went.
#[pyclass(module = "minoots", frozen)]
pub struct ActionResult {
    pub inner: proto::ActionResult,
}

#[pymethods]
impl ActionResult {
    #[getter]
    fn index(&self) -> u32 {
        self.inner.index
    }
    #[getter]
    fn action_id(&self) -> &str {
        &self.inner.action_id
    }
    /// `webhook`, `command`, `file` or `agent_prompt`.
    #[getter]
    fn kind(&self) -> &str {
        &self.inner.kind
    }
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok
    }
    #[getter]
    fn attempts(&self) -> u32 {
        self.inner.attempts
    }
    /// What happened: `HTTP 200`, `exit status 0`, or the last error.
    #[getter]
    fn detail(&self) -> &str {
        &self.inner.detail
    }
    /// Response body or command output, truncated.
    #[getter]
    fn output(&self) -> &str {
        &self.inner.output
    }
    #[getter]
    fn finished_at(&self) -> Option<String> {
        time(&self.inner.finished_at)
    }
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &json::action_result_to_json(&self.inner))
    }
    fn __repr__(&self) -> String {
        format!(
            "ActionResult(kind={:?}, ok={}, attempts={}, detail={:?})",
            self.inner.kind, self.inner.ok, self.inner.attempts, self.inner.detail
        )
    }
}

/// The outcome of replaying a dead letter: the letter (resolved if the run succeeded), the run,
/// and the timer after it (`settled` once nothing of it is dead any more).
#[pyclass(module = "minoots", frozen)]
pub struct ReplayResult {
    pub inner: proto::ReplayResult,
}

#[pymethods]
impl ReplayResult {
    #[getter]
    fn dead_letter(&self) -> Option<DeadLetter> {
        self.inner
            .dead_letter
            .clone()
            .map(|inner| DeadLetter { inner })
    }
    #[getter]
    fn result(&self) -> Option<ActionResult> {
        self.inner
            .result
            .clone()
            .map(|inner| ActionResult { inner })
    }
    #[getter]
    fn timer(&self) -> Option<Timer> {
        self.inner.timer.clone().map(|inner| Timer { inner })
    }
    fn __repr__(&self) -> String {
        format!(
            "ReplayResult(dead_letter={:?}, ok={:?})",
            self.inner.dead_letter.as_ref().map(|l| l.id.as_str()),
            self.inner.result.as_ref().map(|r| r.ok)
        )
    }
}
