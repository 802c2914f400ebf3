//! `minoots.Client` (blocking) and `minoots.AsyncClient` (asyncio): the same SDK client, each
//! method one call into it.

use std::{collections::BTreeMap, time::Duration};

use minoots::proto::{SelectTimersRequest, SelectTimersResponse};
use minoots::{ConnectOptions, ListFilter, StreamOptions, TimerSpec, WaitFor, tools};
use pyo3::{
    prelude::*,
    types::{PyBytes, PyDict},
};

use crate::{
    aio::awaitable,
    dead_letter::{DeadLetter, ReplayResult, since},
    error::to_py,
    runtime,
    schedule::{self, Schedule, TimingArgs, occurrences},
    stream::{AsyncEventStream, EventStream},
    timer::{ScheduleArgs, TenantPause, Timer, UpdateArgs, from_python, to_python},
};

/// The arguments where given, else `MINOOTS_URL` / `MINOOTS_API_URL`, `MINOOTS_API_KEY` and
/// `MINOOTS_TENANT` (the SDK's one reading of the environment).
fn connect_options(
    url: Option<String>,
    api_key: Option<String>,
    tenant: Option<String>,
    region: Option<String>,
    ca_certificate: Option<Vec<u8>>,
    connect_timeout: f64,
) -> PyResult<ConnectOptions> {
    let connect_timeout = Duration::try_from_secs_f64(connect_timeout).map_err(|_| {
        to_py(minoots::Error::InvalidArgument {
            field: "connect_timeout".into(),
            message: format!("{connect_timeout} is not a non-negative number of seconds"),
        })
    })?;
    let options = ConnectOptions::from_env(url, api_key);
    Ok(ConnectOptions {
        tenant: tenant.or(options.tenant.clone()),
        region,
        ca_certificate,
        connect_timeout,
        ..options
    })
}

