//! `Client`: every method one call into the SDK, returning a Promise.

use std::{collections::HashMap, time::Duration};

use minoots::{ListFilter, StreamOptions, WaitFor, tools};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::{
    dead_letter::{DeadLetter, DeadLettersOptions, ReplayDeadLettersOptions, ReplayResult, since},
    error::{Result, invalid, to_js},
    schedule::{
        ListSchedulesOptions, PreviewOptions, RecurringOptions, Schedule, ScheduleList,
        SchedulePreview, ScheduleUpdate, after,
    },
    stream::EventStream,
    timer::{ScheduleOptions, SelectOptions, SelectResult, TenantPause, Timer, UpdateOptions},
};

/// Translated into the SDK's `ConnectOptions`.
#[napi(object)]
#[derive(Default)]
pub struct ConnectOptions {
    pub api_key: Option<String>,
    pub tenant: Option<String>,
    /// `x-minoots-region`; `*` lists and streams every region.
    pub region: Option<String>,
    /// A PEM certificate authority to trust for `https://` URLs.
    pub ca_certificate: Option<String>,
    pub connect_timeout_ms: Option<u32>,
}

#[napi(object)]
pub struct ListOptions {
    /// `scheduled`, `armed`, `paused`, `fired`, `settled`, `failed`, `cancelled`.
    pub statuses: Option<Vec<String>>,
    pub label_selector: Option<String>,
    pub name_prefix: Option<String>,
    pub page_size: Option<u32>,
    /// At most this many timers (pages are fetched as needed).
    pub limit: Option<u32>,
}

#[napi(object)]
pub struct StreamTimersOptions {
    /// Replay retained events after this sequence, then go live.
    pub after_sequence: Option<i64>,
    /// `timer.fired` or `fired`, ...
    pub event_types: Option<Vec<String>>,
    pub label_selector: Option<String>,
}

#[napi(object)]
pub struct WaitOptions {
    /// `fired` (default) or `done` (settled, failed or cancelled).
    pub until: Option<String>,
    pub timeout_ms: Option<u32>,
}

pub fn stream_options(options: Option<StreamTimersOptions>) -> Result<StreamOptions> {
    let Some(options) = options else {
        return Ok(StreamOptions::default());
    };
    let after_sequence = options
        .after_sequence
        .map(|s| u64::try_from(s).map_err(|_| invalid("after_sequence", "must be >= 0")))
        .transpose()?;
    StreamOptions {
        after_sequence,
        label_selector: options.label_selector.unwrap_or_default(),
        ..Default::default()
    }
    .event_type_names(options.event_types.unwrap_or_default())
    .map_err(to_js)
}

/// A MINOOTS client: `const client = await Client.connect(url, { apiKey })`.
#[napi]
pub struct Client {
    inner: minoots::Client,
}

#[napi]
impl Client {
    /// `url` and `options.apiKey` default to `MINOOTS_URL` (or `MINOOTS_API_URL`) and
    /// `MINOOTS_API_KEY`, `options.tenant` to `MINOOTS_TENANT`, as in every MINOOTS client.
    #[napi(factory)]
    pub async fn connect(url: Option<String>, options: Option<ConnectOptions>) -> Result<Client> {
        let options = options.unwrap_or_default();
        let defaults = minoots::ConnectOptions::from_env(url, options.api_key);
        let options = minoots::ConnectOptions {
            tenant: options.tenant.or(defaults.tenant.clone()),
            region: options.region,
            ca_certificate: options.ca_certificate.map(String::into_bytes),
            connect_timeout: options
                .connect_timeout_ms
                .map_or(defaults.connect_timeout, |ms| {
                    Duration::from_millis(ms.into())
                }),
            ..defaults
        };
        let inner = options.connect().await.map_err(to_js)?;
        Ok(Client { inner })
    }

