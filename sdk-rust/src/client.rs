use std::{collections::BTreeMap, time::Duration};

use minoots_proto::v1::{
    CancelTimerRequest, DeadLetter, GetDeadLetterRequest, GetTimerRequest, ListDeadLettersRequest,
    ListTimersRequest, ListTimersResponse, ReplayDeadLetterRequest, ReplayDeadLettersRequest,
    ReplayResult, ScheduleTimerRequest, ScheduleTimersRequest, StreamTimerEventsRequest, Timer,
    TimerEvent, dead_letter_service_client::DeadLetterServiceClient,
    schedule_timer_request::Schedule, timer_service_client::TimerServiceClient,
};
use tokio_stream::{Stream, StreamExt};
use tonic::{
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::Error;

/// What to schedule: a name and when, plus optional labels and an idempotency key. Anything the
/// builder does not cover can be set on the raw request with [`TimerSpec::into_request`].
#[derive(Debug, Clone)]
pub struct TimerSpec {
    request: ScheduleTimerRequest,
}

impl TimerSpec {
    pub fn new(name: impl Into<String>, after: Duration) -> Self {
        let after = prost_types::Duration {
            seconds: after.as_secs() as i64,
            nanos: after.subsec_nanos() as i32,
        };
        Self {
            request: ScheduleTimerRequest {
                name: name.into(),
                schedule: Some(Schedule::Duration(after)),
                ..Default::default()
            },
        }
    }

    pub fn at(name: impl Into<String>, fire_at: prost_types::Timestamp) -> Self {
        Self {
            request: ScheduleTimerRequest {
                name: name.into(),
                schedule: Some(Schedule::FireAt(fire_at)),
                ..Default::default()
            },
        }
    }

    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.labels.insert(key.into(), value.into());
        self
    }

    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.request.labels.extend(labels);
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.request.idempotency_key = key.into();
        self
    }

    pub fn requested_by(mut self, who: impl Into<String>) -> Self {
        self.request.requested_by = who.into();
        self
    }

    pub fn into_request(self) -> ScheduleTimerRequest {
        self.request
    }
}

impl From<ScheduleTimerRequest> for TimerSpec {
    fn from(request: ScheduleTimerRequest) -> Self {
        Self { request }
    }
}

/// Headers sent with every call: API key, tenant, region.
#[derive(Debug, Clone, Default)]
pub struct CallHeaders(Vec<(&'static str, AsciiMetadataValue)>);

impl Interceptor for CallHeaders {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (name, value) in &self.0 {
            request.metadata_mut().insert(*name, value.clone());
        }
        Ok(request)
    }
}

/// How to reach a server and who to be: `Client::builder(url).api_key(k).tenant(t).connect()`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    api_key: Option<String>,
    tenant: Option<String>,
    region: Option<String>,
    connect_timeout: Duration,
}

impl ClientBuilder {
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

    pub async fn connect(self) -> Result<Client, Error> {
        let endpoint = Endpoint::from_shared(self.url)
            .map_err(|e| Error::InvalidArgument {
                field: "url".into(),
                message: e.to_string(),
            })?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        let mut headers = Vec::new();
        for (name, field, value) in [
            ("x-api-key", "api_key", self.api_key),
            ("x-tenant-id", "tenant_id", self.tenant),
            ("x-minoots-region", "region", self.region),
        ] {
            if let Some(value) = value {
                let value =
                    AsciiMetadataValue::try_from(value).map_err(|_| Error::InvalidArgument {
                        field: field.into(),
                        message: "must be printable ASCII".into(),
                    })?;
                headers.push((name, value));
            }
        }
        let channel = endpoint.connect().await?;
        let headers = CallHeaders(headers);
        let inner = TimerServiceClient::with_interceptor(channel.clone(), headers.clone())
            .max_decoding_message_size(64 * 1024 * 1024);
        let dead_letters = DeadLetterServiceClient::with_interceptor(channel, headers);
        Ok(Client {
            inner,
            dead_letters,
        })
    }
}

