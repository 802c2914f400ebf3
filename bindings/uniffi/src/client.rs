//! `Client`: suspend functions over the SDK, and a callback-interface event stream.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use minoots::{
    ListFilter, StreamOptions, TimerOptions, TimerSpec, TimerUpdate, WaitFor, proto, tools,
};
use tokio::runtime::Runtime;

use crate::{
    dead_letter::{DeadLetter, ReplayResult, since},
    error::MinootsError,
    schedule::{
        ListSchedulesOptions, PreviewOf, RecurringOptions, Schedule, ScheduleList, SchedulePreview,
        ScheduleUpdate, after,
    },
    timer::{Timer, TimerEvent},
};

/// The binding's runtime: suspend functions await work spawned here, so callers need no
/// tokio of their own.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("minoots-uniffi")
            .enable_all()
            .build()
            .expect("starting the minoots runtime")
    })
}

async fn run<T: Send + 'static>(
    work: impl Future<Output = Result<T, minoots::Error>> + Send + 'static,
) -> Result<T, MinootsError> {
    match runtime().spawn(work).await {
        Ok(result) => result.map_err(MinootsError::from),
        Err(e) => Err(MinootsError::Internal {
            detail: e.to_string(),
        }),
    }
}

fn invalid(field: &str, detail: String) -> MinootsError {
    MinootsError::InvalidArgument {
        field: field.into(),
        detail,
    }
}

fn json(field: &str, text: &str) -> Result<serde_json::Value, MinootsError> {
    serde_json::from_str(text).map_err(|e| invalid(field, e.to_string()))
}

/// An optional JSON argument (`metadata_json`, ...), mistakes naming `field`.
pub(crate) fn json_arg(
    field: &str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, MinootsError> {
    text.map(|t| json(field, &t)).transpose()
}

/// Translated into the SDK's `ConnectOptions`.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ConnectOptions {
    #[uniffi(default = None)]
    pub api_key: Option<String>,
    #[uniffi(default = None)]
    pub tenant: Option<String>,
    /// `x-minoots-region`; `*` lists and streams every region.
    #[uniffi(default = None)]
    pub region: Option<String>,
    /// A PEM certificate authority to trust for `https://` URLs.
    #[uniffi(default = None)]
    pub ca_certificate: Option<String>,
    /// Default 10 000.
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
}

/// What to schedule, in the REST vocabulary: `duration` (`"15m"`) or `fire_at` (RFC 3339).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScheduleOptions {
    pub name: String,
    #[uniffi(default = None)]
    pub duration: Option<String>,
    #[uniffi(default = None)]
    pub fire_at: Option<String>,
    pub labels: HashMap<String, String>,
    /// A JSON object.
    #[uniffi(default = None)]
    pub metadata_json: Option<String>,
    /// The REST API's JSON form: `{"actions": [{"type": "webhook", "url": "..."}]}`.
    #[uniffi(default = None)]
    pub action_bundle_json: Option<String>,
    #[uniffi(default = None)]
    pub webhook: Option<String>,
    #[uniffi(default = None)]
    pub idempotency_key: Option<String>,
    /// When the idempotency key is taken: `reject` (the default), `replace` (the pending timer
    /// takes this request: a sliding debounce) or `keep`.
    #[uniffi(default = None)]
    pub key_policy: Option<String>,
    /// A `fire_at` already past: `fire` at once (the default) or `reject`.
    #[uniffi(default = None)]
    pub late_policy: Option<String>,
}

impl ScheduleOptions {
    fn into_spec(self) -> Result<TimerSpec, MinootsError> {
        Ok(TimerOptions {
            name: self.name,
            duration: self.duration.map(Into::into),
            fire_at: self.fire_at,
            labels: self.labels.into_iter().collect(),
            metadata: self
                .metadata_json
                .map(|t| json("metadata", &t))
                .transpose()?,
            action_bundle: self
                .action_bundle_json
                .map(|t| json("action_bundle", &t))
                .transpose()?,
            webhook: self.webhook,
            idempotency_key: self.idempotency_key,
            requested_by: None,
            key_policy: self.key_policy,
            late_policy: self.late_policy,
        }
        .into())
    }
}