fn specs(specs: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<TimerSpec>> {
    specs
        .iter()
        .map(|spec| ScheduleArgs::from_dict(spec)?.into_spec())
        .collect()
}

fn list_filter(
    statuses: Option<Vec<String>>,
    label_selector: Option<String>,
    name_prefix: Option<String>,
    page_size: Option<u32>,
) -> PyResult<ListFilter> {
    let filter = ListFilter {
        label_selector: label_selector.unwrap_or_default(),
        name_prefix: name_prefix.unwrap_or_default(),
        page_size: page_size.unwrap_or_default(),
        ..Default::default()
    };
    filter
        .status_names(statuses.unwrap_or_default())
        .map_err(to_py)
}

pub fn stream_options(
    after_sequence: Option<u64>,
    event_types: Option<Vec<String>>,
    label_selector: Option<String>,
) -> PyResult<StreamOptions> {
    let options = StreamOptions {
        after_sequence,
        label_selector: label_selector.unwrap_or_default(),
        ..Default::default()
    };
    options
        .event_type_names(event_types.unwrap_or_default())
        .map_err(to_py)
}

fn wait_for(until: &str) -> PyResult<WaitFor> {
    WaitFor::from_name(until).map_err(to_py)
}

fn seconds(timeout: Option<f64>) -> Option<Duration> {
    timeout.map(|s| Duration::from_secs_f64(s.max(0.0)))
}

fn timer(py: Python<'_>, inner: minoots::proto::Timer) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Timer { inner })?.into_any())
}

/// The timers a bulk call selects: its arguments as the SDK's `SelectTimersRequest`.
fn selection(
    label_selector: Option<String>,
    all: bool,
    name_prefix: Option<String>,
    dry_run: bool,
    reason: String,
) -> SelectTimersRequest {
    SelectTimersRequest {
        label_selector: label_selector.unwrap_or_default(),
        all,
        name_prefix: name_prefix.unwrap_or_default(),
        dry_run,
        reason,
        ..Default::default()
    }
}

/// A bulk call's answer as `{"matched": n, "changed": n}`.
fn selected(py: Python<'_>, response: SelectTimersResponse) -> PyResult<Py<PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("matched", response.matched)?;
    dict.set_item("changed", response.changed)?;
    Ok(dict.into_any().unbind())
}

fn tenant_pause(py: Python<'_>, inner: minoots::proto::TenantPause) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, TenantPause { inner })?.into_any())
}

fn timers(py: Python<'_>, all: Vec<minoots::proto::Timer>) -> PyResult<Py<PyAny>> {
    let list: Vec<Timer> = all.into_iter().map(|inner| Timer { inner }).collect();
    Ok(list.into_pyobject(py)?.into_any().unbind())
}

fn dead_letter(py: Python<'_>, inner: minoots::proto::DeadLetter) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, DeadLetter { inner })?.into_any())
}

fn dead_letters(py: Python<'_>, all: Vec<minoots::proto::DeadLetter>) -> PyResult<Py<PyAny>> {
    let list: Vec<DeadLetter> = all.into_iter().map(|inner| DeadLetter { inner }).collect();
    Ok(list.into_pyobject(py)?.into_any().unbind())
}

fn replay(py: Python<'_>, inner: minoots::proto::ReplayResult) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, ReplayResult { inner })?.into_any())
}

fn replays(py: Python<'_>, all: Vec<minoots::proto::ReplayResult>) -> PyResult<Py<PyAny>> {
    let list: Vec<ReplayResult> = all
        .into_iter()
        .map(|inner| ReplayResult { inner })
        .collect();
    Ok(list.into_pyobject(py)?.into_any().unbind())
}

/// Runs an SDK future to completion without holding the GIL.
fn block<T: Send>(
    py: Python<'_>,
    work: impl std::future::Future<Output = Result<T, minoots::Error>> + Send,
) -> PyResult<T> {
    py.detach(|| runtime::get().block_on(work)).map_err(to_py)
}

/// A blocking client: `minoots.Client(url, api_key=...)`. Safe to share between threads.
#[pyclass(module = "minoots", frozen)]
pub struct Client {
    inner: minoots::Client,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (url=None, *, api_key=None, tenant=None, region=None, ca_certificate=None, connect_timeout=10.0))]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        api_key: Option<String>,
        tenant: Option<String>,
        region: Option<String>,
        ca_certificate: Option<Vec<u8>>,
        connect_timeout: f64,
    ) -> PyResult<Self> {
        let options = connect_options(
            url,
            api_key,
            tenant,
            region,
            ca_certificate,
            connect_timeout,
        )?;
        let inner = block(py, options.connect())?;
        Ok(Self { inner })
    }

    #[pyo3(signature = (name, duration=None, *, fire_at=None, labels=None, metadata=None, action_bundle=None, webhook=None, idempotency_key=None, requested_by=None, key_policy=None, late_policy=None))]
    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &self,
        py: Python<'_>,
        name: String,
        duration: Option<Bound<'_, PyAny>>,
        fire_at: Option<Bound<'_, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'_, PyAny>>,
        action_bundle: Option<Bound<'_, PyAny>>,
        webhook: Option<String>,
        idempotency_key: Option<String>,
        requested_by: Option<String>,
        key_policy: Option<String>,
        late_policy: Option<String>,
    ) -> PyResult<Timer> {
        let spec = ScheduleArgs {
            name,
            duration,
            fire_at,
            labels,
            metadata,
            action_bundle,
            webhook,
            idempotency_key,
            requested_by,
            key_policy,
            late_policy,
        }
        .into_spec()?;
        let inner = block(py, self.inner.schedule(spec))?;
        Ok(Timer { inner })
    }

    /// Schedules every timer (each a dict of `schedule`'s arguments) in one durable write; one
    /// invalid timer rejects them all.
    fn schedule_many(&self, py: Python<'_>, timers: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Timer>> {
        let all = block(py, self.inner.schedule_many(specs(timers)?))?;
        Ok(all.into_iter().map(|inner| Timer { inner }).collect())
    }

    fn get(&self, py: Python<'_>, id: String) -> PyResult<Timer> {
        let inner = block(py, self.inner.get(&id))?;
        Ok(Timer { inner })
    }

    /// Every matching timer (pages fetched as needed), at most `limit`.
    #[pyo3(signature = (*, statuses=None, label_selector=None, name_prefix=None, page_size=None, limit=None))]
    fn list(
        &self,
        py: Python<'_>,
        statuses: Option<Vec<String>>,
        label_selector: Option<String>,
        name_prefix: Option<String>,
        page_size: Option<u32>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Timer>> {
        let filter = list_filter(statuses, label_selector, name_prefix, page_size)?;
        let all = block(py, self.inner.list_up_to(filter, limit))?;
        Ok(all.into_iter().map(|inner| Timer { inner }).collect())
    }

    #[pyo3(signature = (id, reason=String::new()))]
    fn cancel(&self, py: Python<'_>, id: String, reason: String) -> PyResult<Timer> {
        let inner = block(py, self.inner.cancel(&id, &reason))?;
        Ok(Timer { inner })
    }

    /// Changes a pending timer, named by `id` or `idempotency_key`: each argument given replaces
    /// the timer's. With `expected_state_version`, a concurrent change raises `AbortedError`.
    #[pyo3(signature = (id=None, *, idempotency_key=None, duration=None, fire_at=None, name=None, labels=None, metadata=None, webhook=None, action_bundle=None, expected_state_version=None, late_policy=None, requested_by=None))]
    #[allow(clippy::too_many_arguments)]
    fn update<'py>(
        &self,
        py: Python<'py>,
        id: Option<String>,
        idempotency_key: Option<String>,
        duration: Option<Bound<'py, PyAny>>,
        fire_at: Option<Bound<'py, PyAny>>,
        name: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'py, PyAny>>,
        webhook: Option<String>,
        action_bundle: Option<Bound<'py, PyAny>>,
        expected_state_version: Option<u64>,
        late_policy: Option<String>,
        requested_by: Option<String>,
    ) -> PyResult<Timer> {
        let update = UpdateArgs {
            id,
            idempotency_key,
            duration,
            fire_at,
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            expected_state_version,
            late_policy,
            requested_by,
        }
        .into_update()?;
        let inner = block(py, self.inner.update(update))?;
        Ok(Timer { inner })
    }

    /// The timer scheduled with this idempotency key.
    fn get_by_key(&self, py: Python<'_>, idempotency_key: String) -> PyResult<Timer> {
        let inner = block(py, self.inner.get_by_key(&idempotency_key))?;
        Ok(Timer { inner })
    }

    /// Cancels the timer scheduled with this idempotency key.
    #[pyo3(signature = (idempotency_key, reason=String::new()))]
    fn cancel_by_key(
        &self,
        py: Python<'_>,
        idempotency_key: String,
        reason: String,
    ) -> PyResult<Timer> {
        let inner = block(py, self.inner.cancel_by_key(&idempotency_key, &reason))?;
        Ok(Timer { inner })
    }

    /// Holds a pending timer (status `paused`) until `resume`.
    #[pyo3(signature = (id, reason=String::new()))]
    fn pause(&self, py: Python<'_>, id: String, reason: String) -> PyResult<Timer> {
        let inner = block(py, self.inner.pause(&id, &reason))?;
        Ok(Timer { inner })
    }

    /// Arms a paused timer again; if its fire time passed it fires at once.
    fn resume(&self, py: Python<'_>, id: String) -> PyResult<Timer> {
        let inner = block(py, self.inner.resume(&id))?;
        Ok(Timer { inner })
    }

    /// Cancels every pending timer the selection matches (with `dry_run`, only counts them):
    /// `{"matched": n, "changed": n}`.
    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn cancel_timers(
        &self,
        py: Python<'_>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Py<PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let response = block(py, self.inner.cancel_timers(selection))?;
        selected(py, response)
    }

    /// Pauses every scheduled or armed timer the selection matches.
    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn pause_timers(
        &self,
        py: Python<'_>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Py<PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let response = block(py, self.inner.pause_timers(selection))?;
        selected(py, response)
    }

    /// Resumes every paused timer the selection matches.
    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn resume_timers(
        &self,
        py: Python<'_>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Py<PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let response = block(py, self.inner.resume_timers(selection))?;
        selected(py, response)
    }

    /// Pauses the tenant's deliveries (needs a tenant admin key) until `resume_tenant`.
    #[pyo3(signature = (reason=String::new()))]
    fn pause_tenant(&self, py: Python<'_>, reason: String) -> PyResult<TenantPause> {
        let inner = block(py, self.inner.pause_tenant(&reason))?;
        Ok(TenantPause { inner })
    }

    /// Lifts the tenant's pause; overdue timers fire at once.
    fn resume_tenant(&self, py: Python<'_>) -> PyResult<TenantPause> {
        let inner = block(py, self.inner.resume_tenant())?;
        Ok(TenantPause { inner })
    }

    /// Whether the tenant's deliveries are paused.
    fn tenant_pause(&self, py: Python<'_>) -> PyResult<TenantPause> {
        let inner = block(py, self.inner.tenant_pause())?;
        Ok(TenantPause { inner })
    }

    /// Blocks until the timer fires (`until="fired"`) or ends (`"done"`); `timeout` in seconds
    /// raises `DeadlineExceededError`.
    #[pyo3(signature = (id, *, until="fired", timeout=None))]
    fn wait_for(
        &self,
        py: Python<'_>,
        id: String,
        until: &str,
        timeout: Option<f64>,
    ) -> PyResult<Timer> {
        let until = wait_for(until)?;
        let inner = block(py, self.inner.wait_for(&id, until, seconds(timeout)))?;
        Ok(Timer { inner })
    }

    /// Lifecycle events, reconnecting and resuming by itself: `for event in client.stream():`.
    #[pyo3(signature = (*, after_sequence=None, event_types=None, label_selector=None))]
    fn stream(
        &self,
        py: Python<'_>,
        after_sequence: Option<u64>,
        event_types: Option<Vec<String>>,
        label_selector: Option<String>,
    ) -> PyResult<EventStream> {
        let options = stream_options(after_sequence, event_types, label_selector)?;
        let inner = block(py, self.inner.stream(options))?;
        Ok(EventStream::new(inner))
    }

    /// Unresolved dead letters created at or after `since` (RFC 3339, a `datetime`, or a
    /// duration ago such as `"24h"`); with `include_resolved`, replayed ones too.
    #[pyo3(signature = (*, since=None, include_resolved=false))]
    fn dead_letters(
        &self,
        py: Python<'_>,
        since: Option<Bound<'_, PyAny>>,
        include_resolved: bool,
    ) -> PyResult<Vec<DeadLetter>> {
        let since = self::since(since)?;
        let all = block(py, self.inner.dead_letters(since, include_resolved))?;
        Ok(all.into_iter().map(|inner| DeadLetter { inner }).collect())
    }

    fn dead_letter(&self, py: Python<'_>, id: String) -> PyResult<DeadLetter> {
        let inner = block(py, self.inner.dead_letter(&id))?;
        Ok(DeadLetter { inner })
    }

    /// Runs a dead-lettered action again, with its original idempotency key.
    fn replay_dead_letter(&self, py: Python<'_>, id: String) -> PyResult<ReplayResult> {
        let inner = block(py, self.inner.replay_dead_letter(&id))?;
        Ok(ReplayResult { inner })
    }

    /// Replays every unresolved dead letter created at or after `since`.
    #[pyo3(signature = (*, since=None))]
    fn replay_dead_letters(
        &self,
        py: Python<'_>,
        since: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Vec<ReplayResult>> {
        let since = self::since(since)?;
        let all = block(py, self.inner.replay_dead_letters(since))?;
        Ok(all
            .into_iter()
            .map(|inner| ReplayResult { inner })
            .collect())
    }

    /// Creates a recurring schedule: `create_schedule("standup", "0 9 * * MON-FRI",
    /// time_zone="Europe/Paris", webhook=url)`, or `interval="15m"` instead of a cron. Each
    /// occurrence is an ordinary timer. Lengths are text (`"30s"`), `timedelta` or seconds.
    #[pyo3(signature = (name, cron=None, *, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, labels=None, metadata=None, action_bundle=None, webhook=None, agent_binding=None, idempotency_key=None, requested_by=None, paused=false))]
    #[allow(clippy::too_many_arguments)]
    fn create_schedule(
        &self,
        py: Python<'_>,
        name: String,
        cron: Option<String>,
        interval: Option<Bound<'_, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'_, PyAny>>,
        end_at: Option<Bound<'_, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'_, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'_, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'_, PyAny>>,
        action_bundle: Option<Bound<'_, PyAny>>,
        webhook: Option<String>,
        agent_binding: Option<Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
        requested_by: Option<String>,
        paused: bool,
    ) -> PyResult<Schedule> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let options = schedule::CreateArgs {
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            agent_binding,
            idempotency_key,
            requested_by,
            paused,
        }
        .into_options(timing)?;
        let inner = block(py, self.inner.create_schedule(options))?;
        Ok(Schedule { inner })
    }

    fn get_schedule(&self, py: Python<'_>, id: String) -> PyResult<Schedule> {
        let inner = block(py, self.inner.get_schedule(&id))?;
        Ok(Schedule { inner })
    }

    /// The schedule created with this idempotency key.
    fn get_schedule_by_key(&self, py: Python<'_>, idempotency_key: String) -> PyResult<Schedule> {
        let inner = block(py, self.inner.get_schedule_by_key(&idempotency_key))?;
        Ok(Schedule { inner })
    }

    /// Every matching schedule (pages fetched as needed), at most `limit`; `states` default to
    /// every state but `deleted`.
    #[pyo3(signature = (*, states=None, label_selector=None, page_size=None, limit=None))]
    fn list_schedules(
        &self,
        py: Python<'_>,
        states: Option<Vec<String>>,
        label_selector: Option<String>,
        page_size: Option<u32>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Schedule>> {
        let query = schedule::query(states, label_selector, page_size)?;
        let all = block(py, self.inner.list_schedules_up_to(query, limit))?;
        Ok(all.into_iter().map(|inner| Schedule { inner }).collect())
    }

    /// Changes a schedule from its next occurrence on: each argument given replaces the
    /// schedule's; timing arguments given alone keep the rest of its timing. With
    /// `expected_version`, a concurrent change raises `AbortedError`.
    #[pyo3(signature = (id, *, name=None, cron=None, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, labels=None, metadata=None, action_bundle=None, webhook=None, agent_binding=None, expected_version=None, requested_by=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_schedule(
        &self,
        py: Python<'_>,
        id: String,
        name: Option<String>,
        cron: Option<String>,
        interval: Option<Bound<'_, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'_, PyAny>>,
        end_at: Option<Bound<'_, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'_, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'_, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'_, PyAny>>,
        action_bundle: Option<Bound<'_, PyAny>>,
        webhook: Option<String>,
        agent_binding: Option<Bound<'_, PyAny>>,
        expected_version: Option<u64>,
        requested_by: Option<String>,
    ) -> PyResult<Schedule> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let update = schedule::UpdateArgs {
            id,
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            agent_binding,
            expected_version,
            requested_by,
        }
        .into_update(timing)?;
        let inner = block(py, self.inner.update_schedule(update))?;
        Ok(Schedule { inner })
    }

    /// No occurrence is created until `resume_schedule`; slots passed meanwhile are skipped.
    #[pyo3(signature = (id, reason=String::new()))]
    fn pause_schedule(&self, py: Python<'_>, id: String, reason: String) -> PyResult<Schedule> {
        let inner = block(py, self.inner.pause_schedule(&id, &reason))?;
        Ok(Schedule { inner })
    }

    fn resume_schedule(&self, py: Python<'_>, id: String) -> PyResult<Schedule> {
        let inner = block(py, self.inner.resume_schedule(&id))?;
        Ok(Schedule { inner })
    }

    /// Stops the schedule for good and cancels its pending occurrence.
    fn delete_schedule(&self, py: Python<'_>, id: String) -> PyResult<Schedule> {
        let inner = block(py, self.inner.delete_schedule(&id))?;
        Ok(Schedule { inner })
    }

    /// The next `count` occurrences (default 10) after `after` (default now) of the stored
    /// schedule `id`, or of the timing arguments, creating nothing:
    /// `[{"fire_at": ..., "local_time": ...}]`, `local_time` as wall time in the zone.
    #[pyo3(signature = (id=None, *, cron=None, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, count=None, after=None))]
    #[allow(clippy::too_many_arguments)]
    fn preview_schedule(
        &self,
        py: Python<'_>,
        id: Option<String>,
        cron: Option<String>,
        interval: Option<Bound<'_, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'_, PyAny>>,
        end_at: Option<Bound<'_, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'_, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'_, PyAny>>,
        count: Option<u32>,
        after: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let (of, after) = (schedule::preview_of(id, timing)?, schedule::after(after)?);
        let preview = block(
            py,
            self.inner
                .preview_schedule(of, count.unwrap_or_default(), after),
        )?;
        occurrences(py, preview)
    }

    /// Runs an agent tool (see `minoots.agents`) with JSON-like arguments; returns its JSON
    /// result as Python objects.
    #[pyo3(signature = (name, arguments=None))]
    fn call_tool(
        &self,
        py: Python<'_>,
        name: String,
        arguments: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let arguments = tool_arguments(arguments)?;
        let result = block(py, tools::call_tool(&self.inner, &name, &arguments))?;
        to_python(py, &result)
    }
}