/// A connection to a MINOOTS server, acting for one tenant. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: TimerServiceClient<InterceptedService<Channel, CallHeaders>>,
    dead_letters: DeadLetterServiceClient<InterceptedService<Channel, CallHeaders>>,
}

impl Client {
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            api_key: None,
            tenant: None,
            region: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    pub async fn schedule(&mut self, spec: impl Into<TimerSpec>) -> Result<Timer, Error> {
        let response = self
            .inner
            .schedule_timer(spec.into().request)
            .await?
            .into_inner();
        response
            .timer
            .ok_or_else(|| Error::Transport("response without a timer".into()))
    }

    /// Schedules all of `specs` in one durable write; a single invalid spec rejects the batch.
    pub async fn schedule_many(
        &mut self,
        specs: impl IntoIterator<Item = TimerSpec>,
    ) -> Result<Vec<Timer>, Error> {
        let timers = specs.into_iter().map(|s| s.request).collect();
        let response = self
            .inner
            .schedule_timers(ScheduleTimersRequest {
                tenant_id: String::new(),
                timers,
            })
            .await?
            .into_inner();
        Ok(response
            .results
            .into_iter()
            .filter_map(|r| r.timer)
            .collect())
    }

    pub async fn get(&mut self, id: &str) -> Result<Timer, Error> {
        let response = self
            .inner
            .get_timer(GetTimerRequest {
                tenant_id: String::new(),
                id: id.to_owned(),
            })
            .await?
            .into_inner();
        response.timer.ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// One page; pass `next_page_token` back to get the next.
    pub async fn list(&mut self, request: ListTimersRequest) -> Result<ListTimersResponse, Error> {
        Ok(self.inner.list_timers(request).await?.into_inner())
    }

    pub async fn cancel(&mut self, id: &str, reason: &str) -> Result<Timer, Error> {
        let request = CancelTimerRequest {
            id: id.to_owned(),
            reason: reason.to_owned(),
            ..Default::default()
        };
        let response = self.inner.cancel_timer(request).await?.into_inner();
        response.timer.ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// The tenant's lifecycle events. With `after_sequence`, retained events after it are
    /// replayed before live ones.
    pub async fn stream(
        &mut self,
        request: StreamTimerEventsRequest,
    ) -> Result<impl Stream<Item = Result<TimerEvent, Error>> + Send + 'static, Error> {
        let stream = self.inner.stream_timer_events(request).await?.into_inner();
        Ok(stream.map(|item| item.map_err(Error::from)))
    }

    /// Unresolved dead letters (actions that exhausted their retries) created at or after
    /// `since`; with `include_resolved`, replayed ones too.
    pub async fn dead_letters(
        &mut self,
        since: Option<prost_types::Timestamp>,
        include_resolved: bool,
    ) -> Result<Vec<DeadLetter>, Error> {
        let request = ListDeadLettersRequest {
            since,
            include_resolved,
            ..Default::default()
        };
        Ok(self
            .dead_letters
            .list_dead_letters(request)
            .await?
            .into_inner()
            .dead_letters)
    }

    pub async fn dead_letter(&mut self, id: &str) -> Result<DeadLetter, Error> {
        let request = GetDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        Ok(self
            .dead_letters
            .get_dead_letter(request)
            .await?
            .into_inner())
    }

    /// Runs a dead-lettered action again with its original idempotency key.
    pub async fn replay_dead_letter(&mut self, id: &str) -> Result<ReplayResult, Error> {
        let request = ReplayDeadLetterRequest {
            tenant_id: String::new(),
            id: id.to_owned(),
        };
        Ok(self
            .dead_letters
            .replay_dead_letter(request)
            .await?
            .into_inner())
    }

    /// Replays every unresolved dead letter created at or after `since`.
    pub async fn replay_dead_letters(
        &mut self,
        since: Option<prost_types::Timestamp>,
    ) -> Result<Vec<ReplayResult>, Error> {
        let request = ReplayDeadLettersRequest {
            tenant_id: String::new(),
            since,
        };
        Ok(self
            .dead_letters
            .replay_dead_letters(request)
            .await?
            .into_inner()
            .results)
    }
}