/// A change to a pending timer, named by `id` or `idempotency_key`: each field given replaces
/// the timer's; `duration` (`"15m"`) or `fire_at` (RFC 3339) moves its fire time.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct UpdateOptions {
    #[uniffi(default = None)]
    pub id: Option<String>,
    #[uniffi(default = None)]
    pub idempotency_key: Option<String>,
    #[uniffi(default = None)]
    pub duration: Option<String>,
    #[uniffi(default = None)]
    pub fire_at: Option<String>,
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// Replaces every label.
    #[uniffi(default = None)]
    pub labels: Option<HashMap<String, String>>,
    /// A JSON object; replaces the metadata.
    #[uniffi(default = None)]
    pub metadata_json: Option<String>,
    /// The REST API's JSON form; replaces the actions.
    #[uniffi(default = None)]
    pub action_bundle_json: Option<String>,
    /// Replaces the actions with one webhook action.
    #[uniffi(default = None)]
    pub webhook: Option<String>,
    /// Apply only if the timer is still at this `state_version` (else `MinootsException.Aborted`).
    #[uniffi(default = None)]
    pub expected_state_version: Option<u64>,
    /// A new `fire_at` already past: `fire` at once (the default) or `reject`.
    #[uniffi(default = None)]
    pub late_policy: Option<String>,
}

impl UpdateOptions {
    fn into_update(self) -> Result<TimerUpdate, MinootsError> {
        Ok(TimerUpdate {
            id: self.id,
            idempotency_key: self.idempotency_key,
            duration: self.duration.map(Into::into),
            fire_at: self.fire_at,
            name: self.name,
            labels: self.labels.map(|l| l.into_iter().collect()),
            metadata: self
                .metadata_json
                .map(|t| json("metadata", &t))
                .transpose()?,
            action_bundle: self
                .action_bundle_json
                .map(|t| json("action_bundle", &t))
                .transpose()?,
            webhook: self.webhook,
            expected_state_version: self.expected_state_version,
            late_policy: self.late_policy,
            requested_by: None,
        })
    }
}

/// Which timers a bulk call (`cancelTimers`, `pauseTimers`, `resumeTimers`) changes.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct SelectOptions {
    /// `team=core,!done`; required unless `all`.
    #[uniffi(default = None)]
    pub label_selector: Option<String>,
    /// Every pending timer of the tenant.
    #[uniffi(default = false)]
    pub all: bool,
    #[uniffi(default = None)]
    pub name_prefix: Option<String>,
    /// Only count the timers that would change.
    #[uniffi(default = false)]
    pub dry_run: bool,
    #[uniffi(default = "")]
    pub reason: String,
}

impl From<SelectOptions> for proto::SelectTimersRequest {
    fn from(o: SelectOptions) -> Self {
        Self {
            label_selector: o.label_selector.unwrap_or_default(),
            all: o.all,
            name_prefix: o.name_prefix.unwrap_or_default(),
            dry_run: o.dry_run,
            reason: o.reason,
            ..Default::default()
        }
    }
}

/// What a bulk call did: timers matched, and changed (0 on a dry run).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SelectResult {
    pub matched: u64,
    pub changed: u64,
}

impl From<proto::SelectTimersResponse> for SelectResult {
    fn from(r: proto::SelectTimersResponse) -> Self {
        Self {
            matched: r.matched,
            changed: r.changed,
        }
    }
}

/// Whether the tenant's deliveries are paused.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TenantPause {
    pub tenant_id: String,
    pub paused: bool,
    pub paused_at: Option<String>,
    pub paused_by: String,
    pub reason: String,
    /// Timers this call paused or resumed.
    pub changed: u64,
}

impl From<proto::TenantPause> for TenantPause {
    fn from(p: proto::TenantPause) -> Self {
        Self {
            paused_at: crate::timer::time(&p.paused_at),
            changed: p.changed,
            tenant_id: p.tenant_id,
            paused: p.paused,
            paused_by: p.paused_by,
            reason: p.reason,
        }
    }
}

/// Receives a stream's events on a background thread.
#[uniffi::export(callback_interface)]
pub trait EventListener: Send + Sync {
    fn on_event(&self, event: TimerEvent);
    /// The stream ended with an error a reconnect cannot fix; `code` is the kind.
    fn on_error(&self, code: String, message: String);
}

/// Stops its stream when closed (Kotlin `close()`/`use {}`, Swift deinit) or `cancel()`led.
#[derive(uniffi::Object)]
pub struct StreamHandle {
    task: tokio::task::AbortHandle,
}