    #[napi]
    pub async fn schedule(&self, options: ScheduleOptions) -> Result<Timer> {
        let spec = options.into_spec()?;
        self.inner
            .schedule(spec)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Schedules every timer in one durable write; one invalid timer rejects them all.
    #[napi]
    pub async fn schedule_many(&self, timers: Vec<ScheduleOptions>) -> Result<Vec<Timer>> {
        let specs = timers
            .into_iter()
            .map(ScheduleOptions::into_spec)
            .collect::<Result<Vec<_>>>()?;
        let timers = self.inner.schedule_many(specs).await.map_err(to_js)?;
        Ok(timers.into_iter().map(Timer::from).collect())
    }

    #[napi]
    pub async fn get(&self, id: String) -> Result<Timer> {
        self.inner.get(&id).await.map(Timer::from).map_err(to_js)
    }

    #[napi]
    pub async fn list(&self, options: Option<ListOptions>) -> Result<Vec<Timer>> {
        let options = options.unwrap_or(ListOptions {
            statuses: None,
            label_selector: None,
            name_prefix: None,
            page_size: None,
            limit: None,
        });
        let filter = ListFilter {
            label_selector: options.label_selector.unwrap_or_default(),
            name_prefix: options.name_prefix.unwrap_or_default(),
            page_size: options.page_size.unwrap_or_default(),
            ..Default::default()
        }
        .status_names(options.statuses.unwrap_or_default())
        .map_err(to_js)?;
        let limit = options.limit.map(|l| l as usize);
        let timers = self.inner.list_up_to(filter, limit).await.map_err(to_js)?;
        Ok(timers.into_iter().map(Timer::from).collect())
    }

    #[napi]
    pub async fn cancel(&self, id: String, reason: Option<String>) -> Result<Timer> {
        let reason = reason.unwrap_or_default();
        self.inner
            .cancel(&id, &reason)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Changes a pending timer, by `id` or `idempotencyKey`; with `expectedStateVersion` a
    /// concurrent change rejects with `ABORTED`.
    #[napi]
    pub async fn update(&self, options: UpdateOptions) -> Result<Timer> {
        let update = options.into_update()?;
        self.inner
            .update(update)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// The timer scheduled with this idempotency key.
    #[napi]
    pub async fn get_by_key(&self, idempotency_key: String) -> Result<Timer> {
        self.inner
            .get_by_key(&idempotency_key)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Cancels the timer scheduled with this idempotency key.
    #[napi]
    pub async fn cancel_by_key(
        &self,
        idempotency_key: String,
        reason: Option<String>,
    ) -> Result<Timer> {
        let reason = reason.unwrap_or_default();
        self.inner
            .cancel_by_key(&idempotency_key, &reason)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Holds a pending timer (status `paused`) until `resume`.
    #[napi]
    pub async fn pause(&self, id: String, reason: Option<String>) -> Result<Timer> {
        let reason = reason.unwrap_or_default();
        self.inner
            .pause(&id, &reason)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Arms a paused timer again; if its fire time passed it fires at once.
    #[napi]
    pub async fn resume(&self, id: String) -> Result<Timer> {
        self.inner.resume(&id).await.map(Timer::from).map_err(to_js)
    }

    /// Cancels every pending timer the selection matches (with `dryRun`, only counts them).
    #[napi]
    pub async fn cancel_timers(&self, options: SelectOptions) -> Result<SelectResult> {
        self.inner
            .cancel_timers(options.into())
            .await
            .map(SelectResult::from)
            .map_err(to_js)
    }

    /// Pauses every scheduled or armed timer the selection matches.
    #[napi]
    pub async fn pause_timers(&self, options: SelectOptions) -> Result<SelectResult> {
        self.inner
            .pause_timers(options.into())
            .await
            .map(SelectResult::from)
            .map_err(to_js)
    }

    /// Resumes every paused timer the selection matches.
    #[napi]
    pub async fn resume_timers(&self, options: SelectOptions) -> Result<SelectResult> {
        self.inner
            .resume_timers(options.into())
            .await
            .map(SelectResult::from)
            .map_err(to_js)
    }

    /// Pauses the tenant's deliveries (needs a tenant admin key) until `resumeTenant`.
    #[napi]
    pub async fn pause_tenant(&self, reason: Option<String>) -> Result<TenantPause> {
        let reason = reason.unwrap_or_default();
        self.inner
            .pause_tenant(&reason)
            .await
            .map(TenantPause::from)
            .map_err(to_js)
    }

    /// Lifts the tenant's pause; overdue timers fire at once.
    #[napi]
    pub async fn resume_tenant(&self) -> Result<TenantPause> {
        self.inner
            .resume_tenant()
            .await
            .map(TenantPause::from)
            .map_err(to_js)
    }

    /// Whether the tenant's deliveries are paused.
    #[napi]
    pub async fn tenant_pause(&self) -> Result<TenantPause> {
        self.inner
            .tenant_pause()
            .await
            .map(TenantPause::from)
            .map_err(to_js)
    }

    /// Resolves once the timer fired (`until: "fired"`) or ended (`"done"`); rejects with
    /// `DEADLINE_EXCEEDED` after `timeoutMs`.
    #[napi]
    pub async fn wait_for(&self, id: String, options: Option<WaitOptions>) -> Result<Timer> {
        let (until, timeout) = match options {
            None => (None, None),
            Some(o) => (o.until, o.timeout_ms),
        };
        let until = WaitFor::from_name(until.as_deref().unwrap_or("fired")).map_err(to_js)?;
        let timeout = timeout.map(|ms| Duration::from_millis(ms.into()));
        self.inner
            .wait_for(&id, until, timeout)
            .await
            .map(Timer::from)
            .map_err(to_js)
    }

    /// Creates a recurring schedule; each occurrence is an ordinary timer.
    #[napi]
    pub async fn create_schedule(&self, options: RecurringOptions) -> Result<Schedule> {
        let options = options.into_options()?;
        self.inner
            .create_schedule(options)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    #[napi]
    pub async fn get_schedule(&self, id: String) -> Result<Schedule> {
        self.inner
            .get_schedule(&id)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    /// The schedule created with this idempotency key.
    #[napi]
    pub async fn get_schedule_by_key(&self, idempotency_key: String) -> Result<Schedule> {
        self.inner
            .get_schedule_by_key(&idempotency_key)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    /// One page of schedules; pass `nextPageToken` back as `pageToken` for the next.
    #[napi]
    pub async fn list_schedules(
        &self,
        options: Option<ListSchedulesOptions>,
    ) -> Result<ScheduleList> {
        let query = match options {
            Some(options) => options.into_query()?,
            None => minoots::ScheduleQuery::default(),
        };
        self.inner
            .list_schedules(query)
            .await
            .map(ScheduleList::from)
            .map_err(to_js)
    }

    /// Changes a schedule from its next occurrence on; with `expectedVersion` a concurrent
    /// change rejects with `ABORTED`.
    #[napi]
    pub async fn update_schedule(&self, update: ScheduleUpdate) -> Result<Schedule> {
        let update = update.into_update()?;
        self.inner
            .update_schedule(update)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    /// No occurrence is created until `resumeSchedule`; slots passed meanwhile are skipped.
    #[napi]
    pub async fn pause_schedule(&self, id: String, reason: Option<String>) -> Result<Schedule> {
        let reason = reason.unwrap_or_default();
        self.inner
            .pause_schedule(&id, &reason)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    #[napi]
    pub async fn resume_schedule(&self, id: String) -> Result<Schedule> {
        self.inner
            .resume_schedule(&id)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    /// Stops the schedule for good (state `deleted`) and cancels its pending occurrence.
    #[napi]
    pub async fn delete_schedule(&self, id: String) -> Result<Schedule> {
        self.inner
            .delete_schedule(&id)
            .await
            .map(Schedule::from)
            .map_err(to_js)
    }

    /// The next occurrences of the stored schedule `id`, or of `spec` (not created); `index.js`
    /// takes either as the first argument of `previewSchedule`.
    #[napi]
    pub async fn preview_schedule(
        &self,
        id: Option<String>,
        spec: Option<RecurringOptions>,
        options: Option<PreviewOptions>,
    ) -> Result<SchedulePreview> {
        let of = match (id, spec) {
            (Some(id), None) => minoots::PreviewOf::from(id),
            (None, Some(spec)) => minoots::PreviewOf::from(spec.into_options()?),
            _ => return Err(invalid("id", "give a schedule id or a spec")),
        };
        let (count, after) = match options {
            None => (0, None),
            Some(o) => (o.count.unwrap_or_default(), after(o.after)?),
        };
        self.inner
            .preview_schedule(of, count, after)
            .await
            .map(SchedulePreview::from)
            .map_err(to_js)
    }

    /// Unresolved dead letters (with `includeResolved`, replayed ones too), oldest first.
    #[napi]
    pub async fn dead_letters(
        &self,
        options: Option<DeadLettersOptions>,
    ) -> Result<Vec<DeadLetter>> {
        let (since, include_resolved) = match options {
            None => (None, false),
            Some(o) => (since(o.since)?, o.include_resolved.unwrap_or(false)),
        };
        let letters = self
            .inner
            .dead_letters(since, include_resolved)
            .await
            .map_err(to_js)?;
        Ok(letters.into_iter().map(DeadLetter::from).collect())
    }

    #[napi]
    pub async fn dead_letter(&self, id: String) -> Result<DeadLetter> {
        self.inner
            .dead_letter(&id)
            .await
            .map(DeadLetter::from)
            .map_err(to_js)
    }

    /// Runs a dead-lettered action again, with its original idempotency key.
    #[napi]
    pub async fn replay_dead_letter(&self, id: String) -> Result<ReplayResult> {
        self.inner
            .replay_dead_letter(&id)
            .await
            .map(ReplayResult::from)
            .map_err(to_js)
    }

    /// Replays every unresolved dead letter (created since `since`).
    #[napi]
    pub async fn replay_dead_letters(
        &self,
        options: Option<ReplayDeadLettersOptions>,
    ) -> Result<Vec<ReplayResult>> {
        let since = since(options.and_then(|o| o.since))?;
        let results = self.inner.replay_dead_letters(since).await.map_err(to_js)?;
        Ok(results.into_iter().map(ReplayResult::from).collect())
    }

    /// Runs an agent tool (see `toolSpecs()`) with JSON arguments; resolves with its JSON result.
    #[napi]
    pub async fn call_tool(
        &self,
        name: String,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let arguments = arguments.unwrap_or(serde_json::Value::Null);
        tools::call_tool(&self.inner, &name, &arguments)
            .await
            .map_err(to_js)
    }

    /// The native stream under `stream()` and `streamTimers()` (see index.js): opened before
    /// the promise resolves, reconnecting and resuming by itself.
    #[napi]
    pub async fn open_stream(&self, options: Option<StreamTimersOptions>) -> Result<EventStream> {
        let options = stream_options(options)?;
        let inner = self.inner.stream(options).await.map_err(to_js)?;
        Ok(EventStream::new(inner))
    }
}

/// Verifies a Standard Webhooks delivery from MINOOTS; throws with code `INVALID_SIGNATURE`
/// (the message names the header at fault).
#[napi]
pub fn verify_webhook(
    secrets: Vec<String>,
    headers: HashMap<String, String>,
    body: Buffer,
) -> Result<()> {
    minoots::verify_webhook(&secrets, headers, &body).map_err(to_js)
}

/// `"1h30m"` in milliseconds, with the SDK's parser.
#[napi]
pub fn parse_duration(text: String) -> Result<f64> {
    minoots::parse_duration(&text)
        .map(|d| d.as_secs_f64() * 1_000.0)
        .map_err(to_js)
}

/// One agent tool: its name, what it does (for the model), its arguments as JSON Schema.
#[napi(object)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Every agent tool (timers: schedule, get, list, cancel, update, pause, resume, bulk cancel,
/// wait; schedules: create, get, list, pause, resume, delete, preview), the
/// ones `minoots mcp` serves.
#[napi]
pub fn tool_specs() -> Vec<ToolSpec> {
    tools::tool_specs()
        .into_iter()
        .map(|t| ToolSpec {
            name: t.name.to_owned(),
            description: t.description.to_owned(),
            parameters: t.parameters,
        })
        .collect()
}

/// `"team=core,env=prod"` (or a JSON object) as an object, with the SDK's parser.
#[napi]
pub fn parse_labels(text: String) -> Result<HashMap<String, String>> {
    minoots::parse_labels(&text)
        .map(|labels| labels.into_iter().collect())
        .map_err(to_js)
}
