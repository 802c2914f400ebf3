use std::{collections::VecDeque, future::Future, time::Duration};

use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetDeadLetterRequest, GetTenantPauseRequest, GetTimerRequest,
    ListDeadLettersRequest, ListTimersRequest, ListTimersResponse, PauseTenantRequest,
    PauseTimerRequest, ReplayDeadLetterRequest, ReplayDeadLettersRequest, ReplayResult,
    ResumeTenantRequest, ResumeTimerRequest, ScheduleTimersRequest, SelectTimersRequest,
    SelectTimersResponse, TenantPause, Timer, TimerEventType, TimerStatus,
    dead_letter_service_client::DeadLetterServiceClient, timer_service_client::TimerServiceClient,
};
use minoots_proto::v1::{
    DeleteScheduleRequest, GetScheduleRequest, ListSchedulesResponse, PauseScheduleRequest,
    PreviewScheduleRequest, PreviewScheduleResponse, ResumeScheduleRequest, Schedule,
    schedule_service_client::ScheduleServiceClient,
};
use tokio_stream::{Stream, StreamExt};
use tonic::{
    Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

use crate::{
    Error, PreviewOf, ScheduleOptions, ScheduleQuery, ScheduleUpdate, TimerSpec, TimerUpdate,
    stream::{EventStream, Reconnect, StreamOptions},
};

pub(crate) type TimerClient = TimerServiceClient<InterceptedService<Channel, CallHeaders>>;
type DeadLetterClient = DeadLetterServiceClient<InterceptedService<Channel, CallHeaders>>;
type ScheduleClient = ScheduleServiceClient<InterceptedService<Channel, CallHeaders>>;

/// Headers sent with every call: API key, tenant, region.
#[derive(Debug, Clone, Default)]
pub struct CallHeaders(Vec<(&'static str, AsciiMetadataValue)>);

impl Interceptor for CallHeaders {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        for (name, value) in &self.0 {
            request.metadata_mut().insert(*name, value.clone());
        }
        Ok(request)
    }
}

/// How calls that are safe to repeat (get, list, cancel, dead-letter reads, a schedule with an
/// idempotency key) are retried when the server is unavailable: up to `attempts` in all,
/// backing off from `initial_backoff` (doubling, capped at `max_backoff`), or as long as the
/// server's `retry-after-ms` says if that is longer.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// What [`Client::wait_for`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// The timer fired (or ended without firing: cancelled).
    Fired,
    /// The timer reached a final status: settled, failed or cancelled.
    Done,
}

impl WaitFor {
    /// `fired` or `done`, as the bindings, the CLI and the agent tools take it; anything else is
    /// an [`Error::InvalidArgument`] for `until`.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "fired" => Ok(Self::Fired),
            "done" => Ok(Self::Done),
            other => Err(Error::InvalidArgument {
                field: "until".into(),
                message: format!("{other:?}: expected \"fired\" or \"done\""),
            }),
        }
    }

    fn reached(self, timer: &Timer) -> bool {
        let status = TimerStatus::try_from(timer.status).unwrap_or_default();
        match self {
            Self::Fired => status == TimerStatus::Fired || status.is_final(),
            Self::Done => status.is_final(),
        }
    }
}

/// Which timers [`Client::list_all`] yields.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<TimerStatus>,
    /// `key=value,key!=value,key,!key`.
    pub label_selector: String,
    pub name_prefix: String,
    /// Timers per request (1..1000); 0 means the server's default.
    pub page_size: u32,
}

impl ListFilter {
    /// Statuses by name (`scheduled`, `fired`, ...); an unknown name is an
    /// [`Error::InvalidArgument`] for `statuses`.
    pub fn status_names<S: AsRef<str>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        for name in names {
            let name = name.as_ref();
            self.statuses
                .push(
                    TimerStatus::from_wire_name(name).ok_or_else(|| Error::InvalidArgument {
                        field: "statuses".into(),
                        message: format!("unknown status {name:?}"),
                    })?,
                );
        }
        Ok(self)
    }

    fn request(&self) -> ListTimersRequest {
        ListTimersRequest {
            tenant_id: String::new(),
            statuses: self.statuses.iter().map(|s| *s as i32).collect(),
            label_selector: self.label_selector.clone(),
            name_prefix: self.name_prefix.clone(),
            page_size: self.page_size,
            page_token: String::new(),
        }
    }
}