#[uniffi::export]
impl StreamHandle {
    pub fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects: `val client = connect(url, ConnectOptions(apiKey = "..."))`. A null `url` or
/// `apiKey` (and `tenant`) defaults to `MINOOTS_URL` (or `MINOOTS_API_URL`), `MINOOTS_API_KEY`
/// (and `MINOOTS_TENANT`), as in every MINOOTS client.
#[uniffi::export]
pub async fn connect(
    url: Option<String>,
    options: ConnectOptions,
) -> Result<Arc<Client>, MinootsError> {
    let defaults = minoots::ConnectOptions::from_env(url, options.api_key);
    let options = minoots::ConnectOptions {
        tenant: options.tenant.or(defaults.tenant.clone()),
        region: options.region,
        ca_certificate: options.ca_certificate.map(String::into_bytes),
        connect_timeout: options
            .connect_timeout_ms
            .map_or(defaults.connect_timeout, Duration::from_millis),
        ..defaults
    };
    let inner = run(options.connect()).await?;
    Ok(Arc::new(Client { inner }))
}

/// Verifies a Standard Webhooks delivery from MINOOTS.
#[uniffi::export]
pub fn verify_webhook(
    secrets: Vec<String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
) -> Result<(), MinootsError> {
    Ok(minoots::verify_webhook(&secrets, headers, &body)?)
}

/// `"1h30m"` in milliseconds.
#[uniffi::export]
pub fn parse_duration_ms(text: String) -> Result<u64, MinootsError> {
    Ok(minoots::parse_duration(&text)?.as_millis() as u64)
}

/// `"team=core,env=prod"` (commas or newlines) or a JSON object, with the SDK's parser.
#[uniffi::export]
pub fn parse_labels(text: String) -> Result<HashMap<String, String>, MinootsError> {
    Ok(minoots::parse_labels(&text)?.into_iter().collect())
}

/// One agent tool: its name, what it does (for the model), its arguments as JSON Schema.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters_json: String,
}

/// Every agent tool (timers: schedule, get, list, cancel, update, pause, resume, bulk cancel,
/// wait; schedules: create, get, list, pause, resume, delete, preview), the
/// ones `minoots mcp` serves.
#[uniffi::export]
pub fn tool_specs() -> Vec<ToolSpec> {
    tools::tool_specs()
        .into_iter()
        .map(|t| ToolSpec {
            name: t.name.into(),
            description: t.description.into(),
            parameters_json: t.parameters.to_string(),
        })
        .collect()
}

#[derive(uniffi::Object)]
pub struct Client {
    inner: minoots::Client,
}

#[uniffi::export]
impl Client {
    pub async fn schedule(&self, options: ScheduleOptions) -> Result<Timer, MinootsError> {
        let (client, spec) = (self.inner.clone(), options.into_spec()?);
        run(async move { client.schedule(spec).await.map(Timer::from) }).await
    }

    /// Schedules every timer in one durable write; one invalid timer rejects them all.
    pub async fn schedule_many(
        &self,
        options: Vec<ScheduleOptions>,
    ) -> Result<Vec<Timer>, MinootsError> {
        let specs = options
            .into_iter()
            .map(ScheduleOptions::into_spec)
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.inner.clone();
        run(async move {
            let timers = client.schedule_many(specs).await?;
            Ok(timers.into_iter().map(Timer::from).collect())
        })
        .await
    }