/// An asyncio client: `client = await minoots.AsyncClient.connect(url, api_key=...)`.
#[pyclass(module = "minoots", frozen)]
pub struct AsyncClient {
    inner: minoots::Client,
}

#[pymethods]
impl AsyncClient {
    #[staticmethod]
    #[pyo3(signature = (url=None, *, api_key=None, tenant=None, region=None, ca_certificate=None, connect_timeout=10.0))]
    fn connect<'py>(
        py: Python<'py>,
        url: Option<String>,
        api_key: Option<String>,
        tenant: Option<String>,
        region: Option<String>,
        ca_certificate: Option<Vec<u8>>,
        connect_timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = connect_options(
            url,
            api_key,
            tenant,
            region,
            ca_certificate,
            connect_timeout,
        )?;
        awaitable(py, options.connect(), |py, inner| {
            Ok(Py::new(py, AsyncClient { inner })?.into_any())
        })
    }

    #[pyo3(signature = (name, duration=None, *, fire_at=None, labels=None, metadata=None, action_bundle=None, webhook=None, idempotency_key=None, requested_by=None, key_policy=None, late_policy=None))]
    #[allow(clippy::too_many_arguments)]
    fn schedule<'py>(
        &self,
        py: Python<'py>,
        name: String,
        duration: Option<Bound<'py, PyAny>>,
        fire_at: Option<Bound<'py, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'py, PyAny>>,
        action_bundle: Option<Bound<'py, PyAny>>,
        webhook: Option<String>,
        idempotency_key: Option<String>,
        requested_by: Option<String>,
        key_policy: Option<String>,
        late_policy: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let spec = ScheduleArgs {
            name,
            duration,
            fire_at,
            labels,
            metadata,
            action_bundle,
            webhook,
            idempotency_key,
            requested_by,
            key_policy,
            late_policy,
        }
        .into_spec()?;
        let client = self.inner.clone();
        awaitable(py, async move { client.schedule(spec).await }, timer)
    }

    fn schedule_many<'py>(
        &self,
        py: Python<'py>,
        timers: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, specs) = (self.inner.clone(), specs(timers)?);
        awaitable(
            py,
            async move { client.schedule_many(specs).await },
            self::timers,
        )
    }

    fn get<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(py, async move { client.get(&id).await }, timer)
    }

    #[pyo3(signature = (*, statuses=None, label_selector=None, name_prefix=None, page_size=None, limit=None))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        statuses: Option<Vec<String>>,
        label_selector: Option<String>,
        name_prefix: Option<String>,
        page_size: Option<u32>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = list_filter(statuses, label_selector, name_prefix, page_size)?;
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.list_up_to(filter, limit).await },
            timers,
        )
    }

    #[pyo3(signature = (id, reason=String::new()))]
    fn cancel<'py>(
        &self,
        py: Python<'py>,
        id: String,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(py, async move { client.cancel(&id, &reason).await }, timer)
    }

    /// Changes a pending timer, named by `id` or `idempotency_key`: each argument given replaces
    /// the timer's. With `expected_state_version`, a concurrent change raises `AbortedError`.
    #[pyo3(signature = (id=None, *, idempotency_key=None, duration=None, fire_at=None, name=None, labels=None, metadata=None, webhook=None, action_bundle=None, expected_state_version=None, late_policy=None, requested_by=None))]
    #[allow(clippy::too_many_arguments)]
    fn update<'py>(
        &self,
        py: Python<'py>,
        id: Option<String>,
        idempotency_key: Option<String>,
        duration: Option<Bound<'py, PyAny>>,
        fire_at: Option<Bound<'py, PyAny>>,
        name: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'py, PyAny>>,
        webhook: Option<String>,
        action_bundle: Option<Bound<'py, PyAny>>,
        expected_state_version: Option<u64>,
        late_policy: Option<String>,
        requested_by: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let update = UpdateArgs {
            id,
            idempotency_key,
            duration,
            fire_at,
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            expected_state_version,
            late_policy,
            requested_by,
        }
        .into_update()?;
        let client = self.inner.clone();
        awaitable(py, async move { client.update(update).await }, timer)
    }

    fn get_by_key<'py>(
        &self,
        py: Python<'py>,
        idempotency_key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.get_by_key(&idempotency_key).await },
            timer,
        )
    }

    #[pyo3(signature = (idempotency_key, reason=String::new()))]
    fn cancel_by_key<'py>(
        &self,
        py: Python<'py>,
        idempotency_key: String,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.cancel_by_key(&idempotency_key, &reason).await },
            timer,
        )
    }

    #[pyo3(signature = (id, reason=String::new()))]
    fn pause<'py>(
        &self,
        py: Python<'py>,
        id: String,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(py, async move { client.pause(&id, &reason).await }, timer)
    }

    fn resume<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(py, async move { client.resume(&id).await }, timer)
    }

    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn cancel_timers<'py>(
        &self,
        py: Python<'py>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.cancel_timers(selection).await },
            selected,
        )
    }

    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn pause_timers<'py>(
        &self,
        py: Python<'py>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.pause_timers(selection).await },
            selected,
        )
    }

    #[pyo3(signature = (label_selector=None, *, all=false, name_prefix=None, dry_run=false, reason=String::new()))]
    fn resume_timers<'py>(
        &self,
        py: Python<'py>,
        label_selector: Option<String>,
        all: bool,
        name_prefix: Option<String>,
        dry_run: bool,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let selection = selection(label_selector, all, name_prefix, dry_run, reason);
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.resume_timers(selection).await },
            selected,
        )
    }

    #[pyo3(signature = (reason=String::new()))]
    fn pause_tenant<'py>(&self, py: Python<'py>, reason: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.pause_tenant(&reason).await },
            tenant_pause,
        )
    }

    fn resume_tenant<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.resume_tenant().await },
            tenant_pause,
        )
    }

    fn tenant_pause<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(py, async move { client.tenant_pause().await }, tenant_pause)
    }

    #[pyo3(signature = (id, *, until="fired", timeout=None))]
    fn wait_for<'py>(
        &self,
        py: Python<'py>,
        id: String,
        until: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, until, timeout) = (self.inner.clone(), wait_for(until)?, seconds(timeout));
        awaitable(
            py,
            async move { client.wait_for(&id, until, timeout).await },
            timer,
        )
    }

    /// `async for event in client.stream(...)`: opens on the first iteration.
    #[pyo3(signature = (*, after_sequence=None, event_types=None, label_selector=None))]
    fn stream(
        &self,
        after_sequence: Option<u64>,
        event_types: Option<Vec<String>>,
        label_selector: Option<String>,
    ) -> PyResult<AsyncEventStream> {
        let options = stream_options(after_sequence, event_types, label_selector)?;
        Ok(AsyncEventStream::new(self.inner.clone(), options))
    }

    #[pyo3(signature = (*, since=None, include_resolved=false))]
    fn dead_letters<'py>(
        &self,
        py: Python<'py>,
        since: Option<Bound<'py, PyAny>>,
        include_resolved: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, since) = (self.inner.clone(), self::since(since)?);
        awaitable(
            py,
            async move { client.dead_letters(since, include_resolved).await },
            self::dead_letters,
        )
    }

    fn dead_letter<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.dead_letter(&id).await },
            self::dead_letter,
        )
    }

    fn replay_dead_letter<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.replay_dead_letter(&id).await },
            replay,
        )
    }

    #[pyo3(signature = (*, since=None))]
    fn replay_dead_letters<'py>(
        &self,
        py: Python<'py>,
        since: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, since) = (self.inner.clone(), self::since(since)?);
        awaitable(
            py,
            async move { client.replay_dead_letters(since).await },
            replays,
        )
    }

    /// Creates a recurring schedule: `create_schedule("standup", "0 9 * * MON-FRI",
    /// time_zone="Europe/Paris", webhook=url)`, or `interval="15m"` instead of a cron. Each
    /// occurrence is an ordinary timer. Lengths are text (`"30s"`), `timedelta` or seconds.
    #[pyo3(signature = (name, cron=None, *, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, labels=None, metadata=None, action_bundle=None, webhook=None, agent_binding=None, idempotency_key=None, requested_by=None, paused=false))]
    #[allow(clippy::too_many_arguments)]
    fn create_schedule<'py>(
        &self,
        py: Python<'py>,
        name: String,
        cron: Option<String>,
        interval: Option<Bound<'py, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'py, PyAny>>,
        end_at: Option<Bound<'py, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'py, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'py, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'py, PyAny>>,
        action_bundle: Option<Bound<'py, PyAny>>,
        webhook: Option<String>,
        agent_binding: Option<Bound<'py, PyAny>>,
        idempotency_key: Option<String>,
        requested_by: Option<String>,
        paused: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let options = schedule::CreateArgs {
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            agent_binding,
            idempotency_key,
            requested_by,
            paused,
        }
        .into_options(timing)?;
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.create_schedule(options).await },
            schedule::schedule,
        )
    }

    fn get_schedule<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.get_schedule(&id).await },
            schedule::schedule,
        )
    }

    /// The schedule created with this idempotency key.
    fn get_schedule_by_key<'py>(
        &self,
        py: Python<'py>,
        idempotency_key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.get_schedule_by_key(&idempotency_key).await },
            schedule::schedule,
        )
    }

    /// Every matching schedule (pages fetched as needed), at most `limit`; `states` default to
    /// every state but `deleted`.
    #[pyo3(signature = (*, states=None, label_selector=None, page_size=None, limit=None))]
    fn list_schedules<'py>(
        &self,
        py: Python<'py>,
        states: Option<Vec<String>>,
        label_selector: Option<String>,
        page_size: Option<u32>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = schedule::query(states, label_selector, page_size)?;
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.list_schedules_up_to(query, limit).await },
            schedule::schedules,
        )
    }

    /// Changes a schedule from its next occurrence on: each argument given replaces the
    /// schedule's; timing arguments given alone keep the rest of its timing. With
    /// `expected_version`, a concurrent change raises `AbortedError`.
    #[pyo3(signature = (id, *, name=None, cron=None, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, labels=None, metadata=None, action_bundle=None, webhook=None, agent_binding=None, expected_version=None, requested_by=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_schedule<'py>(
        &self,
        py: Python<'py>,
        id: String,
        name: Option<String>,
        cron: Option<String>,
        interval: Option<Bound<'py, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'py, PyAny>>,
        end_at: Option<Bound<'py, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'py, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'py, PyAny>>,
        labels: Option<BTreeMap<String, String>>,
        metadata: Option<Bound<'py, PyAny>>,
        action_bundle: Option<Bound<'py, PyAny>>,
        webhook: Option<String>,
        agent_binding: Option<Bound<'py, PyAny>>,
        expected_version: Option<u64>,
        requested_by: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let update = schedule::UpdateArgs {
            id,
            name,
            labels,
            metadata,
            action_bundle,
            webhook,
            agent_binding,
            expected_version,
            requested_by,
        }
        .into_update(timing)?;
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.update_schedule(update).await },
            schedule::schedule,
        )
    }

    /// No occurrence is created until `resume_schedule`; slots passed meanwhile are skipped.
    #[pyo3(signature = (id, reason=String::new()))]
    fn pause_schedule<'py>(
        &self,
        py: Python<'py>,
        id: String,
        reason: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.pause_schedule(&id, &reason).await },
            schedule::schedule,
        )
    }

    fn resume_schedule<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.resume_schedule(&id).await },
            schedule::schedule,
        )
    }

    /// Stops the schedule for good and cancels its pending occurrence.
    fn delete_schedule<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        awaitable(
            py,
            async move { client.delete_schedule(&id).await },
            schedule::schedule,
        )
    }

    /// The next `count` occurrences (default 10) after `after` (default now) of the stored
    /// schedule `id`, or of the timing arguments, creating nothing:
    /// `[{"fire_at": ..., "local_time": ...}]`, `local_time` as wall time in the zone.
    #[pyo3(signature = (id=None, *, cron=None, interval=None, time_zone=None, start_at=None, end_at=None, max_runs=None, jitter=None, overlap_policy=None, catch_up_policy=None, catch_up_window=None, count=None, after=None))]
    #[allow(clippy::too_many_arguments)]
    fn preview_schedule<'py>(
        &self,
        py: Python<'py>,
        id: Option<String>,
        cron: Option<String>,
        interval: Option<Bound<'py, PyAny>>,
        time_zone: Option<String>,
        start_at: Option<Bound<'py, PyAny>>,
        end_at: Option<Bound<'py, PyAny>>,
        max_runs: Option<u64>,
        jitter: Option<Bound<'py, PyAny>>,
        overlap_policy: Option<String>,
        catch_up_policy: Option<String>,
        catch_up_window: Option<Bound<'py, PyAny>>,
        count: Option<u32>,
        after: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timing = TimingArgs {
            cron,
            interval,
            time_zone,
            start_at,
            end_at,
            max_runs,
            jitter,
            overlap_policy,
            catch_up_policy,
            catch_up_window,
        };
        let (of, after) = (schedule::preview_of(id, timing)?, schedule::after(after)?);
        let client = self.inner.clone();
        awaitable(
            py,
            async move {
                client
                    .preview_schedule(of, count.unwrap_or_default(), after)
                    .await
            },
            occurrences,
        )
    }

    #[pyo3(signature = (name, arguments=None))]
    fn call_tool<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (client, arguments) = (self.inner.clone(), tool_arguments(arguments)?);
        awaitable(
            py,
            async move { tools::call_tool(&client, &name, &arguments).await },
            |py, result| to_python(py, &result),
        )
    }
}