/// How to reach a server and who to be. The one place a connection is described: the fluent
/// form `Client::builder(url).api_key(k).tenant(t).connect()` fills it, and the language
/// bindings and the CLI fill its fields from their own arguments
/// (`ConnectOptions { api_key, ..ConnectOptions::new(url) }.connect()`).
///
/// `https://` URLs use TLS (rustls) with the system's and the bundled web roots, plus any
/// `ca_certificate`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    /// Sent as `x-api-key`.
    pub api_key: Option<String>,
    /// The tenant to act for (`x-tenant-id`); by default the API key's own.
    pub tenant: Option<String>,
    /// The region to send calls to (`x-minoots-region`; `*` lists and streams every region).
    pub region: Option<String>,
    /// A PEM certificate authority to trust as well (a private CA, a self-signed server).
    pub ca_certificate: Option<Vec<u8>>,
    /// How long to wait for the connection (default 10 s).
    pub connect_timeout: Duration,
    pub retry: Retry,
    /// How [`Client::stream`] reconnects.
    pub reconnect: Reconnect,
}

/// Where a client connects when neither its caller nor the environment names a server: the
/// local development server (`minoots serve --dev`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:7070";

/// The fluent name of [`ConnectOptions`], as [`Client::builder`] returns it.
pub type ClientBuilder = ConnectOptions;

impl ConnectOptions {
    /// `url` with the defaults: no key, the key's tenant and region, 10 s to connect, default
    /// retries and reconnects.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            api_key: None,
            tenant: None,
            region: None,
            ca_certificate: None,
            connect_timeout: Duration::from_secs(10),
            retry: Retry::default(),
            reconnect: Reconnect::default(),
        }
    }

    /// `url` and `api_key` where given, else the environment every MINOOTS client reads (the
    /// CLI, the MCP server and the Python, Node and Kotlin bindings alike): `MINOOTS_URL`, or
    /// `MINOOTS_API_URL` (the original toolkit's name), else [`DEFAULT_URL`]; `MINOOTS_API_KEY`;
    /// `MINOOTS_TENANT`. Empty variables count as unset.
    pub fn from_env(url: Option<String>, api_key: Option<String>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let url = url
            .or_else(|| var("MINOOTS_URL"))
            .or_else(|| var("MINOOTS_API_URL"))
            .unwrap_or_else(|| DEFAULT_URL.into());
        Self {
            api_key: api_key.or_else(|| var("MINOOTS_API_KEY")),
            tenant: var("MINOOTS_TENANT"),
            ..Self::new(url)
        }
    }

    /// Sent as `x-api-key`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The tenant to act for (`x-tenant-id`); by default the API key's own.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The region to send calls to (`x-minoots-region`; `*` lists and streams every region).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Also trust this PEM certificate authority (a private CA, a self-signed server).
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// How [`Client::stream`] reconnects.
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = reconnect;
        self
    }

    pub async fn connect(self) -> Result<Client, Error> {
        let invalid_url = |message: String| Error::InvalidArgument {
            field: "url".into(),
            message,
        };
        let mut endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| invalid_url(e.to_string()))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if self.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(pem) = &self.ca_certificate {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| invalid_url(e.to_string()))?;
        } else if !self.url.starts_with("http://") {
            return Err(invalid_url(format!(
                "{:?}: expected http:// or https://",
                self.url
            )));
        }
        let mut headers = Vec::new();
        for (name, field, value) in [
            ("x-api-key", "api_key", &self.api_key),
            ("x-tenant-id", "tenant_id", &self.tenant),
            ("x-minoots-region", "region", &self.region),
        ] {
            if let Some(value) = value {
                let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| {
                    Error::InvalidArgument {
                        field: field.into(),
                        message: "must be printable ASCII".into(),
                    }
                })?;
                headers.push((name, value));
            }
        }
        let channel = endpoint.connect().await?;
        let headers = CallHeaders(headers);
        Ok(Client {
            timers: TimerServiceClient::with_interceptor(channel.clone(), headers.clone())
                .max_decoding_message_size(64 * 1024 * 1024),
            dead_letters: DeadLetterServiceClient::with_interceptor(
                channel.clone(),
                headers.clone(),
            ),
            schedules: ScheduleServiceClient::with_interceptor(channel, headers),
            retry: self.retry,
            reconnect: self.reconnect,
            spans_regions: self.region.as_deref() == Some("*"),
        })
    }
}

/// A connection to a MINOOTS server, acting for one tenant. Cheap to clone; clones share the
/// connection, and calls may run concurrently.
#[derive(Debug, Clone)]
pub struct Client {
    timers: TimerClient,
    dead_letters: DeadLetterClient,
    schedules: ScheduleClient,
    retry: Retry,
    reconnect: Reconnect,
    spans_regions: bool,
}