    pub async fn get(&self, id: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.get(&id).await.map(Timer::from) }).await
    }

    /// Every timer matching the label selector (pages fetched as needed), at most `limit`.
    pub async fn list(
        &self,
        label_selector: Option<String>,
        limit: Option<u32>,
    ) -> Result<Vec<Timer>, MinootsError> {
        let client = self.inner.clone();
        let filter = ListFilter {
            label_selector: label_selector.unwrap_or_default(),
            ..Default::default()
        };
        let limit = limit.map(|l| l as usize);
        run(async move {
            let timers = client.list_up_to(filter, limit).await?;
            Ok(timers.into_iter().map(Timer::from).collect())
        })
        .await
    }

    pub async fn cancel(&self, id: String, reason: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.cancel(&id, &reason).await.map(Timer::from) }).await
    }

    /// Changes a pending timer, by `id` or `idempotency_key`; with `expected_state_version` a
    /// concurrent change throws `MinootsException.Aborted`.
    pub async fn update(&self, options: UpdateOptions) -> Result<Timer, MinootsError> {
        let (client, update) = (self.inner.clone(), options.into_update()?);
        run(async move { client.update(update).await.map(Timer::from) }).await
    }

    /// The timer scheduled with this idempotency key.
    pub async fn get_by_key(&self, idempotency_key: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.get_by_key(&idempotency_key).await.map(Timer::from) }).await
    }

    /// Cancels the timer scheduled with this idempotency key.
    pub async fn cancel_by_key(
        &self,
        idempotency_key: String,
        reason: String,
    ) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .cancel_by_key(&idempotency_key, &reason)
                .await
                .map(Timer::from)
        })
        .await
    }

    /// Holds a pending timer (status `paused`) until `resume`.
    pub async fn pause(&self, id: String, reason: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.pause(&id, &reason).await.map(Timer::from) }).await
    }

    /// Arms a paused timer again; if its fire time passed it fires at once.
    pub async fn resume(&self, id: String) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.resume(&id).await.map(Timer::from) }).await
    }

    /// Cancels every pending timer the selection matches (with `dry_run`, only counts them).
    pub async fn cancel_timers(
        &self,
        options: SelectOptions,
    ) -> Result<SelectResult, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .cancel_timers(options.into())
                .await
                .map(SelectResult::from)
        })
        .await
    }

    /// Pauses every scheduled or armed timer the selection matches.
    pub async fn pause_timers(&self, options: SelectOptions) -> Result<SelectResult, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .pause_timers(options.into())
                .await
                .map(SelectResult::from)
        })
        .await
    }

    /// Resumes every paused timer the selection matches.
    pub async fn resume_timers(
        &self,
        options: SelectOptions,
    ) -> Result<SelectResult, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .resume_timers(options.into())
                .await
                .map(SelectResult::from)
        })
        .await
    }

    /// Pauses the tenant's deliveries (needs a tenant admin key) until `resume_tenant`.
    pub async fn pause_tenant(&self, reason: String) -> Result<TenantPause, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.pause_tenant(&reason).await.map(TenantPause::from) }).await
    }

    /// Lifts the tenant's pause; overdue timers fire at once.
    pub async fn resume_tenant(&self) -> Result<TenantPause, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.resume_tenant().await.map(TenantPause::from) }).await
    }

    /// Whether the tenant's deliveries are paused.
    pub async fn tenant_pause(&self) -> Result<TenantPause, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.tenant_pause().await.map(TenantPause::from) }).await
    }

    /// Until the timer fired (`done = false`) or ended (`done = true`).
    pub async fn wait_for(
        &self,
        id: String,
        done: bool,
        timeout_ms: Option<u64>,
    ) -> Result<Timer, MinootsError> {
        let client = self.inner.clone();
        let until = if done { WaitFor::Done } else { WaitFor::Fired };
        let timeout = timeout_ms.map(Duration::from_millis);
        run(async move { client.wait_for(&id, until, timeout).await.map(Timer::from) }).await
    }

    /// Creates a recurring schedule; each occurrence is an ordinary timer.
    pub async fn create_schedule(
        &self,
        options: RecurringOptions,
    ) -> Result<Schedule, MinootsError> {
        let (client, options) = (self.inner.clone(), options.into_options()?);
        run(async move { client.create_schedule(options).await.map(Schedule::from) }).await
    }

    pub async fn get_schedule(&self, id: String) -> Result<Schedule, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.get_schedule(&id).await.map(Schedule::from) }).await
    }

    /// The schedule created with this idempotency key.
    pub async fn get_schedule_by_key(
        &self,
        idempotency_key: String,
    ) -> Result<Schedule, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .get_schedule_by_key(&idempotency_key)
                .await
                .map(Schedule::from)
        })
        .await
    }

    /// One page of schedules; pass `next_page_token` back as `page_token` for the next.
    pub async fn list_schedules(
        &self,
        options: ListSchedulesOptions,
    ) -> Result<ScheduleList, MinootsError> {
        let (client, query) = (self.inner.clone(), options.into_query()?);
        run(async move { client.list_schedules(query).await.map(ScheduleList::from) }).await
    }

    /// Changes a schedule from its next occurrence on; with `expected_version` a concurrent
    /// change throws `MinootsException.Aborted`.
    pub async fn update_schedule(&self, update: ScheduleUpdate) -> Result<Schedule, MinootsError> {
        let (client, update) = (self.inner.clone(), update.into_update()?);
        run(async move { client.update_schedule(update).await.map(Schedule::from) }).await
    }

    /// No occurrence is created until `resume_schedule`; slots passed meanwhile are skipped.
    pub async fn pause_schedule(
        &self,
        id: String,
        reason: String,
    ) -> Result<Schedule, MinootsError> {
        let client = self.inner.clone();
        run(async move {
            client
                .pause_schedule(&id, &reason)
                .await
                .map(Schedule::from)
        })
        .await
    }

    pub async fn resume_schedule(&self, id: String) -> Result<Schedule, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.resume_schedule(&id).await.map(Schedule::from) }).await
    }

    /// Stops the schedule for good (state `deleted`) and cancels its pending occurrence.
    pub async fn delete_schedule(&self, id: String) -> Result<Schedule, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.delete_schedule(&id).await.map(Schedule::from) }).await
    }

    /// The next `count` occurrences (0: the server's default, 10) after `after` (RFC 3339,
    /// default now) of a stored schedule or of options not yet created; creates nothing.
    pub async fn preview_schedule(
        &self,
        of: PreviewOf,
        count: u32,
        after: Option<String>,
    ) -> Result<SchedulePreview, MinootsError> {
        let (client, of, after) = (self.inner.clone(), of.into_sdk()?, self::after(after)?);
        run(async move {
            client
                .preview_schedule(of, count, after)
                .await
                .map(SchedulePreview::from)
        })
        .await
    }

    /// Unresolved dead letters created since `since` (RFC 3339, or a duration ago such as
    /// `"24h"`); with `include_resolved`, replayed ones too.
    pub async fn dead_letters(
        &self,
        since: Option<String>,
        include_resolved: bool,
    ) -> Result<Vec<DeadLetter>, MinootsError> {
        let (client, since) = (self.inner.clone(), self::since(since)?);
        run(async move {
            let letters = client.dead_letters(since, include_resolved).await?;
            Ok(letters.into_iter().map(DeadLetter::from).collect())
        })
        .await
    }

    pub async fn dead_letter(&self, id: String) -> Result<DeadLetter, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.dead_letter(&id).await.map(DeadLetter::from) }).await
    }

    /// Runs a dead-lettered action again, with its original idempotency key.
    pub async fn replay_dead_letter(&self, id: String) -> Result<ReplayResult, MinootsError> {
        let client = self.inner.clone();
        run(async move { client.replay_dead_letter(&id).await.map(ReplayResult::from) }).await
    }

    /// Replays every unresolved dead letter created since `since`.
    pub async fn replay_dead_letters(
        &self,
        since: Option<String>,
    ) -> Result<Vec<ReplayResult>, MinootsError> {
        let (client, since) = (self.inner.clone(), self::since(since)?);
        run(async move {
            let results = client.replay_dead_letters(since).await?;
            Ok(results.into_iter().map(ReplayResult::from).collect())
        })
        .await
    }

    /// Runs an agent tool (see `toolSpecs()`) with JSON arguments; returns its JSON result.
    pub async fn call_tool(
        &self,
        name: String,
        arguments_json: String,
    ) -> Result<String, MinootsError> {
        let arguments = if arguments_json.trim().is_empty() {
            serde_json::Value::Null
        } else {
            json("arguments", &arguments_json)?
        };
        let client = self.inner.clone();
        run(async move {
            let result = tools::call_tool(&client, &name, &arguments).await?;
            Ok(result.to_string())
        })
        .await
    }

    /// Streams lifecycle events to `listener` (reconnecting and resuming by itself) until the
    /// returned handle is closed or cancelled.
    pub fn stream(
        &self,
        after_sequence: Option<u64>,
        event_types: Vec<String>,
        listener: Box<dyn EventListener>,
    ) -> Result<Arc<StreamHandle>, MinootsError> {
        let options = StreamOptions {
            after_sequence,
            ..Default::default()
        }
        .event_type_names(event_types)?;
        let client = self.inner.clone();
        let task = runtime().spawn(async move {
            let mut events = match client.stream(options).await {
                Ok(events) => events,
                Err(e) => return listener.on_error(e.code().into(), e.to_string()),
            };
            while let Some(item) = events.next_event().await {
                match item {
                    Ok(event) => listener.on_event(event.into()),
                    Err(e) => return listener.on_error(e.code().into(), e.to_string()),
                }
            }
        });
        Ok(Arc::new(StreamHandle {
            task: task.abort_handle(),
        }))
    }
}