fn tool_arguments(arguments: Option<Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    arguments.map_or(Ok(serde_json::Value::Null), |a| {
        from_python(&a, "arguments")
    })
}

/// Every agent tool: `[{"name", "description", "parameters": <JSON Schema>}]`.
#[pyfunction]
pub fn tool_specs(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let specs = tools::tool_specs()
        .iter()
        .map(tools::ToolSpec::to_json)
        .collect();
    to_python(py, &serde_json::Value::Array(specs))
}

/// Verifies a Standard Webhooks delivery from MINOOTS: raises `InvalidSignatureError` naming the
/// header at fault. `secrets` is one `whsec_...` secret or several (while rotating).
#[pyfunction]
pub fn verify_webhook(
    secrets: Bound<'_, PyAny>,
    headers: BTreeMap<String, String>,
    body: Bound<'_, PyAny>,
) -> PyResult<()> {
    let secrets: Vec<String> = match secrets.extract::<String>() {
        Ok(one) => vec![one],
        Err(_) => secrets.extract()?,
    };
    let body: Vec<u8> = match body.cast::<PyBytes>() {
        Ok(bytes) => bytes.as_bytes().to_vec(),
        Err(_) => body.extract::<String>()?.into_bytes(),
    };
    minoots::verify_webhook(&secrets, headers, &body).map_err(to_py)
}

/// `"1h30m"` as seconds (float), with the SDK's parser.
#[pyfunction]
pub fn parse_duration(text: &str) -> PyResult<f64> {
    minoots::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .map_err(to_py)
}

/// `"team=core,env=prod"` (or a JSON object) as a dict, with the SDK's parser.
#[pyfunction]
pub fn parse_labels(text: &str) -> PyResult<BTreeMap<String, String>> {
    minoots::parse_labels(text).map_err(to_py)
}