impl Client {
    /// [`ConnectOptions`] for `url`, to fill fluently: `Client::builder(url).api_key(k).connect()`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ConnectOptions::new(url)
    }

    /// Sends `call` until it succeeds, fails for good, or (when `idempotent`) the retries run
    /// out.
    async fn call<T, F, Fut>(&self, idempotent: bool, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => Error::from(status),
            };
            if !idempotent || !error.is_retryable() || attempt >= self.retry.attempts {
                return Err(error);
            }
            let wait = error.retry_after().unwrap_or(backoff).max(backoff);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
            attempt += 1;
        }
    }

    /// Schedules one timer: `client.schedule(TimerSpec::new("standup", "15m"))`. Retried on
    /// UNAVAILABLE only when the spec has an idempotency key.
    pub async fn schedule(&self, spec: impl Into<TimerSpec>) -> Result<Timer, Error> {
        let request = spec.into().into_request()?;
        let idempotent = !request.idempotency_key.is_empty();
        let response = self
            .call(idempotent, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.schedule_timer(request).await }
            })
            .await?;
        response.timer.ok_or_else(|| missing("timer"))
    }

    /// Schedules all of `specs` in one durable write; a single invalid spec rejects the batch.
    pub async fn schedule_many(
        &self,
        specs: impl IntoIterator<Item = TimerSpec>,
    ) -> Result<Vec<Timer>, Error> {
        let timers = specs
            .into_iter()
            .map(TimerSpec::into_request)
            .collect::<Result<Vec<_>, _>>()?;
        let idempotent = timers.iter().all(|t| !t.idempotency_key.is_empty());
        let request = ScheduleTimersRequest {
            tenant_id: String::new(),
            timers,
            compact: false,
        };
        let response = self
            .call(idempotent, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.schedule_timers(request).await }
            })
            .await?;
        Ok(response
            .results
            .into_iter()
            .filter_map(|r| r.timer)
            .collect())
    }

    pub async fn get(&self, id: &str) -> Result<Timer, Error> {
        self.get_timer(GetTimerRequest {
            id: id.to_owned(),
            ..Default::default()
        })
        .await
    }

    /// The timer scheduled with this idempotency key.
    pub async fn get_by_key(&self, key: &str) -> Result<Timer, Error> {
        self.get_timer(GetTimerRequest {
            idempotency_key: key.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn get_timer(&self, request: GetTimerRequest) -> Result<Timer, Error> {
        let id = format!("{}{}", request.id, request.idempotency_key);
        let response = self
            .call(true, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.get_timer(request).await }
            })
            .await?;
        response.timer.ok_or(Error::NotFound(id))
    }

    /// One page; pass `next_page_token` back to get the next. [`Client::list_all`] pages for
    /// you.
    pub async fn list(&self, request: ListTimersRequest) -> Result<ListTimersResponse, Error> {
        self.call(true, || {
            let (mut client, request) = (self.timers.clone(), request.clone());
            async move { client.list_timers(request).await }
        })
        .await
    }

    /// Every timer matching `filter`, fetching pages as the stream is read.
    pub fn list_all(
        &self,
        filter: ListFilter,
    ) -> impl Stream<Item = Result<Timer, Error>> + Send + 'static {
        struct Pages {
            client: Client,
            request: ListTimersRequest,
            buffered: VecDeque<Timer>,
            last_page: bool,
        }
        let pages = Pages {
            client: self.clone(),
            request: filter.request(),
            buffered: VecDeque::new(),
            last_page: false,
        };
        futures_util::stream::unfold(Some(pages), |pages| async move {
            let mut pages = pages?;
            loop {
                if let Some(timer) = pages.buffered.pop_front() {
                    return Some((Ok(timer), Some(pages)));
                }
                if pages.last_page {
                    return None;
                }
                match pages.client.list(pages.request.clone()).await {
                    Ok(page) => {
                        pages.buffered.extend(page.timers);
                        pages.last_page = page.next_page_token.is_empty();
                        pages.request.page_token = page.next_page_token;
                    }
                    Err(e) => return Some((Err(e), None)),
                }
            }
        })
    }

    /// The first `limit` timers matching `filter` (all of them with `None`), fetching pages as
    /// needed.
    pub async fn list_up_to(
        &self,
        filter: ListFilter,
        limit: Option<usize>,
    ) -> Result<Vec<Timer>, Error> {
        self.list_all(filter)
            .take(limit.unwrap_or(usize::MAX))
            .collect()
            .await
    }

    /// Cancels a timer that has not fired (scheduled, armed or paused); once it fired or was
    /// cancelled, [`Error::FailedPrecondition`] says so.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<Timer, Error> {
        self.cancel_timer(CancelTimerRequest {
            id: id.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        })
        .await
    }

    /// Cancels the timer scheduled with this idempotency key.
    pub async fn cancel_by_key(&self, key: &str, reason: &str) -> Result<Timer, Error> {
        self.cancel_timer(CancelTimerRequest {
            idempotency_key: key.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn cancel_timer(&self, request: CancelTimerRequest) -> Result<Timer, Error> {
        let response = self
            .call(true, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.cancel_timer(request).await }
            })
            .await?;
        response.timer.ok_or_else(|| missing("timer"))
    }

    /// Changes a pending timer (fire time, name, labels, metadata, actions), by id or key. With
    /// [`TimerUpdate::expected_state_version`] a concurrent change makes it fail with
    /// [`Error::Aborted`] instead of being overwritten. Retried only when it cannot have applied.
    pub async fn update(&self, update: impl Into<TimerUpdate>) -> Result<Timer, Error> {
        let request = update.into().into_request()?;
        let idempotent = request.expected_state_version != 0;
        let response = self
            .call(idempotent, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.update_timer(request).await }
            })
            .await?;
        response.timer.ok_or_else(|| missing("timer"))
    }

    /// Holds a pending timer: it does not fire until [`Client::resume`]d. Pausing a paused
    /// timer returns it unchanged.
    pub async fn pause(&self, id: &str, reason: &str) -> Result<Timer, Error> {
        let request = PauseTimerRequest {
            id: id.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        };
        let response = self
            .call(true, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.pause_timer(request).await }
            })
            .await?;
        response.timer.ok_or_else(|| missing("timer"))
    }

    /// Arms a paused timer again; if its fire time passed it fires at once.
    pub async fn resume(&self, id: &str) -> Result<Timer, Error> {
        let request = ResumeTimerRequest {
            id: id.to_owned(),
            ..Default::default()
        };
        let response = self
            .call(true, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.resume_timer(request).await }
            })
            .await?;
        response.timer.ok_or_else(|| missing("timer"))
    }

    /// Cancels every pending timer the selection matches (with `dry_run`, only counts them).
    pub async fn cancel_timers(
        &self,
        selection: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Error> {
        self.call(true, || {
            let (mut client, request) = (self.timers.clone(), selection.clone());
            async move { client.cancel_timers(request).await }
        })
        .await
    }

    /// Pauses every scheduled or armed timer the selection matches.
    pub async fn pause_timers(
        &self,
        selection: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Error> {
        self.call(true, || {
            let (mut client, request) = (self.timers.clone(), selection.clone());
            async move { client.pause_timers(request).await }
        })
        .await
    }

    /// Resumes every paused timer the selection matches.
    pub async fn resume_timers(
        &self,
        selection: SelectTimersRequest,
    ) -> Result<SelectTimersResponse, Error> {
        self.call(true, || {
            let (mut client, request) = (self.timers.clone(), selection.clone());
            async move { client.resume_timers(request).await }
        })
        .await
    }

    /// Pauses the tenant's deliveries (needs a tenant.admin key): its pending timers and the
    /// ones it schedules stay PAUSED until [`Client::resume_tenant`].
    pub async fn pause_tenant(&self, reason: &str) -> Result<TenantPause, Error> {
        let request = PauseTenantRequest {
            reason: reason.to_owned(),
            ..Default::default()
        };
        self.call(true, || {
            let (mut client, request) = (self.timers.clone(), request.clone());
            async move { client.pause_tenant(request).await }
        })
        .await
    }

    /// Lifts the tenant's pause; the timers it paused fire at their times, overdue ones at once.
    pub async fn resume_tenant(&self) -> Result<TenantPause, Error> {
        self.call(true, || {
            let mut client = self.timers.clone();
            async move { client.resume_tenant(ResumeTenantRequest::default()).await }
        })
        .await
    }

    /// Whether the tenant's deliveries are paused.
    pub async fn tenant_pause(&self) -> Result<TenantPause, Error> {
        self.call(true, || {
            let mut client = self.timers.clone();
            async move {
                client
                    .get_tenant_pause(GetTenantPauseRequest::default())
                    .await
            }
        })
        .await
    }

    /// Creates a recurring schedule:
    /// `client.create_schedule(ScheduleOptions::cron("standup", "0 9 * * MON").time_zone("Europe/Paris"))`.
    /// Each occurrence is an ordinary timer. Retried on UNAVAILABLE only with an idempotency key.
    pub async fn create_schedule(
        &self,
        options: impl Into<ScheduleOptions>,
    ) -> Result<Schedule, Error> {
        let request = options.into().into_request()?;
        let idempotent = !request.idempotency_key.is_empty();
        self.call(idempotent, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.create_schedule(request).await }
        })
        .await
    }

    pub async fn get_schedule(&self, id: &str) -> Result<Schedule, Error> {
        self.fetch_schedule(GetScheduleRequest {
            id: id.to_owned(),
            ..Default::default()
        })
        .await
    }

    /// The schedule created with this idempotency key.
    pub async fn get_schedule_by_key(&self, key: &str) -> Result<Schedule, Error> {
        self.fetch_schedule(GetScheduleRequest {
            idempotency_key: key.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn fetch_schedule(&self, request: GetScheduleRequest) -> Result<Schedule, Error> {
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.get_schedule(request).await }
        })
        .await
    }

    /// One page of schedules; pass `next_page_token` back as `page_token` for the next.
    pub async fn list_schedules(
        &self,
        query: ScheduleQuery,
    ) -> Result<ListSchedulesResponse, Error> {
        let request = query.request();
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.list_schedules(request).await }
        })
        .await
    }

    /// The first `limit` schedules `query` matches (all with `None`), from its page on,
    /// fetching pages as needed.
    pub async fn list_schedules_up_to(
        &self,
        mut query: ScheduleQuery,
        limit: Option<usize>,
    ) -> Result<Vec<Schedule>, Error> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut schedules = Vec::new();
        while schedules.len() < limit {
            let page = self.list_schedules(query.clone()).await?;
            schedules.extend(page.schedules);
            if page.next_page_token.is_empty() {
                break;
            }
            query.page_token = page.next_page_token;
        }
        schedules.truncate(limit);
        Ok(schedules)
    }

    /// Changes a schedule from its next occurrence on. A change to only some timing fields
    /// (say `time_zone`) reads the schedule first and keeps the rest of its timing, guarded by
    /// the version it read (a concurrent change makes it fail with [`Error::Aborted`]). Retried
    /// only when it cannot have applied twice (an expected version).
    pub async fn update_schedule(&self, update: ScheduleUpdate) -> Result<Schedule, Error> {
        let mut update = update;
        let current = if update.changes_timing() {
            let current = self.get_schedule(&update.id).await?;
            update.expected_version.get_or_insert(current.version);
            current.spec
        } else {
            None
        };
        let request = update.into_request(current)?;
        let idempotent = request.expected_version != 0;
        self.call(idempotent, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.update_schedule(request).await }
        })
        .await
    }

    /// No occurrence is created until [`Client::resume_schedule`]; slots passed meanwhile are
    /// skipped.
    pub async fn pause_schedule(&self, id: &str, reason: &str) -> Result<Schedule, Error> {
        let request = PauseScheduleRequest {
            id: id.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        };
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.pause_schedule(request).await }
        })
        .await
    }

    pub async fn resume_schedule(&self, id: &str) -> Result<Schedule, Error> {
        let request = ResumeScheduleRequest {
            id: id.to_owned(),
            ..Default::default()
        };
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.resume_schedule(request).await }
        })
        .await
    }

    /// Stops the schedule for good and cancels its pending occurrence, if any.
    pub async fn delete_schedule(&self, id: &str) -> Result<Schedule, Error> {
        let request = DeleteScheduleRequest {
            id: id.to_owned(),
            ..Default::default()
        };
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.delete_schedule(request).await }
        })
        .await
    }

    /// The next `count` occurrences (0: the server's default, 10) after `after` (default now)
    /// of a stored schedule (`"sched-id"`) or of a spec (a [`ScheduleOptions`]), creating
    /// nothing. `local_times` gives each as wall time in the schedule's zone.
    pub async fn preview_schedule(
        &self,
        of: impl Into<PreviewOf>,
        count: u32,
        after: Option<prost_types::Timestamp>,
    ) -> Result<PreviewScheduleResponse, Error> {
        let (id, spec) = match of.into() {
            PreviewOf::Id(id) => (id, None),
            PreviewOf::Spec(options) => (String::new(), Some(options.into_spec()?)),
        };
        let request = PreviewScheduleRequest {
            tenant_id: String::new(),
            id,
            spec,
            count,
            after,
        };
        self.call(true, || {
            let (mut client, request) = (self.schedules.clone(), request.clone());
            async move { client.preview_schedule(request).await }
        })
        .await
    }

    /// The tenant's lifecycle events, reconnecting and resuming by itself (see
    /// [`EventStream`]). The first subscription is open when this returns (retried like any
    /// idempotent call), so events from here on are seen and a bad key fails here.
    pub async fn stream(&self, options: StreamOptions) -> Result<EventStream, Error> {
        let request = options.request(options.after_sequence);
        let first = self
            .call(true, || {
                let (mut client, request) = (self.timers.clone(), request.clone());
                async move { client.stream_timer_events(request).await }
            })
            .await?;
        Ok(EventStream::start(
            self.timers.clone(),
            options,
            self.reconnect,
            self.spans_regions,
            first,
        ))
    }

    /// Resolves with the timer once it has fired ([`WaitFor::Fired`]) or reached a final status
    /// ([`WaitFor::Done`]); [`Error::DeadlineExceeded`] after `timeout`. Listens to the event
    /// stream, and re-reads the timer now and then in case an event was missed across a
    /// reconnect.
    pub async fn wait_for(
        &self,
        id: &str,
        until: WaitFor,
        timeout: Option<Duration>,
    ) -> Result<Timer, Error> {
        let wait = async {
            let options = StreamOptions::default().event_types([
                TimerEventType::Fired,
                TimerEventType::Settled,
                TimerEventType::Failed,
                TimerEventType::Cancelled,
            ]);
            let mut events = self.stream(options).await?;
            let timer = self.get(id).await?;
            if until.reached(&timer) {
                return Ok(timer);
            }
            let mut recheck = tokio::time::interval(Duration::from_secs(5));
            recheck.tick().await;
            loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(Ok(event)) if event.timer_id == id => {
                            if let Some(timer) = event.timer.filter(|t| until.reached(t)) {
                                return Ok(timer);
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e),
                        None => return Err(missing("event stream")),
                    },
                    _ = recheck.tick() => {
                        let timer = self.get(id).await?;
                        if until.reached(&timer) {
                            return Ok(timer);
                        }
                    }
                }
            }
        };
        match timeout {
            None => wait.await,
            Some(limit) => tokio::time::timeout(limit, wait).await.map_err(|_| {
                Error::DeadlineExceeded(format!("timer {id} did not get there within {limit:?}"))
            })?,
        }
    }

    /// Unresolved dead letters (actions that exhausted their retries) created at or after
    /// `since`; with `include_resolved`, replayed ones too.
    pub async fn dead_letters(
        &self,
        since: Option<prost_types::Timestamp>,
        include_resolved: bool,
    ) -> Result<Vec<DeadLetter>, Error> {
        let request = ListDeadLettersRequest {
            since,
            include_resolved,
            ..Default::default()
        };
        let response = self
            .call(true, || {
                let (mut client, request) = (self.dead_letters.clone(), request.clone());
                async move { client.list_dead_letters(request).await }
            })
            .await?;
        Ok(response.dead_letters)
    }

    pub async fn dead_letter(&self, id: &str) -> Result<DeadLetter, Error> {
        let request = GetDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        self.call(true, || {
            let (mut client, request) = (self.dead_letters.clone(), request.clone());
            async move { client.get_dead_letter(request).await }
        })
        .await
    }

    /// Runs a dead-lettered action again with its original idempotency key.
    pub async fn replay_dead_letter(&self, id: &str) -> Result<ReplayResult, Error> {
        let request = ReplayDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        let mut client = self.dead_letters.clone();
        Ok(client.replay_dead_letter(request).await?.into_inner())
    }

    /// Replays every unresolved dead letter created at or after `since`.
    pub async fn replay_dead_letters(
        &self,
        since: Option<prost_types::Timestamp>,
    ) -> Result<Vec<ReplayResult>, Error> {
        let request = ReplayDeadLettersRequest {
            tenant_id: String::new(),
            since,
        };
        let mut client = self.dead_letters.clone();
        Ok(client
            .replay_dead_letters(request)
            .await?
            .into_inner()
            .results)
    }
}

fn missing(what: &str) -> Error {
    Error::Other {
        code: tonic::Code::Internal,
        message: format!("the server's answer has no {what}"),
    }
}
